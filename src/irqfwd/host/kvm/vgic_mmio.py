"""Trapped guest distributor MMIO, emulated in the kernel (arch/arm64/kvm/vgic/vgic-mmio*.c).

A declarative table (:data:`VGIC_V2_DIST_REGISTERS`) of GICv2 distributor registers over
the :class:`~irqfwd.host.kvm.kvm_host.VgicIrq` state, as ``vgic_v2_dist_registers[]`` in Linux.
Per-interrupt registers give a handler per interrupt field (``bits_per_irq`` 1, 2 or 8);
set/clear registers call their write handler only for bits written as 1.

Mapped (HW) interrupts mirror guest accesses to the physical interrupt (lineage §5.6):
``ISPENDR`` sets the latch *and* the physical Active state; ``ICPENDR`` clears the physical
pending state and, if the virtual irq is not active, the physical Active state;
``ISACTIVER``/``ICACTIVER`` change virtual and physical Active together.  Userspace
accesses (``uaccess=True``) change only the virtual state.  A guest read of ISPENDR for a
mapped level irq samples the physical line.  (Limitation: an irq held in an LR of *another*
running vCPU is not halted-and-folded first, as ``vgic_access_active_prepare`` would.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple

from irqfwd.host.kvm.arm_vgic import VGIC_CONFIG_EDGE, VGIC_CONFIG_LEVEL
from irqfwd.host.kvm.kvm_host import Kvm, KvmVcpu, VgicIrq
from irqfwd.host.kvm.vgic import (
    vgic_get_irq,
    vgic_get_phys_line_level,
    vgic_irq_set_phys_active,
    vgic_irq_set_phys_pending,
    vgic_queue_irq_unlock,
)

__all__ = ["VGIC_V2_DIST_REGISTERS", "VgicMmio", "VgicReg"]

IrqRead = Callable[["VgicMmio", "KvmVcpu", VgicIrq, bool], int]
IrqWrite = Callable[["VgicMmio", "KvmVcpu", VgicIrq, int, bool], None]
RegRead = Callable[["VgicMmio", "KvmVcpu"], int]
RegWrite = Callable[["VgicMmio", "KvmVcpu", int], None]

IMPLEMENTER_ARM: Final = 0x43B
PRODUCT_ID_KVM: Final = 0x4B


class VgicReg(NamedTuple):
    """One row of the register table."""

    name: str
    offset: int
    length: int
    bits_per_irq: int
    read: Any
    """``IrqRead`` for per-interrupt registers, ``RegRead`` otherwise (None: write-only)."""
    write: Any
    """``IrqWrite`` / ``RegWrite`` (None: read-only, writes ignored)."""
    w1: bool = False


# ------------------------------------------------------------------ whole registers
def _read_ctlr(mm: VgicMmio, vcpu: KvmVcpu) -> int:
    return int(mm.vgic.enabled)


def _write_ctlr(mm: VgicMmio, vcpu: KvmVcpu, v: int) -> None:
    vgic = mm.vgic
    was = vgic.enabled
    vgic.enabled = bool(v & 1)
    if vgic.enabled and not was:
        for irq in vgic.spis:
            if irq.irq_is_pending() and irq.enabled:
                vgic_queue_irq_unlock(mm.kvm, irq)


def _read_typer(mm: VgicMmio, vcpu: KvmVcpu) -> int:
    nr = mm.vgic.nr_spis + 32
    return ((nr >> 5) - 1) | ((len(mm.kvm.vcpus) - 1) << 5)


def _read_iidr(mm: VgicMmio, vcpu: KvmVcpu) -> int:
    return (PRODUCT_ID_KVM << 24) | IMPLEMENTER_ARM


def _write_sgir(mm: VgicMmio, vcpu: KvmVcpu, v: int) -> None:
    """``vgic_mmio_write_sgir``: TargetListFilter, CPUTargetList, SGIINTID."""
    intid = v & 0xF
    filt = (v >> 24) & 3
    targets = (v >> 16) & 0xFF
    vcpus = mm.kvm.vcpus
    if filt == 1:
        targets = ((1 << len(vcpus)) - 1) & ~(1 << vcpu.vcpu_id)
    elif filt == 2:
        targets = 1 << vcpu.vcpu_id
    elif filt == 3:
        return
    for t in vcpus:
        if targets & (1 << t.vcpu_id):
            irq = t.vgic_cpu.private_irqs[intid]
            irq.source |= 1 << vcpu.vcpu_id
            irq.pending_latch = True
            vgic_queue_irq_unlock(mm.kvm, irq)


# ------------------------------------------------------------------ per-irq fields
def _read_raz(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, ua: bool) -> int:
    return 0


def _write_wi(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, v: int, ua: bool) -> None:
    return None


def _read_enable(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, ua: bool) -> int:
    return int(irq.enabled)


def _write_senable(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, v: int, ua: bool) -> None:
    """``vgic_mmio_write_senable``: a mapped level irq re-samples the physical line (the
    device may have changed while it was disabled) and, if it went low, is deactivated on
    the host so that the GIC signals the next assertion."""
    if irq.is_mapped_level() and not ua:
        was_high = irq.line_level
        irq.line_level = vgic_get_phys_line_level(mm.kvm, irq)
        if not irq.active and was_high and not irq.line_level:
            vgic_irq_set_phys_active(mm.kvm, irq, False)
    irq.enabled = True
    vgic_queue_irq_unlock(mm.kvm, irq)


def _write_cenable(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, v: int, ua: bool) -> None:
    if irq.intid >= 16:
        irq.enabled = False


def _read_pending(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, ua: bool) -> int:
    if not ua and irq.is_mapped_level():
        return int(irq.pending_latch or vgic_get_phys_line_level(mm.kvm, irq))
    return int(irq.irq_is_pending())


def _write_spending(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, v: int, ua: bool) -> None:
    """``vgic_mmio_write_spending``; HW: ``vgic_hw_irq_spending`` sets physical Active."""
    irq.pending_latch = True
    if irq.hw and not ua:
        vgic_irq_set_phys_active(mm.kvm, irq, True)
    vgic_queue_irq_unlock(mm.kvm, irq)


def _write_cpending(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, v: int, ua: bool) -> None:
    """``vgic_mmio_write_cpending``; HW: ``vgic_hw_irq_cpending``."""
    irq.pending_latch = False
    if irq.hw and not ua:
        vgic_irq_set_phys_pending(mm.kvm, irq, False)
        if not irq.active:
            vgic_irq_set_phys_active(mm.kvm, irq, False)


def _read_active(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, ua: bool) -> int:
    return int(irq.active)


def _change_active(mm: VgicMmio, irq: VgicIrq, active: bool, ua: bool) -> None:
    """``vgic_mmio_change_active`` / ``vgic_hw_irq_change_active``."""
    irq.active = active
    if irq.hw and not ua and irq.intid >= 16:
        vgic_irq_set_phys_active(mm.kvm, irq, active)
    if active:
        vgic_queue_irq_unlock(mm.kvm, irq)


def _write_sactive(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, v: int, ua: bool) -> None:
    _change_active(mm, irq, True, ua)


def _write_cactive(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, v: int, ua: bool) -> None:
    _change_active(mm, irq, False, ua)


def _read_priority(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, ua: bool) -> int:
    return irq.priority


def _write_priority(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, v: int, ua: bool) -> None:
    irq.priority = v & 0xF8  # GICv2 LRs hold 5 priority bits


def _read_target(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, ua: bool) -> int:
    if irq.intid < 32:
        return 1 << vcpu.vcpu_id
    return irq.targets


def _write_target(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, v: int, ua: bool) -> None:
    """``vgic_mmio_write_target``: SPIs only; target = lowest set bit (vCPU 0 if none)."""
    if irq.intid < 32:
        return
    vcpus = mm.kvm.vcpus
    irq.targets = v & ((1 << len(vcpus)) - 1)
    t = (irq.targets & -irq.targets).bit_length() - 1 if irq.targets else 0
    irq.target_vcpu = vcpus[t]


def _read_config(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, ua: bool) -> int:
    return 2 if irq.config == VGIC_CONFIG_EDGE else 0


def _write_config(mm: VgicMmio, vcpu: KvmVcpu, irq: VgicIrq, v: int, ua: bool) -> None:
    """``vgic_mmio_write_config``: SGI/PPI configuration is read-only."""
    if irq.intid < 32:
        return
    irq.config = VGIC_CONFIG_EDGE if v & 2 else VGIC_CONFIG_LEVEL
    if irq.config == VGIC_CONFIG_LEVEL:
        irq.pending_latch = False


VGIC_V2_DIST_REGISTERS: tuple[VgicReg, ...] = (
    VgicReg("GICD_CTLR", 0x000, 4, 0, _read_ctlr, _write_ctlr),
    VgicReg("GICD_TYPER", 0x004, 4, 0, _read_typer, None),
    VgicReg("GICD_IIDR", 0x008, 4, 0, _read_iidr, None),
    VgicReg("GICD_IGROUPR", 0x080, 0x80, 1, _read_raz, _write_wi),
    VgicReg("GICD_ISENABLER", 0x100, 0x80, 1, _read_enable, _write_senable, True),
    VgicReg("GICD_ICENABLER", 0x180, 0x80, 1, _read_enable, _write_cenable, True),
    VgicReg("GICD_ISPENDR", 0x200, 0x80, 1, _read_pending, _write_spending, True),
    VgicReg("GICD_ICPENDR", 0x280, 0x80, 1, _read_pending, _write_cpending, True),
    VgicReg("GICD_ISACTIVER", 0x300, 0x80, 1, _read_active, _write_sactive, True),
    VgicReg("GICD_ICACTIVER", 0x380, 0x80, 1, _read_active, _write_cactive, True),
    VgicReg("GICD_IPRIORITYR", 0x400, 0x400, 8, _read_priority, _write_priority),
    VgicReg("GICD_ITARGETSR", 0x800, 0x400, 8, _read_target, _write_target),
    VgicReg("GICD_ICFGR", 0xC00, 0x100, 2, _read_config, _write_config),
    VgicReg("GICD_SGIR", 0xF00, 4, 0, None, _write_sgir),
)
"""The GICv2 distributor as KVM emulates it (``vgic_v2_dist_registers``)."""


class VgicMmio:
    """The emulated distributor frame of one VM."""

    def __init__(self, kvm: Kvm, base: int) -> None:
        self.kvm = kvm
        self.vgic = kvm.vgic
        self.base = base
        self.regs = VGIC_V2_DIST_REGISTERS

    def find(self, offset: int) -> VgicReg | None:
        """The register containing ``offset`` (None: RAZ/WI)."""
        for reg in self.regs:
            if reg.offset <= offset < reg.offset + reg.length:
                return reg
        return None

    def access(self, vcpu: KvmVcpu, addr: int, value: int, size: int, is_write: bool,
               uaccess: bool = False) -> int:
        """Emulate one guest (or, with ``uaccess``, userspace) access; returns the read value."""
        off = addr - self.base
        reg = self.find(off)
        rec = self.kvm.m.recorder
        if rec.wants("kvm_mmio"):
            rec.emit("kvm_mmio", vm=self.kvm.index, vcpu=vcpu.vcpu_id, offset=off, size=size,
                     write=is_write, value=value, reg=reg.name if reg else None)
        if reg is None:
            return 0
        bpi = reg.bits_per_irq
        if bpi == 0:
            if is_write:
                if reg.write is not None:
                    reg.write(self, vcpu, value)
                return 0
            return reg.read(self, vcpu) if reg.read is not None else 0
        first = (off - reg.offset) * 8 // bpi
        n = size * 8 // bpi
        mask = (1 << bpi) - 1
        kvm = self.kvm
        result = 0
        for k in range(n):
            irq = vgic_get_irq(kvm, vcpu, first + k)
            if irq is None:
                continue
            if is_write:
                field = (value >> (k * bpi)) & mask
                if reg.w1 and not field:
                    continue
                reg.write(self, vcpu, irq, field, uaccess)
            elif reg.read is not None:
                result |= reg.read(self, vcpu, irq, uaccess) << (k * bpi)
        return result
