"""VFIO platform interrupts (drivers/vfio/platform/vfio_platform_irq.c).

* Level IRQs are ``MASKABLE | AUTOMASKED``: :meth:`VfioPlatformIrq.handler` (as
  ``vfio_automasked_irq_handler``) calls ``disable_irq_nosync`` and sets ``masked`` *before*
  ``eventfd_signal(trigger)``; the line stays masked until an UNMASK action or the unmask
  eventfd (a *virqfd*: eventfd wake-up → workqueue → ``vfio_platform_unmask`` →
  ``enable_irq``).
* Edge IRQs (``vfio_irq_handler``) only signal.
* The handler is requested once, at the first trigger set-up (CVE-2024-26813
  "persistent IRQ handlers").
* Design knobs (set by the system assembly from its design): ``automask=False`` for forwarded
  interrupts (the GIC active state masks the line); ``bypass_inject`` (irqbypass consumer
  injects from the hard-irq handler instead of the eventfd); ``early_unmask`` (fault: the
  unmask is queued right after the trigger signal, before the guest's EOI).

Counters: ``vfio_mask``, ``vfio_unmask``; trace events ``irqfwd_vfio_mask`` / ``irqfwd_vfio_unmask``
(``intid`` = the physical INTID).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from irqfwd.host.eventfd import EventFd
from irqfwd.host.genirq import Genirq
from irqfwd.host.irqbypass import IrqBypassProducer
from irqfwd.host.workqueue import WorkItem, Workqueue
from irqfwd.hw.machine import Machine

__all__ = ["VFIO_IRQ_INFO_AUTOMASKED", "VFIO_IRQ_INFO_MASKABLE", "VfioPlatformIrq"]

VFIO_IRQ_INFO_EVENTFD: Final = 1 << 0
VFIO_IRQ_INFO_MASKABLE: Final = 1 << 1
VFIO_IRQ_INFO_AUTOMASKED: Final = 1 << 2


class VfioPlatformIrq:
    """One interrupt index of a VFIO platform device (``struct vfio_platform_irq``)."""

    def __init__(self, machine: Machine, genirq: Genirq, wq: Workqueue, host_irq: int, hwirq: int,
                 level: bool, name: str = "vfio", automask: bool = True,
                 early_unmask: bool = False) -> None:
        self.m = machine
        self.genirq = genirq
        self.wq = wq
        self.hwirq = hwirq
        self._ev_mask = machine.recorder.event("irqfwd_vfio_mask", intid=hwirq)
        self._c_mask = machine.recorder.counter("vfio_mask")
        self._c_unmask = machine.recorder.counter("vfio_unmask")
        self._ev_unmask = machine.recorder.event("irqfwd_vfio_unmask", intid=hwirq)
        self.host_irq = host_irq
        self.level = level
        self.name = name
        self.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE
        if level:
            self.flags |= VFIO_IRQ_INFO_AUTOMASKED
        self.automask = level and automask
        self.early_unmask = early_unmask
        self.masked = False
        self.trigger: EventFd | None = None
        self.unmask_fd: EventFd | None = None
        self.bypass_inject: Callable[[], int] | None = None
        """Set by an irqbypass consumer that injects directly from the hard-irq handler."""
        self.producer = IrqBypassProducer(None, host_irq)
        self._requested = False
        self._unmask_work = WorkItem(self._virqfd_unmask, f"{name}-unmask")
        self._handler_ns = machine.costs.vfio_handler_ns
        self._unmask_ns = machine.costs.vfio_unmask_ns

    # ---------------------------------------------------------------- hard-irq handler
    def handler(self, irq: int, dev_id: Any) -> int:
        """``vfio_automasked_irq_handler`` (level) / ``vfio_irq_handler`` (edge)."""
        if self.automask:
            self.mask()
        inject = self.bypass_inject
        cost = self._handler_ns
        if inject is not None:
            cost += inject()
        elif self.trigger is not None:
            self.trigger.signal()
        if self.early_unmask and self.masked:
            self.wq.schedule_work(self._unmask_work)
        return cost

    # ---------------------------------------------------------------- VFIO_DEVICE_SET_IRQS
    def set_trigger(self, fd: EventFd | None) -> int:
        """ACTION_TRIGGER with DATA_EVENTFD: swap the trigger (handler requested once)."""
        self.trigger = fd
        self.producer.token = fd
        if not self._requested:
            ret = self.genirq.request_irq(self.host_irq, self.handler, 0, self.name, self)
            if ret:
                return ret
            self._requested = True
        return 0

    def set_unmask_eventfd(self, fd: EventFd | None) -> None:
        """ACTION_UNMASK with DATA_EVENTFD: attach/detach the unmask virqfd."""
        if self.unmask_fd is not None:
            self.unmask_fd.remove_waiter(self._virqfd_wakeup)
        self.unmask_fd = fd
        if fd is not None:
            fd.add_waiter(self._virqfd_wakeup)

    def _virqfd_wakeup(self, fd: EventFd) -> None:
        """``virqfd_wakeup``: the handler (``vfio_platform_unmask_handler``) runs at once."""
        fd.ctx_do_read()
        self.unmask()

    def _virqfd_unmask(self) -> None:
        self.unmask()

    def mask(self) -> None:
        """``vfio_platform_mask``: ``disable_irq_nosync`` once (guarded by ``masked``)."""
        if self.masked:
            return
        self.genirq.disable_irq_nosync(self.host_irq)
        self.masked = True
        self._c_mask.n += 1
        if self._ev_mask.live:
            self._ev_mask.emit()

    def unmask(self) -> None:
        """``vfio_platform_unmask``: ``enable_irq`` once (guarded by ``masked``)."""
        if not self.masked:
            return
        self.m.acc += self._unmask_ns
        self.genirq.enable_irq(self.host_irq)
        self.masked = False
        self._c_unmask.n += 1
        if self._ev_unmask.live:
            self._ev_unmask.emit()

    def release(self) -> None:
        """Device release: disable the virqfds, free the irq (``vfio_platform_irq_cleanup``)."""
        self.set_unmask_eventfd(None)
        self.trigger = None
        if self._requested:
            self.genirq.free_irq(self.host_irq, self)
            self._requested = False
