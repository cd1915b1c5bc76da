"""The interface every host GIC driver offers the rest of the host kernel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from irqfwd.host.genirq import IrqChip
    from irqfwd.host.irqchip.arm_vgic_info import GicKvmInfo

__all__ = ["IrqchipDriver"]


class IrqchipDriver(Protocol):
    """What the host kernel asks of its GIC driver."""

    @property
    def chip(self) -> IrqChip:
        """The ``irq_chip`` of the GIC's irq domain."""
        ...

    @property
    def eoimode1(self) -> bool:
        """Split priority drop and deactivation (``supports_deactivate_key``)."""
        ...

    @property
    def kvm_info(self) -> GicKvmInfo:
        """``gic_kvm_info``, filled at init."""
        ...

    def init(self) -> None:
        """Distributor and CPU-interface initialisation (``gic_dist_init``, ``gic_cpu_init``)."""
        ...

    def map_spi(self, intid: int, edge: bool) -> int:
        """A Linux irq for SPI ``intid`` with its trigger type (``irq_create_mapping`` + ``irq_set_irq_type``)."""
        ...

    def map_ppi(self, intid: int) -> int:
        """A Linux irq for PPI ``intid`` (per-CPU, devid flow)."""
        ...

    def set_ppi_type(self, intid: int, edge: bool, cpu: int) -> None:
        """``gic_set_type`` for the banked PPI ``intid`` of ``cpu`` (``enable_percpu_irq(irq, type)``)."""
        ...

    def send_reschedule(self, target: int, source: int, delay: int = 0) -> None:
        """``smp_send_reschedule``: IPI ``target`` from ``source``, arriving ``delay`` ns later."""
        ...
