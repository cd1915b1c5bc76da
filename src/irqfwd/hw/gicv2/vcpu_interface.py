"""GICv2 virtual CPU interface (GICV_*) for one CPU (Arm IHI 0048B §5.4, §5.2).

The guest's view: a GICv2 CPU interface without Security Extensions whose "distributor" is
the List Registers of the matching :class:`~irqfwd.hw.gicv2.hyp_interface.HypInterface`.
GICV_CTLR/PMR/BPR/ABPR are the GICH_VMCR fields and GICV_APR0 is GICH_APR, so every
access here is visible through GICH_* and vice versa.

Life cycle of a virtual interrupt (IHI 0048B §5.2):

* GICV_IAR acknowledges the virtual HPPI: LR state 01 → 10, sets the GICH_APR bit of its
  group priority, returns VirtualID (| CPUID << 10 for a virtual SGI with HW=0); 1022 for
  a Group 1 HPPI with GICV_CTLR.AckCtl = 0, 1023 when nothing can be signalled.
* GICV_EOIR drops the highest active priority (lowest set GICH_APR bit); with
  GICV_CTLR.EOImode = 0 it also deactivates the LR (10 → 00, 11 → 01).  HW=1 LRs
  deactivate physical PhysicalID through ``gic.deactivate_physical`` (ignored for
  PhysicalID < 16 or ≥ 1020, D17); HW=0 LRs with EOI=1 raise the EOI maintenance
  condition.  No matching LR after a priority drop → GICH_HCR.EOICount += 1.
* GICV_DIR (EOImode = 1) deactivates; no matching LR → EOICount += 1.

IMPLEMENTATION DEFINED / UNPREDICTABLE choices (architectural default):

* GICV_EOIR with no active priority (GICH_APR = 0) is ignored: no LR is checked and
  EOICount is unchanged (the CONSTRAINED UNPREDICTABLE choice GICv3 allows for ICV_EOIR).
  With ``quirks.virtual_eoi_qemu_rules`` (D18) the matching LR is still deactivated.
* The LR matching an EOI/DIR is the lowest-numbered LR with that VirtualID in state 10 or
  11; for a virtual SGI (VirtualID < 16, HW=0) the CPUID must match too (D18: VirtualID only).
* GICV_DIR with EOImode = 0 is ignored (UNPREDICTABLE; QEMU ignores it too).
* With GICH_HCR.En = 0 there is no virtual HPPI: GICV_HPPIR and GICV_IAR read 1023 (as
  QEMU 7.2 does; the architecture text consulted only says nothing is signalled).
* QEMU quirks honoured here: D1 (no AIAR/AEOIR/AHPPIR), D3 (HPPIR masked by PMR), D4
  (HPPIR without CPUID), D5 (HPPI chosen across both groups, in ``HypInterface.update``),
  D13 (GICV_ABPR minimum 1), D18 (above).  D16 (no physical
  re-evaluation after an HW=1 deactivation) is handled by ``GICv2.deactivate_physical``.
"""

from __future__ import annotations

from typing import Final

from irqfwd.hw.gic.regs import Reg, RegisterBlock
from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.hw.gicv2.hyp_interface import (
    GICH_LR_ACTIVE,
    GICH_LR_GRP1,
    GICH_LR_HW,
    GICH_LR_PENDING,
    GICV_BPR_MIN,
    GICV_CTLR_ACKCTL,
    GICV_CTLR_EOIMODE,
    GICV_CTLR_MASK,
    HypInterface,
)

__all__ = ["GICV_FRAME_SIZE", "GICV_REGS", "VcpuInterface"]

GICV_CTLR: Final = 0x0000
GICV_PMR: Final = 0x0004
GICV_BPR: Final = 0x0008
GICV_IAR: Final = 0x000C
GICV_EOIR: Final = 0x0010
GICV_RPR: Final = 0x0014
GICV_HPPIR: Final = 0x0018
GICV_ABPR: Final = 0x001C
GICV_AIAR: Final = 0x0020
GICV_AEOIR: Final = 0x0024
GICV_AHPPIR: Final = 0x0028
GICV_APR0: Final = 0x00D0
GICV_IIDR: Final = 0x00FC
GICV_DIR: Final = 0x1000

SPURIOUS: Final = 1023
GROUP1_NOT_ACKED: Final = 1022


class VcpuInterface:
    """GICV_* registers of one CPU, operating on ``hyp``'s List Registers (~§5.4)."""

    __slots__ = ("_abpr_min", "_q_hppir_masked_by_pmr", "_q_hppir_no_cpuid", "_q_no_aliased_regs", "_q_preemption_qemu_rules", "_q_virtual_eoi_qemu_rules", "_sgi_hw", "config", "cpu", "gic", "hyp", "regs")

    def __init__(self, hyp: HypInterface, config: GICv2Config) -> None:
        self.hyp = hyp
        self.config = config
        self.cpu = hyp.cpu
        self.gic = hyp.gic
        q = config.quirks
        self._q_no_aliased_regs = q.no_aliased_regs
        self._q_hppir_masked_by_pmr = q.hppir_masked_by_pmr
        self._q_hppir_no_cpuid = q.hppir_no_cpuid
        self._q_virtual_eoi_qemu_rules = q.virtual_eoi_qemu_rules
        self._q_preemption_qemu_rules = q.preemption_qemu_rules
        # LR bits that stop a VirtualID < 16 carrying a CPUID in GICV_IAR: HW (X7: none)
        self._sgi_hw = 0 if q.hw_lr_sgi_cpuid else GICH_LR_HW
        # D13: QEMU clamps GICV_ABPR writes to the *physical* ABPR minimum (BPR min + 1).
        self._abpr_min = config.bpr_min + 1 if q.gicv_abpr_min_not_enforced else 3
        self.regs = RegisterBlock("GICV", GICV_FRAME_SIZE, GICV_REGS, self)

    # ------------------------------------------------------------------ CTLR / PMR / BPR
    def read_ctlr(self) -> int:
        """GICV_CTLR (alias of GICH_VMCR.VMCCtlr)."""
        return self.hyp.v_ctlr

    def write_ctlr(self, v: int) -> None:
        """GICV_CTLR write: EnableGrp0/1, AckCtl, FIQEn, CBPR, EOImode (mask 0x21F)."""
        hyp = self.hyp
        hyp.v_ctlr = v & GICV_CTLR_MASK
        hyp.update()

    def read_pmr(self) -> int:
        """GICV_PMR: priority mask, bits [7:3] implemented (alias of GICH_VMCR.VMPriMask)."""
        return self.hyp.v_pmr

    def write_pmr(self, v: int) -> None:
        """GICV_PMR write; low 3 bits RAZ/WI (0xFF reads 0xF8)."""
        hyp = self.hyp
        hyp.v_pmr = v & 0xF8
        hyp.update()

    def read_bpr(self) -> int:
        """GICV_BPR (alias of GICH_VMCR.VMBP)."""
        return self.hyp.v_bpr

    def write_bpr(self, v: int) -> None:
        """GICV_BPR write; values below the minimum (2) set the minimum."""
        hyp = self.hyp
        hyp.v_bpr = max(v & 7, GICV_BPR_MIN)
        hyp.update()

    def read_abpr(self) -> int:
        """GICV_ABPR (alias of GICH_VMCR.VMABP)."""
        return self.hyp.v_abpr

    def write_abpr(self, v: int) -> None:
        """GICV_ABPR write; minimum 3 (D13: the physical minimum, BPR min + 1)."""
        hyp = self.hyp
        hyp.v_abpr = max(v & 7, self._abpr_min)
        hyp.update()

    def read_rpr(self) -> int:
        """GICV_RPR: virtual running priority from GICH_APR; 0xFF when idle."""
        rp = self.hyp.running_priority()
        return 0xFF if rp > 0xFF else rp

    def read_apr0(self) -> int:
        """GICV_APR0: alias of GICH_APR."""
        return self.hyp.h_apr

    def write_apr0(self, v: int) -> None:
        """GICV_APR0 write: alias of GICH_APR."""
        self.hyp.write_apr(v)

    # ------------------------------------------------------------------ acknowledge
    def _id_of(self, lr_value: int) -> int:
        """The INTID GICV_IAR returns for an LR: VirtualID, | CPUID << 10 for a vSGI (HW=0)."""
        vid = lr_value & 0x3FF
        if vid < 16 and not lr_value & self._sgi_hw:
            return lr_value & 0x1FFF
        return vid

    def _acknowledge(self, n: int) -> int:
        """LR ``n`` (state 01): → 10, set the GICH_APR bit of its group priority."""
        hyp = self.hyp
        v = hyp.lr[n]
        hyp.h_apr |= 1 << (hyp.group_priority(v) >> 3)
        # 01 → 10: no longer pending, still valid; EISR/ELRSR unchanged (state ≠ 00)
        hyp.lr[n] = v ^ (GICH_LR_ACTIVE | GICH_LR_PENDING)
        hyp.pend_mask &= ~(1 << n)
        hyp.update()
        vid = v & 0x3FF
        if vid < 16 and not v & self._sgi_hw:
            return v & 0x1FFF
        return vid

    def read_iar(self) -> int:
        """GICV_IAR (~§5.4): acknowledge the virtual HPPI if it can be signalled.

        1023 when no pending LR passes GICH_HCR.En, GICV_PMR and the preemption check;
        1022 when the HPPI is Group 1 and GICV_CTLR.AckCtl = 0.
        """
        hyp = self.hyp
        n = hyp.hppi_lr
        if n >= 0 and self._q_preemption_qemu_rules:  # X2: QEMU answers 1022 before the running-priority check
            v = hyp.lr[n]
            if (
                v & GICH_LR_GRP1
                and not hyp.v_ctlr & GICV_CTLR_ACKCTL
                and (v >> 20) & 0xF8 < hyp.v_pmr
            ):
                return GROUP1_NOT_ACKED
        if n < 0 or not hyp.hppi_ok:
            return SPURIOUS
        if hyp.lr[n] & GICH_LR_GRP1 and not hyp.v_ctlr & GICV_CTLR_ACKCTL:
            return GROUP1_NOT_ACKED
        return self._acknowledge(n)

    def read_aiar(self) -> int:
        """GICV_AIAR: acknowledge a Group 1 HPPI whatever AckCtl is (D1: reads 0)."""
        if self._q_no_aliased_regs:
            return 0
        hyp = self.hyp
        n = hyp.hppi_lr
        if n < 0 or not hyp.hppi_ok or not hyp.lr[n] & GICH_LR_GRP1:
            return SPURIOUS
        return self._acknowledge(n)

    def read_hppir(self) -> int:
        """GICV_HPPIR: the virtual HPPI without acknowledging it (independent of PMR).

        D3: 1023 if its priority is not below GICV_PMR; D4: no CPUID for vSGIs.
        """
        hyp = self.hyp
        n = hyp.hppi_lr
        if n < 0:
            return SPURIOUS
        v = hyp.lr[n]
        if self._q_hppir_masked_by_pmr and ((v >> 20) & 0xF8) >= hyp.v_pmr:
            return SPURIOUS
        if v & GICH_LR_GRP1 and not hyp.v_ctlr & GICV_CTLR_ACKCTL:
            return GROUP1_NOT_ACKED
        return v & 0x3FF if self._q_hppir_no_cpuid else self._id_of(v)

    def read_ahppir(self) -> int:
        """GICV_AHPPIR: the HPPI if it is Group 1, else 1023 (D1: reads 0)."""
        if self._q_no_aliased_regs:
            return 0
        hyp = self.hyp
        n = hyp.hppi_lr
        if n < 0:
            return SPURIOUS
        v = hyp.lr[n]
        if not v & GICH_LR_GRP1 or (self._q_hppir_masked_by_pmr and ((v >> 20) & 0xF8) >= hyp.v_pmr):
            return SPURIOUS
        return v & 0x3FF if self._q_hppir_no_cpuid else self._id_of(v)

    # ------------------------------------------------------------------ EOI / deactivate
    def _find_active_lr(self, value: int) -> int:
        """Lowest LR in state 10/11 whose VirtualID (and CPUID for a vSGI) matches ``value``."""
        vid = value & 0x3FF
        hyp = self.hyp
        lrs = hyp.lr
        m = hyp.valid_mask  # only LRs in a state other than 00 can be active
        while m:
            low = m & -m
            m ^= low
            n = low.bit_length() - 1
            v = lrs[n]
            if v & 0x3FF == vid and v & GICH_LR_ACTIVE:
                if vid < 16 and not v & GICH_LR_HW and not self._q_virtual_eoi_qemu_rules and (v ^ value) & 0x1C00:
                    continue
                return n
        return -1

    def _deactivate(self, n: int) -> None:
        """Clear LR ``n``'s active bit; HW=1 → deactivate PhysicalID (16 ≤ id < 1020)."""
        hyp = self.hyp
        v = hyp.lr[n] & ~GICH_LR_ACTIVE
        hyp.set_lr(n, v)  # 10 → 00 or 11 → 01
        hyp.update()
        if v & GICH_LR_HW:
            pid = (v >> 10) & 0x3FF
            if 16 <= pid < 1020:
                self.gic.deactivate_physical(self.cpu, pid)

    def write_eoir(self, value: int) -> None:
        """GICV_EOIR (~§5.4): priority drop, plus deactivation when GICV_CTLR.EOImode = 0."""
        if value & 0x3FF >= 1020:
            return
        hyp = self.hyp
        apr = hyp.h_apr
        if apr:
            hyp.h_apr = apr & (apr - 1)  # drop the highest active priority
        elif not self._q_virtual_eoi_qemu_rules:
            return
        if hyp.v_ctlr & GICV_CTLR_EOIMODE:
            hyp.update()
            return
        n = self._find_active_lr(value)
        if n >= 0:
            self._deactivate(n)
            return
        if apr:
            hyp.increment_eoicount()
        hyp.update()

    def write_aeoir(self, value: int) -> None:
        """GICV_AEOIR: as GICV_EOIR (one GICH_APR for both groups) (D1: ignored)."""
        if not self._q_no_aliased_regs:
            self.write_eoir(value)

    def write_dir(self, value: int) -> None:
        """GICV_DIR (~§5.4): deactivate with EOImode = 1; no matching LR → EOICount += 1."""
        hyp = self.hyp
        if not hyp.v_ctlr & GICV_CTLR_EOIMODE or value & 0x3FF >= 1020:
            return
        n = self._find_active_lr(value)
        if n >= 0:
            self._deactivate(n)
            return
        hyp.increment_eoicount()
        hyp.update()

    # ------------------------------------------------------------------ MMIO
    def read(self, offset: int, size: int = 4) -> int:
        """Read the GICV frame at ``offset`` through the register table (reserved: RAZ)."""
        return self.regs.read(offset, size, self.cpu)

    def write(self, offset: int, value: int, size: int = 4) -> None:
        """Write the GICV frame at ``offset`` through the register table (reserved: WI)."""
        self.regs.write(offset, value, size, self.cpu)

    # register-table handlers (regs.py contract: read(n, cpu), write(n, value, mask, cpu))















    def _r_apr(self, n: int, cpu: int) -> int:
        return self.hyp.h_apr if n == 0 else 0

    def _w_apr(self, n: int, value: int, mask: int, cpu: int) -> None:
        if n == 0:
            self.hyp.write_apr(value)

    def _r_iidr(self, n: int, cpu: int) -> int:
        return self.config.gicv_iidr



GICV_FRAME_SIZE: Final = 0x2000
"""Bytes of the GICV frame (GICV_DIR at 0x1000 lies in its second 4 KB page)."""

GICV_REGS: tuple[Reg, ...] = (
    Reg(
        "GICV_CTLR", GICV_CTLR, read="read_ctlr", write="write_ctlr", plain=True, doc="Virtual CPU Interface Control"
    ),
    Reg("GICV_PMR", GICV_PMR, read="read_pmr", write="write_pmr", plain=True, doc="Priority Mask ([7:3])"),
    Reg("GICV_BPR", GICV_BPR, reset=2, read="read_bpr", write="write_bpr", plain=True, doc="Binary Point (min 2)"),
    Reg("GICV_IAR", GICV_IAR, read="read_iar", plain=True, doc="Interrupt Acknowledge (RO)"),
    Reg("GICV_EOIR", GICV_EOIR, write="write_eoir", plain=True, doc="End of Interrupt (WO)"),
    Reg("GICV_RPR", GICV_RPR, reset=0xFF, read="read_rpr", plain=True, doc="Running Priority (RO)"),
    Reg(
        "GICV_HPPIR",
        GICV_HPPIR,
        reset=0x3FF,
        read="read_hppir",
        plain=True, doc="Highest Priority Pending Interrupt (RO)",
    ),
    Reg(
        "GICV_ABPR",
        GICV_ABPR,
        reset=3,
        read="read_abpr",
        write="write_abpr",
        plain=True, doc="Aliased Binary Point (min 3)",
    ),
    Reg("GICV_AIAR", GICV_AIAR, read="read_aiar", plain=True, doc="Aliased Interrupt Acknowledge (RO)"),
    Reg("GICV_AEOIR", GICV_AEOIR, write="write_aeoir", plain=True, doc="Aliased End of Interrupt (WO)"),
    Reg(
        "GICV_AHPPIR",
        GICV_AHPPIR,
        reset=0x3FF,
        read="read_ahppir",
        plain=True, doc="Aliased Highest Priority Pending Interrupt (RO)",
    ),
    Reg(
        "GICV_APR",
        GICV_APR0,
        length=16,
        read="_r_apr",
        write="_w_apr",
        doc="Active Priorities 0-3 (APR0 = GICH_APR; APR1-3 RAZ/WI)",
    ),
    Reg("GICV_IIDR", GICV_IIDR, read="_r_iidr", doc="CPU Interface Identification (RO)"),
    Reg("GICV_DIR", GICV_DIR, write="write_dir", plain=True, doc="Deactivate Interrupt (WO)"),
)
"""GICV register map (IHI 0048B §5.4, the GICC layout); word access only."""
