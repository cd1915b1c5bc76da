"""The GICv3 back end of the vgic (arch/arm64/kvm/vgic/vgic-v3.c, hyp/vgic-v3-sr.c) for
GICv3 guests on a GICv3/v4 host.

:class:`VgicV3Ops` implements :class:`~irqfwd.host.kvm.kvm_host.VgicOps` over the ICH_*_EL2
system registers of the pCPU the vCPU runs on (register and field names from
:mod:`irqfwd.host.irqchip.arm_gic_v3`):

* :func:`vgic_v3_probe`: ``nr_lr`` = ICH_VTR_EL2.ListRegs + 1, GICv4 when the host ITS has
  it (``gic_kvm_info.has_v4``) and ``kvm-arm.vgic_v4_enable`` is set;
* :meth:`VgicV3Ops.populate_lr` (``vgic_v3_populate_lr``): 64-bit ICH_LR<n>_EL2 with the
  vINTID (LPIs included), 8-bit priority, Group, HW + pINTID for mapped irqs (never
  pending+active, 3d6e77ad1489), EOI for level non-HW irqs;
* :meth:`VgicV3Ops.fold_lr_state` (``vgic_v3_fold_lr_state``): the GICv2 rules; an LPI keeps
  no active state (``vgic_v3_fold_lr``); then ICH_HCR_EL2.EOIcount;
* ICH_HCR_EL2: ``vgic_v3_set_underflow`` (UIE, kernel profiles up to 2025) or
  ``vgic_v3_configure_hcr`` (the current profile: En, NPIE/LRENPIE/UIE from what stayed out
  of the LRs, vSGIEOICount when no SGI of the ap_list targets the vCPU (``nr_sgi`` of
  ``summarize_ap_list``), VGrp0/1 DIE or EIE from ICH_VMCR_EL2, and
  TDIR while an active interrupt is outside the LRs or an SPI is in flight, the
  ``active_spis`` rule of "KVM: arm64: GICv3: Add SPI tracking to handle asymmetric
  deactivation", 2025);
* world switch (``__vgic_v3_save_state`` / ``__vgic_v3_restore_state``): ICH_MISR_EL2
  (maintenance accounting), ICH_ELRSR_EL2, the used LRs (``gicv3_ich_lr_write`` events),
  ICH_HCR_EL2 (written whenever LRs are used or the vCPU has a GICv4 vPE, whose vLPIs need
  ICH_HCR_EL2.En);
* ``vgic_v3_load`` / ``vgic_v3_put``: ICH_VMCR_EL2 and ICH_AP0R<n>/AP1R<n>_EL2, then
  ``vgic_v4_load`` / before them ``vgic_v4_put`` (:mod:`irqfwd.host.kvm.vgic_v4`);
* trapped GIC system registers (``kvm_handle_sys_reg``, a ``SYS64`` exit):
  ICC_SGI1R_EL1 → :func:`vgic_v3_dispatch_sgi`; ICC_DIR_EL1 with TDIR →
  ``vgic_v3_deactivate`` (the core's :func:`~irqfwd.host.kvm.vgic.vgic_deactivate`).

The guest's virtual CPU interface (ICV_*_EL1) needs no mapping: there is no memory-mapped
CPU interface; its distributor and redistributors are emulated
(:mod:`irqfwd.host.kvm.vgic_mmio_v3`).
"""

from __future__ import annotations

from typing import Final

from irqfwd.host.genirq import IRQCHIP_STATE_PENDING
from irqfwd.host.irqchip.arm_gic_v3 import (
    ICH_HCR_EL2_EN,
    ICH_HCR_EL2_EOICOUNT_SHIFT,
    ICH_HCR_EL2_LRENPIE,
    ICH_HCR_EL2_NPIE,
    ICH_HCR_EL2_TDIR,
    ICH_HCR_EL2_UIE,
    ICH_HCR_EL2_VGRP0DIE,
    ICH_HCR_EL2_VGRP0EIE,
    ICH_HCR_EL2_VGRP1DIE,
    ICH_HCR_EL2_VGRP1EIE,
    ICH_HCR_EL2_VSGIEOICOUNT,
    ICH_LR_ACTIVE_BIT,
    ICH_LR_EOI,
    ICH_LR_GROUP,
    ICH_LR_HW,
    ICH_LR_PENDING_BIT,
    ICH_LR_PHYS_ID_SHIFT,
    ICH_LR_PRIORITY_SHIFT,
    ICH_LR_STATE,
    ICH_LR_VIRTUAL_ID_MASK,
    ICH_MISR_EL2_VGRP_ANY,
    ICH_VMCR_EL2_VBPR0_SHIFT,
    ICH_VMCR_EL2_VBPR1_SHIFT,
    ICH_VMCR_EL2_VCBPR_SHIFT,
    ICH_VMCR_EL2_VENG0,
    ICH_VMCR_EL2_VENG1,
    ICH_VMCR_EL2_VEOIM,
    ICH_VMCR_EL2_VEOIM_SHIFT,
    ICH_VMCR_EL2_VPMR_SHIFT,
    ICH_VTR_EL2_LISTREGS,
)
from irqfwd.host.irqchip.arm_vgic_info import GicKvmInfo
from irqfwd.host.kvm.arm_vgic import (
    VGIC_CONFIG_EDGE,
    VGIC_CONFIG_LEVEL,
    VGIC_MIN_LPI,
    VGIC_NR_PRIVATE_IRQS,
    VgicV3CpuIf,
    VgicVmcr,
)
from irqfwd.host.kvm.events import GicV3IchLrWrite
from irqfwd.host.kvm.kvm_host import Kvm, KvmVcpu, VgicIrq, VgicOps
from irqfwd.host.kvm.vgic import (
    kvm_notify_acked_irq,
    vgic_deactivate,
    vgic_eoicount_irqs,
    vgic_get_irq,
    vgic_irq_handle_resampling,
    vgic_irq_set_phys_active,
    vgic_maintenance,
    vgic_queue_irq_unlock,
)
from irqfwd.host.kvm.vgic_v4 import vgic_v4_init, vgic_v4_load, vgic_v4_put
from irqfwd.hw.gicv3.gic import GICv3
from irqfwd.hw.gicv3.virt_interface import VirtInterface
from irqfwd.hw.machine import Machine

__all__ = ["VgicV3Ops", "lr_signals_eoi_mi", "vgic_v3_dispatch_sgi", "vgic_v3_probe"]

_ICH_VTR_EL2_PREBITS_SHIFT: Final = 26


def lr_signals_eoi_mi(val: int) -> bool:
    """``lr_signals_eoi_mi``: the LR is invalid, has the EOI bit and no HW bit."""
    return not (val & (ICH_LR_STATE | ICH_LR_HW)) and bool(val & ICH_LR_EOI)


def vgic_v3_probe(gic: GICv3) -> tuple[int, int]:
    """``vgic_v3_probe``: the number of list registers (ICH_VTR_EL2.ListRegs + 1) and of
    active-priority registers per group (ICH_VTR_EL2.PREbits)."""
    vtr = gic.virt[0].read_vtr()
    prebits = ((vtr >> _ICH_VTR_EL2_PREBITS_SHIFT) & 7) + 1
    return (vtr & ICH_VTR_EL2_LISTREGS) + 1, 1 << (prebits - 5)


def _v3(vcpu: KvmVcpu) -> VgicV3CpuIf:
    cif = vcpu.vgic_cpu.vgic_v3
    assert cif is not None
    return cif


def vgic_v3_dispatch_sgi(vcpu: KvmVcpu, reg: int, allow_group1: bool) -> None:
    """``vgic_v3_dispatch_sgi`` (vgic-mmio-v3.c): a trapped ICC_SGI1R_EL1 write.  IRM = 1
    targets every other vCPU, else those of affinity Aff3.Aff2.Aff1 whose Aff0 is in the
    target list (KVM's vCPU MPIDR: Aff0 = vcpu_id & 15, Aff1 = vcpu_id >> 4); a Group 1 SGI
    becomes pending (``vgic_v3_queue_sgi``), through the vPE's vSGI when it is a HW
    interrupt (GICv4.1, ``irq_set_irqchip_state``)."""
    kvm = vcpu.kvm
    sgi = (reg >> 24) & 0xF
    broadcast = bool(reg >> 40 & 1)
    aff321 = (reg >> 48 & 0xFF) << 16 | (reg >> 32 & 0xFF) << 8 | (reg >> 16 & 0xFF)
    target_list = reg & 0xFFFF
    m = kvm.m
    for c in kvm.vcpus:
        if broadcast:
            if c is vcpu:
                continue
        elif c.vcpu_id >> 4 != aff321 or not target_list >> (c.vcpu_id & 15) & 1:
            continue
        irq = c.vgic_cpu.private_irqs[sgi]
        if not (irq.group or allow_group1):
            continue
        m.acc += kvm.vgic.inject_ns
        if irq.hw:
            kvm.host.genirq.irq_set_irqchip_state(irq.host_irq, IRQCHIP_STATE_PENDING, True,
                                                  kvm.current_pcpu())
            continue
        irq.pending_latch = True
        vgic_queue_irq_unlock(kvm, irq)


class VgicV3Ops(VgicOps):
    """The GICv3 list-register back end (see the module docstring)."""

    name = "GICv3"

    def __init__(self, machine: Machine, info: GicKvmInfo, nr_lr: int, nr_apr: int) -> None:
        gic = machine.gic
        if not isinstance(gic, GICv3):
            raise TypeError("the vgic-v3 back end needs a GICv3 host")
        self.m = machine
        self.gic = gic
        self.virt: list[VirtInterface] = list(gic.virt)
        """The ICH_*_EL2 registers of each pCPU."""
        self.nr_lr = nr_lr
        self.nr_apr = nr_apr
        self.has_v4 = info.has_v4
        self.has_gicv4 = info.has_v4
        """Only then can a vCPU get a vPE (``its_vpe``, ``vgic_v4_init`` in :meth:`map_resources`)."""
        self.has_v4_1 = info.has_v4_1
        c = machine.costs
        self.save_fixed_ns = c.gich_save_fixed_ns
        self.restore_fixed_ns = c.gich_restore_fixed_ns
        self.lr_save_ns = c.lr_save_ns
        self.lr_restore_ns = c.lr_restore_ns
        self.sysreg_ns = c.hypercall_ns
        """``kvm_handle_sys_reg``: the exit handler's dispatch of a trapped system register
        (assumed to cost what a hypercall's handler does: ``hypercall_ns``)."""

    # ---------------------------------------------------------------- set-up
    def vcpu_init(self, vcpu: KvmVcpu) -> None:
        """``vgic_v3_enable``: VMCR 0 (the binary points reset to their minimum), En; a
        GICv3 guest's interrupts are Group 1 (``kvm_vgic_vcpu_init``)."""
        ev = self.m.recorder.site(GicV3IchLrWrite(vcpu=vcpu.vcpu_id, vm=vcpu.kvm.index))
        cif = VgicV3CpuIf(self.nr_lr, self.nr_apr, ICH_HCR_EL2_EN, ev)
        vcpu.vgic_cpu.vgic_v3 = cif
        for irq in vcpu.vgic_cpu.private_irqs:
            irq.group = 1

    def map_resources(self, kvm: Kvm) -> None:
        """``vgic_v3_map_resources``: SPIs Group 1 (``kvm_vgic_dist_init``); with
        ``kvm-arm.vgic_v4_enable`` on a GICv4 host, ``vgic_v4_init``.  Nothing to map in
        stage 2: the guest's CPU interface is the ICV system registers."""
        for irq in kvm.vgic.spis:
            irq.group = 1
        its = getattr(kvm.host.irqchip, "its", None)
        if kvm.vgic.options.vgic_v4_enable and self.has_v4 and its is not None:
            vgic_v4_init(kvm, its, self.has_v4_1)

    # ---------------------------------------------------------------- list registers
    def populate_lr(self, vcpu: KvmVcpu, irq: VgicIrq, lr: int) -> None:
        """``vgic_v3_populate_lr``."""
        opts = vcpu.kvm.vgic.options
        val = irq.intid
        allow_pending = True
        if irq.active:
            val |= ICH_LR_ACTIVE_BIT
        if irq.hw and not irq.needs_resampling():
            val |= ICH_LR_HW | (irq.hwintid << ICH_LR_PHYS_ID_SHIFT)
            # never pending+active on a HW interrupt (3d6e77ad1489), unless a fault design
            if irq.active and not opts.hw_lr_pending_active:
                allow_pending = False
        elif irq.config == VGIC_CONFIG_LEVEL:
            if opts.level_eoi_bit:
                val |= ICH_LR_EOI
            if irq.active:
                allow_pending = False  # software resampling and P+A (67b5b673ad4d)
        if allow_pending and irq.irq_is_pending():
            val |= ICH_LR_PENDING_BIT
            if irq.config == VGIC_CONFIG_EDGE:
                irq.pending_latch = False
        if val & ICH_LR_PENDING_BIT and irq.is_mapped_level() and opts.mapped_level_lower_line:
            irq.line_level = False
        if irq.group:
            val |= ICH_LR_GROUP
        val |= irq.priority << ICH_LR_PRIORITY_SHIFT
        _v3(vcpu).vgic_lr[lr] = val
        irq.on_lr = True

    def clear_lr(self, vcpu: KvmVcpu, lr: int) -> None:
        """``vgic_v3_clear_lr``."""
        _v3(vcpu).vgic_lr[lr] = 0

    def set_underflow(self, vcpu: KvmVcpu) -> None:
        """``vgic_v3_set_underflow``: ICH_HCR_EL2.UIE."""
        _v3(vcpu).vgic_hcr |= ICH_HCR_EL2_UIE

    def configure_hcr(self, vcpu: KvmVcpu, pending_outside: bool, active_outside: bool,
                      nr_sgi: int) -> None:
        """``vgic_v3_configure_hcr`` (see the module docstring); vSGIEOICount when no SGI
        targets the vCPU (``!als->nr_sgi``)."""
        cif = _v3(vcpu)
        hcr = ICH_HCR_EL2_EN
        if pending_outside:
            hcr |= ICH_HCR_EL2_NPIE
        if active_outside:
            hcr |= ICH_HCR_EL2_LRENPIE
        if pending_outside or active_outside:
            hcr |= ICH_HCR_EL2_UIE
        if not nr_sgi:
            hcr |= ICH_HCR_EL2_VSGIEOICOUNT
        vmcr = cif.vgic_vmcr
        hcr |= ICH_HCR_EL2_VGRP0DIE if vmcr & ICH_VMCR_EL2_VENG0 else ICH_HCR_EL2_VGRP0EIE
        hcr |= ICH_HCR_EL2_VGRP1DIE if vmcr & ICH_VMCR_EL2_VENG1 else ICH_HCR_EL2_VGRP1EIE
        if active_outside or self._active_spis(vcpu.kvm):
            hcr |= ICH_HCR_EL2_TDIR
        cif.vgic_hcr = hcr

    @staticmethod
    def _active_spis(kvm: Kvm) -> bool:
        """``dist->active_spis`` != 0: an SPI of the VM is in flight (on an ap_list)."""
        for v in kvm.vcpus:
            for irq in v.vgic_cpu.ap_list:
                if VGIC_NR_PRIVATE_IRQS <= irq.intid < VGIC_MIN_LPI:
                    return True
        return False

    def fold_lr_state(self, vcpu: KvmVcpu) -> None:
        """``vgic_v3_fold_lr_state``: every used LR (``vgic_v3_fold_lr``), then the EOIs
        ICH_HCR_EL2.EOIcount counted (:meth:`_eoicount_irqs`)."""
        vgic_cpu = vcpu.vgic_cpu
        cif = _v3(vcpu)
        cif.vgic_hcr &= ~ICH_HCR_EL2_UIE
        eoicount = vgic_cpu.eoicount
        overflow: list[VgicIrq] | None = None
        if eoicount:
            # chosen before the LRs are folded, while ``on_lr`` still tells them apart
            vgic_cpu.eoicount = 0
            overflow = self._eoicount_irqs(vcpu, eoicount)
        for lr in range(vgic_cpu.used_lrs):
            self._fold_lr(vcpu, cif.vgic_lr[lr])
        vgic_cpu.used_lrs = 0
        if overflow is not None:
            for irq in overflow:
                self.fold_deactivated(vcpu, irq)

    def _fold_lr(self, vcpu: KvmVcpu, val: int) -> None:
        """``vgic_v3_fold_lr``: one saved LR back into its irq."""
        kvm = vcpu.kvm
        intid = val & ICH_LR_VIRTUAL_ID_MASK
        if lr_signals_eoi_mi(val) and VGIC_NR_PRIVATE_IRQS <= intid < VGIC_NR_PRIVATE_IRQS + kvm.vgic.nr_spis:
            kvm_notify_acked_irq(kvm, intid - VGIC_NR_PRIVATE_IRQS)
        irq = vgic_get_irq(kvm, vcpu, intid)
        if irq is None:  # an LPI could have been unmapped
            return
        irq.on_lr = False
        if intid >= VGIC_MIN_LPI:
            val &= ~ICH_LR_ACTIVE_BIT  # LPIs keep no active state
        deactivated = irq.active and not (val & ICH_LR_ACTIVE_BIT)
        irq.active = bool(val & ICH_LR_ACTIVE_BIT)
        if irq.config == VGIC_CONFIG_EDGE and val & ICH_LR_PENDING_BIT:
            irq.pending_latch = True
        if irq.config == VGIC_CONFIG_LEVEL and not (val & ICH_LR_STATE):
            irq.pending_latch = False
        vgic_irq_handle_resampling(kvm, irq, deactivated, bool(val & ICH_LR_PENDING_BIT))

    def _eoicount_irqs(self, vcpu: KvmVcpu, eoicount: int) -> list[VgicIrq]:
        """The irqs that EOIs no LR matched (ICH_HCR_EL2.EOIcount) deactivated: with EOImode
        0, the first ``eoicount`` active irqs of the ap_list that are not in an LR (the 2025
        LR-overflow handling).  With EOImode 1 the EOIR was a priority drop only."""
        vcpu.kvm.m.recorder.count("eoicount", eoicount)
        if _v3(vcpu).vgic_vmcr & ICH_VMCR_EL2_VEOIM:
            return []
        return vgic_eoicount_irqs(vcpu, eoicount)

    def fold_deactivated(self, vcpu: KvmVcpu, irq: VgicIrq) -> None:
        val = self._deactivated_lr(vcpu, irq)
        if val & ICH_LR_HW:
            vgic_irq_set_phys_active(vcpu.kvm, irq, False)  # Linux writes ICC_DIR_EL1
        self._fold_lr(vcpu, val)

    @staticmethod
    def _deactivated_lr(vcpu: KvmVcpu, irq: VgicIrq) -> int:
        """The LR ``vgic_v3_compute_lr`` gives the active ``irq``, without its Active bit and
        without :meth:`populate_lr`'s side effects."""
        opts = vcpu.kvm.vgic.options
        val = irq.intid
        if irq.hw and not irq.needs_resampling():
            val |= ICH_LR_HW | (irq.hwintid << ICH_LR_PHYS_ID_SHIFT)
            allow_pending = opts.hw_lr_pending_active
        elif irq.config == VGIC_CONFIG_LEVEL:
            if opts.level_eoi_bit:
                val |= ICH_LR_EOI
            allow_pending = False
        else:
            allow_pending = True
        if allow_pending and irq.irq_is_pending():
            val |= ICH_LR_PENDING_BIT
        return val

    # ---------------------------------------------------------------- VMCR
    def get_vmcr(self, vcpu: KvmVcpu, vmcr: VgicVmcr) -> None:
        """``vgic_v3_get_vmcr``: VFIQEn reads 1 and VAckCtl 0 with SRE = 1."""
        v = _v3(vcpu).vgic_vmcr
        vmcr.fiqen = 1
        vmcr.ackctl = 0
        vmcr.cbpr = (v >> ICH_VMCR_EL2_VCBPR_SHIFT) & 1
        vmcr.eoim = (v >> ICH_VMCR_EL2_VEOIM_SHIFT) & 1
        vmcr.abpr = (v >> ICH_VMCR_EL2_VBPR1_SHIFT) & 7
        vmcr.bpr = (v >> ICH_VMCR_EL2_VBPR0_SHIFT) & 7
        vmcr.pmr = (v >> ICH_VMCR_EL2_VPMR_SHIFT) & 0xFF
        vmcr.grpen0 = v & 1
        vmcr.grpen1 = (v >> 1) & 1

    def vmcr_sync(self, vcpu: KvmVcpu, cpu: int) -> None:
        """``vgic_v3_vmcr_sync``: ICH_VMCR_EL2 of the loaded vCPU into its saved state."""
        _v3(vcpu).vgic_vmcr = self.virt[cpu].read_vmcr()

    # ---------------------------------------------------------------- world switch
    def save_state(self, vcpu: KvmVcpu, cpu: int) -> int:
        """``__vgic_v3_save_state``: ICH_MISR_EL2 (maintenance accounting), EOIcount (kept
        only when ICH_HCR_EL2.LRENPIE was set),
        ICH_ELRSR_EL2 and each used LR (read unless empty, then zeroed), ICH_HCR_EL2 = 0.
        Returns the cost in ns."""
        ich = self.virt[cpu]
        vgic_cpu = vcpu.vgic_cpu
        cif = _v3(vcpu)
        used = vgic_cpu.used_lrs
        cost = self.save_fixed_ns
        hcr = ich.read_hcr()
        if hcr & ICH_HCR_EL2_EN:
            misr = ich.read_misr()
            if misr:
                vgic_maintenance(vcpu, cpu, misr)
                if misr & ICH_MISR_EL2_VGRP_ANY:
                    cif.vgic_vmcr = ich.read_vmcr()
        # EOIcount only when LRENPIE was asked for (active irqs outside the LRs)
        vgic_cpu.eoicount = hcr >> ICH_HCR_EL2_EOICOUNT_SHIFT if cif.vgic_hcr & ICH_HCR_EL2_LRENPIE else 0
        if used:
            elrsr = ich.read_elrsr()
            lrs = cif.vgic_lr
            for i in range(used):
                if elrsr >> i & 1:
                    lrs[i] &= ~ICH_LR_STATE
                else:
                    lrs[i] = ich.read_lr(i)
                ich.write_lr(i, 0)
            cost += used * self.lr_save_ns
        if hcr:
            ich.write_hcr(0)
        return cost

    def restore_state(self, vcpu: KvmVcpu, cpu: int) -> int:
        """``__vgic_v3_restore_state``: ICH_HCR_EL2 (when LRs are used or the vCPU has a
        vPE), then each used LR (``gicv3_ich_lr_write`` events)."""
        used = vcpu.vgic_cpu.used_lrs
        cif = _v3(vcpu)
        if not used and cif.its_vpe is None:
            return self.restore_fixed_ns
        ich = self.virt[cpu]
        ich.write_hcr(cif.vgic_hcr)
        lrs = cif.vgic_lr
        ev = cif.ev_lr_write
        live = ev.live
        if live:
            ev.cpu = cpu
        for i in range(used):
            ich.write_lr(i, lrs[i])
            if live:
                ev.lr = i
                ev.value = lrs[i]
                ev.emit()
        return self.restore_fixed_ns + used * self.lr_restore_ns

    def load(self, vcpu: KvmVcpu, cpu: int) -> int:
        """``vgic_v3_load``: ICH_VMCR_EL2 and the active priorities
        (``__vgic_v3_restore_vmcr_aprs``), then ``vgic_v4_load``."""
        ich = self.virt[cpu]
        cif = _v3(vcpu)
        ich.write_vmcr(cif.vgic_vmcr)
        for n in range(self.nr_apr):
            ich.write_ap0r(n, cif.vgic_ap0r[n])
            ich.write_ap1r(n, cif.vgic_ap1r[n])
        cost = 2 * self.lr_restore_ns
        if cif.its_vpe is not None:
            cost += vgic_v4_load(vcpu, cpu, self.has_v4_1)
        return cost

    def put(self, vcpu: KvmVcpu, cpu: int) -> int:
        """``vgic_v3_put``: ``vgic_v4_put``, then save ICH_VMCR_EL2 and the active priorities."""
        cif = _v3(vcpu)
        cost = 0
        if cif.its_vpe is not None:
            cost += vgic_v4_put(vcpu, self.has_v4_1)
        ich = self.virt[cpu]
        cif.vgic_vmcr = ich.read_vmcr()
        for n in range(self.nr_apr):
            cif.vgic_ap0r[n] = ich.read_ap0r(n)
            cif.vgic_ap1r[n] = ich.read_ap1r(n)
        return cost + 2 * self.lr_save_ns

    # ---------------------------------------------------------------- GICv4 hooks
    def v4_put(self, vcpu: KvmVcpu, cpu: int) -> int:
        """``vgic_v4_put`` from ``kvm_vcpu_wfi``: the vPE leaves with its doorbell enabled."""
        if _v3(vcpu).its_vpe is None:
            return 0
        return vgic_v4_put(vcpu, self.has_v4_1)

    def v4_load(self, vcpu: KvmVcpu, cpu: int) -> int:
        """``vgic_v4_load`` after the halt."""
        if _v3(vcpu).its_vpe is None:
            return 0
        return vgic_v4_load(vcpu, cpu, self.has_v4_1)

    def vcpu_pending_direct(self, vcpu: KvmVcpu) -> bool:
        """``its_vpe.pending_last``."""
        vpe = _v3(vcpu).its_vpe
        return vpe is not None and bool(vpe.pending_last)

    def has_direct_irqs(self, vcpu: KvmVcpu) -> bool:
        """``its_vpe.vlpi_count`` or ``nassgireq`` (``vcpu_clear_wfx_traps``)."""
        vpe = _v3(vcpu).its_vpe
        return vpe is not None and (vpe.vlpi_count > 0 or vcpu.kvm.vgic.nassgireq)

    # ---------------------------------------------------------------- trapped sysregs
    def access_sysreg(self, vcpu: KvmVcpu, name: str, value: int, is_write: bool) -> int:
        """``kvm_handle_sys_reg``: ICC_SGI1R_EL1 (``access_gic_sgi`` →
        :func:`vgic_v3_dispatch_sgi`) and, with TDIR, ICC_DIR_EL1 (``vgic_v3_deactivate``)."""
        self.m.acc += self.sysreg_ns
        if name == "ICC_SGI1R_EL1" and is_write:
            vgic_v3_dispatch_sgi(vcpu, value, True)
            return 0
        if name == "ICC_DIR_EL1" and is_write:
            self.deactivate(vcpu, value)
            return 0
        return super().access_sysreg(vcpu, name, value, is_write)

    def deactivate(self, vcpu: KvmVcpu, val: int) -> None:
        """``vgic_v3_deactivate``: only with EOImode 1, only SGIs, PPIs and SPIs."""
        intid = val & 0xFF_FFFF
        cpu = vcpu.cpu
        vmcr = self.virt[cpu.index].read_vmcr() if cpu is not None else _v3(vcpu).vgic_vmcr
        if not vmcr & ICH_VMCR_EL2_VEOIM or intid >= vcpu.kvm.vgic.nr_spis + VGIC_NR_PRIVATE_IRQS:
            return
        vgic_deactivate(vcpu, intid)
