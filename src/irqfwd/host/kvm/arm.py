"""KVM initialisation on arm64 (arch/arm64/kvm/arm.c): ``kvm_arch_init``."""

from __future__ import annotations

from irqfwd.host.kernel import HostKernel
from irqfwd.host.kvm.kvm_host import KvmGlobals
from irqfwd.host.kvm.vgic_init import kvm_vgic_hyp_init

__all__ = ["kvm_arch_init"]


def kvm_arch_init(host: HostKernel) -> KvmGlobals:
    """``kvm_arch_init`` → ``init_subsystems``: the vgic (``kvm_vgic_hyp_init``: back end,
    list registers, maintenance interrupt); returns KVM's host-wide state."""
    return KvmGlobals(host, kvm_vgic_hyp_init(host))
