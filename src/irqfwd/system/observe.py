"""Observing a built system: its topology for the trace exporters, and attaching a
streaming trace (:mod:`irqfwd.trace`) to it.

:func:`attach_trace` makes the exporter the recorder's tracer: every emission site
becomes live, the GIC's own (QEMU's ``gic_set_irq``, ``gic_update_set_irq``, ...)
included.  Nothing is attached on an untraced run, so tracing off costs nothing beyond
the ``live`` test of each site.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irqfwd.hw.timer import PPI_VTIMER
from irqfwd.sim.metrics import Event, Listener
from irqfwd.system.build import System
from irqfwd.trace import DeviceInfo, Topology, TraceSink, VmInfo, open_sink

__all__ = ["Tee", "attach_trace", "detach_trace", "topology"]


def topology(system: System) -> Topology:
    """The :class:`~irqfwd.trace.Topology` of ``system`` (with probes of its pCPUs)."""
    config = system.config
    machine = system.machine
    curr = system.host.sched.curr

    def current_cpu() -> int:
        return machine.cur

    def current_task(cpu: int) -> tuple[int, int] | None:
        task = curr[cpu] if 0 <= cpu < len(curr) else None
        kvm = getattr(task, "kvm", None)
        if task is None or kvm is None:
            return None
        return (int(kvm.index), int(getattr(task, "vcpu_id", 0)))

    return Topology(
        pcpus=config.pcpus,
        vms=tuple(VmInfo(vm.index, vm.name, len(vm.vcpus)) for vm in system.vms),
        devices=tuple(DeviceInfo(w.cfg.name, w.cfg.host_intid, w.cfg.vm, w.cfg.vcpu, w.cfg.guest_intid,
                                 w.cfg.trigger) for w in system.devices),
        maintenance_intid=system.gic.config.maintenance_intid,
        timer_ppis=(PPI_VTIMER,) if system.vtimer is not None else (),
        current_cpu=current_cpu,
        current_task=current_task,
    )


class Tee(Listener):
    """Several tracers at once (a trace file and a report's observer)."""

    def __init__(self, *targets: Listener) -> None:
        self.targets = targets

    def on_event(self, ev: Event, time_ns: int) -> None:
        for t in self.targets:
            t.on_event(ev, time_ns)


def attach_trace(system: System, path: Path | None, fmt: str | None, header: dict[str, Any],
                 observer: Listener | None = None) -> TraceSink | None:
    """Open the ``fmt`` exporter on ``path`` (if given) and make it, and ``observer`` (if
    given), receive every event of ``system``; returns the exporter."""
    sink = open_sink(path, fmt, topology(system), header) if path is not None and fmt is not None else None
    targets = [t for t in (sink, observer) if t is not None]
    if not targets:
        return None
    rec = system.recorder
    rec.set_tracer(targets[0] if len(targets) == 1 else Tee(*targets))
    return sink


def detach_trace(system: System) -> None:
    """Stop tracing ``system`` (the exporter is closed by its owner)."""
    system.recorder.set_tracer(None)
