"""The version-neutral vgic core (arch/arm64/kvm/vgic/vgic.c).

Functions over the structures of :mod:`irqfwd.host.kvm.kvm_host`, named as in Linux:

* ``vgic_get_irq``, ``vgic_target_oracle`` (where an irq belongs right now),
  ``vgic_queue_irq_unlock`` (+ ``kvm_vcpu_kick``), ``kvm_vgic_inject_irq``
  (``vgic_validate_injection``: owner token and level semantics), ``kvm_vgic_set_owner``;
* mapped irqs: ``kvm_vgic_map_phys_irq`` / ``kvm_vgic_unmap_phys_irq`` /
  ``kvm_vgic_reset_mapped_irq`` / ``kvm_vgic_map_is_active``, ``vgic_get_phys_line_level``,
  ``vgic_irq_set_phys_active`` / ``vgic_irq_set_phys_pending``, ``vgic_irq_handle_resampling``;
* flush and fold: ``vgic_sort_ap_list`` (``vgic_irq_cmp``: the order up to 2025, active
  first, or the 2025 LR-overflow order: pending first, priority, HW first),
  ``kvm_vgic_flush_hwstate`` (LR population; when to sort: ``summarize_ap_list`` in 2025,
  ``compute_ap_list_depth`` with the GICv2 multi-source SGI rule before; underflow or
  ``configure_hcr``; counter ``lr_spills``), ``kvm_vgic_sync_hwstate`` (fold +
  ``vgic_prune_ap_list``), ``kvm_vgic_vcpu_pending_irq``;
* ``kvm_notify_acked_irq`` and the trapped-deactivation emulation (``vgic_deactivate``).

The core knows no GIC version: everything that touches list registers or the virtual
interface goes through the back end chosen by ``kvm_vgic_hyp_init``
(:class:`~irqfwd.host.kvm.kvm_host.VgicOps`; GICv2: :mod:`irqfwd.host.kvm.vgic_v2`).  The
physical side of mapped irqs goes through the host genirq API (``irq_get_irqchip_state`` /
``irq_set_irqchip_state``), never through the GIC directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from irqfwd.host.genirq import IRQCHIP_STATE_ACTIVE, IRQCHIP_STATE_PENDING
from irqfwd.host.kvm.arm_vgic import (
    VGIC_CONFIG_LEVEL,
    VGIC_MIN_LPI,
    VGIC_NR_PRIVATE_IRQS,
    VGIC_NR_SGIS,
    IrqOps,
    VgicOptions,
)
from irqfwd.host.kvm.kvm_host import Kvm, KvmVcpu, VgicIrq

__all__ = [
    "EEXIST",
    "EINVAL",
    "compute_ap_list_depth",
    "kvm_notify_acked_irq",
    "kvm_vgic_dist_init",
    "kvm_vgic_flush_hwstate",
    "kvm_vgic_inject_irq",
    "kvm_vgic_map_is_active",
    "kvm_vgic_map_phys_irq",
    "kvm_vgic_reset_mapped_irq",
    "kvm_vgic_set_owner",
    "kvm_vgic_sync_hwstate",
    "kvm_vgic_unmap_phys_irq",
    "kvm_vgic_vcpu_pending_irq",
    "summarize_ap_list",
    "vgic_deactivate",
    "vgic_debug_state",
    "vgic_eoicount_irqs",
    "vgic_get_irq",
    "vgic_get_phys_line_level",
    "vgic_irq_get_lr_count",
    "vgic_irq_handle_resampling",
    "vgic_irq_is_multi_sgi",
    "vgic_irq_set_phys_active",
    "vgic_irq_set_phys_pending",
    "vgic_prune_ap_list",
    "vgic_queue_irq_unlock",
    "vgic_sort_ap_list",
    "vgic_target_oracle",
]

EINVAL: Final = -22
EEXIST: Final = -17


def _cmp_key_legacy(irq: VgicIrq) -> tuple[int, int]:
    """``vgic_irq_cmp`` up to 2025: active first, then pending+enabled by priority, the rest."""
    if irq.active:
        return (0, 0)
    if irq.enabled and irq.irq_is_pending():
        return (1, irq.priority)
    return (2, 0)


def _cmp_key_2025(irq: VgicIrq) -> tuple[int, int, int]:
    """``vgic_irq_cmp`` since the 2025 LR-overflow rework: pending, enabled and not active
    first; then, within each of the two classes, by priority (lower value first); then HW
    irqs before non-HW ones.  One key for every irq, as Linux compares any two."""
    pend = irq.enabled and irq.irq_is_pending() and not irq.active
    return (0 if pend else 1, irq.priority, 0 if irq.hw else 1)


def _sort_key(options: VgicOptions) -> Callable[[VgicIrq], Any]:
    return _cmp_key_2025 if options.ap_list_order == "2025" else _cmp_key_legacy


# ---------------------------------------------------------------------- multi-source SGIs
def vgic_irq_get_lr_count(irq: VgicIrq) -> int:
    """``vgic_irq_get_lr_count``: a GICv2 SGI counts once per source vCPU it is pending
    from, and once more if it is active; any other irq once if pending or active.  (Only
    GICv2-model SGIs have a ``source`` bitmap.)"""
    if irq.intid < VGIC_NR_SGIS and irq.source:
        return bin(irq.source).count("1") + int(irq.active)
    return 1 if irq.irq_is_pending() or irq.active else 0


def vgic_irq_is_multi_sgi(irq: VgicIrq) -> bool:
    """``vgic_irq_is_multi_sgi``: a GICv2 SGI that needs more than one LR (several
    sources, or active and pending again); its LR then asks for an EOI maintenance
    interrupt so that the next source is presented after this one."""
    return vgic_irq_get_lr_count(irq) > 1


# ---------------------------------------------------------------------- init and lookup
def kvm_vgic_dist_init(kvm: Kvm, first_vcpu: KvmVcpu) -> None:
    """``kvm_vgic_dist_init``: every SPI level-sensitive, targeting vCPU 0, disabled."""
    dist = kvm.vgic
    dist.spis = [VgicIrq(32 + i, first_vcpu, VGIC_CONFIG_LEVEL) for i in range(dist.nr_spis)]


def vgic_get_irq(kvm: Kvm, vcpu: KvmVcpu | None, intid: int) -> VgicIrq | None:
    """``vgic_get_irq``: a private irq of ``vcpu``, an SPI of the VM, or one of its LPIs
    (``vgic_get_lpi``)."""
    if intid < VGIC_NR_PRIVATE_IRQS:
        return vcpu.vgic_cpu.private_irqs[intid] if vcpu is not None else None
    i = intid - VGIC_NR_PRIVATE_IRQS
    spis = kvm.vgic.spis
    if 0 <= i < len(spis):
        return spis[i]
    if intid >= VGIC_MIN_LPI:
        return kvm.vgic.lpis.get(intid)
    return None


# ---------------------------------------------------------------------- targeting / queueing
def vgic_target_oracle(kvm: Kvm, irq: VgicIrq) -> KvmVcpu | None:
    """``vgic_target_oracle``: an active irq stays with its owner; a pending, enabled irq
    goes to its target, but no irq with a target is forwarded while the distributor is
    disabled (SGIs and PPIs included: ``irq->target_vcpu`` is set for every private irq)."""
    if irq.active:
        return irq.vcpu if irq.vcpu is not None else irq.target_vcpu
    if irq.enabled and irq.irq_is_pending():
        if irq.target_vcpu is not None and not kvm.vgic.enabled:
            return None
        return irq.target_vcpu
    return None


def vgic_queue_irq_unlock(kvm: Kvm, irq: VgicIrq) -> bool:
    """``vgic_queue_irq_unlock``: put ``irq`` on its target's ap_list and kick the target."""
    vcpu = vgic_target_oracle(kvm, irq)
    if irq.vcpu is not None or vcpu is None:
        if vcpu is not None:
            vcpu.kvm_vcpu_kick()
        return False
    irq.vcpu = vcpu
    vcpu.vgic_cpu.ap_list.append(irq)
    vcpu.kvm_vcpu_kick()
    return True


def vgic_maintenance(vcpu: KvmVcpu, cpu: int, misr: int) -> None:
    """The back end's save saw maintenance condition ``misr`` (GICH_MISR / ICH_MISR_EL2) on
    ``cpu``: the ``maintenance_irqs`` counter and the ``irqfwd_vgic_maintenance`` event."""
    vcpu.c_maintenance_irqs.n += 1
    ev = vcpu.ev_maintenance
    if ev.live:
        ev.cpu = cpu
        ev.misr = misr
        ev.emit()


def kvm_vgic_inject_irq(kvm: Kvm, vcpu: KvmVcpu | None, intid: int, level: bool, owner: Any) -> int:
    """``kvm_vgic_inject_irq``: -EINVAL for an INTID with no irq (a private one without a
    vCPU); the ``vgic_update_irq_pending`` trace; ``vgic_validate_injection`` (the caller's
    ``owner`` token must be the irq's, NULL for userspace and irqfd, the timer context for
    the arch timer; a level irq takes level changes only, an edge irq rising edges only),
    and an injection it refuses returns 0 ("nothing to see here"), not an error; else
    latch or level, then ``vgic_queue_irq_unlock``."""
    m = kvm.m
    m.acc += kvm.vgic.inject_ns
    irq = vgic_get_irq(kvm, vcpu, intid)
    if irq is None:
        return EINVAL
    ev = kvm.ev_update_irq_pending
    if ev.live:
        ev.vcpu = vcpu.vcpu_id if vcpu else 0
        ev.intid = intid
        ev.level = level
        ev.emit()
    if irq.owner is not owner:
        return 0
    if level and intid >= VGIC_NR_PRIVATE_IRQS:
        kvm.c_spi_injections.n += 1
    if irq.config == VGIC_CONFIG_LEVEL:
        if irq.line_level == level:
            return 0
        irq.line_level = level
    else:
        if not level:
            return 0
        irq.pending_latch = True
    vgic_queue_irq_unlock(kvm, irq)
    return 0


# ---------------------------------------------------------------------- mapped irqs
def kvm_vgic_map_phys_irq(kvm: Kvm, vcpu: KvmVcpu | None, host_irq: int, vintid: int,
                          ops: IrqOps | None = None) -> int:
    """``kvm_vgic_map_phys_irq``: ``hw``, ``hwintid`` = the root irq_data's hwirq, ``ops``."""
    irq = vgic_get_irq(kvm, vcpu, vintid)
    if irq is None:
        return EINVAL
    data = kvm.host.genirq.irq_get_irq_data(host_irq).root()
    irq.hw = True
    irq.host_irq = host_irq
    irq.hwintid = data.hwirq
    irq.ops = ops
    return 0


def kvm_vgic_unmap_phys_irq(kvm: Kvm, vcpu: KvmVcpu | None, vintid: int) -> int:
    """``kvm_vgic_unmap_phys_irq``: clear hw/hwintid/ops only; the state is the caller's job."""
    irq = vgic_get_irq(kvm, vcpu, vintid)
    if irq is None or not irq.hw:
        return EINVAL
    irq.hw = False
    irq.hwintid = 0
    irq.ops = None
    return 0


def kvm_vgic_reset_mapped_irq(kvm: Kvm, vcpu: KvmVcpu | None, vintid: int) -> None:
    """``kvm_vgic_reset_mapped_irq``: clear active, pending_latch and line_level."""
    irq = vgic_get_irq(kvm, vcpu, vintid)
    if irq is None or not irq.hw:
        return
    irq.active = False
    irq.pending_latch = False
    irq.line_level = False


def kvm_vgic_map_is_active(kvm: Kvm, vcpu: KvmVcpu | None, vintid: int) -> bool:
    """``kvm_vgic_map_is_active``: ``hw && active`` (meaningful after fold)."""
    irq = vgic_get_irq(kvm, vcpu, vintid)
    return irq is not None and irq.hw and irq.active


def kvm_vgic_set_owner(kvm: Kvm, vcpu: KvmVcpu, intid: int, owner: Any) -> int:
    """``kvm_vgic_set_owner``: give a PPI or an SPI to an in-kernel device (the arch timer
    context, the PMU), whose ``owner`` token :func:`kvm_vgic_inject_irq` then requires;
    -EINVAL for SGIs and LPIs ("cannot be wired up to any device"), -EEXIST when another
    owner holds it."""
    is_ppi = VGIC_NR_SGIS <= intid < VGIC_NR_PRIVATE_IRQS
    if not is_ppi and not VGIC_NR_PRIVATE_IRQS <= intid < VGIC_NR_PRIVATE_IRQS + kvm.vgic.nr_spis:
        return EINVAL
    irq = vgic_get_irq(kvm, vcpu, intid)
    if irq is None:
        return EINVAL
    if irq.owner is not None and irq.owner is not owner:
        return EEXIST
    irq.owner = owner
    return 0


def vgic_get_phys_line_level(kvm: Kvm, irq: VgicIrq) -> bool:
    """``vgic_get_phys_line_level``: ``ops.get_input_level`` or the physical PENDING state."""
    ops = irq.ops
    if ops is not None and ops.get_input_level is not None:
        return ops.get_input_level(irq.intid)
    cpu = kvm.current_pcpu()
    _, pending = kvm.host.genirq.irq_get_irqchip_state(irq.host_irq, IRQCHIP_STATE_PENDING, cpu)
    return pending


def vgic_irq_set_phys_active(kvm: Kvm, irq: VgicIrq, active: bool) -> None:
    """``vgic_irq_set_phys_active``: ``irq_set_irqchip_state(ACTIVE)`` on the host irq."""
    cpu = kvm.current_pcpu()
    kvm.host.genirq.irq_set_irqchip_state(irq.host_irq, IRQCHIP_STATE_ACTIVE, active, cpu)


def vgic_irq_set_phys_pending(kvm: Kvm, irq: VgicIrq, pending: bool) -> None:
    """``vgic_irq_set_phys_pending``: ``irq_set_irqchip_state(PENDING)`` on the host irq."""
    cpu = kvm.current_pcpu()
    kvm.host.genirq.irq_set_irqchip_state(irq.host_irq, IRQCHIP_STATE_PENDING, pending, cpu)


def vgic_irq_handle_resampling(kvm: Kvm, irq: VgicIrq, lr_deactivated: bool, lr_pending: bool) -> None:
    """``vgic_irq_handle_resampling``: mapped level irqs only.

    The line is re-sampled when the LR came back pending, or when the guest deactivated an
    irq whose ``line_level`` was set (it entered the guest pending+active in the vgic, so
    its LR held A only): the second case is 3134cc8beb69, off under
    ``VgicOptions.resample_on_deactivation = False`` (the stale level is then re-injected).

    Extension: a mapped *edge* irq with ``VGIC_IRQ_SW_RESAMPLE`` (no HW deactivation;
    Linux has no such user) gets the level rule too (deactivate the physical irq once it
    is neither active nor latched), otherwise its physical active state would never be
    cleared.
    """
    if not irq.is_mapped_level():
        if irq.hw and irq.needs_resampling() and not (irq.active or irq.pending_latch):
            vgic_irq_set_phys_active(kvm, irq, False)
        return
    resample = False
    if irq.needs_resampling():
        resample = not (irq.active or irq.pending_latch)
    elif lr_pending or (lr_deactivated and irq.line_level and kvm.vgic.options.resample_on_deactivation):
        irq.line_level = vgic_get_phys_line_level(kvm, irq)
        resample = not irq.line_level
    if resample:
        vgic_irq_set_phys_active(kvm, irq, False)


# ---------------------------------------------------------------------- flush / sync
def vgic_sort_ap_list(vcpu: KvmVcpu) -> None:
    """``vgic_sort_ap_list`` with ``vgic_irq_cmp`` (stable, as list_sort)."""
    vcpu.vgic_cpu.ap_list.sort(key=_sort_key(vcpu.kvm.vgic.options))


def compute_ap_list_depth(vcpu: KvmVcpu) -> tuple[int, bool]:
    """``compute_ap_list_depth`` (up to 2025): the LRs the whole ap_list would take
    (:func:`vgic_irq_get_lr_count` summed: a GICv2 SGI once per source), and whether it
    holds a multi-source SGI."""
    count = 0
    multi_sgi = False
    for irq in vcpu.vgic_cpu.ap_list:
        w = vgic_irq_get_lr_count(irq)
        count += w
        if w > 1:
            multi_sgi = True
    return count, multi_sgi


def summarize_ap_list(vcpu: KvmVcpu) -> int:
    """``summarize_ap_list`` (2025): the irqs of the ap_list that target ``vcpu``
    (``nr_pend + nr_act``; a multi-source SGI counts once)."""
    kvm = vcpu.kvm
    n = 0
    for irq in vcpu.vgic_cpu.ap_list:
        if vgic_target_oracle(kvm, irq) is vcpu:
            n += 1
    return n


def kvm_vgic_flush_hwstate(vcpu: KvmVcpu) -> None:
    """``kvm_vgic_flush_hwstate`` → ``vgic_flush_lr_state``: sort the ap_list if it will
    not fit, fill the LR shadow in its order, then ask for the maintenance interrupts the
    overflow rule wants (:attr:`VgicOptions.lr_overflow`).

    ``"configure_hcr"`` (2025): sorted when more irqs target the vCPU than there are LRs
    (:func:`summarize_ap_list`, ``irqs_outside_lrs``).  ``"underflow"`` (up to 2025):
    sorted when :func:`compute_ap_list_depth` exceeds the LRs or a GICv2 SGI has several
    sources; then no irq of lower priority than a multi-source SGI that keeps sources
    after its LR is written gets an LR ("they are all seen before any IRQ of lower
    priority": the loop stops there, and without UIE).  Irqs left out of the LRs are
    counted in ``lr_spills``."""
    vgic_cpu = vcpu.vgic_cpu
    ap = vgic_cpu.ap_list
    kvm = vcpu.kvm
    dist = kvm.vgic
    configure_hcr = dist.options.lr_overflow == "configure_hcr"
    if not ap:
        vgic_cpu.used_lrs = 0
        if configure_hcr:
            dist.ops.configure_hcr(vcpu, False, False, 0)
        return
    nr_lr = dist.nr_lr
    multi_sgi = False
    if configure_hcr:
        if len(ap) > nr_lr and summarize_ap_list(vcpu) > nr_lr:
            vgic_sort_ap_list(vcpu)
    else:
        depth, multi_sgi = compute_ap_list_depth(vcpu)
        if depth > nr_lr or multi_sgi:
            vgic_sort_ap_list(vcpu)
    count = 0
    ops = dist.ops
    spilled = 0
    more_after_full = False
    pending_out = active_out = False
    nr_sgi = 0
    prio = 0xFF
    stopped = False
    for irq in ap:
        if count >= nr_lr:
            more_after_full = True  # legacy: "!list_is_last" once every LR is used
        if multi_sgi and irq.priority > prio:
            stopped = True  # legacy: below a multi-source SGI's priority, nothing more
        if vgic_target_oracle(kvm, irq) is not vcpu:
            continue
        if irq.intid < VGIC_NR_SGIS:
            nr_sgi += 1  # summarize_ap_list: "any SGI" that targets the vCPU
        if count >= nr_lr or stopped:
            spilled += 1
            if irq.active:
                active_out = True
            else:
                pending_out = True
            continue
        ops.populate_lr(vcpu, irq, count)
        count += 1
        if irq.source:
            prio = irq.priority
    if configure_hcr:
        ops.configure_hcr(vcpu, pending_out, active_out, nr_sgi)
    elif more_after_full:
        ops.set_underflow(vcpu)
    if spilled:
        rec = kvm.m.recorder
        rec.count("lr_spills", spilled)
        if rec.wants("irqfwd_vgic_lr_spill"):
            rec.emit("irqfwd_vgic_lr_spill", vcpu=vcpu.vcpu_id, count=spilled)
    vgic_cpu.used_lrs = count


def kvm_vgic_sync_hwstate(vcpu: KvmVcpu) -> None:
    """``kvm_vgic_sync_hwstate``: fold the LR shadow, then ``vgic_prune_ap_list``."""
    vgic_cpu = vcpu.vgic_cpu
    if vgic_cpu.used_lrs or vgic_cpu.eoicount:
        vcpu.kvm.vgic.ops.fold_lr_state(vcpu)
    if vgic_cpu.ap_list:
        vgic_prune_ap_list(vcpu)


def vgic_prune_ap_list(vcpu: KvmVcpu) -> None:
    """``vgic_prune_ap_list``: drop irqs with no target; move irqs whose target changed."""
    kvm = vcpu.kvm
    keep: list[VgicIrq] = []
    for irq in vcpu.vgic_cpu.ap_list:
        target = vgic_target_oracle(kvm, irq)
        if target is vcpu:
            keep.append(irq)
        elif target is None:
            irq.vcpu = None
        else:
            irq.vcpu = target
            target.vgic_cpu.ap_list.append(irq)
            target.kvm_vcpu_kick()
    vcpu.vgic_cpu.ap_list = keep


def kvm_vgic_vcpu_pending_irq(vcpu: KvmVcpu) -> bool:
    """``kvm_vgic_vcpu_pending_irq``: nothing while the distributor is disabled
    (``!vcpu->kvm->arch.vgic.enabled``, checked first); else a directly injected interrupt
    pending for the non-resident vPE (GICv4 ``pending_last``, from the back end), or a
    pending, enabled, inactive irq above the priority mask of the saved VMCR
    (``vgic_get_vmcr``; KVM syncs it at WFI, ``kvm_vgic_vmcr_sync``)."""
    dist = vcpu.kvm.vgic
    if not dist.enabled:
        return False
    ops = dist.ops
    if ops.has_gicv4 and ops.vcpu_pending_direct(vcpu):
        return True
    vgic_cpu = vcpu.vgic_cpu
    ap = vgic_cpu.ap_list
    if not ap:
        return False
    vmcr = vgic_cpu.vmcr
    ops.get_vmcr(vcpu, vmcr)
    pmr = vmcr.pmr
    for irq in ap:
        if irq.enabled and not irq.active and irq.priority < pmr and irq.irq_is_pending():
            return True
    return False


# ---------------------------------------------------------------------- deactivation
def vgic_eoicount_irqs(vcpu: KvmVcpu, eoicount: int) -> list[VgicIrq]:
    """The irqs that ``eoicount`` EOIs no LR matched (EOIcount, EOImode 0) deactivated: the
    first active irqs of the ap_list that are not in an LR (2025 ``vgic_v*_fold_lr_state``:
    EOIs complete in reverse order of activation and the ap_list is sorted by priority).
    Called before the LRs are folded, while ``on_lr`` still tells them apart."""
    chosen: list[VgicIrq] = []
    for irq in vcpu.vgic_cpu.ap_list:
        if len(chosen) == eoicount:
            break
        if irq.active and not irq.on_lr:
            chosen.append(irq)
    return chosen


def vgic_deactivate(vcpu: KvmVcpu, intid: int) -> None:
    """Emulate a trapped deactivation of ``intid`` (GICV_DIR / ICV_DIR_EL1): the part of the
    2025 ``vgic_v2_deactivate`` / ``vgic_v3_deactivate`` that is not register decode.

    The vCPU's LRs were saved and folded at the exit, so the interrupt's state is in its
    ``VgicIrq`` (the back end has decoded the register and applied Linux's guards:
    EOImode 1, and for a GICv2 SGI the source CPUID): an inactive (or unknown) INTID is
    ignored (Linux folds a pseudo-LR for any irq still on an ap_list; a DIR of an inactive
    irq is UNPREDICTABLE and not modelled); otherwise the back end folds the
    LR the irq would have had, without its Active bit (:meth:`VgicOps.fold_deactivated`): a
    HW irq's physical INTID is deactivated by the host (exactly once: the guest's DIR never
    reached an LR) and its line re-sampled if its level was set, a level non-HW SPI
    notifies its ack notifiers as the EOI maintenance interrupt would have and drops its
    latch.  (An irq held in an LR of another running vCPU, the "big hammer" case, is not
    modelled.)
    """
    kvm = vcpu.kvm
    irq = vgic_get_irq(kvm, vcpu, intid)
    kvm.m.recorder.count("dir_trapped")
    if irq is None or not irq.active:
        return
    kvm.vgic.ops.fold_deactivated(vcpu, irq)


def kvm_notify_acked_irq(kvm: Kvm, spi_pin: int) -> None:
    """``kvm_notify_acked_irq`` (irqchip 0, pin = SPI - 32): run the GSI's ack notifiers."""
    kvm.c_ack_irq.n += 1
    ev = kvm.ev_ack_irq
    if ev.live:
        ev.irqchip = kvm.vgic.ops.name
        ev.pin = spi_pin
        ev.emit()
    kvm.kvm_notify_acked_gsi(spi_pin)


# ---------------------------------------------------------------------- debugfs
def vgic_debug_state(kvm: Kvm) -> str:
    """The KVM debugfs ``vgic-state`` dump (vgic-debug.c ``print_irq_state``): one row per
    interrupt with ``TYP ID TGT_ID PLAEHCG HWID TARGET SRC PRI VCPU_ID`` (P pending, L line
    level, A active, E enabled, H hw, C level config, G group)."""
    dist = kvm.vgic
    lines = [f"Distributor\n===========\nvgic_model:\t{dist.ops.name}\nnr_spis:\t{dist.nr_spis}\n"
             f"enabled:\t{int(dist.enabled)}\n",
             "P=pending_latch, L=line_level, A=active, E=enabled, H=hw, C=config (level=1), G=group\n",
             "TYP   ID TGT_ID PLAEHCG     HWID   TARGET SRC PRI VCPU_ID"]

    def row(typ: str, irq: VgicIrq) -> str:
        tgt = irq.target_vcpu.vcpu_id if irq.target_vcpu is not None else -1
        owner = irq.vcpu.vcpu_id if irq.vcpu is not None else -1
        bits = "".join(str(int(b)) for b in (
            irq.pending_latch, irq.line_level, irq.active, irq.enabled, irq.hw,
            irq.config == VGIC_CONFIG_LEVEL, irq.group))
        return (f"{typ} {irq.intid:4d}     {tgt:2d} {bits} {irq.hwintid:8d} {irq.targets:8x} "
                f" {irq.source:2x} {irq.priority:3d}      {owner:2d} ")

    for vcpu in kvm.vcpus:
        lines.append(f"VCPU {vcpu.vcpu_id} private interrupts")
        for irq in vcpu.vgic_cpu.private_irqs:
            lines.append(row("SGI" if irq.intid < 16 else "PPI", irq))
    for irq in dist.spis:
        lines.append(row("SPI", irq))
    return "\n".join(lines) + "\n"
