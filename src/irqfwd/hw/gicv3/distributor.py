"""GICv3 distributor (GICD_*) with affinity routing (Arm IHI 0069H §12.9).

The distributor holds the state of the SPIs (INTIDs 32 .. ``num_irqs - 1``): group,
enable, pending latch, input level, active, priority, trigger mode and route
(GICD_IROUTER<n>).  SGIs and PPIs live in the redistributors (§12.10): with affinity
routing always enabled (GICD_CTLR.ARE RAO/WI, an implementation without legacy operation,
as QEMU), their GICD words are RAZ/WI (§12.9: "when affinity routing is enabled ... RES0").

The implementation has a single Security state (GICD_CTLR.DS RAO/WI, as QEMU ``virt``
with ``secure=off``): GICD_IGRPMODR<n> and GICD_NSACR<n> are RAZ/WI, and Group 1 means
Non-secure Group 1.  Every change of an SPI calls ``changed(intid)`` (the device resyncs
its HPPI candidates); a change of GICD_CTLR calls ``ctlr_changed()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from irqfwd.hw.gic.regs import Reg, RegisterBlock
from irqfwd.hw.gicv3.config import GICv3Config

__all__ = [
    "GICD_CTLR_ARE",
    "GICD_CTLR_DS",
    "GICD_CTLR_ENABLEGRP0",
    "GICD_CTLR_ENABLEGRP1",
    "GICD_SIZE",
    "Distributor",
]

GICD_SIZE: Final = 0x10000
GICD_CTLR_ENABLEGRP0: Final = 1 << 0
GICD_CTLR_ENABLEGRP1: Final = 1 << 1
"""EnableGrp1 (Non-secure Group 1 with DS = 1), bit 1 (§12.9.4, Table 12-27)."""
GICD_CTLR_ARE: Final = 1 << 4
GICD_CTLR_DS: Final = 1 << 6
_CTLR_RW: Final = GICD_CTLR_ENABLEGRP0 | GICD_CTLR_ENABLEGRP1
IROUTER_AFF_MASK: Final = 0xFF_00FF_FFFF
"""GICD_IROUTER<n> Aff3 [39:32], Aff2 [23:16], Aff1 [15:8], Aff0 [7:0] (§12.9.22);
Interrupt_Routing_Mode [31] is RES0 here (GICD_TYPER.No1N = 1)."""
_ID_REGS: Final = (0x44, 0, 0, 0, 0x92, 0xB4, 0x0B, 0, 0x0D, 0xF0, 0x05, 0xB1)
"""GICD/GICR/GITS PIDR4..7, PIDR0..3, CIDR0..3 (0xFFD0..0xFFFC); PIDR2 [7:4] = ArchRev."""


def id_register(index: int, version: int) -> int:
    """CoreSight ID register ``index`` (0 = PIDR4 at 0xFFD0 ... 11 = CIDR3 at 0xFFFC);
    PIDR2.ArchRev is the GIC version (§12.9.28, §12.11.32)."""
    v = _ID_REGS[index]
    return v | (version << 4) if index == 6 else v


class Distributor:
    """The GICD frame and the SPI state."""

    __slots__ = (
        "_aff_to_cpu",
        "active",
        "block",
        "changed",
        "config",
        "ctlr",
        "ctlr_changed",
        "edge",
        "enabled",
        "group",
        "irouter",
        "latch",
        "level",
        "nirq",
        "prio",
        "target",
    )

    def __init__(self, config: GICv3Config) -> None:
        self.config = config
        n = self.nirq = config.num_irqs
        self.ctlr = 0
        self.group = [False] * n
        self.enabled = [False] * n
        self.latch = [False] * n
        self.level = [False] * n
        self.active = [False] * n
        self.prio = [0] * n
        self.edge = [False] * n
        self.irouter = [0] * n
        self.target = [-1] * n
        """CPU an SPI is routed to (affinity match of GICD_IROUTER<n>), -1 for none."""
        self._aff_to_cpu = {mpidr_affinity(c): c for c in range(config.num_cpus)}
        self.changed: Callable[[int], None] = _ignore
        self.ctlr_changed: Callable[[], None] = _nothing
        self.block = RegisterBlock("GICD", GICD_SIZE, self._regs(), self, num_irqs=n)
        self.reset()

    def _regs(self) -> list[Reg]:
        n = self.nirq
        return [
            Reg("GICD_CTLR", 0x0000, read="read_ctlr", write="write_ctlr", doc="§12.9.4"),
            Reg("GICD_TYPER", 0x0004, read="read_typer", doc="§12.9.38"),
            Reg("GICD_IIDR", 0x0008, read="read_iidr", doc="§12.9.19"),
            Reg("GICD_TYPER2", 0x000C, read="read_typer2", doc="§12.9.39"),
            Reg("GICD_IGROUPR", 0x0080, bits_per_irq=1, read="read_igroupr",
                write="write_igroupr", doc="§12.9.15"),
            Reg("GICD_ISENABLER", 0x0100, bits_per_irq=1, read="read_enabler",
                write="write_isenabler", doc="§12.9.21"),
            Reg("GICD_ICENABLER", 0x0180, bits_per_irq=1, read="read_enabler",
                write="write_icenabler", doc="§12.9.7"),
            Reg("GICD_ISPENDR", 0x0200, bits_per_irq=1, read="read_pendr",
                write="write_ispendr", doc="§12.9.23"),
            Reg("GICD_ICPENDR", 0x0280, bits_per_irq=1, read="read_pendr",
                write="write_icpendr", doc="§12.9.9"),
            Reg("GICD_ISACTIVER", 0x0300, bits_per_irq=1, read="read_activer",
                write="write_isactiver", doc="§12.9.20"),
            Reg("GICD_ICACTIVER", 0x0380, bits_per_irq=1, read="read_activer",
                write="write_icactiver", doc="§12.9.6"),
            Reg("GICD_IPRIORITYR", 0x0400, bits_per_irq=8, sizes=(1, 4),
                read="read_ipriorityr", write="write_ipriorityr", doc="§12.9.18"),
            Reg("GICD_ICFGR", 0x0C00, bits_per_irq=2, read="read_icfgr", write="write_icfgr",
                doc="§12.9.10"),
            Reg("GICD_IGRPMODR", 0x0D00, bits_per_irq=1, doc="§12.9.16: RAZ/WI with DS = 1"),
            Reg("GICD_NSACR", 0x0E00, bits_per_irq=2, doc="§12.9.24: RAZ/WI with DS = 1"),
            Reg("GICD_IROUTER", 0x6100, length=8 * (n - 32), width=64, sizes=(4, 8),
                read="read_irouter", write="write_irouter", doc="§12.9.22 (n = 32 ..)"),
            *id_registers("GICD", self.config.version),
        ]

    def reset(self) -> None:
        """Reset state (§12.9): everything zero, SPIs Group 0, level-sensitive, routed to
        affinity 0.0.0.0 (CPU 0)."""
        n = self.nirq
        self.ctlr = 0
        for lst in (self.group, self.enabled, self.latch, self.active, self.edge):
            for i in range(n):
                lst[i] = False
        for i in range(n):
            self.prio[i] = 0
            self.irouter[i] = 0
            self.target[i] = self._aff_to_cpu.get(0, -1) if i >= 32 else -1

    # -- helpers ------------------------------------------------------------------------

    def pending(self, intid: int) -> bool:
        """Pending state of SPI ``intid``: latch, or input level if level-sensitive (§4.1.2)."""
        return self.latch[intid] or (self.level[intid] and not self.edge[intid])

    def candidate(self, intid: int) -> bool:
        """Pending, enabled and not active: may be the HPPI of its target (§4.1.1)."""
        return self.enabled[intid] and not self.active[intid] and self.pending(intid)

    def _bits(self, n: int, values: list[bool]) -> int:
        base = 32 * n
        if base < 32:
            return 0
        out = 0
        for i in range(32):
            if values[base + i]:
                out |= 1 << i
        return out

    def _each(self, n: int, value: int) -> list[int]:
        """SPI INTIDs of word ``n`` whose bit is set in ``value`` (SGI/PPI words RAZ/WI)."""
        if n == 0:
            return []
        base = 32 * n
        out = []
        while value:
            b = (value & -value).bit_length() - 1
            out.append(base + b)
            value &= value - 1
        return out

    # -- register handlers ----------------------------------------------------------------

    def read_ctlr(self, n: int, cpu: int) -> int:
        """GICD_CTLR: EnableGrp0/1 as written, ARE_NS and DS RAO/WI (§12.9.4)."""
        return self.ctlr | GICD_CTLR_ARE | GICD_CTLR_DS

    def write_ctlr(self, n: int, value: int, mask: int, cpu: int) -> None:
        self.ctlr = value & _CTLR_RW
        self.ctlr_changed()

    def read_typer(self, n: int, cpu: int) -> int:
        """GICD_TYPER (§12.9.38): ITLinesNumber, LPIS, IDbits, A3V, No1N, DVIS (GICv4)."""
        cfg = self.config
        itlines = cfg.num_irqs // 32 - 1
        if cfg.quirks.itlines_excludes_sgi_ppi:
            itlines -= 1
        lpis = 1 if cfg.its else 0
        dvis = 1 if cfg.version >= 4 else 0
        return (itlines | lpis << 17 | dvis << 18 | (cfg.lpi_id_bits - 1) << 19
                | 1 << 24 | 1 << 25)

    def read_iidr(self, n: int, cpu: int) -> int:
        return self.config.gicd_iidr

    def read_typer2(self, n: int, cpu: int) -> int:
        """GICD_TYPER2 (§12.9.39): GICv4.1 VIL = 1, VID = 15 (16-bit vPEIDs); else 0."""
        return 1 << 7 | 15 if self.config.gicv41 else 0

    def read_igroupr(self, n: int, cpu: int) -> int:
        return self._bits(n, self.group)

    def write_igroupr(self, n: int, value: int, mask: int, cpu: int) -> None:
        if n == 0:
            return
        base = 32 * n
        for i in range(32):
            g = bool(value >> i & 1)
            if self.group[base + i] != g:
                self.group[base + i] = g
                self.changed(base + i)

    def read_enabler(self, n: int, cpu: int) -> int:
        return self._bits(n, self.enabled)

    def write_isenabler(self, n: int, value: int, mask: int, cpu: int) -> None:
        for i in self._each(n, value):
            if not self.enabled[i]:
                self.enabled[i] = True
                self.changed(i)

    def write_icenabler(self, n: int, value: int, mask: int, cpu: int) -> None:
        for i in self._each(n, value):
            if self.enabled[i]:
                self.enabled[i] = False
                self.changed(i)

    def read_pendr(self, n: int, cpu: int) -> int:
        if n == 0:
            return 0
        base = 32 * n
        out = 0
        for i in range(32):
            if self.pending(base + i):
                out |= 1 << i
        return out

    def write_ispendr(self, n: int, value: int, mask: int, cpu: int) -> None:
        for i in self._each(n, value):
            if not self.latch[i]:
                self.latch[i] = True
                self.changed(i)

    def write_icpendr(self, n: int, value: int, mask: int, cpu: int) -> None:
        for i in self._each(n, value):
            if self.latch[i]:
                self.latch[i] = False
                self.changed(i)

    def read_activer(self, n: int, cpu: int) -> int:
        return self._bits(n, self.active)

    def write_isactiver(self, n: int, value: int, mask: int, cpu: int) -> None:
        for i in self._each(n, value):
            self.set_active(i, True)

    def write_icactiver(self, n: int, value: int, mask: int, cpu: int) -> None:
        for i in self._each(n, value):
            self.set_active(i, False)

    def set_active(self, intid: int, active: bool) -> None:
        """Set or clear the active state of SPI ``intid``."""
        if self.active[intid] != active:
            self.active[intid] = active
            self.changed(intid)

    def read_ipriorityr(self, n: int, cpu: int) -> int:
        base = 4 * n
        if base < 32:
            return 0
        p = self.prio
        return p[base] | p[base + 1] << 8 | p[base + 2] << 16 | p[base + 3] << 24

    def write_ipriorityr(self, n: int, value: int, mask: int, cpu: int) -> None:
        base = 4 * n
        if base < 32:
            return
        for k in range(4):
            if mask >> (8 * k) & 0xFF:
                v = value >> (8 * k) & 0xFF
                if self.prio[base + k] != v:
                    self.prio[base + k] = v
                    self.changed(base + k)

    def read_icfgr(self, n: int, cpu: int) -> int:
        base = 16 * n
        if base < 32:
            return 0
        out = 0
        for i in range(16):
            if self.edge[base + i]:
                out |= 2 << (2 * i)
        return out

    def write_icfgr(self, n: int, value: int, mask: int, cpu: int) -> None:
        base = 16 * n
        if base < 32:
            return
        for i in range(16):
            e = bool(value >> (2 * i + 1) & 1)
            if self.edge[base + i] != e:
                self.edge[base + i] = e
                self.changed(base + i)

    def read_irouter(self, n: int, cpu: int) -> int:
        return self.irouter[32 + n]

    def write_irouter(self, n: int, value: int, mask: int, cpu: int) -> None:
        """GICD_IROUTER<n> (§12.9.22): affinity fields; RES0 bits (and IRM, No1N = 1) are
        RAZ/WI unless :attr:`QemuQuirks.irouter_res0_stored` (G6)."""
        intid = 32 + n
        keep = 0xFFFF_FFFF_FFFF_FFFF if self.config.quirks.irouter_res0_stored \
            else IROUTER_AFF_MASK
        old = self.irouter[intid]
        self.irouter[intid] = ((old & ~mask) | (value & mask)) & keep
        tgt = self._aff_to_cpu.get(self.irouter[intid] & IROUTER_AFF_MASK, -1)
        if tgt != self.target[intid]:
            self.target[intid] = tgt
            self.changed(intid)

    # -- inputs -------------------------------------------------------------------------

    def set_level(self, intid: int, level: bool) -> None:
        """Drive SPI ``intid``'s input: a rising edge latches pending for edge-triggered
        SPIs; a level-sensitive SPI is pending while the input is high (§4.1.2)."""
        if self.level[intid] == level:
            return
        self.level[intid] = level
        if level and self.edge[intid]:
            self.latch[intid] = True
        self.changed(intid)


def id_registers(frame: str, version: int) -> list[Reg]:
    """The 12 CoreSight ID registers of a GICD/GICR/GITS frame at 0xFFD0..0xFFFC
    (§12.9.27–35, §12.11.29–33, §12.19.8): constants read through ``read_reset``."""
    return [Reg(f"{frame}_ID{i}", 0xFFD0 + 4 * i, read="read_reset",
                reset=id_register(i, version)) for i in range(12)]


def mpidr_affinity(cpu: int) -> int:
    """Affinity Aff3.Aff2.Aff1.Aff0 of CPU ``cpu`` as GICD_IROUTER<n> encodes it: QEMU
    ``virt`` with GICv3 puts 16 CPUs per cluster (Aff0 = cpu % 16, Aff1 = cpu // 16)."""
    return (cpu // 16) << 8 | (cpu % 16)


def _ignore(intid: int) -> None:
    return None


def _nothing() -> None:
    return None
