"""The KVM module of the host (arch/arm64/kvm/arm.c): global state shared by every VM.

:class:`KvmArch` is what ``kvm_arch_init`` sets up once per host: the vgic global state
(``kvm_vgic_hyp_init``: back end, list registers, maintenance interrupt), the list of VMs
and, per pCPU, the vCPU loaded on it (``kvm_get_running_vcpu``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from irqfwd.host.kernel import HostKernel
from irqfwd.host.kvm.vgic_init import kvm_vgic_hyp_init

if TYPE_CHECKING:
    from irqfwd.host.kvm.vcpu import Vcpu
    from irqfwd.host.kvm.vm import Kvm

__all__ = ["KvmArch"]


class KvmArch:
    """KVM's global state on one host (``kvm_arch_init``)."""

    def __init__(self, host: HostKernel) -> None:
        self.host = host
        self.m = host.m
        self.vgic_global = kvm_vgic_hyp_init(host)
        """``kvm_vgic_global_state``."""
        self.vms: list[Kvm] = []
        self.running_vcpu: list[Vcpu | None] = [None] * len(host.m.pcpus)
        """``kvm_get_running_vcpu()`` of each pCPU (between vcpu_load and vcpu_put)."""
