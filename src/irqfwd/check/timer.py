"""Invariant rules of the virtual timer (arch/arm64/kvm/arch_timer.c).

Registered into :mod:`irqfwd.check.invariants` at import time (the checker instantiates
them for every design).  They listen to the events of :mod:`irqfwd.host.kvm.arch_timer`
and :mod:`irqfwd.guest.timer`:

=========================  =====================================================  ==========
event                      fields                                                 emitted by
=========================  =====================================================  ==========
``irqfwd_guest_timer_program``    ``vm``, ``vcpu``, ``cval``, ``deadline_ns``            guest arms its vtimer
``irqfwd_guest_timer_irq``        ``vm``, ``vcpu``, ``istatus``, ``ctl``, ``cval``       guest timer handler entry
``kvm_timer_update_irq``   ``vm``, ``vcpu``, ``intid``, ``level``, ``cpu``        KVM gives the level to the vgic
``irqfwd_timer_host_irq``         ``cpu``, ``vm``, ``vcpu`` (None: nothing loaded), ``condition``  host vtimer ISR
``irqfwd_kvm_timer_phys_active``  ``cpu``, ``active``, ``cached``                        KVM sets the PPI's Active state at load
``irqfwd_phys_activate`` / ``irqfwd_phys_deactivate``  ``intid``, ``cpu``, ``source``           the GIC
=========================  =====================================================  ==========

Rules:

``timer-lost``
    every deadline the guest programmed is followed by its guest handler, across vCPU
    switches and migrations: a deadline still unhandled ``grace_ns`` before the end, or
    replaced by a new one after being overdue by more than ``grace_ns``, is lost.
``timer-condition-false``
    the guest timer handler never runs with the timer condition false (CNTV_CTL.ISTATUS
    clear: the Linux guest would count a spurious interrupt), except the documented
    stale-line re-delivery of :data:`STALE_LINE_DESIGNS` (right after the guest's own
    deactivation, with no new level raise).
``timer-stale-active``
    when KVM loads a vCPU whose virtual timer interrupt is neither active nor asserted it
    makes (or knows, from its cache) the physical PPI 27 of that CPU inactive: the PPI
    must then really be inactive; a stale Active would silently mask the timer of the
    vCPU now running there.
``timer-wrong-guest``
    every guest timer handler invocation of a vCPU follows a level raise
    (``kvm_timer_update_irq`` level=1) for that same vCPU (same exception as above); a
    vtimer PPI the host took with no vCPU loaded is never turned into an injection.
"""

from __future__ import annotations

from typing import Any

from irqfwd.check.invariants import (
    Handler,
    InvariantChecker,
    Rule,
    phys_key,
    phys_tracker,
    register_rule,
)
from irqfwd.guest.events import GuestDeactivate
from irqfwd.host.kvm.events import KvmTimerPhysActive, KvmTimerUpdateIrq
from irqfwd.hw.timer import PPI_VTIMER
from irqfwd.sim.metrics import Event, Listener

__all__ = ["STALE_LINE_DESIGNS", "TimerConditionFalse", "TimerLost", "TimerStaleActive", "TimerWrongGuest"]

_Key = tuple[int, int]


def _key(f: dict[str, Any]) -> _Key:
    return (int(f["vm"]), int(f["vcpu"]))


class TimerLost(Rule):
    """No timer interrupt lost across a vCPU switch or migration."""

    name = "timer-lost"

    def __init__(self, checker: InvariantChecker) -> None:
        super().__init__(checker)
        self.armed: dict[_Key, tuple[int, int]] = {}  # (vm, vcpu) -> (deadline_ns, cval)

    def handlers(self) -> dict[str, Handler]:
        return {"irqfwd_guest_timer_program": self._on_program, "irqfwd_guest_timer_irq": self._on_irq}

    def _on_program(self, time: int, f: dict[str, Any]) -> None:
        key = _key(f)
        old = self.armed.get(key)
        if old is not None and old[0] < time - self.checker.grace_ns:
            self.violation(
                time, PPI_VTIMER,
                f"VM {key[0]} vCPU {key[1]}: deadline at {old[0]} ns (CVAL {old[1]:#x}) never reached "
                f"the guest handler before it was reprogrammed at {time} ns",
            )
        self.armed[key] = (int(f["deadline_ns"]), int(f["cval"]))

    def _on_irq(self, time: int, f: dict[str, Any]) -> None:
        key = _key(f)
        self.check()
        armed = self.armed.get(key)
        if armed is not None and f.get("istatus", True) and armed[0] <= time:
            del self.armed[key]

    def finish(self, end_ns: int) -> None:
        for key, (deadline, cval) in sorted(self.armed.items()):
            self.check()
            if deadline < end_ns - self.checker.grace_ns:
                self.violation(
                    end_ns, PPI_VTIMER,
                    f"VM {key[0]} vCPU {key[1]}: deadline at {deadline} ns (CVAL {cval:#x}) never "
                    f"reached the guest handler",
                )


STALE_LINE_DESIGNS: tuple[str, ...] = ("sw-deactivate",)
"""Designs with a documented spurious timer re-delivery (docs/timer.md "Known spurious
deliveries"): with ``VGIC_IRQ_SW_RESAMPLE`` the fold does not re-sample the line through
``get_input_level``, so a vCPU loaded while in its timer handler (virtual irq active, output
still asserted: ``line_level`` set at load) is re-delivered the interrupt once after its EOI
although it masked the timer meanwhile (a Linux guest counts it as IRQ_NONE)."""


class _StaleLine(Listener):
    """Per vCPU: the guest deactivated vINTID 27 and KVM raised no new level since.

    One instance per checker (``InvariantChecker.shared``), used by two rules, and only
    under :data:`STALE_LINE_DESIGNS` (:func:`_stale_line`).
    """

    events = ("irqfwd_guest_deactivate", "kvm_timer_update_irq")

    def __init__(self) -> None:
        self.after_deact: dict[_Key, bool] = {}

    def on_event(self, ev: Event, time_ns: int) -> None:
        if isinstance(ev, GuestDeactivate):
            if ev.vintid == PPI_VTIMER:
                self.after_deact[(ev.vm, ev.vcpu)] = True
        elif isinstance(ev, KvmTimerUpdateIrq) and ev.level:
            self.after_deact[(ev.vm, ev.vcpu)] = False

    def documented(self, design: str, f: dict[str, Any]) -> bool:
        """This delivery is the documented stale-line re-delivery of ``design``."""
        return design in STALE_LINE_DESIGNS and self.after_deact.get(_key(f), False)


def _stale_line(checker: InvariantChecker) -> _StaleLine | None:
    """The checker's shared :class:`_StaleLine` when its design has a documented stale-line
    re-delivery (:data:`STALE_LINE_DESIGNS`); None, and nothing subscribed, otherwise (no
    delivery of another design is :meth:`_StaleLine.documented`)."""
    if checker.design not in STALE_LINE_DESIGNS:
        return None
    stale: _StaleLine = checker.shared("timer-stale-line", _StaleLine)
    return stale


class TimerConditionFalse(Rule):
    """No timer interrupt delivered to a vCPU whose timer condition is false."""

    name = "timer-condition-false"

    def __init__(self, checker: InvariantChecker) -> None:
        super().__init__(checker)
        self.stale = _stale_line(checker)

    def handlers(self) -> dict[str, Handler]:
        return {"irqfwd_guest_timer_irq": self._on_irq}

    def _on_irq(self, time: int, f: dict[str, Any]) -> None:
        self.check()
        stale = self.stale
        if not f.get("istatus", True) and not (stale is not None and stale.documented(self.checker.design, f)):
            self.violation(
                time, PPI_VTIMER,
                f"VM {f['vm']} vCPU {f['vcpu']}: guest timer handler ran with CNTV_CTL={int(f.get('ctl', 0)):#x} "
                f"(ISTATUS clear, CVAL {int(f.get('cval', 0)):#x})",
            )


class TimerStaleActive(Rule):
    """The physical vtimer PPI is never left Active behind a load that needs it inactive."""

    name = "timer-stale-active"

    def __init__(self, checker: InvariantChecker) -> None:
        super().__init__(checker)
        self.phys = phys_tracker(checker)

    events = ("irqfwd_kvm_timer_phys_active",)

    def on_event(self, ev: Event, time_ns: int) -> None:
        if isinstance(ev, KvmTimerPhysActive) and not ev.active:
            self._on_inactive(time_ns, ev.cpu, ev.cached)

    def _on_inactive(self, time: int, cpu: int, cached: bool) -> None:
        self.check()
        since = self.phys.since(phys_key(PPI_VTIMER, cpu))
        if since >= 0:
            how = "cached as inactive" if cached else "written inactive"
            self.violation(
                time, PPI_VTIMER,
                f"PPI {PPI_VTIMER} of CPU {cpu} {how} at vcpu load but still Active since {since} ns",
            )


class TimerWrongGuest(Rule):
    """A guest's timer handler runs only for its own timer's level raise."""

    name = "timer-wrong-guest"

    def __init__(self, checker: InvariantChecker) -> None:
        super().__init__(checker)
        self.raised: dict[_Key, int] = {}  # (vm, vcpu) -> level raises not yet consumed
        self.ignored: dict[int, int] = {}  # cpu -> time of a host vtimer irq with no vCPU loaded
        self.stale = _stale_line(checker)

    events = ("kvm_timer_update_irq", "irqfwd_guest_timer_irq", "irqfwd_timer_host_irq")

    def on_event(self, ev: Event, time_ns: int) -> None:
        if isinstance(ev, KvmTimerUpdateIrq):
            if ev.level:
                self._on_raise(time_ns, ev.vm, ev.vcpu, ev.cpu)
        elif ev.event == "irqfwd_guest_timer_irq":
            self._on_irq(time_ns, ev.fields())
        elif ev.event == "irqfwd_timer_host_irq":
            self._on_host_irq(time_ns, ev.fields())

    def _on_host_irq(self, time: int, f: dict[str, Any]) -> None:
        cpu = int(f["cpu"])
        if f.get("vcpu") is None:
            self.ignored[cpu] = time
        else:
            self.ignored.pop(cpu, None)

    def _on_raise(self, time: int, vm: int, vcpu: int, cpu: int | None) -> None:
        key = (vm, vcpu)
        self.raised[key] = self.raised.get(key, 0) + 1
        if cpu is not None and self.ignored.get(cpu) == time:
            self.violation(
                time, PPI_VTIMER,
                f"vtimer PPI taken on CPU {cpu} with no vCPU loaded was injected into VM {key[0]} vCPU {key[1]}",
            )

    def _on_irq(self, time: int, f: dict[str, Any]) -> None:
        key = _key(f)
        self.check()
        stale = self.stale
        if self.raised.get(key, 0) <= 0 and not (stale is not None and stale.documented(self.checker.design, f)):
            self.violation(
                time, PPI_VTIMER,
                f"VM {key[0]} vCPU {key[1]} took a timer interrupt that KVM had not raised for it "
                f"since its previous one (a duplicate or another context's delivery)",
            )
            return
        self.raised[key] = 0


for _rule in (TimerLost, TimerConditionFalse, TimerStaleActive, TimerWrongGuest):
    register_rule(_rule)
