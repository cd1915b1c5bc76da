"""GICv2 Distributor (GICD_*, Arm IHI 0048B §4.3) with incremental HPPI bookkeeping.

State layout
------------
Everything is kept as 32-bit words indexed by ``n = INTID >> 5`` (the same words the
GICD_ISENABLERn & co. registers expose), one list per CPU interface:

* word 0 (INTIDs 0–31, SGIs and PPIs) is **banked**: each CPU has its own copy;
* words ≥ 1 (SPIs) describe one global interrupt and are **mirrored** in every CPU's list,
  so the candidate test reads one list.  The exceptions are the per-CPU SPI pending latch
  and active bits that QEMU keeps (``QemuQuirks.spi_n_n`` D7,
  ``spi_pending_follows_targets`` D9); with those quirks off the copies stay equal.

Interrupt state machine (GICv2 §3.2.4, Figure 3-1)
---------------------------------------------------
* edge-triggered: pending = latch; a rising edge, GICD_ISPENDR or GICD_SGIR set it;
  GICD_ICPENDR and the acknowledge (GICC_IAR) clear it;
* level-sensitive: pending = latch OR line; GICD_ISPENDR sets the latch, GICD_ICPENDR and
  the acknowledge clear only the latch; nothing else latches the line (in particular not
  enabling the interrupt, GICv2 §4.3.5);
* pending and active are independent bits; an active (or active-and-pending) interrupt is
  never a candidate for the highest priority pending interrupt (HPPI).
* SGIs (N-N model, §4.3.15–§4.3.17): one pending bit per (target, source); the latch bit
  of an SGI is the OR over sources.  SPIs follow the 1-N model: one acknowledge clears the
  pending state for every CPU.

HPPI bookkeeping
----------------
For each CPU and group the distributor keeps the set of *candidates* (pending, not active,
enabled, targeted at the CPU) as one two-level bitmap per priority value plus a two-level
set of the non-empty priorities (the priority summary of :mod:`irqfwd.hw.gic.hppi` at
offset ``group * PS_SIZE`` of ``_pm[cpu]``: a summary of the non-empty words, then 8
words of 32 priorities).  The bitmaps of a (CPU, group) live in one flat list
``bk = _bk[cpu][group]`` of ``(words + 2) * 256`` ints:

* ``bk[prio]``: summary, bit ``n`` set iff word ``n`` of that priority is non-zero; the
  priority's bucket is empty iff its summary is 0 (then ``_pm`` marks it empty);
* ``bk[256 | prio]``: the lowest INTID in that bucket (meaningless while it is empty);
* ``bk[((n + 2) << 8) | prio]`` with ``n = INTID >> 5``: bit ``INTID & 31`` set for each
  candidate of that priority in that 32-INTID word (the same word/bit split as ``cand``).

Every stored value (``_bk`` and ``_pm``) is below 2**32, so adding, removing and finding
the lowest member are a fixed number of small-int operations (tagged ints when compiled,
never arbitrary-precision ones) whatever the INTID and the number of interrupts
(issue 2: the HPPI selection must not cost more with 988 SPIs than with 32).  Adding sets
the word bit (and the summary bit if the word was empty, and the priority in ``_pm`` and
the lowest INTID if the bucket was) and lowers the lowest INTID; removing clears them the
same way and, when it removes the lowest of a bucket that stays non-empty, finds the new
lowest from the summary's lowest word (:func:`bucket_low`).  Every state change re-evaluates the
one interrupt it touches (:meth:`Distributor._sync`), so :meth:`Distributor.best` is
O(1): lowest non-empty priority (lowest set bit of the lowest non-empty word of the
priority summary), then that bucket's lowest INTID (the lowest-INTID tie-break
of QEMU and Arm's implementations).  The group enables (GICD_CTLR, GICC_CTLR) are applied
by the caller when it picks which groups to look at.
"""

from __future__ import annotations

from typing import Final

from irqfwd.hw.gic.device import GicSink
from irqfwd.hw.gic.hppi import PS_SIZE, bucket_add, bucket_remove, new_buckets, ps_lowest
from irqfwd.hw.gic.regs import Reg, RegisterBlock
from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.hw.gicv2.core import GicV2Core

__all__ = ["GICD_ID_REGS", "GICD_SIZE", "NO_IRQ", "Distributor"]

GICD_SIZE: Final = 0x1000
NO_IRQ: Final = -1
"""Value of :meth:`Distributor.best` when no candidate exists."""

_ENABLE: Final = 0
_PENDING: Final = 1
_ACTIVE: Final = 2
"""The per-INTID states a write-1-to-set/clear register changes (``Distributor._write_bits``)."""

GICD_ID_REGS: tuple[tuple[str, int, int], ...] = (
    ("GICD_PIDR4", 0xFD0, 0x04),
    ("GICD_PIDR5", 0xFD4, 0x00),
    ("GICD_PIDR6", 0xFD8, 0x00),
    ("GICD_PIDR7", 0xFDC, 0x00),
    ("GICD_PIDR0", 0xFE0, 0x90),
    ("GICD_PIDR1", 0xFE4, 0xB4),
    ("GICD_PIDR2", 0xFE8, 0x2B),
    ("GICD_PIDR3", 0xFEC, 0x00),
    ("GICD_CIDR0", 0xFF0, 0x0D),
    ("GICD_CIDR1", 0xFF4, 0xF0),
    ("GICD_CIDR2", 0xFF8, 0x05),
    ("GICD_CIDR3", 0xFFC, 0xB1),
)
"""Identification registers (GICv2 §4.3.18~; values read on QEMU 7.2: PIDR2.ArchRev = 2)."""


def gicd_regs(config: GICv2Config) -> tuple[Reg, ...]:
    """The GICD register map (GICv2 §4.1.2, Table 4-1) for ``config``."""
    typer = (config.num_irqs // 32 - 1) | ((config.num_cpus - 1) << 5)
    regs = [
        Reg("GICD_CTLR", 0x000, read="read_ctlr", write="write_ctlr"),
        Reg("GICD_TYPER", 0x004, reset=typer, read="read_reset"),
        Reg("GICD_IIDR", 0x008, reset=config.gicd_iidr, read="read_reset"),
        Reg("GICD_IGROUPR", 0x080, bits_per_irq=1, read="read_group", write="write_group"),
        Reg("GICD_ISENABLER", 0x100, bits_per_irq=1, read="read_enable", write="write_senable"),
        Reg("GICD_ICENABLER", 0x180, bits_per_irq=1, read="read_enable", write="write_cenable"),
        Reg("GICD_ISPENDR", 0x200, bits_per_irq=1, read="read_pending", write="write_spending"),
        Reg("GICD_ICPENDR", 0x280, bits_per_irq=1, read="read_pending", write="write_cpending"),
        Reg("GICD_ISACTIVER", 0x300, bits_per_irq=1, read="read_active", write="write_sactive"),
        Reg("GICD_ICACTIVER", 0x380, bits_per_irq=1, read="read_active", write="write_cactive"),
        Reg("GICD_IPRIORITYR", 0x400, bits_per_irq=8, sizes=(1, 4),
            read="read_priority", write="write_priority"),
        Reg("GICD_ITARGETSR", 0x800, bits_per_irq=8, sizes=(1, 4),
            read="read_target", write="write_target"),
        Reg("GICD_ICFGR", 0xC00, bits_per_irq=2, read="read_config", write="write_config"),
        Reg("GICD_SGIR", 0xF00, read="read_raz", write="write_sgir"),
        Reg("GICD_CPENDSGIR", 0xF10, length=16, sizes=(1, 4),
            read="read_sgi_pending", write="write_sgi_cpending"),
        Reg("GICD_SPENDSGIR", 0xF20, length=16, sizes=(1, 4),
            read="read_sgi_pending", write="write_sgi_spending"),
    ]
    regs += [Reg(name, off, reset=val, read="read_reset") for name, off, val in GICD_ID_REGS]
    return tuple(regs)


class Distributor:
    """GICD_* registers and per-interrupt state of one GICv2 (GICv2 §4.3).

    :meth:`notify` runs after every state change that may alter the HPPI or the outputs of
    the CPUs in its mask (the holding device, :attr:`gic`, recomputes them); :attr:`sink`
    is told of physical activations and deactivations.  :class:`~irqfwd.hw.gicv2.gic.GICv2`
    wires both.
    """

    __slots__ = (
        "_allmask",
        "_allocated",
        "_bk",
        "_cpus",
        "_end",
        "_pm",
        "_pmask",
        "_ppi_cfg_writable",
        "_q_ppi_icpendr_all_cpus",
        "_q_ppi_ispendr_smp_ignored",
        "_q_spi_n_n",
        "_q_spi_pending_follows_targets",
        "_sgi_en",
        "act",
        "block",
        "cand",
        "config",
        "ctlr",
        "edge",
        "en",
        "gic",
        "grp",
        "latch",
        "line",
        "num_cpus",
        "num_irqs",
        "prio",
        "sgi_src",
        "sink",
        "targets",
        "words",
    )

    def __init__(self, config: GICv2Config | None = None) -> None:
        self.config = config = config or GICv2Config()
        self.num_cpus = config.num_cpus
        self.num_irqs = config.num_irqs
        self.words = config.num_irqs // 32
        self._cpus = tuple(range(config.num_cpus))
        self._allmask = (1 << config.num_cpus) - 1
        self._pmask = (0xFF << (8 - config.prio_bits)) & 0xFF
        self._sgi_en = 0xFFFF if config.sgis_always_enabled else 0
        self._ppi_cfg_writable = config.ppi_config_writable
        q = config.quirks
        self._q_ppi_icpendr_all_cpus = q.ppi_icpendr_all_cpus
        self._q_spi_n_n = q.spi_n_n
        self._q_ppi_ispendr_smp_ignored = q.ppi_ispendr_smp_ignored and config.num_cpus > 1
        self._q_spi_pending_follows_targets = q.spi_pending_follows_targets
        self._end = min(config.num_irqs, 1020)
        """One past the last implemented INTID (:meth:`_check`)."""

        self.gic: GicV2Core | None = None
        """The device holding this distributor: told of output changes (:meth:`notify`)."""
        self.sink: GicSink | None = None
        """Told of every physical activation and deactivation (:meth:`GicSink.gic_event`)."""
        # declared here, filled by reset()
        self.ctlr = 0
        self.en: list[list[int]] = []
        self.latch: list[list[int]] = []
        self.line: list[list[int]] = []
        self.act: list[list[int]] = []
        self.grp: list[list[int]] = []
        self.edge: list[list[int]] = []
        self.cand: list[list[int]] = []
        self.prio: list[list[int]] = []
        self.sgi_src: list[list[int]] = []
        self.targets: list[int] = []
        self._pm: list[list[int]] = []
        """Per CPU: the priority summaries of Group 0 (offset 0) and Group 1 (``PS_SIZE``)."""
        self._bk: list[list[list[int]]] = []
        self._allocated = False
        self.reset()
        self.block = RegisterBlock("GICD", GICD_SIZE, gicd_regs(config), self, config.num_irqs,
                                   any_size=q.gicd_any_access_size)

    # ------------------------------------------------------------------ reset

    def notify(self, mask: int) -> None:
        """The CPUs in ``mask`` may have a new HPPI or output: the holding device
        recomputes their outputs (nothing when the distributor stands alone)."""
        gic = self.gic
        if gic is not None:
            gic.outputs_changed(mask)

    def reset(self) -> None:
        """Architectural reset (GICv2 §4.3, reset values in Table 4-1); no notification.

        The per-CPU lists are refilled in place (their identity never changes), so the CPU
        interfaces may keep references to them.
        """
        nc, w = self.num_cpus, self.words
        # bucket list: 256 summaries, 256 lowest INTIDs, then 256 priorities per word
        bk_template = new_buckets(w)
        self.ctlr = 0
        # ICFGR0 is 0xAAAAAAAA: SGIs are edge-triggered; PPIs and SPIs reset level-sensitive
        fresh: dict[str, list[int]] = {
            "en": [self._sgi_en] + [0] * (w - 1),
            "latch": [0] * w,
            "line": [0] * w,
            "act": [0] * w,
            "grp": [0] * w,
            "edge": [0xFFFF] + [0] * (w - 1),
            "cand": [0] * w,
            "prio": [0] * self.num_irqs,
            "sgi_src": [0] * 16,
        }
        # uniprocessor: ITARGETSR is RAZ/WI and every SPI goes to CPU 0 (GICv2 §4.3.12)
        targets = [1 if nc == 1 else 0] * self.num_irqs
        if self._allocated:
            for name, template in fresh.items():
                for lst in getattr(self, name):
                    lst[:] = template
            self.targets[:] = targets
            for pm in self._pm:
                pm[:] = [0] * (2 * PS_SIZE)
            for bk in self._bk:
                bk[0][:] = bk_template
                bk[1][:] = bk_template
            return
        for name, template in fresh.items():
            setattr(self, name, [list(template) for _ in range(nc)])
        self.targets = targets
        self._pm = [[0] * (2 * PS_SIZE) for _ in range(nc)]
        self._bk = [[list(bk_template), list(bk_template)] for _ in range(nc)]
        self._allocated = True

    # ------------------------------------------------------------------ bookkeeping

    def _sync(self, i: int, cpus: int) -> int:
        """Re-evaluate whether INTID ``i`` is a candidate (pending, not active, enabled and,
        for an SPI, targeted) of each CPU in the mask ``cpus``, moving it in or out of that
        CPU's priority bucket.

        Returns the mask of CPUs whose candidate set changed: a CPU's outputs depend only on
        its candidate set and its CPU interface, so only those CPUs need their outputs
        recomputed.

        An SPI is never a candidate of a CPU outside its GICD_ITARGETSR mask (this clears
        it there, and :meth:`_set_targets` re-syncs every CPU when the mask changes), so a
        change of an SPI's state passes ``cpus & targets[i]``: one evaluation per target,
        not one per CPU interface.
        """
        w = i >> 5
        s = i & 31
        b = 1 << s
        spi = i >= 32
        m = 0
        c = 0
        while cpus:  # bit by bit: CPUs are few, and int.bit_length() would cost a call
            if cpus & 1:
                want = (
                    (self.latch[c][w] | (self.line[c][w] & ~self.edge[c][w]))
                    & ~self.act[c][w]
                    & self.en[c][w]
                    & b
                )
                if want and spi and not (self.targets[i] >> c) & 1:
                    want = 0
                cand = self.cand[c]
                cw = cand[w]
                if want:
                    if not cw & b:
                        cand[w] = cw | b
                        g = (self.grp[c][w] >> s) & 1
                        bucket_add(self._bk[c][g], self._pm[c], g * PS_SIZE, w, b,
                                      self.prio[c][i], i)
                        m |= 1 << c
                elif cw & b:
                    cand[w] = cw ^ b
                    g = (self.grp[c][w] >> s) & 1
                    bucket_remove(self._bk[c][g], self._pm[c], g * PS_SIZE, w, b,
                                     self.prio[c][i], i)
                    m |= 1 << c
            cpus >>= 1
            c += 1
        return m

    def _unlink(self, c: int, i: int) -> int:
        """Remove ``i`` from CPU ``c``'s candidate buckets (before its priority/group change);
        returns ``1 << c`` if it was a candidate, else 0."""
        w = i >> 5
        b = 1 << (i & 31)
        cw = self.cand[c]
        if cw[w] & b:
            cw[w] &= ~b
            g = (self.grp[c][w] >> (i & 31)) & 1
            p = self.prio[c][i]
            bk = self._bk[c][g]
            bucket_remove(bk, self._pm[c], g * PS_SIZE, w, b, p, i)
            return 1 << c
        return 0

    def best(self, c: int, groups: int) -> int:
        """HPPI candidate of CPU ``c`` among ``groups`` (bit 0 = Group 0, bit 1 = Group 1).

        Returns ``(priority << 11) | (group << 10) | intid`` or :data:`NO_IRQ`.  Ties go to
        the lowest INTID (QEMU, and the choice documented in docs/conformance.md).
        """
        pm = self._pm[c]
        k0 = k1 = NO_IRQ
        if groups & 1:
            p = ps_lowest(pm, 0)
            if p >= 0:
                k0 = (p << 11) | self._bk[c][0][256 | p]
        if groups & 2:
            p = ps_lowest(pm, PS_SIZE)
            if p >= 0:
                k1 = (p << 11) | 0x400 | self._bk[c][1][256 | p]
        if k1 < 0:
            return k0
        if k0 < 0 or (k1 & ~0x400) < k0:
            return k1
        return k0

    def candidates(self, c: int) -> list[int]:
        """INTIDs currently in CPU ``c``'s candidate set (for tests and tools)."""
        out = []
        for w, word in enumerate(self.cand[c]):
            while word:
                low = word & -word
                out.append(w * 32 + low.bit_length() - 1)
                word ^= low
        return out

    # ------------------------------------------------------------------ queries

    def _check(self, i: int) -> None:
        if not 0 <= i < self.num_irqs or i >= 1020:
            raise ValueError(f"INTID {i} is not an implemented interrupt (num_irqs={self.num_irqs})")

    def is_pending(self, intid: int, cpu: int = 0) -> bool:
        """Pending state as GICD_ISPENDR reports it (latch OR level line; SPIs: any CPU copy)."""
        return bool(self.read_pending(intid >> 5, cpu) >> (intid & 31) & 1)

    def is_active(self, intid: int, cpu: int = 0) -> bool:
        """Active state as GICD_ISACTIVER reports it (SPIs: any CPU copy)."""
        return bool(self.read_active(intid >> 5, cpu) >> (intid & 31) & 1)

    def is_enabled(self, intid: int, cpu: int = 0) -> bool:
        """Enable bit (GICD_ISENABLER)."""
        return bool((self.en[cpu][intid >> 5] >> (intid & 31)) & 1)

    def line_level(self, intid: int, cpu: int = 0) -> bool:
        """Current level of the input line of ``intid`` (PPIs: of ``cpu``)."""
        return bool((self.line[cpu][intid >> 5] >> (intid & 31)) & 1)

    def priority(self, intid: int, cpu: int = 0) -> int:
        """Priority byte (GICD_IPRIORITYR)."""
        return self.prio[cpu][intid]

    def group(self, intid: int, cpu: int = 0) -> int:
        """Group (GICD_IGROUPR bit): 0 or 1."""
        return (self.grp[cpu][intid >> 5] >> (intid & 31)) & 1

    def is_edge(self, intid: int, cpu: int = 0) -> bool:
        """True if edge-triggered (GICD_ICFGR Int_config[1])."""
        return bool((self.edge[cpu][intid >> 5] >> (intid & 31)) & 1)

    # ------------------------------------------------------------------ inputs & state changes

    def set_line(self, intid: int, level: bool, cpu: int = 0) -> None:
        """Drive the input line of an SPI (``cpu`` ignored) or of ``cpu``'s PPI (§3.2.4)."""
        w = intid >> 5
        s = intid & 31
        b = 1 << s
        if intid < 32:
            line = self.line[cpu]
            lw = line[w]
            if level:
                if lw & b:
                    return
                line[w] = lw | b
                if self.edge[cpu][w] & b:
                    self.latch[cpu][w] |= b
            elif lw & b:
                line[w] = lw ^ b
            else:
                return
            m = self._sync(intid, 1 << cpu)
            if m:
                self.notify(m)
            return
        lw = self.line[0][w]
        if bool(lw & b) == level:
            return
        # SPI: every CPU's copy of the line changes (the copies of an SPI's line word are
        # always equal: only this path writes them, so one new word is stored in each); a
        # rising edge of an edge-triggered SPI latches it (on its targets only with D9);
        # then each CPU's candidate set follows.
        lw ^= b
        for line in self.line:
            line[w] = lw
        if level and self.edge[0][w] & b:
            tmask = self.targets[intid] if self._q_spi_pending_follows_targets else self._allmask
            c = 0
            for latch in self.latch:
                if (tmask >> c) & 1:
                    latch[w] |= b
                c += 1  # noqa: SIM113 (enumerate costs more on this hot path)
        m = self._sync(intid, self.targets[intid])
        if m:
            self.notify(m)

    def _set_pending(self, i: int, on: bool, c: int) -> int:
        w, b = i >> 5, 1 << (i & 31)
        if i < 32:
            if i < 16:
                return 0  # SGI bits of ISPENDR0/ICPENDR0 are read-only (§4.3.7, §4.3.8)
            if on:
                if self._q_ppi_ispendr_smp_ignored:
                    return 0
                self.latch[c][w] |= b
            elif self._q_ppi_icpendr_all_cpus:
                for cc in self._cpus:
                    self.latch[cc][w] &= ~b
                return self._sync(i, self._allmask)
            else:
                self.latch[c][w] &= ~b
            return self._sync(i, 1 << c)
        if on:
            tmask = self.targets[i] if self._q_spi_pending_follows_targets else self._allmask
            for cc in self._cpus:
                if (tmask >> cc) & 1:
                    self.latch[cc][w] |= b
            return self._sync(i, tmask & self.targets[i])
        for cc in self._cpus:
            self.latch[cc][w] &= ~b
        return self._sync(i, self.targets[i])

    def set_pending(self, intid: int, on: bool, cpu: int = 0) -> None:
        """GICD_ISPENDR (on) / GICD_ICPENDR (off) semantics for one INTID (§4.3.7, §4.3.8)."""
        if not 0 <= intid < self._end:
            self._check(intid)
        m = self._set_pending(intid, on, cpu)
        if m:
            self.notify(m)

    def _set_enabled(self, i: int, on: bool, c: int) -> int:
        w, b = i >> 5, 1 << (i & 31)
        if i < 32:
            if i < 16 and self._sgi_en:
                return 0
            if (self.en[c][w] & b != 0) == on:
                return 0
            self.en[c][w] ^= b
            return self._sync(i, 1 << c)
        en0 = self.en[0]
        if (en0[w] & b != 0) == on:
            return 0
        for en in self.en:
            en[w] ^= b
        return self._sync(i, self.targets[i])

    def set_enabled(self, intid: int, on: bool, cpu: int = 0) -> None:
        """GICD_ISENABLER / GICD_ICENABLER for one INTID (§4.3.5, §4.3.6); never latches."""
        if not 0 <= intid < self._end:
            self._check(intid)
        m = self._set_enabled(intid, on, cpu)
        if m:
            self.notify(m)

    def _set_active(self, i: int, on: bool, c: int, source: str) -> int:
        """Set/clear active; ``source`` names the cause for ``event``.  Returns the mask of
        CPUs whose candidate set changed.

        Register writes (ISACTIVER/ICACTIVER) change every CPU's copy of an SPI; acknowledge
        and deactivation by a CPU interface change only that CPU's copy under D7.
        """
        w, b = i >> 5, 1 << (i & 31)
        if i < 32:
            act = self.act[c]
            if (act[w] & b != 0) == on:
                return 0
            act[w] ^= b
            mask = self._sync(i, 1 << c)
        else:
            cpus = 0
            if self._q_spi_n_n:
                per_cpu = source in ("iar", "eoir", "dir", "hw_lr")
                for cc in self._cpus:
                    if per_cpu and cc != c:
                        continue
                    act = self.act[cc]
                    if (act[w] & b != 0) != on:
                        act[w] ^= b
                        cpus |= 1 << cc
            else:
                # without D7 every CPU's copy of an SPI's active word is equal: one new word
                aw = self.act[0][w]
                if (aw & b != 0) != on:
                    aw ^= b
                    for act in self.act:
                        act[w] = aw
                    cpus = self._allmask
            if not cpus:
                return 0
            mask = self._sync(i, cpus & self.targets[i])
        sink = self.sink
        if sink is not None:
            sink.gic_event("activate" if on else "deactivate", i, c, source)
        return mask

    def set_active(self, intid: int, on: bool, cpu: int = 0) -> None:
        """GICD_ISACTIVER / GICD_ICACTIVER for one INTID (§4.3.9, §4.3.10)."""
        if not 0 <= intid < self._end:
            self._check(intid)
        m = self._set_active(intid, on, cpu, "isactiver" if on else "icactiver")
        if m:
            self.notify(m)

    def _set_priority(self, i: int, value: int, c: int) -> int:
        value &= self._pmask
        if i < 32:
            if self.prio[c][i] == value:
                return 0
            m = self._unlink(c, i)
            self.prio[c][i] = value
            return m | self._sync(i, 1 << c)
        if self.prio[0][i] == value:
            return 0
        # A priority change never changes candidacy: move the SPI between the priority
        # buckets of the CPUs where it is a candidate (= _unlink, set, _sync on each CPU).
        w = i >> 5
        s = i & 31
        b = 1 << s
        m = 0
        for cc in self._cpus:
            prio = self.prio[cc]
            p = prio[i]
            prio[i] = value
            if self.cand[cc][w] & b:
                g = (self.grp[cc][w] >> s) & 1
                bkg = self._bk[cc][g]
                bucket_remove(bkg, self._pm[cc], g * PS_SIZE, w, b, p, i)
                bucket_add(bkg, self._pm[cc], g * PS_SIZE, w, b, value, i)
                m |= 1 << cc
        return m

    def set_priority(self, intid: int, prio: int, cpu: int = 0) -> None:
        """GICD_IPRIORITYR byte write (§4.3.11): only the top ``prio_bits`` bits are kept."""
        self._check(intid)
        m = self._set_priority(intid, prio, cpu)
        if m:
            self.notify(m)

    def _set_group(self, i: int, g: int, c: int) -> int:
        w, b = i >> 5, 1 << (i & 31)
        if bool(self.grp[c][w] & b) == bool(g):
            return 0
        m = 0
        for cc in (c,) if i < 32 else self._cpus:
            m |= self._unlink(cc, i)
            self.grp[cc][w] ^= b
            m |= self._sync(i, 1 << cc)
        return m

    def set_group(self, intid: int, group: int, cpu: int = 0) -> None:
        """GICD_IGROUPR bit (§4.3.4): 0 = Group 0, 1 = Group 1."""
        self._check(intid)
        m = self._set_group(intid, group, cpu)
        if m:
            self.notify(m)

    def _set_targets(self, i: int, mask: int) -> int:
        mask &= self._allmask
        if i < 32 or self.num_cpus == 1 or self.targets[i] == mask:
            return 0
        self.targets[i] = mask
        return self._sync(i, self._allmask)

    def set_targets(self, intid: int, mask: int) -> None:
        """GICD_ITARGETSR byte of an SPI (§4.3.12); a pending SPI follows its new targets."""
        self._check(intid)
        m = self._set_targets(intid, mask)
        if m:
            self.notify(m)

    def _set_edge(self, i: int, edge: bool, c: int) -> int:
        if i < 16:
            return 0  # ICFGR0 is read-only
        if i < 32 and not self._ppi_cfg_writable:
            return 0
        w, b = i >> 5, 1 << (i & 31)
        if bool(self.edge[c][w] & b) == edge:
            return 0
        m = 0
        for cc in (c,) if i < 32 else self._cpus:
            self.edge[cc][w] ^= b
            m |= self._sync(i, 1 << cc)
        return m

    def set_edge(self, intid: int, edge: bool, cpu: int = 0) -> None:
        """GICD_ICFGR Int_config[1] (§4.3.13): True = edge-triggered, False = level-sensitive."""
        self._check(intid)
        m = self._set_edge(intid, edge, cpu)
        if m:
            self.notify(m)

    # ------------------------------------------------------------------ SGIs

    def send_sgi(self, sgi: int, target_mask: int, source: int) -> None:
        """Make SGI ``sgi`` pending from ``source`` on every CPU in ``target_mask`` (§4.3.15)."""
        b = 1 << sgi
        m = 0
        for c in self._cpus:
            if (target_mask >> c) & 1:
                self.sgi_src[c][sgi] |= 1 << source
                self.latch[c][0] |= b
                m |= self._sync(sgi, 1 << c)
        if m:
            self.notify(m)

    def _sgi_pending_write(self, sgi: int, sources: int, on: bool, c: int) -> int:
        src = self.sgi_src[c]
        if on:
            src[sgi] |= sources  # all 8 source bits are kept, as QEMU does (TV16 on 1 CPU)
        else:
            src[sgi] &= ~sources
        if src[sgi]:
            self.latch[c][0] |= 1 << sgi
        else:
            self.latch[c][0] &= ~(1 << sgi)
        return self._sync(sgi, 1 << c)

    def set_sgi_pending(self, sgi: int, source: int, on: bool, cpu: int = 0) -> None:
        """GICD_SPENDSGIR (on) / GICD_CPENDSGIR (off) bit for (``sgi``, ``source``) of ``cpu``."""
        m = self._sgi_pending_write(sgi, 1 << source, on, cpu)
        if m:
            self.notify(m)

    # ------------------------------------------------------------------ CPU interface side

    def acknowledge(self, c: int, i: int) -> int:
        """Pending → active for an IAR read by CPU ``c`` (§3.2.4 transitions C/D).

        Clears the latch (all CPUs for a 1-N SPI, only ``c`` under D7) and, for an SGI, the
        lowest pending source (QEMU's order).  Returns the source CPU (SGIs) or 0.  Notifies
        ``c`` (whose running priority the caller has already raised) and every CPU whose
        candidate set changed.
        """
        w, b = i >> 5, 1 << (i & 31)
        src = 0
        if i < 16:
            s = self.sgi_src[c][i]
            low = s & -s
            src = low.bit_length() - 1
            s ^= low
            self.sgi_src[c][i] = s
            if not s:
                self.latch[c][0] &= ~b
        elif i < 32 or self._q_spi_n_n:
            self.latch[c][w] &= ~b
        else:
            for latch in self.latch:  # 1-N: pending ends everywhere; _set_active re-syncs all
                lw = latch[w]
                if lw & b:
                    latch[w] = lw ^ b
        self.notify(self._set_active(i, True, c, "iar") | (1 << c))
        return src

    def deactivate(self, c: int, i: int, source: str) -> int:
        """Active → inactive on behalf of CPU ``c`` (EOIR/DIR/HW LR); returns the mask of CPUs
        whose candidate set changed (the caller notifies them)."""
        if not 0 <= i < self.num_irqs:
            return 0
        return self._set_active(i, False, c, source)

    # ------------------------------------------------------------------ register handlers

    def _cpus_for(self, n: int, c: int) -> tuple[int, ...]:
        return (c,) if n == 0 else self._cpus

    def read_ctlr(self, n: int, c: int) -> int:
        """GICD_CTLR (§4.3.1), no Security Extensions: EnableGrp0 [0], EnableGrp1 [1]."""
        return self.ctlr

    def write_ctlr(self, n: int, v: int, mask: int, c: int) -> None:
        """GICD_CTLR write: bits other than EnableGrp0/1 are RES0."""
        self.ctlr = ((self.ctlr & ~mask) | (v & mask)) & 3
        self.notify(self._allmask)

    def read_group(self, n: int, c: int) -> int:
        """GICD_IGROUPRn (§4.3.4); n = 0 banked."""
        return self.grp[c][n]

    def write_group(self, n: int, v: int, mask: int, c: int) -> None:
        """GICD_IGROUPRn write."""
        v = (self.grp[c][n] & ~mask) | (v & mask)
        if n == 31:
            v &= 0x0FFF_FFFF  # INTIDs 1020–1023: RAZ/WI
        changed = v ^ self.grp[c][n]
        base = n << 5
        m = 0
        while changed:
            low = changed & -changed
            changed ^= low
            k = low.bit_length() - 1
            m |= self._set_group(base + k, (v >> k) & 1, c)
        if m:
            self.notify(m)

    def read_enable(self, n: int, c: int) -> int:
        """GICD_ISENABLERn / ICENABLERn read (§4.3.5, §4.3.6): the enable bits."""
        return self.en[c][n]

    def _write_bits(self, n: int, v: int, c: int, what: int, on: bool) -> None:
        """Set (``on``) or clear state ``what`` (:data:`_ENABLE`, :data:`_PENDING` or
        :data:`_ACTIVE`) of the INTIDs whose bits are set in ``v``, word ``n``; a native
        call per bit (a bound-method argument would be a generic call)."""
        if n == 31:
            v &= 0x0FFF_FFFF  # INTIDs 1020–1023 are special: their bits are RAZ/WI
        base = n << 5
        m = 0
        while v:
            low = v & -v
            v ^= low
            i = base + low.bit_length() - 1
            if what == _ENABLE:
                m |= self._set_enabled(i, on, c)
            elif what == _PENDING:
                m |= self._set_pending(i, on, c)
            else:
                m |= self._set_active(i, on, c, "isactiver" if on else "icactiver")
        if m:
            self.notify(m)

    def write_senable(self, n: int, v: int, mask: int, c: int) -> None:
        """GICD_ISENABLERn write-1-to-set."""
        self._write_bits(n, v & ~self.en[c][n], c, _ENABLE, True)

    def write_cenable(self, n: int, v: int, mask: int, c: int) -> None:
        """GICD_ICENABLERn write-1-to-clear (SGI bits WI when SGIs are always enabled)."""
        self._write_bits(n, v & self.en[c][n], c, _ENABLE, False)

    def read_pending(self, n: int, c: int) -> int:
        """GICD_ISPENDRn / ICPENDRn read (§4.3.7): latch OR level line (SPIs: any CPU copy)."""
        r = 0
        for cc in self._cpus_for(n, c):
            r |= self.latch[cc][n] | (self.line[cc][n] & ~self.edge[cc][n])
        return r

    def write_spending(self, n: int, v: int, mask: int, c: int) -> None:
        """GICD_ISPENDRn write-1-to-set (sets the latch)."""
        self._write_bits(n, v, c, _PENDING, True)

    def write_cpending(self, n: int, v: int, mask: int, c: int) -> None:
        """GICD_ICPENDRn write-1-to-clear (clears the latch only)."""
        self._write_bits(n, v, c, _PENDING, False)

    def read_active(self, n: int, c: int) -> int:
        """GICD_ISACTIVERn / ICACTIVERn read (§4.3.9): active bits (SPIs: any CPU copy)."""
        r = 0
        for cc in self._cpus_for(n, c):
            r |= self.act[cc][n]
        return r

    def write_sactive(self, n: int, v: int, mask: int, c: int) -> None:
        """GICD_ISACTIVERn write-1-to-set."""
        self._write_bits(n, v, c, _ACTIVE, True)

    def write_cactive(self, n: int, v: int, mask: int, c: int) -> None:
        """GICD_ICACTIVERn write-1-to-clear."""
        self._write_bits(n, v, c, _ACTIVE, False)

    def read_priority(self, n: int, c: int) -> int:
        """GICD_IPRIORITYRn (§4.3.11): four priority bytes; n = 0..7 banked."""
        p = self.prio[c]
        i = n << 2
        return p[i] | (p[i + 1] << 8) | (p[i + 2] << 16) | (p[i + 3] << 24)

    def write_priority(self, n: int, v: int, mask: int, c: int) -> None:
        """GICD_IPRIORITYRn write of the byte lanes in ``mask``."""
        if n == 255:
            mask &= 0x00FF_FFFF  # INTIDs 1020–1023: RAZ/WI
        m = 0
        for k in range(4):
            if (mask >> (8 * k)) & 0xFF:
                m |= self._set_priority((n << 2) + k, (v >> (8 * k)) & 0xFF, c)
        if m:
            self.notify(m)

    def read_target(self, n: int, c: int) -> int:
        """GICD_ITARGETSRn (§4.3.12): SGI/PPI bytes read the accessing CPU's bit (RO);
        all RAZ/WI on a uniprocessor."""
        if self.num_cpus == 1:
            return 0
        if n < 8:
            return (1 << c) * 0x0101_0101
        t = self.targets
        i = n << 2
        return t[i] | (t[i + 1] << 8) | (t[i + 2] << 16) | (t[i + 3] << 24)

    def write_target(self, n: int, v: int, mask: int, c: int) -> None:
        """GICD_ITARGETSRn write (SPI bytes only; bits of unimplemented CPUs are RAZ/WI)."""
        if n < 8 or self.num_cpus == 1:
            return
        if n == 255:
            mask &= 0x00FF_FFFF  # INTIDs 1020–1023: RAZ/WI
        m = 0
        for k in range(4):
            if (mask >> (8 * k)) & 0xFF:
                m |= self._set_targets((n << 2) + k, (v >> (8 * k)) & 0xFF)
        if m:
            self.notify(m)

    def read_config(self, n: int, c: int) -> int:
        """GICD_ICFGRn (§4.3.13): Int_config[1] = edge for each of 16 INTIDs; [0] RAZ."""
        e = (self.edge[c][n >> 1] >> ((n & 1) << 4)) & 0xFFFF
        r = 0
        k = 0
        while e:
            if e & 1:
                r |= 2 << (2 * k)
            e >>= 1
            k += 1
        return r

    def write_config(self, n: int, v: int, mask: int, c: int) -> None:
        """GICD_ICFGRn write: ICFGR0 read-only, ICFGR1 per ``ppi_config_writable``."""
        if n == 0:
            return
        if n == 63:
            mask &= 0x00FF_FFFF  # INTIDs 1020–1023: RAZ/WI
        base = n << 4
        m = 0
        for k in range(16):
            if not (mask >> (2 * k)) & 3:
                continue
            i = base + k
            edge = bool((v >> (2 * k + 1)) & 1)
            if edge != bool((self.edge[c][i >> 5] >> (i & 31)) & 1):
                m |= self._set_edge(i, edge, c)
        if m:
            self.notify(m)

    def write_sgir(self, n: int, v: int, mask: int, c: int) -> None:
        """GICD_SGIR (§4.3.15, Table 4-21).

        TargetListFilter 0b00 = CPUTargetList, 0b01 = all but the requester, 0b10 = the
        requester, 0b11 (reserved, UNPREDICTABLE) = every CPU including the requester (QEMU,
        D10).  NSATT ignored (no Security Extensions); SGIINTID is bits [3:0].
        """
        if mask != 0xFFFF_FFFF:
            return  # a partial write does not trigger an SGI
        filt = (v >> 24) & 3
        if filt == 0:
            targets = (v >> 16) & 0xFF
        elif filt == 1:
            targets = self._allmask & ~(1 << c)
        elif filt == 2:
            targets = 1 << c
        else:
            targets = self._allmask
        self.send_sgi(v & 0xF, targets, c)

    def read_sgi_pending(self, n: int, c: int) -> int:
        """GICD_CPENDSGIRn / SPENDSGIRn (§4.3.16, §4.3.17): byte b = sources of SGI 4n+b."""
        s = self.sgi_src[c]
        i = n << 2
        return s[i] | (s[i + 1] << 8) | (s[i + 2] << 16) | (s[i + 3] << 24)

    def _write_sgi_pending(self, n: int, v: int, on: bool, c: int) -> None:
        m = 0
        for k in range(4):
            bits = (v >> (8 * k)) & 0xFF
            if bits:
                m |= self._sgi_pending_write((n << 2) + k, bits, on, c)
        if m:
            self.notify(m)

    def write_sgi_spending(self, n: int, v: int, mask: int, c: int) -> None:
        """GICD_SPENDSGIRn write-1-to-set."""
        self._write_sgi_pending(n, v, True, c)

    def write_sgi_cpending(self, n: int, v: int, mask: int, c: int) -> None:
        """GICD_CPENDSGIRn write-1-to-clear."""
        self._write_sgi_pending(n, v, False, c)

    # ------------------------------------------------------------------ MMIO

    def read(self, offset: int, size: int = 4, cpu: int = 0) -> int:
        """MMIO read at ``offset`` of the GICD frame as CPU ``cpu``."""
        return self.block.read(offset, size, cpu)

    def write(self, offset: int, value: int, size: int = 4, cpu: int = 0) -> None:
        """MMIO write at ``offset`` of the GICD frame as CPU ``cpu``."""
        self.block.write(offset, value, size, cpu)
