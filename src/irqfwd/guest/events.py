"""The guest kernel's trace events (irqfwd's own)."""

from __future__ import annotations

from typing import ClassVar

from irqfwd.sim.metrics import Event, register_events

__all__ = ["GuestDeactivate", "GuestIrqHandled"]


class GuestIrqHandled(Event):
    """``irqfwd_guest_irq_handled``: the guest handler of ``dev`` ran for vINTID ``vintid``
    on vCPU ``vcpu`` of VM ``vm``; ``seq`` is the newest device raise it served (None: no
    new raise, an empty run)."""

    __slots__ = ("dev", "seq", "vcpu", "vintid", "vm")
    NAME: ClassVar[str] = "irqfwd_guest_irq_handled"
    FIELDS: ClassVar[tuple[str, ...]] = ("vm", "vcpu", "vintid", "dev", "seq")

    def __init__(self, vm: int = 0, vcpu: int = 0, vintid: int = 0, dev: str = "",
                 seq: int | None = None) -> None:
        super().__init__()
        self.vm = vm
        self.vcpu = vcpu
        self.vintid = vintid
        self.dev = dev
        self.seq = seq


class GuestDeactivate(Event):
    """``irqfwd_guest_deactivate``: the guest deactivated vINTID ``vintid`` (GICV_EOIR or
    GICV_DIR, ``ICV_EOIR1_EL1`` or ``ICV_DIR_EL1``)."""

    __slots__ = ("vcpu", "vintid", "vm")
    NAME: ClassVar[str] = "irqfwd_guest_deactivate"
    FIELDS: ClassVar[tuple[str, ...]] = ("vm", "vcpu", "vintid")

    def __init__(self, vm: int = 0, vcpu: int = 0, vintid: int = 0) -> None:
        super().__init__()
        self.vm = vm
        self.vcpu = vcpu
        self.vintid = vintid


register_events(GuestDeactivate, GuestIrqHandled)
