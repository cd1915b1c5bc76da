"""``struct gic_kvm_info`` (include/linux/irqchip/arm-vgic-info.h): what a GIC driver tells KVM."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["GIC_V2", "GIC_V3", "GicKvmInfo"]

GIC_V2: Final = "GIC_V2"
GIC_V3: Final = "GIC_V3"


@dataclass
class GicKvmInfo:
    """``struct gic_kvm_info`` (include/linux/irqchip/arm-vgic-info.h), filled by the driver."""

    type: str
    """``GIC_V2`` or ``GIC_V3``."""
    maint_irq: int
    """Linux irq of the maintenance interrupt (a per-CPU PPI)."""
    vctrl: list[Any] = field(default_factory=list)
    """GICv2: the per-CPU virtual interface control frames (GICH), as ``vctrl_base``."""
    vcpu_base: int = 0
    """GICv2: physical address of the virtual CPU interface (GICV) frame."""
    no_maint_irq_mask: bool = False
    has_v4: bool = False
    has_v4_1: bool = False
    no_hw_deactivation: bool = False
    """The host cannot deactivate in hardware (no active state): KVM falls back to masking."""
