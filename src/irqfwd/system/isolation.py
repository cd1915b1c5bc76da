"""What a hostile guest can do to the host and to the other VMs (issue 13, "hostile guests").

:func:`run_isolation` runs a scenario in which one VM is hostile
(:attr:`~irqfwd.config.VMConfig.hostile`, :mod:`irqfwd.guest.hostile`) and measures:

* the **latency** of every other VM's device interrupts (device raise → guest handler
  entry, per device), of the host's handling of them (device raise → host
  ``irq_handler_entry``) and of the other VMs' timer ticks (``timer_expiry_to_guest_handler``);
* **foreign changes**: every change of physical GIC state made while the hostile VM's code
  runs or while KVM handles its traps, to an interrupt that is not the hostile VM's own.
  The run takes one engine entry per step (fast-forward off) through the engine's
  :attr:`~irqfwd.sim.engine.Engine.chooser`, which keeps the normal order and compares a
  snapshot of the physical state before and after each step of a pCPU that is in guest
  mode with a hostile vCPU loaded, or about to emulate a hostile vCPU's trapped access.
  The physical state is the whole distributor (per INTID and CPU: enable, pending latch,
  line, active, group, configuration, priority, targets, SGI sources), every CPU
  interface (control, priority mask, binary points, active priorities) and the virtual
  interface control state (GICH) of every pCPU not running the hostile VM.  The hostile
  VM's own interrupts are its devices' host SPIs and, on the pCPU it runs on, the
  maintenance PPI 25 (raised by its own list registers) and the virtual-timer PPI 27
  (forwarded to whichever vCPU is loaded);
* the **teardown**: at ``kill_at_ns`` the hostile VM alone is destroyed (its vCPUs leave,
  the host resets its devices, stops irqfd, unmasks VFIO, frees and un-forwards its irqs,
  as :mod:`irqfwd.system.teardown` does at the end of a run) while the others keep
  running; then each of its devices' physical SPIs must be inactive, not pending, not
  VFIO-masked, and, requested again by a new host handler with its line raised, must be
  delivered to it (enabled: unmasked); the virtual-timer PPI of the pCPUs it ran on must
  be inactive.

Invariant violations are split between the hostile VM's own interrupts (its problem: a
guest that never acknowledges its device loses that device's interrupts) and everybody
else's, which must have none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from irqfwd.check.invariants import InvariantChecker, Violation
from irqfwd.config import ScenarioConfig
from irqfwd.errors import InputError
from irqfwd.hw.gicv2.gic import GICv2
from irqfwd.hw.machine import GUEST, PhysCpu
from irqfwd.sim.costs import CostProfile
from irqfwd.sim.engine import Engine, Entry
from irqfwd.sim.metrics import LatencyStats
from irqfwd.system.build import System
from irqfwd.system.run import RunHooks, RunResult, run_scenario
from irqfwd.system.teardown import Teardown

__all__ = ["IsolationResult", "run_isolation"]

_MAINTENANCE_PPI = 25
_VTIMER_PPI = 27


def _gicv2(s: System) -> GICv2:
    """The system's GICv2: hostile guests and their isolation checks are modelled on it."""
    if not isinstance(s.gic, GICv2):
        raise InputError("isolation runs are modelled on GICv2 only")
    return s.gic


@dataclass
class IsolationResult:
    """What :func:`run_isolation` measured."""

    behaviour: str
    design: str
    result: RunResult
    victim_latency_ns: dict[str, dict[str, Any]] = field(default_factory=dict)
    host_latency_ns: dict[str, dict[str, Any]] = field(default_factory=dict)
    timer_latency_ns: dict[str, Any] | None = None
    foreign_changes: list[str] = field(default_factory=list)
    teardown: dict[str, dict[str, Any]] = field(default_factory=dict)
    victim_violations: list[Violation] = field(default_factory=list)
    hostile_violations: list[Violation] = field(default_factory=list)
    hostile_ops: int = 0


class _Monitor(RunHooks):
    def __init__(self, hostile_vm: int, kill_at_ns: int | None) -> None:
        self.hostile_vm = hostile_vm
        self.kill_at_ns = kill_at_ns
        self.system: System | None = None
        self.changes: list[str] = []
        self._prev: Any = None
        self._attrib = False
        self._raise_t: dict[str, list[int]] = {}
        self.victim_lat: dict[str, LatencyStats] = {}
        self.host_lat: dict[str, LatencyStats] = {}
        self._intid_dev: dict[int, str] = {}
        self.teardown: Teardown | None = None
        self.after: dict[str, dict[str, Any]] = {}

    # ---------------------------------------------------------------- set-up
    def built(self, system: System, checker: InvariantChecker) -> None:
        self.system = system
        hv = system.vms[self.hostile_vm]
        self.hostile_ctx = {v.ctx for v in hv.vcpus}
        self.hostile_exit = [v._handle_exit_step for v in hv.vcpus]
        self.own_spis = {w.cfg.host_intid for w in system.devices if w.kvm is hv}
        self.victims = {w.cfg.name: w.cfg.host_intid for w in system.devices if w.kvm is not hv}
        self._intid_dev = {i: n for n, i in self.victims.items()}
        system.machine.max_batch = 1
        system.engine.chooser = self._choose
        rec = system.recorder
        rec.subscribe("irqfwd_device_irq_raise", self._on_raise)
        rec.subscribe("irqfwd_guest_irq_handled", self._on_handled)
        rec.subscribe("irq_handler_entry", self._on_host_entry)
        if self.kill_at_ns is not None:
            system.engine.schedule(self.kill_at_ns, self._kill)

    # ---------------------------------------------------------------- latency
    def _on_raise(self, t: int, f: dict[str, Any]) -> None:
        if f["dev"] in self.victims:
            self._raise_t.setdefault(f["dev"], []).append(t)
            self._raise_t.setdefault("host:" + f["dev"], []).append(t)

    def _on_handled(self, t: int, f: dict[str, Any]) -> None:
        dev = f.get("dev")
        q = self._raise_t.get(dev) if dev is not None else None
        if q:
            self.victim_lat.setdefault(dev, LatencyStats()).add(t - q[0])  # type: ignore[arg-type]
            q.clear()

    def _on_host_entry(self, t: int, f: dict[str, Any]) -> None:
        dev = self._intid_dev.get(f["intid"])
        q = self._raise_t.get("host:" + dev) if dev is not None else None
        if q:
            self.host_lat.setdefault(dev, LatencyStats()).add(t - q[0])  # type: ignore[arg-type]
            q.clear()

    # ---------------------------------------------------------------- attribution
    def _choose(self, engine: Engine, limit: int) -> Entry:
        snap = self._snapshot()
        if self._attrib and snap != self._prev:
            self._diff(self._prev, snap, engine.now)
        entry = engine.pending()[0]
        self._attrib = self._attributable(entry)
        self._prev = snap
        return entry

    def _attributable(self, entry: Entry) -> bool:
        cpu = getattr(entry.callback, "__self__", None)
        if not isinstance(cpu, PhysCpu) or getattr(entry.callback, "__name__", "") != "_run":
            return False
        if cpu.mode == GUEST:
            return cpu.ctx in self.hostile_ctx
        if cpu.out.irq and not cpu.irqs_masked:
            return False  # the step boundary takes a host interrupt first (the host's doing)
        return any(cpu.next is step for step in self.hostile_exit)

    def _hostile_pcpus(self) -> set[int]:
        s = self.system
        assert s is not None
        return {c.index for c in s.machine.pcpus if c.ctx in self.hostile_ctx}

    def _snapshot(self) -> Any:
        s = self.system
        assert s is not None
        gic = _gicv2(s)
        d = gic.dist
        hostile = self._hostile_pcpus()
        dist = tuple(tuple(tuple(words) for words in lst)
                     for lst in (d.en, d.latch, d.line, d.act, d.grp, d.edge, d.prio, d.sgi_src))
        cpus = tuple((ci.ctlr, ci.pmr, ci.bpr, ci.abpr, ci.apr0, ci.apr1) for ci in gic.cpu_if)
        hyp = tuple((h.h_hcr, h.h_apr, h.v_ctlr, h.v_pmr, tuple(h.lr)) if h.cpu not in hostile else None
                    for h in gic.hyp)
        return (dist, tuple(d.targets), d.ctlr, cpus, hyp, frozenset(hostile))

    def _allowed(self, intid: int, cpu: int, hostile: frozenset[int]) -> bool:
        if intid in self.own_spis:
            return True
        return intid in (_MAINTENANCE_PPI, _VTIMER_PPI) and cpu in hostile

    def _diff(self, a: Any, b: Any, now: int) -> None:
        s = self.system
        assert s is not None
        hostile = a[5] | b[5]
        names = ("enable", "pending latch", "line", "active", "group", "config", "priority", "SGI source")
        for name, la, lb in zip(names, a[0], b[0], strict=True):
            for cpu, (wa, wb) in enumerate(zip(la, lb, strict=True)):
                if wa == wb:
                    continue
                per_irq = name in ("priority", "SGI source")
                for i, (x, y) in enumerate(zip(wa, wb, strict=True)):
                    if x == y:
                        continue
                    if per_irq:
                        intids = [i]
                    else:
                        intids = [i * 32 + bit for bit in range(32) if (x ^ y) >> bit & 1]
                    for intid in intids:
                        if not self._allowed(intid, cpu, hostile):
                            self.changes.append(f"{now} ns: {name} of INTID {intid} (CPU {cpu} view) changed "
                                                f"by hostile VM {self.hostile_vm}")
        if a[1] != b[1]:
            for intid, (x, y) in enumerate(zip(a[1], b[1], strict=True)):
                if x != y and intid not in self.own_spis:
                    self.changes.append(f"{now} ns: targets of INTID {intid} changed by hostile VM {self.hostile_vm}")
        if a[2] != b[2]:
            self.changes.append(f"{now} ns: GICD_CTLR changed by hostile VM {self.hostile_vm}")
        for cpu, (x, y) in enumerate(zip(a[3], b[3], strict=True)):
            if x != y:
                self.changes.append(f"{now} ns: GICC state of CPU {cpu} changed by hostile VM {self.hostile_vm}")
        for cpu, (x, y) in enumerate(zip(a[4], b[4], strict=True)):
            if x is not None and y is not None and x != y:
                self.changes.append(f"{now} ns: GICH state of CPU {cpu} (another VM's) changed by hostile VM "
                                    f"{self.hostile_vm}")

    # ---------------------------------------------------------------- teardown of the hostile VM
    def _kill(self) -> None:
        s = self.system
        assert s is not None
        self.teardown = td = Teardown(s, [self.hostile_vm], stop=False)
        td.kill()
        s.engine.schedule(200, self._after_teardown)

    def _after_teardown(self) -> None:
        s = self.system
        assert s is not None
        td = self.teardown
        assert td is not None
        if not td.done:
            s.engine.schedule(200, self._after_teardown)
            return
        d = _gicv2(s).dist
        pcpus = {i for i, v in enumerate(s.host.sched.curr) if v is None}
        for w in td.devices:
            intid = w.cfg.host_intid
            self.after[w.cfg.name] = {
                "intid": intid, "active": d.is_active(intid), "pending": d.is_pending(intid),
                "vfio_masked": w.vfio.masked, "delivered_after_rerequest": None,
            }
            self._rerequest(w.host_irq, w.nic, w.cfg.name)
        for c in sorted(pcpus):
            self.after[f"vtimer-ppi-cpu{c}"] = {"intid": _VTIMER_PPI, "cpu": c,
                                               "active": bool(d.act[c][0] >> _VTIMER_PPI & 1)}

    def _rerequest(self, host_irq: int, nic: Any, name: str) -> None:
        """``request_irq`` again with a new host handler and make the device raise: the
        interrupt must reach that handler (it is enabled: unmasked, and not stuck active)."""
        s = self.system
        assert s is not None
        got: list[int] = []

        def handler(irq: int, dev_id: Any) -> int:
            got.append(irq)
            nic.ack()  # the new driver services its device (the level line drops)
            return 0

        ret = s.host.genirq.request_irq(host_irq, handler, 0, f"rerequest-{name}", self)
        if ret:
            self.after[name]["delivered_after_rerequest"] = f"request_irq failed ({ret})"
            return
        nic.pending = 1
        nic.set_irq_enabled(True)  # the reset device is re-enabled with one event

        def check() -> None:
            self.after[name]["delivered_after_rerequest"] = bool(got)
            s.host.genirq.free_irq(host_irq, self)

        s.engine.schedule(20_000, check)


def run_isolation(config: ScenarioConfig, design: str, *, hostile_vm: int | None = None,
                  seed: int | None = None, costs: CostProfile | None = None,
                  kill_at_ns: int | None = None) -> IsolationResult:
    """Run ``config`` (one VM hostile) under ``design`` and measure isolation (module docstring).

    ``kill_at_ns``: destroy the hostile VM alone at that time (default: half the duration).
    """
    if hostile_vm is None:
        hostile = [i for i, vm in enumerate(config.vms) if vm.hostile is not None]
        if len(hostile) != 1:
            raise ValueError(f"expected exactly one hostile VM, found {len(hostile)}")
        hostile_vm = hostile[0]
    behaviour = config.vms[hostile_vm].hostile or "none"
    mon = _Monitor(hostile_vm, config.duration_ns // 2 if kill_at_ns is None else kill_at_ns)
    result = run_scenario(config, design, seed=seed, costs=costs, hooks=mon)
    s = mon.system
    assert s is not None
    own = mon.own_spis
    out = IsolationResult(behaviour, design, result)
    out.victim_latency_ns = {k: dict(v.summary()) for k, v in sorted(mon.victim_lat.items())}
    out.host_latency_ns = {k: dict(v.summary()) for k, v in sorted(mon.host_lat.items())}
    timer = result.recorder.latencies.get("timer_expiry_to_guest_handler")
    out.timer_latency_ns = dict(timer.summary()) if timer is not None else None
    out.foreign_changes = mon.changes
    out.teardown = mon.after
    for v in result.violations:
        (out.hostile_violations if v.intid in own else out.victim_violations).append(v)
    out.hostile_ops = int(result.recorder.counters.get("hostile_ops", 0))
    return out
