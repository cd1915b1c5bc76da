"""VFIO device interrupts: platform IRQs (drivers/vfio/platform/vfio_platform_irq.c) and PCI
INTx (drivers/vfio/pci/vfio_pci_intrs.c).

* Platform level IRQs are ``MASKABLE | AUTOMASKED``: :meth:`VfioPlatformIrq.handler` (as
  ``vfio_automasked_irq_handler``) calls ``disable_irq_nosync`` and sets ``masked`` *before*
  ``eventfd_signal(trigger)``; the line stays masked until an UNMASK action or the unmask
  eventfd (a *virqfd*: its wake-up, ``virqfd_wakeup``, runs ``vfio_platform_unmask_handler``
  → ``enable_irq`` synchronously in the signaller's context).  ``disable_irq_nosync`` is
  lazy: the still-asserted line fires once more, and the flow handler masks it then.
* PCI INTx (:class:`VfioPciIntx`) of a device that supports DisINTx (``pci_2_3``, what
  every PCIe function does): ``vfio_intx_handler`` masks *at the device*
  (``pci_check_and_mask_intx``: the pin drops, no second host interrupt) and signals;
  ``vfio_pci_intx_unmask_handler`` unmasks with ``pci_check_and_unmask_intx``, and when the
  device still interrupts it stays masked and the interrupt is sent again
  (``vfio_send_intx_eventfd``: through the virqfd's work, or at once from the
  VFIO_DEVICE_SET_IRQS ioctl).  Without DisINTx it falls back to ``disable_irq_nosync``.
* Edge platform IRQs (``vfio_irq_handler``) only signal.
* The handler is requested once, at the first trigger set-up (CVE-2024-26813
  "persistent IRQ handlers").
* Design knobs (set by the system assembly from its design): ``automask=False`` for forwarded
  interrupts (the GIC active state masks the line); ``bypass_inject`` (irqbypass consumer
  injects from the hard-irq handler instead of the eventfd); ``early_unmask`` (fault: the
  unmask is queued right after the trigger signal, before the guest's EOI).

Counters: ``vfio_mask``, ``vfio_unmask``, ``vfio_intx_resend``; trace events
``irqfwd_vfio_mask`` / ``irqfwd_vfio_unmask`` (``intid`` = the physical INTID).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from irqfwd.host.eventfd import EventFd
from irqfwd.host.events import VfioMask, VfioUnmask
from irqfwd.host.genirq import Genirq
from irqfwd.host.irqbypass import IrqBypassProducer
from irqfwd.host.pci import (
    PCI_COMMAND,
    PCI_COMMAND_INTX_DISABLE,
    PciConfigSpace,
    pci_check_and_mask_intx,
    pci_check_and_unmask_intx,
)
from irqfwd.host.workqueue import WorkItem, Workqueue
from irqfwd.hw.machine import Machine

__all__ = ["VFIO_IRQ_INFO_AUTOMASKED", "VFIO_IRQ_INFO_MASKABLE", "VfioIrq", "VfioPciIntx",
           "VfioPlatformIrq"]

VFIO_IRQ_INFO_EVENTFD: Final = 1 << 0
VFIO_IRQ_INFO_MASKABLE: Final = 1 << 1
VFIO_IRQ_INFO_AUTOMASKED: Final = 1 << 2
IRQF_SHARED: Final = 0x80


class VfioIrq:
    """What the VFIO interrupt of any bus shares: trigger and unmask eventfds, the irqbypass
    producer, the handler requested once, the mask counters.  Subclasses provide
    :meth:`handler`, :meth:`mask` and :meth:`unmask`."""

    irqf_flags = 0
    """``request_irq`` flags."""

    def __init__(self, machine: Machine, genirq: Genirq, wq: Workqueue, host_irq: int, hwirq: int,
                 level: bool, name: str = "vfio", automask: bool = True,
                 early_unmask: bool = False) -> None:
        self.m = machine
        self.genirq = genirq
        self.wq = wq
        self.hwirq = hwirq
        rec = machine.recorder
        self._ev_mask = rec.site(VfioMask(intid=hwirq))
        self._c_mask = rec.counter("vfio_mask")
        self._c_unmask = rec.counter("vfio_unmask")
        self._ev_unmask = rec.site(VfioUnmask(intid=hwirq))
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

    def handler(self, irq: int, dev_id: Any) -> int:
        """The hard-irq handler; returns its cost."""
        raise NotImplementedError

    def mask(self) -> None:
        raise NotImplementedError

    def unmask(self) -> None:
        raise NotImplementedError

    def _signal(self) -> int:
        """Signal the trigger eventfd, or inject through the irqbypass consumer; the cost."""
        inject = self.bypass_inject
        if inject is not None:
            return inject()
        if self.trigger is not None:
            self.trigger.signal()
        return 0

    def _counted_mask(self) -> None:
        self.masked = True
        self._c_mask.n += 1
        if self._ev_mask.live:
            self._ev_mask.emit()

    def _counted_unmask(self) -> None:
        self.masked = False
        self._c_unmask.n += 1
        if self._ev_unmask.live:
            self._ev_unmask.emit()

    # ---------------------------------------------------------------- VFIO_DEVICE_SET_IRQS
    def set_trigger(self, fd: EventFd | None) -> int:
        """ACTION_TRIGGER with DATA_EVENTFD: swap the trigger (handler requested once)."""
        self.trigger = fd
        self.producer.token = fd
        if not self._requested:
            ret = self.genirq.request_irq(self.host_irq, self.handler, self.irqf_flags, self.name, self)
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

    def ioctl_unmask(self) -> None:
        """VFIO_DEVICE_SET_IRQS with ACTION_UNMASK | DATA_NONE (a VMM without resamplefd)."""
        self.unmask()

    def _virqfd_wakeup(self, fd: EventFd) -> None:
        """``virqfd_wakeup``: the unmask handler runs at once, in the signaller's context."""
        fd.ctx_do_read()
        self.unmask()

    def _virqfd_unmask(self) -> None:
        self.unmask()

    def release(self) -> None:
        """Device release: disable the virqfds, free the irq (``vfio_*_irq_cleanup``)."""
        self.set_unmask_eventfd(None)
        self.trigger = None
        if self._requested:
            self.genirq.free_irq(self.host_irq, self)
            self._requested = False


class VfioPlatformIrq(VfioIrq):
    """One interrupt index of a VFIO platform device (``struct vfio_platform_irq``)."""

    def handler(self, irq: int, dev_id: Any) -> int:
        """``vfio_automasked_irq_handler`` (level) / ``vfio_irq_handler`` (edge)."""
        if self.automask:
            self.mask()
        cost = self._handler_ns + self._signal()
        if self.early_unmask and self.masked:
            self.wq.schedule_work(self._unmask_work)
        return cost

    def mask(self) -> None:
        """``vfio_platform_mask``: ``disable_irq_nosync`` once (guarded by ``masked``)."""
        if self.masked:
            return
        self.genirq.disable_irq_nosync(self.host_irq)
        self._counted_mask()

    def unmask(self) -> None:
        """``vfio_platform_unmask``: ``enable_irq`` once (guarded by ``masked``)."""
        if not self.masked:
            return
        self.m.acc += self._unmask_ns
        self.genirq.enable_irq(self.host_irq)
        self._counted_unmask()


class VfioPciIntx(VfioIrq):
    """The INTx index of a VFIO PCI device (``vdev->irq_type == VFIO_PCI_INTX_IRQ_INDEX``)."""

    irqf_flags = IRQF_SHARED  # pci_2_3: the line may be shared, the device says if it was it

    def __init__(self, machine: Machine, genirq: Genirq, wq: Workqueue, host_irq: int, hwirq: int,
                 device: PciConfigSpace, name: str = "vfio", automask: bool = True,
                 early_unmask: bool = False, pci_2_3: bool = True) -> None:
        super().__init__(machine, genirq, wq, host_irq, hwirq, True, name, automask, early_unmask)
        self.device = device
        self.pci_2_3 = pci_2_3
        """The device implements DisINTx (``pci_intx_mask_supported``)."""
        if not pci_2_3:
            self.irqf_flags = 0
        self._resend = WorkItem(self._send_intx_eventfd, f"{name}-intx-inject")
        self._c_resend = machine.recorder.counter("vfio_intx_resend")

    def handler(self, irq: int, dev_id: Any) -> int:
        """``vfio_intx_handler``: mask (``disable_irq_nosync`` without DisINTx, else
        ``pci_check_and_mask_intx`` unless already masked), then signal if it was ours."""
        cost = self._handler_ns
        if not self.automask:
            return cost + self._signal()
        if not self.pci_2_3:
            if not self.masked:
                self.genirq.disable_irq_nosync(self.host_irq)
                self._counted_mask()
            handled = True
        elif not self.masked and pci_check_and_mask_intx(self.m, self.device):
            self._counted_mask()
            handled = True
        else:
            handled = False  # IRQ_NONE: another device on the shared line, or already masked
        if handled:
            cost += self._signal()
            if self.early_unmask:
                self.wq.schedule_work(self._unmask_work)
        return cost

    def mask(self) -> None:
        """``vfio_pci_intx_mask``: mask at the device (or the irq without DisINTx)."""
        if self.masked:
            return
        if self.pci_2_3:
            self.m.acc += 2 * self.m.costs.pci_cfg_access_ns  # pci_intx(pdev, 0): read, write
            cmd = self.device.config_read(PCI_COMMAND) & 0xFFFF
            self.device.config_write(PCI_COMMAND, cmd | PCI_COMMAND_INTX_DISABLE)
        else:
            self.genirq.disable_irq_nosync(self.host_irq)
        self._counted_mask()

    def _unmask_handler(self) -> bool:
        """``vfio_pci_intx_unmask_handler``: True when the interrupt is still pending (the
        caller sends it again)."""
        if not self.masked:
            return False
        self.m.acc += self._unmask_ns
        if self.pci_2_3:
            if not pci_check_and_unmask_intx(self.m, self.device):
                return True
        else:
            self.genirq.enable_irq(self.host_irq)
        self._counted_unmask()
        return False

    def unmask(self) -> None:
        """Unmask; a device still interrupting stays masked and its interrupt is sent again
        on the virqfd's work (``schedule_work(&virqfd->inject)``)."""
        if self._unmask_handler():
            self.wq.schedule_work(self._resend)

    def ioctl_unmask(self) -> None:
        """``vfio_pci_intx_unmask`` from VFIO_DEVICE_SET_IRQS: the re-send is immediate."""
        if self._unmask_handler():
            self._send_intx_eventfd()

    def _send_intx_eventfd(self) -> None:
        """``vfio_send_intx_eventfd``: signal the trigger again (the interrupt is still
        pending while INTx stays masked)."""
        self._c_resend.n += 1
        self.m.acc += self._signal()
