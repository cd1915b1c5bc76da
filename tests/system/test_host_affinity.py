"""``DeviceConfig.host_cpu``: a NIC's host SPI routed to a chosen pCPU at set-up time
(``irq_set_affinity``, what ``echo N > /proc/irq/IRQ/smp_affinity_list`` does), end to end.

Where the host takes an interrupt is read from the ``irq_handler_entry`` events the host
GIC driver records (its ``cpu`` field), as ``trace-cmd`` would show it.
"""

from __future__ import annotations

from collections import Counter

import pytest

from irqfwd.config import DeviceConfig, ScenarioConfig, TrafficConfig, VMConfig
from irqfwd.errors import InputError
from irqfwd.host.genirq import EINVAL
from irqfwd.system.build import build_system
from irqfwd.system.run import RunResult, run_scenario

INTID = 48


def _cfg(host_cpu: int | None, gic: str = "v2", pcpus: int = 2) -> ScenarioConfig:
    """One VM with a vCPU pinned on each pCPU; the NIC targets the vCPU on the last pCPU."""
    return ScenarioConfig(name="host-affinity", gic=gic, pcpus=pcpus, duration_ns=3_000_000,  # type: ignore[arg-type]
                          vms=[VMConfig(vcpus=pcpus, pin=list(range(pcpus)))],
                          devices=[DeviceConfig(vcpu=pcpus - 1, host_cpu=host_cpu, host_intid=INTID,
                                                guest_intid=INTID,
                                                traffic=TrafficConfig(pattern="poisson", rate_hz=20_000))])


def _host_cpus(r: RunResult) -> Counter[int]:
    """pCPU → how many times the host's handler of the NIC's SPI started there."""
    return Counter(f["cpu"] for _t, name, f in r.recorder.trace
                   if name == "irq_handler_entry" and f["intid"] == INTID)


@pytest.mark.parametrize("gic", ["v2", "v3"])
@pytest.mark.parametrize("design", ["forwarded", "irqfd-resample"])
def test_host_cpu_takes_the_host_interrupts_there(gic: str, design: str) -> None:
    """host_cpu = 1 with the target vCPU pinned on pCPU 1: every host interrupt of the NIC is
    taken on pCPU 1 (none on the boot CPU), every one reaches the guest, and the invariant
    checker finds nothing."""
    r = run_scenario(_cfg(1, gic), design, tracing=True)
    where = _host_cpus(r)
    raised = r.counters["device_irqs_raised"]
    assert raised > 20
    assert set(where) == {1}
    assert where[1] >= raised
    assert r.counters["guest_irqs_handled"] == raised
    assert r.violations == []


@pytest.mark.parametrize("gic", ["v2", "v3"])
def test_default_is_the_boot_cpu(gic: str) -> None:
    """host_cpu None: Linux's default without irqbalance, every SPI on the boot CPU (so the
    test above would see pCPU 0 if the setting were ignored)."""
    r = run_scenario(_cfg(None, gic), "forwarded", tracing=True)
    assert set(_host_cpus(r)) == {0}
    assert r.counters["guest_irqs_handled"] == r.counters["device_irqs_raised"]


def test_host_cpu_is_set_before_traffic() -> None:
    """The routing is in the GIC once the system is built (before any traffic runs), and
    only for the device that asks for it."""
    cfg = _cfg(2, pcpus=4)
    cfg.devices.append(DeviceConfig(name="nic1", vcpu=0, host_intid=INTID + 1, guest_intid=INTID + 1))
    s = build_system(cfg, "forwarded")
    gicd = s.gic.config.gicd_base
    assert s.gic.read(gicd + 0x800 + INTID, 1, 0) == 1 << 2
    assert s.gic.read(gicd + 0x800 + INTID + 1, 1, 0) == 1 << 0
    assert s.engine.now == 0


def test_failed_irq_set_affinity_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused ``irq_set_affinity`` stops the build with the model's InputError (as a
    refused ``irq_set_vcpu_affinity`` does), naming the device."""
    from irqfwd.host.genirq import Genirq

    monkeypatch.setattr(Genirq, "irq_set_affinity", lambda self, irq, cpu: EINVAL)
    with pytest.raises(InputError, match=r"device 'nic0': irq_set_affinity to pCPU 1 failed \(-22\)"):
        build_system(_cfg(1), "forwarded")
    build_system(_cfg(None), "forwarded")  # not called without host_cpu
