"""The vgic's data structures (``include/kvm/arm_vgic.h``) and the back-end interface.

* :class:`VgicIrq` (``struct vgic_irq``) and :class:`IrqOps` (``struct irq_ops``);
* :class:`VgicVmcr` (``struct vgic_vmcr``), the version-neutral view of the virtual CPU
  interface control state that the back ends convert to and from GICH_VMCR/ICH_VMCR_EL2;
* :class:`VgicCpu` (``struct vgic_cpu``): a vCPU's private irqs, its ap_list, the number of
  list registers used by the last flush, and its per-version saved interface
  (:class:`VgicV2CpuIf`, ``struct vgic_v2_cpu_if``);
* :class:`VgicGlobalState` (``struct vgic_global``): what ``kvm_vgic_hyp_init`` found;
* :class:`VgicOps`: the operations the version-neutral core (:mod:`irqfwd.host.kvm.vgic`)
  calls on its back end (``vgic_populate_lr``, ``vgic_fold_lr_state``, ``vgic_set_underflow``,
  ``vgic_get_vmcr``, the world-switch save/restore, ``vgic_load``/``vgic_put``...).
  :class:`irqfwd.host.kvm.vgic_v2.VgicV2Ops` implements it for GICv2.
* :class:`VgicOptions`: behaviour switches of the vgic that a design may change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from irqfwd.host.kvm.vcpu import Vcpu
    from irqfwd.host.kvm.vm import Kvm

__all__ = [
    "VGIC_CONFIG_EDGE",
    "VGIC_CONFIG_LEVEL",
    "VGIC_IRQ_SW_RESAMPLE",
    "VGIC_NR_PRIVATE_IRQS",
    "VGIC_NR_SGIS",
    "IrqOps",
    "VgicCpu",
    "VgicGlobalState",
    "VgicIrq",
    "VgicOps",
    "VgicOptions",
    "VgicV2CpuIf",
    "VgicVmcr",
]

VGIC_CONFIG_EDGE: Final = 0
VGIC_CONFIG_LEVEL: Final = 1
VGIC_NR_SGIS: Final = 16
VGIC_NR_PRIVATE_IRQS: Final = 32
VGIC_IRQ_SW_RESAMPLE: Final = 1 << 0
"""``irq_ops.flags``: no HW deactivation; resample (and deactivate) in software at fold."""


class IrqOps:
    """``struct irq_ops``: ``flags`` (:data:`VGIC_IRQ_SW_RESAMPLE`) and ``get_input_level``."""

    __slots__ = ("flags", "get_input_level")

    def __init__(self, flags: int = 0, get_input_level: Callable[[int], bool] | None = None) -> None:
        self.flags = flags
        self.get_input_level = get_input_level


class VgicIrq:
    """``struct vgic_irq``."""

    __slots__ = (
        "active", "active_source", "config", "enabled", "group", "host_irq", "hw", "hwintid",
        "intid", "line_level", "on_lr", "ops", "owner", "pending_latch", "priority", "source",
        "target_vcpu", "targets", "vcpu",
    )

    def __init__(self, intid: int, target: Vcpu | None, config: int) -> None:
        self.intid = intid
        self.pending_latch = False
        self.line_level = False
        self.active = False
        self.enabled = intid < VGIC_NR_SGIS  # SGIs are always enabled on GICv2 (IMPDEF, as KVM)
        self.priority = 0
        self.group = 0
        self.config = config
        self.target_vcpu = target
        self.targets = 1 if intid >= VGIC_NR_PRIVATE_IRQS else 0
        self.vcpu: Vcpu | None = None
        """The vCPU whose ap_list holds the irq (None: on no ap_list)."""
        self.hw = False
        self.hwintid = 0
        self.host_irq = 0
        self.ops: IrqOps | None = None
        self.owner: Any = None
        self.source = 0
        """SGIs: bitmap of the vCPUs with this SGI pending from them."""
        self.active_source = 0
        """SGIs: the source vCPU of the active instance."""
        self.on_lr = False

    def irq_is_pending(self) -> bool:
        """``irq_is_pending``: the latch for edge, latch or line level for level irqs."""
        return self.pending_latch or (self.line_level and self.config == VGIC_CONFIG_LEVEL)

    def is_mapped_level(self) -> bool:
        """``vgic_irq_is_mapped_level``."""
        return self.config == VGIC_CONFIG_LEVEL and self.hw

    def needs_resampling(self) -> bool:
        """``vgic_irq_needs_resampling``: ``VGIC_IRQ_SW_RESAMPLE`` in ``ops.flags``."""
        ops = self.ops
        return ops is not None and bool(ops.flags & VGIC_IRQ_SW_RESAMPLE)

    def __repr__(self) -> str:
        return (f"VgicIrq({self.intid}, P={int(self.pending_latch)} L={int(self.line_level)} "
                f"A={int(self.active)} E={int(self.enabled)} HW={int(self.hw)}:{self.hwintid})")


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


class VgicCpu:
    """``struct vgic_cpu``: the vgic state of one vCPU."""

    __slots__ = ("ap_list", "eoicount", "private_irqs", "used_lrs", "vgic_v2", "vmcr")

    def __init__(self, private_irqs: list[VgicIrq]) -> None:
        self.private_irqs = private_irqs
        self.ap_list: list[VgicIrq] = []
        self.used_lrs = 0
        """List registers filled by the last flush (the back end saves and folds these)."""
        self.eoicount = 0
        """EOIs the guest made that found no list register (GICH_HCR.EOICount /
        ICH_HCR_EL2.EOIcount, read at the last exit)."""
        self.vgic_v2: VgicV2CpuIf | None = None
        """The GICv2 back end's saved interface (None on other back ends)."""
        self.vmcr = VgicVmcr()
        """Scratch ``struct vgic_vmcr`` for :meth:`VgicOps.get_vmcr`."""


class VgicOps:
    """The per-version back end of the vgic (``vgic_v2_*`` / ``vgic_v3_*`` in Linux).

    The core calls only these; every method that touches hardware returns the cost in ns
    of its register accesses where noted.  Subclasses override every method.
    """

    name = "none"
    """The irqchip model name (``KVM_DEV_TYPE_ARM_VGIC_V2`` → "GICv2")."""

    def vcpu_init(self, vcpu: Vcpu) -> None:
        """``vgic_v*_enable``: give ``vcpu`` its saved interface state."""
        raise NotImplementedError

    def map_resources(self, kvm: Kvm) -> None:
        """``vgic_v*_map_resources``: map the virtual CPU interface into the VM (stage 2)."""
        raise NotImplementedError

    def populate_lr(self, vcpu: Vcpu, irq: VgicIrq, lr: int) -> None:
        """``vgic_populate_lr``: encode ``irq`` into list register ``lr`` of the shadow."""
        raise NotImplementedError

    def clear_lr(self, vcpu: Vcpu, lr: int) -> None:
        """``vgic_clear_lr``."""
        raise NotImplementedError

    def set_underflow(self, vcpu: Vcpu) -> None:
        """``vgic_set_underflow``: ask for a maintenance interrupt when the LRs (nearly) empty."""
        raise NotImplementedError

    def fold_lr_state(self, vcpu: Vcpu) -> None:
        """``vgic_fold_lr_state``: fold the saved list registers back into the irqs."""
        raise NotImplementedError

    def get_vmcr(self, vcpu: Vcpu, vmcr: VgicVmcr) -> None:
        """``vgic_get_vmcr``: decode the saved VMCR into ``vmcr``."""
        raise NotImplementedError

    def vmcr_sync(self, vcpu: Vcpu, cpu: int) -> None:
        """``kvm_vgic_vmcr_sync``: read the live VMCR of a loaded vCPU into its saved state."""
        raise NotImplementedError

    def save_state(self, vcpu: Vcpu, cpu: int) -> int:
        """World switch out (``vgic_save_state``): read back and clear the list registers."""
        raise NotImplementedError

    def restore_state(self, vcpu: Vcpu, cpu: int) -> int:
        """World switch in (``vgic_restore_state``): write the control register and LRs."""
        raise NotImplementedError

    def load(self, vcpu: Vcpu, cpu: int) -> int:
        """``vgic_load`` (vcpu_load): restore the VMCR and active priorities."""
        raise NotImplementedError

    def put(self, vcpu: Vcpu, cpu: int) -> int:
        """``vgic_put`` (vcpu_put): save the VMCR and active priorities."""
        raise NotImplementedError


class VgicGlobalState:
    """``struct vgic_global`` (``kvm_vgic_global_state``): set by ``kvm_vgic_hyp_init``."""

    __slots__ = ("maint_irq", "no_hw_deactivation", "nr_lr", "ops", "type")

    def __init__(self, type_: str, nr_lr: int, maint_irq: int, ops: VgicOps,
                 no_hw_deactivation: bool = False) -> None:
        self.type = type_
        self.nr_lr = nr_lr
        self.maint_irq = maint_irq
        self.ops = ops
        self.no_hw_deactivation = no_hw_deactivation


class VgicOptions:
    """vgic behaviour switches a design may change (see :mod:`irqfwd.system.designs`)."""

    __slots__ = ("ap_list_order", "hw_lr_pending_active", "level_eoi_bit", "mapped_level_lower_line",
                 "trap_dir")

    def __init__(self, *, ap_list_order: str = "legacy", hw_lr_pending_active: bool = False,
                 level_eoi_bit: bool = True, mapped_level_lower_line: bool = True,
                 trap_dir: bool = False) -> None:
        self.ap_list_order = ap_list_order
        """``"legacy"``: active first (``vgic_irq_cmp`` up to 2025); ``"2025"``: pending-not-active
        first (the 2025 LR-overflow series)."""
        self.hw_lr_pending_active = hw_lr_pending_active
        """Fault: allow Pending+Active in a HW=1 LR (forbidden since commit 3d6e77ad1489)."""
        self.level_eoi_bit = level_eoi_bit
        """Level non-HW LRs get the EOI bit (False = the fault-level-no-eoi-bit design)."""
        self.mapped_level_lower_line = mapped_level_lower_line
        """Lower ``line_level`` of a mapped level irq once written pending (``vgic_v2_populate_lr``)."""
        self.trap_dir = trap_dir
        """2025 LR-overflow series, "GICv2: Always trap GICV_DIR": the guest's GICV_DIR page
        is not mapped, every DIR write exits (DABT_LOW) and is emulated."""
