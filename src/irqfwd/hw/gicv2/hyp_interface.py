"""GICv2 virtual interface control (GICH_*) for one CPU interface (GICv2 ~§5.3).

The hypervisor's view of one virtual CPU interface: the List Registers (GICH_LRn), the
control/status registers GICH_HCR, GICH_VTR, GICH_VMCR, GICH_MISR, GICH_EISRn, GICH_ELRSRn
and GICH_APR, and the level-sensitive maintenance interrupt (Arm IHI 0048B §5.3, §5.3.4).

This object also holds the state the virtual CPU interface (GICV_*, see
:mod:`irqfwd.hw.gicv2.vcpu_interface`) operates on — GICV_CTLR/PMR/BPR/ABPR are the
GICH_VMCR fields and GICV_APR0 is GICH_APR — and performs the virtual prioritization
(virtual HPPI, vIRQ/vFIQ, IHI 0048B §5.2), because an LR write from the
hypervisor changes the guest's outputs exactly as a GICV access does.

State is kept as plain ints and bitmasks (bit *n* = LR *n*): the simulator writes an LR,
and the guest reads GICV_IAR and writes GICV_EOIR, for every virtual interrupt.

Hooks into the rest of the GIC (implemented by ``GICv2``, see ``docs/architecture.md``):
``deactivate_physical(cpu, intid)``, ``set_maintenance(cpu, level)`` and
``update_virtual_outputs(cpu, virq, vfiq)``.  The two level hooks are called only when the
level changes (and unconditionally by :meth:`HypInterface.reset`).
"""

from __future__ import annotations

from typing import Final

from irqfwd.hw.gic.regs import Reg, RegisterBlock
from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.hw.gicv2.core import GicV2Core

__all__ = [
    "GICH_FRAME_SIZE",
    "GICH_HCR_EN",
    "GICH_HCR_EOICOUNT_SHIFT",
    "GICH_HCR_LRENPIE",
    "GICH_HCR_NPIE",
    "GICH_HCR_UIE",
    "GICH_HCR_VGRP0DIE",
    "GICH_HCR_VGRP0EIE",
    "GICH_HCR_VGRP1DIE",
    "GICH_HCR_VGRP1EIE",
    "GICH_LR_ACTIVE",
    "GICH_LR_EOI",
    "GICH_LR_GRP1",
    "GICH_LR_HW",
    "GICH_LR_PENDING",
    "GICH_MISR_EOI",
    "GICH_MISR_LRENP",
    "GICH_MISR_NP",
    "GICH_MISR_U",
    "GICH_MISR_VGRP0D",
    "GICH_MISR_VGRP0E",
    "GICH_MISR_VGRP1D",
    "GICH_MISR_VGRP1E",
    "GICH_REGS",
    "GICV_CTLR_ACKCTL",
    "GICV_CTLR_CBPR",
    "GICV_CTLR_ENABLEGRP0",
    "GICV_CTLR_ENABLEGRP1",
    "GICV_CTLR_EOIMODE",
    "GICV_CTLR_FIQEN",
    "GICV_CTLR_MASK",
    "HypInterface",
    "make_lr",
]

# --- GICH_HCR (~§5.3.1) -------------------------------------------------------------------
GICH_HCR_EN: Final = 1 << 0
GICH_HCR_UIE: Final = 1 << 1
GICH_HCR_LRENPIE: Final = 1 << 2
GICH_HCR_NPIE: Final = 1 << 3
GICH_HCR_VGRP0EIE: Final = 1 << 4
GICH_HCR_VGRP0DIE: Final = 1 << 5
GICH_HCR_VGRP1EIE: Final = 1 << 6
GICH_HCR_VGRP1DIE: Final = 1 << 7
GICH_HCR_EOICOUNT_SHIFT: Final = 27
GICH_HCR_MASK: Final = 0xF800_00FF
"""Writable bits: En..VGrp1DIE [7:0] and EOICount [31:27]; [26:8] RES0."""

# --- GICH_MISR (~§5.3.4) ------------------------------------------------------------------
GICH_MISR_EOI: Final = 1 << 0
GICH_MISR_U: Final = 1 << 1
GICH_MISR_LRENP: Final = 1 << 2
GICH_MISR_NP: Final = 1 << 3
GICH_MISR_VGRP0E: Final = 1 << 4
GICH_MISR_VGRP0D: Final = 1 << 5
GICH_MISR_VGRP1E: Final = 1 << 6
GICH_MISR_VGRP1D: Final = 1 << 7

# --- GICH_LRn (~§5.3.8) -------------------------------------------------------------------
GICH_LR_VIRTUALID_MASK: Final = 0x3FF
GICH_LR_PHYSICALID_SHIFT: Final = 10
GICH_LR_CPUID_SHIFT: Final = 10
GICH_LR_EOI: Final = 1 << 19
GICH_LR_PRIORITY_SHIFT: Final = 23
GICH_LR_STATE_SHIFT: Final = 28
GICH_LR_PENDING: Final = 1 << 28
GICH_LR_ACTIVE: Final = 1 << 29
GICH_LR_GRP1: Final = 1 << 30
GICH_LR_HW: Final = 1 << 31
GICH_LR_MASK: Final = 0xFF8F_FFFF
"""Bits 22:20 are RES0: writing 0xFFFFFFFF reads back 0xFF8FFFFF (TV2)."""

# --- GICV_CTLR (~§5.4; same bits as GICC_CTLR without Security Extensions) ---------------
GICV_CTLR_ENABLEGRP0: Final = 1 << 0
GICV_CTLR_ENABLEGRP1: Final = 1 << 1
GICV_CTLR_ACKCTL: Final = 1 << 2
GICV_CTLR_FIQEN: Final = 1 << 3
GICV_CTLR_CBPR: Final = 1 << 4
GICV_CTLR_EOIMODE: Final = 1 << 9
GICV_CTLR_MASK: Final = 0x21F

# --- GICH_VMCR (~§5.3.3) ------------------------------------------------------------------
GICH_VMCR_VMABP_SHIFT: Final = 18
GICH_VMCR_VMBP_SHIFT: Final = 21
GICH_VMCR_VMPRIMASK_SHIFT: Final = 27
GICH_VMCR_RESET: Final = 0x004C_0000
GICV_BPR_MIN: Final = 2
"""Minimum GICV_BPR: 5 priority bits (GICH_VTR.PRIbits = 4) → group priority [7:3]."""
GICV_ABPR_MIN: Final = 3

IDLE_PRIORITY: Final = 0x100
"""Running priority with no active priority bit (GICV_RPR reads 0xFF)."""

# GICH frame offsets (IHI 0048B §5.3, Table 5-1)
GICH_HCR: Final = 0x000
GICH_VTR: Final = 0x004
GICH_VMCR: Final = 0x008
GICH_MISR: Final = 0x010
GICH_EISR0: Final = 0x020
GICH_EISR1: Final = 0x024
GICH_ELRSR0: Final = 0x030
GICH_ELRSR1: Final = 0x034
GICH_APR: Final = 0x0F0
GICH_LR0: Final = 0x100
GICH_LR_MAX: Final = 64


def make_lr(
    virtual_id: int,
    *,
    state: int = 1,
    priority: int = 0,
    group1: bool = False,
    hw: bool = False,
    physical_id: int = 0,
    cpuid: int = 0,
    eoi: bool = False,
) -> int:
    """Encode a GICH_LRn value (~§5.3.8). ``priority`` is the 8-bit priority (low 3 bits dropped).

    ``state``: 0 invalid, 1 pending, 2 active, 3 pending and active.  With ``hw`` the
    PhysicalID field [19:10] is used, otherwise CPUID [12:10] and EOI [19].
    """
    value = (virtual_id & 0x3FF) | (state & 3) << GICH_LR_STATE_SHIFT
    value |= ((priority >> 3) & 0x1F) << GICH_LR_PRIORITY_SHIFT
    if group1:
        value |= GICH_LR_GRP1
    if hw:
        value |= GICH_LR_HW | (physical_id & 0x3FF) << GICH_LR_PHYSICALID_SHIFT
    else:
        value |= (cpuid & 7) << GICH_LR_CPUID_SHIFT
        if eoi:
            value |= GICH_LR_EOI
    return value


class HypInterface:
    """GICH_* of one CPU interface plus the shared virtual CPU interface state (~§5.3).

    Attributes shared with :class:`~irqfwd.hw.gicv2.vcpu_interface.VcpuInterface`
    (treat as read-only outside these two classes; write through the methods):
    ``lr`` (list of LR values), ``h_hcr``, ``h_apr``, ``v_ctlr``, ``v_pmr`` (8-bit, low 3
    bits 0), ``v_bpr``, ``v_abpr``, ``pend_mask`` (LRs in state 01), ``valid_mask``
    (state ≠ 00), ``eisr_mask``, ``elrsr_mask``, ``hppi_lr`` (the virtual HPPI's LR or -1)
    and ``hppi_ok`` (it passes GICV_PMR and the preemption check, so GICV_IAR may take it),
    and ``misr`` (GICH_MISR); the last three are results of :meth:`update`.
    """

    __slots__ = (
        "_maint",
        "_q_extra_lr_storage",
        "_q_no_per_irq_group_filter",
        "_q_preemption_qemu_rules",
        "_tie_lowest_lr",
        "_vfiq",
        "_virq",
        "config",
        "cpu",
        "eisr_mask",
        "elrsr_mask",
        "gic",
        "h_apr",
        "h_hcr",
        "hppi_lr",
        "hppi_ok",
        "lr",
        "lr_extra",
        "misr",
        "num_lrs",
        "pend_mask",
        "regs",
        "v_abpr",
        "v_bpr",
        "v_ctlr",
        "v_pmr",
        "valid_mask",
        "vtr",
    )

    def __init__(self, cpu: int, config: GICv2Config, gic: GicV2Core) -> None:
        self.cpu = cpu
        self.config = config
        self.gic = gic
        self.num_lrs = config.num_lrs
        self.vtr = (config.num_lrs - 1) | (4 << 26) | (4 << 29)
        """GICH_VTR: ListRegs = num_lrs-1, PREbits = PRIbits = 4 (5 bits) → 0x90000003."""
        self._q_extra_lr_storage = config.quirks.extra_lr_storage
        self._tie_lowest_lr = config.tie_break_lowest_lr
        self._q_no_per_irq_group_filter = config.quirks.no_per_irq_group_filter
        self._q_preemption_qemu_rules = config.quirks.preemption_qemu_rules
        self.lr: list[int] = [0] * self.num_lrs
        self.lr_extra = 0
        self.h_hcr = 0
        self.h_apr = 0
        self.v_ctlr = 0
        self.v_pmr = 0
        self.v_bpr = GICV_BPR_MIN
        self.v_abpr = GICV_ABPR_MIN
        self.pend_mask = 0
        self.valid_mask = 0
        self.eisr_mask = 0
        self.elrsr_mask = (1 << self.num_lrs) - 1
        self.hppi_lr = -1
        self.hppi_ok = False
        self.misr = 0
        self._maint = False
        self._virq = False
        self._vfiq = False
        self.regs = RegisterBlock("GICH", GICH_FRAME_SIZE, GICH_REGS, self)

    # ------------------------------------------------------------------ reset / update
    def reset(self) -> None:
        """Reset (GIC-400/QEMU values): HCR 0, VMCR 0x004C0000, APR 0, every LR 0."""
        self.lr = [0] * self.num_lrs
        self.lr_extra = 0
        self.h_hcr = 0
        self.h_apr = 0
        self.v_ctlr = 0
        self.v_pmr = 0
        self.v_bpr = GICV_BPR_MIN
        self.v_abpr = GICV_ABPR_MIN
        self.pend_mask = 0
        self.valid_mask = 0
        self.eisr_mask = 0
        self.elrsr_mask = (1 << self.num_lrs) - 1
        self.update()
        self.gic.set_maintenance(self.cpu, self._maint)
        self.gic.update_virtual_outputs(self.cpu, self._virq, self._vfiq)

    def group_priority(self, lr_value: int) -> int:
        """Group priority of an LR's interrupt: GICV_BPR, or GICV_ABPR for Group 1 with CBPR=0.

        BPR *b* keeps priority bits [7:b+1], ABPR *a* keeps [7:a] (GICv2 ~§3.3.4).
        """
        prio = (lr_value >> 20) & 0xF8
        if lr_value & GICH_LR_GRP1 and not self.v_ctlr & GICV_CTLR_CBPR:
            return prio & (0xFF << self.v_abpr) & 0xFF
        return prio & (0xFF << (self.v_bpr + 1)) & 0xFF

    def running_priority(self) -> int:
        """Virtual running priority from GICH_APR: lowest set bit *k* → ``k << 3``; idle 0x100."""
        apr = self.h_apr
        if not apr:
            return IDLE_PRIORITY
        return ((apr & -apr).bit_length() - 1) << 3

    def update(self) -> None:
        """Recompute the virtual HPPI, vIRQ/vFIQ, GICH_MISR and the maintenance level (~§5.2,
        §5.3.4).

        Candidates are the LRs in state 01 whose group is enabled in GICV_CTLR (D5: any
        pending LR while some group is enabled); none while GICH_HCR.En = 0.  The HPPI is
        signalled when its priority is below GICV_PMR and its group priority below the
        running priority (:meth:`group_priority`, :meth:`running_priority`).  GICH_MISR
        (read back by :meth:`read_misr`) is computed whatever GICH_HCR.En is, as QEMU 7.2
        does; En gates only the maintenance interrupt.  Called after every state change;
        calls the GIC hooks only on a level change.

        The result depends only on GICH_HCR, GICH_APR, GICH_VMCR (``v_*``), the LR bitmasks
        ``pend_mask``/``valid_mask``/``eisr_mask`` and the values of the pending LRs; every
        method that changes one of them calls this (or, for :meth:`set_lr` and
        :meth:`increment_eoicount`, its caller does).
        """
        hcr = self.h_hcr
        best = -1
        virq = vfiq = ok = False
        if hcr & GICH_HCR_EN:
            if self.pend_mask:
                best = self._hppi_lr()
            if best >= 0:
                v = self.lr[best]
                # GICH_APR = 0: the running priority is idle (0x100), above every priority
                if ((v >> 20) & 0xF8) < self.v_pmr and (not self.h_apr or self._preempts(v)):
                    ok = True
                    ctlr = self.v_ctlr
                    if v & GICH_LR_GRP1:
                        virq = ctlr & GICV_CTLR_ENABLEGRP1 != 0
                    elif ctlr & GICV_CTLR_ENABLEGRP0:
                        if ctlr & GICV_CTLR_FIQEN:
                            vfiq = True
                        else:
                            virq = True
        self.hppi_lr = best
        self.hppi_ok = ok
        # GICH_MISR: each condition ANDed with its GICH_HCR enable (EOI: EISR ≠ 0)
        misr = GICH_MISR_EOI if self.eisr_mask else 0
        if hcr & 0xFE:
            if hcr & GICH_HCR_UIE:
                valid = self.valid_mask
                if not valid & (valid - 1):
                    misr |= GICH_MISR_U
            if hcr & GICH_HCR_LRENPIE and hcr >> GICH_HCR_EOICOUNT_SHIFT:
                misr |= GICH_MISR_LRENP
            if hcr & GICH_HCR_NPIE and not self.pend_mask:
                misr |= GICH_MISR_NP
            ctlr = self.v_ctlr
            if ctlr & GICV_CTLR_ENABLEGRP0:
                misr |= hcr & GICH_HCR_VGRP0EIE
            else:
                misr |= hcr & GICH_HCR_VGRP0DIE
            if ctlr & GICV_CTLR_ENABLEGRP1:
                misr |= hcr & GICH_HCR_VGRP1EIE
            else:
                misr |= hcr & GICH_HCR_VGRP1DIE
        self.misr = misr
        maint = misr != 0 and hcr & GICH_HCR_EN != 0
        if virq is not self._virq or vfiq is not self._vfiq:
            self._virq = virq
            self._vfiq = vfiq
            self.gic.update_virtual_outputs(self.cpu, virq, vfiq)
        if maint is not self._maint:
            self._maint = maint
            self.gic.set_maintenance(self.cpu, maint)

    def _hppi_lr(self) -> int:
        """The LR holding the highest-priority pending virtual interrupt of an enabled group,
        or -1.  Equal priorities: lowest LR (QEMU) or, with ``tie_break_lowest_lr`` off,
        lowest VirtualID."""
        m = self.pend_mask
        ctlr = self.v_ctlr
        # group-enable filter: bit 0 = Group 0 allowed, bit 1 = Group 1 allowed
        gmask = (3 if ctlr & 3 else 0) if self._q_no_per_irq_group_filter else ctlr
        by_lr = self._tie_lowest_lr
        lrs = self.lr
        best = -1
        best_key = IDLE_PRIORITY << 10
        while m:
            low = m & -m
            m ^= low
            n = low.bit_length() - 1
            v = lrs[n]
            if gmask & (2 if v & GICH_LR_GRP1 else 1):
                key = ((v >> 20) & 0xF8) << 10 | (n if by_lr else v & GICH_LR_VIRTUALID_MASK)
                if key < best_key:
                    best_key = key
                    best = n
        return best

    def _preempts(self, lr_value: int) -> bool:
        """The LR's interrupt may preempt: its group priority is below the running priority
        (X2: QEMU compares the full priority)."""
        prio = (lr_value >> 20) & 0xF8 if self._q_preemption_qemu_rules else self.group_priority(lr_value)
        return prio < self.running_priority()

    @property
    def maintenance(self) -> bool:
        """Current level of the maintenance interrupt (GICH_HCR.En and GICH_MISR ≠ 0)."""
        return self._maint

    @property
    def virq(self) -> bool:
        """Current vIRQ output level."""
        return self._virq

    @property
    def vfiq(self) -> bool:
        """Current vFIQ output level."""
        return self._vfiq

    # ------------------------------------------------------------------ list registers
    def set_lr(self, n: int, v: int) -> None:
        """Store LR ``n`` = ``v`` and update the per-LR bitmasks; no :meth:`update` (the
        virtual CPU interface and the GICH_LRn writes below run it)."""
        self.lr[n] = v
        bit = 1 << n
        clear = ~bit
        state = (v >> GICH_LR_STATE_SHIFT) & 3
        self.pend_mask = (self.pend_mask & clear) | (bit if state == 1 else 0)
        if state:
            self.valid_mask |= bit
            self.eisr_mask &= clear
            self.elrsr_mask &= clear
        else:
            self.valid_mask &= clear
            if not v & GICH_LR_HW and v & GICH_LR_EOI:
                self.eisr_mask |= bit
                self.elrsr_mask &= clear
            else:
                self.eisr_mask &= clear
                self.elrsr_mask |= bit

    def read_lr(self, n: int) -> int:
        """GICH_LRn read (~§5.3.8). LRs ≥ num_lrs are RAZ (D14: LR<num_lrs> is storage)."""
        if n < self.num_lrs:
            return self.lr[n]
        if self._q_extra_lr_storage and n == self.num_lrs:
            return self.lr_extra
        return 0

    def write_lr(self, n: int, v: int) -> None:
        """GICH_LRn write (~§5.3.8): bits 22:20 RES0; LRs ≥ num_lrs WI (D14: storage).

        Re-evaluates (:meth:`update`) unless the write leaves every input of it unchanged:
        the LR neither was nor becomes pending and ``valid_mask``/``eisr_mask`` are equal
        (e.g. KVM zeroing an invalid HW=1 LR on save).
        """
        v &= GICH_LR_MASK
        if n < self.num_lrs:
            pend = self.pend_mask
            valid = self.valid_mask
            eisr = self.eisr_mask
            self.set_lr(n, v)
            # update() reads an LR's value only while it is pending, else only the masks
            if (pend | self.pend_mask) >> n & 1 or valid != self.valid_mask or eisr != self.eisr_mask:
                self.update()
        elif self._q_extra_lr_storage and n == self.num_lrs:
            self.lr_extra = v

    def save_and_clear_lrs(self, count: int, hcr: int | None = None) -> list[int]:
        """Read GICH_LR0..count-1 and write 0 to each (then GICH_HCR := ``hcr`` if given);
        re-evaluate once.

        The world-switch save of KVM (``save_lrs`` in arch/arm64/kvm/hyp/vgic-v2-sr.c, then
        ``writel_relaxed(0, base + GICH_HCR)`` in ``__vgic_v2_save_state``): the same final
        state (LRs, EISR/ELRSR, MISR, HPPI, maintenance and vIRQ/vFIQ levels) as ``count``
        :meth:`read_lr` / ``write_lr(n, 0)`` pairs and :meth:`write_hcr`, but :meth:`update`
        runs once, so level changes in between are not reported to the GIC hooks.  LRs ≥
        num_lrs read as :meth:`read_lr` does (RAZ; D14 storage is read and cleared).
        """
        num = self.num_lrs
        k = count if count < num else num
        lrs = self.lr
        if k == 1:  # the common case: one used LR
            values = [lrs[0]]
            lrs[0] = 0
        else:
            values = lrs[:k]
            lrs[:k] = [0] * k
        if k:
            bits = (1 << k) - 1
            clear = ~bits
            self.pend_mask &= clear
            self.valid_mask &= clear
            self.eisr_mask &= clear
            self.elrsr_mask |= bits
        if count > num:
            values.append(self.lr_extra if self._q_extra_lr_storage else 0)
            values.extend([0] * (count - num - 1))
            self.lr_extra = 0
        if hcr is not None:
            self.h_hcr = hcr & GICH_HCR_MASK
        self.update()
        return values

    def restore_lrs(self, values: list[int], hcr: int | None = None) -> None:
        """(GICH_HCR := ``hcr`` if given, then) write GICH_LR0..len(values)-1; re-evaluate once.

        The world-switch restore of KVM (``__vgic_v2_restore_state``: GICH_HCR, then each used
        LR): the same final state as :meth:`write_hcr` and one :meth:`write_lr` per value,
        with a single :meth:`update`.  Values beyond num_lrs behave as :meth:`write_lr` (WI;
        D14: LR<num_lrs> is storage).
        """
        if hcr is not None:
            self.h_hcr = hcr & GICH_HCR_MASK
        num = self.num_lrs
        n = 0
        for v in values:
            v &= GICH_LR_MASK
            if n < num:
                self.set_lr(n, v)
            elif self._q_extra_lr_storage and n == num:
                self.lr_extra = v
            n += 1  # noqa: SIM113
        self.update()

    # ------------------------------------------------------------------ control registers
    @property
    def hcr(self) -> int:
        """GICH_HCR (~§5.3.1); assigning goes through :meth:`write_hcr`."""
        return self.h_hcr

    @hcr.setter
    def hcr(self, value: int) -> None:
        self.write_hcr(value)

    def read_hcr(self) -> int:
        """GICH_HCR (~§5.3.1)."""
        return self.h_hcr

    def write_hcr(self, v: int) -> None:
        """GICH_HCR write: bits [7:0] and EOICount [31:27] writable (mask 0xF80000FF).

        Re-evaluates (:meth:`update`) only when the value changes."""
        v &= GICH_HCR_MASK
        if v != self.h_hcr:
            self.h_hcr = v
            self.update()

    def increment_eoicount(self) -> None:
        """GICH_HCR.EOICount += 1, wrapping 31 → 0 (~§5.3.1); caller runs update()."""
        self.h_hcr = (self.h_hcr + (1 << GICH_HCR_EOICOUNT_SHIFT)) & 0xFFFF_FFFF

    @property
    def eoicount(self) -> int:
        """GICH_HCR.EOICount."""
        return self.h_hcr >> GICH_HCR_EOICOUNT_SHIFT

    def read_vtr(self) -> int:
        """GICH_VTR (~§5.3.2), read-only."""
        return self.vtr

    @property
    def vmcr(self) -> int:
        """GICH_VMCR (~§5.3.3); assigning goes through :meth:`write_vmcr`."""
        return (  # read_vmcr(), inlined
            (self.v_pmr >> 3) << GICH_VMCR_VMPRIMASK_SHIFT
            | self.v_bpr << GICH_VMCR_VMBP_SHIFT
            | self.v_abpr << GICH_VMCR_VMABP_SHIFT
            | self.v_ctlr
        )

    @vmcr.setter
    def vmcr(self, value: int) -> None:
        self.write_vmcr(value)

    def read_vmcr(self) -> int:
        """GICH_VMCR: VMPriMask [31:27], VMBP [23:21], VMABP [20:18], VMCCtlr [9:0]."""
        return (
            (self.v_pmr >> 3) << GICH_VMCR_VMPRIMASK_SHIFT
            | self.v_bpr << GICH_VMCR_VMBP_SHIFT
            | self.v_abpr << GICH_VMCR_VMABP_SHIFT
            | self.v_ctlr
        )

    def write_vmcr(self, v: int) -> None:
        """GICH_VMCR write: sets GICV_CTLR/PMR/BPR/ABPR; BPR clamps to ≥ 2, ABPR to ≥ 3.

        Re-evaluates (:meth:`update`) only when one of the four fields changes (KVM writes
        the same VMCR on every vCPU load)."""
        ctlr = v & GICV_CTLR_MASK
        pmr = ((v >> GICH_VMCR_VMPRIMASK_SHIFT) & 0x1F) << 3
        bpr = (v >> GICH_VMCR_VMBP_SHIFT) & 7
        abpr = (v >> GICH_VMCR_VMABP_SHIFT) & 7
        if bpr < GICV_BPR_MIN:  # max(): a call costs more
            bpr = GICV_BPR_MIN
        if abpr < GICV_ABPR_MIN:
            abpr = GICV_ABPR_MIN
        if ctlr != self.v_ctlr or pmr != self.v_pmr or bpr != self.v_bpr or abpr != self.v_abpr:
            self.v_ctlr = ctlr
            self.v_pmr = pmr
            self.v_bpr = bpr
            self.v_abpr = abpr
            self.update()

    @property
    def apr(self) -> int:
        """GICH_APR (~§5.3.7); assigning goes through :meth:`write_apr`."""
        return self.h_apr

    @apr.setter
    def apr(self, value: int) -> None:
        self.write_apr(value)

    def read_apr(self) -> int:
        """GICH_APR (~§5.3.7)."""
        return self.h_apr

    def write_apr(self, v: int) -> None:
        """GICH_APR write: bit *k* = active group priority ``k << 3``; changes running priority.

        Re-evaluates (:meth:`update`) only when the value changes."""
        v &= 0xFFFF_FFFF
        if v != self.h_apr:
            self.h_apr = v
            self.update()

    def read_misr(self) -> int:
        """GICH_MISR (~§5.3.4), as :meth:`update` last computed it (every change of its
        inputs, GICH_HCR, GICV_CTLR and the LR bitmasks, runs :meth:`update`)."""
        return self.misr

    def read_eisr(self) -> int:
        """GICH_EISR0/1 as one int (~§5.3.5): LR invalid, HW=0 and EOI=1."""
        return self.eisr_mask

    def read_elrsr(self) -> int:
        """GICH_ELRSR0/1 as one int (~§5.3.6): LR invalid and (HW=1 or EOI=0)."""
        return self.elrsr_mask

    # ------------------------------------------------------------------ MMIO
    def read(self, offset: int, size: int = 4) -> int:
        """Read the GICH frame at ``offset`` through the register table (reserved: RAZ)."""
        return self.regs.read(offset, size, self.cpu)

    def write(self, offset: int, value: int, size: int = 4) -> None:
        """Write the GICH frame at ``offset`` through the register table (reserved: WI)."""
        self.regs.write(offset, value, size, self.cpu)

    # register-table handlers (regs.py contract: read(n, cpu), write(n, value, mask, cpu))






    def _r_eisr(self, n: int, cpu: int) -> int:
        return (self.eisr_mask >> (32 * n)) & 0xFFFF_FFFF

    def _r_elrsr(self, n: int, cpu: int) -> int:
        return (self.elrsr_mask >> (32 * n)) & 0xFFFF_FFFF



    def _r_lr(self, n: int, cpu: int) -> int:
        return self.read_lr(n)

    def _w_lr(self, n: int, value: int, mask: int, cpu: int) -> None:
        self.write_lr(n, value)


GICH_FRAME_SIZE: Final = 0x1000
"""Bytes of the GICH ("this CPU") frame decoded by :class:`HypInterface`."""

GICH_REGS: tuple[Reg, ...] = (
    Reg("GICH_HCR", GICH_HCR, read="read_hcr", write="write_hcr", plain=True, doc="Hypervisor Control"),
    Reg("GICH_VTR", GICH_VTR, read="read_vtr", plain=True, doc="VGIC Type (RO)"),
    Reg(
        "GICH_VMCR",
        GICH_VMCR,
        reset=GICH_VMCR_RESET,
        read="read_vmcr",
        write="write_vmcr",
        plain=True,
        doc="Virtual Machine Control",
    ),
    Reg("GICH_MISR", GICH_MISR, read="read_misr", plain=True, doc="Maintenance Interrupt Status (RO)"),
    Reg("GICH_EISR", GICH_EISR0, length=8, read="_r_eisr", doc="End of Interrupt Status 0/1 (RO)"),
    Reg(
        "GICH_ELRSR",
        GICH_ELRSR0,
        length=8,
        read="_r_elrsr",
        doc="Empty List Register Status 0/1 (RO)",
    ),
    Reg("GICH_APR", GICH_APR, read="read_apr", write="write_apr", plain=True, doc="Active Priorities"),
    Reg(
        "GICH_LR",
        GICH_LR0,
        length=4 * GICH_LR_MAX,
        read="_r_lr",
        write="_w_lr",
        doc="List Registers 0-63 (≥ num_lrs RAZ/WI)",
    ),
)
"""GICH register map (IHI 0048B §5.3, Table 5-1); every register is word-access only."""
