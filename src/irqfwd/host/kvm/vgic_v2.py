"""The GICv2 back end of the vgic (arch/arm64/kvm/vgic/vgic-v2.c, hyp/vgic-v2-sr.c).

:class:`VgicV2Ops` implements :class:`~irqfwd.host.kvm.arm_vgic.VgicOps` over the GICv2
virtual interface control frames (GICH) that the host GIC driver handed to KVM in
``gic_kvm_info`` (register names from :mod:`irqfwd.host.irqchip.arm_gic`):

* :meth:`VgicV2Ops.probe` (``vgic_v2_probe``): ``nr_lr`` = GICH_VTR.ListRegs + 1;
* :meth:`VgicV2Ops.populate_lr` (``vgic_v2_populate_lr``): HW bit + PhysicalID for mapped
  irqs, never Pending+Active for HW or level irqs (commits 3d6e77ad1489, 67b5b673ad4d),
  EOI bit for level non-HW irqs, edge ``pending_latch`` consumed, mapped-level
  ``line_level`` lowered, 5 priority bits; SGIs: one LR per INTID, the lowest pending
  source in CPUID (taken from ``source``; EOI bit while other sources remain), an active
  SGI pending from another source Active only with EOI (``vgic_irq_is_multi_sgi``);
* :meth:`VgicV2Ops.fold_lr_state` (``vgic_v2_fold_lr_state``): ``kvm_notify_acked_irq`` for an
  LR that signalled an EOI maintenance interrupt, active copied, edge pending preserved,
  level latch consumed, mapped-level resampling; then GICH_HCR.EOICount;
* :meth:`VgicV2Ops.save_state` / :meth:`VgicV2Ops.restore_state` (``__vgic_v2_save_state`` /
  ``__vgic_v2_restore_state``): the world-switch register accesses, with ``lr_save_ns`` /
  ``lr_restore_ns`` per used LR.  The save reads GICH_MISR: a non-zero MISR means the
  maintenance interrupt fired during the run (counter ``maintenance_irqs``, trace
  ``irqfwd_vgic_maintenance``);
* :meth:`VgicV2Ops.load` / :meth:`VgicV2Ops.put` (``vgic_v2_load`` / ``vgic_v2_put``): GICH_VMCR
  and GICH_APR; :meth:`VgicV2Ops.vmcr_sync` (``vgic_v2_vmcr_sync``);
* :meth:`VgicV2Ops.map_resources` (``vgic_v2_map_resources``): the GICV frame mapped into the
  guest at its GICC address, except the GICV_DIR page when DIR is trapped, whose writes
  :meth:`VgicV2Ops.deactivate` emulates (``vgic_v2_deactivate``).
"""

from __future__ import annotations

from typing import Final

from irqfwd.host.irqchip.arm_gic import (
    GIC_VCPU_DIR_PAGE,
    GICH_HCR_EN,
    GICH_HCR_EOICOUNT_SHIFT,
    GICH_HCR_LRENPIE,
    GICH_HCR_NPIE,
    GICH_HCR_UIE,
    GICH_HCR_VGRP0DIE,
    GICH_HCR_VGRP0EIE,
    GICH_HCR_VGRP1DIE,
    GICH_HCR_VGRP1EIE,
    GICH_LR_ACTIVE_BIT,
    GICH_LR_EOI,
    GICH_LR_GROUP1,
    GICH_LR_HW,
    GICH_LR_PENDING_BIT,
    GICH_LR_PHYSID_CPUID_SHIFT,
    GICH_LR_PRIORITY_SHIFT,
    GICH_LR_STATE,
    GICH_LR_VIRTUALID,
    GICH_MISR_VGRP_ANY,
    GICH_VMCR_ACK_CTL_SHIFT,
    GICH_VMCR_ALIAS_BINPOINT_SHIFT,
    GICH_VMCR_BINPOINT_SHIFT,
    GICH_VMCR_CBPR_SHIFT,
    GICH_VMCR_ENABLE_GRP0_SHIFT,
    GICH_VMCR_ENABLE_GRP1_SHIFT,
    GICH_VMCR_EOI_MODE_MASK,
    GICH_VMCR_EOI_MODE_SHIFT,
    GICH_VMCR_FIQ_EN_SHIFT,
    GICH_VMCR_PRIMASK_SHIFT,
    GICV_PMR_PRIORITY_SHIFT,
)
from irqfwd.host.irqchip.arm_vgic_info import GicKvmInfo
from irqfwd.host.kvm.arm_vgic import (
    VGIC_CONFIG_EDGE,
    VGIC_CONFIG_LEVEL,
    VGIC_NR_PRIVATE_IRQS,
    VGIC_NR_SGIS,
    VgicV2CpuIf,
    VgicVmcr,
)
from irqfwd.host.kvm.kvm_host import Kvm, KvmVcpu, VgicIrq, VgicOps
from irqfwd.host.kvm.vgic import (
    kvm_notify_acked_irq,
    vgic_deactivate,
    vgic_eoicount_irqs,
    vgic_get_irq,
    vgic_irq_handle_resampling,
    vgic_irq_is_multi_sgi,
    vgic_irq_set_phys_active,
    vgic_maintenance,
)
from irqfwd.hw.gicv2.hyp_interface import HypInterface
from irqfwd.hw.machine import Machine

__all__ = ["VgicV2Ops", "lr_signals_eoi_mi", "vgic_v2_probe"]

_GICH_VTR_LISTREGS: Final = 0x3F


def lr_signals_eoi_mi(val: int) -> bool:
    """``lr_signals_eoi_mi``: the LR is invalid, has the EOI bit and no HW bit."""
    return not (val & (GICH_LR_STATE | GICH_LR_HW)) and bool(val & GICH_LR_EOI)


def vgic_v2_probe(info: GicKvmInfo) -> int:
    """``vgic_v2_probe``: the number of list registers, from GICH_VTR.ListRegs."""
    vctrl = info.vctrl
    if not vctrl:
        raise ValueError("gic_kvm_info has no GICH frame: GICv2 virtualization is not available")
    return (vctrl[0].read_vtr() & _GICH_VTR_LISTREGS) + 1


def _v2(vcpu: KvmVcpu) -> VgicV2CpuIf:
    cif = vcpu.vgic_cpu.vgic_v2
    assert cif is not None
    return cif


class VgicV2Ops(VgicOps):
    """The GICv2 list-register back end (see the module docstring)."""

    name = "GICv2"

    def __init__(self, machine: Machine, info: GicKvmInfo, nr_lr: int) -> None:
        self.m = machine
        self.vctrl: list[HypInterface] = list(info.vctrl)
        """``vctrl_base`` per CPU: the GICH frame each pCPU sees."""
        self.vcpu_base = info.vcpu_base
        self.nr_lr = nr_lr
        c = machine.costs
        self.save_fixed_ns = c.gich_save_fixed_ns
        self.restore_fixed_ns = c.gich_restore_fixed_ns
        self.lr_save_ns = c.lr_save_ns
        self.lr_restore_ns = c.lr_restore_ns

    # ---------------------------------------------------------------- set-up
    def vcpu_init(self, vcpu: KvmVcpu) -> None:
        """``vgic_v2_enable``: VMCR 0, GICH_HCR.En."""
        vcpu.vgic_cpu.vgic_v2 = VgicV2CpuIf(self.nr_lr, GICH_HCR_EN)

    def map_resources(self, kvm: Kvm) -> None:
        """``vgic_v2_map_resources``: map the GICV frame at the guest's GICC address (here the
        same address); with trapped DIR only its first page, and register the trapped page."""
        base = self.vcpu_base
        pages = {base >> 12}
        if kvm.vgic.options.trap_dir:
            kvm.kvm_io_bus_register(base + GIC_VCPU_DIR_PAGE, 0x1000, self._dir_page_access)
        else:
            pages.add((base + GIC_VCPU_DIR_PAGE) >> 12)
        kvm.stage2_device_pages |= pages

    # ---------------------------------------------------------------- list registers
    def populate_lr(self, vcpu: KvmVcpu, irq: VgicIrq, lr: int) -> None:
        """``vgic_v2_populate_lr``."""
        opts = vcpu.kvm.vgic.options
        intid = irq.intid
        val = intid
        allow_pending = True
        if irq.active:
            val |= GICH_LR_ACTIVE_BIT
            if intid < VGIC_NR_SGIS:
                val |= irq.active_source << GICH_LR_PHYSID_CPUID_SHIFT
            if vgic_irq_is_multi_sgi(irq):
                # an SGI active from one source and pending from another: Active only
                # (the CPUID field holds the active source), EOI maintenance to present
                # the pending source once this one is deactivated
                allow_pending = False
                val |= GICH_LR_EOI
        if irq.group:
            val |= GICH_LR_GROUP1
        if irq.hw and not irq.needs_resampling():
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
        if allow_pending and irq.irq_is_pending():
            val |= GICH_LR_PENDING_BIT
            if irq.config == VGIC_CONFIG_EDGE:
                irq.pending_latch = False
            if intid < VGIC_NR_SGIS:
                src = irq.source
                if src:
                    cpuid = (src & -src).bit_length() - 1
                    irq.source &= ~(1 << cpuid)
                    val |= cpuid << GICH_LR_PHYSID_CPUID_SHIFT
                    if irq.source:
                        irq.pending_latch = True
                        val |= GICH_LR_EOI
        # Mapped level irqs: only rising edges are observed; lower the line once queued.
        if val & GICH_LR_PENDING_BIT and irq.is_mapped_level() and opts.mapped_level_lower_line:
            irq.line_level = False
        val |= (irq.priority >> 3) << GICH_LR_PRIORITY_SHIFT
        _v2(vcpu).vgic_lr[lr] = val
        irq.on_lr = True

    def clear_lr(self, vcpu: KvmVcpu, lr: int) -> None:
        """``vgic_v2_clear_lr``."""
        _v2(vcpu).vgic_lr[lr] = 0

    def set_underflow(self, vcpu: KvmVcpu) -> None:
        """``vgic_v2_set_underflow``: GICH_HCR.UIE (maintenance when at most one LR is valid)."""
        _v2(vcpu).vgic_hcr |= GICH_HCR_UIE

    def configure_hcr(self, vcpu: KvmVcpu, pending_outside: bool, active_outside: bool,
                      nr_sgi: int) -> None:
        """``vgic_v2_configure_hcr``: En, NPIE when pending irqs stayed out of the LRs,
        LRENPIE when active ones did, UIE when any did; VGrp0/1 DIE when the group is enabled
        in GICH_VMCR (an exit when the guest disables it), EIE when it is disabled."""
        cpuif = _v2(vcpu)
        hcr = GICH_HCR_EN
        if pending_outside:
            hcr |= GICH_HCR_NPIE
        if active_outside:
            hcr |= GICH_HCR_LRENPIE
        if pending_outside or active_outside:
            hcr |= GICH_HCR_UIE
        vmcr = cpuif.vgic_vmcr
        hcr |= GICH_HCR_VGRP0DIE if vmcr & (1 << GICH_VMCR_ENABLE_GRP0_SHIFT) else GICH_HCR_VGRP0EIE
        hcr |= GICH_HCR_VGRP1DIE if vmcr & (1 << GICH_VMCR_ENABLE_GRP1_SHIFT) else GICH_HCR_VGRP1EIE
        cpuif.vgic_hcr = hcr

    def fold_lr_state(self, vcpu: KvmVcpu) -> None:
        """``vgic_v2_fold_lr_state``: every used LR (``vgic_v2_fold_lr``), then the EOIs
        GICH_HCR.EOICount counted (:meth:`_fold_eoicount`)."""
        vgic_cpu = vcpu.vgic_cpu
        cpuif = _v2(vcpu)
        cpuif.vgic_hcr &= ~GICH_HCR_UIE
        eoicount = vgic_cpu.eoicount
        overflow: list[VgicIrq] | None = None
        if eoicount:
            # chosen before the LRs are folded, while ``on_lr`` still tells them apart
            vgic_cpu.eoicount = 0
            overflow = self._eoicount_irqs(vcpu, eoicount)
        for lr in range(vgic_cpu.used_lrs):
            self._fold_lr(vcpu, cpuif.vgic_lr[lr])
        vgic_cpu.used_lrs = 0
        if overflow is not None:
            for irq in overflow:
                self.fold_deactivated(vcpu, irq)

    def _fold_lr(self, vcpu: KvmVcpu, val: int) -> None:
        """``vgic_v2_fold_lr``: one saved LR back into its irq."""
        kvm = vcpu.kvm
        intid = val & GICH_LR_VIRTUALID
        if lr_signals_eoi_mi(val) and VGIC_NR_PRIVATE_IRQS <= intid < VGIC_NR_PRIVATE_IRQS + kvm.vgic.nr_spis:
            kvm_notify_acked_irq(kvm, intid - VGIC_NR_PRIVATE_IRQS)
        irq = vgic_get_irq(kvm, vcpu, intid)
        if irq is None:
            return
        irq.on_lr = False
        deactivated = irq.active and not (val & GICH_LR_ACTIVE_BIT)
        irq.active = bool(val & GICH_LR_ACTIVE_BIT)
        if irq.active and intid < VGIC_NR_SGIS:
            irq.active_source = (val >> GICH_LR_PHYSID_CPUID_SHIFT) & 7
        if irq.config == VGIC_CONFIG_EDGE and val & GICH_LR_PENDING_BIT:
            irq.pending_latch = True
            if intid < VGIC_NR_SGIS:
                irq.source |= 1 << ((val >> GICH_LR_PHYSID_CPUID_SHIFT) & 7)
        if irq.config == VGIC_CONFIG_LEVEL and not (val & GICH_LR_STATE):
            irq.pending_latch = False
        vgic_irq_handle_resampling(kvm, irq, deactivated, bool(val & GICH_LR_PENDING_BIT))

    def _eoicount_irqs(self, vcpu: KvmVcpu, eoicount: int) -> list[VgicIrq]:
        """The irqs that EOIs no LR matched (GICH_HCR.EOICount) deactivated: with EOImode 0,
        the first ``eoicount`` active irqs of the ap_list that are not in an LR (the 2025
        LR-overflow handling; EOIs complete in reverse order of activation and the ap_list
        is sorted by priority).  With EOImode 1 the EOIR was a priority drop only."""
        vcpu.kvm.m.recorder.count("eoicount", eoicount)
        if _v2(vcpu).vgic_vmcr & GICH_VMCR_EOI_MODE_MASK:
            return []
        return vgic_eoicount_irqs(vcpu, eoicount)

    def fold_deactivated(self, vcpu: KvmVcpu, irq: VgicIrq) -> None:
        val = self._deactivated_lr(vcpu, irq)
        if val & GICH_LR_HW:
            vgic_irq_set_phys_active(vcpu.kvm, irq, False)  # Linux writes GICC_DIR
        self._fold_lr(vcpu, val)

    @staticmethod
    def _deactivated_lr(vcpu: KvmVcpu, irq: VgicIrq) -> int:
        """The LR ``vgic_v2_compute_lr`` gives the active ``irq``, without its Active bit and
        without :meth:`populate_lr`'s side effects (an SGI's further sources stay in
        ``irq.source``)."""
        opts = vcpu.kvm.vgic.options
        val = irq.intid
        if irq.hw and not irq.needs_resampling():
            val |= GICH_LR_HW | (irq.hwintid << GICH_LR_PHYSID_CPUID_SHIFT)
            allow_pending = opts.hw_lr_pending_active
        elif irq.config == VGIC_CONFIG_LEVEL:
            if opts.level_eoi_bit:
                val |= GICH_LR_EOI
            allow_pending = False
        else:
            allow_pending = irq.intid >= VGIC_NR_SGIS
        if allow_pending and irq.irq_is_pending():
            val |= GICH_LR_PENDING_BIT
        return val

    # ---------------------------------------------------------------- VMCR
    def get_vmcr(self, vcpu: KvmVcpu, vmcr: VgicVmcr) -> None:
        """``vgic_v2_get_vmcr``: decode the saved GICH_VMCR."""
        v = _v2(vcpu).vgic_vmcr
        vmcr.grpen0 = (v >> GICH_VMCR_ENABLE_GRP0_SHIFT) & 1
        vmcr.grpen1 = (v >> GICH_VMCR_ENABLE_GRP1_SHIFT) & 1
        vmcr.ackctl = (v >> GICH_VMCR_ACK_CTL_SHIFT) & 1
        vmcr.fiqen = (v >> GICH_VMCR_FIQ_EN_SHIFT) & 1
        vmcr.cbpr = (v >> GICH_VMCR_CBPR_SHIFT) & 1
        vmcr.eoim = (v >> GICH_VMCR_EOI_MODE_SHIFT) & 1
        vmcr.abpr = (v >> GICH_VMCR_ALIAS_BINPOINT_SHIFT) & 7
        vmcr.bpr = (v >> GICH_VMCR_BINPOINT_SHIFT) & 7
        vmcr.pmr = ((v >> GICH_VMCR_PRIMASK_SHIFT) & 0x1F) << GICV_PMR_PRIORITY_SHIFT

    def vmcr_sync(self, vcpu: KvmVcpu, cpu: int) -> None:
        """``vgic_v2_vmcr_sync``: GICH_VMCR of the loaded vCPU into its saved state."""
        _v2(vcpu).vgic_vmcr = self.vctrl[cpu].read_vmcr()

    # ---------------------------------------------------------------- world switch
    def save_state(self, vcpu: KvmVcpu, cpu: int) -> int:
        """``__vgic_v2_save_state``: GICH_MISR (maintenance accounting), EOICount (kept only
        when GICH_HCR.LRENPIE was set: ``vgic_v2_save_state``), then
        ``save_lrs`` (GICH_ELRSR, each used LR read unless empty, then zeroed) and
        GICH_HCR = 0.  Returns the cost in ns."""
        gich = self.vctrl[cpu]
        vgic_cpu = vcpu.vgic_cpu
        cpuif = _v2(vcpu)
        used = vgic_cpu.used_lrs
        cost = self.save_fixed_ns
        hcr = gich.read_hcr()
        if hcr & GICH_HCR_EN:
            misr = gich.read_misr()
            if misr:
                vgic_maintenance(vcpu, cpu, misr)
                if misr & GICH_MISR_VGRP_ANY:
                    # the guest changed a group enable: the saved VMCR must follow before
                    # the next configure_hcr (else its enables ask for the same exit again)
                    cpuif.vgic_vmcr = gich.read_vmcr()
        # EOICount only when LRENPIE was asked for (active irqs outside the LRs)
        vgic_cpu.eoicount = hcr >> GICH_HCR_EOICOUNT_SHIFT if cpuif.vgic_hcr & GICH_HCR_LRENPIE else 0
        if used:
            elrsr = gich.read_elrsr()
            lrs = cpuif.vgic_lr
            for i in range(used):
                if elrsr >> i & 1:
                    lrs[i] &= ~GICH_LR_STATE
                else:
                    lrs[i] = gich.read_lr(i)
                gich.write_lr(i, 0)
            gich.write_hcr(0)
            cost += used * self.lr_save_ns
        elif hcr:
            gich.write_hcr(0)
        return cost

    def restore_state(self, vcpu: KvmVcpu, cpu: int) -> int:
        """``__vgic_v2_restore_state``: GICH_HCR, then each used LR (``gic_lr_entry`` events)."""
        used = vcpu.vgic_cpu.used_lrs
        if not used:
            return self.restore_fixed_ns
        gich = self.vctrl[cpu]
        cpuif = _v2(vcpu)
        lrs = cpuif.vgic_lr
        gich.write_hcr(cpuif.vgic_hcr)
        ev = vcpu.ev_lr_write
        live = ev.live
        if live:
            ev.cpu = cpu
        for i in range(used):
            gich.write_lr(i, lrs[i])
            if live:
                ev.lr = i
                ev.value = lrs[i]
                ev.emit()
        return self.restore_fixed_ns + used * self.lr_restore_ns

    def load(self, vcpu: KvmVcpu, cpu: int) -> int:
        """``vgic_v2_load``: restore GICH_VMCR and GICH_APR."""
        gich = self.vctrl[cpu]
        cpuif = _v2(vcpu)
        gich.write_vmcr(cpuif.vgic_vmcr)
        gich.write_apr(cpuif.vgic_apr)
        return 2 * self.lr_restore_ns

    def put(self, vcpu: KvmVcpu, cpu: int) -> int:
        """``vgic_v2_put``: save GICH_VMCR and GICH_APR."""
        gich = self.vctrl[cpu]
        cpuif = _v2(vcpu)
        cpuif.vgic_vmcr = gich.read_vmcr()
        cpuif.vgic_apr = gich.read_apr()
        return 2 * self.lr_save_ns

    # ---------------------------------------------------------------- trapped GICV_DIR
    def deactivate(self, vcpu: KvmVcpu, val: int) -> None:
        """``vgic_v2_deactivate``: a trapped GICV_DIR write.  The CPUID field (bits [12:10])
        is taken out of the INTID; KVM only deals with DIR when EOImode == 1 (GICH_VMCR.VEM;
        with EOImode 0 the write is ignored); an SGI is deactivated only when the CPUID
        matches the source it is active from (``active_source``)."""
        cpuid = (val >> GICH_LR_PHYSID_CPUID_SHIFT) & 7
        intid = val & ~(7 << GICH_LR_PHYSID_CPUID_SHIFT)
        cpu = vcpu.cpu
        vmcr = self.vctrl[cpu.index].read_vmcr() if cpu is not None else _v2(vcpu).vgic_vmcr
        if not vmcr & GICH_VMCR_EOI_MODE_MASK:
            return
        if intid < VGIC_NR_SGIS:
            irq = vgic_get_irq(vcpu.kvm, vcpu, intid)
            if irq is not None and irq.active_source != cpuid:
                return
        vgic_deactivate(vcpu, intid)

    def _dir_page_access(self, vcpu: KvmVcpu, addr: int, value: int, size: int, is_write: bool) -> int:
        """The trapped GICV_DIR page: a write at offset 0 deactivates; the rest is RAZ/WI."""
        if is_write and addr == self.vcpu_base + GIC_VCPU_DIR_PAGE:
            self.deactivate(vcpu, value)
        return 0
