"""QEMU's main loop thread (util/main-loop.c ``main_loop_wait`` → ``ppoll``, util/aio-posix.c).

:class:`MainLoop` is a host thread (a scheduler :class:`~irqfwd.host.sched.Task`, CPU time
category ``vmm``) that sleeps in ``ppoll`` on the file descriptors it was given with
:meth:`MainLoop.set_fd_handler` (``qemu_set_fd_handler``).  An eventfd signal wakes it
(``try_to_wake_up`` on its home pCPU, preempting a vCPU thread running there); it then runs
the handler of every ready descriptor, ``vmm_fd_handler_ns`` each plus what the handler
charges (its ioctls), and goes back to ``ppoll``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from irqfwd.host.eventfd import EventFd
from irqfwd.host.sched import Scheduler, Task
from irqfwd.hw.machine import CPU_VMM, Machine, PhysCpu

__all__ = ["FdHandler", "MainLoop"]

FdHandler = Callable[[], None]
"""A descriptor's read handler; it charges its own work to the running step."""


class MainLoop(Task):
    """The VMM's main loop thread on pCPU ``home``."""

    def __init__(self, machine: Machine, sched: Scheduler, home: int = 0) -> None:
        super().__init__("qemu-main")
        self.m = machine
        self.sched = sched
        self.cpu_category = CPU_VMM
        self.wakeup_preempts = True
        """Woken after sleeping in ppoll it preempts the thread running there (EEVDF/CFS
        wake-up preemption of a vCPU thread that has been running)."""
        self.blocked = True  # in ppoll until a descriptor is ready
        self.run_step = self._main_loop_wait
        self.handlers: dict[EventFd, FdHandler] = {}
        self.ready: deque[EventFd] = deque()
        self._fd_ns = machine.costs.vmm_fd_handler_ns
        self._c_wakeups = machine.recorder.counter("vmm_main_loop_wakeups")
        sched.add_task(self, home)
        self.blocked = True

    def set_fd_handler(self, fd: EventFd, handler: FdHandler | None) -> None:
        """``qemu_set_fd_handler(fd, handler, NULL, opaque)``; None removes it."""
        if handler is None:
            if fd in self.handlers:
                del self.handlers[fd]
                fd.remove_waiter(self._poll_wake)
            return
        if fd not in self.handlers:
            fd.add_waiter(self._poll_wake)
        self.handlers[fd] = handler

    def _poll_wake(self, fd: EventFd) -> None:
        """The eventfd's wait-queue entry of ``ppoll``: mark it ready, wake the thread."""
        if fd not in self.ready:
            self.ready.append(fd)
        if self.blocked and not self.exited:
            self._c_wakeups.n += 1
            self.sched.try_to_wake_up(self)

    def _main_loop_wait(self) -> int:
        """One pass of ``main_loop_wait``: run the next ready handler, or sleep in ppoll."""
        cpu = self.cpu
        assert cpu is not None
        if not self.ready:
            return self.sched.block(self, cpu)
        fd = self.ready.popleft()
        handler = self.handlers.get(fd)
        cpu.next = self.run_step
        if handler is not None:
            handler()  # its ioctls charge the step (Machine.acc)
        return self._fd_ns

    def sched_in(self, cpu: PhysCpu) -> int:
        """A user thread has no KVM state to load."""
        return 0
