"""The hardware's trace events: records of :class:`~irqfwd.sim.metrics.Event`.

The GIC ones are QEMU's ``hw/intc/trace-events`` (``gic_set_irq``, ``gic_update_set_irq``,
``gic_update_maintenance_irq``); ``irqfwd_phys_activate`` / ``irqfwd_phys_deactivate``
are irqfwd's own (no tracepoint follows a physical interrupt's Active state).
"""

from __future__ import annotations

from typing import ClassVar

from irqfwd.sim.metrics import Event, register_events

__all__ = ["GicSetIrq", "GicUpdateMaintenanceIrq", "GicUpdateSetIrq", "PhysActivate", "PhysDeactivate"]


class GicSetIrq(Event):
    """``gic_set_irq``: an input line of the GIC driven (``cpu`` 0 for an SPI)."""

    __slots__ = ("cpu", "intid", "level")
    NAME: ClassVar[str] = "gic_set_irq"
    FIELDS: ClassVar[tuple[str, ...]] = ("intid", "cpu", "level")

    def __init__(self, intid: int = 0, cpu: int = 0, level: int = 0) -> None:
        super().__init__()
        self.intid = intid
        self.cpu = cpu
        self.level = level


class GicUpdateMaintenanceIrq(Event):
    """``gic_update_maintenance_irq``: the maintenance interrupt line of ``cpu`` driven."""

    __slots__ = ("cpu", "level")
    NAME: ClassVar[str] = "gic_update_maintenance_irq"
    FIELDS: ClassVar[tuple[str, ...]] = ("cpu", "level")

    def __init__(self, cpu: int = 0, level: int = 0) -> None:
        super().__init__()
        self.cpu = cpu
        self.level = level


class GicUpdateSetIrq(Event):
    """``gic_update_set_irq``: output ``signal`` (``irq``/``fiq``/``virq``/``vfiq``) of
    CPU interface ``cpu`` changed to ``level``."""

    __slots__ = ("cpu", "level", "signal")
    NAME: ClassVar[str] = "gic_update_set_irq"
    FIELDS: ClassVar[tuple[str, ...]] = ("cpu", "signal", "level")

    def __init__(self, cpu: int = 0, signal: str = "", level: int = 0) -> None:
        super().__init__()
        self.cpu = cpu
        self.signal = signal
        self.level = level


class PhysActivate(Event):
    """``irqfwd_phys_activate``: physical ``intid`` became active on ``cpu`` (``source``:
    an acknowledge, ``iar``, or a write of the Active state)."""

    __slots__ = ("cpu", "intid", "source")
    NAME: ClassVar[str] = "irqfwd_phys_activate"
    FIELDS: ClassVar[tuple[str, ...]] = ("intid", "cpu", "source")

    def __init__(self, intid: int = 0, cpu: int = 0, source: str = "") -> None:
        super().__init__()
        self.intid = intid
        self.cpu = cpu
        self.source = source


class PhysDeactivate(Event):
    """``irqfwd_phys_deactivate``: physical ``intid`` deactivated, ``by`` the guest (a
    HW=1 list register) or the host."""

    __slots__ = ("by", "cpu", "intid", "source")
    NAME: ClassVar[str] = "irqfwd_phys_deactivate"
    FIELDS: ClassVar[tuple[str, ...]] = ("intid", "cpu", "source", "by")

    def __init__(self, intid: int = 0, cpu: int = 0, source: str = "", by: str = "") -> None:
        super().__init__()
        self.intid = intid
        self.cpu = cpu
        self.source = source
        self.by = by


register_events(GicSetIrq, GicUpdateMaintenanceIrq, GicUpdateSetIrq, PhysActivate, PhysDeactivate)
