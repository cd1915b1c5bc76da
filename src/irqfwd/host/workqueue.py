"""Deferred work (kernel/workqueue.c): ``struct work_struct`` and ``schedule_work``.

A work item runs ``workqueue_hop_ns`` after it is queued, off-CPU (as a kworker on an
otherwise idle context): its own cost delays nothing else, and it does not compete with
vCPU threads for a pCPU.  A work item is queued at most once until it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from irqfwd.hw.machine import Machine

__all__ = ["WorkItem", "Workqueue"]


class WorkItem:
    """A ``struct work_struct``: queued at most once until it runs (``schedule_work``)."""

    __slots__ = ("fn", "name", "pending")

    def __init__(self, fn: Callable[[], Any], name: str = "") -> None:
        self.fn = fn
        self.name = name
        self.pending = False


class Workqueue:
    """``system_wq``: runs queued work items one hop after they are queued."""

    __slots__ = ("hop", "m")

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        self.hop = machine.costs.workqueue_hop_ns

    def schedule_work(self, work: WorkItem) -> bool:
        """``schedule_work``: run ``work.fn`` one hop from now; False if already queued."""
        if work.pending:
            return False
        work.pending = True
        self.m.engine.schedule(self.hop, self._run_work, work)
        return True

    def _run_work(self, work: WorkItem) -> None:
        """The kworker: runs off-CPU (``Machine.cur`` = -1), charging nobody's step."""
        work.pending = False
        m = self.m
        saved, cur = m.acc, m.cur
        m.cur = -1
        work.fn()
        m.acc, m.cur = saved, cur
