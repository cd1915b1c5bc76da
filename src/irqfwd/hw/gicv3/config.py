"""Configuration of the GICv3/GICv4 model: implementation choices and QEMU-compatibility options.

Defaults equal QEMU 7.2's ``virt`` board with ``gic-version=3,virtualization=on`` and
``-cpu cortex-a57`` (2 CPUs) wherever the architecture (Arm IHI 0069H) leaves a choice to
the implementation.  Where QEMU 7.2 *deviates* from the architecture, the default follows
the architecture and a flag in :class:`QemuQuirks` reproduces QEMU (``docs/conformance.md``,
section "GICv3/v4", lists every one with its number G1..).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Final

from irqfwd.hw.gic.sysregs import SysRegUndefined, sysreg_by_name

__all__ = ["GICv3Config", "QemuQuirks"]

GICR_FRAME: Final = 0x10000
"""One 64 KiB redistributor frame (RD_base, SGI_base, VLPI_base, reserved; §12.10)."""


@dataclass(frozen=True)
class QemuQuirks:
    """QEMU 7.2 behaviours that differ from the architecture; all off = architectural."""

    misr_vgrp0d_uses_veng1: bool = False
    """G1: ICH_MISR_EL2.VGrp0D is set when VENG1 (not VENG0) is 0."""
    lr_res0_stored: bool = False
    """G2: ICH_LR<n>_EL2 keeps RES0 bits as written (only unimplemented priority bits are
    cleared), e.g. all-ones reads back 0xfff8ffffffffffff."""
    itlines_excludes_sgi_ppi: bool = False
    """G4: GICD_TYPER.ITLinesNumber counts only the SPIs ((num_irqs - 32) / 32 - 1), one
    less than the architectural value for the SPIs implemented."""
    waker_sleep_ignored: bool = False
    """G5: interrupts are forwarded to a PE whose GICR_WAKER.ProcessorSleep is 1."""
    irouter_res0_stored: bool = False
    """G6: GICD_IROUTER<n> stores every bit written (RES0 bits and Interrupt_Routing_Mode,
    which is RES0 with GICD_TYPER.No1N = 1)."""
    baser_res0_stored: bool = False
    """G7: GICR_PROPBASER, GICR_PENDBASER, GICR_VPROPBASER and GITS_CBASER store their RES0
    bits as written."""
    vmcr_vpmr_unmasked: bool = False
    """G8: ICH_VMCR_EL2.VPMR keeps the unimplemented low priority bits written through
    ICH_VMCR_EL2 (ICV_PMR_EL1 writes mask them)."""
    sgi_rs_ignored: bool = False
    """G11: ICC_SGI0R/SGI1R/ASGI1R_EL1.RS is ignored: TargetList bit n always targets
    Aff0 = n (RS = 1 reaches PEs with Aff0 0..15 instead of 16..31)."""
    ptz_ignored: bool = False
    """G12: GICR_PENDBASER.PTZ is ignored: the pending table is read when EnableLPIs is
    set even though software said it is zero."""
    vpendbaser_pendinglast_stored: bool = False
    """G10: GICR_VPENDBASER.PendingLast takes the value written while Valid stays 0
    (architecturally read-only, set by the 1 → 0 transition)."""
    cwriter_res0_stored: bool = False
    """G9: GITS_CWRITER/GITS_CREADR store RES0 bits, and GITS_CREADR is writable while the
    ITS is disabled (architecturally read-only)."""

    @classmethod
    def qemu_7_2(cls) -> QemuQuirks:
        """Every quirk of the QEMU 7.2.22 Debian build turned on."""
        return cls(**{f.name: True for f in fields(cls)})

    def enabled(self) -> list[str]:
        """Names of the quirks that are on."""
        return [f.name for f in fields(self) if getattr(self, f.name)]


@dataclass(frozen=True)
class GICv3Config:
    """Size, memory map and implementation-defined choices of one GICv3/v4 instance."""

    num_cpus: int = 2
    """Processing elements, one redistributor each (1..16 here: Aff0 only)."""
    version: int = 3
    """3: GICv3 with ITS; 4: GICv4 (direct vLPI injection, VLPI_base frames)."""
    gicv41: bool = False
    """GICv4.1 (version 4 only): direct vSGI injection, VSGI command, GITS_SGIR (QEMU 7.2:
    no).  Its ITS has a third 64 KiB frame, so QEMU's GICR base (0x080A0000) must move
    (:meth:`gicv41_virt`)."""
    num_irqs: int = 288
    """SGIs + PPIs + SPIs (QEMU virt: 256 SPIs + 32), multiple of 32, 64..1024."""
    lpi_id_bits: int = 16
    """INTID bits (GICD_TYPER.IDbits + 1): LPIs 8192 .. 2**bits - 1."""
    num_lrs: int = 4
    """List registers (ICH_VTR_EL2.ListRegs + 1), 1..16 (cortex-a57: 4)."""
    pri_bits: int = 5
    """Physical CPU interface priority bits (ICC_CTLR_EL1.PRIbits + 1; cortex-a57: 5)."""
    vpri_bits: int = 5
    """Virtual priority bits (ICH_VTR_EL2.PRIbits + 1)."""
    vpre_bits: int = 5
    """Virtual preemption bits (ICH_VTR_EL2.PREbits + 1): 5 → ICH_AP0R0/AP1R0 only."""
    its: bool = True
    """An ITS at :attr:`gits_base` (QEMU virt ≥ 6.2 with TCG: yes)."""
    gicd_base: int = 0x0800_0000
    gits_base: int = 0x0808_0000
    gicr_base: int = 0x080A_0000
    maintenance_intid: int = 25
    """PPI of the maintenance interrupt (QEMU virt: 25)."""
    gicd_iidr: int = 0x0000_043B
    gicr_iidr: int = 0x0000_043B
    gits_iidr: int = 0x0000_043B
    its_dev_bits: int = 16
    """DeviceID bits (GITS_TYPER.Devbits + 1)."""
    its_id_bits: int = 16
    """EventID bits (GITS_TYPER.ID_bits + 1)."""
    its_cid_bits: int = 16
    """Collection ID bits (GITS_TYPER.CIDbits + 1 with CIL = 1; 16 when CIL = 0)."""
    quirks: QemuQuirks = field(default_factory=QemuQuirks)

    def __post_init__(self) -> None:
        if not 1 <= self.num_cpus <= 16:
            raise ValueError(f"num_cpus must be 1..16, got {self.num_cpus}")
        if self.version not in (3, 4):
            raise ValueError(f"version must be 3 or 4, got {self.version}")
        if self.gicv41 and self.version != 4:
            raise ValueError("gicv41 needs version 4")
        if self.num_irqs % 32 or not 64 <= self.num_irqs <= 1024:
            raise ValueError(f"num_irqs must be a multiple of 32 in 64..1024, got {self.num_irqs}")
        if not 14 <= self.lpi_id_bits <= 24:
            raise ValueError(f"lpi_id_bits must be 14..24, got {self.lpi_id_bits}")
        if not 1 <= self.num_lrs <= 16:
            raise ValueError(f"num_lrs must be 1..16, got {self.num_lrs}")
        for name in ("pri_bits", "vpri_bits", "vpre_bits"):
            if not 5 <= getattr(self, name) <= 8:
                raise ValueError(f"{name} must be 5..8, got {getattr(self, name)}")
        if self.vpre_bits > self.vpri_bits or self.vpre_bits > 7:
            raise ValueError("vpre_bits must be <= vpri_bits and <= 7")
        its_size = 0x30000 if self.gicv41 else 0x20000
        if self.its and self.gits_base < self.gicr_base < self.gits_base + its_size:
            raise ValueError(f"the ITS ({its_size:#x} bytes at {self.gits_base:#x}) overlaps "
                             f"the redistributors at {self.gicr_base:#x}; a GICv4.1 ITS has a "
                             "third 64 KiB frame (GITS_SGIR): move gicr_base, e.g. 0x080C0000")

    @property
    def gicr_stride(self) -> int:
        """Bytes per redistributor: 2 frames (GICv3) or 4 (GICv4: + VLPI_base, reserved)."""
        return (4 if self.version >= 4 else 2) * GICR_FRAME

    @property
    def num_lpis(self) -> int:
        """LPI INTIDs the ID space allows (8192 .. 2**lpi_id_bits - 1)."""
        return (1 << self.lpi_id_bits) - 8192

    @property
    def pre_bits(self) -> int:
        """Physical preemption bits (= priority bits here, as on QEMU)."""
        return min(self.pri_bits, 7)

    def with_quirks(self, quirks: QemuQuirks) -> GICv3Config:
        """A copy of this configuration with ``quirks``."""
        return replace(self, quirks=quirks)

    @classmethod
    def qemu_virt(cls, num_cpus: int = 2, version: int = 3) -> GICv3Config:
        """QEMU 7.2 ``virt,gic-version=N,virtualization=on`` with every QEMU quirk on."""
        return cls(num_cpus=num_cpus, version=version, quirks=QemuQuirks.qemu_7_2())

    @classmethod
    def gicv41_virt(cls, num_cpus: int = 2) -> GICv3Config:
        """A GICv4.1 on the ``virt`` map with the redistributors moved to 0x080C0000 to
        make room for the ITS's GICv4.1 frame (GITS_SGIR at 0x080A0020)."""
        return cls(num_cpus=num_cpus, version=4, gicv41=True, gicr_base=0x080C_0000)

    def check_sysreg(self, name: str) -> None:
        """Raise :class:`SysRegUndefined` if system register ``name`` (ICC/ICH/ICV) is not
        implemented by this configuration (unknown names raise ``KeyError``)."""
        reg, _ = sysreg_by_name(name)
        n = reg.name
        if n.startswith("ICH_LR"):
            idx = int(n[6:-4])
            if idx >= self.num_lrs:
                raise SysRegUndefined(f"{name}: only {self.num_lrs} list registers "
                                      "(ICH_VTR_EL2.ListRegs)")
        for prefix in ("ICH_AP0R", "ICH_AP1R", "ICC_AP0R", "ICC_AP1R"):
            if n.startswith(prefix):
                idx = int(n[8])
                bits = self.pre_bits if n.startswith("ICC") and not name.startswith("ICV") \
                    else self.vpre_bits
                if idx >= 1 << (bits - 5):
                    raise SysRegUndefined(f"{name}: not implemented with {bits} preemption bits")
