"""GICv2 CPU interface (GICC_*, Arm IHI 0048B §4.4) of one processor.

The interface has no Security Extensions (QEMU ``virt`` with ``secure=off``): GICC_CTLR is
the "Secure/no-security" view with EnableGrp0 [0], EnableGrp1 [1], AckCtl [2], FIQEn [3],
CBPR [4] and EOImode [9] (writable mask 0x21F; the bypass-disable bits are not
implemented, as in QEMU).  Group 1 interrupts are signalled as IRQ; Group 0 as FIQ when
FIQEn = 1, otherwise IRQ (§3.4~, §4.4.1).

Priorities (§3.3~, §4.4.3, §4.4.8):

* group priority = priority AND the binary-point mask: ``0xFF << (BPR + 1)`` for Group 0
  (and Group 1 when CBPR = 1), ``0xFF << ABPR`` for Group 1 otherwise;
* an interrupt is signalled / acknowledged when its priority is below GICC_PMR and its
  group priority is below the running priority;
* running priority = group priority of the highest active, not yet dropped, interrupt.

Active priorities (GICC_APRn/NSAPRn, §4.4.12–§4.4.13, contents IMPLEMENTATION DEFINED) use
QEMU's layout (D22): bit index = group_priority >> 1 (128 preemption levels), word = index
/ 32; Group 0 priorities go to GICC_APRn and Group 1 priorities to GICC_NSAPRn even without
Security Extensions.  Running priority = (lowest set index over both) << 1, 0xFF idle.
The eight words are kept as the registers show them (``_apr``), each below 2**32, with a
summary of the non-zero words (``_apr_live``): a 128-bit mask would be >= 2**62 as soon as
a priority index above 61 is active (group priority 0x7C and lower, Linux uses 0xA0), and
mypyc then does every operation on it as an allocating arbitrary-precision int.
"""

from __future__ import annotations

from typing import Final

from irqfwd.hw.gic.device import CpuOutputs, GicSink
from irqfwd.hw.gic.regs import Reg, RegisterBlock
from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.hw.gicv2.distributor import NO_IRQ, Distributor

__all__ = [
    "GICC_CTLR_ACKCTL",
    "GICC_CTLR_CBPR",
    "GICC_CTLR_ENABLEGRP0",
    "GICC_CTLR_ENABLEGRP1",
    "GICC_CTLR_EOIMODE",
    "GICC_CTLR_FIQEN",
    "GICC_SIZE",
    "CpuInterface",
    "gicc_regs",
]

GICC_SIZE: Final = 0x2000
GICC_CTLR_ENABLEGRP0: Final = 1 << 0
GICC_CTLR_ENABLEGRP1: Final = 1 << 1
GICC_CTLR_ACKCTL: Final = 1 << 2
GICC_CTLR_FIQEN: Final = 1 << 3
GICC_CTLR_CBPR: Final = 1 << 4
GICC_CTLR_EOIMODE: Final = 1 << 9
GICC_CTLR_MASK: Final = 0x21F

SPURIOUS: Final = 1023
GROUP1_SPURIOUS: Final = 1022
_IDLE: Final = 0x100


def gicc_regs(config: GICv2Config) -> tuple[Reg, ...]:
    """The GICC register map (GICv2 §4.1.3, Table 4-2)."""
    return (
        Reg("GICC_CTLR", 0x00, read="read_ctlr", write="write_ctlr"),
        Reg("GICC_PMR", 0x04, read="read_pmr", write="write_pmr"),
        Reg("GICC_BPR", 0x08, reset=config.bpr_min, read="read_bpr", write="write_bpr"),
        Reg("GICC_IAR", 0x0C, read="read_iar"),
        Reg("GICC_EOIR", 0x10, write="mmio_write_eoir"),
        Reg("GICC_RPR", 0x14, reset=0xFF, read="read_rpr"),
        Reg("GICC_HPPIR", 0x18, reset=0x3FF, read="read_hppir"),
        Reg("GICC_ABPR", 0x1C, reset=min(config.bpr_min + 1, 7), read="read_abpr",
            write="write_abpr"),
        Reg("GICC_AIAR", 0x20, read="read_aiar"),
        Reg("GICC_AEOIR", 0x24, write="mmio_write_aeoir"),
        Reg("GICC_AHPPIR", 0x28, read="read_ahppir"),
        Reg("GICC_APR", 0xD0, length=16, read="read_apr", write="write_apr"),
        Reg("GICC_NSAPR", 0xE0, length=16, read="read_nsapr", write="write_nsapr"),
        Reg("GICC_IIDR", 0xFC, reset=config.gicc_iidr, read="read_reset"),
        Reg("GICC_DIR", 0x1000, write="mmio_write_dir"),
    )


class CpuInterface:
    """GICC_* of CPU ``cpu`` operating on the shared :class:`Distributor`.

    ``sink.gic_output(cpu, signal, level)`` is called when the IRQ or FIQ output changes.  After a
    state change the interface recomputes its outputs in :meth:`update`; the named hot-path
    methods (:meth:`read_iar`, :meth:`write_eoir`, :meth:`write_dir`, :meth:`read_hppir`,
    :meth:`read_rpr`) have exactly the semantics of the register access they name.

    ``signalled`` is a result of :meth:`update`: the packed HPPI key that passes GICC_PMR
    and preemption (:meth:`_signalled`), or NO_IRQ.  Every change of its inputs (this
    CPU's candidate set in the distributor, GICD_CTLR, and GICC_CTLR/PMR/BPR/ABPR and the
    active priorities) is followed by :meth:`update` of this CPU (the distributor's
    :meth:`~irqfwd.hw.gicv2.distributor.Distributor.notify`), except while :attr:`stale`
    (D16), when GICC_IAR does not read it.
    """

    __slots__ = (
        "_abpr_min",
        "_apr",
        "_apr_live",
        "_bpr_min",
        "_pmr_mask",
        "_q_eoir_qemu_rules",
        "_q_hppir_masked_by_pmr",
        "_q_hppir_no_cpuid",
        "_q_no_aliased_regs",
        "_q_no_per_irq_group_filter",
        "_q_preemption_qemu_rules",
        "abpr",
        "block",
        "bpr",
        "config",
        "cpu",
        "ctlr",
        "dist",
        "out",
        "pmr",
        "signalled",
        "sink",
        "stale",
        "stale_hppir",
    )

    def __init__(
        self,
        cpu: int,
        config: GICv2Config,
        dist: Distributor,
        sink: GicSink | None = None,
    ) -> None:
        self.cpu = cpu
        self.config = config
        self.dist = dist
        self.sink: GicSink = sink if sink is not None else GicSink()
        """Told of every IRQ/FIQ output change (:meth:`GicSink.gic_output`)."""
        self.out = CpuOutputs()
        q = config.quirks
        self._q_no_aliased_regs = q.no_aliased_regs
        self._q_hppir_masked_by_pmr = q.hppir_masked_by_pmr
        self._q_hppir_no_cpuid = q.hppir_no_cpuid
        self._q_no_per_irq_group_filter = q.no_per_irq_group_filter
        self._q_eoir_qemu_rules = q.eoir_qemu_rules
        self._q_preemption_qemu_rules = q.preemption_qemu_rules
        self._pmr_mask = (0xFF << (8 - config.prio_bits)) & 0xFF
        self._bpr_min = config.bpr_min
        self._abpr_min = min(config.bpr_min + 1, 7)
        self.ctlr = 0
        self.pmr = 0
        self.bpr = self._bpr_min
        self.abpr = self._abpr_min
        self._apr = [0] * 8
        """Active priorities: GICC_APR0–3 (Group 0) at 0–3, GICC_NSAPR0–3 (Group 1) at 4–7."""
        self._apr_live = 0
        """Bit ``j`` set iff ``_apr[j]`` is non-zero; every write of ``_apr`` updates it
        (:meth:`_acknowledge`, :meth:`_drop_priority`, :meth:`_write_apr_word`, :meth:`reset`)."""
        self.signalled = NO_IRQ
        """What :meth:`_signalled` returned at the last :meth:`update` (GICC_CTLR = 0 at
        reset: nothing is signalled)."""
        self.stale = False
        """D16: physical state left stale by a HW=1 deactivation (QEMU only)."""
        self.stale_hppir = SPURIOUS
        self.block = RegisterBlock("GICC", GICC_SIZE, gicc_regs(config), self)

    def reset(self) -> None:
        """Reset values (§4.4, Table 4-2; QEMU: BPR = min, ABPR = min + 1)."""
        self.ctlr = 0
        self.pmr = 0
        self.bpr = self._bpr_min
        self.abpr = self._abpr_min
        self._apr[:] = [0] * 8
        self._apr_live = 0
        self.signalled = NO_IRQ
        self.stale = False
        self.stale_hppir = SPURIOUS

    # ------------------------------------------------------------------ priority helpers

    def group_mask(self, group: int) -> int:
        """Group-priority mask of ``group`` (§3.3~, BPR/ABPR table)."""
        if group and not self.ctlr & GICC_CTLR_CBPR:
            return (0xFF << self.abpr) & 0xFF
        return (0xFF << (self.bpr + 1)) & 0xFF

    @property
    def apr0(self) -> int:
        """Group 0 active priorities, GICC_APR0–3 as one 128-bit int (for tools and checks)."""
        a = self._apr
        return a[0] | (a[1] << 32) | (a[2] << 64) | (a[3] << 96)

    @property
    def apr1(self) -> int:
        """Group 1 active priorities, GICC_NSAPR0–3 as one 128-bit int (for tools and checks)."""
        a = self._apr
        return a[4] | (a[5] << 32) | (a[6] << 64) | (a[7] << 96)

    def running_priority(self) -> int:
        """Running priority, 0x100 when idle (GICC_RPR reads 0xFF then): lowest active
        index over both groups, from the lowest APR word number holding one."""
        s = self._apr_live
        if not s:
            return _IDLE
        s = (s | (s >> 4)) & 0xF
        n = (s & -s).bit_length() - 1
        a = self._apr[n] | self._apr[4 + n]
        return ((n << 5) | ((a & -a).bit_length() - 1)) << 1

    def _hppi(self) -> int:
        """Packed HPPI key (:meth:`Distributor.best`) among the groups enabled in both
        GICD_CTLR and GICC_CTLR (§3.3~; D5: either group while some group is enabled in
        both), else NO_IRQ.  Not masked by GICC_PMR."""
        dist = self.dist
        if self._q_no_per_irq_group_filter:
            g = 3 if (dist.ctlr & 3) and (self.ctlr & 3) else 0
        else:
            g = dist.ctlr & self.ctlr & 3
        if not g:
            return NO_IRQ
        return dist.best(self.cpu, g)

    def _pmr_hppi(self) -> int:
        """Packed HPPI key if it passes PMR (QEMU's ``current_pending``), else NO_IRQ."""
        k = self._hppi()
        if k < 0 or (k >> 11) >= self.pmr:
            return NO_IRQ
        return k

    def _signalled(self) -> int:
        """Packed HPPI key if it passes PMR (as :meth:`_pmr_hppi`) and preemption (§3.3~),
        else NO_IRQ."""
        k = self._hppi()
        if k < 0 or (k >> 11) >= self.pmr:
            return NO_IRQ
        if self._apr_live:
            p = k >> 11
            if not self._q_preemption_qemu_rules:  # preemption compares group priorities (§3.3~)
                p &= self.group_mask((k >> 10) & 1)
            if p >= self.running_priority():
                return NO_IRQ
        return k

    def update(self, mask: int = 0) -> None:
        """Recompute :attr:`signalled` and the IRQ/FIQ outputs (§3.4~, §4.4.1) and emit changes.

        ``mask`` is ignored: it lets a uniprocessor GIC use this method directly as the
        distributor's ``notify(cpu_mask)`` (every mask is then CPU 0's).
        """
        self.stale = False
        out = self.out
        k = self._signalled()
        self.signalled = k
        ctlr = self.ctlr
        irq = fiq = False
        if k < 0:
            if not (out.irq or out.fiq):
                return
        else:
            g = (k >> 10) & 1
            if self._q_no_per_irq_group_filter and not ((self.dist.ctlr & ctlr) >> g) & 1:
                pass  # D5: the group enables only gate the lines
            elif g == 0 and ctlr & GICC_CTLR_FIQEN:
                fiq = True
            else:
                irq = True
        if out.irq != irq:
            out.irq = irq
            self.sink.gic_output(self.cpu, "irq", irq)
        if out.fiq != fiq:
            out.fiq = fiq
            self.sink.gic_output(self.cpu, "fiq", fiq)

    # ------------------------------------------------------------------ acknowledge / EOI

    def _acknowledge(self, k: int) -> int:
        i = k & 0x3FF
        g = (k >> 10) & 1
        idx = ((k >> 11) & self.group_mask(g)) >> 1
        j = (g << 2) | (idx >> 5)  # record the active priority first: on_event observers
        self._apr[j] |= 1 << (idx & 31)  # see the new RPR
        self._apr_live |= 1 << j
        return i | (self.dist.acknowledge(self.cpu, i) << 10)

    def read_iar(self, n: int = 0, cpu: int = 0) -> int:
        """GICC_IAR (§4.4.4): acknowledge the HPPI; 1023 if none can be signalled, 1022
        for a Group 1 HPPI with AckCtl = 0.  (``n``/``cpu`` are the RegisterBlock's.)

        The HPPI is :attr:`signalled`, as the last :meth:`update` found it (nothing it
        depends on changed since)."""
        if self.stale:
            return SPURIOUS
        if self._q_preemption_qemu_rules:  # QEMU: group/AckCtl checked before the running priority
            k = self._pmr_hppi()
            if k < 0:
                return SPURIOUS
            if k & 0x400 and not self.ctlr & GICC_CTLR_ACKCTL:
                return GROUP1_SPURIOUS
            if (k >> 11) >= self.running_priority():
                return SPURIOUS
            return self._acknowledge(k)
        k = self.signalled
        if k < 0:
            return SPURIOUS
        if k & 0x400 and not self.ctlr & GICC_CTLR_ACKCTL:
            return GROUP1_SPURIOUS
        return self._acknowledge(k)

    def read_aiar(self, n: int = 0, cpu: int = 0) -> int:
        """GICC_AIAR (§4.4.9): acknowledge a Group 1 HPPI regardless of AckCtl; 1023 if the
        HPPI is Group 0.  D1: not implemented (reads 0)."""
        if self._q_no_aliased_regs:
            return 0
        if self.stale:
            return SPURIOUS
        k = self._signalled()
        if k < 0 or not k & 0x400:
            return SPURIOUS
        return self._acknowledge(k)

    def _hppi_id(self, k: int) -> int:
        i = k & 0x3FF
        if i < 16 and not self._q_hppir_no_cpuid:
            s = self.dist.sgi_src[self.cpu][i]
            i |= ((s & -s).bit_length() - 1) << 10
        return i

    def read_hppir(self, n: int = 0, cpu: int = 0) -> int:
        """GICC_HPPIR (§4.4.7): the HPPI (+ source CPUID for SGIs) without acknowledging;
        not masked by PMR or running priority (D3: masked by PMR; D4: no CPUID)."""
        if self.stale:
            return self.stale_hppir
        k = self._hppi()
        if k < 0 or (self._q_hppir_masked_by_pmr and (k >> 11) >= self.pmr):
            return SPURIOUS
        if k & 0x400 and not self.ctlr & GICC_CTLR_ACKCTL:
            return GROUP1_SPURIOUS
        return self._hppi_id(k)

    def read_ahppir(self, n: int = 0, cpu: int = 0) -> int:
        """GICC_AHPPIR (§4.4.11): the HPPI if it is Group 1, else 1023.  D1: reads 0."""
        if self._q_no_aliased_regs:
            return 0
        k = self._hppi()
        if k < 0 or not k & 0x400 or (self._q_hppir_masked_by_pmr and (k >> 11) >= self.pmr):
            return SPURIOUS
        return self._hppi_id(k)

    def _drop_priority(self, group: int) -> bool:
        """Priority drop (§3.2.1~): clear the highest active priority.  Returns False when
        no priority was active.  Under D11 only ``group``'s priorities are considered.  On a
        tie (the same index active in both groups) the Group 0 bit is cleared."""
        apr = self._apr
        s = self._apr_live
        if self._q_eoir_qemu_rules:
            s = (s >> (group << 2)) & 0xF
            if not s:
                return False
            j = (group << 2) | ((s & -s).bit_length() - 1)
            a = apr[j]
            low = a & -a
        else:
            if not s:
                return False
            s = (s | (s >> 4)) & 0xF
            n = (s & -s).bit_length() - 1
            a = apr[n] | apr[4 + n]
            low = a & -a
            j = n if apr[n] & low else 4 + n
        a = apr[j] ^ low
        apr[j] = a
        if not a:
            self._apr_live ^= 1 << j
        return True

    def write_eoir(self, value: int) -> None:
        """GICC_EOIR (§4.4.5): priority drop; with EOImode = 0 also deactivate the INTID.

        1020–1023 and unimplemented INTIDs are ignored.  Default (spec reading): the
        highest active priority is dropped if there is one, and with EOImode = 0 the
        written INTID is deactivated in any case.  D11 (QEMU): ignored entirely when no
        priority is active; drops the highest active priority of the written INTID's group.
        """
        i = value & 0x3FF
        dist = self.dist
        if i >= 1020 or i >= dist.num_irqs:
            return
        c = self.cpu
        if self._q_eoir_qemu_rules:
            if not self._drop_priority((dist.grp[c][i >> 5] >> (i & 31)) & 1):
                return
        else:
            self._drop_priority(0)
        if self.ctlr & GICC_CTLR_EOIMODE:
            dist.notify(1 << c)
        else:
            dist.notify((1 << c) | dist._set_active(i, False, c, "eoir"))

    def write_aeoir(self, value: int) -> None:
        """GICC_AEOIR (§4.4.10): EOIR for Group 1 interrupts.  D1: ignored."""
        if not self._q_no_aliased_regs:
            self.write_eoir(value)

    def write_dir(self, value: int) -> None:
        """GICC_DIR (§4.4.15): deactivate the INTID (EOImode = 1).

        With EOImode = 0 the write is UNPREDICTABLE; it is ignored (QEMU's choice, D12).
        1020–1023 and unimplemented INTIDs are ignored.  No priority drop.
        """
        i = value & 0x3FF
        if i >= 1020 or i >= self.dist.num_irqs or not self.ctlr & GICC_CTLR_EOIMODE:
            return
        dist = self.dist
        mask = dist._set_active(i, False, self.cpu, "dir")  # dist.deactivate(), range checked
        if mask:
            dist.notify(mask)

    def mmio_write_eoir(self, n: int, v: int, mask: int, cpu: int) -> None:
        """RegisterBlock handler of GICC_EOIR."""
        self.write_eoir(v)

    def mmio_write_aeoir(self, n: int, v: int, mask: int, cpu: int) -> None:
        """RegisterBlock handler of GICC_AEOIR."""
        self.write_aeoir(v)

    def mmio_write_dir(self, n: int, v: int, mask: int, cpu: int) -> None:
        """RegisterBlock handler of GICC_DIR."""
        self.write_dir(v)

    # ------------------------------------------------------------------ other registers

    def _changed(self) -> None:
        self.dist.notify(1 << self.cpu)

    def read_ctlr(self, n: int = 0, cpu: int = 0) -> int:
        """GICC_CTLR (§4.4.1)."""
        return self.ctlr

    def write_ctlr(self, n: int, v: int, mask: int, cpu: int) -> None:
        """GICC_CTLR write; bits outside 0x21F RAZ/WI."""
        self.ctlr = v & GICC_CTLR_MASK
        self._changed()

    def read_pmr(self, n: int = 0, cpu: int = 0) -> int:
        """GICC_PMR (§4.4.2)."""
        return self.pmr

    def write_pmr(self, n: int, v: int, mask: int, cpu: int) -> None:
        """GICC_PMR write; unimplemented low bits RAZ/WI."""
        self.pmr = v & self._pmr_mask
        self._changed()

    def read_bpr(self, n: int = 0, cpu: int = 0) -> int:
        """GICC_BPR (§4.4.3)."""
        return self.bpr

    def write_bpr(self, n: int, v: int, mask: int, cpu: int) -> None:
        """GICC_BPR write; values below the minimum set the minimum."""
        self.bpr = max(v & 7, self._bpr_min)
        self._changed()

    def read_abpr(self, n: int = 0, cpu: int = 0) -> int:
        """GICC_ABPR (§4.4.8)."""
        return self.abpr

    def write_abpr(self, n: int, v: int, mask: int, cpu: int) -> None:
        """GICC_ABPR write; minimum = BPR minimum + 1."""
        self.abpr = max(v & 7, self._abpr_min)
        self._changed()

    def read_rpr(self, n: int = 0, cpu: int = 0) -> int:
        """GICC_RPR (§4.4.6): running priority, 0xFF when idle."""
        r = self.running_priority()
        return 0xFF if r == _IDLE else r

    def _write_apr_word(self, j: int, v: int) -> None:
        """Store ``v`` as ``_apr[j]`` and keep ``_apr_live`` in step."""
        v &= 0xFFFF_FFFF
        self._apr[j] = v
        if v:
            self._apr_live |= 1 << j
        else:
            self._apr_live &= ~(1 << j)

    def read_apr(self, n: int, cpu: int = 0) -> int:
        """GICC_APRn (§4.4.12): Group 0 active priorities, word ``n`` (QEMU layout, D22)."""
        return self._apr[n]

    def write_apr(self, n: int, v: int, mask: int, cpu: int) -> None:
        """GICC_APRn write (restore)."""
        self._write_apr_word(n, v)
        self._changed()

    def read_nsapr(self, n: int, cpu: int = 0) -> int:
        """GICC_NSAPRn (§4.4.13): Group 1 active priorities, word ``n`` (QEMU layout, D22)."""
        return self._apr[4 + n]

    def write_nsapr(self, n: int, v: int, mask: int, cpu: int) -> None:
        """GICC_NSAPRn write (restore)."""
        self._write_apr_word(4 + n, v)
        self._changed()

    # ------------------------------------------------------------------ MMIO

    def read(self, offset: int, size: int = 4, cpu: int | None = None) -> int:
        """MMIO read at ``offset`` of the GICC frame."""
        return self.block.read(offset, size, self.cpu)

    def write(self, offset: int, value: int, size: int = 4, cpu: int | None = None) -> None:
        """MMIO write at ``offset`` of the GICC frame."""
        self.block.write(offset, value, size, self.cpu)
