"""The GICv2 list-register back end of the vgic (arch/arm64/kvm/vgic/vgic-v2.c, lineage §5.4–5.5).

Kept apart from the core (:mod:`irqfwd.host.kvm.vgic`) as in Linux:

* :class:`VgicV2CpuIf` (``struct vgic_v2_cpu_if``): the per-vCPU shadow of GICH_HCR,
  GICH_VMCR, GICH_APR and the LRs, plus ``used_lrs``.
* :func:`vgic_v2_populate_lr`: encode one ``VgicIrq`` into an LR (HW bit + PhysicalID for
  mapped irqs, never Pending+Active for HW or level irqs, EOI bit for level non-HW irqs,
  edge ``pending_latch`` consumed, mapped-level ``line_level`` lowered, 5 priority bits).
* :func:`vgic_v2_fold_lr_state`: read the shadow back (``kvm_notify_acked_irq`` for an LR
  that signals an EOI maintenance interrupt, active copied, edge pending preserved, level
  latch consumed, mapped-level resampling), then GICH_HCR.EOICount.
* :func:`vgic_v2_save_state` / :func:`vgic_v2_restore_state`: the world-switch accesses
  to the real GICH registers (every entry/exit), with ``lr_save_ns`` / ``lr_restore_ns``
  per used LR; :func:`vgic_v2_load` / :func:`vgic_v2_put`: GICH_VMCR and GICH_APR.
  ``save`` reads GICH_MISR: a non-zero MISR means the maintenance interrupt fired during
  the run (counter ``maintenance_irqs``, trace ``vgic_maintenance``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from irqfwd.host.kvm.vgic import (
    VGIC_CONFIG_EDGE,
    VGIC_CONFIG_LEVEL,
    VGIC_IRQ_SW_RESAMPLE,
    VGIC_NR_PRIVATE_IRQS,
)

if TYPE_CHECKING:
    from irqfwd.host.kvm.vcpu import Vcpu
    from irqfwd.host.kvm.vgic import Vgic, VgicIrq
    from irqfwd.hw.machine import Machine

__all__ = [
    "GICH_HCR_EN",
    "GICH_HCR_UIE",
    "GICH_LR_ACTIVE_BIT",
    "GICH_LR_EOI",
    "GICH_LR_HW",
    "GICH_LR_PENDING_BIT",
    "VgicV2CpuIf",
    "vgic_v2_fold_lr_state",
    "vgic_v2_populate_lr",
    "vgic_v2_restore_state",
    "vgic_v2_save_state",
]

GICH_LR_VIRTUALID: Final = 0x3FF
GICH_LR_PHYSID_CPUID_SHIFT: Final = 10
GICH_LR_PHYSID_CPUID: Final = 0x3FF << 10
GICH_LR_EOI: Final = 1 << 19
GICH_LR_PRIORITY_SHIFT: Final = 23
GICH_LR_PENDING_BIT: Final = 1 << 28
GICH_LR_ACTIVE_BIT: Final = 1 << 29
GICH_LR_STATE: Final = 3 << 28
GICH_LR_GROUP1: Final = 1 << 30
GICH_LR_HW: Final = 1 << 31

GICH_HCR_EN: Final = 1 << 0
GICH_HCR_UIE: Final = 1 << 1
GICH_HCR_EOICOUNT_SHIFT: Final = 27
GICH_VMCR_EOIMODE: Final = 1 << 9
GICH_VMCR_PRIMASK_SHIFT: Final = 27


class VgicV2CpuIf:
    """``struct vgic_v2_cpu_if``: the vCPU's saved GICH state."""

    __slots__ = ("eoicount", "used_lrs", "vgic_apr", "vgic_hcr", "vgic_lr", "vgic_vmcr")

    def __init__(self, nr_lr: int) -> None:
        self.vgic_hcr = GICH_HCR_EN
        self.vgic_vmcr = 0
        self.vgic_apr = 0
        self.vgic_lr = [0] * nr_lr
        self.used_lrs = 0
        self.eoicount = 0


def lr_signals_eoi_mi(val: int) -> bool:
    """``lr_signals_eoi_mi``: invalid, EOI set, HW clear."""
    return not (val & GICH_LR_STATE) and bool(val & GICH_LR_EOI) and not (val & GICH_LR_HW)


def vgic_v2_populate_lr(vgic: Vgic, vcpu: Vcpu, irq: VgicIrq, lr: int) -> None:
    """``vgic_v2_populate_lr`` (§5.4)."""
    opts = vgic.options
    val = irq.intid
    allow_pending = True
    if irq.active:
        val |= GICH_LR_ACTIVE_BIT
        if irq.intid < 16:
            val |= irq.active_source << GICH_LR_PHYSID_CPUID_SHIFT
    if irq.group:
        val |= GICH_LR_GROUP1
    ops = irq.ops
    sw_resample = ops is not None and bool(ops.flags & VGIC_IRQ_SW_RESAMPLE)  # needs_resampling()
    if irq.hw and not sw_resample:
        val |= GICH_LR_HW | (irq.hwintid << GICH_LR_PHYSID_CPUID_SHIFT)
        # Never Pending+Active on a HW interrupt: its pending state is in the physical
        # distributor (3d6e77ad1489) -- unless a fault design says otherwise.
        if irq.active and not opts.hw_lr_pending_active:
            allow_pending = False
    elif irq.config == VGIC_CONFIG_LEVEL:
        if opts.level_eoi_bit:
            val |= GICH_LR_EOI
        # Software resampling does not work well with P+A (67b5b673ad4d).
        if irq.active:
            allow_pending = False
    if allow_pending and (irq.pending_latch or (irq.line_level and irq.config == VGIC_CONFIG_LEVEL)):
        val |= GICH_LR_PENDING_BIT
        if irq.config == VGIC_CONFIG_EDGE:
            irq.pending_latch = False
        if irq.intid < 16:
            src = irq.source
            if src:
                cpuid = (src & -src).bit_length() - 1
                irq.source &= ~(1 << cpuid)
                val |= cpuid << GICH_LR_PHYSID_CPUID_SHIFT
                if irq.source:
                    irq.pending_latch = True
                    val |= GICH_LR_EOI
    # Mapped level irqs: only rising edges are observed; lower the line once queued.
    if irq.hw and irq.config == VGIC_CONFIG_LEVEL and val & GICH_LR_PENDING_BIT and opts.mapped_level_lower_line:
        irq.line_level = False
    val |= (irq.priority >> 3) << GICH_LR_PRIORITY_SHIFT
    vcpu.v2.vgic_lr[lr] = val
    irq.on_lr = True


def vgic_v2_set_underflow(vcpu: Vcpu) -> None:
    """``vgic_v2_set_underflow``: GICH_HCR.UIE (maintenance when ≤ 1 LR is valid)."""
    vcpu.v2.vgic_hcr |= GICH_HCR_UIE


def vgic_v2_fold_lr_state(vgic: Vgic, vcpu: Vcpu) -> None:
    """``vgic_v2_fold_lr_state`` (§5.5), then GICH_HCR.EOICount deactivations."""
    cpuif = vcpu.v2
    cpuif.vgic_hcr &= ~GICH_HCR_UIE
    nr_spis = vgic.nr_spis
    for lr in range(cpuif.used_lrs):
        val = cpuif.vgic_lr[lr]
        intid = val & GICH_LR_VIRTUALID
        # lr_signals_eoi_mi(val), inlined: invalid, EOI set, HW clear
        if (not val & (GICH_LR_STATE | GICH_LR_HW) and val & GICH_LR_EOI
                and VGIC_NR_PRIVATE_IRQS <= intid < VGIC_NR_PRIVATE_IRQS + nr_spis):
            vgic.kvm_notify_acked_irq(intid - VGIC_NR_PRIVATE_IRQS)
        irq = vgic.get_irq(vcpu, intid)
        if irq is None:
            continue
        irq.on_lr = False
        deactivated = irq.active and not (val & GICH_LR_ACTIVE_BIT)
        irq.active = bool(val & GICH_LR_ACTIVE_BIT)
        if irq.active and intid < 16:
            irq.active_source = (val >> GICH_LR_PHYSID_CPUID_SHIFT) & 7
        if irq.config == VGIC_CONFIG_EDGE and val & GICH_LR_PENDING_BIT:
            irq.pending_latch = True
            if intid < 16:
                irq.source |= 1 << ((val >> GICH_LR_PHYSID_CPUID_SHIFT) & 7)
        if irq.config == VGIC_CONFIG_LEVEL and not (val & GICH_LR_STATE):
            irq.pending_latch = False
        vgic.vgic_irq_handle_resampling(irq, deactivated, bool(val & GICH_LR_PENDING_BIT))
    cpuif.used_lrs = 0
    eoicount = cpuif.eoicount
    if eoicount:
        cpuif.eoicount = 0
        _fold_eoicount(vgic, vcpu, eoicount)


def _fold_eoicount(vgic: Vgic, vcpu: Vcpu, eoicount: int) -> None:
    """EOIs that found no LR (GICH_HCR.EOICount): an EOImode 0 guest deactivated that many
    active irqs that were not in an LR (the 2025 LR-overflow handling, §5.7)."""
    rec = vgic.m.recorder
    rec.count("eoicount", eoicount)
    if vcpu.v2.vgic_vmcr & GICH_VMCR_EOIMODE:
        return  # EOImode 1: the EOIR was a priority drop only; DIR deactivates
    for irq in vcpu.ap_list:
        if not eoicount:
            break
        if irq.active and not irq.on_lr:
            irq.active = False
            eoicount -= 1
            if irq.hw:
                vgic.vgic_irq_set_phys_active(irq, False)


def vgic_v2_save_state(m: Machine, vcpu: Vcpu, cpu: int) -> int:
    """``__vgic_v2_save_state``: read MISR/EISR/ELRSR and the used LRs, zero them, GICH_HCR=0.

    Returns the cost in ns.
    """
    hyp = m.gic.hyp[cpu]
    cpuif = vcpu.v2
    used = cpuif.used_lrs
    costs = m.costs
    cost = costs.gich_save_fixed_ns
    hcr = hyp.h_hcr  # GICH_HCR without the property call
    if hcr & GICH_HCR_EN:
        misr = hyp.read_misr()
        if misr:
            vcpu.c_maintenance_irqs.n += 1
            rec = m.recorder
            if rec.wants("vgic_maintenance"):
                rec.emit("vgic_maintenance", cpu=cpu, misr=misr, vcpu=vcpu.vcpu_id)
    cpuif.eoicount = hcr >> GICH_HCR_EOICOUNT_SHIFT
    if used:
        # save_lrs (read and zero each used LR), then GICH_HCR = 0: one re-evaluation
        values = hyp.save_and_clear_lrs(used, 0 if hcr else None)
        if used == 1:
            cpuif.vgic_lr[0] = values[0]
        else:
            cpuif.vgic_lr[:used] = values
        cost += used * costs.lr_save_ns
    elif hcr:
        hyp.write_hcr(0)
    return cost


def vgic_v2_restore_state(m: Machine, vcpu: Vcpu, cpu: int) -> int:
    """``__vgic_v2_restore_state``: write GICH_HCR and the used LRs (``lr_write`` events)."""
    cpuif = vcpu.v2
    used = cpuif.used_lrs
    costs = m.costs
    if not used:
        return costs.gich_restore_fixed_ns
    hyp = m.gic.hyp[cpu]
    lrs = cpuif.vgic_lr
    # GICH_HCR and the used LRs, one re-evaluation
    hyp.restore_lrs(lrs[:used] if used < len(lrs) else lrs, cpuif.vgic_hcr)
    ev = vcpu.ev_lr_write
    if ev.live:
        f = ev.fields
        f["cpu"] = cpu
        for i in range(used):
            f["lr"] = i
            f["value"] = lrs[i]
            ev.emit()
    return costs.gich_restore_fixed_ns + used * costs.lr_restore_ns


def vgic_v2_load(m: Machine, vcpu: Vcpu, cpu: int) -> int:
    """``vgic_v2_load``: restore GICH_VMCR and GICH_APR."""
    hyp = m.gic.hyp[cpu]
    hyp.write_vmcr(vcpu.v2.vgic_vmcr)
    hyp.write_apr(vcpu.v2.vgic_apr)
    return 2 * m.costs.lr_restore_ns


def vgic_v2_put(m: Machine, vcpu: Vcpu, cpu: int) -> int:
    """``vgic_v2_put``: save GICH_VMCR and GICH_APR."""
    hyp = m.gic.hyp[cpu]
    vcpu.v2.vgic_vmcr = hyp.vmcr
    vcpu.v2.vgic_apr = hyp.apr
    return 2 * m.costs.lr_save_ns
