"""``eventfd`` (fs/eventfd.c): a counter plus a wait queue of in-kernel waiters.

In-kernel users (KVM irqfd, VFIO virqfd) register a wake-up callback with
:meth:`EventFd.add_waiter` (the ``poll`` wait-queue entry); :meth:`EventFd.signal`
(``eventfd_signal``) adds to the counter and calls every waiter synchronously, as the
wait-queue wake-up does.  Counter: ``eventfd_signals`` (every ``eventfd_signal`` call; trace event ``irqfwd_eventfd_signal``);
cost: ``eventfd_signal_ns`` charged to the signalling context.
"""

from __future__ import annotations

from collections.abc import Callable

from irqfwd.host.events import EventfdSignal
from irqfwd.hw.machine import Machine

__all__ = ["EventFd"]


class EventFd:
    """One eventfd context (``struct eventfd_ctx``)."""

    __slots__ = ("_c_signals", "_ev_signal", "_signal_ns", "count", "m", "name", "waiters")

    def __init__(self, machine: Machine, name: str = "") -> None:
        self.m = machine
        self._signal_ns = machine.costs.eventfd_signal_ns
        self._c_signals = machine.recorder.counter("eventfd_signals")
        self._ev_signal = machine.recorder.site(EventfdSignal(fd=name))
        self.name = name
        self.count = 0
        self.waiters: list[Callable[[EventFd], None]] = []

    def signal(self, n: int = 1) -> None:
        """``eventfd_signal``: add ``n`` and wake every waiter."""
        self._c_signals.n += 1
        self.m.acc += self._signal_ns
        self.count += n
        ev = self._ev_signal
        if ev.live:
            ev.fd = self.name
            ev.emit()
        for w in tuple(self.waiters):
            w(self)

    def ctx_do_read(self) -> int:
        """``eventfd_ctx_do_read``: return and clear the counter."""
        v = self.count
        self.count = 0
        return v

    def add_waiter(self, fn: Callable[[EventFd], None]) -> None:
        """Add a wait-queue entry (``add_wait_queue`` via ``vfs_poll``)."""
        self.waiters.append(fn)

    def remove_waiter(self, fn: Callable[[EventFd], None]) -> None:
        """Remove a wait-queue entry (``eventfd_ctx_remove_wait_queue``)."""
        if fn in self.waiters:
            self.waiters.remove(fn)
