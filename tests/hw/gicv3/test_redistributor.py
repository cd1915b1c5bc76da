"""GICR_*: IHI 0069H §12.10–12.11 (RD_base and SGI_base), §5.1 (LPIs)."""

from __future__ import annotations

import pytest

from irqfwd.hw.gicv3 import GICv3, GICv3Config, QemuQuirks

RD0, SGI0, RD1, SGI1 = 0x080A_0000, 0x080B_0000, 0x080C_0000, 0x080D_0000


def test_typer_per_pe(gic: GICv3) -> None:
    """§12.11.35: PLPIS, Last on the last PE, Processor_Number, CommonLPIAff 1, affinity."""
    assert gic.read(RD0 + 8, 8) == 0x0100_0001
    assert gic.read(RD1 + 8, 8) == 0x1_0100_0111
    assert gic.read(RD1 + 0xC) == 1


def test_gicv4_frames_and_vlpis(gic4: GICv3) -> None:
    """§12.10: a GICv4 redistributor has four 64 KiB frames; GICR_TYPER.VLPIS = 1."""
    assert gic4.read(0x080A_0008, 8) == 0x0100_0003
    assert gic4.read(0x080E_0008, 8) == 0x1_0100_0113


def test_waker_and_sleeping_pe(drv) -> None:  # type: ignore[no-untyped-def]
    """§12.11.39: ProcessorSleep = 1 at reset, ChildrenAsleep follows; interrupts are not
    forwarded to a sleeping PE (QEMU forwards them, G5)."""
    g = drv.gic
    assert g.read(RD0 + 0x14) == 6
    drv.wake()
    drv.spi(40)
    g.write(RD0 + 0x14, 2)
    assert g.read(RD0 + 0x14) == 6
    drv.pend_spi(40)
    assert not g.outputs[0].irq
    g.write(RD0 + 0x14, 0)
    assert g.outputs[0].irq
    q = GICv3(GICv3Config(quirks=QemuQuirks(waker_sleep_ignored=True)))
    q.write(0x0800_0000, 2)
    q.write_sysreg(0, "ICC_PMR_EL1", 0xFF)
    q.write_sysreg(0, "ICC_IGRPEN1_EL1", 1)
    q.write(SGI0 + 0x80, 1)
    q.write(SGI0 + 0x100, 1)
    q.write(SGI0 + 0x200, 1)
    assert q.outputs[0].irq


def test_sgi_ppi_registers_banked(gic: GICv3) -> None:
    """§12.11.15–21: SGI/PPI group, enable, priority live in each PE's SGI_base frame;
    GICR_ICFGR0 (SGIs) is read-only edge, GICR_ICFGR1 programmable (as QEMU)."""
    gic.write(SGI0 + 0x80, 0xFFFF_FFFF)
    gic.write(SGI0 + 0x400, 0x1234_5678)
    assert gic.read(SGI0 + 0x80) == 0xFFFF_FFFF and gic.read(SGI1 + 0x80) == 0
    assert gic.read(SGI0 + 0x401, 1) == 0x56
    gic.write(SGI0 + 0xC00, 0)
    assert gic.read(SGI0 + 0xC00) == 0xAAAA_AAAA
    gic.write(SGI0 + 0xC04, 0x8)
    assert gic.read(SGI0 + 0xC04) == 0x8


def test_ctlr_enable_lpis_and_ces(gic: GICv3) -> None:
    """§12.11.2: EnableLPIs RW, CES = 1 (it may be cleared again)."""
    assert gic.read(RD0) == 2
    gic.write(RD0, 1)
    assert gic.read(RD0) == 3
    gic.write(RD0, 0)
    assert gic.read(RD0) == 2


def test_baser_masks_and_ptz_write_only(gic: GICv3) -> None:
    """§12.11.28, §12.11.27: RES0 bits RAZ/WI (QEMU keeps them, G7); PTZ reads 0; writes
    are ignored while EnableLPIs = 1."""
    gic.write(RD0 + 0x70, 0xFFFF_FFFF_FFFF_FFFF, 8)
    assert gic.read(RD0 + 0x70, 8) == 0x070F_FFFF_FFFF_FF9F
    gic.write(RD0 + 0x78, 0xFFFF_FFFF_FFFF_FFFF, 8)
    assert gic.read(RD0 + 0x78, 8) == 0x070F_FFFF_FFFF_0F80
    gic.write(RD0, 1)
    gic.write(RD0 + 0x70, 0, 8)
    assert gic.read(RD0 + 0x70, 8) != 0


@pytest.mark.parametrize("ptz", [False, True])
def test_pending_table_read_on_enable(drv, ptz: bool) -> None:  # type: ignore[no-untyped-def]
    """§5.1.2: bits set in the pending table when EnableLPIs becomes 1 are pending LPIs,
    unless GICR_PENDBASER.PTZ says the table is zero (then it is not read)."""
    g = drv.gic
    drv.wake()
    drv.lpi_config(8197, 0xB0)
    g.write(0x4041_0400, 0x20, 1)
    g.write(RD0 + 0x70, 0x4040_000F, 8)
    g.write(RD0 + 0x78, 0x4041_0000 | (int(ptz) << 62), 8)
    g.write(RD0, 1)
    assert g.read_sysreg(0, "ICC_HPPIR1_EL1") == (1023 if ptz else 8197)


def test_lpi_beyond_idbits_ignored(drv) -> None:  # type: ignore[no-untyped-def]
    """§12.11.28: LPIs above GICR_PROPBASER.IDbits are out of range (14 bits: < 16384)."""
    drv.wake()
    drv.lpis(id_bits=14)
    drv.lpi_config(16384, 0x80)
    drv.gic.set_lpi(0, 16384, True)
    drv.gic.set_lpi(0, 16383, True)
    assert drv.gic.redist[0].lpi_pend == {16383}
