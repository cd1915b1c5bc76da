"""Priority sets of the HPPI selection and of the active priorities hold only small ints.

The distributor's set of non-empty priorities (256 values, IHI 0048B §3.3~) and the CPU
interface's active priorities (GICC_APRn/NSAPRn, 128 preemption levels in QEMU's layout,
§4.4.12–§4.4.13) are kept as 32-bit words with a summary of the non-empty words, never as
one 256- or 128-bit int: when compiled (mypyc), ints >= 2**62 turn every operation into an
allocating arbitrary-precision one.  These tests walk every priority value of both groups
and check (a) that every stored value stays below 2**32 and (b) that the selection equals a
plain reference: the minimum over the pending (priority, INTID) pairs for the HPPI, the
lowest active index for the running priority and for the priority drop (the written
INTID's group only under QEMU's D11).  Expected values come from the architecture, never
from the model.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irqfwd.hw.gicv2.config import GICv2Config, QemuQuirks
from irqfwd.hw.gicv2.cpu_interface import CpuInterface
from irqfwd.hw.gicv2.distributor import NO_IRQ, Distributor
from irqfwd.hw.gicv2.gic import GICv2

NUM_IRQS = 32 + 512  # two SPIs per priority value: 32 + p and 288 + p


def _dist_values(d: Distributor) -> list[int]:
    """Every int stored in the candidate buckets and the priority summaries."""
    return [v for per_cpu in d._bk for per_group in per_cpu for v in per_group] + [
        v for per_cpu in d._pm for v in per_cpu
    ]


def _reference_best(pending: dict[int, tuple[int, int]], groups: int) -> int:
    """HPPI key of the pending INTIDs ``{intid: (priority, group)}`` among ``groups`` by a
    plain minimum over (priority, INTID) (§3.3~, lowest INTID on ties)."""
    keys = [(p, i, g) for i, (p, g) in pending.items() if (groups >> g) & 1]
    if not keys:
        return NO_IRQ
    p, i, g = min(keys)
    return (p << 11) | (g << 10) | i


def _check_dist(d: Distributor, pending: dict[int, tuple[int, int]]) -> None:
    assert all(0 <= v < 2**32 for v in _dist_values(d))
    for groups in (1, 2, 3):
        assert d.best(0, groups) == _reference_best(pending, groups)


def _dist_with_all_priorities(groups: list[int]) -> tuple[Distributor, dict[int, tuple[int, int]]]:
    """Distributor whose SPIs 32 + p and 288 + p have priority p (every value 0–255), in
    the group ``groups[i - 32]``; every SPI enabled, none pending."""
    d = Distributor(GICv2Config(num_cpus=1, num_irqs=NUM_IRQS))
    info = {}
    for i in range(32, NUM_IRQS):
        p, g = (i - 32) & 0xFF, groups[i - 32]
        d.set_priority(i, p)
        d.set_group(i, g)
        d.set_enabled(i, True)
        info[i] = (p, g)
    return d, info


def test_distributor_every_priority_both_groups_small_ints_and_reference_order() -> None:
    """All 256 priorities pending in both groups (ties across groups and INTIDs), then
    removed highest priority first: the priority summaries stay below 2**32 and the HPPI is
    always the reference minimum (lowest priority value, then lowest INTID)."""
    groups = [(i >> 1) & 1 if i < 256 else (i & 1) for i in range(512)]
    d, info = _dist_with_all_priorities(groups)
    pending: dict[int, tuple[int, int]] = {}
    for i in reversed(range(32, NUM_IRQS)):  # lowest priority first: the HPPI moves each time
        d.set_pending(i, True)
        pending[i] = info[i]
        _check_dist(d, pending)
    assert max(d._pm[0]) >= 2**31  # priority 255 of Group 0 (bit 31 of word 7) is present
    while pending:
        k = d.best(0, 3)
        i = k & 0x3FF
        d.set_pending(i, False)
        del pending[i]
        _check_dist(d, pending)
    assert not any(d._pm[0])


@settings(max_examples=40, deadline=None)
@given(
    groups=st.lists(st.integers(0, 1), min_size=512, max_size=512),
    ops=st.lists(st.tuples(st.integers(32, NUM_IRQS - 1), st.booleans(),
                           st.integers(0, 255)), min_size=1, max_size=120),
)
def test_distributor_random_priorities_groups_match_reference(
    groups: list[int], ops: list[tuple[int, bool, int]]
) -> None:
    """Random pending changes and priority moves (GICD_IPRIORITYR writes of a pending
    interrupt) over every priority value and both groups keep the summaries below 2**32
    and the HPPI equal to the reference minimum."""
    d, info = _dist_with_all_priorities(groups)
    pending: dict[int, tuple[int, int]] = {}
    for i, on, p in ops:
        if on and i in pending:  # pending already: move it to priority p instead
            d.set_priority(i, p)
            info[i] = (p, info[i][1])
        else:
            d.set_pending(i, on)
        if on:
            pending[i] = info[i]
        else:
            pending.pop(i, None)
        _check_dist(d, pending)


# ---------------------------------------------------------------- active priorities

D = 0x0800_0000
GICD_CTLR = 0x0


def _ref_words(active: set[tuple[int, int]]) -> list[int]:
    """GICC_APR0–3 then GICC_NSAPR0–3 of the active ``(group, index)`` set (QEMU layout)."""
    a = [0, 0]
    for g, idx in active:
        a[g] |= 1 << idx
    return [(a[g] >> (32 * n)) & 0xFFFF_FFFF for g in (0, 1) for n in range(4)]


def _ref_rpr(active: set[tuple[int, int]]) -> int:
    return min(idx for _, idx in active) << 1 if active else 0xFF


def _check_cpu(ci: CpuInterface, active: set[tuple[int, int]]) -> None:
    assert all(0 <= v < 2**32 for v in ci._apr)
    assert [ci.read_apr(n) for n in range(4)] + [ci.read_nsapr(n) for n in range(4)] \
        == _ref_words(active)
    assert ci.read_rpr() == _ref_rpr(active)


def _gic(eoir_qemu_rules: bool, groups: list[int]) -> GICv2:
    """One CPU, both groups enabled (AckCtl = 1), PMR 0xFF, BPR 0 and ABPR 1: every group
    priority 2 * L (L = 0..127) is its own preemption level in both groups; INTID 32 + L
    has priority 2 * L + (L & 1) (the low bit is not part of the group priority; 0xFE for
    L = 127, as 0xFF never passes PMR) and group ``groups[L]``."""
    cfg = GICv2Config(num_cpus=1, num_irqs=160, quirks=QemuQuirks(eoir_qemu_rules=eoir_qemu_rules))
    g = GICv2(cfg)
    g.write(D + GICD_CTLR, 3)
    ci = g.cpu_if[0]
    ci.write_ctlr(0, 0x7, 0xFFFF_FFFF, 0)
    ci.write_pmr(0, 0xFF, 0xFFFF_FFFF, 0)
    for level in range(128):
        i = 32 + level
        g.dist.set_priority(i, 2 * level + (level & 1 if level < 127 else 0))
        g.dist.set_group(i, groups[level])
        g.dist.set_enabled(i, True)
    return g


@pytest.mark.parametrize("eoir_qemu_rules", [False, True])
@settings(max_examples=30, deadline=None)
@given(
    groups=st.lists(st.integers(0, 1), min_size=128, max_size=128),
    order=st.permutations(range(128)),
)
def test_every_active_priority_level_small_ints_and_reference_drop(
    eoir_qemu_rules: bool, groups: list[int], order: list[int]
) -> None:
    """§3.3~, §4.4.12–§4.4.13: 128 nested acknowledges (each preempting the previous, in
    both groups) activate every preemption level; then EOIs in any order drop the lowest
    active index (spec reading) or the lowest active index of the written INTID's group
    (D11), ignoring the write when that group has none.  The APR words stay below 2**32
    and GICC_APRn/NSAPRn/RPR equal the reference after every step."""
    g = _gic(eoir_qemu_rules, groups)
    ci = g.cpu_if[0]
    active: set[tuple[int, int]] = set()
    for level in reversed(range(128)):
        i = 32 + level
        g.dist.set_pending(i, True)
        assert ci.read_iar() == i
        active.add((groups[level], level))
        _check_cpu(ci, active)
    for level in order:
        grp = groups[level]
        ci.write_eoir(32 + level)
        if eoir_qemu_rules:
            mine = [idx for gg, idx in active if gg == grp]
            if mine:
                active.discard((grp, min(mine)))
        elif active:
            active.discard(min(active, key=lambda a: (a[1], a[0])))  # Group 0 first on a tie
        _check_cpu(ci, active)
    assert not active and ci._apr_live == 0


@settings(max_examples=60, deadline=None)
@given(
    words=st.lists(st.integers(0, 2**32 - 1) | st.sampled_from([0, 1, 2**31]),
                   min_size=8, max_size=8),
    drops=st.integers(0, 8),
)
def test_apr_restore_then_drop_matches_reference(words: list[int], drops: int) -> None:
    """GICC_APRn/NSAPRn writes (state restore, §4.4.12–§4.4.13) read back unchanged, RPR is
    the lowest set index over both groups, and each priority drop (spec reading) clears
    the lowest set index, the Group 0 bit when both groups have it."""
    g = _gic(False, [0] * 128)
    ci = g.cpu_if[0]
    for n in range(4):
        ci.write_apr(n, words[n], 0xFFFF_FFFF, 0)
        ci.write_nsapr(n, words[4 + n], 0xFFFF_FFFF, 0)
    active = {(gg, 32 * n + b) for gg in (0, 1) for n in range(4)
              for b in range(32) if (words[4 * gg + n] >> b) & 1}
    _check_cpu(ci, active)
    for _ in range(drops):
        ci.write_eoir(32)
        if active:
            active.discard(min(active, key=lambda a: (a[1], a[0])))
        _check_cpu(ci, active)
