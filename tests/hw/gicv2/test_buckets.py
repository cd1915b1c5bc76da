"""HPPI candidate buckets over the whole INTID range (IHI 0048B §3.3~, issue 2 target).

The distributor keeps each CPU's candidates per (group, priority) so that the highest
priority pending interrupt is found without scanning every interrupt.  These tests drive
interrupts up to INTID 1019 (the last SPI, IHI 0048B §2.2.1) and check (a) that the selection
equals a from-scratch scan of the architectural state, lowest INTID winning a priority tie,
and (b) that the bookkeeping only ever holds small integers, so that each bucket operation
costs the same whatever the INTID (the issue 2 target: per-access cost at 988 SPIs within
1.2x of the cost at 32 SPIs, which bitmasks over all INTIDs, ~1000-bit ints, miss when
compiled).  Expected values come from the architecture, never from the model.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irqfwd.hw.gicv2.config import GICv2Config, QemuQuirks
from irqfwd.hw.gicv2.distributor import NO_IRQ, Distributor
from irqfwd.hw.gicv2.gic import GICv2

D = 0x0800_0000
C = 0x0801_0000
ISENABLER, ISPENDR, IPRIORITYR, ITARGETSR = 0x100, 0x200, 0x400, 0x800
GICC_CTLR, GICC_PMR, GICC_IAR, GICC_EOIR, GICC_HPPIR = 0x0, 0x4, 0xC, 0x10, 0x18
SPURIOUS = 1023

# INTIDs in the first, a middle and the last 32-INTID words, incl. the word boundaries
_INTIDS = [16, 27, 31, 32, 63, 64, 500, 511, 512, 960, 991, 992, 1000, 1018, 1019]


def _bucket_values(d: Distributor) -> list[int]:
    """Every integer stored in the per-(CPU, group, priority) candidate buckets."""
    return [v for per_cpu in d._bk for per_group in per_cpu for v in per_group]


def _reference_hppi(d: Distributor, cpu: int, groups: int) -> tuple[int, int] | None:
    """(priority, INTID) of the HPPI by a scan of every INTID (§3.3~, lowest INTID on ties),
    from ``cpu``'s own copy of the pending/active state (per-CPU under QEMU's D7/D9)."""
    best = None
    for i in range(16, 1020):
        w, b = i >> 5, 1 << (i & 31)
        pending = (d.latch[cpu][w] | (d.line[cpu][w] & ~d.edge[cpu][w])) & b
        targeted = i < 32 or (d.targets[i] >> cpu) & 1
        if (pending and not d.act[cpu][w] & b and d.is_enabled(i, cpu)
                and targeted and (groups >> d.group(i, cpu)) & 1):
            key = (d.priority(i, cpu), i)
            if best is None or key < best:
                best = key
    return best


_ops = st.lists(
    st.tuples(
        st.sampled_from(["line", "pend", "enable", "active", "prio", "group", "targets",
                         "ack"]),
        st.sampled_from(_INTIDS),
        st.integers(0, 1),  # cpu
        st.sampled_from([0x00, 0x10, 0x80, 0xA0, 0xF0]),  # value (few priorities: ties)
    ),
    min_size=5,
    max_size=40,
)


@pytest.mark.parametrize("quirks", [{}, {"spi_n_n": True}, {"spi_pending_follows_targets": True}])
@settings(max_examples=60, deadline=None)
@given(ops=_ops)
def test_buckets_hold_small_ints_and_match_scan_up_to_intid_1019(
    quirks: dict[str, bool], ops: list[tuple[str, int, int, int]]
) -> None:
    """Issue 2 target (bounded per-operation cost of the HPPI selection, IHI 0048B §3.3~): after
    pending/enable/active/priority/group/target changes and acknowledges on INTIDs up to
    1019, every value stored in the candidate buckets is a small int (< 2**32, so no
    operation is arithmetic on an INTID-wide bitmask) and each CPU's HPPI still equals a
    from-scratch scan with the lowest-INTID tie-break."""
    d = Distributor(GICv2Config(num_cpus=2, num_irqs=1024, quirks=QemuQuirks(**quirks)))
    for j in _INTIDS:
        if j >= 32:
            d.set_targets(j, 0x3)
            d.set_enabled(j, True)
        else:
            d.set_enabled(j, True, 0)
            d.set_enabled(j, True, 1)
    for op, i, c, v in ops:
        if op == "line":
            d.set_line(i, bool(v & 0x10), c)
        elif op == "pend":
            d.set_pending(i, v != 0xF0, c)
        elif op == "enable":
            d.set_enabled(i, v != 0, c)
        elif op == "active":
            d.set_active(i, v == 0x80, c)
        elif op == "prio":
            d.set_priority(i, v, c)
        elif op == "group":
            d.set_group(i, (v >> 4) & 1, c)
        elif op == "targets":
            d.set_targets(i, (v >> 4) & 3)
        elif op == "ack":
            k = d.best(c, 3)
            if k >= 0:
                d.acknowledge(c, k & 0x3FF)
        assert all(0 <= v < 2**32 for v in _bucket_values(d))
    for cpu in (0, 1):
        for groups in (1, 2, 3):
            ref = _reference_hppi(d, cpu, groups)
            k = d.best(cpu, groups)
            if ref is None:
                assert k == NO_IRQ
            else:
                assert (k >> 11, k & 0x3FF) == ref


def test_all_spis_pending_bucket_values_stay_below_2_pow_32() -> None:
    """Issue 2 target: with all 988 SPIs pending and enabled at one priority (the
    `irqfwd bench` 988-SPI configuration) the bucket holding them stores only small ints,
    so adding the last one (INTID 1019) costs the same as adding INTID 32."""
    d = Distributor(GICv2Config(num_cpus=1, num_irqs=1024))
    for i in range(32, 1020):
        d.set_priority(i, 0xA0)
        d.set_enabled(i, True)
        d.set_pending(i, True)
    values = _bucket_values(d)
    assert any(values)
    assert max(values) < 2**32
    assert d.best(0, 1) == (0xA0 << 11) | 32


def test_equal_priority_spis_acknowledged_in_intid_order_across_words() -> None:
    """IHI 0048B §3.3~ tie-break (lowest INTID, as QEMU and docs/conformance.md): equal-priority
    pending SPIs spread over the first, middle and last 32-INTID words are acknowledged by
    GICC_IAR in ascending INTID order, a lower priority value always first, and GICC_IAR
    reads 1023 once all are active."""
    g = GICv2(GICv2Config(num_cpus=1, num_irqs=1024))
    g.write(D + 0x000, 1)  # GICD_CTLR.EnableGrp0
    g.write(C + GICC_CTLR, 0x1)
    g.write(C + GICC_PMR, 0xF0)
    tied = [1019, 992, 991, 512, 511, 64, 63, 32]
    for i in tied:
        g.write(D + IPRIORITYR + i, 0xA0, size=1)
    g.write(D + IPRIORITYR + 700, 0x90, size=1)  # higher priority (lower value)
    for i in [*tied, 700]:
        g.write(D + ISENABLER + 4 * (i >> 5), 1 << (i & 31))
        g.write(D + ISPENDR + 4 * (i >> 5), 1 << (i & 31))
    assert g.read(C + GICC_HPPIR) == 700
    seen = []
    for _ in range(len(tied) + 1):
        iar = g.read(C + GICC_IAR)
        seen.append(iar)
        g.write(C + GICC_EOIR, iar)  # EOImode 0: priority drop and deactivation
    assert seen == [700, *sorted(tied)]
    assert g.read(C + GICC_IAR) == SPURIOUS
