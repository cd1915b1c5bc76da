"""GICv3 virtualization: the ``ICH_*_EL2`` control registers and the ``ICV_*_EL1`` virtual
CPU interface of one PE (Arm IHI 0069H §12.4, §12.3; virtual interrupt handling §6.? and
the pseudocode of §4.8 applied to the virtual interface).

The hypervisor programs the List Registers (64-bit ``ICH_LR<n>_EL2``: vINTID [31:0],
pINTID [44:32] with HW = 1, EOI [41] with HW = 0, Priority [55:48], Group [60], HW [61],
State [63:62]), ``ICH_HCR_EL2``, ``ICH_VMCR_EL2`` and the active priorities
``ICH_AP0R<n>``/``ICH_AP1R<n>``, and reads ``ICH_MISR_EL2``, ``ICH_EISR_EL2`` and
``ICH_ELRSR_EL2``.  The guest, at EL1 with ``HCR_EL2.IMO``/``FMO`` set, reaches the same
state through ``ICV_*_EL1`` (the ``read_icv_*``/``write_icv_*`` accessors): ICV_PMR,
ICV_BPR0/1, ICV_CTLR and ICV_IGRPEN0/1 are fields of ICH_VMCR_EL2, ICV_AP0R/AP1R are
ICH_AP0R/AP1R.

On a GICv4 the resident vPE's pending vLPIs (the redistributor's
:attr:`~irqfwd.hw.gicv3.redistributor.Redistributor.vlpi`) compete with the List Registers
for the virtual HPPI (§5.4): acknowledged by ICV_IAR1_EL1 they leave the pending state (no
active state), ICV_EOIR1_EL1 only drops their priority.

Outputs: vIRQ (Group 1) / vFIQ (Group 0) and the maintenance interrupt (a level on the
PPI :attr:`GICv3Config.maintenance_intid` of this PE: ICH_HCR_EL2.En and ICH_MISR_EL2 ≠ 0).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from irqfwd.hw.gic.sysregs import GICV3_SYSREGS, SysReg, SysRegBlock
from irqfwd.hw.gicv3.config import GICv3Config
from irqfwd.hw.gicv3.cpu_interface import (
    ICC_CTLR_A3V,
    ICC_CTLR_IDBITS_24,
    IDLE_PRIORITY,
    INTID_SPURIOUS,
    group_priority_mask,
    is_special,
)

if TYPE_CHECKING:
    from irqfwd.hw.gicv3.core import GicV3Core

__all__ = [
    "ICH_HCR_EN",
    "ICH_HCR_LRENPIE",
    "ICH_HCR_NPIE",
    "ICH_HCR_UIE",
    "ICH_LR_EOI",
    "ICH_LR_GROUP",
    "ICH_LR_HW",
    "ICH_LR_STATE_ACTIVE",
    "ICH_LR_STATE_PENDING",
    "VirtInterface",
    "make_lr",
]

# ICH_HCR_EL2 (§12.4.4)
ICH_HCR_EN: Final = 1 << 0
ICH_HCR_UIE: Final = 1 << 1
ICH_HCR_LRENPIE: Final = 1 << 2
ICH_HCR_NPIE: Final = 1 << 3
ICH_HCR_VGRP0EIE: Final = 1 << 4
ICH_HCR_VGRP0DIE: Final = 1 << 5
ICH_HCR_VGRP1EIE: Final = 1 << 6
ICH_HCR_VGRP1DIE: Final = 1 << 7
ICH_HCR_VSGIEOICOUNT: Final = 1 << 8
"""GICv4.1: EOIs of directly injected vSGIs do not count in EOIcount."""
ICH_HCR_EOICOUNT_SHIFT: Final = 27
ICH_HCR_MASK: Final = 0xF800_7CFF
"""En..VGrp1DIE [7:0], TC [10], TALL0 [11], TALL1 [12], TSEI [13], TDIR [14],
EOIcount [31:27]."""
# ICH_MISR_EL2 (§12.4.7)
ICH_MISR_EOI: Final = 1 << 0
ICH_MISR_U: Final = 1 << 1
ICH_MISR_LRENP: Final = 1 << 2
ICH_MISR_NP: Final = 1 << 3
ICH_MISR_VGRP0E: Final = 1 << 4
ICH_MISR_VGRP0D: Final = 1 << 5
ICH_MISR_VGRP1E: Final = 1 << 6
ICH_MISR_VGRP1D: Final = 1 << 7
# ICH_VMCR_EL2 (§12.4.9)
VMCR_VENG0: Final = 1 << 0
VMCR_VENG1: Final = 1 << 1
VMCR_VFIQEN: Final = 1 << 3
VMCR_VCBPR: Final = 1 << 4
VMCR_VEOIM: Final = 1 << 9
VMCR_VBPR1_SHIFT: Final = 18
VMCR_VBPR0_SHIFT: Final = 21
VMCR_VPMR_SHIFT: Final = 24
# ICH_LR<n>_EL2 (§12.4.6)
ICH_LR_VINTID_MASK: Final = 0xFFFF_FFFF
ICH_LR_PINTID_SHIFT: Final = 32
ICH_LR_PINTID_MASK: Final = 0x1FFF
ICH_LR_EOI: Final = 1 << 41
ICH_LR_PRIORITY_SHIFT: Final = 48
ICH_LR_GROUP: Final = 1 << 60
ICH_LR_HW: Final = 1 << 61
ICH_LR_STATE_PENDING: Final = 1 << 62
ICH_LR_STATE_ACTIVE: Final = 1 << 63
ICH_LR_STATE_MASK: Final = 3 << 62
ICH_LR_ARCH_MASK: Final = 0xF0FF_1FFF_FFFF_FFFF
"""State, HW, Group, Priority [55:48], pINTID [44:32], vINTID; RES0 [59:56], [47:45]."""


def make_lr(vintid: int, prio: int, group1: bool = True, state: int = 1, hw: bool = False,
            pintid: int = 0, eoi: bool = False) -> int:
    """An ICH_LR<n>_EL2 value (state 1 pending, 2 active, 3 active+pending)."""
    v = vintid | prio << ICH_LR_PRIORITY_SHIFT | state << 62
    if group1:
        v |= ICH_LR_GROUP
    if hw:
        v |= ICH_LR_HW | pintid << ICH_LR_PINTID_SHIFT
    elif eoi:
        v |= ICH_LR_EOI
    return v


def _implemented_ich(cfg: GICv3Config) -> Callable[[SysReg], bool]:
    def ok(reg: SysReg) -> bool:
        name = reg.name
        if name.startswith("ICH_LR"):
            return int(name[6:-4]) < cfg.num_lrs
        if name[:8] in ("ICH_AP0R", "ICH_AP1R"):
            return int(name[8]) < 1 << (cfg.vpre_bits - 5)
        return name.startswith("ICH_")

    return ok


def _implemented_icv(cfg: GICv3Config) -> Callable[[SysReg], bool]:
    def ok(reg: SysReg) -> bool:
        if not reg.virt:
            return False
        if reg.name[:8] in ("ICC_AP0R", "ICC_AP1R"):
            return int(reg.name[8]) < 1 << (cfg.vpre_bits - 5)
        return True

    return ok


class VirtInterface:
    """ICH_* state of one PE and the ICV_* view of it."""

    __slots__ = (
        "_apr_shift",
        "_lr_mask",
        "_min_vbpr0",
        "_vpri_mask",
        "ap",
        "config",
        "cpu",
        "gic",
        "hcr",
        "icv",
        "lr",
        "napr",
        "nlr",
        "regs",
        "vmcr",
    )

    def __init__(self, cpu: int, config: GICv3Config, gic: GicV3Core) -> None:
        self.cpu = cpu
        self.config = config
        self.gic = gic
        self.nlr = config.num_lrs
        self.napr = 1 << (config.vpre_bits - 5)
        self._apr_shift = 8 - config.vpre_bits
        self._min_vbpr0 = 7 - config.vpre_bits
        self._vpri_mask = (0xFF << (8 - config.vpri_bits)) & 0xFF
        unimpl = (~self._vpri_mask & 0xFF) << ICH_LR_PRIORITY_SHIFT
        base = 0xFFFF_FFFF_FFFF_FFFF if config.quirks.lr_res0_stored else ICH_LR_ARCH_MASK
        self._lr_mask = base & ~unimpl
        self.hcr = 0
        self.vmcr = 0
        self.lr = [0] * self.nlr
        self.ap: list[list[int]] = [[0] * self.napr, [0] * self.napr]
        self.reset()
        self.regs = SysRegBlock(f"ICH cpu{cpu}", GICV3_SYSREGS, self, _implemented_ich(config))
        self.icv = SysRegBlock(f"ICV cpu{cpu}", GICV3_SYSREGS, _IcvView(self),
                               _implemented_icv(config))
        """The ICV_* registers, by the ICC_* name whose encoding they share."""

    def reset(self) -> None:
        """Reset values: LRs, HCR, APRs 0; ICH_VMCR_EL2 with the minimum binary points and
        VFIQEn (RES1), i.e. 0x004C0008 with 5 preemption bits."""
        self.hcr = 0
        self.lr = [0] * self.nlr
        self.ap = [[0] * self.napr, [0] * self.napr]
        self.vmcr = (VMCR_VFIQEN | self._min_vbpr0 << VMCR_VBPR0_SHIFT
                     | (self._min_vbpr0 + 1) << VMCR_VBPR1_SHIFT)

    # -- VMCR fields --------------------------------------------------------------------

    @property
    def vpmr(self) -> int:
        """Virtual priority mask (ICH_VMCR_EL2.VPMR: implemented bits, or as written
        through ICH_VMCR_EL2 under QemuQuirks.vmcr_vpmr_unmasked)."""
        return (self.vmcr >> VMCR_VPMR_SHIFT) & 0xFF

    @property
    def vbpr0(self) -> int:
        return (self.vmcr >> VMCR_VBPR0_SHIFT) & 7

    @property
    def vbpr1(self) -> int:
        return (self.vmcr >> VMCR_VBPR1_SHIFT) & 7

    def gmask(self, group: int) -> int:
        """Virtual group-priority mask (ICH_VMCR_EL2.VCBPR: Group 1 uses VBPR0)."""
        if group == 0 or self.vmcr & VMCR_VCBPR:
            return group_priority_mask(self.vbpr0, False)
        return group_priority_mask(self.vbpr1, True)

    def group_enabled(self, group: int) -> bool:
        """ICH_VMCR_EL2.VENG0 / VENG1."""
        return bool(self.vmcr & (VMCR_VENG1 if group else VMCR_VENG0))

    # -- priority bookkeeping -------------------------------------------------------------

    def running_priority(self) -> int:
        """ICV_RPR_EL1: highest active virtual priority of either group, 0xFF if none."""
        for i in range(self.napr):
            bits = self.ap[0][i] | self.ap[1][i]
            if bits:
                return ((i << 5) + (bits & -bits).bit_length() - 1) << self._apr_shift
        return IDLE_PRIORITY

    def _drop_priority(self) -> int:
        """Clear the highest active priority bit of either group (Group 0 on a tie);
        return the group priority it stood for, 0xFF if no bit was set."""
        for i in range(self.napr):
            a0, a1 = self.ap[0][i], self.ap[1][i]
            if not a0 and not a1:
                continue
            c0 = (a0 & -a0).bit_length() - 1 if a0 else 32
            c1 = (a1 & -a1).bit_length() - 1 if a1 else 32
            if c0 <= c1:
                self.ap[0][i] = a0 & (a0 - 1)
                return ((i << 5) + c0) << self._apr_shift
            self.ap[1][i] = a1 & (a1 - 1)
            return ((i << 5) + c1) << self._apr_shift
        return IDLE_PRIORITY

    def _can_preempt(self, prio: int, group: int) -> bool:
        if not self.hcr & ICH_HCR_EN or prio >= self.vpmr:
            return False
        rpr = self.running_priority()
        if rpr == IDLE_PRIORITY:
            return True
        m = self.gmask(group)
        return (prio & m) < (rpr & m)

    # -- the virtual HPPI (§4.8 on the virtual interface) -------------------------------

    def hppvi(self) -> tuple[int, int, int, int] | None:
        """``(LR index or -1 for a vLPI, vINTID, priority, group)`` of the highest-priority
        pending virtual interrupt of an enabled group: an LR in state pending (lowest LR on
        equal priority) or a pending vLPI of the resident vPE (Group 1); None if none.
        A priority of 0xFF is never selected."""
        best = -1
        bprio = 0xFF
        for i in range(self.nlr):
            v = self.lr[i]
            if v & ICH_LR_STATE_MASK != ICH_LR_STATE_PENDING:
                continue
            g = 1 if v & ICH_LR_GROUP else 0
            if not self.group_enabled(g):
                continue
            p = (v >> ICH_LR_PRIORITY_SHIFT) & 0xFF
            if p < bprio:
                best, bprio = i, p
        d = self.gic.direct_best(self.cpu, self.group_enabled(0), self.group_enabled(1))
        if d is not None and d[0] < bprio:
            return -1, d[1], d[0], d[2]
        if best < 0:
            return None
        v = self.lr[best]
        return best, v & ICH_LR_VINTID_MASK, bprio, 1 if v & ICH_LR_GROUP else 0

    def outputs(self) -> tuple[bool, bool]:
        """``(vIRQ, vFIQ)``: the virtual HPPI can preempt; Group 1 → vIRQ, Group 0 → vFIQ."""
        h = self.hppvi()
        if h is None or not self._can_preempt(h[2], h[3]):
            return False, False
        return h[3] == 1, h[3] == 0

    # -- maintenance (§12.4.3, §12.4.5, §12.4.7) ---------------------------------------

    def eisr(self) -> int:
        """ICH_EISR_EL2: LRs with State = 0, HW = 0, EOI = 1."""
        out = 0
        for i in range(self.nlr):
            if self.lr[i] & (ICH_LR_STATE_MASK | ICH_LR_HW | ICH_LR_EOI) == ICH_LR_EOI:
                out |= 1 << i
        return out

    def elrsr(self) -> int:
        """ICH_ELRSR_EL2: LRs with State = 0 that need no EOI maintenance (HW = 1 or
        EOI = 0)."""
        out = 0
        for i in range(self.nlr):
            v = self.lr[i]
            if not v & ICH_LR_STATE_MASK and (not v & ICH_LR_EOI or v & ICH_LR_HW):
                out |= 1 << i
        return out

    def misr(self) -> int:
        """ICH_MISR_EL2."""
        hcr = self.hcr
        out = 0
        valid = 0
        pending = False
        for v in self.lr:
            st = v & ICH_LR_STATE_MASK
            if st:
                valid += 1
            if st == ICH_LR_STATE_PENDING:
                pending = True
        if self.eisr():
            out |= ICH_MISR_EOI
        if hcr & ICH_HCR_UIE and valid < 2:
            out |= ICH_MISR_U
        if hcr & ICH_HCR_LRENPIE and hcr >> ICH_HCR_EOICOUNT_SHIFT:
            out |= ICH_MISR_LRENP
        if hcr & ICH_HCR_NPIE and not pending:
            out |= ICH_MISR_NP
        veng0 = bool(self.vmcr & VMCR_VENG0)
        veng1 = bool(self.vmcr & VMCR_VENG1)
        if hcr & ICH_HCR_VGRP0EIE and veng0:
            out |= ICH_MISR_VGRP0E
        g0d_off = veng1 if self.config.quirks.misr_vgrp0d_uses_veng1 else veng0
        if hcr & ICH_HCR_VGRP0DIE and not g0d_off:
            out |= ICH_MISR_VGRP0D
        if hcr & ICH_HCR_VGRP1EIE and veng1:
            out |= ICH_MISR_VGRP1E
        if hcr & ICH_HCR_VGRP1DIE and not veng1:
            out |= ICH_MISR_VGRP1D
        return out

    def maintenance(self) -> bool:
        """Maintenance interrupt level: ICH_HCR_EL2.En and ICH_MISR_EL2 ≠ 0."""
        return bool(self.hcr & ICH_HCR_EN) and self.misr() != 0

    # -- ICH_* handlers ---------------------------------------------------------------

    def read_hcr(self) -> int:
        """ICH_HCR_EL2 (§12.4.4)."""
        return self.hcr

    def write_hcr(self, value: int) -> None:
        mask = ICH_HCR_MASK | (ICH_HCR_VSGIEOICOUNT if self.config.gicv41 else 0)
        self.hcr = value & mask
        self.gic.update(self.cpu)

    def read_vtr(self) -> int:
        """ICH_VTR_EL2 (§12.4.8): ListRegs, TDS, nV4 (no direct injection on a GICv3),
        A3V, IDbits (24), PREbits, PRIbits."""
        cfg = self.config
        nv4 = 1 if cfg.version < 4 else 0
        return ((cfg.num_lrs - 1) | 1 << 19 | nv4 << 20 | 1 << 21 | 1 << 23
                | (cfg.vpre_bits - 1) << 26 | (cfg.vpri_bits - 1) << 29)

    def read_misr(self) -> int:
        """ICH_MISR_EL2 (§12.4.7)."""
        return self.misr()

    def read_eisr(self) -> int:
        """ICH_EISR_EL2 (§12.4.3)."""
        return self.eisr()

    def read_elrsr(self) -> int:
        """ICH_ELRSR_EL2 (§12.4.5)."""
        return self.elrsr()

    def read_vmcr(self) -> int:
        """ICH_VMCR_EL2 (§12.4.9)."""
        return self.vmcr

    def write_vmcr(self, value: int) -> None:
        """VPMR, VBPR0/1 (raised to their minimum), VEOIM, VCBPR, VENG0/1 as written;
        VFIQEn RES1 and VAckCtl RES0 with the system register interface."""
        vpmr = (value >> VMCR_VPMR_SHIFT) & 0xFF
        if not self.config.quirks.vmcr_vpmr_unmasked:
            vpmr &= self._vpri_mask
        vbpr0 = max((value >> VMCR_VBPR0_SHIFT) & 7, self._min_vbpr0)
        vbpr1 = max((value >> VMCR_VBPR1_SHIFT) & 7, self._min_vbpr0 + 1)
        self.vmcr = (vpmr << VMCR_VPMR_SHIFT | vbpr0 << VMCR_VBPR0_SHIFT
                     | vbpr1 << VMCR_VBPR1_SHIFT | VMCR_VFIQEN
                     | value & (VMCR_VEOIM | VMCR_VCBPR | VMCR_VENG0 | VMCR_VENG1))
        self.gic.update(self.cpu)

    def read_lr(self, n: int) -> int:
        """ICH_LR<n>_EL2 (§12.4.6)."""
        return self.lr[n]

    def write_lr(self, n: int, value: int) -> None:
        """ICH_LR<n>_EL2: RES0 and unimplemented priority bits are RAZ/WI."""
        self.lr[n] = value & self._lr_mask
        self.gic.update(self.cpu)

    def read_ap0r(self, n: int) -> int:
        """ICH_AP0R<n>_EL2 (§12.4.1); also ICV_AP0R<n>_EL1."""
        return self.ap[0][n]

    def write_ap0r(self, n: int, value: int) -> None:
        self.ap[0][n] = value & 0xFFFF_FFFF
        self.gic.update(self.cpu)

    def read_ap1r(self, n: int) -> int:
        """ICH_AP1R<n>_EL2 (§12.4.2); also ICV_AP1R<n>_EL1."""
        return self.ap[1][n]

    def write_ap1r(self, n: int, value: int) -> None:
        self.ap[1][n] = value & 0xFFFF_FFFF
        self.gic.update(self.cpu)

    # -- ICV_* (§12.3) ----------------------------------------------------------------

    def icv_acknowledge(self, group: int) -> int:
        """ICV_IAR0/1_EL1: the virtual HPPI if it is of ``group`` and can preempt: an LR
        goes pending → active, a vLPI leaves the pending state; its group priority is
        set in ICH_AP0R/AP1R.  1023 otherwise."""
        h = self.hppvi()
        if h is None:
            return INTID_SPURIOUS
        idx, intid, prio, grp = h
        if grp != group or not self._can_preempt(prio, grp):
            return INTID_SPURIOUS
        if is_special(intid):
            return intid
        bit = (prio & self.gmask(grp)) >> self._apr_shift
        self.ap[grp][bit >> 5] |= 1 << (bit & 31)
        if idx >= 0:
            self.lr[idx] = (self.lr[idx] & ~ICH_LR_STATE_PENDING) | ICH_LR_STATE_ACTIVE
        else:
            self.gic.ack_direct(self.cpu, intid)
        self.gic.update(self.cpu)
        return intid

    def icv_hppir(self, group: int) -> int:
        """ICV_HPPIR0/1_EL1: the virtual HPPI if it is of ``group`` (no mask checks)."""
        h = self.hppvi()
        if h is None or h[3] != group:
            return INTID_SPURIOUS
        return h[1]

    def _find_active(self, intid: int) -> int:
        for i in range(self.nlr):
            v = self.lr[i]
            if v & ICH_LR_STATE_ACTIVE and v & ICH_LR_VINTID_MASK == intid:
                return i
        return -1

    def _deactivate_lr(self, idx: int) -> None:
        """Active → invalid, active+pending → pending; HW = 1 deactivates pINTID at the
        physical distributor/redistributor (§4.? "Hardware interrupts", ICH_LR.HW)."""
        v = self.lr[idx]
        if v & ICH_LR_HW:
            pintid = (v >> ICH_LR_PINTID_SHIFT) & ICH_LR_PINTID_MASK
            if pintid < 1020:
                self.gic.deactivate(self.cpu, pintid, "hw_lr")
        self.lr[idx] = v & ~ICH_LR_STATE_ACTIVE

    def _count_eoi(self) -> None:
        count = ((self.hcr >> ICH_HCR_EOICOUNT_SHIFT) + 1) & 0x1F
        self.hcr = (self.hcr & ~(0x1F << ICH_HCR_EOICOUNT_SHIFT)) | count << ICH_HCR_EOICOUNT_SHIFT

    def icv_eoi(self, value: int, group: int) -> None:
        """ICV_EOIR0/1_EL1: drop the highest active virtual priority; with VEOIM = 0
        deactivate the LR holding INTID if its group and group priority match; no LR
        found: EOIcount + 1 (not for a vLPI, which has no active state, nor for a vSGI
        with ICH_HCR_EL2.vSGIEOICount on a GICv4.1).  Nothing happens
        when no priority is active (CONSTRAINED UNPREDICTABLE, §12.3.8; QEMU's choice)."""
        intid = value & 0xFF_FFFF
        if is_special(intid):
            return
        dropped = self._drop_priority()
        if dropped != IDLE_PRIORITY:
            idx = self._find_active(intid)
            if idx < 0:
                if intid < 8192 and not (intid < 16 and self.hcr & ICH_HCR_VSGIEOICOUNT):
                    self._count_eoi()
            elif not self.vmcr & VMCR_VEOIM:
                v = self.lr[idx]
                g = 1 if v & ICH_LR_GROUP else 0
                prio = (v >> ICH_LR_PRIORITY_SHIFT) & 0xFF
                if g == group and prio & self.gmask(group) == dropped:
                    self._deactivate_lr(idx)
        self.gic.update(self.cpu)

    def icv_dir(self, value: int) -> None:
        """ICV_DIR_EL1: with VEOIM = 1 deactivate the LR holding INTID, or count an EOI
        when there is none (§12.3.6)."""
        intid = value & 0xFF_FFFF
        if is_special(intid) or intid >= 8192 or not self.vmcr & VMCR_VEOIM:
            return
        idx = self._find_active(intid)
        if idx < 0:
            self._count_eoi()
        else:
            self._deactivate_lr(idx)
        self.gic.update(self.cpu)

    def icv_write_pmr(self, value: int) -> None:
        """ICV_PMR_EL1 → ICH_VMCR_EL2.VPMR."""
        self._set_vmcr_field(VMCR_VPMR_SHIFT, 0xFF, value & self._vpri_mask)

    def icv_write_bpr(self, group: int, value: int) -> None:
        """ICV_BPR0/1_EL1 → VBPR0/1, raised to the minimum; ICV_BPR1 writes are ignored
        with VCBPR = 1."""
        if group == 0:
            self._set_vmcr_field(VMCR_VBPR0_SHIFT, 7, max(value & 7, self._min_vbpr0))
        elif not self.vmcr & VMCR_VCBPR:
            self._set_vmcr_field(VMCR_VBPR1_SHIFT, 7, max(value & 7, self._min_vbpr0 + 1))

    def icv_read_bpr(self, group: int) -> int:
        if group == 0:
            return self.vbpr0
        if self.vmcr & VMCR_VCBPR:
            return min(self.vbpr0 + 1, 7)
        return self.vbpr1

    def icv_read_ctlr(self) -> int:
        """ICV_CTLR_EL1: CBPR = VCBPR, EOImode = VEOIM; PRIbits, IDbits, A3V read-only."""
        v = (1 if self.vmcr & VMCR_VCBPR else 0) | (2 if self.vmcr & VMCR_VEOIM else 0)
        return v | (self.config.vpri_bits - 1) << 8 | ICC_CTLR_IDBITS_24 | ICC_CTLR_A3V

    def icv_write_ctlr(self, value: int) -> None:
        v = self.vmcr & ~(VMCR_VCBPR | VMCR_VEOIM)
        if value & 1:
            v |= VMCR_VCBPR
        if value & 2:
            v |= VMCR_VEOIM
        self.vmcr = v
        self.gic.update(self.cpu)

    def icv_write_igrpen(self, group: int, value: int) -> None:
        bit = VMCR_VENG1 if group else VMCR_VENG0
        self.vmcr = (self.vmcr | bit) if value & 1 else (self.vmcr & ~bit)
        self.gic.update(self.cpu)

    def _set_vmcr_field(self, shift: int, mask: int, value: int) -> None:
        self.vmcr = (self.vmcr & ~(mask << shift)) | value << shift
        self.gic.update(self.cpu)


class _IcvView:
    """The ICV_* registers as handlers named like the ICC_* table entries (§12.3)."""

    __slots__ = ("v",)

    def __init__(self, v: VirtInterface) -> None:
        self.v = v

    def read_pmr(self) -> int:
        return self.v.vpmr

    def write_pmr(self, value: int) -> None:
        self.v.icv_write_pmr(value)

    def read_iar0(self) -> int:
        return self.v.icv_acknowledge(0)

    def read_iar1(self) -> int:
        return self.v.icv_acknowledge(1)

    def write_eoir0(self, value: int) -> None:
        self.v.icv_eoi(value, 0)

    def write_eoir1(self, value: int) -> None:
        self.v.icv_eoi(value, 1)

    def read_hppir0(self) -> int:
        return self.v.icv_hppir(0)

    def read_hppir1(self) -> int:
        return self.v.icv_hppir(1)

    def read_bpr0(self) -> int:
        return self.v.icv_read_bpr(0)

    def write_bpr0(self, value: int) -> None:
        self.v.icv_write_bpr(0, value)

    def read_bpr1(self) -> int:
        return self.v.icv_read_bpr(1)

    def write_bpr1(self, value: int) -> None:
        self.v.icv_write_bpr(1, value)

    def write_dir(self, value: int) -> None:
        self.v.icv_dir(value)

    def read_rpr(self) -> int:
        return self.v.running_priority()

    def read_ctlr(self) -> int:
        return self.v.icv_read_ctlr()

    def write_ctlr(self, value: int) -> None:
        self.v.icv_write_ctlr(value)

    def read_igrpen0(self) -> int:
        return 1 if self.v.vmcr & VMCR_VENG0 else 0

    def write_igrpen0(self, value: int) -> None:
        self.v.icv_write_igrpen(0, value)

    def read_igrpen1(self) -> int:
        return 1 if self.v.vmcr & VMCR_VENG1 else 0

    def write_igrpen1(self, value: int) -> None:
        self.v.icv_write_igrpen(1, value)

    def read_ap0r(self, n: int) -> int:
        return self.v.read_ap0r(n)

    def write_ap0r(self, n: int, value: int) -> None:
        self.v.write_ap0r(n, value)

    def read_ap1r(self, n: int) -> int:
        return self.v.read_ap1r(n)

    def write_ap1r(self, n: int, value: int) -> None:
        self.v.write_ap1r(n, value)
