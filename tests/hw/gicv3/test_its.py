"""The ITS: IHI 0069H chapter 6 (commands §6.3), registers §12.19, LPIs §5.1."""

from __future__ import annotations

import pytest

from irqfwd.hw.gicv3 import GICv3, GICv3Config, QemuQuirks

ITS = 0x0808_0000


def _setup(drv) -> None:  # type: ignore[no-untyped-def]
    drv.wake()
    drv.lpis()
    drv.its()
    drv.mapd(0)
    drv.mapc(0, 0)
    drv.mapc(1, 1)


def test_registers_reset(gic: GICv3) -> None:
    """§12.19.10 GITS_TYPER, §12.19.1 GITS_BASER<n> Type/Entry_Size RO, §12.19.6 Quiescent."""
    assert gic.read(ITS) == 0x8000_0000
    assert gic.read(ITS + 8, 8) == 0x1F_0001_EFB1
    assert gic.read(ITS + 0x100, 8) == 0x0107_0000_0000_0200
    assert gic.read(ITS + 0x108, 8) == 0x0407_0000_0000_0200
    assert gic.read(ITS + 0x110, 8) == 0
    gic.write(ITS + 0x100, 0, 8)
    assert gic.read(ITS + 0x100, 8) == 0x0107_0000_0000_0000


def test_cbaser_resets_creadr_and_is_locked_while_enabled(gic: GICv3) -> None:
    """§12.19.2: writing GITS_CBASER sets GITS_CREADR to 0; ignored while enabled."""
    gic.write(ITS + 0x80, (1 << 63) | 0x4045_0000, 8)
    gic.write(ITS, 1)
    gic.write(ITS + 0x88, 0x40, 8)
    assert gic.read(ITS + 0x90, 8) == 0x40
    gic.write(ITS + 0x80, (1 << 63) | 0x4046_0000, 8)
    assert gic.read(ITS + 0x80, 8) == (1 << 63) | 0x4045_0000
    gic.write(ITS, 0)
    gic.write(ITS + 0x80, (1 << 63) | 0x4046_0000, 8)
    assert gic.read(ITS + 0x90, 8) == 0


def test_msi_to_lpi_and_acknowledge(drv) -> None:  # type: ignore[no-untyped-def]
    """§6.1: (DeviceID, EventID) → LPI via MAPD/MAPC/MAPTI; the pending-table bit is set;
    ICC_IAR1 makes an LPI inactive at once, ICC_EOIR1 only drops its priority."""
    g = drv.gic
    _setup(drv)
    drv.lpi_config(8192, 0xA0)
    drv.mapti(0, 0, 8192, 0)
    assert g.its.errors == 0
    assert g.msi(0, 0)
    assert g.read(0x4041_0400, 1) == 1
    assert g.outputs[0].irq
    assert g.read_sysreg(0, "ICC_IAR1_EL1") == 8192
    assert g.read(0x4041_0400, 1) == 0
    assert g.read_sysreg(0, "ICC_RPR_EL1") == 0xA0
    g.write_sysreg(0, "ICC_EOIR1_EL1", 8192)
    assert g.read_sysreg(0, "ICC_RPR_EL1") == 0xFF
    g.write(ITS + 0x10040, 0)  # a CPU write: DeviceID 0
    assert g.read_sysreg(0, "ICC_IAR1_EL1") == 8192


def test_int_clear_discard(drv) -> None:  # type: ignore[no-untyped-def]
    """§6.3 INT, §6.3 CLEAR, §6.3 DISCARD."""
    g = drv.gic
    _setup(drv)
    drv.lpi_config(8196, 0x80)
    drv.mapti(0, 3, 8196, 0)
    drv.cmd(0x03, 0, 3)
    assert 8196 in g.redist[0].lpi_pend
    drv.cmd(0x04, 0, 3)
    assert not g.redist[0].lpi_pend
    drv.cmd(0x0F, 0, 3)
    assert not g.msi(0, 3)


def test_movi_moves_pending_state(drv) -> None:  # type: ignore[no-untyped-def]
    """§6.3 MOVI: a pending LPI follows its event to the new collection's PE;
    §6.3 MOVALL moves every pending LPI."""
    g = drv.gic
    _setup(drv)
    for i in range(4):
        drv.lpi_config(8200 + i, 0x60)
        drv.mapti(0, 8 + i, 8200 + i, 0)
        g.msi(0, 8 + i)
    drv.cmd(0x01, 0, 8, 1)
    assert g.redist[1].lpi_pend == {8200}
    drv.cmd(0x0E, 0, 0, 0, 1 << 16)
    assert g.redist[1].lpi_pend == {8200, 8201, 8202, 8203} and not g.redist[0].lpi_pend
    assert g.read(0x4042_0401, 1) == 0x0F


def test_inv_rereads_configuration(drv) -> None:  # type: ignore[no-untyped-def]
    """§5.1.1, §6.3 INV, §6.3 INVALL: a changed configuration reaches a pending LPI."""
    g = drv.gic
    _setup(drv)
    drv.lpi_config(8208, 0x80, enabled=False)
    drv.mapti(0, 16, 8208, 0)
    g.msi(0, 16)
    assert not g.outputs[0].irq and 8208 in g.redist[0].lpi_pend
    drv.lpi_config(8208, 0x80)
    assert not g.outputs[0].irq
    drv.cmd(0x0C, 0, 16)
    assert g.outputs[0].irq
    drv.lpi_config(8208, 0x40)
    drv.cmd(0x0D, 0, 0, 0)
    assert g.hppi(0) == (8208, 0x40, 1)


def test_command_errors_are_skipped(drv) -> None:  # type: ignore[no-untyped-def]
    """§6.3 command errors (IMPLEMENTATION DEFINED, as QEMU): a bad command is ignored, the
    queue goes on and GITS_CREADR reaches GITS_CWRITER."""
    g = drv.gic
    _setup(drv)
    drv.mapti(5, 0, 8192, 0)        # device not mapped
    drv.mapti(0, 32, 8192, 0)       # EventID beyond 5 bits
    drv.mapti(0, 2, 100, 0)         # not an LPI
    drv.mapc(2, 7)                  # no PE 7
    drv.mapd(0x10000)               # beyond Devbits
    drv.mapti(0, 4, 8224, 0)
    assert g.its.errors == 5
    assert g.read(ITS + 0x90, 8) == g.read(ITS + 0x88, 8)
    assert g.its.ites.keys() == {(0, 4)}


def test_indirect_device_table(drv) -> None:  # type: ignore[no-untyped-def]
    """§12.19.1 Indirect: a DeviceID is usable only if its level-1 entry is valid."""
    g = drv.gic
    drv.wake()
    drv.lpis()
    g.write(ITS + 0x100, (3 << 62) | 0x4043_0000 | 2 << 8, 8)  # Valid, Indirect, 64 KiB
    g.write(ITS + 0x108, (1 << 63) | 0x4044_0000 | 2 << 8, 8)
    g.write(ITS + 0x80, (1 << 63) | 0x4045_0000, 8)
    g.write(ITS, 1)
    drv.mapd(9000)                   # level-1 entry 1 (8192 entries per page): invalid
    assert 9000 not in g.its.devices
    g.write(0x4043_0008, (1 << 63) | 0x404B_0000, 8)
    drv.mapd(9000)
    assert 9000 in g.its.devices


def test_cwriter_quirk() -> None:
    """G9: QEMU keeps GITS_CWRITER's RES0 bits and lets GITS_CREADR be written while the
    ITS is disabled."""
    g = GICv3(GICv3Config(quirks=QemuQuirks(cwriter_res0_stored=True)))
    g.write(ITS + 0x90, 0xFFFF_FFFF_FFFF_FFFF, 8)
    assert g.read(ITS + 0x90, 8) == 0xFFFF_FFFF_FFFF_FFFE
    a = GICv3(GICv3Config())
    a.write(ITS + 0x88, 0xFFFF_FFFF_FFFF_FFFF, 8)
    a.write(ITS + 0x90, 0x40, 8)
    assert a.read(ITS + 0x88, 8) == 0xF_FFE1 and a.read(ITS + 0x90, 8) == 0


# ---------------------------------------------------------------------- MOVI (§6.3)
PEND = (0x4041_0000, 0x4042_0000)
"""The LPI pending tables of PE 0 and PE 1 (conftest's ``Driver.lpis``; §5.1.2: one bit
per INTID)."""


def _movi(drv, dev: int, event: int, icid: int) -> None:  # type: ignore[no-untyped-def]
    """MOVI: DeviceID DW0 [63:32], EventID DW1 [31:0], ICID DW2 [15:0]."""
    drv.cmd(0x01, dev << 32, event, icid)


def _pending_bit(g: GICv3, cpu: int, intid: int = 8200) -> int:
    return g.read(PEND[cpu] + intid // 8, 1) >> (intid % 8) & 1


def test_movi_retargets_the_event(drv) -> None:  # type: ignore[no-untyped-def]
    """§6.3 MOVI: the ITE of (DeviceID, EventID) takes the new ICID; the event's next
    MSI is translated to the new collection's redistributor (§6.1), the old one sees
    nothing."""
    g = drv.gic
    _setup(drv)
    drv.lpi_config(8200, 0x60)
    drv.mapti(0, 8, 8200, 0)
    _movi(drv, 0, 8, 1)
    assert g.its.errors == 0
    assert g.its.ites[(0, 8)].icid == 1
    assert g.msi(0, 8)
    assert _pending_bit(g, 1) == 1 and _pending_bit(g, 0) == 0
    assert g.outputs[1].irq and not g.outputs[0].irq
    assert g.read_sysreg(1, "ICC_IAR1_EL1") == 8200
    assert g.read_sysreg(0, "ICC_IAR1_EL1") == 1023


@pytest.mark.parametrize("enabled", [True, False], ids=["enabled", "disabled"])
def test_movi_moves_the_pending_state(drv, enabled: bool) -> None:  # type: ignore[no-untyped-def]
    """§6.3 MOVI: an LPI pending on the old collection's redistributor is made pending
    on the new one and not pending on the old one: the pending-table bits follow (§5.1.2),
    the old PE stops signalling it, the new one signals it.  A disabled LPI's pending
    state moves as well, and is signalled on the new PE once enabled (§6.3 INV)."""
    g = drv.gic
    _setup(drv)
    drv.lpi_config(8200, 0x60, enabled=enabled)
    drv.mapti(0, 8, 8200, 0)
    assert g.msi(0, 8)
    assert _pending_bit(g, 0) == 1 and g.outputs[0].irq == enabled
    _movi(drv, 0, 8, 1)
    assert g.its.errors == 0
    assert _pending_bit(g, 0) == 0 and _pending_bit(g, 1) == 1
    assert 8200 not in g.redist[0].lpi_pend and 8200 in g.redist[1].lpi_pend
    assert not g.outputs[0].irq and g.outputs[1].irq == enabled
    if not enabled:
        drv.lpi_config(8200, 0x60)
        drv.cmd(0x0C, 0, 8)  # INV, to the event's new collection
        assert g.outputs[1].irq and not g.outputs[0].irq
    assert g.read_sysreg(0, "ICC_IAR1_EL1") == 1023
    assert g.read_sysreg(1, "ICC_IAR1_EL1") == 8200
    assert _pending_bit(g, 1) == 0


def test_movi_within_one_redistributor_changes_the_ite_only(drv) -> None:  # type: ignore[no-untyped-def]
    """§6.3 MOVI between two collections mapped (MAPC) to the same redistributor: the
    ITE takes the new ICID, the pending LPI stays where it is."""
    g = drv.gic
    _setup(drv)
    drv.mapc(2, 0)
    drv.lpi_config(8200, 0x60)
    drv.mapti(0, 8, 8200, 0)
    g.msi(0, 8)
    _movi(drv, 0, 8, 2)
    assert g.its.errors == 0
    assert g.its.ites[(0, 8)].icid == 2
    assert _pending_bit(g, 0) == 1 and g.outputs[0].irq and not g.outputs[1].irq


@pytest.mark.parametrize(
    ("dev", "event", "icid", "why"),
    [
        (0, 8, 3, "ICID 3 not mapped (no MAPC)"),
        (0, 8, 0xFFFF, "ICID beyond the collection table"),
        (5, 8, 1, "DeviceID 5 not mapped (no MAPD)"),
        (0, 32, 1, "EventID beyond the device's 5 bits"),
        (0, 9, 1, "EventID without an ITE"),
    ],
    ids=["unmapped-icid", "icid-beyond-table", "unmapped-device", "event-out-of-range", "no-ite"],
)
def test_movi_command_errors(drv, dev: int, event: int, icid: int, why: str) -> None:  # type: ignore[no-untyped-def]
    """§6.3 MOVI command errors (a DeviceID or EventID without a mapping, an ICID
    whose collection is not mapped): the command is ignored (IMPLEMENTATION DEFINED,
    as QEMU) and counted; the queue goes on (GITS_CREADR reaches GITS_CWRITER); the event
    keeps its collection and its pending state."""
    g = drv.gic
    _setup(drv)
    drv.cmd(0x09, 0, 0, 1 << 63 | 1 << 16 | 0xFFFF)  # MAPC of an ICID the table cannot hold
    assert g.its.errors == 1 and 0xFFFF not in g.its.collections
    drv.lpi_config(8200, 0x60)
    drv.mapti(0, 8, 8200, 0)
    g.msi(0, 8)
    _movi(drv, dev, event, icid)
    assert g.its.errors == 2, why
    assert g.read(ITS + 0x90, 8) == g.read(ITS + 0x88, 8)
    assert g.its.ites[(0, 8)].icid == 0
    assert _pending_bit(g, 0) == 1 and g.outputs[0].irq and not g.outputs[1].irq


def test_movi_from_an_unmapped_collection_is_an_error(drv) -> None:  # type: ignore[no-untyped-def]
    """§6.3 MOVI: the event's current collection must be mapped too; after MAPC with
    V = 0 (§6.3 MAPC, unmapping ICID 0) the command is an error and the ITE is unchanged."""
    g = drv.gic
    _setup(drv)
    drv.lpi_config(8200, 0x60)
    drv.mapti(0, 8, 8200, 0)
    drv.cmd(0x09, 0, 0, 0)  # MAPC ICID 0, V = 0
    _movi(drv, 0, 8, 1)
    assert g.its.errors == 1
    assert g.its.ites[(0, 8)].icid == 0


def test_movi_of_a_vlpi_is_an_error(drv4) -> None:  # type: ignore[no-untyped-def]
    """§6.3 MOVI applies to a physical LPI's ITE; the ITE of an event mapped to a vLPI
    (VMAPTI) is an error for it (VMOVI moves a vLPI between vPEs) and stays as it was."""
    g = drv4.gic
    _setup(drv4)
    drv4.vmapp(1, 0, 0x4048_0000)
    drv4.vmapti(0, 8, 1, 8200)
    _movi(drv4, 0, 8, 1)
    assert g.its.errors == 1
    ite = g.its.ites[(0, 8)]
    assert ite.vpe == 1 and ite.icid == -1
