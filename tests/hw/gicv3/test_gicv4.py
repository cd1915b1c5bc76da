"""GICv4 direct injection: IHI 0069H §5.3–5.4 (vPEs, residency, doorbells), §6.3
(the V commands: VMAPP, VMAPTI, VMOVI, VMOVP, VSYNC, VINVALL), §12.11.37–38 (GICR_VPROPBASER,
GICR_VPENDBASER).  Includes the per-interrupt counts: no vLPI is lost across VMAPP,
VMOVP or a vPE moving between redistributors."""

from __future__ import annotations

import random

from irqfwd.hw.gicv3 import GICv3

VPT1, VPT2 = 0x4048_0000, 0x404A_0000
VPROP = 0x4049_0000
DOORBELL = 8300


def _setup(drv, vpe_cpu: int = 0) -> None:  # type: ignore[no-untyped-def]
    g = drv.gic
    drv.wake()
    drv.lpis()
    drv.its()
    drv.mapd(0, bits=8)
    drv.mapc(0, 0)
    drv.mapc(1, 1)
    drv.vmapp(1, vpe_cpu, VPT1)
    drv.lpi_config(DOORBELL, 0xC0)
    for c in (0, 1):
        g.write_sysreg(c, "ICH_HCR_EL2", 1)
        g.write_sysreg(c, "ICH_VMCR_EL2", 0xF800_0002)


def test_resident_vpe_gets_vlpi_without_lr(drv4) -> None:  # type: ignore[no-untyped-def]
    """§5.4: a vLPI of the resident vPE is signalled at the virtual CPU interface (vIRQ);
    ICV_IAR1 returns it and clears its VPT bit; ICV_EOIR1 drops the priority; no doorbell."""
    g = drv4.gic
    _setup(drv4)
    drv4.vmapti(0, 2, 1, 8192, DOORBELL)
    drv4.lpi_config(8192, 0xA0, table=VPROP)
    drv4.resident(0, VPT1)
    assert g.msi(0, 2)
    assert g.outputs[0].virq and not g.outputs[0].irq
    assert g.read(VPT1 + 0x400, 1) == 1
    assert g.read_sysreg(0, "ICV_IAR1_EL1") == 8192
    assert g.read(VPT1 + 0x400, 1) == 0
    assert g.read_sysreg(0, "ICH_AP1R0_EL2") == 1 << 20
    g.write_sysreg(0, "ICV_EOIR1_EL1", 8192)
    assert g.read_sysreg(0, "ICV_RPR_EL1") == 0xFF
    assert g.read_sysreg(0, "ICH_HCR_EL2") >> 27 == 0


def test_non_resident_rings_doorbell(drv4) -> None:  # type: ignore[no-untyped-def]
    """§5.4.2: not resident → VPT bit set and the doorbell LPI pending on the vPE's
    redistributor; making the vPE resident delivers the vLPI; PendingLast on
    de-residency (§12.11.38)."""
    g = drv4.gic
    _setup(drv4)
    drv4.vmapti(0, 2, 1, 8192, DOORBELL)
    drv4.lpi_config(8192, 0xA0, table=VPROP)
    g.msi(0, 2)
    assert g.outputs[0].irq and g.read_sysreg(0, "ICC_IAR1_EL1") == DOORBELL
    g.write_sysreg(0, "ICC_EOIR1_EL1", DOORBELL)
    drv4.resident(0, VPT1)
    assert g.read(drv4.vlpi(0) + 0x78, 8) >> 61 == 0b101  # Valid, PendingLast RES1
    assert g.read_sysreg(0, "ICV_HPPIR1_EL1") == 8192
    drv4.resident(0, None)
    assert g.read(drv4.vlpi(0) + 0x78, 8) >> 61 == 0b001  # PendingLast: one left
    assert g.read_sysreg(0, "ICV_HPPIR1_EL1") == 1023


def test_vmovi_moves_pending_vlpi(drv4) -> None:  # type: ignore[no-untyped-def]
    """§6.3 VMOVI: the event moves to another vPE with its pending state."""
    g = drv4.gic
    _setup(drv4)
    drv4.vmapp(2, 1, VPT2)
    drv4.vmapti(0, 2, 1, 8192)
    g.msi(0, 2)
    drv4.cmd(0x21, 0, 2 << 32 | 2, 0)
    assert g.read(VPT1 + 0x400, 1) == 0 and g.read(VPT2 + 0x400, 1) == 1


def _drain(g: GICv3, cpu: int) -> list[int]:
    out = []
    while True:
        intid = g.read_sysreg(cpu, "ICV_IAR1_EL1")
        if intid == 1023:
            return out
        out.append(intid)
        g.write_sysreg(cpu, "ICV_EOIR1_EL1", intid)


def test_no_vlpi_lost_across_moves(drv4) -> None:  # type: ignore[no-untyped-def]
    """Per-interrupt counts (§5.4, §6.3 VMOVP): 2,000 MSIs to 64 events of one vPE
    while the hypervisor keeps descheduling it, VMOVPing it between the two PEs and
    re-VMAPPing it; every vLPI that became pending is acknowledged exactly once by the
    guest (vLPIs coalesce while pending: count per acknowledge = distinct pending
    episodes)."""
    g = drv4.gic
    _setup(drv4)
    for e in range(64):
        drv4.vmapti(0, e, 1, 8192 + e, DOORBELL)
        drv4.lpi_config(8192 + e, 0x80 + (e % 8) * 8, table=VPROP)
    rng = random.Random(7)
    where = 0  # PE the vPE is mapped to (VMAPP/VMOVP); None while descheduled
    resident = True
    drv4.resident(0, VPT1)
    pending: set[int] = set()
    sent = acked = doorbells = 0
    for step in range(2000):
        ev = rng.randrange(64)
        g.msi(0, ev)
        sent += 1
        pending.add(8192 + ev)
        r = rng.random()
        if r < 0.05:  # deschedule, VMOVP to the other PE, schedule there
            drv4.resident(where, None)
            where ^= 1
            drv4.vmovp(1, where)
            drv4.cmd(0x25, 0, 1 << 32)  # VSYNC
            drv4.resident(where, VPT1)
        elif r < 0.08:  # deschedule for a while: MSIs ring the doorbell
            drv4.resident(where, None)
            resident = False
        elif r < 0.10:  # re-VMAPP on the same PE (e.g. after a vPE table rebuild)
            drv4.vmapp(1, where, VPT1)
        if not resident and rng.random() < 0.3:
            for c in (0, 1):
                while (d := g.read_sysreg(c, "ICC_IAR1_EL1")) != 1023:
                    assert d == DOORBELL
                    doorbells += 1
                    g.write_sysreg(c, "ICC_EOIR1_EL1", d)
            drv4.resident(where, VPT1)
            resident = True
        if resident and step % 3 == 0:
            got = _drain(g, where)
            assert len(got) == len(set(got))
            assert set(got) <= pending
            acked += len(got)
            pending -= set(got)
    if not resident:
        drv4.resident(where, VPT1)
    got = _drain(g, where)
    acked += len(got)
    pending -= set(got)
    assert not pending, f"lost vLPIs: {sorted(pending)}"
    assert sent == 2000 and acked >= 64 and doorbells > 0
    assert _drain(g, where ^ 1) == []


def test_vmapp_unmapped_vpe_drops_translation(drv4) -> None:  # type: ignore[no-untyped-def]
    """§6.3 VMAPP V = 0 unmaps the vPE: its events no longer translate (the VPT keeps
    what was pending, and a later VMAPP of the same table sees it again)."""
    g = drv4.gic
    _setup(drv4)
    drv4.vmapti(0, 2, 1, 8192)
    g.msi(0, 2)
    drv4.vmapp(1, 0, VPT1, valid=False)
    assert not g.msi(0, 2)
    drv4.vmapp(1, 1, VPT1)
    drv4.lpi_config(8192, 0xA0, table=VPROP)
    drv4.resident(1, VPT1)
    assert g.read_sysreg(1, "ICV_IAR1_EL1") == 8192


def test_vinvall_rereads_vlpi_config(drv4) -> None:  # type: ignore[no-untyped-def]
    """§6.3 VINVALL: a changed vLPI configuration reaches the resident vPE."""
    g = drv4.gic
    _setup(drv4)
    drv4.vmapti(0, 2, 1, 8192)
    drv4.lpi_config(8192, 0xA0, enabled=False, table=VPROP)
    drv4.resident(0, VPT1)
    g.msi(0, 2)
    assert g.read_sysreg(0, "ICV_HPPIR1_EL1") == 1023
    drv4.lpi_config(8192, 0xA0, table=VPROP)
    drv4.cmd(0x2D, 0, 1 << 32)
    assert g.read_sysreg(0, "ICV_HPPIR1_EL1") == 8192
