"""GSI routing and injection (virt/kvm/irqchip.c, arch/arm64/kvm/vgic/vgic-irqfd.c).

The default arm64 routing is flat: GSI n is SPI 32 + n of the VM's vgic.  :func:`kvm_set_irq`
injects through it with ``kvm_vgic_inject_irq(kvm, NULL, spi, level, NULL)`` (owner NULL,
as irqfd and userspace injections are).  A GSI the VMM routed to an MSI
(``KVM_SET_GSI_ROUTING`` with ``KVM_IRQ_ROUTING_MSI``, :func:`kvm_set_routing_msi`) goes to
the emulated ITS instead: :func:`kvm_set_msi` (``vgic_its_inject_msi``), or in atomic
context :func:`kvm_arch_set_irq_inatomic_msi` (the ITS translation cache).
"""

from __future__ import annotations

from typing import Final

from irqfwd.host.kvm.arm_vgic import VGIC_NR_PRIVATE_IRQS
from irqfwd.host.kvm.kvm_host import Kvm
from irqfwd.host.kvm.vgic import kvm_vgic_inject_irq
from irqfwd.host.kvm.vgic_its import (
    KvmMsi,
    vgic_its_inject_cached_translation,
    vgic_its_inject_msi,
)

__all__ = ["KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID", "KVM_USERSPACE_IRQ_SOURCE_ID",
           "kvm_arch_set_irq_inatomic_msi", "kvm_set_irq", "kvm_set_msi", "kvm_set_routing_msi"]

KVM_USERSPACE_IRQ_SOURCE_ID: Final = 0
KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID: Final = 1


def _emit_set_irq(kvm: Kvm, gsi: int, level: int, source_id: int) -> None:
    """Trace ``kvm_set_irq`` (``vm``, ``gsi``, ``level``, ``source``)."""
    ev = kvm.ev_set_irq
    ev.gsi = gsi
    ev.level = level
    ev.source = source_id
    ev.emit()


def kvm_set_irq(kvm: Kvm, source_id: int, gsi: int, level: bool) -> int:
    """``kvm_set_irq`` → ``vgic_irqfd_set_irq`` for an irqchip route (GSI → SPI)."""
    if kvm.ev_set_irq.live:
        _emit_set_irq(kvm, gsi, int(level), source_id)
    return kvm_vgic_inject_irq(kvm, None, VGIC_NR_PRIVATE_IRQS + gsi, level, None)


def kvm_set_routing_msi(kvm: Kvm, gsi: int, msi: KvmMsi) -> None:
    """``KVM_SET_GSI_ROUTING``: route ``gsi`` to an MSI (address, data, DeviceID)."""
    kvm.msi_routes[gsi] = msi


def kvm_set_msi(kvm: Kvm, msi: KvmMsi) -> int:
    """``kvm_set_msi`` → ``vgic_its_inject_msi``."""
    if kvm.ev_set_irq.live:
        _emit_set_irq(kvm, -1, 1, KVM_USERSPACE_IRQ_SOURCE_ID)
    return vgic_its_inject_msi(kvm, msi)


def kvm_arch_set_irq_inatomic_msi(kvm: Kvm, msi: KvmMsi) -> int:
    """``kvm_arch_set_irq_inatomic`` for an MSI route: ``vgic_its_inject_cached_translation``
    (-EWOULDBLOCK on a cache miss: the caller defers to ``irqfd_inject``)."""
    return vgic_its_inject_cached_translation(kvm, msi)
