"""The distributor and redistributors KVM emulates for a GICv3 guest
(arch/arm64/kvm/vgic/vgic-mmio-v3.c).

:class:`VgicMmioV3` registers on ``KVM_MMIO_BUS`` the GICD frame (64 KiB,
``vgic_v3_dist_registers``) and, per vCPU, its redistributor: RD_base and SGI_base, 64 KiB
each (``vgic_v3_rd_registers``, ``vgic_v3_sgibase_registers``: KVM gives its guests GICv3
redistributors, without VLPI frames, whatever the host is).  Every access traps
(``DABT_LOW``).  The per-interrupt registers use the handlers shared with the GICv2
distributor (:mod:`irqfwd.host.kvm.vgic_mmio`: ``vgic_mmio_read_enable``,
``vgic_mmio_write_senable``, ...); GICv3 adds:

* GICD_CTLR: EnableGrp1A, ARE_NS and DS read as one, nASSGIreq writable on a GICv4.1 host
  with ``kvm-arm.vgic_v4_enable`` while the distributor is disabled: switching it moves the
  SGIs to or from direct injection (``vgic_mmio_write_v3_misc`` →
  ``vgic_v4_configure_vsgis``); GICD_TYPER (ITLinesNumber, LPIS with an ITS, IDbits 16),
  GICD_TYPER2.nASSGIcap;
* GICD_IGROUPR (``vgic_mmio_write_group``), GICD_IROUTER<n> (``vgic_mmio_write_irouter``:
  the SPI's target vCPU by affinity, Aff0 = vcpu_id & 15, Aff1 = vcpu_id >> 4);
* GICR_CTLR.EnableLPIs (``vgic_mmio_write_v3r_ctlr``), GICR_TYPER (Processor_Number,
  Last, PLPIS, Affinity), GICR_WAKER (RAZ/WI), GICR_PROPBASER (``dist->propbaser``, shared)
  and GICR_PENDBASER;
* SGIs that are GICv4.1 vSGIs (``irq.hw``): GICR_ISENABLER0/ICENABLER0 enable or disable
  the host's vSGI irq, GICR_IPRIORITYR updates it (``vgic_update_vsgi``), GICR_ISPENDR0
  makes it pending in the vPE.
"""

from __future__ import annotations

from typing import Final

from irqfwd.host.genirq import IRQCHIP_STATE_PENDING
from irqfwd.host.irqchip.arm_gic_v3 import (
    GICD_CTLR,
    GICD_CTLR_ARE_NS,
    GICD_CTLR_DS,
    GICD_CTLR_ENABLE_G1A,
    GICD_CTLR_NASSGIREQ,
    GICD_IIDR,
    GICD_IROUTER,
    GICD_TYPER,
    GICD_TYPER2,
    GICD_TYPER2_NASSGICAP,
    GICR_CTLR,
    GICR_CTLR_ENABLE_LPIS,
    GICR_IIDR,
    GICR_PENDBASER,
    GICR_PROPBASER,
    GICR_SGI_BASE,
    GICR_TYPER,
    GICR_TYPER_LAST,
    GICR_TYPER_PLPIS,
    PROP_UPDATE_VSGI,
)
from irqfwd.host.irqchip.irq_gic_v3_its import ItsCmdInfo
from irqfwd.host.kvm.arm_vgic import VGIC_NR_PRIVATE_IRQS, VGIC_NR_SGIS
from irqfwd.host.kvm.kvm_host import Kvm, KvmVcpu, VgicIrq
from irqfwd.host.kvm.vgic import vgic_get_irq, vgic_queue_irq_unlock
from irqfwd.host.kvm.vgic_its import VgicIts
from irqfwd.host.kvm.vgic_mmio import (
    IMPLEMENTER_ARM,
    PRODUCT_ID_KVM,
    VgicMmio,
    VgicReg,
    _read_active,
    _read_config,
    _read_enable,
    _read_pending,
    _read_priority,
    _write_cactive,
    _write_config,
    _write_cpending,
    _write_priority,
    _write_sactive,
    _write_senable,
    _write_spending,
)
from irqfwd.host.kvm.vgic_v4 import vgic_v4_configure_vsgis

__all__ = ["KVM_VGIC_V3_DIST_SIZE", "KVM_VGIC_V3_REDIST_SIZE", "VgicMmioV3"]

KVM_VGIC_V3_DIST_SIZE: Final = 0x10000
KVM_VGIC_V3_REDIST_SIZE: Final = 2 * 0x10000
"""RD_base + SGI_base per vCPU."""
_LPI_ID_BITS: Final = 16


# ------------------------------------------------------------------ v3-only per-irq fields
def _read_group(mm: VgicMmioV3, vcpu: KvmVcpu, irq: VgicIrq, ua: bool) -> int:
    return irq.group


def _write_group(mm: VgicMmioV3, vcpu: KvmVcpu, irq: VgicIrq, v: int, ua: bool) -> None:
    """``vgic_mmio_write_group``."""
    irq.group = v & 1
    if irq.hw and irq.intid < VGIC_NR_SGIS:
        _update_vsgi(mm, irq)
    vgic_queue_irq_unlock(mm.kvm, irq)


def _update_vsgi(mm: VgicMmioV3, irq: VgicIrq) -> None:
    """``vgic_update_vsgi``: ``its_prop_update_vsgi`` with the SGI's priority and group."""
    mm.kvm.host.genirq.irq_set_vcpu_affinity(
        irq.host_irq, ItsCmdInfo(PROP_UPDATE_VSGI, priority=irq.priority, group=bool(irq.group)))


def _write_senable_v3(mm: VgicMmioV3, vcpu: KvmVcpu, irq: VgicIrq, v: int, ua: bool) -> None:
    """``vgic_mmio_write_senable``: a vSGI enables its host irq (VSGI enable)."""
    if irq.hw and irq.intid < VGIC_NR_SGIS:
        if not irq.enabled:
            irq.enabled = True
            genirq = mm.kvm.host.genirq
            while genirq.irq_get_irq_data(irq.host_irq).irqd_irq_disabled():
                genirq.enable_irq(irq.host_irq)
        return
    _write_senable(mm, vcpu, irq, v, ua)


def _write_cenable_v3(mm: VgicMmioV3, vcpu: KvmVcpu, irq: VgicIrq, v: int, ua: bool) -> None:
    """``vgic_mmio_write_cenable``: a vSGI disables its host irq."""
    if irq.hw and irq.intid < VGIC_NR_SGIS:
        if irq.enabled:
            irq.enabled = False
            mm.kvm.host.genirq.disable_irq_nosync(irq.host_irq)
        return
    irq.enabled = False


def _write_priority_v3(mm: VgicMmioV3, vcpu: KvmVcpu, irq: VgicIrq, v: int, ua: bool) -> None:
    """``vgic_mmio_write_priority`` (+ ``vgic_update_vsgi`` for a vSGI)."""
    _write_priority(mm, vcpu, irq, v, ua)
    if irq.hw and irq.intid < VGIC_NR_SGIS:
        _update_vsgi(mm, irq)


def _write_spending_v3(mm: VgicMmioV3, vcpu: KvmVcpu, irq: VgicIrq, v: int, ua: bool) -> None:
    """``vgic_mmio_write_spending``: a vSGI becomes pending in its vPE."""
    if irq.hw and irq.intid < VGIC_NR_SGIS:
        kvm = mm.kvm
        kvm.host.genirq.irq_set_irqchip_state(irq.host_irq, IRQCHIP_STATE_PENDING, True,
                                              kvm.current_pcpu())
        return
    _write_spending(mm, vcpu, irq, v, ua)


_PER_IRQ: tuple[VgicReg, ...] = (
    VgicReg("IGROUPR", 0x080, 0x80, 1, _read_group, _write_group),
    VgicReg("ISENABLER", 0x100, 0x80, 1, _read_enable, _write_senable_v3, True),
    VgicReg("ICENABLER", 0x180, 0x80, 1, _read_enable, _write_cenable_v3, True),
    VgicReg("ISPENDR", 0x200, 0x80, 1, _read_pending, _write_spending_v3, True),
    VgicReg("ICPENDR", 0x280, 0x80, 1, _read_pending, _write_cpending, True),
    VgicReg("ISACTIVER", 0x300, 0x80, 1, _read_active, _write_sactive, True),
    VgicReg("ICACTIVER", 0x380, 0x80, 1, _read_active, _write_cactive, True),
    VgicReg("IPRIORITYR", 0x400, 0x400, 8, _read_priority, _write_priority_v3),
    VgicReg("ICFGR", 0xC00, 0x100, 2, _read_config, _write_config),
)
"""The per-interrupt registers, at the same offsets in GICD and in SGI_base."""


class VgicMmioV3(VgicMmio):
    """The emulated GICD and GICR frames of one VM (see the module docstring); the shared
    per-interrupt handlers take it as the GICv2 frame they were written for."""

    def __init__(self, kvm: Kvm, dist_base: int, rd_base: int) -> None:
        super().__init__(kvm, dist_base)
        self.rd_base = rd_base
        self.pendbaser = [0] * len(kvm.vcpus)
        kvm.kvm_io_bus_register(dist_base, KVM_VGIC_V3_DIST_SIZE, self.dist_access)
        kvm.kvm_io_bus_register(rd_base, KVM_VGIC_V3_REDIST_SIZE * len(kvm.vcpus), self.rd_access)

    # ---------------------------------------------------------------- helpers
    def _trace(self, vcpu: KvmVcpu, off: int, size: int, is_write: bool, value: int, name: str) -> None:
        rec = self.kvm.m.recorder
        if rec.wants("kvm_mmio"):
            rec.emit("kvm_mmio", vm=self.kvm.index, vcpu=vcpu.vcpu_id, offset=off, size=size,
                     write=is_write, value=value, reg=name)

    def _per_irq(self, vcpu: KvmVcpu, irq_vcpu: KvmVcpu | None, off: int, value: int, size: int,
                 is_write: bool, base_intid: int, prefix: str) -> int | None:
        """A per-interrupt register access (None: not one)."""
        for reg in _PER_IRQ:
            if reg.offset <= off < reg.offset + reg.length:
                break
        else:
            return None
        self._trace(vcpu, off, size, is_write, value, prefix + reg.name)
        bpi = reg.bits_per_irq
        first = (off - reg.offset) * 8 // bpi
        n = size * 8 // bpi
        mask = (1 << bpi) - 1
        kvm = self.kvm
        result = 0
        for k in range(n):
            intid = first + k
            if base_intid == 0 and intid >= VGIC_NR_PRIVATE_IRQS:
                break
            if base_intid != 0 and intid < VGIC_NR_PRIVATE_IRQS:
                continue  # SGIs/PPIs live in the redistributors (RAZ/WI with ARE)
            irq = vgic_get_irq(kvm, irq_vcpu, intid)
            if irq is None:
                continue
            if is_write:
                field = (value >> (k * bpi)) & mask
                if reg.w1 and not field:
                    continue
                reg.write(self, vcpu, irq, field, False)
            else:
                result |= reg.read(self, vcpu, irq, False) << (k * bpi)
        return result

    # ---------------------------------------------------------------- GICD
    def dist_access(self, vcpu: KvmVcpu, addr: int, value: int, size: int, is_write: bool) -> int:
        """One guest access to the GICD frame (``vgic_v3_dist_registers``)."""
        off = addr - self.base
        r = self._per_irq(vcpu, None, off, value, size, is_write, 32, "GICD_")
        if r is not None:
            return r
        if GICD_IROUTER + 8 * 32 <= off < GICD_IROUTER + 8 * 1020:
            return self._irouter(vcpu, off, value, size, is_write)
        self._trace(vcpu, off, size, is_write, value, "GICD")
        vgic = self.vgic
        if off == GICD_CTLR:
            if is_write:
                self._write_ctlr(value)
                return 0
            v = (GICD_CTLR_ENABLE_G1A if vgic.enabled else 0) | GICD_CTLR_ARE_NS | GICD_CTLR_DS
            return v | (GICD_CTLR_NASSGIREQ if vgic.nassgireq else 0)
        if is_write:
            return 0
        if off == GICD_TYPER:
            nr = vgic.nr_spis + 32
            lpis = 1 << 17 if self.kvm.vgic_its is not None else 0
            return ((nr >> 5) - 1) | lpis | (_LPI_ID_BITS - 1) << 19
        if off == GICD_IIDR:
            return (PRODUCT_ID_KVM << 24) | IMPLEMENTER_ARM
        if off == GICD_TYPER2:
            return GICD_TYPER2_NASSGICAP if self._vsgi_capable() else 0
        return 0

    def _vsgi_capable(self) -> bool:
        """A GICv4.1 host with direct injection enabled for this VM."""
        return self.kvm.its_vm is not None and bool(getattr(self.vgic.ops, "has_v4_1", False))

    def _write_ctlr(self, val: int) -> None:
        """``vgic_mmio_write_v3_misc`` (GICD_CTLR): EnableGrp1A; nASSGIreq only on a GICv4.1
        host and only while the distributor stays disabled; a change of it reconfigures
        the SGIs (``vgic_v4_configure_vsgis``); enabling queues the pending SPIs."""
        vgic = self.vgic
        was = vgic.enabled
        is_hwsgi = vgic.nassgireq
        vgic.enabled = bool(val & GICD_CTLR_ENABLE_G1A)
        if not self._vsgi_capable():
            val &= ~GICD_CTLR_NASSGIREQ
        if was and vgic.enabled:
            val = (val & ~GICD_CTLR_NASSGIREQ) | (GICD_CTLR_NASSGIREQ if is_hwsgi else 0)
        vgic.nassgireq = bool(val & GICD_CTLR_NASSGIREQ)
        if is_hwsgi != vgic.nassgireq:
            vgic_v4_configure_vsgis(self.kvm)
        if vgic.enabled and not was:
            for irq in vgic.spis:
                if irq.irq_is_pending() and irq.enabled:
                    vgic_queue_irq_unlock(self.kvm, irq)

    def _irouter(self, vcpu: KvmVcpu, off: int, value: int, size: int, is_write: bool) -> int:
        """GICD_IROUTER<n> (``vgic_mmio_read/write_irouter``): 64-bit, low word = Aff2.Aff1.Aff0."""
        intid = (off - GICD_IROUTER) >> 3
        self._trace(vcpu, off, size, is_write, value, "GICD_IROUTER")
        irq = vgic_get_irq(self.kvm, None, intid)
        if irq is None:
            return 0
        if off & 4:
            return 0  # Aff3: always 0 here
        vcpus = self.kvm.vcpus
        if not is_write:
            t = irq.target_vcpu
            vid = t.vcpu_id if t is not None else 0
            return (vid >> 4) << 8 | (vid & 15)
        aff0 = value & 0xFF
        aff1 = (value >> 8) & 0xFF
        vid = aff1 << 4 | aff0
        irq.target_vcpu = vcpus[vid] if aff0 < 16 and vid < len(vcpus) else None
        return 0

    # ---------------------------------------------------------------- GICR
    def rd_access(self, vcpu: KvmVcpu, addr: int, value: int, size: int, is_write: bool) -> int:
        """One guest access to a redistributor (``vgic_v3_rd_registers`` and
        ``vgic_v3_sgibase_registers``)."""
        off = addr - self.rd_base
        idx = off // KVM_VGIC_V3_REDIST_SIZE
        off %= KVM_VGIC_V3_REDIST_SIZE
        kvm = self.kvm
        rd_vcpu = kvm.vcpus[idx]
        if off >= GICR_SGI_BASE:
            r = self._per_irq(vcpu, rd_vcpu, off - GICR_SGI_BASE, value, size, is_write, 0, "GICR_")
            return 0 if r is None else r
        self._trace(vcpu, off, size, is_write, value, "GICR")
        vgic_cpu = rd_vcpu.vgic_cpu
        word = off & ~7
        shift = 8 * (off & 4)
        if off == GICR_CTLR:
            if is_write:
                self._write_rd_ctlr(rd_vcpu, value)
                return 0
            return GICR_CTLR_ENABLE_LPIS if vgic_cpu.lpis_enabled else 0
        if off == GICR_IIDR and not is_write:
            return (PRODUCT_ID_KVM << 24) | IMPLEMENTER_ARM
        if word == GICR_TYPER and not is_write:
            last = GICR_TYPER_LAST if idx == len(kvm.vcpus) - 1 else 0
            plpis = GICR_TYPER_PLPIS if kvm.vgic_its is not None else 0
            aff = (idx >> 4) << 8 | (idx & 15)
            return (plpis | last | idx << 8 | aff << 32) >> shift & ((1 << (8 * size)) - 1)
        if word == GICR_PROPBASER:
            if not is_write:
                return self.vgic.propbaser >> shift & ((1 << (8 * size)) - 1)
            if not vgic_cpu.lpis_enabled:
                m = ((1 << (8 * size)) - 1) << shift
                self.vgic.propbaser = (self.vgic.propbaser & ~m) | (value << shift & m)
            return 0
        if word == GICR_PENDBASER:
            if not is_write:
                return self.pendbaser[idx] >> shift & ((1 << (8 * size)) - 1)
            if not vgic_cpu.lpis_enabled:
                m = ((1 << (8 * size)) - 1) << shift
                self.pendbaser[idx] = (self.pendbaser[idx] & ~m) | (value << shift & m)
            return 0
        return 0  # GICR_WAKER and the rest: RAZ/WI

    def _write_rd_ctlr(self, vcpu: KvmVcpu, val: int) -> None:
        """``vgic_mmio_write_v3r_ctlr``: EnableLPIs (only with an ITS; disabling drops the
        translation cache)."""
        its = self.kvm.vgic_its
        if not isinstance(its, VgicIts):
            return
        vgic_cpu = vcpu.vgic_cpu
        was = vgic_cpu.lpis_enabled
        vgic_cpu.lpis_enabled = bool(val & GICR_CTLR_ENABLE_LPIS)
        if was and not vgic_cpu.lpis_enabled:
            its.vgic_its_invalidate_all_caches()
