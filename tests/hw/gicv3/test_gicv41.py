"""GICv4.1 (model only: QEMU 7.2 has none): vPEID residency (GICR_VPENDBASER.vPEID),
VMAPP with the vLPI configuration table and a default doorbell, direct vSGIs (VSGI command,
GITS_SGIR, GICR_VSGIR/VSGIPENDR), ICH_HCR_EL2.vSGIEOICount (IHI 0069H §5.4, §6.3 VMAPP
and VSGI, §12.11.38, §12.11.40–41, §12.19.9, §12.4.4)."""

from __future__ import annotations

import pytest

from irqfwd.hw.gicv3 import GICv3, GICv3Config

VPT, VCONF = 0x4048_0000, 0x4049_0000
DB = 8300
ITS = 0x0808_0000


@pytest.fixture
def g41() -> GICv3:
    return GICv3(GICv3Config.gicv41_virt())


def _setup(drv) -> None:  # type: ignore[no-untyped-def]
    g = drv.gic
    drv.wake()
    drv.lpis()
    drv.its()
    drv.mapd(0)
    drv.mapc(0, 0)
    drv.lpi_config(DB, 0xC0)
    # VMAPP vPE 3 -> PE 0, VCONF in DW0 [51:16], default doorbell DW1 [31:0], VPT DW3
    drv.cmd(0x29, VCONF, 3 << 32 | DB, 1 << 63, VPT | 15)
    drv.vmapti(0, 1, 3, 8192)
    drv.lpi_config(8192, 0xA0, table=VCONF)
    g.write_sysreg(0, "ICH_HCR_EL2", 1)
    g.write_sysreg(0, "ICH_VMCR_EL2", 0xF800_0003)


def _schedule(drv, vpeid: int | None, doorbell: bool = False) -> None:  # type: ignore[no-untyped-def]
    g = drv.gic
    if vpeid is None:
        g.write(drv.vlpi(0) + 0x78, int(doorbell) << 62, 8)
    else:
        g.write(drv.vlpi(0) + 0x78, 1 << 63 | vpeid, 8)


def test_identification(g41: GICv3) -> None:
    """GITS_TYPER.VSGI/VMAPP, GICR_TYPER.RVPEID/VSGI, GICD_TYPER2.VIL/VID."""
    assert g41.read(ITS + 8, 8) >> 39 & 3 == 3
    assert g41.read(0x080C_0008, 8) & (1 << 7 | 1 << 26) == 1 << 7 | 1 << 26
    assert g41.read(0x0800_000C) == 0x8F
    assert GICv3(GICv3Config(version=4)).read(0x0800_000C) == 0
    with pytest.raises(ValueError, match="overlaps the redistributors"):
        GICv3Config(version=4, gicv41=True)


def test_vpeid_residency_and_default_doorbell(drv41) -> None:  # type: ignore[no-untyped-def]
    """A vPE is resident by vPEID; descheduled with Doorbell = 1 its default doorbell rings
    once for the first vLPI, not again until it is rescheduled and descheduled."""
    drv, g41 = drv41, drv41.gic
    _setup(drv)
    _schedule(drv, 3)
    g41.msi(0, 1)
    assert g41.read_sysreg(0, "ICV_IAR1_EL1") == 8192
    g41.write_sysreg(0, "ICV_EOIR1_EL1", 8192)
    _schedule(drv, None, doorbell=True)
    g41.msi(0, 1)
    assert g41.read_sysreg(0, "ICC_IAR1_EL1") == DB
    g41.write_sysreg(0, "ICC_EOIR1_EL1", DB)
    g41.msi(0, 1)
    assert g41.read_sysreg(0, "ICC_IAR1_EL1") == 1023
    _schedule(drv, 3)
    assert g41.read_sysreg(0, "ICV_IAR1_EL1") == 8192


def test_vsgi_direct_injection(drv41) -> None:  # type: ignore[no-untyped-def]
    """VSGI configures priority/group/enable; GITS_SGIR makes a vSGI pending; resident →
    ICV_IAR1 returns it (no active state); GICR_VSGIPENDR reports pending vSGIs; with
    vSGIEOICount its EOI does not count in EOIcount."""
    drv, g41 = drv41, drv41.gic
    _setup(drv)
    drv.cmd(0x23, 5 << 32 | 0x6 << 20 | 1 << 10 | 1 << 8, 3 << 32)  # vSGI 5: 0x60, G1, on
    g41.write(drv.vlpi(0) + 0x80, 3)
    g41.write(ITS + 0x20020, 3 << 32 | 5, 8)
    assert g41.read(drv.vlpi(0) + 0x88) == 1 << 5
    _schedule(drv, 3)
    assert g41.outputs[0].virq
    assert g41.read_sysreg(0, "ICV_IAR1_EL1") == 5
    assert g41.read(drv.vlpi(0) + 0x88) == 0
    g41.write_sysreg(0, "ICH_HCR_EL2", 1 | 1 << 8)
    g41.write_sysreg(0, "ICV_EOIR1_EL1", 5)
    assert g41.read_sysreg(0, "ICH_HCR_EL2") >> 27 == 0
    g41.its.send_vsgi(3, 5)
    g41.read_sysreg(0, "ICV_IAR1_EL1")
    g41.write_sysreg(0, "ICH_HCR_EL2", 1)
    g41.write_sysreg(0, "ICV_EOIR1_EL1", 5)
    assert g41.read_sysreg(0, "ICH_HCR_EL2") >> 27 == 1


def test_vsgi_disabled_or_group0(drv41) -> None:  # type: ignore[no-untyped-def]
    """A disabled vSGI is not signalled; a Group 0 one needs VENG0 and is a vFIQ."""
    drv, g41 = drv41, drv41.gic
    _setup(drv)
    _schedule(drv, 3)
    g41.its.send_vsgi(3, 2)
    assert not g41.outputs[0].virq
    drv.cmd(0x23, 2 << 32 | 0x4 << 20 | 1 << 8, 3 << 32)  # vSGI 2: Group 0, enabled
    assert g41.outputs[0].vfiq and not g41.outputs[0].virq
    assert g41.read_sysreg(0, "ICV_IAR0_EL1") == 2
