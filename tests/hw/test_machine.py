"""The pCPU execution model (hw/machine.py): step chains, idling and wake-ups."""

from __future__ import annotations

from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.hw.gicv2.gic import GICv2
from irqfwd.hw.machine import (
    CPU_GUEST,
    CPU_HARDIRQ,
    CPU_KVM,
    CPU_KWORKER,
    CPU_SCHED,
    ExcStack,
    Machine,
)
from irqfwd.sim.costs import load_profile
from irqfwd.sim.engine import Engine
from irqfwd.sim.metrics import Recorder


def _machine() -> Machine:
    engine = Engine()
    return Machine(engine, Recorder(engine), load_profile("altra"), GICv2(GICv2Config(num_cpus=1)))


def test_wakeup_at_the_instant_a_cpu_goes_idle_is_not_lost() -> None:
    """A CPU whose last step left no continuation goes idle at its next boundary; work made
    runnable by another entry due at that same instant (an irqfd injection waking a vCPU
    thread, ``try_to_wake_up`` → ``poke``) must still run: the idle loop re-checks for work
    before the CPU sleeps, as Linux's idle loop re-checks need_resched.  (Found by the
    ordering explorer; before the fix the vCPU stayed runnable and never ran.)"""
    m = _machine()
    cpu = m.pcpus[0]
    runnable: list[object] = []
    ran: list[int] = []

    def work() -> int:
        ran.append(m.engine.now)
        cpu.next = None
        return 5

    def idle() -> int:
        cpu.next = runnable.pop() if runnable else None  # type: ignore[assignment]
        return 0

    def last_step() -> int:  # e.g. the host's exception return into an empty runqueue
        cpu.next = None
        return 10

    def wake() -> None:
        runnable.append(work)
        cpu.poke()

    cpu.idle_step = idle
    cpu.next = last_step
    m.engine.schedule(10, wake)  # due at the very instant the CPU reaches its next boundary
    cpu.poke()
    m.engine.run()
    assert ran == [10]


def test_fast_forward_off_gives_the_same_run() -> None:
    """``max_batch`` = 1 (every step an engine entry, as the ordering explorer needs) runs a
    whole scenario to exactly the same counters and the same engine end time."""
    from irqfwd.scenarios.builtin import apply_overrides, get_scenario
    from irqfwd.system.run import RunHooks, run_scenario

    class NoFastForward(RunHooks):
        def built(self, system, checker):  # type: ignore[no-untyped-def]
            system.machine.max_batch = 1

    for name in ("nic-level", "two-vms-one-pcpu"):
        cfg = apply_overrides(get_scenario(name), ["duration=1ms"])
        a = run_scenario(cfg, "forwarded", seed=3)
        b = run_scenario(cfg, "forwarded", seed=3, hooks=NoFastForward())
        assert a.counters == b.counters and a.sim_time_ns == b.sim_time_ns
        assert b.events_run > a.events_run


def test_wakeup_of_a_busy_waiting_cpu_resumes_the_waiter() -> None:
    """A CPU that parked a busy-waiter (KVM halt polling) and whose next boundary is already
    queued: a poke at that instant resumes the waiter, never the idle loop in its place
    (the idle loop would switch another thread in while the polling vCPU is still current:
    the vCPU was lost and its interrupts with it; found by the ordering explorer on
    explore-2x2 with a migration during a WFx exit)."""
    m = _machine()
    cpu = m.pcpus[0]
    ran: list[str] = []

    def waiter() -> int:
        ran.append("waiter")
        cpu.next = None
        return 5

    def idle() -> int:
        ran.append("idle")
        cpu.next = None
        return 0

    def park() -> int:  # e.g. kvm_vcpu_halt starting to poll
        cpu.parked = waiter
        cpu.next = None
        return 10

    cpu.idle_step = idle
    cpu.next = park
    m.engine.schedule(10, cpu.poke)
    cpu.poke()
    m.engine.run()
    assert ran == ["waiter"]


def test_exception_stack_restores_nested_contexts_in_reverse_order() -> None:
    """ExcStack (the ELR/SPSR pairs of nested exceptions, Arm ARM D1.3): each return restores
    the innermost interrupted continuation and its CPU-time category; an empty stack
    returns None (the CPU then idles); the slots are reused, not grown, interrupt after
    interrupt."""
    def a() -> int:
        return 1

    def b() -> int:
        return 2

    s = ExcStack()
    assert s.pop() is None and s.top_cat(CPU_SCHED) == CPU_SCHED and len(s) == 0
    s.push(a, CPU_GUEST)
    s.push(b, CPU_HARDIRQ)
    assert len(s) == 2 and s.top_cat(CPU_SCHED) == CPU_HARDIRQ
    assert s.pop() is b and s.top_cat(CPU_SCHED) == CPU_GUEST
    assert s.pop() is a and s.pop() is None
    for _ in range(1000):
        s.push(a, CPU_KVM)
        assert s.pop() is a
    assert len(s.steps) == 2  # the depth reached, not one slot per interrupt


def test_irq_return_resumes_the_interrupted_step_and_category() -> None:
    """PhysCpu.irq_return after a host IRQ taken at a step boundary: the interrupted
    continuation and its category come back; with nothing interrupted the CPU idles."""
    m = _machine()
    cpu = m.pcpus[0]

    def work() -> int:
        return 5

    cpu.stack.push(work, CPU_KWORKER)
    cpu.irqs_masked = True
    cpu.cat = CPU_HARDIRQ
    cpu.irq_return()
    assert cpu.next is work and cpu.cat == CPU_KWORKER and not cpu.irqs_masked
    cpu.irq_return()
    assert cpu.next is cpu.idle_step and cpu.cat == CPU_SCHED
