"""One KVM VM (``struct kvm``): vCPUs, the vgic, GSI routing, ack notifiers, irqfds, the
MMIO bus of in-kernel devices and the VM's stage-2 device mappings.

* :meth:`Kvm.kvm_set_irq`: flat arm64 routing, GSI n → SPI 32 + n, injected with
  ``kvm_vgic_inject_irq(kvm, NULL, spi, level, NULL)`` (owner NULL, as irqfd/userspace).
* :meth:`Kvm.kvm_register_irq_ack_notifier` / :meth:`Kvm.notify_acked`: the ack notifiers
  that ``kvm_notify_acked_irq`` runs (the irqfd resampler).
* :meth:`Kvm.kvm_vcpu_kick`: wake a blocked vCPU, or IPI (``smp_send_reschedule``) the pCPU
  on which it runs in guest mode.
* :meth:`Kvm.kvm_io_bus_register` / :meth:`Kvm.kvm_io_bus_access`: ``KVM_MMIO_BUS``, the
  in-kernel emulation of trapped guest MMIO (the vgic distributor; the GICV_DIR page when
  KVM traps it).  :attr:`Kvm.stage2_device_pages`: guest pages mapped straight to a device
  (the GICV frame), which the guest accesses without an exit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from irqfwd.host.kvm.arm_vgic import VgicOptions
from irqfwd.host.kvm.irqfd import IrqfdLayer
from irqfwd.host.kvm.vcpu import Vcpu
from irqfwd.host.kvm.vgic import Vgic
from irqfwd.host.kvm.vgic_mmio import VgicMmio
from irqfwd.hw.machine import GUEST

if TYPE_CHECKING:
    from irqfwd.host.kvm.arm import KvmArch

__all__ = ["IoHandler", "Kvm"]

IoHandler = Callable[[Vcpu, int, int, int, bool], int]
"""``handler(vcpu, addr, value, size, is_write) -> read value`` of a ``KVM_MMIO_BUS`` device."""


class Kvm:
    """``struct kvm`` for one VM."""

    def __init__(self, arch: KvmArch, index: int, name: str, nr_vcpus: int, nr_spis: int,
                 vgic_options: VgicOptions | None = None, dist_base: int = 0x0800_0000) -> None:
        self.arch = arch
        self.host = arch.host
        self.m = arch.m
        self.index = index
        self.name = name
        self.dying = False
        self.io_bus: list[tuple[int, int, IoHandler]] = []
        """``KVM_MMIO_BUS``: (base, size, handler) of the in-kernel MMIO devices."""
        self.stage2_device_pages: set[int] = set()
        """Guest-physical 4 KiB page numbers mapped to a device (no exit on access)."""
        self.vgic = Vgic(self, nr_spis, vgic_options)
        self.vcpus = [Vcpu(self, i) for i in range(nr_vcpus)]
        self.vgic.init_spis(self.vcpus[0])
        self.vgic_mmio = VgicMmio(self, dist_base)
        """The emulated distributor at the guest address the VMM chose (``KVM_VGIC_V2_ADDR_TYPE_DIST``)."""
        self.kvm_io_bus_register(dist_base, 0x1000, self.vgic_mmio.access)
        self.vgic.ops.map_resources(self)
        self.ack_notifiers: dict[int, list[Callable[[int], None]]] = {}
        self.irqfds = IrqfdLayer(self)
        self._kick_ns = self.m.costs.kick_ipi_ns
        arch.vms.append(self)

    # ---------------------------------------------------------------- MMIO bus
    def kvm_io_bus_register(self, base: int, size: int, handler: IoHandler) -> None:
        """``kvm_io_bus_register_dev`` on ``KVM_MMIO_BUS``."""
        self.io_bus.append((base, size, handler))

    def kvm_io_bus_access(self, vcpu: Vcpu, addr: int, value: int, size: int, is_write: bool) -> int:
        """``kvm_io_bus_write`` / ``kvm_io_bus_read``: the device covering ``addr`` handles the
        access; an address no device covers reads as 0 (userspace would see the exit)."""
        for base, length, handler in self.io_bus:
            if base <= addr < base + length:
                return handler(vcpu, addr, value, size, is_write)
        return 0

    # ---------------------------------------------------------------- routing / injection
    def kvm_set_irq(self, source_id: int, gsi: int, level: bool) -> int:
        """``kvm_set_irq`` → ``vgic_irqfd_set_irq`` for an irqchip route (GSI → SPI)."""
        rec = self.m.recorder
        if rec.wants("kvm_set_irq"):
            rec.emit("kvm_set_irq", vm=self.index, gsi=gsi, level=int(level), source=source_id)
        return self.vgic.kvm_vgic_inject_irq(None, 32 + gsi, level, None)

    def kvm_register_irq_ack_notifier(self, gsi: int, fn: Callable[[int], None]) -> None:
        """``kvm_register_irq_ack_notifier``."""
        self.ack_notifiers.setdefault(gsi, []).append(fn)

    def kvm_unregister_irq_ack_notifier(self, gsi: int, fn: Callable[[int], None]) -> None:
        """``kvm_unregister_irq_ack_notifier``."""
        lst = self.ack_notifiers.get(gsi)
        if lst and fn in lst:
            lst.remove(fn)

    def notify_acked(self, gsi: int) -> None:
        """Run the ack notifiers of ``gsi`` (``kvm_notify_acked_gsi``)."""
        for fn in tuple(self.ack_notifiers.get(gsi, ())):
            fn(gsi)

    # ---------------------------------------------------------------- vCPU kick
    def kvm_vcpu_kick(self, vcpu: Vcpu) -> None:
        """``kvm_vcpu_kick``: wake if blocked, else IPI its pCPU if it is in guest mode."""
        if vcpu.blocked:
            vcpu.kvm_vcpu_wake_up()
            return
        cpu = vcpu.cpu
        m = self.m
        if cpu is not None and cpu.mode == GUEST and cpu.ctx is vcpu.ctx and m.cur != cpu.index:
            m.acc += self._kick_ns
            self.host.irqchip.send_reschedule(cpu.index, max(m.cur, 0))

    def current_pcpu(self) -> int:
        """The pCPU executing the current host code (0 for off-CPU work)."""
        return max(self.m.cur, 0)
