"""ICC_* system registers: IHI 0069H §12.2, priority handling §4.8."""

from __future__ import annotations

import pytest

from irqfwd.hw.gic.sysregs import encoding
from irqfwd.hw.gicv3 import GICv3, GICv3Config, SysRegUndefined


def test_reset_values(gic: GICv3) -> None:
    """§12.2: PMR 0, BPR0 = 7 - PREbits, BPR1 = BPR0 + 1, CTLR PRIbits/IDbits/A3V,
    SRE fixed at 1, idle running priority."""
    r = gic.read_sysreg
    assert (r(0, "ICC_PMR_EL1"), r(0, "ICC_BPR0_EL1"), r(0, "ICC_BPR1_EL1")) == (0, 2, 3)
    assert r(0, "ICC_CTLR_EL1") == 0x8C00
    assert (r(0, "ICC_SRE_EL1"), r(0, "ICC_SRE_EL2")) == (7, 0xF)
    assert r(0, "ICC_RPR_EL1") == 0xFF
    assert r(0, "ICC_IAR1_EL1") == 1023


def test_pmr_implemented_bits(gic: GICv3) -> None:
    """§12.2.19: 5 implemented priority bits (cortex-a57)."""
    gic.write_sysreg(0, "ICC_PMR_EL1", 0xFF)
    assert gic.read_sysreg(0, "ICC_PMR_EL1") == 0xF8
    g8 = GICv3(GICv3Config(pri_bits=8))
    g8.write_sysreg(0, "ICC_PMR_EL1", 0xFF)
    assert g8.read_sysreg(0, "ICC_PMR_EL1") == 0xFF


def test_unimplemented_and_wrong_direction_undefined(gic: GICv3) -> None:
    """§12.2.1: ICC_AP0R1 exists only with 6+ preemption bits; write-only and read-only
    registers are UNDEFINED in the other direction."""
    with pytest.raises(SysRegUndefined):
        gic.read_sysreg(0, "ICC_AP0R1_EL1")
    with pytest.raises(SysRegUndefined):
        gic.read_sysreg(0, "ICC_EOIR1_EL1")
    with pytest.raises(SysRegUndefined):
        gic.write_sysreg(0, "ICC_IAR1_EL1", 0)
    assert GICv3(GICv3Config(pri_bits=7)).read_sysreg(0, "ICC_AP0R3_EL1") == 0


def test_acknowledge_eoi_and_apr(drv) -> None:  # type: ignore[no-untyped-def]
    """§12.2.14 IAR1: pending → active, group priority recorded in ICC_AP1R0 (bit =
    priority >> 3); §12.2.10 EOIR1 drops it and deactivates (EOImode 0)."""
    g = drv.gic
    drv.wake()
    drv.spi(40, prio=0xA0)
    drv.pend_spi(40)
    assert g.read_sysreg(0, "ICC_IAR1_EL1") == 40
    assert g.read_sysreg(0, "ICC_AP1R0_EL1") == 1 << 20
    assert g.read_sysreg(0, "ICC_RPR_EL1") == 0xA0
    assert g.read(0x0800_0304) == 1 << 8
    g.write_sysreg(0, "ICC_EOIR1_EL1", 40)
    assert g.read(0x0800_0304) == 0 and g.read_sysreg(0, "ICC_RPR_EL1") == 0xFF


def test_eoimode1_split(drv) -> None:  # type: ignore[no-untyped-def]
    """§4.8.2, §12.2.8: EOImode = 1: EOIR drops priority only, DIR deactivates; DIR with
    EOImode = 0 is ignored."""
    g = drv.gic
    drv.wake()
    drv.spi(40)
    g.write_sysreg(0, "ICC_CTLR_EL1", 2)
    drv.pend_spi(40)
    g.read_sysreg(0, "ICC_IAR1_EL1")
    g.write_sysreg(0, "ICC_EOIR1_EL1", 40)
    assert g.read_sysreg(0, "ICC_RPR_EL1") == 0xFF and g.read(0x0800_0304)
    g.write_sysreg(0, "ICC_DIR_EL1", 40)
    assert not g.read(0x0800_0304)


def test_eoi_of_other_group_ignored(drv) -> None:  # type: ignore[no-untyped-def]
    """§4.8.2: the EOI must match the group of the highest active priority; otherwise
    (CONSTRAINED UNPREDICTABLE) the model, like QEMU, ignores it."""
    g = drv.gic
    drv.wake()
    drv.spi(41, prio=0x40, group1=False)
    drv.pend_spi(41)
    assert g.read_sysreg(0, "ICC_IAR0_EL1") == 41
    g.write_sysreg(0, "ICC_EOIR1_EL1", 41)
    assert g.read_sysreg(0, "ICC_AP0R0_EL1") == 1 << 8
    g.write_sysreg(0, "ICC_EOIR0_EL1", 41)
    assert g.read_sysreg(0, "ICC_AP0R0_EL1") == 0


def test_preemption_by_group_priority(drv) -> None:  # type: ignore[no-untyped-def]
    """§4.8.5: a pending interrupt preempts only with a higher group priority (bits above
    ICC_BPR1_EL1)."""
    g = drv.gic
    drv.wake()
    drv.spi(40, prio=0x60)
    drv.spi(41, prio=0x40)
    drv.pend_spi(40)
    g.read_sysreg(0, "ICC_IAR1_EL1")
    g.write_sysreg(0, "ICC_BPR1_EL1", 7)  # group priority = bit 7: 0x40 ~ 0x60
    drv.pend_spi(41)
    assert not g.outputs[0].irq and g.read_sysreg(0, "ICC_IAR1_EL1") == 1023
    g.write_sysreg(0, "ICC_BPR1_EL1", 3)
    assert g.outputs[0].irq and g.read_sysreg(0, "ICC_IAR1_EL1") == 41


def test_cbpr(gic: GICv3) -> None:
    """§12.2.5: with ICC_CTLR_EL1.CBPR, ICC_BPR1 reads BPR0 + 1 and ignores writes."""
    gic.write_sysreg(0, "ICC_BPR0_EL1", 4)
    gic.write_sysreg(0, "ICC_CTLR_EL1", 1)
    assert gic.read_sysreg(0, "ICC_BPR1_EL1") == 5
    gic.write_sysreg(0, "ICC_BPR1_EL1", 7)
    gic.write_sysreg(0, "ICC_CTLR_EL1", 0)
    assert gic.read_sysreg(0, "ICC_BPR1_EL1") == 3


def test_group0_is_fiq(drv) -> None:  # type: ignore[no-untyped-def]
    """§4.6.2: with one Security state Group 0 is signalled as FIQ, Group 1 as IRQ."""
    g = drv.gic
    drv.wake()
    drv.spi(41, prio=0x40, group1=False)
    drv.pend_spi(41)
    assert g.outputs[0].fiq and not g.outputs[0].irq
    assert g.read_sysreg(0, "ICC_IAR1_EL1") == 1023
    assert g.read_sysreg(0, "ICC_IAR0_EL1") == 41


def test_sgi1r_targets_and_irm(drv) -> None:  # type: ignore[no-untyped-def]
    """§12.2.22: TargetList with Aff3.Aff2.Aff1, IRM = 1 for all other PEs; an SGI is
    pending only where it is configured as the generated group."""
    g = drv.gic
    for c in (0, 1):
        g.write(drv.sgi(c) + 0x80, 0xFFFE)  # SGI 0 Group 0
    g.write_sysreg(0, "ICC_SGI1R_EL1", 5 << 24 | 0b10)
    assert g.read(drv.sgi(1) + 0x200) == 1 << 5 and g.read(drv.sgi(0) + 0x200) == 0
    g.write_sysreg(1, "ICC_SGI1R_EL1", 1 << 40 | 7 << 24)
    assert g.read(drv.sgi(0) + 0x200) == 1 << 7
    g.write_sysreg(0, "ICC_SGI1R_EL1", 0 << 24 | 0b11)
    assert g.read(drv.sgi(0) + 0x200) == 1 << 7
    g.write_sysreg(0, "ICC_SGI0R_EL1", 0 << 24 | 0b01)
    assert g.read(drv.sgi(0) + 0x200) == 1 << 7 | 1
    g.write_sysreg(0, "ICC_SGI1R_EL1", 1 << 16 | 9 << 24 | 0b11)  # Aff1 = 1: nobody
    g.write_sysreg(0, "ICC_SGI1R_EL1", 1 << 44 | 9 << 24 | 0b11)  # RS = 1: nobody
    assert not g.read(drv.sgi(1) + 0x200) & (1 << 9)


def test_access_by_encoding_routes_to_icv() -> None:
    """§12.1.5, §12.3: at EL1 with HCR_EL2.IMO the Group 1 encodings reach ICV_*, with
    FMO the Group 0 ones, CTLR/PMR/DIR/RPR with either; SGI registers then trap."""
    g = GICv3(GICv3Config())
    pmr = encoding(3, 0, 4, 6, 0)
    g.access_sysreg(0, pmr, el=1, imo=True, fmo=False, value=0x80)
    assert g.read_sysreg(0, "ICV_PMR_EL1") == 0x80 and g.read_sysreg(0, "ICC_PMR_EL1") == 0
    bpr0 = encoding(3, 0, 12, 8, 3)
    g.access_sysreg(0, bpr0, el=1, imo=True, fmo=False, value=5)  # IMO only: physical
    assert g.read_sysreg(0, "ICC_BPR0_EL1") == 5
    g.access_sysreg(0, bpr0, el=1, imo=False, fmo=True, value=4)
    assert g.read_sysreg(0, "ICV_BPR0_EL1") == 4
    with pytest.raises(SysRegUndefined):
        g.access_sysreg(0, encoding(3, 0, 12, 11, 5), el=1, imo=True, fmo=False, value=0)
    with pytest.raises(SysRegUndefined):
        g.access_sysreg(0, encoding(3, 4, 12, 11, 0), el=1, imo=True, fmo=True)
    assert g.access_sysreg(0, encoding(3, 4, 12, 11, 1), el=2, imo=False, fmo=False) == 0x90B8_0003
