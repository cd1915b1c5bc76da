"""What a guest driver touches of its device: the base class of every device model a guest
driver is bound to (:class:`irqfwd.guest.kernel.GuestDriver`).

A base class rather than a ``Protocol``: in the compiled build a call through it is a
native method call, where a protocol-typed call is a generic Python call with its
arguments boxed and parsed (the driver calls :meth:`GuestDevice.handler_entry` and
:meth:`GuestDevice.ack` on every interrupt).
"""

from __future__ import annotations

from irqfwd._mypyc import mypyc_attr

__all__ = ["GuestDevice"]


@mypyc_attr(allow_interpreted_subclasses=True)
class GuestDevice:
    """A device (a NIC, one queue of a multi-queue NIC) as its guest driver sees it:
    pass-through MMIO, no exit."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pending = 0
        """Events the device holds for its driver (read and cleared by :meth:`ack`)."""

    def handler_entry(self) -> int | None:
        """Handler entry: the newest raise served (latency bookkeeping)."""
        raise NotImplementedError

    def ack(self) -> int:
        """Read and clear the status register."""
        raise NotImplementedError

    def poll(self, budget: int) -> int:
        """NAPI: consume up to ``budget`` events."""
        raise NotImplementedError

    def set_irq_enabled(self, on: bool) -> None:
        """The device's interrupt enable."""
        raise NotImplementedError
