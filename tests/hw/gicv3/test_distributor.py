"""GICD_* with affinity routing: IHI 0069H §12.9 (register descriptions), §4.6 (routing)."""

from __future__ import annotations

from irqfwd.hw.gicv3 import GICv3, GICv3Config, QemuQuirks

D = 0x0800_0000


def test_ctlr_are_ds_rao_wi_and_group_enables(gic: GICv3) -> None:
    """§12.9.4: ARE and DS read as one (no legacy operation, one Security state); only
    EnableGrp0/EnableGrp1 are writable here (RWP is never set: writes complete at once)."""
    assert gic.read(D) == 0x50
    gic.write(D, 0xFFFF_FFFF)
    assert gic.read(D) == 0x53
    gic.write(D, 0)
    assert gic.read(D) == 0x50


def test_typer_itlines_lpis_idbits() -> None:
    """§12.9.38: ITLinesNumber = 32(N+1) covers every implemented INTID (288 → 8), LPIS
    with an ITS, IDbits 15 (16-bit INTIDs), A3V, No1N, DVIS only on a GICv4; QEMU reports
    one ITLines less (G4)."""
    assert GICv3(GICv3Config()).read(D + 4) == 0x37A_0008
    assert GICv3(GICv3Config(version=4)).read(D + 4) == 0x37E_0008
    q = GICv3(GICv3Config(quirks=QemuQuirks(itlines_excludes_sgi_ppi=True)))
    assert q.read(D + 4) == 0x37A_0007
    assert GICv3(GICv3Config(its=False)).read(D + 4) & (1 << 17) == 0


def test_sgi_ppi_words_raz_wi_with_are(gic: GICv3) -> None:
    """§12.9.15, §12.9.21: with affinity routing the SGI/PPI words of the GICD are RES0;
    the redistributor holds that state."""
    for off in (0x080, 0x100, 0x200, 0x300, 0x400, 0x41C, 0xC00, 0xC04):
        gic.write(D + off, 0xFFFF_FFFF)
        assert gic.read(D + off) == 0
    assert gic.read(0x080B_0080) == 0


def test_spi_registers_and_priority_bytes(gic: GICv3) -> None:
    """§12.9.18 IPRIORITYR byte-accessible, 8 bits as QEMU; §12.9.10 ICFGR: Int_config
    bits only; §12.9.16/24 IGRPMODR and NSACR RAZ/WI with DS = 1."""
    gic.write(D + 0x420, 0xFFFF_FFFF)
    assert gic.read(D + 0x420) == 0xFFFF_FFFF
    gic.write(D + 0x421, 0x5A, 1)
    assert gic.read(D + 0x420) == 0xFFFF_5AFF
    gic.write(D + 0xC08, 0xFFFF_FFFF)
    assert gic.read(D + 0xC08) == 0xAAAA_AAAA
    gic.write(D + 0xD04, 0xFFFF_FFFF)
    gic.write(D + 0xE08, 0xFFFF_FFFF)
    assert gic.read(D + 0xD04) == gic.read(D + 0xE08) == 0


def test_irouter_affinity_fields_and_halves(gic: GICv3) -> None:
    """§12.9.22: Aff3.Aff2.Aff1.Aff0 writable, Interrupt_Routing_Mode RES0 (No1N = 1) and
    RES0 bits RAZ/WI; 64-bit and 32-bit accesses; QEMU keeps every bit (G6)."""
    gic.write(D + 0x6100, 0xFFFF_FFFF_FFFF_FFFF, 8)
    assert gic.read(D + 0x6100, 8) == 0xFF_00FF_FFFF
    gic.write(D + 0x6104, 0x2)
    assert gic.read(D + 0x6100, 8) == 0x2_00FF_FFFF
    assert gic.read(D + 0x6104) == 2
    q = GICv3(GICv3Config(quirks=QemuQuirks(irouter_res0_stored=True)))
    q.write(D + 0x6100, 0xFFFF_FFFF_FFFF_FFFF, 8)
    assert q.read(D + 0x6100, 8) == 0xFFFF_FFFF_FFFF_FFFF
    assert gic.read(D + 0x6000 + 8 * 288, 8) == 0  # INTID 288: not implemented


def test_spi_routed_by_affinity(drv) -> None:  # type: ignore[no-untyped-def]
    """§4.6.1: an SPI is forwarded to the PE GICD_IROUTER<n> names; retargeting a pending
    SPI moves it; an affinity no PE has leaves it pending nowhere."""
    g = drv.gic
    drv.wake()
    drv.spi(40, cpu=1)
    drv.pend_spi(40)
    assert g.outputs[1].irq and not g.outputs[0].irq
    g.write(D + 0x6000 + 8 * 40, 0x105, 8)  # 0.0.1.5: nobody
    assert not g.outputs[0].irq and not g.outputs[1].irq
    assert g.read(D + 0x204) & (1 << 8)
    g.write(D + 0x6000 + 8 * 40, 0, 8)
    assert g.outputs[0].irq
    assert g.read_sysreg(0, "ICC_IAR1_EL1") == 40


def test_level_spi_input(drv) -> None:  # type: ignore[no-untyped-def]
    """§4.1.2: a level-sensitive SPI is pending while its input is high; the latch set by
    GICD_ISPENDR survives the input going low; edge-triggered SPIs latch a rising edge."""
    g = drv.gic
    drv.wake()
    drv.spi(50)
    g.set_line(50, True)
    assert g.read(D + 0x204) & (1 << 18)
    g.set_line(50, False)
    assert not g.read(D + 0x204) & (1 << 18)
    g.write(D + 0xC0C, 2 << 4)  # SPI 50 edge (ICFGR3 field 2)
    g.set_line(50, True)
    g.set_line(50, False)
    assert g.read(D + 0x204) & (1 << 18)


def test_active_registers(drv) -> None:  # type: ignore[no-untyped-def]
    """§12.9.20, §12.9.6: ISACTIVER/ICACTIVER set and clear the active state; an active
    interrupt is not a candidate (§4.1.1)."""
    g = drv.gic
    drv.wake()
    drv.spi(41)
    g.write(D + 0x304, 1 << 9)
    drv.pend_spi(41)
    assert g.read_sysreg(0, "ICC_HPPIR1_EL1") == 1023
    g.write(D + 0x384, 1 << 9)
    assert g.read_sysreg(0, "ICC_HPPIR1_EL1") == 41


def test_id_registers_archrev() -> None:
    """§12.9.30 GICD_PIDR2.ArchRev: 3 for GICv3, 4 for GICv4."""
    assert GICv3(GICv3Config()).read(D + 0xFFE8) == 0x3B
    assert GICv3(GICv3Config(version=4)).read(D + 0xFFE8) == 0x4B
