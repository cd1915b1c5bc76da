"""The PCI core's INTx masking (drivers/pci/pci.c).

``pci_check_and_mask_intx`` / ``pci_check_and_unmask_intx`` (both through
``pci_check_and_set_intx_mask``) read the dword at ``PCI_COMMAND`` (command and status
registers, PCI 3.0 §6.2.2) and write ``PCI_COMMAND.INTX_DISABLE`` only when the device's
``PCI_STATUS.INTERRUPT`` agrees: mask only a device that is interrupting, unmask only one
that is not (else the caller knows the interrupt is still pending).  Each configuration
access costs ``pci_cfg_access_ns``, charged to the running step.
"""

from __future__ import annotations

from typing import Final, Protocol

from irqfwd.hw.machine import Machine

__all__ = ["PCI_COMMAND", "PCI_COMMAND_INTX_DISABLE", "PCI_STATUS_INTERRUPT", "PciConfigSpace",
           "pci_check_and_mask_intx", "pci_check_and_unmask_intx"]

PCI_COMMAND: Final = 0x04
PCI_COMMAND_INTX_DISABLE: Final = 1 << 10
PCI_STATUS_INTERRUPT: Final = 1 << 3


class PciConfigSpace(Protocol):
    """What the PCI core reaches of a device's configuration space."""

    def config_read(self, offset: int) -> int: ...

    def config_write(self, offset: int, value: int) -> None: ...


def _check_and_set_intx_mask(m: Machine, dev: PciConfigSpace, mask: bool) -> bool:
    """``pci_check_and_set_intx_mask``: True when the mask was changed."""
    cost = m.costs.pci_cfg_access_ns
    m.acc += cost
    dword = dev.config_read(PCI_COMMAND)
    irq_pending = bool((dword >> 16) & PCI_STATUS_INTERRUPT)
    if mask != irq_pending:
        return False
    cmd = dword & 0xFFFF
    new = (cmd | PCI_COMMAND_INTX_DISABLE) if mask else (cmd & ~PCI_COMMAND_INTX_DISABLE)
    if new != cmd:
        m.acc += cost
        dev.config_write(PCI_COMMAND, new)
    return True


def pci_check_and_mask_intx(m: Machine, dev: PciConfigSpace) -> bool:
    """Mask INTx if the device is interrupting; True if it was (the interrupt is its)."""
    return _check_and_set_intx_mask(m, dev, True)


def pci_check_and_unmask_intx(m: Machine, dev: PciConfigSpace) -> bool:
    """Unmask INTx unless an interrupt is pending; False if one is (it stays masked)."""
    return _check_and_set_intx_mask(m, dev, False)
