"""GICH/GICV wired into the whole GICv2 device, through ``GICv2.read/write`` (MMIO only).

Checks the hooks between the virtual interface and the physical GIC: HW=1 deactivation
reaching the distributor (IHI 0048B §5.3.8, Arm XML GICH_LR.HW), the maintenance PPI 25
(QEMU hw/arm/virt.c), vIRQ/vFIQ outputs, banking per CPU.  TVnn = the register script
``scripts/regs/tvNN-*.regs``.
"""

from __future__ import annotations

from irqfwd.hw.gicv2 import GICv2, GICv2Config, QemuQuirks

D, C, H, V = 0x0800_0000, 0x0801_0000, 0x0803_0000, 0x0804_0000
GICD_CTLR, ISENABLER, ISPENDR, ISACTIVER, IPRIORITYR, ITARGETSR = (
    0x000,
    0x100,
    0x200,
    0x300,
    0x400,
    0x800,
)
CTLR, PMR, IAR, EOIR, RPR, HPPIR, DIR = 0x00, 0x04, 0x0C, 0x10, 0x14, 0x18, 0x1000
HCR, VMCR, MISR, EISR0, ELRSR0, HAPR, LR0 = 0x000, 0x008, 0x010, 0x020, 0x030, 0x0F0, 0x100


def en(g: GICv2, cpu: int = 0, eoimode: bool = True) -> None:
    """Reference doc "EN": GICD_CTLR=1, GICC_CTLR=0x201 (EnableGrp0|EOImode), GICC_PMR=0xF0."""
    g.write(D + GICD_CTLR, 1, cpu=cpu)
    g.write(C + CTLR, 0x201 if eoimode else 0x1, cpu=cpu)
    g.write(C + PMR, 0xF0, cpu=cpu)


def ven(g: GICv2, cpu: int = 0, ctlr: int = 0x1) -> None:
    """Reference doc "VEN": GICH_HCR=1, GICV_CTLR=ctlr, GICV_PMR=0xF8."""
    g.write(H + HCR, 1, cpu=cpu)
    g.write(V + CTLR, ctlr, cpu=cpu)
    g.write(V + PMR, 0xF8, cpu=cpu)


def spi(g: GICv2, intid: int, prio: int, cpu: int = 0) -> None:
    """'SPI n @p': priority byte, target this CPU, enabled, then made pending."""
    g.write(D + IPRIORITYR + intid, prio, size=1, cpu=cpu)
    g.write(D + ITARGETSR + intid, 1 << cpu, size=1, cpu=cpu)
    g.write(D + ISENABLER + 4 * (intid // 32), 1 << (intid % 32), cpu=cpu)
    g.write(D + ISPENDR + 4 * (intid // 32), 1 << (intid % 32), cpu=cpu)


def test_gicv2_exposes_virtual_blocks() -> None:
    """docs/architecture.md: ``gic.hyp[cpu]`` / ``gic.vcpu_if[cpu]`` exist; reset values
    through the memory map (TV1: GICH_VTR 0x90000003, VMCR 0x004C0000, ELRSR0 0xF)."""
    g = GICv2(GICv2Config())
    assert len(g.hyp) == len(g.vcpu_if) == 2
    assert g.read(H + 0x004) == 0x9000_0003
    assert g.read(H + VMCR) == 0x004C_0000
    assert g.read(H + ELRSR0) == 0xF
    assert g.read(V + 0x08) == 2 and g.read(V + 0x1C) == 3
    assert g.read(V + RPR) == 0xFF


def test_hw1_guest_eoi_deactivates_physical_tv29() -> None:
    """TV29 / §5.3.8 HW=1: host acks SPI 40 with EOImode=1 and drops priority; guest EOIR on
    the HW=1 LR deactivates SPI 40 in the distributor; no maintenance."""
    g = GICv2(GICv2Config())
    events: list[tuple[str, int, int, str]] = []
    g.on_event = lambda kind, intid, cpu, source: events.append((kind, intid, cpu, source))
    en(g)
    spi(g, 40, 0xA0)
    assert g.read(C + IAR) == 0x28
    g.write(C + EOIR, 0x28)
    assert g.read(C + RPR) == 0xFF
    assert g.read(D + ISACTIVER + 4) == 1 << 8
    ven(g)
    g.write(H + LR0, 0x9500_A03C)
    assert g.outputs[0].virq
    assert g.read(V + IAR) == 0x3C
    assert g.read(H + LR0) == 0xA500_A03C
    assert not g.outputs[0].virq
    g.write(V + EOIR, 0x3C)
    assert g.read(H + LR0) == 0x8500_A03C
    assert g.read(D + ISACTIVER + 4) == 0
    assert (g.read(H + EISR0), g.read(H + ELRSR0), g.read(H + MISR)) == (0, 0xF, 0)
    assert not g.read(D + ISPENDR) & (1 << 25)
    assert ("deactivate", 40, 0, "hw_lr") in events


def test_virtual_eoimode1_dir_deactivates_physical_tv30() -> None:
    """TV30 / §5.4: GICV_CTLR.EOImode=1 → GICV_EOIR leaves SPI 40 active; GICV_DIR
    deactivates it."""
    g = GICv2(GICv2Config())
    en(g)
    spi(g, 40, 0xA0)
    assert g.read(C + IAR) == 0x28
    g.write(C + EOIR, 0x28)
    ven(g, ctlr=0x201)
    g.write(H + LR0, 0x9500_A03C)
    assert g.read(V + IAR) == 0x3C
    g.write(V + EOIR, 0x3C)
    assert g.read(H + LR0) == 0xA500_A03C
    assert g.read(H + HAPR) == 0
    assert g.read(V + RPR) == 0xFF
    assert g.read(D + ISACTIVER + 4) == 1 << 8
    g.write(V + DIR, 0x3C)
    assert g.read(H + LR0) == 0x8500_A03C
    assert g.read(D + ISACTIVER + 4) == 0
    assert g.read(H + VMCR) == 0xF84C_0201


def _tv39_until_guest_eoi(g: GICv2) -> None:
    en(g)
    g.write(D + IPRIORITYR + 27, 0xA0, size=1)
    g.write(D + ISENABLER, 1 << 27)
    g.set_line(27, True, cpu=0)
    assert g.outputs[0].irq
    assert g.read(C + IAR) == 0x1B
    g.write(C + EOIR, 0x1B)
    assert g.read(C + HPPIR) == 0x3FF  # active and pending: not the HPPI
    assert not g.outputs[0].irq
    ven(g)
    g.write(H + LR0, (1 << 31) | (1 << 28) | (0x0A << 23) | (27 << 10) | 27)
    assert g.read(V + IAR) == 0x1B
    g.write(V + EOIR, 0x1B)
    assert not g.read(D + ISACTIVER) & (1 << 27)


def test_hw1_level_input_still_asserted_tv39() -> None:
    """TV39 / §3.2.4, §5.3.8: after the guest's EOI deactivates PPI 27 whose line is still high,
    it is pending again → GICC_HPPIR 0x1B and IRQ asserted at once (architecture)."""
    g = GICv2(GICv2Config())
    _tv39_until_guest_eoi(g)
    assert g.read(C + HPPIR) == 0x1B
    assert g.outputs[0].irq


def test_hw1_deactivation_stale_physical_d16() -> None:
    """TV39 step 4 with D16: QEMU leaves GICC_HPPIR 0x3FF and no IRQ until another GIC
    register write (GICD_CTLR rewrite) re-evaluates the physical interface."""
    g = GICv2(GICv2Config(quirks=QemuQuirks(hw_deactivate_no_phys_update=True)))
    _tv39_until_guest_eoi(g)
    assert g.read(C + HPPIR) == 0x3FF
    assert not g.outputs[0].irq
    g.write(D + GICD_CTLR, 1)
    assert g.read(C + HPPIR) == 0x1B
    assert g.outputs[0].irq


def test_eoi_maintenance_raises_ppi25_tv28() -> None:
    """TV28 / QEMU hw/arm/virt.c: an EOI maintenance condition makes PPI 25 pending in
    GICD_ISPENDR0 (level) and, when enabled, interrupts the physical CPU; rewriting the LR
    lowers it."""
    g = GICv2(GICv2Config())
    en(g)
    g.write(D + IPRIORITYR + 25, 0x80, size=1)
    g.write(D + ISENABLER, 1 << 25)
    ven(g)
    g.write(H + LR0 + 4, 0x1508_0033)
    assert g.read(V + IAR) == 0x33
    g.write(V + EOIR, 0x33)
    assert g.read(H + MISR) == 0x1
    assert g.read(D + ISPENDR) & (1 << 25)
    assert g.outputs[0].irq
    assert g.read(C + HPPIR) == 25
    g.write(H + LR0 + 4, 0)
    assert not g.read(D + ISPENDR) & (1 << 25)
    assert not g.outputs[0].irq


def test_maintenance_gated_by_en_tv38() -> None:
    """TV38 / §5.3.1: an invalid EOI=1 LR with GICH_HCR.En=0 leaves PPI 25 idle; En=1 pends it."""
    g = GICv2(GICv2Config())
    g.write(H + LR0, (1 << 19) | 0x33)
    assert not g.read(D + ISPENDR) & (1 << 25)
    g.write(H + HCR, 1)
    assert g.read(D + ISPENDR) & (1 << 25)


def test_virtual_interfaces_are_banked_per_cpu() -> None:
    """~§5.3: GICH/GICV are per CPU: CPU 1's LR and maintenance do not affect CPU 0."""
    g = GICv2(GICv2Config())
    outputs: list[tuple[int, str, bool]] = []
    g.on_output = lambda cpu, signal, level: outputs.append((cpu, signal, level))
    ven(g, cpu=1)
    g.write(H + LR0, 0x1500_0032, cpu=1)
    assert g.read(H + LR0, cpu=0) == 0
    assert g.read(H + LR0, cpu=1) == 0x1500_0032
    assert g.outputs[1].virq and not g.outputs[0].virq
    assert (1, "virq", True) in outputs
    assert g.read(V + IAR, cpu=0) == 1023
    assert g.read(V + IAR, cpu=1) == 0x32
    assert (1, "virq", False) in outputs
    g.write(H + HCR, 0x3, cpu=1)  # UIE: ≤ 1 valid LR
    assert g.read(D + ISPENDR, cpu=1) & (1 << 25)
    assert not g.read(D + ISPENDR, cpu=0) & (1 << 25)


def test_vfiq_output_and_reset() -> None:
    """§4.4.1 FIQEn / §5.3: Group 0 with GICV_CTLR.FIQEn drives vFIQ; GICv2.reset() clears LRs,
    GICH state and the virtual outputs."""
    g = GICv2(GICv2Config())
    ven(g, ctlr=0x9)
    g.write(H + LR0, 0x1500_0032)
    assert g.outputs[0].vfiq and not g.outputs[0].virq
    g.write(H + HCR, 0x3)
    g.reset()
    assert not g.outputs[0].vfiq
    assert g.read(H + LR0) == 0
    assert g.read(H + HCR) == 0
    assert g.read(H + VMCR) == 0x004C_0000
    assert not g.read(D + ISPENDR) & (1 << 25)
