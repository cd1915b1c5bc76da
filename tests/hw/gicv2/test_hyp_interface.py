"""GICH_* (virtual interface control) unit tests: IHI 0048B §5.3.

Test vectors TVnn are the register scripts ``scripts/regs/tvNN-*.regs`` (values observed on
QEMU 7.2).
"""

from __future__ import annotations

import pytest

from irqfwd.hw.gicv2.config import GICv2Config, QemuQuirks
from irqfwd.hw.gicv2.core import GicV2Core
from irqfwd.hw.gicv2.hyp_interface import (
    GICH_LR_MASK,
    GICH_MISR_EOI,
    GICH_MISR_LRENP,
    GICH_MISR_NP,
    GICH_MISR_U,
    GICH_MISR_VGRP0D,
    GICH_MISR_VGRP0E,
    GICH_MISR_VGRP1D,
    GICH_MISR_VGRP1E,
    HypInterface,
    make_lr,
)

HCR, VTR, VMCR, MISR, EISR0, EISR1, ELRSR0, ELRSR1, APR = (
    0x000,
    0x004,
    0x008,
    0x010,
    0x020,
    0x024,
    0x030,
    0x034,
    0x0F0,
)


def LR(n: int) -> int:
    return 0x100 + 4 * n


class FakeGic(GicV2Core):
    """Records the three hooks the virtual interface drives (docs/architecture.md)."""

    def __init__(self) -> None:
        super().__init__()
        self.maintenance: dict[int, bool] = {}
        self.virt_outputs: dict[int, tuple[bool, bool]] = {}
        self.deactivated: list[tuple[int, int]] = []
        self.maintenance_calls = 0

    def deactivate_physical(self, cpu: int, intid: int) -> None:
        self.deactivated.append((cpu, intid))

    def set_maintenance(self, cpu: int, level: bool) -> None:
        self.maintenance[cpu] = level
        self.maintenance_calls += 1

    def update_virtual_outputs(self, cpu: int, virq: bool, vfiq: bool) -> None:
        self.virt_outputs[cpu] = (virq, vfiq)


def make(config: GICv2Config | None = None, cpu: int = 0) -> tuple[HypInterface, FakeGic]:
    gic = FakeGic()
    hyp = HypInterface(cpu, config or GICv2Config(), gic)
    hyp.reset()
    return hyp, gic


# --------------------------------------------------------------------------- reset / IDs


def test_reset_values_tv1() -> None:
    """TV1 / §5.3.2–5.3.3: GICH_VTR 0x90000003, GICH_VMCR 0x004C0000, ELRSR0 0xF, rest 0."""
    hyp, gic = make()
    assert hyp.read(VTR) == 0x9000_0003
    assert hyp.read(VMCR) == 0x004C_0000
    assert hyp.read(ELRSR0) == 0xF
    assert hyp.read(ELRSR1) == 0
    assert hyp.read(HCR) == 0
    assert hyp.read(MISR) == 0
    assert hyp.read(EISR0) == 0
    assert hyp.read(APR) == 0
    assert all(hyp.read(LR(n)) == 0 for n in range(64))
    assert gic.maintenance[0] is False
    assert gic.virt_outputs[0] == (False, False)


@pytest.mark.parametrize(
    ("num_lrs", "vtr"), [(1, 0x9000_0000), (4, 0x9000_0003), (64, 0x9000_003F)]
)
def test_vtr_listregs(num_lrs: int, vtr: int) -> None:
    """~§5.3.2: GICH_VTR.ListRegs = num_lrs - 1, PREbits = PRIbits = 4 (5 bits); read-only."""
    hyp, _ = make(GICv2Config(num_lrs=num_lrs))
    assert hyp.read(VTR) == vtr
    hyp.write(VTR, 0)
    assert hyp.read(VTR) == vtr


def test_elrsr_reset_with_64_lrs() -> None:
    """~§5.3.6: every implemented LR is empty at reset; ELRSR1 covers LR32–63."""
    hyp, _ = make(GICv2Config(num_lrs=64))
    assert hyp.read(ELRSR0) == 0xFFFF_FFFF
    assert hyp.read(ELRSR1) == 0xFFFF_FFFF
    hyp, _ = make(GICv2Config(num_lrs=36))
    assert hyp.read(ELRSR1) == 0xF


def test_reset_clears_state() -> None:
    """~§5.3: reset returns HCR, VMCR, APR and the LRs to their reset values."""
    hyp, gic = make()
    hyp.write(HCR, 0x1)
    hyp.write(LR(0), make_lr(5, state=0, eoi=True))
    hyp.write(APR, 0x10)
    hyp.write(VMCR, 0xF800_0003)
    assert gic.maintenance[0] is True
    hyp.reset()
    assert (hyp.hcr, hyp.vmcr, hyp.apr, hyp.read_lr(0)) == (0, 0x004C_0000, 0, 0)
    assert gic.maintenance[0] is False


# --------------------------------------------------------------------------- write masks


def test_hcr_write_mask_tv2() -> None:
    """TV2 step 5 / §5.3.1: GICH_HCR ← 0xFFFFFFFF reads 0xF80000FF ([26:8] RES0)."""
    hyp, _ = make()
    hyp.write(HCR, 0xFFFF_FFFF)
    assert hyp.read(HCR) == 0xF800_00FF
    assert hyp.eoicount == 31


def test_lr_write_mask_tv2() -> None:
    """TV2 step 6 / §5.3.8: GICH_LR0 ← 0xFFFFFFFF reads 0xFF8FFFFF (bits 22:20 RES0)."""
    hyp, _ = make()
    hyp.write(LR(0), 0xFFFF_FFFF)
    assert hyp.read(LR(0)) == 0xFF8F_FFFF == GICH_LR_MASK


def test_hcr_attribute_uses_write_semantics() -> None:
    """docs/architecture.md: ``hcr``/``vmcr``/``apr`` assignments behave as register writes."""
    hyp, _ = make()
    hyp.hcr = 0xFFFF_FFFF
    assert hyp.hcr == 0xF800_00FF
    hyp.vmcr = 0
    assert hyp.vmcr == 0x004C_0000
    hyp.apr = 0x1_0000_0004
    assert hyp.apr == 0x4


def test_eoicount_increment_wraps() -> None:
    """~§5.3.1: EOICount [31:27] counts up and wraps 31 → 0 without touching other bits."""
    hyp, _ = make()
    hyp.write(HCR, 0xF800_0001)
    hyp.increment_eoicount()
    assert hyp.read(HCR) == 0x0000_0001
    hyp.increment_eoicount()
    assert hyp.read(HCR) == 0x0800_0001


# --------------------------------------------------------------------------- list registers


def test_lrs_beyond_num_lrs_are_raz_wi() -> None:
    """~§5.3.8: LRs ≥ GICH_VTR.ListRegs + 1 are RAZ/WI and change nothing."""
    hyp, gic = make()
    hyp.write(HCR, 0x1)
    hyp.write(LR(4), make_lr(7, state=0, eoi=True))
    hyp.write(LR(63), make_lr(8, state=1))
    assert hyp.read(LR(4)) == 0
    assert hyp.read(LR(63)) == 0
    assert hyp.read(EISR0) == 0
    assert hyp.read(ELRSR0) == 0xF
    assert gic.maintenance[0] is False


def test_extra_lr_storage_quirk_d14() -> None:
    """D14: on QEMU GICH_LR<num_lrs> is plain storage (masked); LR5+ RAZ; logic ignores it."""
    hyp, gic = make(GICv2Config(quirks=QemuQuirks(extra_lr_storage=True)))
    hyp.write(HCR, 0x1)
    hyp.write(LR(4), 0xFFFF_FFFF)
    hyp.write(LR(5), 0x1500_0032)
    assert hyp.read(LR(4)) == 0xFF8F_FFFF
    assert hyp.read(LR(5)) == 0
    hyp.write(LR(4), make_lr(9, state=0, eoi=True))
    assert hyp.read(EISR0) == 0
    assert hyp.read(ELRSR0) == 0xF
    assert hyp.read(MISR) == 0
    assert gic.maintenance[0] is False


@pytest.mark.parametrize(
    ("state", "hw", "eoi", "eisr", "elrsr"),
    [
        (0, False, False, 0, 1),
        (0, False, True, 1, 0),
        (0, True, False, 0, 1),
        (0, True, True, 0, 1),  # bit 19 is PhysicalID[9] when HW=1
        (1, False, True, 0, 0),
        (2, False, True, 0, 0),
        (3, True, False, 0, 0),
    ],
)
def test_eisr_elrsr_conditions(state: int, hw: bool, eoi: bool, eisr: int, elrsr: int) -> None:
    """~§5.3.5–5.3.6: EISR = invalid & !HW & EOI; ELRSR = invalid & (HW | !EOI)."""
    hyp, _ = make()
    value = (state << 28) | (1 << 31 if hw else 0) | (1 << 19 if eoi else 0) | 42
    hyp.write(LR(2), value)
    assert (hyp.read(EISR0) >> 2) & 1 == eisr
    assert (hyp.read(ELRSR0) >> 2) & 1 == elrsr
    assert hyp.read_eisr() == eisr << 2
    assert hyp.read_elrsr() == (0xB | elrsr << 2)


def test_eisr1_elrsr1_high_lrs() -> None:
    """~§5.3.5–5.3.6: GICH_EISR1/ELRSR1 bit n = LR 32+n."""
    hyp, _ = make(GICv2Config(num_lrs=64))
    hyp.write(LR(33), make_lr(3, state=0, eoi=True))
    hyp.write(LR(40), make_lr(4, state=1))
    assert hyp.read(EISR0) == 0
    assert hyp.read(EISR1) == 1 << 1
    assert hyp.read(ELRSR1) == 0xFFFF_FFFF & ~(1 << 1) & ~(1 << 8)
    assert hyp.read_eisr() == 1 << 33


# --------------------------------------------------------------------------- MISR


def test_misr_eoi_and_maintenance_tv28() -> None:
    """TV28 / §5.3.4: invalid HW=0 EOI=1 LR → EISR bit, MISR.EOI, maintenance asserted;
    rewriting the LR clears it."""
    hyp, gic = make()
    hyp.write(HCR, 0x1)
    hyp.write(LR(1), 0x0508_0033)
    assert hyp.read(EISR0) == 0x2
    assert hyp.read(ELRSR0) == 0xD
    assert hyp.read(MISR) == GICH_MISR_EOI
    assert gic.maintenance[0] is True and hyp.maintenance
    hyp.write(LR(1), 0)
    assert (hyp.read(EISR0), hyp.read(MISR), hyp.read(ELRSR0)) == (0, 0, 0xF)
    assert gic.maintenance[0] is False


def test_misr_computed_but_maintenance_gated_by_en_tv28_tv38() -> None:
    """TV28 step 5, TV38 / §5.3.1: with GICH_HCR.En = 0 the maintenance line stays low (MISR
    still reads the condition, as on QEMU 7.2); setting En asserts it."""
    hyp, gic = make()
    hyp.write(LR(0), make_lr(33, state=0, eoi=True))
    assert hyp.read(MISR) == GICH_MISR_EOI
    assert hyp.read(EISR0) == 0x1
    assert gic.maintenance[0] is False
    hyp.write(HCR, 0x1)
    assert gic.maintenance[0] is True
    hyp.write(HCR, 0x0)
    assert gic.maintenance[0] is False


def test_misr_underflow_and_no_pending_tv32() -> None:
    """TV32 / §5.3.4: U while ≤ 1 LR valid, NP while no LR pending."""
    hyp, gic = make()
    hyp.write(HCR, 0xB)
    assert hyp.read(MISR) == GICH_MISR_U | GICH_MISR_NP
    assert gic.maintenance[0] is True
    hyp.write(LR(0), 0x1000_0046)
    assert hyp.read(MISR) == GICH_MISR_U
    hyp.write(LR(1), 0x2000_0047)
    assert hyp.read(MISR) == 0
    assert gic.maintenance[0] is False


def test_misr_np_ignores_active_and_pending_active_lrs() -> None:
    """~§5.3.4: NP counts LRs in the pending state (01) only; active / pending+active do not."""
    hyp, _ = make()
    hyp.write(HCR, 0x9)  # En|NPIE
    hyp.write(LR(0), make_lr(1, state=2))
    hyp.write(LR(1), make_lr(2, state=3))
    assert hyp.read(MISR) == GICH_MISR_NP
    hyp.write(LR(2), make_lr(3, state=1))
    assert hyp.read(MISR) == 0


def test_misr_lrenp_follows_eoicount() -> None:
    """~§5.3.4: LRENP = LRENPIE & EOICount ≠ 0."""
    hyp, gic = make()
    hyp.write(HCR, 0x5)
    assert hyp.read(MISR) == 0
    hyp.write(HCR, 0x0800_0005)
    assert hyp.read(MISR) == GICH_MISR_LRENP
    assert gic.maintenance[0] is True
    hyp.write(HCR, 0x0800_0001)  # count without LRENPIE: no condition
    assert hyp.read(MISR) == 0
    assert gic.maintenance[0] is False


def test_misr_group_enable_conditions_tv33() -> None:
    """TV33 / §5.3.4: VGrp0E/D, VGrp1E/D follow GICV_CTLR.EnableGrp0/1 (via GICH_VMCR)."""
    hyp, _ = make()
    hyp.write(HCR, 0x91)
    hyp.write(VMCR, 0x1)
    assert hyp.read(MISR) == GICH_MISR_VGRP0E | GICH_MISR_VGRP1D == 0x90
    hyp.write(HCR, 0x61)
    assert hyp.read(MISR) == 0
    hyp.write(VMCR, 0x2)
    assert hyp.read(MISR) == GICH_MISR_VGRP0D | GICH_MISR_VGRP1E == 0x60


@pytest.mark.parametrize(
    ("hcr_bit", "ctlr", "misr"),
    [
        (0x10, 0x0, 0),
        (0x10, 0x1, GICH_MISR_VGRP0E),
        (0x20, 0x0, GICH_MISR_VGRP0D),
        (0x20, 0x1, 0),
        (0x40, 0x2, GICH_MISR_VGRP1E),
        (0x40, 0x1, 0),
        (0x80, 0x1, GICH_MISR_VGRP1D),
        (0x80, 0x3, 0),
    ],
)
def test_misr_group_conditions_each(hcr_bit: int, ctlr: int, misr: int) -> None:
    """~§5.3.4: each VGrp condition is ANDed with exactly its own GICH_HCR enable."""
    hyp, gic = make()
    hyp.write(VMCR, ctlr)
    hyp.write(HCR, 0x1 | hcr_bit)
    assert hyp.read_misr() == misr
    assert gic.maintenance[0] is bool(misr)


def test_maintenance_hook_called_only_on_change() -> None:
    """~§5.3.4: the maintenance PPI is a level; the hook is driven on level changes only."""
    hyp, gic = make()
    calls = gic.maintenance_calls
    hyp.write(HCR, 0x1)
    hyp.write(LR(0), make_lr(1, state=1))
    assert gic.maintenance_calls == calls
    hyp.write(LR(1), make_lr(2, state=0, eoi=True))
    hyp.write(LR(2), make_lr(3, state=0, eoi=True))
    assert gic.maintenance_calls == calls + 1
    hyp.write(LR(1), 0)
    assert gic.maintenance[0] is True  # LR2 still requests EOI maintenance
    hyp.write(LR(2), 0)
    assert gic.maintenance[0] is False
    assert gic.maintenance_calls == calls + 2


def test_maintenance_is_per_cpu() -> None:
    """~§5.3.4 / QEMU hw/arm/virt.c: each CPU interface has its own maintenance interrupt."""
    hyp, gic = make(cpu=1)
    hyp.write(HCR, 0x3)  # En|UIE, no valid LR
    assert gic.maintenance == {1: True}


# --------------------------------------------------------------------------- VMCR / APR


def test_vmcr_write_fields_and_clamp_tv34() -> None:
    """TV34 steps 2–3 / §5.3.3: VMCR fields; VMBP clamps to 2 and VMABP to 3."""
    hyp, _ = make()
    hyp.write(VMCR, 0x0840_0003)
    assert (hyp.v_ctlr, hyp.v_pmr, hyp.v_bpr, hyp.v_abpr) == (0x3, 0x08, 2, 3)
    assert hyp.read(VMCR) == 0x084C_0003
    hyp.write(VMCR, 0)
    assert hyp.read(VMCR) == 0x004C_0000
    hyp.write(VMCR, 0xFFFF_FFFF)
    assert hyp.read(VMCR) == 0xF8FC_021F  # RES0 bits dropped, CTLR mask 0x21F


def test_vmcr_abpr_clamped_even_with_d13() -> None:
    """D13: QEMU's VMCR write path still clamps VMABP to 3 (only GICV_ABPR writes do not)."""
    hyp, _ = make(GICv2Config(quirks=QemuQuirks(gicv_abpr_min_not_enforced=True)))
    hyp.write(VMCR, 0)
    assert hyp.v_abpr == 3


def test_apr_write_and_readback() -> None:
    """~§5.3.7: GICH_APR is a 32-bit read/write register."""
    hyp, _ = make()
    hyp.write(APR, 0x8000_0401)
    assert hyp.read(APR) == 0x8000_0401
    assert hyp.running_priority() == 0x00
    hyp.write(APR, 0x400)
    assert hyp.running_priority() == 0x50
    hyp.write(APR, 0)
    assert hyp.running_priority() == 0x100


# --------------------------------------------------------------------------- outputs


def test_lr_write_drives_virtual_outputs() -> None:
    """~§5.2 (virtual HPPI): a pending LR that passes En/PMR/running priority raises vIRQ;
    clearing it lowers vIRQ."""
    hyp, gic = make()
    hyp.write(HCR, 0x1)
    hyp.write(VMCR, 0xF800_0001)  # EnableGrp0, PMR 0xF8
    hyp.write(LR(0), 0x1500_0032)
    assert gic.virt_outputs[0] == (True, False)
    assert hyp.virq and not hyp.vfiq
    hyp.write(LR(0), 0)
    assert gic.virt_outputs[0] == (False, False)


def test_lr_write_group0_fiqen_drives_vfiq() -> None:
    """~§5.3.8 Grp1 field: a Group 0 LR with GICV_CTLR.FIQEn = 1 is signalled as vFIQ."""
    hyp, gic = make()
    hyp.write(HCR, 0x1)
    hyp.write(VMCR, 0xF800_0009)  # EnableGrp0|FIQEn
    hyp.write(LR(0), make_lr(40, priority=0x50))
    assert gic.virt_outputs[0] == (False, True)
    hyp.write(HCR, 0x0)
    assert gic.virt_outputs[0] == (False, False)


# --------------------------------------------------------------------------- MMIO decode


def test_reserved_and_narrow_accesses_raz_wi() -> None:
    """~§5.3: reserved GICH offsets are RAZ/WI; GICH registers are word-accessible only."""
    hyp, _ = make()
    hyp.write(0x00C, 0xFFFF_FFFF)
    assert hyp.read(0x00C) == 0
    assert hyp.read(0x0F4) == 0
    hyp.write(HCR, 0xFF, size=1)
    assert hyp.read(HCR) == 0
    hyp.write(HCR, 0x1)
    assert hyp.read(HCR, size=1) == 0
    assert hyp.read(VTR, size=2) == 0


def test_make_lr_encoding() -> None:
    """~§5.3.8 LR layout: TV27/TV29 example values."""
    assert make_lr(50, priority=0x50) == 0x1500_0032
    assert make_lr(60, priority=0x50, hw=True, physical_id=40) == 0x9500_A03C
    assert make_lr(51, priority=0x50, eoi=True) == 0x1508_0033
    assert make_lr(5, priority=0x10, cpuid=3) == 0x1100_0C05
    assert make_lr(0x51, priority=0x10, group1=True) == 0x5100_0051


# --------------------------------------------------------------------------- bulk world-switch ops


def _state(hyp: HypInterface, gic: FakeGic) -> tuple[object, ...]:
    """Everything a bulk operation must leave as the per-register sequence does."""
    return (
        [hyp.read(LR(n)) for n in range(hyp.num_lrs + 1)],
        hyp.read(HCR),
        hyp.read(MISR),
        hyp.read(EISR0),
        hyp.read(ELRSR0),
        hyp.hppi_lr,
        hyp.hppi_ok,
        hyp.maintenance,
        (hyp.virq, hyp.vfiq),
        gic.maintenance[0],
        gic.virt_outputs[0],
    )


_WORLD_LRS = [
    make_lr(40, state=1, priority=0x20, group1=True),  # pending
    make_lr(41, state=2, priority=0x10, hw=True, physical_id=41),  # active, HW
    make_lr(42, state=0, eoi=True),  # invalid + EOI: EISR, maintenance
    make_lr(43, state=3, priority=0x08),  # pending and active
]


def _loaded(config: GICv2Config | None = None, hcr: int = 0x0B) -> tuple[HypInterface, FakeGic]:
    """A running vCPU: groups enabled, PMR 0xF8, the LRs above, GICH_HCR (En|UIE|NPIE)."""
    hyp, gic = make(config)
    hyp.write(VMCR, (0x1F << 27) | 0x3)
    for n, v in enumerate(_WORLD_LRS):
        hyp.write(LR(n), v)
    hyp.write(HCR, hcr)
    return hyp, gic


@pytest.mark.parametrize("count", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("hcr", [None, 0])
def test_save_and_clear_lrs_matches_per_lr_sequence(count: int, hcr: int | None) -> None:
    """vgic-v2-sr.c ``save_lrs`` + ``__vgic_v2_save_state``: reading and zeroing LR0..count-1
    (and GICH_HCR = 0) in bulk ends in the same LRs, ELRSR/EISR/MISR, maintenance level and
    virtual outputs as the per-register GICH_LRn reads/writes (IHI 0048B §5.3.4–5.3.8)."""
    ref, ref_gic = _loaded()
    expected = [ref.read(LR(n)) for n in range(count)]
    for n in range(count):
        ref.write(LR(n), 0)
    if hcr is not None:
        ref.write(HCR, hcr)
    hyp, gic = _loaded()
    assert hyp.maintenance  # LR2 has EOI set: the level starts high
    values = hyp.save_and_clear_lrs(count, hcr)
    assert values == expected == _WORLD_LRS[:count]
    assert _state(hyp, gic) == _state(ref, ref_gic)


def test_save_and_clear_lrs_does_not_report_intermediate_levels() -> None:
    """The one documented difference: a single re-evaluation, so the maintenance level is
    reported once (dropped by GICH_HCR = 0) instead of per zeroed LR (IHI 0048B §5.3.4 U/NP)."""
    ref, ref_gic = _loaded()
    before = ref_gic.maintenance_calls
    for n in range(4):
        ref.write(LR(n), 0)
    ref.write(HCR, 0)
    hyp, gic = _loaded()
    hyp.save_and_clear_lrs(4, 0)
    assert gic.maintenance_calls - before == 1
    assert ref_gic.maintenance_calls - before >= 1
    assert gic.maintenance[0] is False and hyp.read(ELRSR0) == 0xF


def test_save_and_clear_lrs_beyond_num_lrs_d14() -> None:
    """D14: LR<num_lrs> is plain storage, read and cleared like the per-LR sequence; LRs
    past it are RAZ (IHI 0048B §5.3.8)."""
    cfg = GICv2Config(quirks=QemuQuirks(extra_lr_storage=True))
    hyp, _ = _loaded(cfg)
    hyp.write(LR(4), 0x1234)
    values = hyp.save_and_clear_lrs(6)
    assert values == [*_WORLD_LRS, 0x1234, 0]
    assert hyp.read(LR(4)) == 0
    assert hyp.read(ELRSR0) == 0xF and hyp.read(EISR0) == 0


@pytest.mark.parametrize("count", [1, 2, 4])
def test_restore_lrs_matches_per_lr_sequence(count: int) -> None:
    """``__vgic_v2_restore_state``: GICH_HCR then the used LRs in bulk end in the same state
    (masks, HPPI, maintenance, vIRQ/vFIQ) as one write per register (IHI 0048B §5.3.1, §5.3.8)."""
    ref, ref_gic = make()
    ref.write(VMCR, (0x1F << 27) | 0x3)
    for n in range(count):
        ref.write(LR(n), _WORLD_LRS[n] | 0x0070_0000)  # RES0 bits 22:20 dropped
    ref.write(HCR, 0x0B)
    hyp, gic = make()
    hyp.write(VMCR, (0x1F << 27) | 0x3)
    hyp.restore_lrs([v | 0x0070_0000 for v in _WORLD_LRS[:count]], 0x0B)
    assert _state(hyp, gic) == _state(ref, ref_gic)
    assert hyp.read(LR(0)) == _WORLD_LRS[0]


def test_restore_lrs_without_hcr_keeps_hcr() -> None:
    """``restore_lrs(values)`` alone writes only the LRs: GICH_HCR.En = 0 keeps vIRQ low
    (IHI 0048B §5.3.1), and a later GICH_HCR write raises it as after per-LR writes."""
    hyp, gic = make()
    hyp.write(VMCR, (0x1F << 27) | 0x3)
    hyp.restore_lrs([_WORLD_LRS[0]])
    assert hyp.read(HCR) == 0 and gic.virt_outputs[0] == (False, False)
    assert hyp.read(ELRSR0) == 0xE
    hyp.write(HCR, 1)
    assert gic.virt_outputs[0] == (True, False)
