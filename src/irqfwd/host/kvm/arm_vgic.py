"""The vgic's self-contained structures and constants (``include/kvm/arm_vgic.h``).

* :class:`IrqOps` (``struct irq_ops``);
* :class:`VgicVmcr` (``struct vgic_vmcr``), the version-neutral view of the virtual CPU
  interface control state that the back ends convert to and from GICH_VMCR/ICH_VMCR_EL2;
* :class:`VgicV2CpuIf` (``struct vgic_v2_cpu_if``): a vCPU's saved GICH state;
* :class:`VgicOptions`: behaviour switches of the vgic that a design may change.

The structures that point at vCPUs and VMs (``struct vgic_irq``, ``vgic_cpu``,
``vgic_dist``) are in :mod:`irqfwd.host.kvm.kvm_host`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from irqfwd.host.kvm.events import GicV3IchLrWrite

__all__ = [
    "VGIC_CONFIG_EDGE",
    "VGIC_CONFIG_LEVEL",
    "VGIC_IRQ_SW_RESAMPLE",
    "VGIC_MIN_LPI",
    "VGIC_NR_PRIVATE_IRQS",
    "VGIC_NR_SGIS",
    "IrqOps",
    "VgicOptions",
    "VgicV2CpuIf",
    "VgicV3CpuIf",
    "VgicVmcr",
]

VGIC_CONFIG_EDGE: Final = 0
VGIC_CONFIG_LEVEL: Final = 1
VGIC_NR_SGIS: Final = 16
VGIC_NR_PRIVATE_IRQS: Final = 32
VGIC_MIN_LPI: Final = 8192
VGIC_IRQ_SW_RESAMPLE: Final = 1 << 0
"""``irq_ops.flags``: no HW deactivation; resample (and deactivate) in software at fold."""


class IrqOps:
    """``struct irq_ops``: ``flags`` (:data:`VGIC_IRQ_SW_RESAMPLE`) and ``get_input_level``."""

    __slots__ = ("flags", "get_input_level")

    def __init__(self, flags: int = 0, get_input_level: Callable[[int], bool] | None = None) -> None:
        self.flags = flags
        self.get_input_level = get_input_level


class VgicVmcr:
    """``struct vgic_vmcr``: the virtual CPU interface control state, version-neutral."""

    __slots__ = ("abpr", "ackctl", "bpr", "cbpr", "eoim", "fiqen", "grpen0", "grpen1", "pmr")

    def __init__(self) -> None:
        self.grpen0 = 0
        self.grpen1 = 0
        self.ackctl = 0
        self.fiqen = 0
        self.cbpr = 0
        self.eoim = 0
        self.abpr = 0
        self.bpr = 0
        self.pmr = 0
        """The 8-bit priority mask (only the implemented high bits can be non-zero)."""


class VgicV2CpuIf:
    """``struct vgic_v2_cpu_if``: the vCPU's saved GICH state."""

    __slots__ = ("vgic_apr", "vgic_hcr", "vgic_lr", "vgic_vmcr")

    def __init__(self, nr_lr: int, hcr: int) -> None:
        self.vgic_hcr = hcr
        self.vgic_vmcr = 0
        self.vgic_apr = 0
        self.vgic_lr = [0] * nr_lr


class VgicV3CpuIf:
    """``struct vgic_v3_cpu_if``: the vCPU's saved ICH state and its GICv4 vPE."""

    __slots__ = ("ev_lr_write", "its_vpe", "vgic_ap0r", "vgic_ap1r", "vgic_hcr", "vgic_lr",
                 "vgic_vmcr")

    def __init__(self, nr_lr: int, nr_apr: int, hcr: int, ev_lr_write: GicV3IchLrWrite) -> None:
        self.vgic_hcr = hcr
        self.vgic_vmcr = 0
        self.vgic_ap0r = [0] * nr_apr
        self.vgic_ap1r = [0] * nr_apr
        self.vgic_lr = [0] * nr_lr
        self.its_vpe: Any = None
        """``struct its_vpe`` (the ITS driver's) when the VM uses GICv4, else None."""
        self.ev_lr_write = ev_lr_write
        """The ``gicv3_ich_lr_write`` event of this vCPU (the world-switch restore)."""


class VgicOptions:
    """vgic behaviour switches a design may change (see :mod:`irqfwd.system.designs`)."""

    __slots__ = ("ap_list_order", "hw_lr_pending_active", "level_eoi_bit", "lr_overflow",
                 "mapped_level_lower_line", "resample_on_deactivation", "trap_dir", "vgic_v4_enable")

    def __init__(self, *, ap_list_order: str = "legacy", hw_lr_pending_active: bool = False,
                 level_eoi_bit: bool = True, mapped_level_lower_line: bool = True,
                 trap_dir: bool = False, lr_overflow: str = "underflow",
                 resample_on_deactivation: bool = True, vgic_v4_enable: bool = False) -> None:
        self.ap_list_order = ap_list_order
        """``"legacy"``: active first (``vgic_irq_cmp`` up to 2025); ``"2025"``: pending-not-active
        first (the 2025 LR-overflow series)."""
        self.hw_lr_pending_active = hw_lr_pending_active
        """Fault: allow Pending+Active in a HW=1 LR (``vgic_v2_populate_lr`` refuses it: "Never
        set pending+active on a HW interrupt, as the pending state is kept at the physical
        distributor level"; the fault-hw-lr-pending-active design)."""
        self.level_eoi_bit = level_eoi_bit
        """Level non-HW LRs get the EOI bit (False = the fault-level-no-eoi-bit design)."""
        self.mapped_level_lower_line = mapped_level_lower_line
        """Lower ``line_level`` of a mapped level irq once written pending (``vgic_v2_populate_lr``,
        e40cc57bac79 "Support level-triggered mapped interrupts"; False: the
        fault-hw-retained-level design)."""
        self.resample_on_deactivation = resample_on_deactivation
        """Re-sample a mapped level irq's line at fold when the guest deactivated it while its
        ``line_level`` was set (``vgic_irq_handle_resampling``, 3134cc8beb69 "Resample HW
        pending state on deactivation"; False: the fault-hw-retained-level design)."""
        self.trap_dir = trap_dir
        """2025 LR-overflow series, "GICv2: Always trap GICV_DIR": the guest's GICV_DIR page
        is not mapped, every DIR write exits (DABT_LOW) and is emulated."""
        self.lr_overflow = lr_overflow
        """How KVM asks for an exit when irqs stay out of the LRs: ``"underflow"``
        (``vgic_set_underflow`` when every LR is used and the ap_list holds more, up to 2025)
        or ``"configure_hcr"`` (the 2025 ``vgic_v2_configure_hcr``: NPIE/LRENPIE/UIE from a
        summary of what stayed out, and the group enable/disable interrupts)."""
        self.vgic_v4_enable = vgic_v4_enable
        """``kvm-arm.vgic_v4_enable``: use GICv4 direct injection when the host has it."""
