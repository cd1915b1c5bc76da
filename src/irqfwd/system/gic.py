"""The interrupt controller of a built system: the GIC model for the scenario's ``gic``
(GICv2 with the virtualization extensions, or a GICv3/v4/v4.1 with its ITS, on QEMU
``virt``'s memory map) and the guest's driver for it."""

from __future__ import annotations

from typing import Any

from irqfwd.config import ScenarioConfig
from irqfwd.errors import InputError
from irqfwd.guest.gic import GuestGic
from irqfwd.guest.gic_v2 import GicV2GuestDriver
from irqfwd.guest.gic_v3 import GicV3GuestDriver
from irqfwd.host.kvm.vm import GICR_BASE, GITS_BASE
from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.hw.gicv2.gic import GICv2
from irqfwd.hw.gicv3.config import GICv3Config
from irqfwd.hw.gicv3.gic import GICv3
from irqfwd.system.designs import Design

__all__ = ["gic_is_active", "make_gic", "make_guest_gic"]


def make_gic(config: ScenarioConfig, num_irqs: int) -> GICv2 | GICv3:
    """The GIC of ``config.gic`` for ``config.pcpus`` PEs, ``num_irqs`` INTIDs and
    ``config.num_lrs`` list registers."""
    if config.gic == "v2":
        return GICv2(GICv2Config(num_cpus=config.pcpus, num_irqs=num_irqs, num_lrs=config.num_lrs))
    if config.num_lrs > 16:
        raise InputError(f"num_lrs = {config.num_lrs}: a GICv3 has at most 16 list registers "
                         "(ICH_VTR_EL2.ListRegs)")
    if config.gic == "v4.1":
        base = GICv3Config.gicv41_virt(config.pcpus)
        cfg = GICv3Config(num_cpus=config.pcpus, version=4, gicv41=True, gicr_base=base.gicr_base,
                          num_irqs=num_irqs, num_lrs=config.num_lrs)
    else:
        cfg = GICv3Config(num_cpus=config.pcpus, version=4 if config.gic == "v4" else 3,
                          num_irqs=num_irqs, num_lrs=config.num_lrs)
    return GICv3(cfg)


def make_guest_gic(config: ScenarioConfig, gic: Any, design: Design) -> GuestGic:
    """The guest's GIC driver: GICv2 (GICV frame of ``gic``) or GICv3 (ICV registers)."""
    eoimode1 = config.guest.eoimode == 1
    if isinstance(gic, GICv3):
        return GicV3GuestDriver(gic.virt, gic.config.gicd_base, GICR_BASE, GITS_BASE, eoimode1,
                                nassgireq=design.nassgireq)
    return GicV2GuestDriver(gic.vcpu_if, gic.config.gicd_base, gic.config.gicv_base, eoimode1)


def gic_is_active(gic: Any, intid: int) -> bool:
    """The physical SPI ``intid`` is active (GICD_ISACTIVER)."""
    if isinstance(gic, GICv3):
        return bool(gic.dist.active[intid])
    return bool(gic.dist.is_active(intid))
