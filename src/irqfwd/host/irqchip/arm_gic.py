"""GICv2 register offsets and bits as the kernel names them (``include/linux/irqchip/arm-gic.h``).

The host's GIC driver, KVM's vgic-v2 back end and the guest kernel's GIC driver use these
names; the hardware model (:mod:`irqfwd.hw.gicv2`) implements the same registers from the
architecture (Arm IHI 0048B §4.1.2 GICD, §4.1.3 GICC, §5.3 GICH, §5.4 GICV).
"""

from __future__ import annotations

from typing import Final

# --- Distributor (IHI 0048B §4.1.2, Table 4-1) -------------------------------------------
GIC_DIST_CTRL: Final = 0x000
GIC_DIST_CTR: Final = 0x004
GIC_DIST_IIDR: Final = 0x008
GIC_DIST_IGROUP: Final = 0x080
GIC_DIST_ENABLE_SET: Final = 0x100
GIC_DIST_ENABLE_CLEAR: Final = 0x180
GIC_DIST_PENDING_SET: Final = 0x200
GIC_DIST_PENDING_CLEAR: Final = 0x280
GIC_DIST_ACTIVE_SET: Final = 0x300
GIC_DIST_ACTIVE_CLEAR: Final = 0x380
GIC_DIST_PRI: Final = 0x400
GIC_DIST_TARGET: Final = 0x800
GIC_DIST_CONFIG: Final = 0xC00
GIC_DIST_SOFTINT: Final = 0xF00
GIC_DIST_SGI_PENDING_CLEAR: Final = 0xF10
GIC_DIST_SGI_PENDING_SET: Final = 0xF20

GICD_ENABLE: Final = 0x1
GICD_INT_DEF_PRI: Final = 0xA0
GICD_INT_DEF_PRI_X4: Final = 0xA0A0A0A0
GICD_INT_EN_CLR_X32: Final = 0xFFFFFFFF
GICD_INT_ACTLR_X32: Final = 0xFFFFFFFF

# --- CPU interface (IHI 0048B §4.1.3, Table 4-2) -----------------------------------------
GIC_CPU_CTRL: Final = 0x00
GIC_CPU_PRIMASK: Final = 0x04
GIC_CPU_BINPOINT: Final = 0x08
GIC_CPU_INTACK: Final = 0x0C
GIC_CPU_EOI: Final = 0x10
GIC_CPU_RUNNINGPRI: Final = 0x14
GIC_CPU_HIGHPRI: Final = 0x18
GIC_CPU_DEACTIVATE: Final = 0x1000

GICC_ENABLE: Final = 0x1
GICC_INT_PRI_THRESHOLD: Final = 0xF0
GIC_CPU_CTRL_EOIMODENS: Final = 1 << 9
"""``GIC_CPU_CTRL_EOImodeNS``: split priority drop (EOIR) and deactivation (DIR)."""
GICC_IAR_INT_ID_MASK: Final = 0x3FF
GICC_INT_SPURIOUS: Final = 1023
GIC_CPU_SIZE: Final = 0x2000
"""GICC frame size the driver needs for EOImode 1 (GICC_DIR at +0x1000)."""

# --- Virtual interface control (IHI 0048B §5.3, Table 5-1) -------------------------------
GICH_HCR: Final = 0x000
GICH_VTR: Final = 0x004
GICH_VMCR: Final = 0x008
GICH_MISR: Final = 0x010
GICH_EISR0: Final = 0x020
GICH_EISR1: Final = 0x024
GICH_ELRSR0: Final = 0x030
GICH_ELRSR1: Final = 0x034
GICH_APR: Final = 0x0F0
GICH_LR0: Final = 0x100

GICH_HCR_EN: Final = 1 << 0
GICH_HCR_UIE: Final = 1 << 1
GICH_HCR_LRENPIE: Final = 1 << 2
GICH_HCR_NPIE: Final = 1 << 3
GICH_HCR_VGRP0EIE: Final = 1 << 4
GICH_HCR_VGRP0DIE: Final = 1 << 5
GICH_HCR_VGRP1EIE: Final = 1 << 6
GICH_HCR_VGRP1DIE: Final = 1 << 7
GICH_HCR_EOICOUNT_SHIFT: Final = 27
"""GICH_HCR.EOICount [31:27] (IHI 0048B §5.3.1)."""

GICH_LR_VIRTUALID: Final = 0x3FF << 0
GICH_LR_PHYSID_CPUID_SHIFT: Final = 10
GICH_LR_PHYSID_CPUID: Final = 0x3FF << GICH_LR_PHYSID_CPUID_SHIFT
GICH_LR_PRIORITY_SHIFT: Final = 23
GICH_LR_STATE: Final = 3 << 28
GICH_LR_PENDING_BIT: Final = 1 << 28
GICH_LR_ACTIVE_BIT: Final = 1 << 29
GICH_LR_EOI: Final = 1 << 19
GICH_LR_GROUP1: Final = 1 << 30
GICH_LR_HW: Final = 1 << 31

GICH_VMCR_ENABLE_GRP0_SHIFT: Final = 0
GICH_VMCR_ENABLE_GRP1_SHIFT: Final = 1
GICH_VMCR_ACK_CTL_SHIFT: Final = 2
GICH_VMCR_FIQ_EN_SHIFT: Final = 3
GICH_VMCR_CBPR_SHIFT: Final = 4
GICH_VMCR_EOI_MODE_SHIFT: Final = 9
GICH_VMCR_EOI_MODE_MASK: Final = 1 << GICH_VMCR_EOI_MODE_SHIFT
GICH_VMCR_PRIMASK_SHIFT: Final = 27
GICH_VMCR_PRIMASK_MASK: Final = 0x1F << GICH_VMCR_PRIMASK_SHIFT
GICH_VMCR_BINPOINT_SHIFT: Final = 21
GICH_VMCR_ALIAS_BINPOINT_SHIFT: Final = 18

GICH_MISR_EOI: Final = 1 << 0
GICH_MISR_U: Final = 1 << 1
GICH_MISR_VGRP_ANY: Final = 0xF << 4
"""GICH_MISR.VGrp0E/VGrp0D/VGrp1E/VGrp1D: the guest changed a group enable."""

GICV_PMR_PRIORITY_SHIFT: Final = 3
GICV_PMR_PRIORITY_MASK: Final = 0x1F << GICV_PMR_PRIORITY_SHIFT

# --- Virtual CPU interface (IHI 0048B §5.4: the GICC layout, GICV_DIR at +0x1000) --------
GIC_VCPU_DIR_PAGE: Final = 0x1000
