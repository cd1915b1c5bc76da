"""GSI routing and injection (virt/kvm/irqchip.c, arch/arm64/kvm/vgic/vgic-irqfd.c).

The default arm64 routing is flat: GSI n is SPI 32 + n of the VM's vgic.  :func:`kvm_set_irq`
injects through it with ``kvm_vgic_inject_irq(kvm, NULL, spi, level, NULL)`` (owner NULL,
as irqfd and userspace injections are).
"""

from __future__ import annotations

from typing import Final

from irqfwd.host.kvm.arm_vgic import VGIC_NR_PRIVATE_IRQS
from irqfwd.host.kvm.kvm_host import Kvm
from irqfwd.host.kvm.vgic import kvm_vgic_inject_irq

__all__ = ["KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID", "KVM_USERSPACE_IRQ_SOURCE_ID", "kvm_set_irq"]

KVM_USERSPACE_IRQ_SOURCE_ID: Final = 0
KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID: Final = 1


def kvm_set_irq(kvm: Kvm, source_id: int, gsi: int, level: bool) -> int:
    """``kvm_set_irq`` → ``vgic_irqfd_set_irq`` for an irqchip route (GSI → SPI)."""
    rec = kvm.m.recorder
    if rec.wants("kvm_set_irq"):
        rec.emit("kvm_set_irq", vm=kvm.index, gsi=gsi, level=int(level), source=source_id)
    return kvm_vgic_inject_irq(kvm, None, VGIC_NR_PRIVATE_IRQS + gsi, level, None)
