"""VFIO PCI MSI-X interrupts (drivers/vfio/pci/vfio_pci_intrs.c, the MSI-X part).

``VFIO_DEVICE_SET_IRQS`` (ACTION_TRIGGER, DATA_EVENTFD) on the MSI-X index:

* :meth:`VfioPciMsix.enable` (``vfio_msi_enable``): ``pci_alloc_irq_vectors`` through the
  host ITS's MSI domain (``its_msi_prepare``: MAPD with the device's Requester ID as
  DeviceID; one LPI per vector, MAPTI to CPU 0's collection), the MSI-X table entries
  written with ``its_irq_compose_msi_msg`` (GITS_TRANSLATER, EventID) and MSI-X enabled;
* :meth:`VfioPciMsix.set_vector_signal` (``vfio_msi_set_vector_signal``): the vector's
  trigger eventfd, ``request_irq(vfio_msihandler)`` and its irqbypass producer (token = the
  trigger eventfd, ``irq`` = the vector's host irq) registered;
* :meth:`VfioPciMsix.vfio_msihandler` (``vfio_msihandler``): signal the trigger (MSIs are
  edge: no masking);
* :meth:`VfioPciMsix.disable` (``vfio_msi_disable``): producers unregistered, irqs freed,
  MSI-X disabled.

Cost: ``vfio_handler_ns`` per handler run; the ITS commands charge themselves.
"""

from __future__ import annotations

from typing import Any

from irqfwd.host.eventfd import EventFd
from irqfwd.host.genirq import Genirq
from irqfwd.host.irqbypass import IrqBypassManager, IrqBypassProducer
from irqfwd.host.irqchip.irq_gic_v3_its import ItsNode, its_compose_msi_msg
from irqfwd.hw.machine import Machine

__all__ = ["VfioPciMsix"]


class VfioPciMsix:
    """The MSI-X index of one VFIO PCI device (``struct vfio_pci_core_device`` irq ctxs)."""

    def __init__(self, machine: Machine, genirq: Genirq, its: ItsNode, bypass: IrqBypassManager,
                 device: Any, name: str = "vfio-msix") -> None:
        self.m = machine
        self.genirq = genirq
        self.its = its
        self.bypass = bypass
        self.device = device
        """The PCI function (:class:`~irqfwd.devices.msix_nic.MsixNic`): MSI-X table and enable."""
        self.name = name
        self.irqs: list[int] = []
        self.triggers: list[EventFd | None] = []
        self.producers: list[IrqBypassProducer | None] = []
        self._handler_ns = machine.costs.vfio_handler_ns

    def enable(self, nvec: int) -> list[int]:
        """``vfio_msi_enable``: ``nvec`` vectors from the ITS MSI domain, the MSI-X table
        programmed and MSI-X enabled; returns the host LPI of each vector."""
        its = self.its
        dev = its.its_create_device(self.device.requester_id, nvec)
        self.irqs = its.msi_alloc(dev)
        lpis: list[int] = []
        for v, irq in enumerate(self.irqs):
            d = self.genirq.irq_get_irq_data(irq)
            address, data = its_compose_msi_msg(its.base, v)
            self.device.write_msix_entry(v, address, data, False)
            lpis.append(d.hwirq)
        self.triggers = [None] * nvec
        self.producers = [None] * nvec
        self.device.set_msix_enable(True)
        return lpis

    def vfio_msihandler(self, irq: int, dev_id: Any) -> int:
        """``vfio_msihandler``: ``eventfd_signal`` of the vector's trigger."""
        trigger: EventFd = dev_id
        trigger.signal()
        return self._handler_ns

    def set_vector_signal(self, vector: int, trigger: EventFd) -> int:
        """``vfio_msi_set_vector_signal``: request the vector's irq with the trigger as
        dev_id, then register its irqbypass producer (a failure there is not fatal)."""
        irq = self.irqs[vector]
        ret = self.genirq.request_irq(irq, self.vfio_msihandler, 0, f"{self.name}[{vector}]", trigger)
        if ret:
            return ret
        self.triggers[vector] = trigger
        prod = IrqBypassProducer(trigger, irq)
        if not self.bypass.register_producer(prod):
            self.producers[vector] = prod
        return 0

    def disable(self) -> None:
        """``vfio_msi_disable``: producers unregistered, irqs freed, MSI-X disabled."""
        for v, irq in enumerate(self.irqs):
            prod = self.producers[v]
            if prod is not None:
                self.bypass.unregister_producer(prod)
                self.producers[v] = None
            trigger = self.triggers[v]
            if trigger is not None:
                self.genirq.free_irq(irq, trigger)
                self.triggers[v] = None
        self.device.set_msix_enable(False)
