"""QEMU's VFIO level interrupts without KVM acceleration: the ``KVM_IRQ_LINE`` path.

This is what QEMU falls back to when it cannot wire a level interrupt through KVM irqfd +
resamplefd (``vfio_intx_enable_kvm`` failing, or ``x-no-kvm-intx``); hw/vfio/pci.c for PCI
INTx (the functions named below), hw/vfio/platform.c (``vfio_intp_interrupt``,
``vfio_platform_eoi``) for a platform device's level IRQ, which follows the same steps:

* ``vfio_intx_interrupt`` (a main-loop fd handler on the VFIO trigger eventfd): clear the
  eventfd, ``intx.pending = true``, ``pci_irq_assert`` (``KVM_IRQ_LINE`` level 1), and
  ``vfio_mmap_set_enabled(false)``: the BARs' direct mappings are removed, so every guest
  access to the device now exits to QEMU; a timer (``intx.mmap_timeout``, 1100 ms)
  restores them once no interrupt is pending.
* ``vfio_region_read`` / ``vfio_region_write`` (a ``KVM_EXIT_MMIO`` on the vCPU thread):
  ``pread``/``pwrite`` on the VFIO region, then ``vfio_intx_eoi``: "A read or write to a BAR
  always signals an INTx EOI" — if an interrupt is pending, ``pci_irq_deassert``
  (``KVM_IRQ_LINE`` level 0) and ``vfio_unmask_single_irqindex``
  (``VFIO_DEVICE_SET_IRQS``, ACTION_UNMASK: ``vfio_pci_intx_unmask``, which re-sends the
  interrupt at once if the device still asserts it).

Per interrupt with a driver that acknowledges its device once: one host interrupt, one
main-loop wake-up, two ``KVM_IRQ_LINE``, one ``DABT_LOW`` exit to user space (the ack), and
the guest's EOI of the level SPI (its LR has the EOI bit) still costs a maintenance exit.
"""

from __future__ import annotations

from typing import Final, Protocol

from irqfwd.host.eventfd import EventFd
from irqfwd.host.kvm.arm import kvm_vm_ioctl_irq_line
from irqfwd.host.kvm.kvm_host import Kvm, KvmVcpu
from irqfwd.host.vfio import VfioIrq
from irqfwd.hw.machine import Machine
from irqfwd.sim.engine import Handle
from irqfwd.vmm.main_loop import MainLoop

__all__ = ["MMAP_TIMEOUT_NS", "VfioIrqVmm"]

MMAP_TIMEOUT_NS: Final = 1_100_000_000
"""``x-intx-mmap-timeout-ms`` default (1100 ms): BARs are mapped again this long after the
last INTx interrupt."""


class DeviceRegion(Protocol):
    """The device registers behind a BAR, as ``pread``/``pwrite`` of the VFIO region reach them."""

    def mmio_read(self, offset: int) -> int: ...

    def mmio_write(self, offset: int, value: int) -> None: ...


class VfioIrqVmm:
    """QEMU's INTx state of one assigned device (``VFIOPCIDevice.intx``)."""

    def __init__(self, machine: Machine, kvm: Kvm, loop: MainLoop, vfio: VfioIrq, trigger: EventFd,
                 device: DeviceRegion, bar_gpa: int, bar_size: int, spi: int) -> None:
        self.m = machine
        self.kvm = kvm
        self.loop = loop
        self.vfio = vfio
        self.trigger = trigger
        self.device = device
        self.bar_gpa = bar_gpa
        self.bar_size = bar_size
        self.spi = spi
        self.pending = False
        """``vdev->intx.pending``."""
        self.mmap_enabled = True
        self._mmap_timer: Handle | None = None
        self._region_ns = machine.costs.vfio_region_access_ns
        self._ioctl_ns = machine.costs.vfio_ioctl_ns
        self._memslot_ns = machine.costs.memslot_update_ns
        self._c_eoi = machine.recorder.counter("vfio_intx_eoi")
        self._c_mmap = machine.recorder.counter("vfio_mmap_toggles")
        kvm.user_mmio.append((bar_gpa, bar_size, self.vfio_region_access))
        self._map_bar(True)
        loop.set_fd_handler(trigger, self.vfio_intx_interrupt)

    # ---------------------------------------------------------------- main loop
    def vfio_intx_interrupt(self) -> None:
        """``vfio_intx_interrupt``: the trigger eventfd is readable."""
        if not self.trigger.ctx_do_read():  # event_notifier_test_and_clear
            return
        self.pending = True
        kvm_vm_ioctl_irq_line(self.kvm, self.spi, True)  # pci_irq_assert
        self._vfio_mmap_set_enabled(False)
        self._arm_mmap_timer()

    def _arm_mmap_timer(self) -> None:
        eng = self.m.engine
        eng.cancel(self._mmap_timer)
        self._mmap_timer = eng.schedule(MMAP_TIMEOUT_NS, self._vfio_intx_mmap_enable)

    def _vfio_intx_mmap_enable(self) -> None:
        """``vfio_intx_mmap_enable`` (the timer): map the BARs again unless an interrupt is
        pending, else look again a timeout later."""
        self._mmap_timer = None
        if self.pending:
            self._arm_mmap_timer()
            return
        self._vfio_mmap_set_enabled(True)

    def _vfio_mmap_set_enabled(self, enabled: bool) -> None:
        """``vfio_mmap_set_enabled``: add or remove the BAR's memory slot."""
        if enabled == self.mmap_enabled:
            return
        self.m.acc += self._memslot_ns
        self._c_mmap.n += 1
        self._map_bar(enabled)

    def _map_bar(self, enabled: bool) -> None:
        self.mmap_enabled = enabled
        pages = self.kvm.stage2_device_pages
        for page in range(self.bar_gpa >> 12, (self.bar_gpa + self.bar_size + 0xFFF) >> 12):
            if enabled:
                pages.add(page)
            else:
                pages.discard(page)

    # ---------------------------------------------------------------- vCPU thread
    def vfio_region_access(self, vcpu: KvmVcpu, addr: int, value: int, size: int, is_write: bool) -> int:
        """``vfio_region_read``/``vfio_region_write`` on a ``KVM_EXIT_MMIO``, then
        ``vfio_intx_eoi``; returns the value read."""
        self.m.acc += self._region_ns
        offset = addr - self.bar_gpa
        result = 0
        if is_write:
            self.device.mmio_write(offset, value)
        else:
            result = self.device.mmio_read(offset)
        self.vfio_intx_eoi()
        return result

    def vfio_intx_eoi(self) -> None:
        """``vfio_intx_eoi``: lower the guest's line and unmask INTx, if an interrupt is pending."""
        if not self.pending:
            return
        self._c_eoi.n += 1
        self.pending = False
        kvm_vm_ioctl_irq_line(self.kvm, self.spi, False)  # pci_irq_deassert
        self.m.acc += self._ioctl_ns
        self.vfio.ioctl_unmask()  # vfio_unmask_single_irqindex
