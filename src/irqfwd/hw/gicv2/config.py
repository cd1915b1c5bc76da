"""Configuration of the GICv2 model: implementation choices and QEMU-compatibility options.

Defaults equal QEMU's ``virt`` board (``gic-version=2,virtualization=on``, 2 CPUs) wherever
the architecture (Arm IHI 0048B) leaves a choice to the implementation.  Where QEMU 7.2
*deviates* from the architecture, the default follows the architecture and a flag in
:class:`QemuQuirks` reproduces QEMU (``docs/conformance.md`` lists every one, with the
deviation number D1–D23/X1–X8 of ``docs/conformance.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

__all__ = ["GICv2Config", "QemuQuirks"]


@dataclass(frozen=True)
class QemuQuirks:
    """QEMU 7.2 behaviours that differ from the architecture; all off = architectural."""

    no_aliased_regs: bool = False
    """D1: GICC/GICV_AIAR, AEOIR, AHPPIR not implemented (read 0, writes ignored)."""
    hppir_masked_by_pmr: bool = False
    """D3: GICC_HPPIR/GICV_HPPIR report 1023 when the HPPI's priority is not below PMR."""
    hppir_no_cpuid: bool = False
    """D4: GICC_HPPIR/GICV_HPPIR omit the source CPUID of SGIs."""
    no_per_irq_group_filter: bool = False
    """D5: HPPI chosen across both groups; group enables only gate the IRQ/FIQ lines."""
    ppi_icpendr_all_cpus: bool = False
    """D6: GICD_ICPENDR0 for PPIs clears the pending latch on every CPU."""
    spi_n_n: bool = False
    """D7: SPIs follow the N-N model (every targeted CPU may acknowledge the same SPI)."""
    ppi_ispendr_smp_ignored: bool = False
    """D8: GICD_ISPENDR0 for PPIs has no effect when there is more than one CPU (≤ 9.0)."""
    spi_pending_follows_targets: bool = False
    """D9: pending an SPI with ITARGETSR=0 is lost; retargeting does not move pending state (≤ 9.0)."""
    eoir_qemu_rules: bool = False
    """D11: EOIR ignored with no active priority; otherwise drop + deactivate the *written* ID."""
    gicv_abpr_min_not_enforced: bool = False
    """D13: GICV_ABPR writes clamp to the physical minimum (1), not 3."""
    extra_lr_storage: bool = False
    """D14: GICH_LR<num_lrs> is readable/writable storage instead of RAZ/WI."""
    hw_deactivate_no_phys_update: bool = False
    """D16: a HW=1 LR deactivation does not re-evaluate the physical CPU interface."""
    virtual_eoi_qemu_rules: bool = False
    """D18: QEMU's virtual EOI bookkeeping (LR deactivated even with no APR bit, lowest APR bit dropped)."""
    gicd_any_access_size: bool = False
    """X1: GICD accesses of any size (1, 2, 4) to any register are performed byte by byte."""
    hw_lr_sgi_cpuid: bool = False
    """X7: GICV_IAR returns LR bits [12:10] as a CPUID for VirtualID < 16 even when HW=1
    (there they are the low PhysicalID bits)."""
    preemption_qemu_rules: bool = False
    """X2: GICC_IAR answers 1022 for a Group 1 HPPI (AckCtl=0) before the preemption check, and
    preemption compares the full priority, not the group priority, with the running priority."""

    @classmethod
    def qemu_7_2(cls) -> QemuQuirks:
        """Every quirk of the QEMU 7.2.22 Debian build turned on."""
        return cls(**{f.name: True for f in fields(cls)})

    def enabled(self) -> list[str]:
        """Names of the quirks that are on."""
        return [f.name for f in fields(self) if getattr(self, f.name)]


@dataclass(frozen=True)
class GICv2Config:
    """Size, memory map and implementation-defined choices of one GICv2 instance."""

    num_cpus: int = 2
    """CPU interfaces, 1–8 (GICD_TYPER.CPUNumber + 1)."""
    num_irqs: int = 288
    """Implemented INTIDs including SGIs/PPIs: a multiple of 32 in 32..1024 (1020 usable)."""
    num_lrs: int = 4
    """List registers per virtual interface, 1–64 (GICH_VTR.ListRegs + 1)."""
    prio_bits: int = 8
    """Implemented distributor priority bits, 4–8 (QEMU: 8; GIC-400: 5)."""
    gicd_base: int = 0x0800_0000
    gicc_base: int = 0x0801_0000
    gich_base: int = 0x0803_0000
    gicv_base: int = 0x0804_0000
    maintenance_intid: int = 25
    """PPI carrying the maintenance interrupt (GIC-400 and QEMU virt: 25)."""
    gicd_iidr: int = 0x0000_043B
    gicc_iidr: int = 0x0002_043B
    gicv_iidr: int = 0x0002_043B
    sgis_always_enabled: bool = True
    """IMPDEF (GICv2 §4.3.5): SGI enable bits RAO/WI, as on QEMU."""
    ppi_config_writable: bool = True
    """IMPDEF (GICv2 §4.3.13): QEMU lets software write GICD_ICFGR1."""
    bpr_min: int = 0
    """Minimum GICC_BPR (IMPDEF; QEMU 0)."""
    tie_break_lowest_lr: bool = True
    """Equal-priority virtual HPPI: lowest LR wins (QEMU; architecture leaves it open)."""
    quirks: QemuQuirks = field(default_factory=QemuQuirks)

    def __post_init__(self) -> None:
        if not 1 <= self.num_cpus <= 8:
            raise ValueError(f"num_cpus must be 1..8, got {self.num_cpus}")
        if self.num_irqs % 32 or not 32 <= self.num_irqs <= 1024:
            raise ValueError(f"num_irqs must be a multiple of 32 in 32..1024, got {self.num_irqs}")
        if not 1 <= self.num_lrs <= 64:
            raise ValueError(f"num_lrs must be 1..64, got {self.num_lrs}")
        if not 4 <= self.prio_bits <= 8:
            raise ValueError(f"prio_bits must be 4..8, got {self.prio_bits}")

    @property
    def num_spis(self) -> int:
        """SPIs implemented (INTIDs 32 .. num_irqs-1, capped at 1019)."""
        return min(self.num_irqs, 1020) - 32

    def with_quirks(self, quirks: QemuQuirks) -> GICv2Config:
        """A copy of this configuration with ``quirks``."""
        return replace(self, quirks=quirks)

    @classmethod
    def qemu_virt(cls, num_cpus: int = 2) -> GICv2Config:
        """QEMU 7.2 ``virt,gic-version=2,virtualization=on`` with every QEMU quirk reproduced."""
        return cls(num_cpus=num_cpus, quirks=QemuQuirks.qemu_7_2())
