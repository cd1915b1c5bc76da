"""GICD_* (Distributor) tests derived from Arm IHI 0048B §3.2.4 and §4.3.

Test vectors TVnn are the register scripts ``scripts/regs/tvNN-*.regs`` (architectural
results; QEMU-only results live in test_quirks_phys.py).  Expected values come from the
architecture text, never from the model.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.hw.gicv2.distributor import NO_IRQ, Distributor
from irqfwd.hw.gicv2.gic import GICv2

D = 0x0800_0000
C = 0x0801_0000
CTLR, TYPER, IIDR = 0x000, 0x004, 0x008
IGROUPR, ISENABLER, ICENABLER = 0x080, 0x100, 0x180
ISPENDR, ICPENDR, ISACTIVER, ICACTIVER = 0x200, 0x280, 0x300, 0x380
IPRIORITYR, ITARGETSR, ICFGR, SGIR = 0x400, 0x800, 0xC00, 0xF00
CPENDSGIR, SPENDSGIR = 0xF10, 0xF20
GICC_CTLR, GICC_PMR, GICC_IAR, GICC_EOIR, GICC_HPPIR, GICC_DIR = 0x0, 0x4, 0xC, 0x10, 0x18, 0x1000


def gic1() -> GICv2:
    """Uniprocessor GIC (the test vectors' default `-smp 1` setup)."""
    return GICv2(GICv2Config(num_cpus=1))


def en(g: GICv2, cpu: int = 0, ctlr: int = 0x201) -> None:
    """Setup "EN": GICD_CTLR=1, GICC_CTLR=0x201 (EnableGrp0|EOImode), GICC_PMR=0xF0."""
    g.write(D + CTLR, 1, cpu=cpu)
    g.write(C + GICC_CTLR, ctlr, cpu=cpu)
    g.write(C + GICC_PMR, 0xF0, cpu=cpu)


def spi(g: GICv2, n: int, prio: int, target: int = 1) -> None:
    """"SPI n @p": IPRIORITYR byte n = p, ITARGETSR byte n = target, ISENABLER bit n."""
    g.write(D + IPRIORITYR + n, prio, size=1)
    g.write(D + ITARGETSR + n, target, size=1)
    g.write(D + ISENABLER + 4 * (n >> 5), 1 << (n & 31))


# --------------------------------------------------------------------------- TV1–TV3


def test_tv1_reset_and_id_values_uniprocessor() -> None:
    """TV1, IHI 0048B §4.3.2/§4.3.3/§4.3.18: reset GICD_CTLR 0, TYPER 0x8, IIDR 0x43B, PIDR2 0x2B."""
    g = gic1()
    assert g.read(D + CTLR) == 0
    assert g.read(D + TYPER) == 0x8
    assert g.read(D + IIDR) == 0x43B
    assert g.read(D + 0xFE8) == 0x2B
    assert g.read(D + ISENABLER) == 0x0000FFFF
    assert g.read(D + ICFGR) == 0xAAAAAAAA
    assert g.read(D + ICFGR + 4) == 0


def test_tv1_typer_two_cpus() -> None:
    """IHI 0048B §4.3.2: GICD_TYPER.CPUNumber = CPUs − 1 → 0x28 with `-smp 2`."""
    assert GICv2().read(D + TYPER) == 0x28


@pytest.mark.parametrize(
    ("offset", "value"),
    [(0xFD0, 0x04), (0xFD4, 0), (0xFD8, 0), (0xFDC, 0), (0xFE0, 0x90), (0xFE4, 0xB4),
     (0xFE8, 0x2B), (0xFEC, 0), (0xFF0, 0x0D), (0xFF4, 0xF0), (0xFF8, 0x05), (0xFFC, 0xB1)],
)
def test_identification_registers(offset: int, value: int) -> None:
    """IHI 0048B §4.3.18~: ID registers 0xFD0–0xFFC read QEMU's GICv2 values and ignore writes."""
    g = gic1()
    g.write(D + offset, 0xFFFF_FFFF)
    assert g.read(D + offset) == value


def test_tv2_ctlr_write_mask() -> None:
    """TV2, IHI 0048B §4.3.1: without Security Extensions only EnableGrp0/1 are writable."""
    g = gic1()
    g.write(D + CTLR, 0xFFFF_FFFF)
    assert g.read(D + CTLR) == 0x3


@pytest.mark.parametrize(("bits", "readback"), [(8, 0xFF), (5, 0xF8), (4, 0xF0)])
def test_tv2_priority_bits(bits: int, readback: int) -> None:
    """TV2, IHI 0048B §4.3.11: unimplemented low priority bits are RAZ/WI (QEMU 8 bits; GIC-400 5)."""
    g = GICv2(GICv2Config(num_cpus=1, prio_bits=bits))
    g.write(D + IPRIORITYR + 40, 0xFF, size=1)
    assert g.read(D + IPRIORITYR + 40, size=1) == readback


def test_tv3_sgi_bits_are_fixed() -> None:
    """TV3, IHI 0048B §4.3.5–§4.3.7, §4.3.13: SGI enables RAO/WI, SGI ISPENDR bits RO, ICFGR0 RO."""
    g = gic1()
    g.write(D + ICENABLER, 0xFFFF_FFFF)
    assert g.read(D + ISENABLER) == 0x0000FFFF
    g.write(D + ISPENDR, 0x0000FFFF)
    assert g.read(D + ISPENDR) == 0
    g.write(D + ICFGR, 0)
    assert g.read(D + ICFGR) == 0xAAAAAAAA


def test_sgis_disableable_when_configured() -> None:
    """IHI 0048B §4.3.5: whether SGIs can be disabled is IMPDEF; with sgis_always_enabled=False
    their enable bits are ordinary set/clear bits (reset 0)."""
    g = GICv2(GICv2Config(num_cpus=1, sgis_always_enabled=False))
    assert g.read(D + ISENABLER) == 0
    g.write(D + ISENABLER, 0x5)
    assert g.read(D + ICENABLER) == 0x5
    g.write(D + ICENABLER, 0x1)
    assert g.read(D + ISENABLER) == 0x4


# --------------------------------------------------------------------------- enables, pending, active


def test_enable_set_clear_and_pending_kept() -> None:
    """TV9 step 4, IHI 0048B §4.3.6: ICENABLER stops forwarding but does not clear pending."""
    g = gic1()
    en(g)
    spi(g, 40, 0xA0)
    g.write(D + ISPENDR + 4, 0x100)
    g.write(D + ICENABLER + 4, 0x100)
    assert g.read(D + ISENABLER + 4) == 0
    assert g.read(C + GICC_IAR) == 0x3FF
    assert g.read(D + ISPENDR + 4) == 0x100


def test_ispendr_on_level_interrupt_sets_latch() -> None:
    """IHI 0048B §4.3.7: ISPENDR on a level interrupt sets the latch, which outlives the line."""
    d = Distributor(GICv2Config(num_cpus=1))
    d.set_line(40, True)
    d.set_pending(40, True)
    d.set_line(40, False)
    assert d.is_pending(40)
    d.set_pending(40, False)
    assert not d.is_pending(40)


def test_icpendr_with_line_high_has_no_visible_effect() -> None:
    """IHI 0048B §4.3.8 / TV20 step 5: ICPENDR clears only the latch; a high level line keeps
    the interrupt pending."""
    g = gic1()
    g.set_line(40, True)
    g.write(D + ICPENDR + 4, 0x100)
    assert g.read(D + ISPENDR + 4) == 0x100
    g.set_line(40, False)
    assert g.read(D + ISPENDR + 4) == 0


def test_isactiver_icactiver_round_trip() -> None:
    """IHI 0048B §4.3.9/§4.3.10: ISACTIVER sets and ICACTIVER clears the active state."""
    g = gic1()
    g.write(D + ISACTIVER + 4, 0x300)
    assert g.read(D + ICACTIVER + 4) == 0x300
    g.write(D + ICACTIVER + 4, 0x100)
    assert g.read(D + ISACTIVER + 4) == 0x200


def test_tv7_active_and_pending_not_signalled() -> None:
    """TV7, IHI 0048B §3.2.4: an active+pending interrupt is not the HPPI and raises no IRQ."""
    g = gic1()
    en(g, ctlr=0x1)
    spi(g, 40, 0x80)
    g.write(D + ISACTIVER + 4, 0x100)
    g.write(D + ISPENDR + 4, 0x100)
    assert g.read(D + ISACTIVER + 4) == 0x100
    assert g.read(D + ISPENDR + 4) == 0x100
    assert g.read(C + GICC_HPPIR) == 0x3FF
    assert g.read(C + GICC_IAR) == 0x3FF
    assert not g.outputs[0].irq


# --------------------------------------------------------------------------- level PPI life cycle


def _ppi27(g: GICv2) -> None:
    en(g)
    g.write(D + IPRIORITYR + 27, 0xA0, size=1)
    g.write(D + ICFGR + 4, 0)  # level


def test_tv20_level_ppi_lifecycle() -> None:
    """TV20, IHI 0048B §3.2.4 transitions A1, D, B2, E1: level PPI 27 pending before enable,
    active+pending after IAR, active after the line drops, inactive after DIR."""
    g = gic1()
    _ppi27(g)
    g.set_line(27, True, cpu=0)
    assert g.read(D + ISPENDR) & (1 << 27)
    g.write(D + ISENABLER, 1 << 27)
    assert g.read(C + GICC_HPPIR) == 0x1B
    assert g.read(C + GICC_IAR) == 0x1B
    assert g.read(D + ISPENDR) & (1 << 27)
    assert g.read(D + ISACTIVER) & (1 << 27)
    assert g.read(C + GICC_HPPIR) == 0x3FF
    g.write(C + GICC_EOIR, 0x1B)
    assert g.read(C + 0x14) == 0xFF
    assert g.read(C + GICC_IAR) == 0x3FF
    g.write(D + ICPENDR, 1 << 27)
    assert g.read(D + ISPENDR) & (1 << 27)
    g.set_line(27, False, cpu=0)
    assert not g.read(D + ISPENDR) & (1 << 27)
    assert g.read(D + ISACTIVER) & (1 << 27)
    g.write(C + GICC_DIR, 0x1B)
    assert not g.read(D + ISACTIVER) & (1 << 27)


def test_tv21_level_software_latch() -> None:
    """TV21, IHI 0048B §4.3.7/§4.3.8: the ISPENDR latch survives a line pulse and is cleared by
    the acknowledge; ISPENDR then ICPENDR leaves the interrupt idle."""
    g = gic1()
    _ppi27(g)
    g.write(D + ISENABLER, 1 << 27)
    g.write(D + ISPENDR, 1 << 27)
    g.set_line(27, True, cpu=0)
    g.set_line(27, False, cpu=0)
    assert g.read(D + ISPENDR) & (1 << 27)
    assert g.read(C + GICC_IAR) == 0x1B
    assert not g.read(D + ISPENDR) & (1 << 27)
    g.write(C + GICC_EOIR, 0x1B)
    g.write(C + GICC_DIR, 0x1B)
    g.write(D + ISPENDR, 1 << 27)
    g.write(D + ICPENDR, 1 << 27)
    assert not g.read(D + ISPENDR) & (1 << 27)


def test_tv22_edge_configured_ppi() -> None:
    """TV22, IHI 0048B §4.3.13: ICFGR1 bit 23 makes PPI 27 edge-triggered; a pulse latches."""
    g = gic1()
    _ppi27(g)
    g.write(D + ISENABLER, 1 << 27)
    g.write(D + ICFGR + 4, 0x0080_0000)
    assert g.read(D + ICFGR + 4) == 0x0080_0000
    g.set_line(27, True, cpu=0)
    g.set_line(27, False, cpu=0)
    assert g.read(D + ISPENDR) & (1 << 27)
    assert g.read(C + GICC_IAR) == 0x1B
    assert not g.read(D + ISPENDR) & (1 << 27)


def test_tv23_enabling_asserted_level_does_not_latch() -> None:
    """TV23, IHI 0048B §4.3.5: enabling a level interrupt while its line is high must not latch."""
    g = gic1()
    _ppi27(g)
    g.set_line(27, True, cpu=0)
    g.write(D + ISENABLER, 1 << 27)
    g.set_line(27, False, cpu=0)
    assert not g.read(D + ISPENDR) & (1 << 27)
    assert g.read(C + GICC_IAR) == 0x3FF


def test_icfgr1_writes_all_ones_reads_edge_bits_only() -> None:
    """IHI 0048B §4.3.13: Int_config[0] is reserved; QEMU's writable ICFGR1 reads 0xAAAAAAAA."""
    g = gic1()
    g.write(D + ICFGR + 4, 0xFFFF_FFFF)
    assert g.read(D + ICFGR + 4) == 0xAAAAAAAA


def test_icfgr1_read_only_when_configured() -> None:
    """IHI 0048B §4.3.13: PPI configuration is IMPDEF; ppi_config_writable=False makes it RO."""
    g = GICv2(GICv2Config(num_cpus=1, ppi_config_writable=False))
    g.write(D + ICFGR + 4, 0xFFFF_FFFF)
    assert g.read(D + ICFGR + 4) == 0


def test_spi_icfgr_edge_and_level() -> None:
    """IHI 0048B §4.3.13: SPI config bits are writable; an edge SPI is latched by a rising edge."""
    g = gic1()
    g.write(D + ICFGR + 8, 0x2)  # INTID 32 edge
    assert g.read(D + ICFGR + 8) == 0x2
    g.set_line(32, True)
    g.set_line(32, False)
    assert g.read(D + ISPENDR + 4) & 1
    g.set_line(33, True)  # level
    g.set_line(33, False)
    assert not g.read(D + ISPENDR + 4) & 2


# --------------------------------------------------------------------------- ITARGETSR


def test_itargetsr_banked_own_cpu_bit() -> None:
    """TV18, IHI 0048B §4.3.12: ITARGETSR0–7 read the accessing CPU's bit in every byte."""
    g = GICv2()
    assert g.read(D + ITARGETSR, cpu=0) == 0x01010101
    assert g.read(D + ITARGETSR + 0x1C, cpu=1) == 0x02020202
    g.write(D + ITARGETSR, 0, cpu=0)
    assert g.read(D + ITARGETSR, cpu=0) == 0x01010101


def test_itargetsr_uniprocessor_raz_wi() -> None:
    """D23 / IHI 0048B §4.3.12: in a uniprocessor implementation ITARGETSR is RAZ/WI."""
    g = gic1()
    g.write(D + ITARGETSR + 40, 0x1, size=1)
    assert g.read(D + ITARGETSR + 40, size=1) == 0
    assert g.read(D + ITARGETSR) == 0


def test_itargetsr_spi_bytes_and_unimplemented_cpus() -> None:
    """IHI 0048B §4.3.12: SPI target bytes are RW; bits for absent CPU interfaces are RAZ/WI."""
    g = GICv2()
    g.write(D + ITARGETSR + 40, 0xFF, size=1)
    assert g.read(D + ITARGETSR + 40, size=1) == 0x03
    g.write(D + ITARGETSR + 0x28, 0x02010201)
    assert g.read(D + ITARGETSR + 0x28) == 0x02010201


def test_retargeting_pending_spi_moves_it() -> None:
    """IHI 0048B §4.3.12: changing a pending SPI's targets forwards it to the new targets."""
    g = GICv2()
    for c in (0, 1):
        en(g, cpu=c)
    spi(g, 40, 0xA0, target=0)
    g.write(D + ISPENDR + 4, 0x100)
    assert g.read(C + GICC_HPPIR, cpu=1) == 0x3FF
    g.write(D + ITARGETSR + 40, 0x2, size=1)
    assert g.outputs[1].irq and not g.outputs[0].irq
    assert g.read(C + GICC_IAR, cpu=1) == 0x28


# --------------------------------------------------------------------------- SGIs


def test_tv15_sgi_to_self() -> None:
    """TV15, IHI 0048B §4.3.15/§4.4.4: SGIR filter 0b10 pends SGI 3 from CPU0 on itself."""
    g = gic1()
    en(g, ctlr=0x1)
    g.write(D + IPRIORITYR + 3, 0x40, size=1)
    g.write(D + SGIR, 0x0200_0003)
    assert g.read(D + ISPENDR) == 0x8
    assert g.read(D + SPENDSGIR) == 0x0100_0000
    assert g.read(C + GICC_HPPIR) == 0x3
    assert g.read(C + GICC_IAR) == 0x003
    g.write(C + GICC_EOIR, 0x003)
    assert g.read(D + ISACTIVER) == 0


def test_tv16_per_source_sgi_pending() -> None:
    """TV16, IHI 0048B §4.3.16/§4.3.17: SGI 5 pending from sources 1 and 2; one IAR per source."""
    g = gic1()
    en(g, ctlr=0x1)
    g.write(D + IPRIORITYR + 5, 0x40, size=1)
    g.write(D + SPENDSGIR + 5, 0x06, size=1)
    assert g.read(D + SPENDSGIR + 4) == 0x0000_0600
    assert g.read(D + ISPENDR) & (1 << 5)
    assert g.read(C + GICC_IAR) == 0x405
    assert g.read(D + SPENDSGIR + 4) == 0x400
    assert g.read(D + ISPENDR) & (1 << 5)
    g.write(C + GICC_EOIR, 0x405)
    assert g.read(C + GICC_IAR) == 0x805
    g.write(C + GICC_EOIR, 0x805)
    assert not g.read(D + ISPENDR) & (1 << 5)
    g.write(D + SPENDSGIR + 5, 0x06, size=1)
    g.write(D + CPENDSGIR + 5, 0x02, size=1)
    assert g.read(D + SPENDSGIR + 4) == 0x400
    g.write(D + CPENDSGIR + 5, 0x04, size=1)
    assert not g.read(D + ISPENDR) & (1 << 5)


def test_tv16_hppir_reports_sgi_source() -> None:
    """TV16 step 7, IHI 0048B §4.4.7: HPPIR of an SGI carries its source CPUID (spec 0x405)."""
    g = gic1()
    en(g, ctlr=0x1)
    g.write(D + IPRIORITYR + 5, 0x40, size=1)
    g.write(D + SPENDSGIR + 5, 0x02, size=1)
    assert g.read(C + GICC_HPPIR) == 0x405


def test_tv17_sgir_all_but_self_on_uniprocessor() -> None:
    """TV17 step 1, Table 4-21: filter 0b01 (all but self) pends nothing on 1 CPU."""
    g = gic1()
    g.write(D + SGIR, 0x0100_0003)
    assert g.read(D + ISPENDR) == 0


def test_tv18_smp_sgi_source_and_banking() -> None:
    """TV18, IHI 0048B §4.3.5/§4.3.15/§4.4.4: banked ISENABLER0; SGI 7 from CPU1 to CPU0 carries
    source 1; filter 0b01 from CPU0 reaches CPU1 with source 0."""
    g = GICv2()
    en(g, cpu=0)
    g.write(D + IPRIORITYR + 7, 0x40, size=1, cpu=0)
    g.write(C + GICC_CTLR, 0x201, cpu=1)
    g.write(C + GICC_PMR, 0xF0, cpu=1)
    g.write(D + ISENABLER, 1 << 27, cpu=1)
    assert g.read(D + ISENABLER, cpu=1) == 0x0800FFFF
    g.write(D + SGIR, 0x0001_0007, cpu=1)
    assert g.read(D + ISENABLER, cpu=0) == 0x0000FFFF
    assert g.read(D + ISPENDR, cpu=0) == 0x80
    assert g.read(D + SPENDSGIR + 4, cpu=0) == 0x0200_0000
    assert g.read(C + GICC_IAR, cpu=0) == 0x407
    g.write(C + GICC_EOIR, 0x407, cpu=0)
    g.write(C + GICC_DIR, 0x407, cpu=0)
    g.write(D + IPRIORITYR + 9, 0x40, size=1, cpu=1)
    g.write(D + SGIR, 0x0100_0009, cpu=0)
    assert g.read(C + GICC_IAR, cpu=1) == 0x009


def test_sgir_target_list() -> None:
    """Table 4-21: filter 0b00 sends to CPUTargetList only; SGIINTID is bits [3:0]."""
    g = GICv2()
    g.write(D + SGIR, 0x0002_0012, cpu=0)  # CPU1, SGI 2 (bit 4 is RES0)
    assert g.read(D + ISPENDR, cpu=1) == 0x4
    assert g.read(D + ISPENDR, cpu=0) == 0


# --------------------------------------------------------------------------- groups, decode


def test_igroupr_banked_and_global() -> None:
    """IHI 0048B §4.3.4: IGROUPR0 is banked per CPU, IGROUPR1+ are global."""
    g = GICv2()
    g.write(D + IGROUPR, 0x8000_0001, cpu=1)
    g.write(D + IGROUPR + 4, 0x100, cpu=0)
    assert g.read(D + IGROUPR, cpu=0) == 0
    assert g.read(D + IGROUPR, cpu=1) == 0x8000_0001
    assert g.read(D + IGROUPR + 4, cpu=1) == 0x100


def test_registers_beyond_implemented_interrupts_raz_wi() -> None:
    """IHI 0048B §4.3.2: registers for INTIDs ≥ 32·(ITLinesNumber+1) are RAZ/WI (64 INTIDs)."""
    g = GICv2(GICv2Config(num_cpus=1, num_irqs=64))
    for off in (ISENABLER + 8, ISPENDR + 8, IPRIORITYR + 64, ICFGR + 16):
        g.write(D + off, 0xFFFF_FFFF)
        assert g.read(D + off) == 0
    g.write(D + ISENABLER + 4, 0xFFFF_FFFF)
    assert g.read(D + ISENABLER + 4) == 0xFFFF_FFFF


def test_special_intids_1020_1023_raz_wi() -> None:
    """IHI 0048B §3.2.5~/§4.3: with 1024 INTIDs the register bits of the special INTIDs
    1020–1023 are RAZ/WI (enable, pending, priority, target, config)."""
    g = GICv2(GICv2Config(num_irqs=1024))
    g.write(D + ISENABLER + 4 * 31, 0xFFFF_FFFF)
    assert g.read(D + ISENABLER + 4 * 31) == 0x0FFF_FFFF
    g.write(D + ISPENDR + 4 * 31, 0xFFFF_FFFF)
    assert g.read(D + ISPENDR + 4 * 31) == 0x0FFF_FFFF
    g.write(D + IPRIORITYR + 4 * 255, 0xFFFF_FFFF)
    assert g.read(D + IPRIORITYR + 4 * 255) == 0x00FF_FFFF
    g.write(D + ITARGETSR + 4 * 255, 0x0101_0101)
    assert g.read(D + ITARGETSR + 4 * 255) == 0x0001_0101
    g.write(D + ICFGR + 4 * 63, 0xFFFF_FFFF)
    assert g.read(D + ICFGR + 4 * 63) == 0x00AA_AAAA
    g.write(D + IGROUPR + 4 * 31, 0xFFFF_FFFF)
    assert g.read(D + IGROUPR + 4 * 31) == 0x0FFF_FFFF


def test_reserved_offsets_raz_wi() -> None:
    """IHI 0048B §4.1.2: reserved GICD space (e.g. 0x00C, 0xE00 NSACR without Sec.Ext.) is RAZ/WI."""
    g = gic1()
    for off in (0x00C, 0x040, 0xE00, 0xF04, 0xF30, 0xFCC):
        g.write(D + off, 0xFFFF_FFFF)
        assert g.read(D + off) == 0


def test_byte_access_rules() -> None:
    """IHI 0048B §4.1.4: IPRIORITYR/ITARGETSR/CPENDSGIR/SPENDSGIR are byte-accessible; a byte
    access to a word-only register is RAZ/WI (UNPREDICTABLE, model choice)."""
    g = gic1()
    g.write(D + IPRIORITYR + 41, 0x80, size=1)
    assert g.read(D + IPRIORITYR + 40) == 0x8000
    g.write(D + ISENABLER + 5, 0x1, size=1)  # byte write to a word-only register
    assert g.read(D + ISENABLER + 4) == 0
    g.write(D + ISENABLER + 4, 0x100)
    assert g.read(D + ISENABLER + 5, size=1) == 0
    assert g.dist.block.bad_accesses == 2


def test_halfword_and_misaligned_access_raz_wi() -> None:
    """IHI 0048B §4.1.4: halfword and misaligned accesses are not supported → RAZ/WI here."""
    g = gic1()
    g.write(D + IPRIORITYR + 40, 0xFFFF, size=2)
    assert g.read(D + IPRIORITYR + 40) == 0
    g.write(D + IPRIORITYR + 40, 0x11223344)
    assert g.read(D + IPRIORITYR + 41) == 0  # misaligned word read


def test_bad_size_is_a_programming_error() -> None:
    """Access sizes other than 1, 2, 4 are rejected with a clear message."""
    g = gic1()
    with pytest.raises(ValueError, match="size"):
        g.read(D + CTLR, size=8)


# --------------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(1, 8), st.integers(0, 0xFFFF_FFFF)),
                    max_size=20))
def test_isenabler_icenabler_round_trip(ops: list[tuple[bool, int, int]]) -> None:
    """IHI 0048B §4.3.5/§4.3.6: ISENABLER ORs, ICENABLER clears, both read the enable bits."""
    g = gic1()
    model = [0] * 9
    for setting, n, v in ops:
        g.write(D + (ISENABLER if setting else ICENABLER) + 4 * n, v)
        model[n] = model[n] | v if setting else model[n] & ~v
    for n in range(1, 9):
        assert g.read(D + ISENABLER + 4 * n) == model[n]
        assert g.read(D + ICENABLER + 4 * n) == model[n]


@settings(max_examples=40, deadline=None)
@given(bits=st.integers(4, 8), value=st.integers(0, 255), pmr=st.integers(0, 255))
def test_priority_masking_any_prio_bits(bits: int, value: int, pmr: int) -> None:
    """IHI 0048B §4.3.11/§4.4.2: priorities keep the top prio_bits bits; the interrupt is
    signalled iff the stored priority is strictly below the stored PMR."""
    g = GICv2(GICv2Config(num_cpus=1, prio_bits=bits))
    keep = (0xFF << (8 - bits)) & 0xFF
    g.write(D + CTLR, 1)
    g.write(C + GICC_CTLR, 1)
    g.write(C + GICC_PMR, pmr)
    spi(g, 40, value)
    g.write(D + ISPENDR + 4, 0x100)
    assert g.read(D + IPRIORITYR + 40, size=1) == value & keep
    assert g.read(C + GICC_PMR) == pmr & keep
    assert g.outputs[0].irq == ((value & keep) < (pmr & keep))


_state = st.lists(
    st.tuples(
        st.integers(16, 95),  # INTID (PPIs and SPIs)
        st.integers(0, 255),  # priority
        st.booleans(),  # enabled
        st.booleans(),  # pending
        st.booleans(),  # active
        st.integers(0, 3),  # targets
        st.integers(0, 1),  # group
    ),
    max_size=25,
)


@settings(max_examples=120, deadline=None)
@given(state=_state, groups=st.integers(1, 3), cpu=st.integers(0, 1),
       extra=st.lists(st.tuples(st.integers(16, 95), st.integers(0, 255)), max_size=5))
def test_hppi_equals_brute_force(
    state: list[tuple[int, int, bool, bool, bool, int, int]],
    groups: int,
    cpu: int,
    extra: list[tuple[int, int]],
) -> None:
    """IHI 0048B §3.3~: the incremental HPPI equals a brute-force scan (pending, not active,
    enabled, targeted, group selected; lowest priority, then lowest INTID), including after
    priority changes of candidates."""
    d = Distributor(GICv2Config(num_cpus=2, num_irqs=96))
    for i, p, e, pe, a, t, grp in state:
        d.set_priority(i, p, cpu)
        d.set_group(i, grp, cpu)
        d.set_targets(i, t)
        d.set_enabled(i, e, cpu)
        d.set_pending(i, pe, cpu)
        d.set_active(i, a, cpu)
    for i, p in extra:
        d.set_priority(i, p, cpu)
    ref = []
    for i in range(16, 96):
        targeted = i < 32 or (d.targets[i] >> cpu) & 1
        if (d.is_pending(i, cpu) and not d.is_active(i, cpu) and d.is_enabled(i, cpu)
                and targeted and (groups >> d.group(i, cpu)) & 1):
            ref.append((d.priority(i, cpu), i))
    got = d.best(cpu, groups)
    if not ref:
        assert got == NO_IRQ
    else:
        p, i = min(ref)
        assert (got >> 11, got & 0x3FF) == (p, i)


_ops = st.lists(
    st.tuples(
        st.sampled_from(["line", "pend", "enable", "active", "prio", "group", "targets", "edge",
                         "sgi", "ack", "deact"]),
        st.sampled_from([1, 5, 20, 27, 40, 41, 70, 95]),  # INTID
        st.integers(0, 1),  # cpu
        st.integers(0, 255),  # value
    ),
    min_size=5,
    max_size=40,
)


@pytest.mark.parametrize("quirks", [{}, {"spi_n_n": True}, {"spi_pending_follows_targets": True},
                                    {"ppi_icpendr_all_cpus": True}])
@settings(max_examples=150, deadline=None)
@given(ops=_ops)
def test_incremental_candidates_match_from_scratch(
    quirks: dict[str, bool], ops: list[tuple[str, int, int, int]]
) -> None:
    """§3.2.4 / §3.3~: after any sequence of line changes, ISPENDR/ICPENDR, enables, active
    changes, priority/group/target/config writes, SGIs, acknowledges and deactivations, each
    CPU's incremental candidate set and HPPI equal a from-scratch evaluation of the state."""
    from irqfwd.hw.gicv2.config import QemuQuirks

    d = Distributor(GICv2Config(num_cpus=2, num_irqs=96, quirks=QemuQuirks(**quirks)))
    for j in (40, 41, 70, 95):  # start with enabled, targeted interrupts so ops interact
        d.set_targets(j, 0x3)
        d.set_enabled(j, True)
    for c in (0, 1):
        d.set_enabled(20, True, c)
        d.set_enabled(27, True, c)
    for op, i, c, v in ops:
        if op == "line" and i >= 16:
            d.set_line(i, bool(v & 1), c)
        elif op == "pend":
            d.set_pending(i, bool(v & 1), c)
        elif op == "enable":
            d.set_enabled(i, bool(v & 1), c)
        elif op == "active":
            d.set_active(i, bool(v & 1), c)
        elif op == "prio":
            d.set_priority(i, v, c)
        elif op == "group":
            d.set_group(i, v & 1, c)
        elif op == "targets":
            d.set_targets(i, v & 3)
        elif op == "edge":
            d.set_edge(i, bool(v & 1), c)
        elif op == "sgi":
            d.send_sgi(i & 15, v & 3, c)
        elif op == "ack":
            k = d.best(c, 3)
            if k >= 0:
                d.acknowledge(c, k & 0x3FF)
        elif op == "deact":
            d.deactivate(c, i, "dir")
        for cpu in (0, 1):
            ref = []
            for j in range(96):
                w, b = j >> 5, 1 << (j & 31)
                pending = (d.latch[cpu][w] | (d.line[cpu][w] & ~d.edge[cpu][w])) & b
                if j < 16:
                    assert bool(pending) == bool(d.sgi_src[cpu][j])
                if (pending and not d.act[cpu][w] & b and d.en[cpu][w] & b
                        and (j < 32 or (d.targets[j] >> cpu) & 1)):
                    ref.append(j)
            assert d.candidates(cpu) == ref
            for groups in (1, 2, 3):
                sel = [(d.priority(j, cpu), j) for j in ref if (groups >> d.group(j, cpu)) & 1]
                k = d.best(cpu, groups)
                if sel:
                    assert (k >> 11, k & 0x3FF) == min(sel)
                else:
                    assert k == NO_IRQ


def test_priority_change_of_pending_interrupt_reorders_hppi() -> None:
    """IHI 0048B §4.3.11/§3.3~: rewriting the priority of pending interrupts (SPI and banked PPI)
    changes which one is the HPPI at once."""
    d = Distributor(GICv2Config(num_cpus=2))
    for i in (40, 41):
        d.set_targets(i, 0x3)
        d.set_enabled(i, True)
        d.set_priority(i, 0x80)
        d.set_pending(i, True)
    d.set_enabled(27, True, cpu=1)
    d.set_priority(27, 0x90, cpu=1)
    d.set_pending(27, True, cpu=1)
    assert d.best(1, 1) & 0x3FF == 40
    d.set_priority(41, 0x10)
    assert d.best(0, 1) == (0x10 << 11) | 41
    d.set_priority(27, 0x08, cpu=1)
    assert d.best(1, 1) == (0x08 << 11) | 27
    assert d.best(0, 1) == (0x10 << 11) | 41
    d.set_group(27, 1, cpu=1)
    assert d.best(1, 1) == (0x10 << 11) | 41
    assert d.best(1, 2) == (0x08 << 11) | 0x400 | 27


# --------------------------------------------------------------------------- register framework


class _Owner:
    def __init__(self) -> None:
        self.words = [0, 0]

    def rd(self, n: int, cpu: int) -> int:
        return self.words[n] + cpu

    def wr(self, n: int, value: int, mask: int, cpu: int) -> None:
        self.words[n] = (self.words[n] & ~mask) | (value & mask)


def test_register_block_lanes_sizes_and_decode() -> None:
    """regs.py contract: handlers get word n, the value in its byte lane and the lane mask;
    sizes not listed are RAZ/WI; decode() names the register; reserved space RAZ/WI."""
    from irqfwd.hw.gic.regs import Reg, RegisterBlock

    o = _Owner()
    blk = RegisterBlock("T", 0x100, [Reg("T_A", 0x10, length=8, sizes=(1, 4), read="rd",
                                         write="wr"),
                                     Reg("T_ID", 0x40, reset=0x2B, read="read_reset")], o)
    blk.write(0x15, 0xAB, size=1)
    assert o.words == [0, 0xAB00]
    assert blk.read(0x14) == 0xAB00
    assert blk.read(0x15, size=1) == 0xAB
    assert blk.read(0x14, cpu=1) == 0xAB01
    blk.write(0x14, 0xFFFF, size=2)  # halfword not allowed
    assert o.words[1] == 0xAB00 and blk.bad_accesses == 1
    assert blk.read(0x40) == 0x2B
    assert blk.read(0x20) == 0 and not blk.is_implemented(0x20)
    assert blk.decode(0x14) == (blk.reg_named("T_A"), 1)
    assert blk.decode(0x18) is None
    with pytest.raises(ValueError, match="outside"):
        blk.read(0x100)


def test_register_block_rejects_bad_tables() -> None:
    """regs.py: overlapping entries and unknown handler names are rejected at build time."""
    from irqfwd.hw.gic.regs import Reg, RegisterBlock

    with pytest.raises(ValueError, match="overlaps"):
        RegisterBlock("T", 0x100, [Reg("A", 0x0, length=8), Reg("B", 0x4)], _Owner())
    with pytest.raises(ValueError, match="handler 'nope'"):
        RegisterBlock("T", 0x100, [Reg("A", 0x0, read="nope")], _Owner())
