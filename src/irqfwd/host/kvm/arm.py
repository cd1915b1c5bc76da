"""arch/arm64/kvm/arm.c: ``kvm_arch_init`` and the VM ioctl ``KVM_IRQ_LINE``."""

from __future__ import annotations

from typing import Final

from irqfwd.host.kernel import HostKernel
from irqfwd.host.kvm.arm_vgic import VGIC_NR_PRIVATE_IRQS
from irqfwd.host.kvm.kvm_host import Kvm, KvmGlobals
from irqfwd.host.kvm.vgic import EINVAL, kvm_vgic_inject_irq
from irqfwd.host.kvm.vgic_init import kvm_vgic_hyp_init

__all__ = ["KVM_ARM_IRQ_TYPE_SPI", "kvm_arch_init", "kvm_vm_ioctl_irq_line"]

KVM_ARM_IRQ_TYPE_SPI: Final = 1


def kvm_arch_init(host: HostKernel) -> KvmGlobals:
    """``kvm_arch_init`` → ``init_subsystems``: the vgic (``kvm_vgic_hyp_init``: back end,
    list registers, maintenance interrupt); returns KVM's host-wide state."""
    return KvmGlobals(host, kvm_vgic_hyp_init(host))


def kvm_vm_ioctl_irq_line(kvm: Kvm, irq_num: int, level: bool) -> int:
    """``KVM_IRQ_LINE`` with ``KVM_ARM_IRQ_TYPE_SPI`` (``kvm_vm_ioctl_irq_line``): the ioctl
    (``kvm_irq_line_ns``, charged to the caller), ``kvm_irq_line`` trace, then
    ``kvm_vgic_inject_irq(kvm, NULL, irq_num, level, NULL)``; -EINVAL below the SPIs."""
    m = kvm.m
    m.acc += m.costs.kvm_irq_line_ns
    m.recorder.count("kvm_irq_line")
    if m.recorder.wants("kvm_irq_line"):
        m.recorder.emit("kvm_irq_line", type=KVM_ARM_IRQ_TYPE_SPI, vcpu=0, irq=irq_num, level=int(level))
    if irq_num < VGIC_NR_PRIVATE_IRQS:
        return EINVAL
    return kvm_vgic_inject_irq(kvm, None, irq_num, level, None)
