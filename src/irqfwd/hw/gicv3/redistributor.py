"""GICv3/v4 redistributor of one PE (Arm IHI 0069H §12.10, §12.11).

Frames (``GICR_*``): RD_base (control, LPI tables, GICR_WAKER), SGI_base at +64 KiB (the
SGI and PPI registers) and, on a GICv4, VLPI_base at +128 KiB (GICR_VPROPBASER,
GICR_VPENDBASER: the resident vPE, §12.11.37–38) and a reserved frame.

State kept here: SGIs and PPIs of this PE (INTIDs 0–31); physical LPIs (§5.1): pending
bits live in the LPI pending table in memory (GICR_PENDBASER, written through on every
change, read when EnableLPIs becomes 1) and in :attr:`Redistributor.lpi_pend`; the
candidate LPIs (pending and enabled, priority from the configuration table at
GICR_PROPBASER, read when an LPI becomes pending and on INV/INVALL, §5.1.3) are kept in a
heap keyed by ``(priority, INTID)`` with lazy deletion: adding, removing and finding the
highest-priority LPI never scan all LPIs (O(log pending)).  Virtual LPIs of the resident
vPE (GICv4, §5.3–5.4) use the same structure (:class:`LpiSet`).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Final

from irqfwd.hw.gic.memory import Memory
from irqfwd.hw.gic.regs import Reg, RegisterBlock
from irqfwd.hw.gicv3.config import GICR_FRAME, GICv3Config
from irqfwd.hw.gicv3.distributor import id_registers, mpidr_affinity

__all__ = [
    "GICR_CTLR_ENABLELPIS",
    "GICR_VPENDBASER_VALID",
    "LPI_BASE",
    "LpiSet",
    "Redistributor",
]

LPI_BASE: Final = 8192
GICR_CTLR_ENABLELPIS: Final = 1 << 0
GICR_CTLR_CES: Final = 1 << 1
"""Clear Enable Supported (RO 1): EnableLPIs may be cleared once set (§12.11.2)."""
GICR_WAKER_PROCESSORSLEEP: Final = 1 << 1
GICR_WAKER_CHILDRENASLEEP: Final = 1 << 2
PROPBASER_MASK: Final = 0x070F_FFFF_FFFF_FF9F
"""GICR_PROPBASER writable fields: OuterCache [58:56], PA [51:12], Shareability [11:10],
InnerCache [9:7], IDbits [4:0] (§12.11.28)."""
PENDBASER_MASK: Final = 0x470F_FFFF_FFFF_0F80
"""GICR_PENDBASER stored fields: PTZ [62] (write-only: it reads 0), OuterCache,
PA [51:16], Shareability, InnerCache (§12.11.27)."""
PENDBASER_PTZ: Final = 1 << 62
PA_MASK_4K: Final = 0x000F_FFFF_FFFF_F000
PA_MASK_64K: Final = 0x000F_FFFF_FFFF_0000
VPROPBASER_MASK: Final = 0x070F_FFFF_FFFF_FF9F
GICR_VPENDBASER_VALID: Final = 1 << 63
VPENDBASER_IDAI: Final = 1 << 62
VPENDBASER_PENDINGLAST: Final = 1 << 61
VPENDBASER_MASK: Final = 0xC70F_FFFF_FFFF_0F80
VPENDBASER_V41_MASK: Final = 0xC000_0000_0000_FFFF
"""GICv4.1 GICR_VPENDBASER: Valid [63], Doorbell [62], vPEID [15:0] (§12.11.38)."""
VPENDBASER_DOORBELL: Final = 1 << 62
"""GICR_VPENDBASER (GICv4.0, §12.11.38): Valid [63] and IDAI [62] as written, OuterCache,
PA [51:16], Shareability, InnerCache; PendingLast [61] and Dirty [60] read-only."""


class LpiSet:
    """Pending LPIs (or vLPIs) of one table and the highest-priority one, never scanning.

    ``pend``: INTID → priority for every pending INTID whose configuration says *enabled*
    (the candidates); the heap holds ``(priority, INTID)`` entries, stale ones (removed or
    re-prioritised) are dropped lazily when they reach the top.  Ties go to the lowest
    INTID, as QEMU and Arm's models.
    """

    __slots__ = ("cand", "heap")

    def __init__(self) -> None:
        self.cand: dict[int, int] = {}
        self.heap: list[tuple[int, int]] = []

    def add(self, intid: int, prio: int) -> None:
        """Make ``intid`` a candidate with priority ``prio`` (or update its priority)."""
        if self.cand.get(intid) == prio:
            return
        self.cand[intid] = prio
        heapq.heappush(self.heap, (prio, intid))
        if len(self.heap) > 64 and len(self.heap) > 4 * len(self.cand):
            self._compact()

    def remove(self, intid: int) -> None:
        """``intid`` is no longer a candidate."""
        self.cand.pop(intid, None)
        if not self.cand:
            self.heap.clear()

    def best(self) -> tuple[int, int] | None:
        """``(priority, INTID)`` of the highest-priority candidate, or None."""
        heap, cand = self.heap, self.cand
        while heap:
            prio, intid = heap[0]
            if cand.get(intid) == prio:
                return prio, intid
            heapq.heappop(heap)
        return None

    def clear(self) -> None:
        """No candidate."""
        self.cand.clear()
        self.heap.clear()

    def _compact(self) -> None:
        self.heap = [(p, i) for i, p in self.cand.items()]
        heapq.heapify(self.heap)


class Redistributor:
    """The GICR frames of one PE: SGI/PPI state, LPIs, vPE residency."""

    __slots__ = (
        "active",
        "block",
        "changed",
        "config",
        "cpu",
        "ctlr",
        "edge",
        "enabled",
        "group",
        "latch",
        "level",
        "lpi",
        "lpi_changed",
        "lpi_pend",
        "mem",
        "nlpi_bits",
        "on_active",
        "on_deschedule",
        "pendbaser",
        "prio",
        "propbaser",
        "v41",
        "vlpi",
        "vlpi_changed",
        "vpe_info",
        "vpendbaser",
        "vpropbaser",
        "vsgi_state",
        "vsgir",
        "waker",
    )

    def __init__(self, cpu: int, config: GICv3Config, mem: Memory) -> None:
        self.cpu = cpu
        self.config = config
        self.mem = mem
        self.group = [False] * 32
        self.enabled = [False] * 32
        self.latch = [False] * 32
        self.level = [False] * 32
        self.active = [False] * 32
        self.prio = [0] * 32
        self.edge = [False] * 32
        self.ctlr = 0
        self.waker = GICR_WAKER_PROCESSORSLEEP | GICR_WAKER_CHILDRENASLEEP
        self.propbaser = 0
        self.pendbaser = 0
        self.vpropbaser = 0
        self.vpendbaser = 0
        self.nlpi_bits = 0
        self.lpi_pend: set[int] = set()
        """Pending physical LPIs (mirrors the pending table while EnableLPIs = 1)."""
        self.lpi = LpiSet()
        self.vlpi = LpiSet()
        """Candidate vLPIs of the resident vPE (GICv4)."""
        self.changed: Callable[[int], None] = _ignore
        self.on_active: Callable[[int, bool, int], None] = _ignore_active
        """``(intid, active, cpu)`` after a GICR_ISACTIVER0/ICACTIVER0 write changed the
        active state of SGI/PPI ``intid`` of this PE."""
        """SGI/PPI ``intid`` changed (the device resyncs it)."""
        self.lpi_changed: Callable[[], None] = _nothing
        self.vlpi_changed: Callable[[], None] = _nothing
        self.v41 = config.gicv41
        self.vpe_info: Callable[[int], tuple[int, int, int] | None] = _no_vpe
        """GICv4.1: vPEID → (VPT address, vLPI configuration table, VPT bits) from the
        ITS's vPE table (VMAPP), or None."""
        self.on_deschedule: Callable[[int, bool], None] = _ignore_bool
        """GICv4.1: ``(vPEID, doorbell)`` when a vPE stops being resident here."""
        self.vsgi_state: Callable[[int], tuple[list[int], int] | None] = _no_vsgi
        """GICv4.1: vPEID → (vSGI configurations, pending bits) from the ITS."""
        self.vsgir = 0
        self.block = RegisterBlock("GICR", config.gicr_stride, self._regs(), self)

    def _regs(self) -> list[Reg]:
        sgi = GICR_FRAME
        v = self.config.version
        regs = [
            Reg("GICR_CTLR", 0x0000, read="read_ctlr", write="write_ctlr", doc="§12.11.2"),
            Reg("GICR_IIDR", 0x0004, read="read_iidr", doc="§12.11.16"),
            Reg("GICR_TYPER", 0x0008, length=8, width=64, sizes=(4, 8), read="read_typer",
                doc="§12.11.35"),
            Reg("GICR_WAKER", 0x0014, read="read_waker", write="write_waker", doc="§12.11.39"),
            Reg("GICR_PROPBASER", 0x0070, length=8, width=64, sizes=(4, 8),
                read="read_propbaser", write="write_propbaser", doc="§12.11.28"),
            Reg("GICR_PENDBASER", 0x0078, length=8, width=64, sizes=(4, 8),
                read="read_pendbaser", write="write_pendbaser", doc="§12.11.27"),
            *id_registers("GICR", v),
            Reg("GICR_IGROUPR0", sgi + 0x0080, read="read_igroupr0", write="write_igroupr0",
                doc="§12.11.15"),
            Reg("GICR_ISENABLER0", sgi + 0x0100, read="read_enabler0",
                write="write_isenabler0", doc="§12.11.19"),
            Reg("GICR_ICENABLER0", sgi + 0x0180, read="read_enabler0",
                write="write_icenabler0", doc="§12.11.7"),
            Reg("GICR_ISPENDR0", sgi + 0x0200, read="read_pendr0", write="write_ispendr0",
                doc="§12.11.21"),
            Reg("GICR_ICPENDR0", sgi + 0x0280, read="read_pendr0", write="write_icpendr0",
                doc="§12.11.11"),
            Reg("GICR_ISACTIVER0", sgi + 0x0300, read="read_activer0",
                write="write_isactiver0", doc="§12.11.18"),
            Reg("GICR_ICACTIVER0", sgi + 0x0380, read="read_activer0",
                write="write_icactiver0", doc="§12.11.6"),
            Reg("GICR_IPRIORITYR", sgi + 0x0400, length=32, sizes=(1, 4),
                read="read_ipriorityr", write="write_ipriorityr", doc="§12.11.14"),
            Reg("GICR_ICFGR", sgi + 0x0C00, length=8, read="read_icfgr", write="write_icfgr",
                doc="§12.11.9, §12.11.10"),
            Reg("GICR_IGRPMODR0", sgi + 0x0D00, doc="§12.11.17: RAZ/WI with DS = 1"),
            Reg("GICR_NSACR", sgi + 0x0E00, doc="§12.11.25: RAZ/WI with DS = 1"),
        ]
        if self.config.gicv41:
            regs += [Reg("GICR_VSGIR", 2 * GICR_FRAME + 0x80, write="write_vsgir",
                         doc="§12.11.40 (GICv4.1)"),
                     Reg("GICR_VSGIPENDR", 2 * GICR_FRAME + 0x88, read="read_vsgipendr",
                         doc="§12.11.41 (GICv4.1)")]
        if v >= 4:
            vl = 2 * GICR_FRAME
            regs += [
                Reg("GICR_VPROPBASER", vl + 0x0070, length=8, width=64, sizes=(4, 8),
                    read="read_vpropbaser", write="write_vpropbaser", doc="§12.11.37"),
                Reg("GICR_VPENDBASER", vl + 0x0078, length=8, width=64, sizes=(4, 8),
                    read="read_vpendbaser", write="write_vpendbaser", doc="§12.11.38"),
            ]
        return regs

    def reset(self) -> None:
        """Reset state: SGIs edge-triggered, PPIs level, everything else 0; asleep."""
        for lst in (self.group, self.enabled, self.latch, self.active):
            for i in range(32):
                lst[i] = False
        for i in range(32):
            self.prio[i] = 0
            self.edge[i] = i < 16
        self.ctlr = 0
        self.waker = GICR_WAKER_PROCESSORSLEEP | GICR_WAKER_CHILDRENASLEEP
        self.propbaser = self.pendbaser = self.vpropbaser = self.vpendbaser = 0
        self.nlpi_bits = 0
        self.lpi_pend.clear()
        self.lpi.clear()
        self.vlpi.clear()

    # -- SGI/PPI state ------------------------------------------------------------------

    def pending(self, intid: int) -> bool:
        """Pending state of SGI/PPI ``intid`` (latch, or the level of a level-sensitive PPI)."""
        return self.latch[intid] or (self.level[intid] and not self.edge[intid])

    def candidate(self, intid: int) -> bool:
        """Pending, enabled and not active."""
        return self.enabled[intid] and not self.active[intid] and self.pending(intid)

    @property
    def asleep(self) -> bool:
        """GICR_WAKER.ProcessorSleep: the PE is asleep, interrupts are not forwarded to its
        CPU interface (§12.11.39)."""
        return bool(self.waker & GICR_WAKER_PROCESSORSLEEP)

    def set_level(self, intid: int, level: bool) -> None:
        """Drive PPI ``intid``'s input (an edge-triggered PPI latches on a rising edge)."""
        if self.level[intid] == level:
            return
        self.level[intid] = level
        if level and self.edge[intid]:
            self.latch[intid] = True
        self.changed(intid)

    def set_pending(self, intid: int, pending: bool) -> None:
        """Set or clear the pending latch of SGI/PPI ``intid``."""
        if self.latch[intid] != pending:
            self.latch[intid] = pending
            self.changed(intid)

    def set_active(self, intid: int, active: bool) -> None:
        """Set or clear the active state of SGI/PPI ``intid``."""
        if self.active[intid] != active:
            self.active[intid] = active
            self.changed(intid)

    @staticmethod
    def _bits(values: list[bool]) -> int:
        out = 0
        for i in range(32):
            if values[i]:
                out |= 1 << i
        return out

    # -- RD_base handlers ---------------------------------------------------------------

    def read_ctlr(self, n: int, cpu: int) -> int:
        """GICR_CTLR (§12.11.2): EnableLPIs, CES RO 1."""
        return self.ctlr | GICR_CTLR_CES

    def write_ctlr(self, n: int, value: int, mask: int, cpu: int) -> None:
        en = bool(value & GICR_CTLR_ENABLELPIS) and self.config.its
        if en == bool(self.ctlr & GICR_CTLR_ENABLELPIS):
            return
        self.ctlr = GICR_CTLR_ENABLELPIS if en else 0
        if en:
            self._load_lpis()
        else:
            self.lpi_pend.clear()
            self.lpi.clear()
        self.lpi_changed()

    def read_iidr(self, n: int, cpu: int) -> int:
        return self.config.gicr_iidr

    def read_typer(self, n: int, cpu: int) -> int:
        """GICR_TYPER (§12.11.35): PLPIS, VLPIS (GICv4), Last, Processor_Number,
        CommonLPIAff = 1 (all redistributors share one LPI configuration table, as QEMU),
        Affinity_Value."""
        cfg = self.config
        last = 1 if self.cpu == cfg.num_cpus - 1 else 0
        v41 = 1 if cfg.gicv41 else 0  # RVPEID [7], VSGI [26]
        return (int(cfg.its) | (1 if cfg.version >= 4 else 0) << 1 | last << 4 | v41 << 7
                | self.cpu << 8 | 1 << 24 | v41 << 26 | mpidr_affinity(self.cpu) << 32)

    def read_waker(self, n: int, cpu: int) -> int:
        return self.waker

    def write_waker(self, n: int, value: int, mask: int, cpu: int) -> None:
        """GICR_WAKER (§12.11.39): ProcessorSleep RW, ChildrenAsleep follows it at once."""
        sleep = value & GICR_WAKER_PROCESSORSLEEP
        self.waker = (GICR_WAKER_PROCESSORSLEEP | GICR_WAKER_CHILDRENASLEEP) if sleep else 0
        self.lpi_changed()

    def _res0(self, mask: int) -> int:
        return 0xFFFF_FFFF_FFFF_FFFF if self.config.quirks.baser_res0_stored else mask

    def read_propbaser(self, n: int, cpu: int) -> int:
        return self.propbaser

    def write_propbaser(self, n: int, value: int, mask: int, cpu: int) -> None:
        """GICR_PROPBASER: writes ignored while EnableLPIs = 1 (UNPREDICTABLE, §12.11.28)."""
        if self.ctlr & GICR_CTLR_ENABLELPIS:
            return
        self.propbaser = ((self.propbaser & ~mask) | (value & mask)) & self._res0(PROPBASER_MASK)

    def read_pendbaser(self, n: int, cpu: int) -> int:
        if self.config.quirks.baser_res0_stored:
            return self.pendbaser
        return self.pendbaser & ~PENDBASER_PTZ

    def write_pendbaser(self, n: int, value: int, mask: int, cpu: int) -> None:
        if self.ctlr & GICR_CTLR_ENABLELPIS:
            return
        self.pendbaser = ((self.pendbaser & ~mask) | (value & mask)) & self._res0(PENDBASER_MASK)

    # -- LPIs -----------------------------------------------------------------------------

    def lpi_id_limit(self) -> int:
        """One past the largest LPI INTID GICR_PROPBASER.IDbits allows (0: LPIs unusable)."""
        bits = min((self.propbaser & 0x1F) + 1, self.config.lpi_id_bits)
        return 1 << bits if bits >= 14 else 0

    def _cfg_byte(self, intid: int) -> int:
        return self.mem.read_u8((self.propbaser & PA_MASK_4K) + intid - LPI_BASE)

    def _pend_table(self) -> int:
        return self.pendbaser & PA_MASK_64K

    def _load_lpis(self) -> None:
        """EnableLPIs 0 → 1: read the pending table (unless PTZ was written) and the
        configuration of every pending LPI (§5.1.2, §12.11.27)."""
        self.lpi_pend.clear()
        self.lpi.clear()
        limit = self.lpi_id_limit()
        if limit == 0:
            return
        if self.pendbaser & PENDBASER_PTZ and not self.config.quirks.ptz_ignored:
            return
        for intid in self.mem.set_bits(self._pend_table(), limit, LPI_BASE):
            self.lpi_pend.add(intid)
            self._consider(intid)

    def _consider(self, intid: int) -> None:
        cfg = self._cfg_byte(intid)
        if cfg & 1:
            self.lpi.add(intid, cfg & 0xFC)
        else:
            self.lpi.remove(intid)

    def lpis_enabled(self) -> bool:
        """GICR_CTLR.EnableLPIs."""
        return bool(self.ctlr & GICR_CTLR_ENABLELPIS)

    def set_lpi(self, intid: int, pending: bool) -> None:
        """Set or clear the pending state of physical LPI ``intid`` (an ITS translation, the
        INT/CLEAR/DISCARD commands, a doorbell, an acknowledge).  Ignored while LPIs are
        disabled or ``intid`` is beyond GICR_PROPBASER.IDbits (§5.1)."""
        if not self.ctlr & GICR_CTLR_ENABLELPIS or intid >= self.lpi_id_limit():
            return
        if pending == (intid in self.lpi_pend):
            return
        self.mem.set_bit(self._pend_table(), intid, pending)
        if pending:
            self.lpi_pend.add(intid)
            self._consider(intid)
        else:
            self.lpi_pend.discard(intid)
            self.lpi.remove(intid)
        self.lpi_changed()

    def inv_lpi(self, intid: int) -> None:
        """Re-read the configuration of ``intid`` (ITS INV, §6.3)."""
        if intid in self.lpi_pend:
            self._consider(intid)
            self.lpi_changed()

    def inv_all(self) -> None:
        """Re-read the configuration of every pending LPI (ITS INVALL, §6.3)."""
        for intid in self.lpi_pend:
            self._consider(intid)
        self.lpi_changed()

    # -- GICv4 vPE residency ----------------------------------------------------------

    def read_vpropbaser(self, n: int, cpu: int) -> int:
        return self.vpropbaser

    def write_vpropbaser(self, n: int, value: int, mask: int, cpu: int) -> None:
        self.vpropbaser = ((self.vpropbaser & ~mask) | (value & mask)) \
            & self._res0(VPROPBASER_MASK)

    def read_vpendbaser(self, n: int, cpu: int) -> int:
        return self.vpendbaser

    def write_vpendbaser(self, n: int, value: int, mask: int, cpu: int) -> None:
        """GICR_VPENDBASER (§12.11.38, §5.4.1): Valid 0 → 1 makes the vPE resident (GICv4.0:
        the vPE whose virtual pending table is at PA, configured by GICR_VPROPBASER;
        GICv4.1: vPEID [15:0], tables from its VMAPP) and PendingLast reads 1 (RES1 while
        Valid = 1); 1 → 0 makes it non-resident, PendingLast then says whether a pending
        enabled vLPI (or vSGI) remains, and on a GICv4.1 Doorbell [62] = 1 asks for the
        vPE's default doorbell.  Dirty is always 0.  A write while Valid stays 1 is
        ignored (changing fields then is UNPREDICTABLE)."""
        old_valid = bool(self.vpendbaser & GICR_VPENDBASER_VALID)
        arch = VPENDBASER_V41_MASK if self.v41 else VPENDBASER_MASK
        new = ((self.vpendbaser & ~mask) | (value & mask)) & arch
        valid = bool(new & GICR_VPENDBASER_VALID)
        if old_valid and valid:
            return
        new &= ~VPENDBASER_PENDINGLAST
        if not old_valid and not valid:
            keep = (value & mask) if self.config.quirks.vpendbaser_pendinglast_stored \
                else self.vpendbaser
            self.vpendbaser = new | (keep & VPENDBASER_PENDINGLAST)
            return
        if valid:
            self.vpendbaser = new | VPENDBASER_PENDINGLAST
            self._load_vlpis()
        else:
            was = self.vpendbaser & 0xFFFF
            if self.vlpi.best() is not None or self.vsgi_pending_enabled(was):
                new |= VPENDBASER_PENDINGLAST
            self.vpendbaser = new
            self.vlpi.clear()
            if self.v41:
                self.on_deschedule(was, bool(value & mask & VPENDBASER_DOORBELL))
        self.vlpi_changed()

    def resident_vpe(self) -> int:
        """GICv4.1: the resident vPEID, -1 when none is (GICv4.0: always -1)."""
        if self.v41 and self.vpendbaser & GICR_VPENDBASER_VALID:
            return self.vpendbaser & 0xFFFF
        return -1

    def _resident_info(self) -> tuple[int, int, int] | None:
        """(VPT address, vLPI configuration table, VPT bits) of the resident vPE."""
        if not self.vpendbaser & GICR_VPENDBASER_VALID:
            return None
        if self.v41:
            return self.vpe_info(self.vpendbaser & 0xFFFF)
        bits = (self.vpropbaser & 0x1F) + 1
        return self.vpendbaser & PA_MASK_64K, self.vpropbaser & PA_MASK_4K, bits

    def resident_vpt(self) -> int:
        """Address of the resident vPE's virtual pending table, or -1 when none is."""
        info = self._resident_info()
        return -1 if info is None else info[0]

    def vlpi_id_limit(self) -> int:
        """One past the largest vINTID the resident vPE's tables allow (GICv4.0:
        GICR_VPROPBASER.IDbits; GICv4.1: the VMAPP VPT size)."""
        info = self._resident_info()
        if info is None or info[2] < 14:
            return 0
        return 1 << min(info[2], 24)

    def _vcfg(self, intid: int) -> int:
        info = self._resident_info()
        return 0 if info is None else self.mem.read_u8(info[1] + intid - LPI_BASE)

    def _load_vlpis(self) -> None:
        self.vlpi.clear()
        limit = self.vlpi_id_limit()
        if limit == 0:
            return
        for intid in self.mem.set_bits(self.resident_vpt(), limit, LPI_BASE):
            self._vconsider(intid)

    def _vconsider(self, intid: int) -> None:
        cfg = self._vcfg(intid)
        if cfg & 1:
            self.vlpi.add(intid, cfg & 0xFC)
        else:
            self.vlpi.remove(intid)

    # -- GICv4.1 vSGIs (§12.11.40–41) --------------------------------------------------

    def vsgi_pending_enabled(self, vpeid: int) -> bool:
        """A vSGI of ``vpeid`` is pending and enabled."""
        st = self.vsgi_state(vpeid) if self.v41 else None
        if st is None:
            return False
        cfg, pend = st
        return any(pend >> i & 1 and cfg[i] >> 9 & 1 for i in range(16))

    def write_vsgir(self, n: int, value: int, mask: int, cpu: int) -> None:
        """GICR_VSGIR: select vPEID [15:0] whose vSGI pending state GICR_VSGIPENDR reports."""
        self.vsgir = value & 0xFFFF

    def read_vsgipendr(self, n: int, cpu: int) -> int:
        """GICR_VSGIPENDR: Busy [31] (always 0 here), Pending [15:0] of the vPE selected by
        GICR_VSGIR."""
        st = self.vsgi_state(self.vsgir)
        return 0 if st is None else st[1]

    def vlpi_update(self, intid: int, pending: bool) -> None:
        """vLPI ``intid`` of the resident vPE became pending or not (the VPT bit is written
        by the caller, :meth:`GICv3.set_vlpi`)."""
        if pending:
            if intid < self.vlpi_id_limit():
                self._vconsider(intid)
        else:
            self.vlpi.remove(intid)
        self.vlpi_changed()

    def vinv_all(self) -> None:
        """Re-read the configuration of the resident vPE's pending vLPIs (VINVALL)."""
        if self.resident_vpt() >= 0:
            self._load_vlpis()
            self.vlpi_changed()

    # -- SGI_base handlers ------------------------------------------------------------

    def read_igroupr0(self, n: int, cpu: int) -> int:
        return self._bits(self.group)

    def write_igroupr0(self, n: int, value: int, mask: int, cpu: int) -> None:
        for i in range(32):
            g = bool(value >> i & 1)
            if self.group[i] != g:
                self.group[i] = g
                self.changed(i)

    def read_enabler0(self, n: int, cpu: int) -> int:
        return self._bits(self.enabled)

    def write_isenabler0(self, n: int, value: int, mask: int, cpu: int) -> None:
        for i in _bits_set(value):
            if not self.enabled[i]:
                self.enabled[i] = True
                self.changed(i)

    def write_icenabler0(self, n: int, value: int, mask: int, cpu: int) -> None:
        for i in _bits_set(value):
            if self.enabled[i]:
                self.enabled[i] = False
                self.changed(i)

    def read_pendr0(self, n: int, cpu: int) -> int:
        out = 0
        for i in range(32):
            if self.pending(i):
                out |= 1 << i
        return out

    def write_ispendr0(self, n: int, value: int, mask: int, cpu: int) -> None:
        for i in _bits_set(value):
            self.set_pending(i, True)

    def write_icpendr0(self, n: int, value: int, mask: int, cpu: int) -> None:
        for i in _bits_set(value):
            self.set_pending(i, False)

    def read_activer0(self, n: int, cpu: int) -> int:
        return self._bits(self.active)

    def write_isactiver0(self, n: int, value: int, mask: int, cpu: int) -> None:
        for i in _bits_set(value):
            if not self.active[i]:
                self.set_active(i, True)
                self.on_active(i, True, self.cpu)

    def write_icactiver0(self, n: int, value: int, mask: int, cpu: int) -> None:
        for i in _bits_set(value):
            if self.active[i]:
                self.set_active(i, False)
                self.on_active(i, False, self.cpu)

    def read_ipriorityr(self, n: int, cpu: int) -> int:
        p, b = self.prio, 4 * n
        return p[b] | p[b + 1] << 8 | p[b + 2] << 16 | p[b + 3] << 24

    def write_ipriorityr(self, n: int, value: int, mask: int, cpu: int) -> None:
        for k in range(4):
            if mask >> (8 * k) & 0xFF:
                i = 4 * n + k
                v = value >> (8 * k) & 0xFF
                if self.prio[i] != v:
                    self.prio[i] = v
                    self.changed(i)

    def read_icfgr(self, n: int, cpu: int) -> int:
        """GICR_ICFGR0 (SGIs, RO edge) and GICR_ICFGR1 (PPIs, programmable as on QEMU)."""
        out = 0
        for i in range(16):
            if self.edge[16 * n + i]:
                out |= 2 << (2 * i)
        return out

    def write_icfgr(self, n: int, value: int, mask: int, cpu: int) -> None:
        if n == 0:
            return
        for i in range(16):
            e = bool(value >> (2 * i + 1) & 1)
            if self.edge[16 + i] != e:
                self.edge[16 + i] = e
                self.changed(16 + i)


def _bits_set(value: int) -> list[int]:
    out = []
    while value:
        b = (value & -value).bit_length() - 1
        out.append(b)
        value &= value - 1
    return out


def _ignore_active(intid: int, active: bool, cpu: int) -> None:
    return None


def _ignore(intid: int) -> None:
    return None


def _ignore_bool(a: int, b: bool) -> None:
    return None


def _no_vpe(vpeid: int) -> tuple[int, int, int] | None:
    return None


def _no_vsgi(vpeid: int) -> tuple[list[int], int] | None:
    return None


def _nothing() -> None:
    return None
