"""ICH_* and ICV_*: IHI 0069H §12.4 (virtualization control), §12.3 (virtual CPU
interface)."""

from __future__ import annotations

import pytest

from irqfwd.hw.gicv3 import GICv3, GICv3Config, QemuQuirks, SysRegUndefined, make_lr

LR_MASK_ARCH = 0xF0F8_1FFF_FFFF_FFFF


def test_vtr_and_vmcr_reset(gic: GICv3, gic4: GICv3) -> None:
    """§12.4.8: 4 LRs, PRIbits/PREbits 5, IDbits 24, A3V, TDS; nV4 = 1 on a GICv3 (no
    direct injection), 0 on a GICv4.  §12.4.9: VMCR 0x004C0008 (VFIQEn, minimum VBPRs)."""
    assert gic.read_sysreg(0, "ICH_VTR_EL2") == 0x90B8_0003
    assert gic4.read_sysreg(0, "ICH_VTR_EL2") == 0x90A8_0003
    assert gic.read_sysreg(0, "ICH_VMCR_EL2") == 0x004C_0008
    assert gic.read_sysreg(0, "ICH_ELRSR_EL2") == 0xF


def test_lr_masks_and_count(gic: GICv3) -> None:
    """§12.4.6: RES0 bits and unimplemented priority bits RAZ/WI (QEMU keeps RES0, G2);
    LRs beyond ICH_VTR_EL2.ListRegs are UNDEFINED."""
    gic.write_sysreg(0, "ICH_LR0_EL2", (1 << 64) - 1)
    assert gic.read_sysreg(0, "ICH_LR0_EL2") == LR_MASK_ARCH
    q = GICv3(GICv3Config(quirks=QemuQuirks(lr_res0_stored=True)))
    q.write_sysreg(0, "ICH_LR0_EL2", (1 << 64) - 1)
    assert q.read_sysreg(0, "ICH_LR0_EL2") == 0xFFF8_FFFF_FFFF_FFFF
    with pytest.raises(SysRegUndefined):
        gic.read_sysreg(0, "ICH_LR4_EL2")
    assert GICv3(GICv3Config(num_lrs=16)).read_sysreg(0, "ICH_LR15_EL2") == 0


def test_vmcr_fields(gic: GICv3) -> None:
    """§12.4.9: VBPRs raised to their minimum, VFIQEn RES1, VAckCtl RES0, VPMR implemented
    bits (QEMU keeps all 8 written through ICH_VMCR_EL2, G8)."""
    gic.write_sysreg(0, "ICH_VMCR_EL2", 0xFFFF_FFFF)
    assert gic.read_sysreg(0, "ICH_VMCR_EL2") == 0xF8FC_021B
    gic.write_sysreg(0, "ICH_VMCR_EL2", 0)
    assert gic.read_sysreg(0, "ICH_VMCR_EL2") == 0x004C_0008


def _guest(g: GICv3, cpu: int = 0, vmcr: int = 0xF800_0002) -> None:
    g.write_sysreg(cpu, "ICH_HCR_EL2", 1)
    g.write_sysreg(cpu, "ICH_VMCR_EL2", vmcr)


def test_lr_acknowledge_and_eoi(gic: GICv3) -> None:
    """§12.3.12 ICV_IAR1: pending → active, ICH_AP1R0 bit; §12.3.8 ICV_EOIR1: drop and
    deactivate; ICH_ELRSR_EL2 (§12.4.5) follows the LR state."""
    _guest(gic)
    gic.write_sysreg(0, "ICH_LR0_EL2", make_lr(0x30, 0xA0))
    assert gic.outputs[0].virq and not gic.outputs[0].irq
    assert gic.read_sysreg(0, "ICH_ELRSR_EL2") == 0xE
    assert gic.read_sysreg(0, "ICV_IAR1_EL1") == 0x30
    assert gic.read_sysreg(0, "ICH_LR0_EL2") >> 62 == 2
    assert gic.read_sysreg(0, "ICH_AP1R0_EL2") == 1 << 20
    assert not gic.outputs[0].virq
    gic.write_sysreg(0, "ICV_EOIR1_EL1", 0x30)
    assert gic.read_sysreg(0, "ICH_LR0_EL2") >> 62 == 0
    assert gic.read_sysreg(0, "ICH_ELRSR_EL2") == 0xF
    assert gic.read_sysreg(0, "ICV_RPR_EL1") == 0xFF


def test_group0_lr_is_vfiq(gic: GICv3) -> None:
    """§12.4.6 Group: a Group 0 LR is signalled as vFIQ (VFIQEn is RES1)."""
    _guest(gic, vmcr=0xF800_0001)
    gic.write_sysreg(0, "ICH_LR1_EL2", make_lr(0x20, 0x60, group1=False))
    assert gic.outputs[0].vfiq and not gic.outputs[0].virq
    assert gic.read_sysreg(0, "ICV_IAR1_EL1") == 1023
    assert gic.read_sysreg(0, "ICV_IAR0_EL1") == 0x20


def test_eoi_maintenance_and_ppi25(drv) -> None:  # type: ignore[no-untyped-def]
    """§12.4.3/§12.4.7: an LR with EOI = 1 that becomes invalid sets ICH_EISR and
    MISR.EOI; with En the maintenance interrupt (PPI 25) is asserted (level)."""
    g = drv.gic
    drv.wake()
    g.write(drv.sgi(0) + 0x80, 1 << 25)
    g.write(drv.sgi(0) + 0x100, 1 << 25)
    _guest(g)
    g.write_sysreg(0, "ICH_LR2_EL2", make_lr(0x41, 0x90, eoi=True))
    g.read_sysreg(0, "ICV_IAR1_EL1")
    g.write_sysreg(0, "ICV_EOIR1_EL1", 0x41)
    assert g.read_sysreg(0, "ICH_EISR_EL2") == 4
    assert g.read_sysreg(0, "ICH_MISR_EL2") == 1
    assert g.outputs[0].irq and g.read_sysreg(0, "ICC_IAR1_EL1") == 25
    g.write_sysreg(0, "ICH_LR2_EL2", 0)
    assert not g.read(drv.sgi(0) + 0x200) & (1 << 25)


def test_hw_lr_deactivates_physical(drv) -> None:  # type: ignore[no-untyped-def]
    """§12.4.6 HW: deactivating a HW = 1 LR deactivates pINTID at the distributor."""
    g = drv.gic
    drv.wake()
    drv.spi(40)
    g.write_sysreg(0, "ICC_CTLR_EL1", 2)
    drv.pend_spi(40)
    g.read_sysreg(0, "ICC_IAR1_EL1")
    g.write_sysreg(0, "ICC_EOIR1_EL1", 40)
    events: list[tuple[str, int, int, str]] = []
    g.on_event = lambda *e: events.append(e)
    _guest(g)
    g.write_sysreg(0, "ICH_LR0_EL2", make_lr(0x50, 0xA0, hw=True, pintid=40))
    g.read_sysreg(0, "ICV_IAR1_EL1")
    g.write_sysreg(0, "ICV_EOIR1_EL1", 0x50)
    assert g.read(0x0800_0304) == 0
    assert events == [("deactivate", 40, 0, "hw_lr")]


def test_veoim_dir_and_eoicount(gic: GICv3) -> None:
    """§12.3.6 ICV_DIR with VEOIM: deactivates; no matching LR → EOIcount + 1 (not for a
    vLPI); LRENPIE then raises MISR.LRENP (§12.4.7)."""
    _guest(gic, vmcr=0xF800_0202)
    gic.write_sysreg(0, "ICH_HCR_EL2", 5)
    gic.write_sysreg(0, "ICH_LR0_EL2", make_lr(0x21, 0x80))
    gic.read_sysreg(0, "ICV_IAR1_EL1")
    gic.write_sysreg(0, "ICV_EOIR1_EL1", 0x21)
    assert gic.read_sysreg(0, "ICH_LR0_EL2") >> 62 == 2
    gic.write_sysreg(0, "ICV_DIR_EL1", 0x21)
    assert gic.read_sysreg(0, "ICH_LR0_EL2") >> 62 == 0
    gic.write_sysreg(0, "ICV_DIR_EL1", 0x22)
    gic.write_sysreg(0, "ICV_DIR_EL1", 0x2010)
    assert gic.read_sysreg(0, "ICH_HCR_EL2") >> 27 == 1
    assert gic.read_sysreg(0, "ICH_MISR_EL2") & 4


@pytest.mark.parametrize(("vmcr", "arch", "qemu"), [
    (0, 0xA0, 0xA0), (1, 0x90, 0xB0), (2, 0x60, 0x40), (3, 0x50, 0x50)])
def test_misr_group_bits(vmcr: int, arch: int, qemu: int) -> None:
    """§12.4.7 VGrp0E/VGrp0D/VGrp1E/VGrp1D (+ U with no valid LR); QEMU derives VGrp0D
    from VENG1 (G1)."""
    for quirk, want in ((False, arch), (True, qemu)):
        g = GICv3(GICv3Config(quirks=QemuQuirks(misr_vgrp0d_uses_veng1=quirk)))
        g.write_sysreg(0, "ICH_HCR_EL2", 0xF1)
        g.write_sysreg(0, "ICH_VMCR_EL2", vmcr)
        assert g.read_sysreg(0, "ICH_MISR_EL2") == want


def test_virtual_preemption_and_pmr(gic: GICv3) -> None:
    """§12.3: a pending LR is signalled only below VPMR and with a higher group priority
    than the virtual running priority; equal priority: lowest LR first."""
    _guest(gic, vmcr=0x9000_0002)
    gic.write_sysreg(0, "ICH_LR3_EL2", make_lr(0x13, 0x80))
    gic.write_sysreg(0, "ICH_LR1_EL2", make_lr(0x11, 0x80))
    assert gic.read_sysreg(0, "ICV_IAR1_EL1") == 0x11
    assert gic.read_sysreg(0, "ICV_IAR1_EL1") == 1023
    gic.write_sysreg(0, "ICH_LR0_EL2", make_lr(0x10, 0x98))
    assert gic.read_sysreg(0, "ICV_HPPIR1_EL1") == 0x13
    gic.write_sysreg(0, "ICV_EOIR1_EL1", 0x11)
    assert gic.read_sysreg(0, "ICV_IAR1_EL1") == 0x13


def test_ich_apr_and_icv_rpr(gic: GICv3) -> None:
    """§12.4.1/§12.4.2: ICV_AP0R/AP1R are ICH_AP0R/AP1R; ICV_RPR follows the highest bit."""
    gic.write_sysreg(0, "ICH_AP1R0_EL2", 0x40)
    assert gic.read_sysreg(0, "ICV_AP1R0_EL1") == 0x40
    assert gic.read_sysreg(0, "ICV_RPR_EL1") == 0x30
    gic.write_sysreg(0, "ICV_AP0R0_EL1", 0x10)
    assert gic.read_sysreg(0, "ICV_RPR_EL1") == 0x20
