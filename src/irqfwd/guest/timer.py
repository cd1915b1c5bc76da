"""The guest kernel's use of the virtual timer (Linux ``drivers/clocksource/arm_arch_timer.c``).

A Linux arm64 guest drives its tick from the EL1 virtual timer (``CNTV_*``, PPI 27) as a
one-shot clock event device:

* **set_next_event** (``arch_timer_set_next_event_virt``): ``CNTV_CVAL = CNTVCT + delta``,
  then ``CNTV_CTL = ENABLE`` (IMASK cleared).
* **handler** (``arch_timer_handler_virt`` → ``timer_handler``): read ``CNTV_CTL``; if
  ``ISTATUS`` is set, write ``CTL | IMASK`` (so the level output drops before the EOI) and
  run the clock event handler, which programs the next event; otherwise the interrupt is
  spurious (``IRQ_NONE``).  The guest's GIC driver writes ``GICV_EOIR`` afterwards, which
  through the HW=1 list register deactivates the physical PPI.
* **periodic tick** (``tick_handle_periodic`` on a one-shot device): the next deadline is
  the previous *expected* deadline + ``NSEC_PER_SEC / HZ``; ticks whose deadline already
  passed are accounted without an interrupt (the catch-up loop of
  ``tick_handle_periodic``), counted as ``guest_timer_ticks_caught_up``.
* **one-shot hrtimers** (``TimerConfig.mode = "oneshot"``): the next expiry is drawn
  uniformly in ``[oneshot_min_ns, oneshot_max_ns]`` from ``engine.rng``.

The guest's accesses to ``CNTV_*`` go straight to the hardware of the pCPU its vCPU runs on
(VHE host, no trap): callers pass that pCPU's :class:`~irqfwd.hw.timer.GenericTimer`.

Trace events (read by :mod:`irqfwd.check.timer`): ``irqfwd_guest_timer_program`` (``vm``,
``vcpu``, ``cval``, ``deadline_ns``) and ``irqfwd_guest_timer_irq`` (``vm``, ``vcpu``, ``istatus``,
``ctl``, ``cval``).  Counters ``guest_timer_irqs``, ``guest_timer_spurious``,
``guest_timer_ticks``, ``guest_timer_ticks_caught_up``; latency path
``timer_expiry_to_guest_handler`` (deadline reached → guest handler entry).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from irqfwd.config import TimerConfig
from irqfwd.guest.kernel import SPIN_QUANTUM_NS
from irqfwd.hw.machine import Machine
from irqfwd.hw.timer import CTL_ENABLE, CTL_IMASK, CTL_ISTATUS, PPI_VTIMER, ArchTimers, GenericTimer
from irqfwd.sim.costs import CostProfile
from irqfwd.sim.engine import Engine
from irqfwd.sim.metrics import Recorder

if TYPE_CHECKING:
    from irqfwd.guest.kernel import GuestCpu

__all__ = ["GUEST_TIMER_PRIO", "SPIN_QUANTUM_NS", "GuestArchTimer", "GuestTimer"]

_NS_PER_S: Final = 1_000_000_000
GUEST_TIMER_PRIO: Final = 0xA0
"""Priority the guest gives its timer PPI (Linux: GICD_INT_DEF_PRI)."""
_MASK64: Final = (1 << 64) - 1


class GuestTimer:
    """One vCPU's clock event device on the virtual timer."""

    __slots__ = (
        "_handler_ns",
        "cntvoff",
        "config",
        "costs",
        "cval",
        "deadline_ns",
        "engine",
        "irqs",
        "rec",
        "started",
        "ticks",
        "vcpu",
        "vm",
    )

    def __init__(
        self,
        engine: Engine,
        recorder: Recorder,
        costs: CostProfile,
        config: TimerConfig,
        vm: int,
        vcpu: int,
        cntvoff: int = 0,
        handler_ns: int | None = None,
    ) -> None:
        self.engine = engine
        self.rec = recorder
        self.costs = costs
        self.config = config
        self.vm = vm
        self.vcpu = vcpu
        self.cntvoff = cntvoff & _MASK64
        """The VM's CNTVOFF_EL2 (only used to convert CVAL into engine time for metrics)."""
        self.cval = 0
        self.deadline_ns = 0
        """Engine time at which the programmed CVAL is reached."""
        self.started = False
        self.irqs = 0
        """Timer interrupts this vCPU's handler took with ISTATUS set."""
        self.ticks = 0
        """Ticks accounted (interrupts + catch-up)."""
        self._handler_ns = costs.guest_timer_handler_ns if handler_ns is None else handler_ns

    # ------------------------------------------------------------------ programming
    @property
    def period_ns(self) -> int:
        """The tick period ``NSEC_PER_SEC / HZ``."""
        return _NS_PER_S // self.config.hz

    def _program(self, hw: GenericTimer, cval: int) -> None:
        """``arch_timer_set_next_event_virt``: CVAL, then CTL = ENABLE (unmasked)."""
        self.cval = cval & _MASK64
        hw.virt.write_cval(self.cval)
        hw.virt.write_ctl(CTL_ENABLE)
        counter = hw.counter
        now_unwrapped = counter.unwrapped_at(self.engine.now)
        count = hw.virt.count()
        delta = ((self.cval - count + (1 << 63)) & _MASK64) - (1 << 63)
        self.deadline_ns = counter.time_of(now_unwrapped + delta)
        if self.rec.wants("irqfwd_guest_timer_program"):
            self.rec.emit("irqfwd_guest_timer_program", vm=self.vm, vcpu=self.vcpu, cval=self.cval, deadline_ns=self.deadline_ns)

    def start(self, hw: GenericTimer, first_ns: int | None = None) -> int:
        """Arm the first event ``first_ns`` from now (default: one period / a random one-shot delay)."""
        delay = self.next_delay_ns() if first_ns is None else first_ns
        self._program(hw, hw.virt.count() + hw.counter.ns_to_ticks(delay))
        self.started = True
        return 0

    def next_delay_ns(self) -> int:
        """Delay to the next event: one period, or a uniform one-shot delay from ``engine.rng``."""
        if self.config.mode == "periodic":
            return self.period_ns
        lo, hi = self.config.oneshot_min_ns, max(self.config.oneshot_min_ns, self.config.oneshot_max_ns)
        return self.engine.rng.randint(lo, hi)

    # ------------------------------------------------------------------ interrupt
    def handle_irq(self, hw: GenericTimer) -> int:
        """``arch_timer_handler_virt`` + the clock event handler; returns the cost in ns.

        Called by the guest's GIC driver after ``GICV_IAR`` returned vINTID 27 and before
        its ``GICV_EOIR`` write.
        """
        ctl = hw.virt.read_ctl()
        istatus = bool(ctl & CTL_ISTATUS)
        if self.rec.wants("irqfwd_guest_timer_irq"):
            self.rec.emit("irqfwd_guest_timer_irq", vm=self.vm, vcpu=self.vcpu, istatus=istatus, ctl=ctl, cval=hw.virt.read_cval())
        if not istatus:
            self.rec.count("guest_timer_spurious")
            return self.costs.gicv_access_ns
        self.rec.latency("timer_expiry_to_guest_handler", self.engine.now - self.deadline_ns)
        self.irqs += 1
        self.rec.count("guest_timer_irqs")
        hw.virt.write_ctl(ctl | CTL_IMASK)
        self.ticks += 1
        self.rec.count("guest_timer_ticks")
        if self.config.mode == "periodic":
            # tick_handle_periodic: next = expected + period, catching up missed ticks
            period = hw.counter.ns_to_ticks(self.period_ns)
            cval = self.cval + period
            count = hw.virt.count()
            while cval <= count:
                cval += period
                self.ticks += 1
                self.rec.count("guest_timer_ticks")
                self.rec.count("guest_timer_ticks_caught_up")
            self._program(hw, cval)
        else:
            self._program(hw, hw.virt.count() + hw.counter.ns_to_ticks(self.next_delay_ns()))
        return self._handler_ns

    def condition_met(self, hw: GenericTimer) -> bool:
        """The guest-visible timer condition (CNTV_CTL.ISTATUS) on the loaded hardware."""
        return bool(hw.virt.read_ctl() & CTL_ISTATUS)


class GuestArchTimer:
    """The guest's arch timer driver (``arch_timer_of_init`` in the VM): one clock event per
    vCPU on the virtual timer, one per-CPU handler for vINTID 27 (``request_percpu_irq``
    dispatching to the vCPU's own clock event)."""

    def __init__(self, machine: Machine, timers: ArchTimers) -> None:
        self.m = machine
        self.timers = timers
        """The Generic Timer of each pCPU (the guest's CNTV_* accesses reach the one it runs on)."""
        self._of: dict[GuestCpu, GuestTimer] = {}

    def attach(self, gcpu: GuestCpu, gt: GuestTimer, busy: bool) -> None:
        """Give ``gcpu`` its clock event ``gt``: the PPI's priority and enable (trapped
        distributor writes at boot), the shared handler, and with ``busy`` a CPU-bound idle
        loop instead of WFI."""
        gcpu.boot_ops.extend(gcpu.gic.percpu_irq_ops(PPI_VTIMER, GUEST_TIMER_PRIO))
        self._of[gcpu] = gt
        if PPI_VTIMER not in gcpu.k.irq_handlers:
            gcpu.k.register_irq_handler(PPI_VTIMER, self.handler)
        if busy:
            gcpu.make_busy()

    def handler(self, gcpu: GuestCpu) -> int:
        """``arch_timer_handler_virt`` for vINTID 27 on ``gcpu`` (its clock event)."""
        gt = self._of.get(gcpu)
        if gt is None:  # this vCPU has no guest tick: a spurious interrupt
            return 0
        cpu = gcpu.vcpu.cpu
        assert cpu is not None
        return gt.handle_irq(self.timers[cpu.index])
