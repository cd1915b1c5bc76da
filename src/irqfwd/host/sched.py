"""Threads on pCPUs (kernel/sched/): placement, switching, blocking, time slices, migration.

The scheduler runs :class:`Task` objects (the vCPU threads of KVM): it knows nothing of
KVM.  As Linux's preempt notifiers do, it calls :meth:`Task.sched_in` when a thread is
switched in on a pCPU and :meth:`Task.sched_out` when it is switched out (for a vCPU,
``kvm_sched_in`` → ``kvm_arch_vcpu_load`` and ``kvm_sched_out`` → ``kvm_arch_vcpu_put``).

Policies (``SchedulerConfig``):

* ``pinned``: each thread stays on its pCPU; threads sharing a pCPU run until they block;
* ``round-robin``: plus a tick every ``timeslice_ns`` that preempts the running thread
  (``need_resched``) when another thread on that pCPU is runnable;
* ``migrate_every_ns > 0``: every period each thread moves to the next pCPU
  (``home = (home + 1) % pcpus``); a running thread is asked to leave its pCPU
  (:meth:`Task.request_exit` and a reschedule) and is re-placed at its next
  :meth:`Scheduler.resched_point`.

A thread that blocks (:meth:`Scheduler.block`) is switched out; :meth:`Scheduler.try_to_wake_up`
makes it runnable on its home pCPU again.  Costs: ``vcpu_wakeup_ns`` when an idle pCPU
switches to a woken thread, ``sched_switch_ns`` for a switch between two threads.
"""

from __future__ import annotations

from irqfwd.config import SchedulerConfig
from irqfwd.hw.machine import CPU_HOST, CPU_SCHED, HOST, Machine, PhysCpu, Step
from irqfwd.sim.engine import Handle

__all__ = ["RunQueue", "Scheduler", "Task"]


def _no_run() -> int:
    raise RuntimeError("task scheduled with no code to run")


class Task:
    """A schedulable thread (the parts of ``struct task_struct`` the model needs)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.home = 0
        """pCPU whose runqueue the thread belongs to."""
        self.cpu: PhysCpu | None = None
        """pCPU the thread is switched in on (between sched_in and sched_out)."""
        self.blocked = False
        self.exited = False
        self.slice_start = 0
        self.run_step: Step = _no_run
        """Where the thread continues when it is switched in."""
        self.cpu_category = CPU_HOST
        """The ``CPU_*`` category its time is accounted to."""
        self.wakeup_preempts = False
        """Waking it preempts the thread running on its pCPU (a kworker woken by
        ``queue_work`` gets the CPU at the next resched point, as CFS wake-up preemption
        gives it)."""

    def sched_in(self, cpu: PhysCpu) -> int:
        """Preempt notifier ``sched_in``: the thread now runs on ``cpu``; returns the cost (ns)."""
        return 0

    def sched_out(self, cpu: PhysCpu) -> int:
        """Preempt notifier ``sched_out``: the thread leaves ``cpu``; returns the cost (ns)."""
        return 0

    def should_exit(self) -> bool:
        """The thread's owner is going away: it exits at its next resched point."""
        return False

    def request_exit(self) -> None:
        """Ask a running thread to leave its pCPU at its next opportunity (migration)."""


class IdleHooks:
    """What runs when a pCPU enters or leaves the idle loop (``tick_nohz_idle_enter`` /
    ``tick_nohz_idle_exit``: the host tick's), registered in :attr:`Scheduler.idle_hooks`:
    native calls in the compiled build."""

    def idle_enter(self, cpu: PhysCpu) -> None:
        """``cpu`` enters the idle loop."""

    def idle_exit(self, cpu: PhysCpu) -> None:
        """``cpu`` leaves the idle loop for a thread."""


class RunQueue:
    """One pCPU's queue of threads waiting to run, first in first out, with a front for a
    wake-up that preempts (``check_preempt_wakeup``).

    A list with a head index (a deque's methods are generic calls when compiled, two per
    vCPU switch); the served prefix is dropped now and then.
    """

    __slots__ = ("head", "items")

    def __init__(self) -> None:
        self.items: list[Task] = []
        self.head = 0

    def __len__(self) -> int:
        return len(self.items) - self.head

    def append(self, task: Task) -> None:
        """Queue ``task`` at the back."""
        self.items.append(task)

    def appendleft(self, task: Task) -> None:
        """Queue ``task`` at the front."""
        if self.head:
            self.head -= 1
            self.items[self.head] = task
        else:
            self.items.insert(0, task)

    def popleft(self) -> Task:
        """Take the thread at the front (the queue must not be empty)."""
        items = self.items
        h = self.head
        task = items[h]
        h += 1
        if h > 16 and 2 * h > len(items):
            del items[:h]
            h = 0
        self.head = h
        return task

    def tasks(self) -> list[Task]:
        """The queued threads, front first (a copy)."""
        return self.items[self.head:]

    def remove(self, task: Task) -> bool:
        """Take ``task`` out of the queue; False when it is not queued."""
        items = self.items
        for i in range(self.head, len(items)):
            if items[i] is task:
                del items[i]
                return True
        return False


class Scheduler:
    """Per-pCPU runqueues of threads."""

    def __init__(self, machine: Machine, config: SchedulerConfig) -> None:
        self.m = machine
        self.config = config
        self.rr = config.policy == "round-robin"
        self.rq: list[RunQueue] = [RunQueue() for _ in machine.pcpus]
        self.curr: list[Task | None] = [None for _ in machine.pcpus]
        """The thread switched in on each pCPU."""
        self.tasks: list[Task] = []
        self._slice: list[Handle | None] = [None for _ in machine.pcpus]
        self._last_was_idle = [True for _ in machine.pcpus]
        c = machine.costs
        self.wakeup_ns = c.vcpu_wakeup_ns
        self._c_switch = machine.recorder.counter("sched_switch")
        self.switch_ns = c.sched_switch_ns
        self.eevdf = True
        """Tick preemption after EEVDF's base slice (6.6+) rather than CFS's share of
        ``sched_latency`` (set from the kernel profile)."""
        self.idle_hooks: list[IdleHooks] = []
        """Told when a pCPU enters the idle loop (NO_HZ: the host tick stops) and when it
        leaves it for a thread (the tick restarts)."""
        for cpu in machine.pcpus:
            cpu.idle_step = _IdleStep(self, cpu).step

    # ---------------------------------------------------------------- placement
    def add_task(self, task: Task, pcpu: int) -> None:
        """Place a new, runnable thread on ``pcpu`` (``wake_up_new_task``)."""
        task.home = pcpu
        self.tasks.append(task)
        self.rq[pcpu].append(task)
        self.m.pcpus[pcpu].poke()

    def start_migration(self) -> None:
        """Arm the periodic migration (``migrate_every_ns``) if configured."""
        every = self.config.migrate_every_ns
        if every and len(self.m.pcpus) > 1:
            self.m.engine.schedule(every, self._migrate)

    # ---------------------------------------------------------------- switch in / out
    def switch_in(self, task: Task, cpu: PhysCpu) -> int:
        """Make ``task`` current on ``cpu`` and run its ``sched_in`` notifier
        (``sched_switch``: counted)."""
        self._c_switch.n += 1
        self.curr[cpu.index] = task
        task.cpu = cpu
        task.slice_start = self.m.engine.now
        cost = task.sched_in(cpu)
        cpu.cat = task.cpu_category
        return cost

    def switch_out(self, task: Task, cpu: PhysCpu) -> int:
        """Run ``task``'s ``sched_out`` notifier and make ``cpu`` have no current thread."""
        cost = task.sched_out(cpu)
        self.curr[cpu.index] = None
        task.cpu = None
        cpu.cat = CPU_SCHED
        return cost

    # ---------------------------------------------------------------- idle / switch
    def _idle(self, cpu: PhysCpu) -> int:
        """The pCPU's idle continuation: switch to the next runnable thread or stay idle."""
        rq = self.rq[cpu.index]
        cpu.need_resched = False
        while len(rq):
            task = rq.popleft()
            if task.blocked or task.exited or task.home != cpu.index:
                continue
            was_idle = self._last_was_idle[cpu.index]
            cost = self.wakeup_ns if was_idle else self.switch_ns
            self._last_was_idle[cpu.index] = False
            if was_idle:
                for h in self.idle_hooks:
                    h.idle_exit(cpu)
            cost += self.switch_in(task, cpu)
            cpu.mode = HOST
            cpu.next = task.run_step
            if self.rr:
                self._arm_slice(cpu)
            return cost
        if not self._last_was_idle[cpu.index]:
            for h in self.idle_hooks:
                h.idle_enter(cpu)
        self._last_was_idle[cpu.index] = True
        cpu.next = None
        return 0

    def resched_point(self, task: Task, cpu: PhysCpu) -> int:
        """``cond_resched`` / the exit check of a thread's loop; -1 = keep running ``task``."""
        cpu.need_resched = False
        if task.should_exit():
            task.exited = True
            cost = self.switch_out(task, cpu)
            self._last_was_idle[cpu.index] = False
            cpu.next = cpu.idle_step
            return cost
        if task.home != cpu.index:
            cost = self.switch_out(task, cpu)
            self.rq[task.home].append(task)
            self.m.pcpus[task.home].poke()
            self._last_was_idle[cpu.index] = False
            cpu.next = cpu.idle_step
            return cost
        if self.single_task_running(cpu):
            return -1
        cost = self.switch_out(task, cpu)
        self.rq[cpu.index].append(task)
        self._last_was_idle[cpu.index] = False
        cpu.next = cpu.idle_step
        return cost

    def block(self, task: Task, cpu: PhysCpu) -> int:
        """``schedule()`` from a thread that sets itself blocked: switch it out."""
        task.blocked = True
        cost = self.switch_out(task, cpu)
        cpu.next = cpu.idle_step
        return cost

    def try_to_wake_up(self, task: Task) -> None:
        """``try_to_wake_up``: make a blocked thread runnable on its home pCPU."""
        task.blocked = False
        if task.wakeup_preempts:  # it would preempt whichever thread this CPU picks first
            self.rq[task.home].appendleft(task)
        else:
            self.rq[task.home].append(task)
        cpu = self.m.pcpus[task.home]
        cpu.poke()
        curr = self.curr[cpu.index]
        if curr is not None:
            if task.wakeup_preempts and curr is not task:
                cpu.need_resched = True  # check_preempt_wakeup: resched_curr
                if self.m.cur != cpu.index:
                    cpu.interrupt()
            elif self.rr:
                self._arm_slice(cpu)

    def scheduler_tick(self, cpu: PhysCpu) -> None:
        """``scheduler_tick`` → ``task_tick_fair``: the current thread is preempted
        (``resched_curr``) once it has run its slice while another thread waits on ``cpu``
        (:meth:`sched_slice`)."""
        curr = self.curr[cpu.index]
        if curr is None:
            return
        waiting = sum(1 for t in self.rq[cpu.index].tasks() if not t.blocked and not t.exited)
        if waiting and self.m.engine.now - curr.slice_start >= self.sched_slice(waiting + 1):
            self.m.recorder.count("sched_tick_preempt")
            cpu.need_resched = True

    def sched_slice(self, nr_running: int) -> int:
        """The slice of one of ``nr_running`` equal-weight threads: EEVDF's ``base_slice_ns``
        (0.75 ms) or CFS's ``sched_latency`` (6 ms) shared out, at least
        ``sched_min_granularity`` (0.75 ms); both scaled by ``1 + ilog2(min(ncpus, 8))``
        (``get_update_sysctl_factor``, SCHED_TUNABLESCALING_LOG)."""
        factor = 1 + (min(len(self.m.pcpus), 8).bit_length() - 1)
        if self.eevdf:
            return 750_000 * factor
        return max(6_000_000 * factor // nr_running, 750_000 * factor)

    def single_task_running(self, cpu: PhysCpu) -> bool:
        """``single_task_running``: nothing else is runnable on ``cpu`` (halt polling stops
        as soon as another thread waits for the CPU)."""
        rq = self.rq[cpu.index]
        items = rq.items
        for i in range(rq.head, len(items)):  # no generator frame, no copy per look
            t = items[i]
            if not t.blocked and not t.exited:
                return False
        return True

    # ---------------------------------------------------------------- time slices
    def _arm_slice(self, cpu: PhysCpu) -> None:
        """Arm the time slice of ``cpu``'s current thread (``round-robin`` only: callers check
        :attr:`rr`) unless it is armed or no other thread waits."""
        if self._slice[cpu.index] is not None:
            return
        cur = self.curr[cpu.index]
        if cur is None or not len(self.rq[cpu.index]):
            return
        eng = self.m.engine
        when = max(eng.now, cur.slice_start + self.config.timeslice_ns)
        self._slice[cpu.index] = eng.at(when, self._slice_expired, cpu)

    def _slice_expired(self, cpu: PhysCpu) -> None:
        self._slice[cpu.index] = None
        if self.curr[cpu.index] is None:
            return
        if any(not t.blocked and not t.exited for t in self.rq[cpu.index].tasks()):
            self.m.recorder.count("sched_tick_preempt")
            cpu.need_resched = True
            cpu.poke()
            cpu.interrupt()

    # ---------------------------------------------------------------- migration
    def _migrate(self) -> None:
        n = len(self.m.pcpus)
        for task in self.tasks:
            if task.exited:
                continue
            old = task.home
            task.home = (old + 1) % n
            self.m.recorder.count("vcpu_migrations")
            if self.rq[old].remove(task):
                self.rq[task.home].append(task)
                self.m.pcpus[task.home].poke()
            elif task.cpu is not None:
                task.request_exit()
                task.cpu.need_resched = True
                task.cpu.poke()
                task.cpu.interrupt()
        self.m.engine.schedule(self.config.migrate_every_ns, self._migrate)


class _IdleStep:
    """A pCPU's idle continuation bound to it (cheaper to call than a ``partial``)."""

    __slots__ = ("cpu", "sched")

    def __init__(self, sched: Scheduler, cpu: PhysCpu) -> None:
        self.sched = sched
        self.cpu = cpu

    def step(self) -> int:
        """:meth:`Scheduler._idle` on this pCPU."""
        return self.sched._idle(self.cpu)
