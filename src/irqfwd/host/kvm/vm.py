"""One KVM VM (``struct kvm``): vCPUs, the vgic, GSI routing, ack notifiers and irqfds.

* :meth:`Kvm.kvm_set_irq`: flat arm64 routing, GSI n → SPI 32 + n, injected with
  ``kvm_vgic_inject_irq(kvm, NULL, spi, level, NULL)`` (owner NULL, as irqfd/userspace).
* :meth:`Kvm.kvm_register_irq_ack_notifier` / :meth:`Kvm.notify_acked`: the ack notifiers
  that ``kvm_notify_acked_irq`` runs (the irqfd resampler).
* :meth:`Kvm.kvm_vcpu_kick`: wake a blocked vCPU, or IPI (``smp_send_reschedule``, a real
  GICv2 SGI) the pCPU on which it runs in guest mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from irqfwd.host.kvm.irqfd import IrqfdLayer
from irqfwd.host.kvm.vcpu import Vcpu
from irqfwd.host.kvm.vgic import Vgic, VgicOptions
from irqfwd.host.kvm.vgic_mmio import VgicMmio
from irqfwd.hw.machine import GUEST

if TYPE_CHECKING:
    from irqfwd.host.kernel import HostKernel

__all__ = ["Kvm"]


class Kvm:
    """``struct kvm`` for one VM."""

    def __init__(self, host: HostKernel, index: int, name: str, nr_vcpus: int, nr_spis: int,
                 vgic_options: VgicOptions | None = None) -> None:
        self.host = host
        self.m = host.m
        self.index = index
        self.name = name
        self.dying = False
        self.vgic = Vgic(self, nr_spis, vgic_options)
        self.vcpus = [Vcpu(self, i) for i in range(nr_vcpus)]
        self.vgic.init_spis(self.vcpus[0])
        self.vgic_mmio = VgicMmio(self, host.m.gic.config.gicd_base)
        self.ack_notifiers: dict[int, list[Callable[[int], None]]] = {}
        self.irqfds = IrqfdLayer(self)
        self._kick_ns = self.m.costs.kick_ipi_ns

    # ---------------------------------------------------------------- routing / injection
    def kvm_set_irq(self, source_id: int, gsi: int, level: bool) -> int:
        """``kvm_set_irq`` → ``vgic_irqfd_set_irq`` for an irqchip route (GSI → SPI)."""
        rec = self.m.recorder
        if rec.wants("kvm_set_irq"):
            rec.emit("kvm_set_irq", vm=self.index, gsi=gsi, level=int(level), source=source_id)
        return self.vgic.kvm_vgic_inject_irq(None, 32 + gsi, level, None)

    def kvm_register_irq_ack_notifier(self, gsi: int, fn: Callable[[int], None]) -> None:
        self.ack_notifiers.setdefault(gsi, []).append(fn)

    def kvm_unregister_irq_ack_notifier(self, gsi: int, fn: Callable[[int], None]) -> None:
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
            self.host.sched().wake(vcpu)
            return
        cpu = vcpu.cpu
        m = self.m
        if cpu is not None and cpu.mode == GUEST and cpu.vcpu is vcpu and m.cur != cpu.index:
            m.acc += self._kick_ns
            self.host.gic_driver.send_reschedule(cpu.index, max(m.cur, 0))

    def current_pcpu(self) -> int:
        """The pCPU executing the current host code (0 for off-CPU work)."""
        return max(self.m.cur, 0)
