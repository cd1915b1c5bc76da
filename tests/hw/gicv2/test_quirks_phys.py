"""QEMU 7.2 deviations of the physical GIC (D1–D12, D16, D22 of docs/conformance.md):
each test runs the test vector (``scripts/regs/tvNN-*.regs``) with the architectural
default (Arm IHI 0048B; bare § numbers are its sections) and with the one
:class:`QemuQuirks` flag that reproduces the result observed on QEMU 7.2.22.
docs/conformance.md lists them."""

from __future__ import annotations

import pytest

from irqfwd.hw.gicv2.config import GICv2Config, QemuQuirks
from irqfwd.hw.gicv2.gic import GICv2

D, C, H, V = 0x0800_0000, 0x0801_0000, 0x0803_0000, 0x0804_0000
GICD_CTLR, IGROUPR, ISENABLER, ISPENDR, ICPENDR, ISACTIVER = 0x0, 0x80, 0x100, 0x200, 0x280, 0x300
IPRIORITYR, ITARGETSR, SGIR, SPENDSGIR = 0x400, 0x800, 0xF00, 0xF20
CTLR, PMR, IAR, EOIR, RPR, HPPIR = 0x00, 0x04, 0x0C, 0x10, 0x14, 0x18
AIAR, AEOIR, AHPPIR = 0x20, 0x24, 0x28


def make(num_cpus: int = 1, **quirks: bool) -> GICv2:
    return GICv2(GICv2Config(num_cpus=num_cpus, quirks=QemuQuirks(**quirks)))


def setup(g: GICv2, gicc_ctlr: int = 0x201, pmr: int = 0xF0, gicd_ctlr: int = 1,
          cpu: int = 0) -> None:
    g.write(D + GICD_CTLR, gicd_ctlr, cpu=cpu)
    g.write(C + CTLR, gicc_ctlr, cpu=cpu)
    g.write(C + PMR, pmr, cpu=cpu)


def spi(g: GICv2, n: int, prio: int, target: int = 1) -> None:
    g.write(D + IPRIORITYR + n, prio, size=1)
    g.write(D + ITARGETSR + n, target, size=1)
    g.write(D + ISENABLER + 4 * (n >> 5), 1 << (n & 31))


def pend(g: GICv2, n: int, cpu: int = 0) -> None:
    g.write(D + ISPENDR + 4 * (n >> 5), 1 << (n & 31), cpu=cpu)


@pytest.mark.parametrize(("quirk", "aihppir", "aiar"), [(False, 0x28, 0x28), (True, 0, 0)])
def test_d1_aliased_registers(quirk: bool, aihppir: int, aiar: int) -> None:
    """D1 / TV24 step 2, IHI 0048B §4.4.9–§4.4.11: AHPPIR/AIAR see a Group 1 interrupt; QEMU
    does not implement them (read 0, AEOIR ignored)."""
    g = make(no_aliased_regs=quirk)
    setup(g, gicc_ctlr=0x3, gicd_ctlr=0x3)
    spi(g, 40, 0xA0)
    g.write(D + IGROUPR + 4, 0x100)
    pend(g, 40)
    assert g.read(C + AHPPIR) == aihppir
    assert g.read(C + AIAR) == aiar
    if quirk:
        g.write(C + CTLR, 0x7)
        assert g.read(C + IAR) == 0x28
    g.write(C + AEOIR, 0x28)
    assert g.read(C + RPR) == (0xA0 if quirk else 0xFF)


@pytest.mark.parametrize(("quirk", "hppir"), [(False, 0x28), (True, 0x3FF)])
def test_d3_hppir_masked_by_pmr(quirk: bool, hppir: int) -> None:
    """D3 / TV8: with PMR = priority, HPPIR reports the interrupt (Arm XML GICC_HPPIR); QEMU
    returns 1023."""
    g = make(hppir_masked_by_pmr=quirk)
    setup(g, gicc_ctlr=0x1, pmr=0xA0)
    spi(g, 40, 0xA0)
    pend(g, 40)
    assert g.read(C + HPPIR) == hppir
    assert g.read(C + IAR) == 0x3FF


@pytest.mark.parametrize(("quirk", "hppir"), [(False, 0x405), (True, 0x005)])
def test_d4_hppir_sgi_cpuid(quirk: bool, hppir: int) -> None:
    """D4 / TV16 step 7, §4.4.7: HPPIR of an SGI carries the source CPUID; QEMU omits it
    (IAR still includes it)."""
    g = make(hppir_no_cpuid=quirk)
    setup(g, gicc_ctlr=0x1)
    g.write(D + IPRIORITYR + 5, 0x40, size=1)
    g.write(D + SPENDSGIR + 5, 0x02, size=1)
    assert g.read(C + HPPIR) == hppir
    assert g.read(C + IAR) == 0x405


@pytest.mark.parametrize(("quirk", "iar"), [(False, 0x2A), (True, 0x28)])
def test_d5_group_disabled_at_distributor(quirk: bool, iar: int) -> None:
    """D5 / TV24 step 5: Group 1 forwarding off; the architecture skips the Group 1 HPPI,
    QEMU still returns it from IAR."""
    g = make(no_per_irq_group_filter=quirk)
    setup(g, gicc_ctlr=0x7, gicd_ctlr=0x1)
    spi(g, 40, 0xA0)
    spi(g, 42, 0xB0)
    g.write(D + IGROUPR + 4, 0x100)
    pend(g, 40)
    pend(g, 42)
    assert g.read(C + IAR) == iar


@pytest.mark.parametrize(("quirk", "iar"), [(False, 0x3FF), (True, 0x28)])
def test_d5_group0_disabled_at_cpu_interface(quirk: bool, iar: int) -> None:
    """D5 / TV24 step 6: only EnableGrp1 set and a Group 0 interrupt pending → no IRQ/FIQ in
    both; IAR 1023 (architecture) or the interrupt (QEMU)."""
    g = make(no_per_irq_group_filter=quirk)
    setup(g, gicc_ctlr=0x2, gicd_ctlr=0x3)
    spi(g, 40, 0xA0)
    pend(g, 40)
    assert not g.outputs[0].irq and not g.outputs[0].fiq
    assert g.read(C + IAR) == iar


@pytest.mark.parametrize(("quirk", "cpu0_pending"), [(False, True), (True, False)])
def test_d6_ppi_icpendr_scope(quirk: bool, cpu0_pending: bool) -> None:
    """D6, §4.3.8: ICPENDR0 for a PPI clears only the accessing CPU's latch; QEMU clears it
    on every CPU."""
    g = make(num_cpus=2, ppi_icpendr_all_cpus=quirk)
    pend(g, 20, cpu=0)
    pend(g, 20, cpu=1)
    g.write(D + ICPENDR, 1 << 20, cpu=1)
    assert not g.read(D + ISPENDR, cpu=1) & (1 << 20)
    assert bool(g.read(D + ISPENDR, cpu=0) & (1 << 20)) == cpu0_pending


def test_d7_spi_n_n() -> None:
    """D7 / TV25 (QEMU): with SPIs N-N, CPU0's acknowledge leaves SPI 40 pending and CPU1
    acknowledges it again."""
    g = make(num_cpus=2, spi_n_n=True)
    setup(g, cpu=0)
    setup(g, cpu=1)
    spi(g, 40, 0xA0, target=0x3)
    pend(g, 40)
    assert g.read(C + IAR, cpu=0) == 0x28
    assert g.read(D + ISPENDR + 4) == 0x100
    assert g.read(C + HPPIR, cpu=1) == 0x28
    assert g.read(C + IAR, cpu=1) == 0x28
    assert g.read(D + ISPENDR + 4) == 0
    g.write(C + EOIR, 0x28, cpu=0)
    g.write(C + 0x1000, 0x28, cpu=0)
    assert g.read(D + ISACTIVER + 4) == 0x100  # still active on CPU1


@pytest.mark.parametrize(("cpus", "quirk", "pending"), [(2, False, True), (2, True, False),
                                                         (1, True, True)])
def test_d8_ppi_ispendr_smp(cpus: int, quirk: bool, pending: bool) -> None:
    """D8 / TV19: ISPENDR0 of a PPI from CPU1 pends it on CPU1; QEMU ≤ 9.0 ignores the write
    when there is more than one CPU (it works on a uniprocessor)."""
    g = make(num_cpus=cpus, ppi_ispendr_smp_ignored=quirk)
    cpu = cpus - 1
    pend(g, 20, cpu=cpu)
    assert bool(g.read(D + ISPENDR, cpu=cpu) & (1 << 20)) == pending
    if cpus == 2:
        assert not g.read(D + ISPENDR, cpu=0) & (1 << 20)


@pytest.mark.parametrize(("quirk", "cpu1_iar"), [(False, 0x28), (True, 0x3FF)])
def test_d9_pending_spi_without_targets(quirk: bool, cpu1_iar: int) -> None:
    """D9, §4.3.12: an SPI made pending with ITARGETSR = 0 is forwarded once a target is
    set; QEMU ≤ 9.0 loses it."""
    g = make(num_cpus=2, spi_pending_follows_targets=quirk)
    setup(g, cpu=1)
    spi(g, 40, 0xA0, target=0)
    pend(g, 40)
    g.write(D + ITARGETSR + 40, 0x2, size=1)
    assert g.read(C + IAR, cpu=1) == cpu1_iar


def test_d9_retarget_does_not_move_pending() -> None:
    """D9 (QEMU ≤ 9.0): retargeting a pending SPI does not make it visible to the new CPU."""
    g = make(num_cpus=2, spi_pending_follows_targets=True)
    setup(g, cpu=0)
    setup(g, cpu=1)
    spi(g, 40, 0xA0, target=0x1)
    g.write(C + PMR, 0x00, cpu=0)  # CPU0 masks everything
    pend(g, 40)
    g.write(D + ITARGETSR + 40, 0x2, size=1)
    assert g.read(C + IAR, cpu=1) == 0x3FF


def test_d10_reserved_sgir_filter_targets_everyone() -> None:
    """D10 / TV17 step 2, Table 4-21: filter 0b11 is reserved (UNPREDICTABLE); the model
    adopts QEMU's choice by default: all CPUs including the requester."""
    g = make(num_cpus=2)
    g.write(D + SGIR, 0x0300_0003, cpu=0)
    assert g.read(D + ISPENDR, cpu=0) == 0x8
    assert g.read(D + ISPENDR, cpu=1) == 0x8


@pytest.mark.parametrize(("quirk", "final_active"), [(False, 0), (True, 0x200)])
def test_d11_mismatched_eoi(quirk: bool, final_active: int) -> None:
    """D11 / TV26: EOIR 0x29 while 0x28 runs drops the priority; later, with EOImode=0 and
    no active priority, EOIR 0x29 deactivates 41 by default, QEMU ignores it."""
    g = make(eoir_qemu_rules=quirk)
    setup(g)
    spi(g, 40, 0xA0)
    spi(g, 41, 0xB0)
    pend(g, 40)
    pend(g, 41)
    assert g.read(C + IAR) == 0x28
    g.write(C + EOIR, 0x29)
    assert g.read(C + RPR) == 0xFF
    assert g.read(D + ISACTIVER + 4) == 0x100
    assert g.read(C + IAR) == 0x29
    g.write(C + CTLR, 0x1)
    g.write(C + EOIR, 0x28)
    assert g.read(D + ISACTIVER + 4) == 0x200
    g.write(C + EOIR, 0x29)
    assert g.read(D + ISACTIVER + 4) == final_active


@pytest.mark.parametrize(("quirk", "rpr"), [(False, 0xFF), (True, 0xA0)])
def test_d11_drop_uses_written_intid_group(quirk: bool, rpr: int) -> None:
    """D11: QEMU drops the highest active priority of the *written* INTID's group; the model's
    default drops the highest active priority (§3.2.1~ priority drop)."""
    g = make(eoir_qemu_rules=quirk)
    setup(g, gicc_ctlr=0x207, gicd_ctlr=0x3)
    spi(g, 40, 0xA0)
    g.write(D + IGROUPR + 4, 0x100)  # 40 is Group 1
    pend(g, 40)
    assert g.read(C + IAR) == 0x28
    g.write(C + EOIR, 0x29)  # 41 is Group 0: nothing to drop in Group 0
    assert g.read(C + RPR) == rpr


@pytest.mark.parametrize(("quirk", "hppir", "irq"), [(False, 0x1B, True), (True, 0x3FF, False)])
def test_d16_hw_deactivation_stale_physical_state(quirk: bool, hppir: int, irq: bool) -> None:
    """D16 / TV39: after a HW=1 guest EOI of a still-asserted level PPI, the architecture
    re-signals it at once; QEMU leaves HPPIR/IRQ stale until the next GIC write."""
    g = make(hw_deactivate_no_phys_update=quirk)
    setup(g)
    g.write(D + IPRIORITYR + 27, 0xA0, size=1)
    g.write(D + ISENABLER, 1 << 27)
    g.set_line(27, True, cpu=0)
    assert g.read(C + IAR) == 0x1B
    g.write(C + EOIR, 0x1B)
    g.deactivate_physical(0, 27)
    assert not g.read(D + ISACTIVER) & (1 << 27)
    assert g.read(C + HPPIR) == hppir
    assert g.outputs[0].irq == irq
    g.write(D + GICD_CTLR, 1)  # any GIC write re-evaluates
    assert g.read(C + HPPIR) == 0x1B
    assert g.outputs[0].irq


def test_qemu_virt_preset_keeps_reset_values() -> None:
    """GICv2Config.qemu_virt(): every quirk on; TV1 reset values are unchanged."""
    g = GICv2(GICv2Config.qemu_virt(num_cpus=1))
    assert g.config.quirks.enabled()
    assert (g.read(D + 0x4), g.read(D + ISENABLER), g.read(C + 0x8), g.read(C + 0x1C)) == (
        0x8, 0xFFFF, 0, 1)


@pytest.mark.parametrize(("quirk", "prio_word", "targets", "enabled"),
                         [(False, 0, 0x0101_0101, 0), (True, 0xBEEF_0000, 0x0101_0201, 0x100)])
def test_x1_gicd_any_access_size(quirk: bool, prio_word: int, targets: int, enabled: int) -> None:
    """X1 (found with QEMU 7.2, scripts/regs/qemu-halfword-access.regs), IHI 0048B §4.1.4:
    halfword accesses and byte accesses to word-only GICD registers are UNPREDICTABLE
    (model: RAZ/WI); QEMU performs them byte by byte."""
    g = make(num_cpus=2, gicd_any_access_size=quirk)
    g.write(D + IPRIORITYR + 2, 0xBEEF, size=2)
    assert g.read(D + IPRIORITYR) == prio_word
    g.write(D + ITARGETSR + 40, 0x0101_0101)
    g.write(D + ITARGETSR + 40, 0x0201, size=2)
    assert g.read(D + ITARGETSR + 40) == targets
    assert g.read(D + ITARGETSR + 2, size=2, cpu=1) == (0x0202 if quirk else 0)
    g.write(D + ISENABLER + 5, 0x01, size=1)
    assert g.read(D + ISENABLER + 4) == enabled


def test_x1_byte_writes_keep_other_lanes() -> None:
    """X1: a byte write to a read-write word register (IGROUPR, ICFGR, GICD_CTLR) changes only
    its lane; a partial GICD_SGIR write sends no SGI."""
    g = make(num_cpus=1, gicd_any_access_size=True)
    g.write(D + IGROUPR + 4, 0xFFFF_FFFF)
    g.write(D + IGROUPR + 5, 0x00, size=1)
    assert g.read(D + IGROUPR + 4) == 0xFFFF_00FF
    g.write(D + 0xC08, 0xAAAA_AAAA)
    g.write(D + 0xC09, 0x00, size=1)
    assert g.read(D + 0xC08) == 0xAAAA_00AA
    g.write(D + GICD_CTLR, 0x1)
    g.write(D + GICD_CTLR + 1, 0xFF, size=1)
    assert g.read(D + GICD_CTLR) == 0x1
    g.write(D + SGIR + 3, 0x02, size=1)
    assert g.read(D + ISPENDR) == 0


@pytest.mark.parametrize(("quirk", "iar", "rpr"), [(False, 0x29, 0x80), (True, 0x3FF, 0x84)])
def test_x2_preemption_compares_full_priority(quirk: bool, iar: int, rpr: int) -> None:
    """X2 (found with QEMU 7.2), §3.3~: 0x85 taken with BPR=0 (running 0x84), then BPR=3: SPI
    41 @0x86 has group priority 0x80 < 0x84 and preempts; QEMU compares the full priority
    0x86 with 0x84 and does not."""
    g = make(preemption_qemu_rules=quirk)
    setup(g, gicc_ctlr=0x1, pmr=0xFF)
    spi(g, 40, 0x85)
    spi(g, 41, 0x86)
    pend(g, 40)
    assert g.read(C + IAR) == 0x28
    g.write(C + 0x08, 3)  # GICC_BPR
    pend(g, 41)
    assert g.read(C + HPPIR) == 0x29
    assert g.outputs[0].irq == (not quirk)
    assert g.read(C + IAR) == iar
    assert g.read(C + RPR) == rpr


@pytest.mark.parametrize(("quirk", "iar"), [(False, 0x3FF), (True, 0x3FE)])
def test_x2_iar_1022_before_preemption_check(quirk: bool, iar: int) -> None:
    """X2 (scripts/regs/qemu-iar-1022-without-preemption.regs), §4.4.4: a Group 1 HPPI with
    AckCtl=0 that cannot preempt gives IAR 1023 (nothing can be acknowledged); QEMU answers
    1022.  HPPIR is 1022 in both."""
    g = make(preemption_qemu_rules=quirk)
    setup(g, gicc_ctlr=0x3, gicd_ctlr=0x3)
    spi(g, 40, 0x10)
    pend(g, 40)
    assert g.read(C + IAR) == 0x28
    g.write(D + IGROUPR, 0x1)  # SGI 0 in Group 1
    g.write(D + IPRIORITYR, 0x20, size=1)
    g.write(D + SGIR, 0x0200_0000)
    assert g.read(C + HPPIR) == 0x3FE
    assert g.read(C + IAR) == iar
