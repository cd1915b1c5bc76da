"""The host kernel's trace events outside KVM: records of
:class:`~irqfwd.sim.metrics.Event`, named and laid out as the kernel's tracepoints
(``include/trace/events/irq.h``, ``workqueue.h``) or under irqfwd's ``irqfwd_`` prefix."""

from __future__ import annotations

from typing import ClassVar

from irqfwd.sim.metrics import Event, register_events

__all__ = ["EventfdSignal", "IrqHandlerEntry", "IrqHandlerExit", "VfioMask", "VfioUnmask",
           "WorkqueueExecuteStart", "WorkqueueQueueWork"]


class IrqHandlerEntry(Event):
    """``irq_handler_entry`` (``include/trace/events/irq.h``): the handler ``name`` of
    ``intid`` starts on ``cpu``."""

    __slots__ = ("cpu", "intid", "name")
    NAME: ClassVar[str] = "irq_handler_entry"
    FIELDS: ClassVar[tuple[str, ...]] = ("intid", "cpu", "name")

    def __init__(self, intid: int = 0, cpu: int = 0, name: str = "") -> None:
        super().__init__()
        self.intid = intid
        self.cpu = cpu
        self.name = name


class IrqHandlerExit(Event):
    """``irq_handler_exit``: the handler of ``intid`` on ``cpu`` returned ``ret``."""

    __slots__ = ("cpu", "intid", "ret")
    NAME: ClassVar[str] = "irq_handler_exit"
    FIELDS: ClassVar[tuple[str, ...]] = ("intid", "cpu", "ret")

    def __init__(self, intid: int = 0, cpu: int = 0, ret: str = "handled") -> None:
        super().__init__()
        self.intid = intid
        self.cpu = cpu
        self.ret = ret


class WorkqueueQueueWork(Event):
    """``workqueue_queue_work``: ``work`` queued on the worker of ``cpu``."""

    __slots__ = ("cpu", "work")
    NAME: ClassVar[str] = "workqueue_queue_work"
    FIELDS: ClassVar[tuple[str, ...]] = ("work", "cpu")

    def __init__(self, work: str = "", cpu: int = 0) -> None:
        super().__init__()
        self.work = work
        self.cpu = cpu


class WorkqueueExecuteStart(Event):
    """``workqueue_execute_start``: the worker of ``cpu`` runs ``work``."""

    __slots__ = ("cpu", "work")
    NAME: ClassVar[str] = "workqueue_execute_start"
    FIELDS: ClassVar[tuple[str, ...]] = ("work", "cpu")

    def __init__(self, work: str = "", cpu: int = 0) -> None:
        super().__init__()
        self.work = work
        self.cpu = cpu


class EventfdSignal(Event):
    """``irqfwd_eventfd_signal``: ``eventfd_signal`` on eventfd ``fd``."""

    __slots__ = ("fd",)
    NAME: ClassVar[str] = "irqfwd_eventfd_signal"
    FIELDS: ClassVar[tuple[str, ...]] = ("fd",)

    def __init__(self, fd: str = "") -> None:
        super().__init__()
        self.fd = fd


class VfioMask(Event):
    """``irqfwd_vfio_mask``: VFIO masked host INTID ``intid`` (``vfio_platform_mask``,
    the automask of a level interrupt)."""

    __slots__ = ("intid",)
    NAME: ClassVar[str] = "irqfwd_vfio_mask"
    FIELDS: ClassVar[tuple[str, ...]] = ("intid",)

    def __init__(self, intid: int = 0) -> None:
        super().__init__()
        self.intid = intid


class VfioUnmask(Event):
    """``irqfwd_vfio_unmask``: VFIO unmasked host INTID ``intid`` (``vfio_platform_unmask``)."""

    __slots__ = ("intid",)
    NAME: ClassVar[str] = "irqfwd_vfio_unmask"
    FIELDS: ClassVar[tuple[str, ...]] = ("intid",)

    def __init__(self, intid: int = 0) -> None:
        super().__init__()
        self.intid = intid


register_events(EventfdSignal, IrqHandlerEntry, IrqHandlerExit, VfioMask, VfioUnmask, WorkqueueExecuteStart, WorkqueueQueueWork)
