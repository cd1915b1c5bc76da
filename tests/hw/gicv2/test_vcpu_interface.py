"""GICV_* (virtual CPU interface) unit tests: IHI 0048B §5.4.

Test vectors TVnn are the register scripts ``scripts/regs/tvNN-*.regs``; where QEMU 7.2
deviates (D1, D3, D4, D13, D18 of docs/conformance.md) the architectural result is the default and the QEMU
result is checked with the matching :class:`QemuQuirks` flag.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irqfwd.hw.gicv2.config import GICv2Config, QemuQuirks
from irqfwd.hw.gicv2.core import GicV2Core
from irqfwd.hw.gicv2.hyp_interface import HypInterface, make_lr
from irqfwd.hw.gicv2.vcpu_interface import VcpuInterface

# GICH offsets
HCR, VMCR, MISR, EISR0, ELRSR0, HAPR = 0x000, 0x008, 0x010, 0x020, 0x030, 0x0F0
# GICV offsets
CTLR, PMR, BPR, IAR, EOIR, RPR, HPPIR, ABPR = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x18, 0x1C
AIAR, AEOIR, AHPPIR, APR0, IIDR, DIR = 0x20, 0x24, 0x28, 0xD0, 0xFC, 0x1000


def LR(n: int) -> int:
    return 0x100 + 4 * n


class FakeGic(GicV2Core):
    """Records the three hooks the virtual interface drives (docs/architecture.md)."""

    def __init__(self) -> None:
        super().__init__()
        self.maintenance: dict[int, bool] = {}
        self.virt_outputs: dict[int, tuple[bool, bool]] = {}
        self.deactivated: list[tuple[int, int]] = []

    def deactivate_physical(self, cpu: int, intid: int) -> None:
        self.deactivated.append((cpu, intid))

    def set_maintenance(self, cpu: int, level: bool) -> None:
        self.maintenance[cpu] = level

    def update_virtual_outputs(self, cpu: int, virq: bool, vfiq: bool) -> None:
        self.virt_outputs[cpu] = (virq, vfiq)


def make(
    quirks: QemuQuirks | None = None, cpu: int = 0, **config: object
) -> tuple[HypInterface, VcpuInterface, FakeGic]:
    cfg = GICv2Config(quirks=quirks or QemuQuirks(), **config)  # type: ignore[arg-type]
    gic = FakeGic()
    hyp = HypInterface(cpu, cfg, gic)
    vcpu = VcpuInterface(hyp, cfg)
    hyp.reset()
    return hyp, vcpu, gic


def ven(hyp: HypInterface, vcpu: VcpuInterface, ctlr: int = 0x1) -> None:
    """Reference doc "VEN": GICH_HCR = 1, GICV_CTLR = ctlr, GICV_PMR = 0xF8."""
    hyp.write(HCR, 0x1)
    vcpu.write(CTLR, ctlr)
    vcpu.write(PMR, 0xF8)


# --------------------------------------------------------------------------- IDs, masks


def test_reset_and_id_values_tv1() -> None:
    """TV1 / §5.4: GICV_BPR 2, GICV_ABPR 3, GICV_RPR 0xFF, GICV_IIDR = config.gicv_iidr."""
    _, vcpu, _ = make()
    assert vcpu.read(BPR) == 2
    assert vcpu.read(ABPR) == 3
    assert vcpu.read(RPR) == 0xFF
    assert vcpu.read(IIDR) == 0x0002_043B
    assert vcpu.read(IAR) == 1023
    assert vcpu.read(HPPIR) == 1023
    _, vcpu, _ = make(gicv_iidr=0x0202_143B)
    assert vcpu.read(IIDR) == 0x0202_143B


def test_write_masks_tv2_tv14() -> None:
    """TV2 step 4, TV14 / §5.4: PMR keeps [7:3]; CTLR mask 0x21F; BPR min 2, ABPR min 3."""
    _, vcpu, _ = make()
    vcpu.write(PMR, 0xFF)
    assert vcpu.read(PMR) == 0xF8
    vcpu.write(CTLR, 0xFFFF_FFFF)
    assert vcpu.read(CTLR) == 0x21F
    vcpu.write(BPR, 0)
    assert vcpu.read(BPR) == 2
    vcpu.write(BPR, 7)
    assert vcpu.read(BPR) == 7
    vcpu.write(ABPR, 0)
    assert vcpu.read(ABPR) == 3
    vcpu.write(ABPR, 0xFF)
    assert vcpu.read(ABPR) == 7


def test_abpr_min_not_enforced_d13() -> None:
    """TV14 step 4, D13: QEMU clamps GICV_ABPR to the physical minimum 1; VMCR.VMABP reads 1."""
    hyp, vcpu, _ = make(QemuQuirks(gicv_abpr_min_not_enforced=True))
    vcpu.write(ABPR, 0)
    assert vcpu.read(ABPR) == 1
    assert (hyp.read(VMCR) >> 18) & 7 == 1


def test_apr_aliases() -> None:
    """~§5.4: GICV_APR0 is GICH_APR; GICV_APR1–3 are RAZ/WI."""
    hyp, vcpu, _ = make()
    vcpu.write(APR0, 0x400)
    assert hyp.read(HAPR) == 0x400
    hyp.write(HAPR, 0x8)
    assert vcpu.read(APR0) == 0x8
    assert vcpu.read(RPR) == 0x18
    vcpu.write(APR0 + 4, 0xFFFF_FFFF)
    assert vcpu.read(APR0 + 4) == 0
    assert vcpu.read(APR0 + 12) == 0
    assert hyp.read(HAPR) == 0x8


def test_vmcr_gicv_aliasing_tv34() -> None:
    """TV34 / §5.3.3: GICV_CTLR/PMR/BPR/ABPR writes appear in GICH_VMCR and vice versa."""
    hyp, vcpu, _ = make()
    vcpu.write(CTLR, 0x201)
    vcpu.write(PMR, 0xF0)
    vcpu.write(BPR, 3)
    vcpu.write(ABPR, 4)
    assert hyp.read(VMCR) == 0xF070_0201
    hyp.write(VMCR, 0x0840_0003)
    assert vcpu.read(CTLR) == 0x3
    assert vcpu.read(PMR) == 0x08
    assert vcpu.read(BPR) == 2
    assert vcpu.read(ABPR) == 3
    assert hyp.read(VMCR) == 0x084C_0003
    hyp.write(VMCR, 0)
    assert hyp.read(VMCR) == 0x004C_0000


def test_reserved_offsets_raz_wi() -> None:
    """~§5.4: reserved GICV offsets RAZ/WI; GICV registers are word-access only."""
    _, vcpu, _ = make()
    vcpu.write(0x40, 0xFFFF_FFFF)
    assert vcpu.read(0x40) == 0
    vcpu.write(CTLR, 0x1, size=1)
    assert vcpu.read(CTLR) == 0


# --------------------------------------------------------------------------- life cycle


def test_software_injection_lifecycle_tv27() -> None:
    """TV27 / ~§5.2: inject → HPPIR/IAR → active, APR bit 10 → EOIR → invalid, free, idle."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu)
    hyp.write(LR(0), 0x1500_0032)
    assert hyp.read(LR(0)) == 0x1500_0032
    assert hyp.read(ELRSR0) == 0xE
    assert hyp.read(MISR) == 0
    assert gic.virt_outputs[0] == (True, False)
    assert vcpu.read(HPPIR) == 0x32
    assert vcpu.read(IAR) == 0x32
    assert hyp.read(LR(0)) == 0x2500_0032
    assert vcpu.read(RPR) == 0x50
    assert hyp.read(HAPR) == 0x400
    assert vcpu.read(APR0) == 0x400
    assert vcpu.read(HPPIR) == 0x3FF
    assert gic.virt_outputs[0] == (False, False)
    vcpu.write(EOIR, 0x32)
    assert hyp.read(LR(0)) == 0x0500_0032
    assert hyp.read(ELRSR0) == 0xF
    assert hyp.read(EISR0) == 0
    assert hyp.read(HAPR) == 0
    assert vcpu.read(RPR) == 0xFF
    assert hyp.read(MISR) == 0
    assert gic.maintenance[0] is False


def test_eoi_maintenance_hw0_tv28() -> None:
    """TV28 / §5.3.4: EOI of an LR with EOI=1 → invalid, EISR bit, MISR.EOI, maintenance."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu)
    hyp.write(LR(1), 0x1508_0033)
    assert vcpu.read(IAR) == 0x33
    assert gic.maintenance[0] is False
    vcpu.write(EOIR, 0x33)
    assert hyp.read(LR(1)) == 0x0508_0033
    assert hyp.read(EISR0) == 0x2
    assert hyp.read(ELRSR0) == 0xD
    assert hyp.read(MISR) == 0x1
    assert gic.maintenance[0] is True
    hyp.write(LR(1), 0)
    assert (hyp.read(EISR0), hyp.read(MISR), hyp.read(ELRSR0)) == (0, 0, 0xF)
    assert gic.maintenance[0] is False


def test_hw1_eoi_deactivates_physical_tv29() -> None:
    """TV29 / ~§5.3.8 HW=1: guest EOIR deactivates PhysicalID 40 through the GIC, LR stays HW,
    no EISR bit, no maintenance."""
    hyp, vcpu, gic = make(cpu=1)
    ven(hyp, vcpu)
    hyp.write(LR(0), 0x9500_A03C)
    assert vcpu.read(IAR) == 0x3C
    assert hyp.read(LR(0)) == 0xA500_A03C
    assert gic.deactivated == []
    vcpu.write(EOIR, 0x3C)
    assert hyp.read(LR(0)) == 0x8500_A03C
    assert gic.deactivated == [(1, 40)]
    assert hyp.read(EISR0) == 0
    assert hyp.read(ELRSR0) == 0xF
    assert hyp.read(MISR) == 0
    assert gic.maintenance[1] is False


def test_hw1_physical_id_bit19_is_not_eoi() -> None:
    """~§5.3.8: with HW=1 bit 19 is PhysicalID[9]: PhysicalID 600 deactivates, no EOI maintenance."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu)
    hyp.write(LR(0), make_lr(60, priority=0x50, hw=True, physical_id=600))
    assert vcpu.read(IAR) == 60
    vcpu.write(EOIR, 60)
    assert gic.deactivated == [(0, 600)]
    assert hyp.read(EISR0) == 0
    assert gic.maintenance[0] is False


@pytest.mark.parametrize("pid", [0, 15, 1020, 1023])
def test_hw1_invalid_physical_id_ignored_d17(pid: int) -> None:
    """~§5.3.8 / D17: PhysicalID < 16 or ≥ 1020 → no physical deactivation (LR still deactivated)."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu)
    hyp.write(LR(0), make_lr(60, priority=0x50, hw=True, physical_id=pid))
    assert vcpu.read(IAR) == 60
    vcpu.write(EOIR, 60)
    assert gic.deactivated == []
    assert (hyp.read(LR(0)) >> 28) & 3 == 0


def test_hw1_virtual_eoimode1_tv30() -> None:
    """TV30 / §5.4: EOImode=1 → EOIR drops priority only; GICV_DIR deactivates the physical."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu, ctlr=0x201)
    hyp.write(LR(0), 0x9500_A03C)
    assert vcpu.read(IAR) == 0x3C
    vcpu.write(EOIR, 0x3C)
    assert hyp.read(LR(0)) == 0xA500_A03C
    assert hyp.read(HAPR) == 0
    assert vcpu.read(RPR) == 0xFF
    assert gic.deactivated == []
    vcpu.write(DIR, 0x3C)
    assert hyp.read(LR(0)) == 0x8500_A03C
    assert gic.deactivated == [(0, 40)]
    assert hyp.read(VMCR) == 0xF84C_0201


def test_dir_ignored_with_eoimode0() -> None:
    """~§5.4 GICV_DIR: UNPREDICTABLE with EOImode = 0; the model ignores it (as QEMU)."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu)
    hyp.write(LR(0), 0x9500_A03C)
    vcpu.read(IAR)
    hcr = hyp.read(HCR)
    vcpu.write(DIR, 0x3C)
    vcpu.write(DIR, 99)
    assert hyp.read(LR(0)) == 0xA500_A03C
    assert gic.deactivated == []
    assert hyp.read(HCR) == hcr


def test_eoicount_and_lrenp_tv31() -> None:
    """TV31 / §5.3.1: EOI with no LR after a priority drop → EOICount++; no drop → no count;
    DIR with no LR → EOICount++; wrap 31 → 0."""
    hyp, vcpu, gic = make()
    hyp.write(HCR, 0x5)
    vcpu.write(CTLR, 1)
    vcpu.write(PMR, 0xF8)
    hyp.write(HAPR, 0x1)
    assert vcpu.read(RPR) == 0x00
    vcpu.write(EOIR, 99)
    assert hyp.read(HCR) == 0x0800_0005
    assert hyp.read(HAPR) == 0
    assert hyp.read(MISR) == 0x4
    assert gic.maintenance[0] is True
    vcpu.write(EOIR, 99)
    assert hyp.read(HCR) == 0x0800_0005
    vcpu.write(CTLR, 0x201)
    vcpu.write(DIR, 98)
    assert hyp.read(HCR) == 0x1000_0005
    hyp.write(HCR, 0x5)
    assert hyp.read(MISR) == 0
    assert gic.maintenance[0] is False
    hyp.write(HCR, 0xF800_0001)
    hyp.write(HAPR, 1)
    vcpu.write(CTLR, 1)
    vcpu.write(EOIR, 97)
    assert hyp.read(HCR) == 0x0000_0001


def test_eoimode1_eoir_never_counts() -> None:
    """~§5.4: with EOImode = 1 EOIR drops priority only: no LR change, no EOICount."""
    hyp, vcpu, _ = make()
    ven(hyp, vcpu, ctlr=0x201)
    hyp.write(HAPR, 0x4)
    vcpu.write(EOIR, 99)
    assert hyp.read(HAPR) == 0
    assert hyp.eoicount == 0


def test_eoir_spurious_id_ignored() -> None:
    """~§3.2.5: EOIR writes of 1020–1023 are ignored (no priority drop)."""
    hyp, vcpu, _ = make()
    ven(hyp, vcpu)
    hyp.write(LR(0), 0x1500_0032)
    vcpu.read(IAR)
    vcpu.write(EOIR, 1023)
    assert hyp.read(HAPR) == 0x400
    assert hyp.read(LR(0)) == 0x2500_0032


def test_eoir_without_active_priority_default_vs_d18() -> None:
    """D18: with GICH_APR = 0 an EOIR is ignored (default) but QEMU still deactivates the LR;
    neither counts an EOI."""
    active = make_lr(0x40, state=2, priority=0x50)
    hyp, vcpu, _ = make()
    ven(hyp, vcpu)
    hyp.write(LR(0), active)
    vcpu.write(EOIR, 0x40)
    assert hyp.read(LR(0)) == active
    assert hyp.eoicount == 0
    hyp, vcpu, _ = make(QemuQuirks(virtual_eoi_qemu_rules=True))
    ven(hyp, vcpu)
    hyp.write(LR(0), active)
    vcpu.write(EOIR, 0x40)
    assert hyp.read(LR(0)) == active & ~(3 << 28)
    assert hyp.eoicount == 0
    vcpu.write(EOIR, 0x40)  # no active LR left, no APR bit dropped → still no count
    assert hyp.eoicount == 0


def test_eoir_pending_active_lr_becomes_pending() -> None:
    """~§5.4: deactivating a pending+active LR (11) leaves it pending (01) → HPPI again."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu)
    hyp.write(LR(0), make_lr(0x45, state=3, priority=0x50))
    hyp.write(HAPR, 0x400)
    assert vcpu.read(HPPIR) == 1023
    assert gic.virt_outputs[0] == (False, False)
    vcpu.write(EOIR, 0x45)
    assert (hyp.read(LR(0)) >> 28) & 3 == 1
    assert vcpu.read(HPPIR) == 0x45
    assert gic.virt_outputs[0] == (True, False)


def test_eoir_drops_highest_priority_bit_only() -> None:
    """~§3.2.1: EOIR clears the highest active priority (lowest GICH_APR bit) only."""
    hyp, vcpu, _ = make()
    ven(hyp, vcpu)
    hyp.write(HAPR, 0x0000_0410)
    vcpu.write(EOIR, 500)
    assert hyp.read(HAPR) == 0x400
    assert vcpu.read(RPR) == 0x50


# --------------------------------------------------------------------------- selection


def test_selection_priority_and_tie_tv35() -> None:
    """TV35 steps 1–2 / ~§5.2: lowest priority value wins; equal → lowest LR (D15)."""
    hyp, vcpu, _ = make()
    ven(hyp, vcpu)
    hyp.write(LR(0), 0x1100_0046)
    hyp.write(LR(1), 0x1080_0047)
    assert vcpu.read(HPPIR) == 0x47
    hyp.write(LR(1), 0x1100_0045)
    assert vcpu.read(HPPIR) == 0x46
    assert vcpu.read(IAR) == 0x46


def test_tie_break_lowest_virtual_id_when_configured() -> None:
    """~§5.2: tie order is IMPDEF; tie_break_lowest_lr=False picks the lowest VirtualID."""
    hyp, vcpu, _ = make(tie_break_lowest_lr=False)
    ven(hyp, vcpu)
    hyp.write(LR(0), 0x1100_0046)
    hyp.write(LR(1), 0x1100_0045)
    hyp.write(LR(2), 0x1080_0050)
    assert vcpu.read(HPPIR) == 0x50
    hyp.write(LR(2), 0)
    assert vcpu.read(HPPIR) == 0x45


def test_vsgi_cpuid_tv35() -> None:
    """TV35 step 3 / ~§5.3.8 CPUID: vSGI IAR returns CPUID << 10; HPPIR too (D4: QEMU omits it);
    EOIR with that value deactivates the LR."""
    hyp, vcpu, _ = make()
    ven(hyp, vcpu)
    hyp.write(LR(2), 0x1100_0C05)
    assert vcpu.read(HPPIR) == 0xC05
    assert vcpu.read(IAR) == 0xC05
    vcpu.write(EOIR, 0xC05)
    assert hyp.read(LR(2)) == 0x0100_0C05
    hyp, vcpu, _ = make(QemuQuirks(hppir_no_cpuid=True))
    ven(hyp, vcpu)
    hyp.write(LR(2), 0x1100_0C05)
    assert vcpu.read(HPPIR) == 0x005
    assert vcpu.read(IAR) == 0xC05


def test_vsgi_eoi_must_match_cpuid_unless_d18() -> None:
    """~§5.3.1 EOICount: a vSGI EOI with the wrong CPUID matches no LR → EOICount (D18: ID only)."""
    hyp, vcpu, _ = make()
    ven(hyp, vcpu)
    hyp.write(LR(0), 0x1100_0C05)
    vcpu.read(IAR)
    vcpu.write(EOIR, 0x405)
    assert (hyp.read(LR(0)) >> 28) & 3 == 2
    assert hyp.eoicount == 1
    hyp, vcpu, _ = make(QemuQuirks(virtual_eoi_qemu_rules=True))
    ven(hyp, vcpu)
    hyp.write(LR(0), 0x1100_0C05)
    vcpu.read(IAR)
    vcpu.write(EOIR, 0x405)
    assert (hyp.read(LR(0)) >> 28) & 3 == 0
    assert hyp.eoicount == 0


def test_hw1_low_virtual_id_has_no_cpuid() -> None:
    """~§5.3.8: CPUID exists only for HW=0; an HW=1 LR with VirtualID < 16 returns the bare ID."""
    hyp, vcpu, _ = make()
    ven(hyp, vcpu)
    hyp.write(LR(0), make_lr(5, priority=0x50, hw=True, physical_id=0x27))
    assert vcpu.read(IAR) == 5


def test_active_pending_lr_not_selected_tv35() -> None:
    """TV35 step 4 / ~§5.2: a pending+active LR is not the HPPI and not free."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu)
    hyp.write(LR(2), 0x3100_0050)
    assert vcpu.read(HPPIR) == 0x3FF
    assert vcpu.read(IAR) == 0x3FF
    assert not (hyp.read(ELRSR0) >> 2) & 1
    assert gic.virt_outputs[0] == (False, False)


def test_group_disabled_lr_not_selected() -> None:
    """~§5.2: only LRs whose group is enabled in GICV_CTLR are candidates."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu, ctlr=0x0)
    hyp.write(LR(0), make_lr(0x40, priority=0x10))
    hyp.write(LR(1), make_lr(0x41, priority=0x20, group1=True))
    assert vcpu.read(HPPIR) == 1023
    vcpu.write(CTLR, 0x6)  # EnableGrp1|AckCtl
    assert vcpu.read(HPPIR) == 0x41
    assert gic.virt_outputs[0] == (True, False)
    vcpu.write(CTLR, 0x7)
    assert vcpu.read(HPPIR) == 0x40


def test_group_filter_d5_applies_to_virtual_hppi() -> None:
    """D5 (QEMU, also on GICV): the HPPI is chosen across both groups while some group is
    enabled; GICV_IAR acknowledges it even if its group is disabled, without any vIRQ.
    Architecture: a disabled group's LRs are not candidates."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu, ctlr=0x5)  # EnableGrp0|AckCtl, Group 1 disabled
    hyp.write(LR(0), 0x5100_0051)  # Group 1, prio 0x10
    hyp.write(LR(1), 0x1180_0052)  # Group 0, prio 0x18
    assert vcpu.read(HPPIR) == 0x52
    assert gic.virt_outputs[0] == (True, False)
    assert vcpu.read(IAR) == 0x52

    hyp, vcpu, gic = make(QemuQuirks(no_per_irq_group_filter=True))
    ven(hyp, vcpu, ctlr=0x5)
    hyp.write(LR(0), 0x5100_0051)
    hyp.write(LR(1), 0x1180_0052)
    assert vcpu.read(HPPIR) == 0x51
    assert gic.virt_outputs[0] == (False, False)  # HPPI's group disabled: nothing signalled
    assert vcpu.read(IAR) == 0x51
    assert vcpu.read(IAR) == 1023  # 0x18 does not preempt running priority 0x10
    vcpu.write(CTLR, 0x0)  # no group enabled: no HPPI at all
    assert vcpu.read(HPPIR) == 1023


def test_group1_ackctl_tv36() -> None:
    """TV36 / §5.4: Group 1 HPPI with AckCtl=0 → HPPIR/IAR 1022; AIAR acknowledges it
    (D1: QEMU reads 0); AckCtl=1 → IAR acknowledges, APR bit 2."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu, ctlr=0x3)
    hyp.write(LR(3), 0x5100_0051)
    assert gic.virt_outputs[0] == (True, False)
    assert vcpu.read(HPPIR) == 0x3FE
    assert vcpu.read(IAR) == 0x3FE
    assert vcpu.read(AHPPIR) == 0x51
    assert vcpu.read(AIAR) == 0x51
    assert hyp.read(LR(3)) == 0x6100_0051
    vcpu.write(AEOIR, 0x51)
    assert hyp.read(LR(3)) == 0x4100_0051

    hyp, vcpu, _ = make(QemuQuirks(no_aliased_regs=True))
    ven(hyp, vcpu, ctlr=0x3)
    hyp.write(LR(3), 0x5100_0051)
    assert vcpu.read(AIAR) == 0
    assert vcpu.read(AHPPIR) == 0
    assert hyp.read(LR(3)) == 0x5100_0051
    vcpu.write(CTLR, 0x7)
    assert vcpu.read(IAR) == 0x51
    assert hyp.read(LR(3)) == 0x6100_0051
    assert hyp.read(HAPR) == 0x4
    vcpu.write(AEOIR, 0x51)  # ignored on QEMU
    assert hyp.read(HAPR) == 0x4
    vcpu.write(EOIR, 0x51)
    assert hyp.read(LR(3)) == 0x4100_0051


def test_aiar_with_group0_hppi_is_spurious() -> None:
    """~§5.4 (GICC_AIAR analogue): AIAR/AHPPIR report only a Group 1 HPPI."""
    hyp, vcpu, _ = make()
    ven(hyp, vcpu, ctlr=0x3)
    hyp.write(LR(0), make_lr(0x40, priority=0x10))
    hyp.write(LR(1), make_lr(0x41, priority=0x20, group1=True))
    assert vcpu.read(AHPPIR) == 1023
    assert vcpu.read(AIAR) == 1023
    assert (hyp.read(LR(0)) >> 28) & 3 == 1


def test_pmr_is_strict_tv37() -> None:
    """TV37 / §5.4: priority 0xF8 is not < PMR 0xF8 → no vIRQ, IAR 1023; HPPIR reports it
    by the architecture, 1023 with D3 (QEMU)."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu)
    hyp.write(LR(0), 0x1F80_005A)
    assert gic.virt_outputs[0] == (False, False)
    assert vcpu.read(HPPIR) == 0x5A
    assert vcpu.read(IAR) == 0x3FF
    hyp, vcpu, gic = make(QemuQuirks(hppir_masked_by_pmr=True))
    ven(hyp, vcpu)
    hyp.write(LR(0), 0x1F80_005A)
    assert vcpu.read(HPPIR) == 0x3FF
    assert gic.virt_outputs[0] == (False, False)
    hyp.write(LR(0), make_lr(0x5A, priority=0xF0))
    assert vcpu.read(HPPIR) == 0x5A
    assert gic.virt_outputs[0] == (True, False)


def test_en_gates_signalling() -> None:
    """~§5.3.1 GICH_HCR.En: with En = 0 no vIRQ, IAR and HPPIR return 1023."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu)
    hyp.write(HCR, 0x0)
    hyp.write(LR(0), 0x1500_0032)
    assert gic.virt_outputs[0] == (False, False)
    assert vcpu.read(IAR) == 1023
    assert vcpu.read(HPPIR) == 1023  # as observed on QEMU 7.2 (architecture text silent)
    assert hyp.read(LR(0)) == 0x1500_0032
    hyp.write(HCR, 0x1)
    assert gic.virt_outputs[0] == (True, False)
    assert vcpu.read(IAR) == 0x32


def test_vfiq_for_group0_with_fiqen() -> None:
    """~§5.3.8 Grp1 / §4.4.1 FIQEn: Group 0 → vFIQ if FIQEn else vIRQ; Group 1 → always vIRQ."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu, ctlr=0xB)  # Grp0|Grp1|FIQEn
    hyp.write(LR(0), make_lr(0x40, priority=0x50))
    assert gic.virt_outputs[0] == (False, True)
    vcpu.write(CTLR, 0x3)
    assert gic.virt_outputs[0] == (True, False)
    hyp.write(LR(0), make_lr(0x40, priority=0x50, group1=True))
    vcpu.write(CTLR, 0xB)
    assert gic.virt_outputs[0] == (True, False)


def test_preemption_by_running_priority() -> None:
    """~§3.3.4 / ~§5.2: only a higher *group* priority than the virtual running
    priority is signalled; equal priority waits for the EOI."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu)
    hyp.write(LR(0), make_lr(0x40, priority=0x50))
    assert vcpu.read(IAR) == 0x40
    hyp.write(LR(1), make_lr(0x41, priority=0x50))
    assert vcpu.read(HPPIR) == 0x41
    assert vcpu.read(IAR) == 1023
    assert gic.virt_outputs[0] == (False, False)
    hyp.write(LR(2), make_lr(0x42, priority=0x48))
    assert gic.virt_outputs[0] == (True, False)
    assert vcpu.read(IAR) == 0x42
    assert vcpu.read(RPR) == 0x48
    assert hyp.read(HAPR) == (1 << 10) | (1 << 9)
    vcpu.write(EOIR, 0x42)
    assert vcpu.read(RPR) == 0x50
    vcpu.write(EOIR, 0x40)
    assert vcpu.read(RPR) == 0xFF
    assert gic.virt_outputs[0] == (True, False)
    assert vcpu.read(IAR) == 0x41


def test_binary_point_sets_group_priority() -> None:
    """~§3.3.4: GICV_BPR=3 → group priority [7:4]: 0x48 does not preempt 0x50 (both 0x40),
    0x38 does; the APR bit recorded is that of the group priority."""
    hyp, vcpu, _ = make()
    ven(hyp, vcpu)
    vcpu.write(BPR, 3)
    hyp.write(LR(0), make_lr(0x40, priority=0x48))
    assert vcpu.read(IAR) == 0x40
    assert hyp.read(HAPR) == 1 << 8  # group priority 0x40
    assert vcpu.read(RPR) == 0x40
    hyp.write(LR(1), make_lr(0x41, priority=0x40))
    assert vcpu.read(IAR) == 1023
    hyp.write(LR(2), make_lr(0x42, priority=0x38))
    assert vcpu.read(IAR) == 0x42
    assert vcpu.read(RPR) == 0x30


def test_abpr_for_group1_unless_cbpr() -> None:
    """~§3.3.4: Group 1 uses GICV_ABPR (mask 0xFF << ABPR) unless GICV_CTLR.CBPR = 1."""
    hyp, vcpu, _ = make()
    ven(hyp, vcpu, ctlr=0x7)
    vcpu.write(BPR, 2)
    vcpu.write(ABPR, 5)  # group priority [7:5]
    lr = make_lr(0x41, priority=0x58, group1=True)
    assert hyp.group_priority(lr) == 0x40
    vcpu.write(CTLR, 0x17)  # CBPR: BPR 2 → [7:3]
    assert hyp.group_priority(lr) == 0x58
    assert hyp.group_priority(make_lr(0x40, priority=0x58)) == 0x58


def test_group1_preemption_uses_abpr() -> None:
    """~§3.3.4 / ~§5.2: a Group 1 LR preempts by its ABPR group priority (CBPR=0):
    priority 0x58 with ABPR 5 → group 0x40 < running 0x50; with CBPR=1 (BPR 2) it is 0x58."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu, ctlr=0x7)
    vcpu.write(ABPR, 5)
    hyp.write(HAPR, 1 << 10)  # running priority 0x50
    hyp.write(LR(0), make_lr(0x41, priority=0x58, group1=True))
    assert gic.virt_outputs[0] == (True, False)
    vcpu.write(CTLR, 0x17)
    assert gic.virt_outputs[0] == (False, False)
    assert vcpu.read(IAR) == 1023


def test_apr_write_changes_running_priority_and_outputs() -> None:
    """~§5.3.7: writing GICH_APR (context restore) changes the virtual running priority."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu)
    hyp.write(LR(0), make_lr(0x40, priority=0x50))
    assert gic.virt_outputs[0] == (True, False)
    hyp.write(HAPR, 1 << 10)  # running priority 0x50
    assert gic.virt_outputs[0] == (False, False)
    hyp.write(HAPR, 1 << 11)  # 0x58
    assert gic.virt_outputs[0] == (True, False)


def test_named_fast_methods_match_mmio() -> None:
    """docs/architecture.md: read_iar/write_eoir/write_dir/read_hppir = the register access."""
    hyp, vcpu, gic = make()
    ven(hyp, vcpu, ctlr=0x201)
    hyp.write_lr(0, make_lr(27, priority=0xA0, hw=True, physical_id=27))
    assert vcpu.read_hppir() == 27
    assert vcpu.read_iar() == 27
    assert hyp.read_lr(0) >> 28 == 0xA
    vcpu.write_eoir(27)
    assert hyp.read_lr(0) >> 28 == 0xA
    vcpu.write_dir(27)
    assert gic.deactivated == [(0, 27)]
    assert hyp.read_elrsr() == 0xF


# --------------------------------------------------------------------------- property test

LR_STATES = st.sampled_from([1, 1, 1, 0, 2, 3])


def _reference(hyp: HypInterface) -> tuple[int, int, int, int, bool, bool, bool]:
    """From-scratch EISR, ELRSR, MISR, HPPI LR, vIRQ, vFIQ, maintenance (IHI 0048B §5.3.4–5.3.6, §5.2)."""
    lrs = [hyp.read_lr(n) for n in range(hyp.num_lrs)]
    state = [(v >> 28) & 3 for v in lrs]
    hw = [bool(v >> 31) for v in lrs]
    eoi = [bool(v >> 19 & 1) and not hw[n] for n, v in enumerate(lrs)]
    eisr = sum(1 << n for n in range(len(lrs)) if state[n] == 0 and eoi[n])
    elrsr = sum(1 << n for n in range(len(lrs)) if state[n] == 0 and not eoi[n])
    hcr, vmcr = hyp.read(HCR), hyp.read(VMCR)
    ctlr, pmr = vmcr & 0x3FF, (vmcr >> 27) << 3
    bpr, abpr = (vmcr >> 21) & 7, (vmcr >> 18) & 7
    valid = sum(1 for s in state if s)
    pending = [n for n in range(len(lrs)) if state[n] == 1]
    misr = int(eisr != 0)
    misr |= 2 * int(bool(hcr & 2) and valid <= 1)
    misr |= 4 * int(bool(hcr & 4) and hcr >> 27 != 0)
    misr |= 8 * int(bool(hcr & 8) and not pending)
    g0, g1 = bool(ctlr & 1), bool(ctlr & 2)
    misr |= 0x10 * int(bool(hcr & 0x10) and g0) | 0x20 * int(bool(hcr & 0x20) and not g0)
    misr |= 0x40 * int(bool(hcr & 0x40) and g1) | 0x80 * int(bool(hcr & 0x80) and not g1)
    if hyp.config.quirks.no_per_irq_group_filter:  # D5: any group enabled → all candidates
        enabled = [n for n in pending if hcr & 1 and (g0 or g1)]
    else:
        enabled = [n for n in pending if hcr & 1 and (g1 if lrs[n] >> 30 & 1 else g0)]
    cands = [(((lrs[n] >> 23) & 0x1F) << 3, n) for n in enabled]
    hppi = min(cands)[1] if cands else -1
    virq = vfiq = False
    if hppi >= 0 and hcr & 1:
        v = lrs[hppi]
        prio = ((v >> 23) & 0x1F) << 3
        grp1 = bool(v >> 30 & 1)
        gmask = (0xFF << abpr) if grp1 and not ctlr & 0x10 else (0xFF << (bpr + 1))
        if hyp.config.quirks.preemption_qemu_rules:  # X2: QEMU preempts on the full priority
            gmask = 0xFF
        apr = hyp.read(HAPR)
        rp = min([k << 3 for k in range(32) if apr >> k & 1], default=0x100)
        if prio < pmr and prio & gmask & 0xFF < rp and (g1 if grp1 else g0):
            vfiq = not grp1 and bool(ctlr & 8)
            virq = not vfiq
    return eisr, elrsr, misr, hppi, virq, vfiq, bool(hcr & 1) and misr != 0


PRIO_FIELDS = st.sampled_from([2, 2, 3, 8, 9, 0x1F]) | st.integers(0, 0x1F)
VMCRS = st.builds(
    lambda pm, bp, abp, ctl: pm << 27 | bp << 21 | abp << 18 | ctl,
    st.sampled_from([0x1F, 0x1F, 0x10, 0x1]),
    st.integers(0, 7),
    st.integers(0, 7),
    st.integers(0, 0x3FF),
)
HCRS = st.integers(0, 0xFFFF_FFFF) | st.integers(0, 0xFF).map(lambda v: v | 1)
APRS = st.sampled_from([0, 1 << 1, 1 << 2, 1 << 3, 0x24]) | st.integers(0, 0xFFFF_FFFF)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.just("lr"),
                st.integers(0, 3),
                LR_STATES,
                PRIO_FIELDS,
                st.integers(0, 0xFFFF_FFFF),
            ),
            st.tuples(st.just("iar")),
            st.tuples(st.just("eoir"), st.integers(0, 3)),
            st.tuples(st.just("dir"), st.integers(0, 3)),
            st.tuples(st.just("hcr"), HCRS),
            st.tuples(st.just("vmcr"), VMCRS),
            st.tuples(st.just("apr"), APRS),
        ),
        min_size=4,
        max_size=40,
    )
)
@pytest.mark.parametrize("quirks", [QemuQuirks(), QemuQuirks.qemu_7_2()], ids=["spec", "qemu"])
def test_incremental_state_matches_from_scratch(
    quirks: QemuQuirks, ops: list[tuple[Any, ...]]
) -> None:
    """~§5.3.4–5.3.6, ~§5.2: after any sequence of GICH/GICV accesses the incrementally kept
    EISR/ELRSR/MISR, virtual HPPI, vIRQ/vFIQ and maintenance level equal a from-scratch
    evaluation of the LRs (and the hooks saw the same levels); architectural and QEMU mode."""
    hyp, vcpu, gic = make(quirks)
    hyp.write(HCR, 0x1)
    hyp.write(VMCR, 0xF800_0007)  # both groups, AckCtl, PMR 0xF8
    for op in ops:
        kind = op[0]
        if kind == "lr":
            _, n, state, prio, bits = op
            value = (bits & 0xC00F_FC1F) | state << 28 | prio << 23
            hyp.write(LR(n), value)
        elif kind == "iar":
            vcpu.read(IAR)
        elif kind in ("eoir", "dir"):
            vid = hyp.read_lr(op[1]) & 0x1FFF
            vcpu.write(EOIR if kind == "eoir" else DIR, vid)
        elif kind == "hcr":
            hyp.write(HCR, op[1])
        elif kind == "vmcr":
            hyp.write(VMCR, op[1])
        else:
            hyp.write(HAPR, op[1])
        eisr, elrsr, misr, hppi, virq, vfiq, maint = _reference(hyp)
        assert hyp.read_eisr() == eisr
        assert hyp.read_elrsr() == elrsr
        assert hyp.read(MISR) == misr
        if hppi >= 0:
            assert hyp.hppi_lr == hppi
        else:
            assert vcpu.read(HPPIR) == 1023
        assert (hyp.virq, hyp.vfiq) == (virq, vfiq)
        assert gic.virt_outputs[0] == (virq, vfiq)
        assert gic.maintenance[0] is maint


def test_x2_virtual_preemption_on_full_priority() -> None:
    """Conformance X2 (QEMU 7.2, found by tests/qemu/test_diff_random.py): QEMU's GICV decides
    preemption on the full LR priority, not the group priority (IHI 0048B §3.3.4 says group).

    GICV_BPR=3 (group = bits [7:4]), GICH_APR bit 1 (running priority 0x08), a Group 0 LR at
    priority 0x08: its group priority 0x00 preempts architecturally; with X2, 0x08 does not.
    """
    from irqfwd.hw.gicv2 import GICv2, GICv2Config

    for quirks, expected in ((False, 0x10), (True, 0x3FF)):
        cfg = GICv2Config.qemu_virt(1) if quirks else GICv2Config(num_cpus=1)
        gic = GICv2(cfg)
        H, V = cfg.gich_base, cfg.gicv_base
        gic.write(H + 0x000, 0x1)  # GICH_HCR.En
        gic.write(H + 0x008, 0x1F << 27 | 3 << 21 | 3 << 18 | 0x1)  # VMCR: PMR 0xF8, BPR 3, EnableGrp0
        gic.write(H + 0x0F0, 0x2)  # GICH_APR: active group priority 0x08
        gic.write(H + 0x100, 0x1 << 28 | 0x1 << 23 | 0x10)  # LR0: pending, priority 0x08, vINTID 16
        assert gic.read(V + 0x00C) == expected


def test_x7_hw_lr_below_16_cpuid_bits() -> None:
    """Conformance X7 (QEMU 7.2): GICV_IAR of a HW=1 LR with VirtualID < 16 returns LR bits
    [12:10] (the low PhysicalID bits) as a CPUID; architecturally (IHI 0048B §5.3.8, GICH_LR.CPUID
    only exists when HW=0) it returns the bare VirtualID.
    """
    from irqfwd.hw.gicv2 import GICv2, GICv2Config

    for quirks, expected in ((False, 0x005), (True, 0x1405)):
        cfg = GICv2Config.qemu_virt(1) if quirks else GICv2Config(num_cpus=1)
        gic = GICv2(cfg)
        H, V = cfg.gich_base, cfg.gicv_base
        gic.write(H + 0x000, 0x1)  # GICH_HCR.En
        gic.write(V + 0x000, 0x1)  # GICV_CTLR.EnableGrp0
        gic.write(V + 0x004, 0xF8)  # GICV_PMR
        # LR0: HW=1, pending, priority field 2, PhysicalID 37 (bits [12:10] = 5), VirtualID 5
        gic.write(H + 0x100, 1 << 31 | 1 << 28 | 2 << 23 | 37 << 10 | 5)
        assert gic.read(V + 0x00C) == expected


def test_x2_virtual_1022_before_preemption() -> None:
    """Conformance X2 (QEMU 7.2, found by tests/qemu/test_diff_random.py): QEMU's GICV_IAR
    answers 1022 for a Group 1 HPPI with GICV_CTLR.AckCtl = 0 before checking the running
    priority; architecturally (IHI 0048B §5.4, §4.4.4) an HPPI that cannot preempt gives 1023.

    GICH_APR bit 0 (running priority 0x00), a pending Group 1 LR at priority 0x00.
    """
    from irqfwd.hw.gicv2 import GICv2, GICv2Config

    for quirks, expected in ((False, 0x3FF), (True, 0x3FE)):
        cfg = GICv2Config.qemu_virt(1) if quirks else GICv2Config(num_cpus=1)
        gic = GICv2(cfg)
        H, V = cfg.gich_base, cfg.gicv_base
        gic.write(H + 0x000, 0x1)  # GICH_HCR.En
        gic.write(V + 0x000, 0x3)  # GICV_CTLR: EnableGrp0 | EnableGrp1, AckCtl = 0
        gic.write(V + 0x004, 0xF8)  # GICV_PMR
        gic.write(H + 0x0F0, 0x1)  # GICH_APR: running priority 0x00
        gic.write(H + 0x100, 0x5000_0000)  # LR0: Grp1, pending, priority 0, VirtualID 0
        assert gic.read(V + 0x00C) == expected
