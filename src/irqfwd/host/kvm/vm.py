"""Creating a VM the way a VMM does (``KVM_CREATE_VM``, ``KVM_CREATE_VCPU``, the vgic device).

:class:`Vm` is a :class:`~irqfwd.host.kvm.kvm_host.Kvm` with its vCPUs, the emulated
distributor on ``KVM_MMIO_BUS`` at the guest address the VMM chose
(``KVM_VGIC_V2_ADDR_TYPE_DIST``; with the GICv3 back end the GICv3 distributor, the
redistributors and an emulated ITS at QEMU ``virt``'s addresses), the back end's mappings
of the virtual CPU interface (``kvm_vgic_map_resources``) and the VM's irqfds.
"""

from __future__ import annotations

from irqfwd.host.kvm.arm_vgic import VgicOptions
from irqfwd.host.kvm.irqfd import IrqfdLayer
from irqfwd.host.kvm.kvm_host import Kvm, KvmGlobals
from irqfwd.host.kvm.vcpu import Vcpu
from irqfwd.host.kvm.vgic import kvm_vgic_dist_init
from irqfwd.host.kvm.vgic_its import KVM_VGIC_V3_ITS_SIZE, VgicIts
from irqfwd.host.kvm.vgic_mmio import VgicMmio
from irqfwd.host.kvm.vgic_mmio_v3 import VgicMmioV3
from irqfwd.hw.gic.memory import Memory

__all__ = ["GICD_FRAME_SIZE", "GICR_BASE", "GITS_BASE", "Vm"]

GICD_FRAME_SIZE = 0x1000
GICR_BASE = 0x080A_0000
"""QEMU ``virt``: the guest's redistributors (``VIRT_GIC_REDIST``)."""
GITS_BASE = 0x0808_0000
"""QEMU ``virt``: the guest's ITS (``VIRT_GIC_ITS``)."""


class Vm(Kvm):
    """A VM with ``nr_vcpus`` vCPUs and a vgic of ``nr_spis`` SPIs."""

    def __init__(self, glob: KvmGlobals, index: int, name: str, nr_vcpus: int, nr_spis: int,
                 vgic_options: VgicOptions | None = None, dist_base: int = 0x0800_0000) -> None:
        super().__init__(glob, index, name, nr_spis, vgic_options or VgicOptions())
        self.vcpus: list[Vcpu] = [Vcpu(self, i) for i in range(nr_vcpus)]  # type: ignore[assignment]
        kvm_vgic_dist_init(self, self.vcpus[0])
        if self.vgic.ops.name == "GICv3":
            # KVM_DEV_TYPE_ARM_VGIC_V3 with the ITS QEMU's virt creates (its=on)
            self.guest_mem = Memory()
            self.vgic_mmio: VgicMmio = VgicMmioV3(self, dist_base, GICR_BASE)
            """The emulated distributor (and, GICv3, redistributors)."""
            its = self.vgic_its = VgicIts(self, GITS_BASE)
            self.kvm_io_bus_register(GITS_BASE, KVM_VGIC_V3_ITS_SIZE, its.access)
        else:
            self.vgic_mmio = VgicMmio(self, dist_base)
            self.kvm_io_bus_register(dist_base, GICD_FRAME_SIZE, self.vgic_mmio.access)
        self.vgic.ops.map_resources(self)
        self.irqfds = IrqfdLayer(self)
