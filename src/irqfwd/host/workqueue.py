"""Deferred work (kernel/workqueue.c): ``struct work_struct``, ``schedule_work`` and the
per-CPU kworker threads of ``system_wq``.

``schedule_work`` queues a work item on the workqueue pool of the CPU that calls it (the
pool of CPU 0 from off-CPU code) and wakes that CPU's kworker, a scheduler
:class:`~irqfwd.host.sched.Task` that competes with the vCPU threads for the pCPU: being
woken, it preempts the thread running there at its next resched point (CFS wake-up
preemption of a vCPU thread by a kworker), runs every queued item (``process_one_work``:
``kworker_work_ns`` each, plus what the item charges), then sleeps again.  A work item is
queued at most once until it runs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from irqfwd.host.events import WorkqueueExecuteStart, WorkqueueQueueWork
from irqfwd.host.sched import Scheduler, Task
from irqfwd.hw.machine import CPU_KWORKER, Machine, PhysCpu

__all__ = ["Kworker", "WorkItem", "Workqueue"]


class WorkItem:
    """A ``struct work_struct``: queued at most once until it runs (``schedule_work``)."""

    __slots__ = ("fn", "name", "pending")

    def __init__(self, fn: Callable[[], Any], name: str = "") -> None:
        self.fn = fn
        self.name = name
        self.pending = False


class Kworker(Task):
    """The kworker thread of one CPU's pool (``kworker/N:0``)."""

    def __init__(self, wq: Workqueue, cpu: int) -> None:
        super().__init__(f"kworker/{cpu}:0")
        self.wq = wq
        self.m = wq.m
        self.home = cpu
        self.blocked = True  # asleep until work is queued
        self.items: deque[WorkItem] = deque()
        self.cpu_category = CPU_KWORKER
        self.wakeup_preempts = True
        self.run_step = self._worker_thread
        self._work_ns = wq.m.costs.kworker_work_ns
        self._c_items = wq.m.recorder.counter("kworker_items")
        self._ev_execute = wq.m.recorder.site(WorkqueueExecuteStart(cpu=cpu))

    def _worker_thread(self) -> int:
        """``worker_thread``: run the next item, or sleep when the pool is empty."""
        cpu = self.cpu
        assert cpu is not None
        if not self.items:
            return self.wq.sched.block(self, cpu)
        if cpu.need_resched:  # cond_resched() in process_one_work
            cost = self.wq.sched.resched_point(self, cpu)
            if cost >= 0:
                return cost
        work = self.items.popleft()
        work.pending = False
        self._c_items.n += 1
        ev = self._ev_execute
        if ev.live:
            ev.work = work.name
            ev.cpu = cpu.index
            ev.emit()
        work.fn()
        cpu.next = self.run_step
        return self._work_ns

    def sched_in(self, cpu: PhysCpu) -> int:
        """A kworker has no per-thread state to load."""
        return 0


class Workqueue:
    """``system_wq``: one pool, and one kworker, per CPU."""

    def __init__(self, machine: Machine, sched: Scheduler) -> None:
        self.m = machine
        self.sched = sched
        self.workers = [Kworker(self, i) for i in range(len(machine.pcpus))]
        """Bound to their CPUs: not in the scheduler's migration list."""
        self._ev_queue = machine.recorder.site(WorkqueueQueueWork())

    def schedule_work(self, work: WorkItem) -> bool:
        """``schedule_work``: queue ``work`` on the calling CPU's pool and wake its kworker;
        False if the item is already queued."""
        if work.pending:
            return False
        work.pending = True
        worker = self.workers[max(self.m.cur, 0)]
        worker.items.append(work)
        ev = self._ev_queue
        if ev.live:
            ev.work = work.name
            ev.cpu = worker.home
            ev.emit()
        if worker.blocked:
            self.sched.try_to_wake_up(worker)
        return True
