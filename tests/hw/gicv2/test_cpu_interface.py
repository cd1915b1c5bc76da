"""GICC_* (CPU interface) tests derived from Arm IHI 0048B §3.3~ and §4.4.

Test vectors TVnn are the register scripts ``scripts/regs/tvNN-*.regs``, with their
architectural results; where the architecture leaves a choice (UNPREDICTABLE or IMPDEF)
the test names the model's documented choice (docs/conformance.md).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.hw.gicv2.gic import GICv2

D = 0x0800_0000
C = 0x0801_0000
GICD_CTLR, IGROUPR, ISENABLER, ISPENDR, ISACTIVER, ICACTIVER = 0x0, 0x80, 0x100, 0x200, 0x300, 0x380
IPRIORITYR, ITARGETSR = 0x400, 0x800
CTLR, PMR, BPR, IAR, EOIR, RPR, HPPIR, ABPR = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x18, 0x1C
AIAR, AEOIR, AHPPIR, APR0, NSAPR0, IIDR, DIR = 0x20, 0x24, 0x28, 0xD0, 0xE0, 0xFC, 0x1000


def gic1(**kw: int) -> GICv2:
    return GICv2(GICv2Config(num_cpus=1, **kw))


def setup(g: GICv2, gicc_ctlr: int = 0x201, pmr: int = 0xF0, gicd_ctlr: int = 1) -> None:
    g.write(D + GICD_CTLR, gicd_ctlr)
    g.write(C + CTLR, gicc_ctlr)
    g.write(C + PMR, pmr)


def spi(g: GICv2, n: int, prio: int) -> None:
    g.write(D + IPRIORITYR + n, prio, size=1)
    g.write(D + ITARGETSR + n, 1, size=1)
    g.write(D + ISENABLER + 4 * (n >> 5), 1 << (n & 31))


def pend(g: GICv2, n: int) -> None:
    g.write(D + ISPENDR + 4 * (n >> 5), 1 << (n & 31))


def active1(g: GICv2) -> int:
    return g.read(D + ISACTIVER + 4)


# --------------------------------------------------------------------------- reset, masks


def test_tv1_cpu_interface_reset_values() -> None:
    """TV1, IHI 0048B §4.4 (Table 4-2): CTLR 0, PMR 0, RPR 0xFF, HPPIR/IAR 0x3FF, IIDR
    0x0002043B; BPR 0 and ABPR 1 (QEMU's IMPDEF minima)."""
    g = gic1()
    assert [g.read(C + r) for r in (CTLR, PMR, RPR, HPPIR, IAR, IIDR, BPR, ABPR)] == [
        0, 0, 0xFF, 0x3FF, 0x3FF, 0x0002043B, 0, 1]


def test_tv2_ctlr_write_mask() -> None:
    """TV2, IHI 0048B §4.4.1: GICC_CTLR ← 0xFFFFFFFF reads 0x21F (no bypass bits, no Sec.Ext.)."""
    g = gic1()
    g.write(C + CTLR, 0xFFFF_FFFF)
    assert g.read(C + CTLR) == 0x21F


def test_pmr_unimplemented_bits() -> None:
    """IHI 0048B §4.4.2: PMR implements as many bits as the distributor priorities (5 → 0xF8)."""
    g = gic1(prio_bits=5)
    g.write(C + PMR, 0xFF)
    assert g.read(C + PMR) == 0xF8


@pytest.mark.parametrize(("bpr_min", "bpr0", "abpr0"), [(0, 0, 1), (2, 2, 3)])
def test_tv14_binary_point_clamping(bpr_min: int, bpr0: int, abpr0: int) -> None:
    """TV14, IHI 0048B §4.4.3/§4.4.8: writes below the minimum set the minimum; ABPR minimum is
    BPR minimum + 1 (QEMU 0/1, GIC-400 2/3)."""
    g = gic1(bpr_min=bpr_min)
    g.write(C + BPR, 0)
    assert g.read(C + BPR) == bpr0
    g.write(C + BPR, 7)
    assert g.read(C + BPR) == 7
    g.write(C + ABPR, 0)
    assert g.read(C + ABPR) == abpr0


# --------------------------------------------------------------------------- life cycle


def test_tv4_eoimode1_priority_drop_then_deactivate() -> None:
    """TV4, IHI 0048B §3.2.1~/§4.4.4–§4.4.7/§4.4.15: IAR activates and raises RPR, EOIR drops the
    priority only, DIR deactivates; APR2 = 0x10000 in QEMU's layout (D22)."""
    g = gic1()
    setup(g)
    spi(g, 40, 0xA0)
    pend(g, 40)
    assert g.read(D + ISPENDR + 4) == 0x100
    assert (g.read(C + HPPIR), g.read(C + RPR), g.outputs[0].irq) == (0x28, 0xFF, True)
    assert g.read(C + IAR) == 0x28
    assert (g.read(C + HPPIR), g.read(C + RPR)) == (0x3FF, 0xA0)
    assert (g.read(D + ISPENDR + 4), active1(g), g.outputs[0].irq) == (0, 0x100, False)
    assert g.read(C + APR0 + 8) == 0x0001_0000
    g.write(C + EOIR, 0x28)
    assert (g.read(C + RPR), active1(g)) == (0xFF, 0x100)
    g.write(C + DIR, 0x28)
    assert active1(g) == 0
    assert g.read(C + IAR) == 0x3FF


def test_tv5_eoimode0_spurious_eoi_ignored() -> None:
    """TV5, IHI 0048B §4.4.5: EOIR of 1023 is ignored; EOIR of the INTID drops and deactivates."""
    g = gic1()
    setup(g, gicc_ctlr=0x1)
    spi(g, 40, 0x80)
    pend(g, 40)
    assert g.read(C + IAR) == 0x28
    g.write(C + EOIR, 0x3FF)
    assert (active1(g), g.read(C + RPR)) == (0x100, 0x80)
    g.write(C + EOIR, 0x28)
    assert (active1(g), g.read(C + RPR)) == (0, 0xFF)


def test_tv6_dir_with_eoimode0_ignored() -> None:
    """TV6, IHI 0048B §4.4.15: DIR with EOImode=0 is UNPREDICTABLE; the model ignores it
    (QEMU's choice, D12); ICACTIVER still deactivates."""
    g = gic1()
    setup(g, gicc_ctlr=0x1)
    g.write(D + ISACTIVER + 4, 0x100)
    g.write(C + DIR, 0x28)
    assert active1(g) == 0x100
    g.write(D + ICACTIVER + 4, 0x100)
    assert active1(g) == 0


@pytest.mark.parametrize("special", [1020, 1021, 1022, 1023])
def test_eoir_dir_special_intids_ignored(special: int) -> None:
    """IHI 0048B §3.2.5~/§4.4.5/§4.4.15: EOIR/DIR writes of 1020–1023 have no effect."""
    g = gic1()
    setup(g)
    spi(g, 40, 0xA0)
    pend(g, 40)
    g.read(C + IAR)
    g.write(C + EOIR, special)
    assert g.read(C + RPR) == 0xA0
    g.write(C + EOIR, 0x28)
    g.write(C + DIR, special)
    assert active1(g) == 0x100


def test_tv8_priority_mask_strict() -> None:
    """TV8, IHI 0048B §4.4.2/§4.4.7: PMR=0xA0 masks priority 0xA0 (strictly lower needed); HPPIR
    still reports it (architecture; QEMU D3 differs)."""
    g = gic1()
    setup(g, gicc_ctlr=0x1, pmr=0xA0)
    spi(g, 40, 0xA0)
    pend(g, 40)
    assert not g.outputs[0].irq
    assert g.read(C + IAR) == 0x3FF
    assert g.read(C + HPPIR) == 0x28
    g.write(C + PMR, 0xA8)
    assert g.read(C + HPPIR) == 0x28
    assert g.read(C + IAR) == 0x28


def test_tv9_disabled_paths_keep_pending() -> None:
    """TV9, IHI 0048B §4.3.1/§4.4.1: CPU interface or distributor disabled → IAR 1023, pending kept."""
    g = gic1()
    setup(g, gicc_ctlr=0x0)
    spi(g, 40, 0xA0)
    pend(g, 40)
    assert (g.read(C + IAR), g.read(C + HPPIR)) == (0x3FF, 0x3FF)
    g.write(C + CTLR, 1)
    g.write(D + GICD_CTLR, 0)
    assert g.read(C + IAR) == 0x3FF
    assert not g.outputs[0].irq
    assert g.read(D + ISPENDR + 4) == 0x100


def test_tv10_equal_priority_lowest_intid_first() -> None:
    """TV10, §3.3~: equal priorities → lowest INTID first (model choice = QEMU)."""
    g = gic1()
    setup(g, gicc_ctlr=0x1)
    spi(g, 41, 0x80)
    spi(g, 40, 0x80)
    pend(g, 41)
    pend(g, 40)
    assert g.read(C + HPPIR) == 0x28
    assert g.read(C + IAR) == 0x28
    g.write(C + EOIR, 0x28)
    assert g.read(C + IAR) == 0x29


def test_tv11_priority_order() -> None:
    """TV11, §3.3~: the lower priority value is acknowledged first."""
    g = gic1()
    setup(g, gicc_ctlr=0x1)
    spi(g, 41, 0x80)
    spi(g, 42, 0x70)
    pend(g, 41)
    pend(g, 42)
    assert g.read(C + IAR) == 0x2A
    g.write(C + EOIR, 0x2A)
    assert g.read(C + IAR) == 0x29


def test_tv12_preemption_bpr3() -> None:
    """TV12, §3.3~/§4.4.3/§4.4.6: with BPR=3 only a higher group priority ([7:4]) preempts;
    RPR is the group priority; nested EOIs restore it."""
    g = gic1()
    setup(g, gicc_ctlr=0x1)
    g.write(C + BPR, 3)
    for n, p in ((40, 0x85), (41, 0x82), (42, 0x7F)):
        spi(g, n, p)
    pend(g, 40)
    assert g.read(C + IAR) == 0x28
    assert g.read(C + RPR) == 0x80
    assert g.read(C + APR0 + 8) == 0x1
    pend(g, 41)
    assert g.read(C + HPPIR) == 0x29
    assert g.read(C + IAR) == 0x3FF
    assert not g.outputs[0].irq
    pend(g, 42)
    assert g.outputs[0].irq
    assert g.read(C + IAR) == 0x2A
    assert g.read(C + RPR) == 0x70
    g.write(C + EOIR, 0x2A)
    assert g.read(C + RPR) == 0x80
    g.write(C + EOIR, 0x28)
    assert g.read(C + RPR) == 0xFF
    assert g.read(C + IAR) == 0x29
    assert g.read(C + RPR) == 0x80
    g.write(C + EOIR, 0x29)
    assert g.read(C + RPR) == 0xFF


def test_tv13_preemption_bpr0() -> None:
    """TV13, §3.3~: BPR=0 → group priority [7:1]; 0x82 preempts a running 0x84."""
    g = gic1()
    setup(g, gicc_ctlr=0x1)
    spi(g, 40, 0x85)
    spi(g, 41, 0x82)
    pend(g, 40)
    assert g.read(C + IAR) == 0x28
    assert g.read(C + RPR) == 0x84
    pend(g, 41)
    assert g.read(C + IAR) == 0x29
    assert g.read(C + RPR) == 0x82


@settings(max_examples=80, deadline=None)
@given(bpr=st.integers(0, 7), p1=st.integers(0, 0xFE), p2=st.integers(0, 0xFE))
def test_preemption_follows_binary_point_table(bpr: int, p1: int, p2: int) -> None:
    """§3.3~ / §4.4.3 table: with p1 active, p2 preempts iff its group priority
    (priority & (0xFF << (BPR+1))) is below p1's; RPR is p1's group priority."""
    g = gic1()
    setup(g, gicc_ctlr=0x1, pmr=0xFF)
    g.write(C + BPR, bpr)
    spi(g, 40, p1)
    spi(g, 41, p2)
    pend(g, 40)
    assert g.read(C + IAR) == 0x28
    mask = (0xFF << (bpr + 1)) & 0xFF
    assert g.read(C + RPR) == p1 & mask
    pend(g, 41)
    assert g.outputs[0].irq == ((p2 & mask) < (p1 & mask))


# --------------------------------------------------------------------------- groups


def _tv24(ctlr: int) -> GICv2:
    g = gic1()
    setup(g, gicc_ctlr=ctlr, gicd_ctlr=0x3)
    spi(g, 40, 0xA0)
    g.write(D + IGROUPR + 4, 0x100)
    return g


def test_tv24_group1_with_ackctl0_returns_1022() -> None:
    """TV24 step 2, §3.4.2/§4.4.4/§4.4.7: Group 1 HPPI with AckCtl=0 → IRQ, HPPIR/IAR 1022;
    GICC_AHPPIR/AIAR see it (architecture; QEMU D1 reads 0)."""
    g = _tv24(0x3)
    assert g.read(D + IGROUPR + 4) == 0x100
    pend(g, 40)
    assert g.outputs[0].irq and not g.outputs[0].fiq
    assert g.read(C + HPPIR) == 0x3FE
    assert g.read(C + IAR) == 0x3FE
    assert g.read(C + AHPPIR) == 0x28
    assert g.read(C + AIAR) == 0x28
    assert active1(g) == 0x100


def test_tv24_ackctl1_group1_recorded_in_nsapr() -> None:
    """TV24 step 3, §4.4.4/§4.4.13: AckCtl=1 lets IAR take Group 1; its active priority goes
    to NSAPR (QEMU layout, D22: NSAPR2 = 0x10000)."""
    g = _tv24(0x7)
    pend(g, 40)
    assert g.read(C + IAR) == 0x28
    assert g.read(C + NSAPR0 + 8) == 0x10000
    assert g.read(C + APR0 + 8) == 0
    g.write(C + EOIR, 0x28)
    assert g.read(C + NSAPR0 + 8) == 0


def test_tv24_group0_with_fiqen_signals_fiq() -> None:
    """TV24 step 4, §4.4.1: a Group 0 interrupt is signalled as FIQ when FIQEn=1."""
    g = _tv24(0xB)
    spi(g, 41, 0xA0)
    pend(g, 41)
    assert g.outputs[0].fiq and not g.outputs[0].irq
    assert g.read(C + IAR) == 0x29


def test_tv24_group_disabled_at_distributor_is_skipped() -> None:
    """TV24 step 5, §3.3~: with Group 1 forwarding off, IAR returns the Group 0 interrupt
    even though the Group 1 one has higher priority (architecture; QEMU D5 differs)."""
    g = _tv24(0x7)
    g.write(D + GICD_CTLR, 0x1)
    spi(g, 42, 0xB0)
    pend(g, 40)
    pend(g, 42)
    assert g.read(C + IAR) == 0x2A


def test_tv24_group0_disabled_at_cpu_interface() -> None:
    """TV24 step 6, §4.4.1: only EnableGrp1 set → a pending Group 0 interrupt gives IAR 1023
    and no IRQ/FIQ (architecture; QEMU D5 returns it)."""
    g = gic1()
    setup(g, gicc_ctlr=0x2, gicd_ctlr=0x3)
    spi(g, 40, 0xA0)
    pend(g, 40)
    assert g.read(C + IAR) == 0x3FF
    assert not g.outputs[0].irq and not g.outputs[0].fiq


@pytest.mark.parametrize(("ctlr", "rpr", "preempts"), [(0x07, 0x80, False), (0x17, 0x84, True)])
def test_abpr_controls_group1_unless_cbpr(ctlr: int, rpr: int, preempts: bool) -> None:
    """§4.4.3/§4.4.8: Group 1 group priority uses ABPR (mask 0xFF << ABPR) unless CBPR=1, in
    which case BPR applies (ABPR=4 → [7:4]; BPR=0 → [7:1])."""
    g = gic1()
    setup(g, gicc_ctlr=ctlr, gicd_ctlr=0x3, pmr=0xFF)
    g.write(D + IGROUPR + 4, 0x300)
    g.write(C + BPR, 0)
    g.write(C + ABPR, 4)
    spi(g, 40, 0x85)
    spi(g, 41, 0x82)
    pend(g, 40)
    assert g.read(C + IAR) == 0x28
    assert g.read(C + RPR) == rpr
    pend(g, 41)
    assert g.outputs[0].irq == preempts


# --------------------------------------------------------------------------- EOI corner cases


def test_tv26_mismatched_eoi_default_choice() -> None:
    """TV26, §4.4.5 (UNPREDICTABLE): the model drops the highest active priority on any EOIR
    and, with EOImode=0, deactivates the written INTID even with no active priority."""
    g = gic1()
    setup(g)
    spi(g, 40, 0xA0)
    spi(g, 41, 0xB0)
    pend(g, 40)
    pend(g, 41)
    assert g.read(C + IAR) == 0x28
    g.write(C + EOIR, 0x29)
    assert g.read(C + RPR) == 0xFF
    assert active1(g) == 0x100
    assert g.read(C + IAR) == 0x29
    g.write(C + CTLR, 0x1)
    g.write(C + EOIR, 0x28)
    assert active1(g) == 0x200
    g.write(C + EOIR, 0x29)
    assert active1(g) == 0


def test_apr_write_restores_running_priority() -> None:
    """§4.4.12: APRn are saved/restored as opaque values; restoring bit 0 of APR0 makes the
    running priority 0x00 and blocks every interrupt."""
    g = gic1()
    setup(g, gicc_ctlr=0x1)
    spi(g, 40, 0x10)
    g.write(C + APR0, 0x1)
    assert g.read(C + RPR) == 0x00
    pend(g, 40)
    assert not g.outputs[0].irq
    g.write(C + APR0, 0x0)
    assert g.outputs[0].irq


def test_sgi_eoi_with_cpuid() -> None:
    """§4.4.4/§4.4.5: IAR of an SGI returns INTID|CPUID<<10; EOIR with that value deactivates."""
    g = gic1()
    setup(g, gicc_ctlr=0x1)
    g.write(D + 0xF20 + 2, 0x01, size=1)  # SPENDSGIR: SGI 2 from CPU0
    assert g.read(C + IAR) == 0x002
    assert g.read(D + ISACTIVER) == 0x4
    g.write(C + EOIR, 0x002)
    assert g.read(D + ISACTIVER) == 0
