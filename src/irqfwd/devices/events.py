"""The devices' trace events (irqfwd's own: a device model has no tracepoint of its own)."""

from __future__ import annotations

from typing import ClassVar

from irqfwd.sim.metrics import Event, register_events

__all__ = ["DeviceIrqLower", "DeviceIrqRaise", "DeviceIrqWithdraw"]


class DeviceIrqRaise(Event):
    """``irqfwd_device_irq_raise``: device ``dev`` raised interrupt number ``seq`` on host
    INTID ``intid`` (``trigger``: ``level`` or ``edge``)."""

    __slots__ = ("dev", "intid", "seq", "trigger")
    NAME: ClassVar[str] = "irqfwd_device_irq_raise"
    FIELDS: ClassVar[tuple[str, ...]] = ("dev", "intid", "trigger", "seq")

    def __init__(self, dev: str = "", intid: int = 0, trigger: str = "level", seq: int = 0) -> None:
        super().__init__()
        self.dev = dev
        self.intid = intid
        self.trigger = trigger
        self.seq = seq


class DeviceIrqLower(Event):
    """``irqfwd_device_irq_lower``: level device ``dev`` lowered its line (its driver
    acknowledged it)."""

    __slots__ = ("dev", "intid")
    NAME: ClassVar[str] = "irqfwd_device_irq_lower"
    FIELDS: ClassVar[tuple[str, ...]] = ("dev", "intid")

    def __init__(self, dev: str = "", intid: int = 0) -> None:
        super().__init__()
        self.dev = dev
        self.intid = intid


class DeviceIrqWithdraw(Event):
    """``irqfwd_device_irq_withdraw``: device ``dev`` withdrew its pending raises (none is
    owed a handler run)."""

    __slots__ = ("dev", "intid")
    NAME: ClassVar[str] = "irqfwd_device_irq_withdraw"
    FIELDS: ClassVar[tuple[str, ...]] = ("dev", "intid")

    def __init__(self, dev: str = "", intid: int = 0) -> None:
        super().__init__()
        self.dev = dev
        self.intid = intid


register_events(DeviceIrqLower, DeviceIrqRaise, DeviceIrqWithdraw)
