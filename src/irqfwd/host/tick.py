"""The host tick (kernel/time/tick-sched.c) on the EL2 physical timer.

A VHE host kernel runs at EL2, where the arch timer driver uses the EL2 physical timer
(``CNTHP_*_EL2``, PPI 26; ``arch_timer_select_ppi`` → ``ARCH_TIMER_HYP_PPI``).  The tick
fires every ``1/HZ`` on the jiffies grid on every CPU that is not idle (NO_HZ_IDLE: the
tick stops when a CPU enters the idle loop, ``tick_nohz_idle_stop_tick``, and restarts when
it leaves it): it interrupts a busy guest (an ``IRQ`` exit) as it interrupts the host.
Its handler (``tick_sched_timer``: jiffies, ``scheduler_tick``, expired timers) costs
``host_tick_ns``.  Counter ``host_ticks``.
"""

from __future__ import annotations

from typing import Any

from irqfwd.host.kernel import HostKernel
from irqfwd.host.sched import IdleHooks
from irqfwd.hw.machine import PhysCpu
from irqfwd.hw.timer import CTL_ENABLE, PPI_HYP_PTIMER, ArchTimers

__all__ = ["HostTick"]

_NS_PER_S = 1_000_000_000


class HostTick(IdleHooks):
    """The periodic tick of every CPU of ``host`` at ``hz`` (0: no tick), stopped while a
    CPU idles (NO_HZ_IDLE: :meth:`idle_enter` / :meth:`idle_exit`)."""

    def __init__(self, host: HostKernel, timers: ArchTimers, hz: int) -> None:
        self.host = host
        self.m = host.m
        self.timers = timers
        self.hz = hz
        self.running = [False] * len(timers)
        """Per CPU: the tick is armed (the CPU is not idle)."""
        if not hz:
            return
        self.period = timers.counter.ns_to_ticks(_NS_PER_S // hz)
        self._cost = host.m.costs.host_tick_ns
        self._c_ticks = host.m.recorder.counter("host_ticks")
        genirq = host.genirq
        self.irq = host.irqchip.map_ppi(PPI_HYP_PTIMER)
        genirq.request_percpu_irq(self.irq, self._handler, "arch_timer")
        for cpu in range(len(timers)):
            host.irqchip.set_ppi_type(PPI_HYP_PTIMER, False, cpu)
            genirq.enable_percpu_irq(self.irq, cpu)
        host.sched.idle_hooks.append(self)

    def _next_deadline(self) -> int:
        """The next jiffy boundary after now, in counter ticks."""
        now = self.timers.counter.count()
        return (now // self.period + 1) * self.period

    def idle_exit(self, cpu: PhysCpu) -> None:
        """``tick_nohz_idle_exit``: re-arm the tick on the jiffies grid."""
        i = cpu.index
        if self.running[i]:
            return
        self.running[i] = True
        hyp = self.timers.cpus[i].hyp
        hyp.write_cval(self._next_deadline())
        hyp.write_ctl(CTL_ENABLE)

    def idle_enter(self, cpu: PhysCpu) -> None:
        """``tick_nohz_idle_stop_tick``: the idle CPU gets no tick."""
        i = cpu.index
        if not self.running[i]:
            return
        self.running[i] = False
        self.timers.cpus[i].hyp.write_ctl(0)

    def _handler(self, irq: int, dev_id: Any) -> int:
        """``arch_timer_handler_phys`` → ``tick_sched_timer``: account the tick, program the next."""
        cpu = max(self.m.cur, 0)
        self._c_ticks.n += 1
        self.host.sched.scheduler_tick(self.m.pcpus[cpu])
        hyp = self.timers.cpus[cpu].hyp
        if self.running[cpu]:
            hyp.write_cval(self._next_deadline())
        else:
            hyp.write_ctl(0)
        return self._cost
