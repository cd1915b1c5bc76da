"""The VMM in user space (QEMU's parts that take part in interrupt delivery).

Where KVM's irqfd is not used, the VMM itself moves a device interrupt into the guest: its
main loop (:mod:`irqfwd.vmm.main_loop`) waits in ``ppoll`` on the VFIO trigger eventfd, and
its VFIO PCI device (:mod:`irqfwd.vmm.vfio_pci`) raises and lowers the guest's line with
``KVM_IRQ_LINE`` and detects the end of the interrupt from the guest's accesses to the
device's BAR (QEMU ``hw/vfio/pci.c``).  The VMM sits on the host kernel (threads, eventfds,
KVM and VFIO ioctls); the guest knows nothing of it.
"""
