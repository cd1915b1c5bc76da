"""GICv3/v4 register offsets and fields as the kernel names them
(``include/linux/irqchip/arm-gic-v3.h``, ``arm-gic-v4.h``).

The host's GICv3 and ITS drivers, KVM's vgic-v3/vgic-v4 back end, its emulated
distributor, redistributors and ITS, and the guest's GICv3 driver use these names; the
hardware model (:mod:`irqfwd.hw.gicv3`) implements the same registers from the
architecture (Arm IHI 0069H §12.9 GICD, §12.10–12.11 GICR, §12.19 GITS, §12.2 ICC,
§12.4 ICH).
"""

from __future__ import annotations

from typing import Final

# --- Distributor (IHI 0069H §12.9, Table 12-25) ------------------------------------------
GICD_CTLR: Final = 0x0000
GICD_TYPER: Final = 0x0004
GICD_IIDR: Final = 0x0008
GICD_TYPER2: Final = 0x000C
GICD_IGROUPR: Final = 0x0080
GICD_ISENABLER: Final = 0x0100
GICD_ICENABLER: Final = 0x0180
GICD_ISPENDR: Final = 0x0200
GICD_ICPENDR: Final = 0x0280
GICD_ISACTIVER: Final = 0x0300
GICD_ICACTIVER: Final = 0x0380
GICD_IPRIORITYR: Final = 0x0400
GICD_ICFGR: Final = 0x0C00
GICD_IGRPMODR: Final = 0x0D00
GICD_IROUTER: Final = 0x6000
"""GICD_IROUTER<n> at 0x6000 + 8n (SPIs only: n >= 32)."""

GICD_CTLR_ENABLE_G1A: Final = 1 << 1
"""EnableGrp1A (Non-secure Group 1 with a single Security state: EnableGrp1)."""
GICD_CTLR_ENABLE_G0: Final = 1 << 0
GICD_CTLR_ARE_NS: Final = 1 << 4
GICD_CTLR_DS: Final = 1 << 6
GICD_CTLR_NASSGIREQ: Final = 1 << 8
"""GICv4.1: nASSGIreq, SGIs have no active state (direct vSGI injection)."""
GICD_CTLR_RWP: Final = 1 << 31
GICD_TYPER2_NASSGICAP: Final = 1 << 8
GICD_INT_DEF_PRI: Final = 0xA0
GICD_INT_DEF_PRI_X4: Final = 0xA0A0A0A0
GIC_IRQ_TYPE_LPI: Final = 0xA110C8ED

# --- Redistributor (IHI 0069H §12.10, §12.11) ---------------------------------------------
GICR_CTLR: Final = 0x0000
GICR_IIDR: Final = 0x0004
GICR_TYPER: Final = 0x0008
GICR_WAKER: Final = 0x0014
GICR_PROPBASER: Final = 0x0070
GICR_PENDBASER: Final = 0x0078
GICR_INVLPIR: Final = 0x00A0
GICR_SYNCR: Final = 0x00C0

GICR_CTLR_ENABLE_LPIS: Final = 1 << 0
GICR_WAKER_PROCESSORSLEEP: Final = 1 << 1
GICR_WAKER_CHILDRENASLEEP: Final = 1 << 2
GICR_TYPER_PLPIS: Final = 1 << 0
GICR_TYPER_VLPIS: Final = 1 << 1
GICR_TYPER_LAST: Final = 1 << 4
GICR_PENDBASER_PTZ: Final = 1 << 62

SZ_64K: Final = 0x10000
GICR_SGI_BASE: Final = SZ_64K
"""SGI_base frame, 64 KiB after RD_base."""
GICR_VLPI_BASE: Final = 2 * SZ_64K
"""VLPI_base frame (GICv4), 128 KiB after RD_base."""
GICR_IGROUPR0: Final = GICD_IGROUPR
GICR_ISENABLER0: Final = GICD_ISENABLER
GICR_ICENABLER0: Final = GICD_ICENABLER
GICR_ISPENDR0: Final = GICD_ISPENDR
GICR_ICPENDR0: Final = GICD_ICPENDR
GICR_ISACTIVER0: Final = GICD_ISACTIVER
GICR_ICACTIVER0: Final = GICD_ICACTIVER
GICR_IPRIORITYR0: Final = GICD_IPRIORITYR
GICR_ICFGR0: Final = GICD_ICFGR
GICR_ICFGR1: Final = GICD_ICFGR + 4

GICR_VPROPBASER: Final = 0x0070
"""Offset within VLPI_base."""
GICR_VPENDBASER: Final = 0x0078
GICR_VPENDBASER_VALID: Final = 1 << 63
GICR_VPENDBASER_IDAI: Final = 1 << 62
GICR_VPENDBASER_4_1_DB: Final = 1 << 62
GICR_VPENDBASER_PENDINGLAST: Final = 1 << 61
GICR_VPENDBASER_DIRTY: Final = 1 << 60
GICR_VSGIR: Final = 0x0080
GICR_VSGIPENDR: Final = 0x0088

LPI_PROP_GROUP1: Final = 1 << 1
LPI_PROP_ENABLED: Final = 1 << 0
LPI_PROP_DEFAULT_PRIO: Final = GICD_INT_DEF_PRI
LPI_NRBITS: Final = 16
"""Linux's ``lpi_id_bits`` cap for the host LPI space (``ITS_MAX_LPI_NRBITS`` is 16)."""

# --- CPU interface fields (IHI 0069H §12.2) -----------------------------------------------
ICC_CTLR_EL1_EOIMODE_DROP_DIR: Final = 0 << 1
ICC_CTLR_EL1_EOIMODE_DROP: Final = 1 << 1
ICC_SRE_EL1_SRE: Final = 1 << 0
ICC_SGI1R_TARGET_LIST_SHIFT: Final = 0
ICC_SGI1R_AFFINITY_1_SHIFT: Final = 16
ICC_SGI1R_SGI_ID_SHIFT: Final = 24
ICC_SGI1R_AFFINITY_2_SHIFT: Final = 32
ICC_SGI1R_IRQ_ROUTING_MODE_BIT: Final = 40
ICC_SGI1R_RS_SHIFT: Final = 44
ICC_SGI1R_AFFINITY_3_SHIFT: Final = 48
DEFAULT_PMR_VALUE: Final = 0xF0
ICC_IAR1_EL1_SPURIOUS: Final = 0x3FF

# --- Virtualization control (IHI 0069H §12.4) --------------------------------------------
ICH_HCR_EL2_EN: Final = 1 << 0
ICH_HCR_EL2_UIE: Final = 1 << 1
ICH_HCR_EL2_LRENPIE: Final = 1 << 2
ICH_HCR_EL2_NPIE: Final = 1 << 3
ICH_HCR_EL2_VGRP0EIE: Final = 1 << 4
ICH_HCR_EL2_VGRP0DIE: Final = 1 << 5
ICH_HCR_EL2_VGRP1EIE: Final = 1 << 6
ICH_HCR_EL2_VGRP1DIE: Final = 1 << 7
ICH_HCR_EL2_VSGIEOICOUNT: Final = 1 << 8
ICH_HCR_EL2_TC: Final = 1 << 10
ICH_HCR_EL2_TALL0: Final = 1 << 11
ICH_HCR_EL2_TALL1: Final = 1 << 12
ICH_HCR_EL2_TDIR: Final = 1 << 14
ICH_HCR_EL2_EOICOUNT_SHIFT: Final = 27

ICH_VTR_EL2_LISTREGS: Final = 0x1F
ICH_VTR_EL2_NV4: Final = 1 << 20
ICH_VTR_EL2_PRI_BITS_SHIFT: Final = 29

ICH_VMCR_EL2_VENG0: Final = 1 << 0
ICH_VMCR_EL2_VENG1: Final = 1 << 1
ICH_VMCR_EL2_VFIQEN: Final = 1 << 3
ICH_VMCR_EL2_VCBPR_SHIFT: Final = 4
ICH_VMCR_EL2_VEOIM_SHIFT: Final = 9
ICH_VMCR_EL2_VEOIM: Final = 1 << ICH_VMCR_EL2_VEOIM_SHIFT
ICH_VMCR_EL2_VBPR1_SHIFT: Final = 18
ICH_VMCR_EL2_VBPR0_SHIFT: Final = 21
ICH_VMCR_EL2_VPMR_SHIFT: Final = 24

ICH_MISR_EL2_EOI: Final = 1 << 0
ICH_MISR_EL2_U: Final = 1 << 1
ICH_MISR_EL2_VGRP_ANY: Final = 0xF << 4

ICH_LR_VIRTUAL_ID_MASK: Final = 0xFFFF_FFFF
ICH_LR_PHYS_ID_SHIFT: Final = 32
ICH_LR_PHYS_ID_MASK: Final = 0x3FF << ICH_LR_PHYS_ID_SHIFT
ICH_LR_EOI: Final = 1 << 41
ICH_LR_PRIORITY_SHIFT: Final = 48
ICH_LR_GROUP: Final = 1 << 60
ICH_LR_HW: Final = 1 << 61
ICH_LR_PENDING_BIT: Final = 1 << 62
ICH_LR_ACTIVE_BIT: Final = 1 << 63
ICH_LR_STATE: Final = ICH_LR_PENDING_BIT | ICH_LR_ACTIVE_BIT

# --- ITS (IHI 0069H §12.19, §6.3) ---------------------------------------------------------
GITS_CTLR: Final = 0x0000
GITS_IIDR: Final = 0x0004
GITS_TYPER: Final = 0x0008
GITS_CBASER: Final = 0x0080
GITS_CWRITER: Final = 0x0088
GITS_CREADR: Final = 0x0090
GITS_BASER: Final = 0x0100
GITS_TRANSLATER: Final = 0x10040
GITS_SGIR: Final = 0x20020

GITS_CTLR_ENABLE: Final = 1 << 0
GITS_CTLR_QUIESCENT: Final = 1 << 31
GITS_TYPER_PLPIS: Final = 1 << 0
GITS_TYPER_VLPIS: Final = 1 << 1
GITS_TYPER_VMOVP: Final = 1 << 37
GITS_TYPER_VMAPP: Final = 1 << 40
GITS_CBASER_VALID: Final = 1 << 63
GITS_BASER_VALID: Final = 1 << 63
GITS_BASER_INDIRECT: Final = 1 << 62
GITS_BASER_TYPE_SHIFT: Final = 56
GITS_BASER_TYPE_DEVICE: Final = 1
GITS_BASER_TYPE_VCPU: Final = 2
GITS_BASER_TYPE_COLLECTION: Final = 4
GITS_BASER_PAGE_SIZE_64K: Final = 2 << 8
ITS_CMD_QUEUE_SZ: Final = 0x10000
"""``ITS_CMD_QUEUE_SZ``: 64 KiB of command queue (2048 commands)."""

GITS_CMD_MAPD: Final = 0x08
GITS_CMD_MAPC: Final = 0x09
GITS_CMD_MAPTI: Final = 0x0A
GITS_CMD_MAPI: Final = 0x0B
GITS_CMD_MOVI: Final = 0x01
GITS_CMD_DISCARD: Final = 0x0F
GITS_CMD_INV: Final = 0x0C
GITS_CMD_MOVALL: Final = 0x0E
GITS_CMD_INVALL: Final = 0x0D
GITS_CMD_INT: Final = 0x03
GITS_CMD_CLEAR: Final = 0x04
GITS_CMD_SYNC: Final = 0x05
GITS_CMD_VMAPP: Final = 0x29
GITS_CMD_VMAPTI: Final = 0x2A
GITS_CMD_VMOVI: Final = 0x21
GITS_CMD_VMOVP: Final = 0x22
GITS_CMD_VSYNC: Final = 0x25
GITS_CMD_VINVALL: Final = 0x2D
GITS_CMD_VSGI: Final = 0x23
ITS_NO_DOORBELL: Final = 1023

# --- arm-gic-v4.h: its_cmd_info command types --------------------------------------------
MAP_VLPI: Final = 0
GET_VLPI: Final = 1
PROP_UPDATE_VLPI: Final = 2
PROP_UPDATE_AND_INV_VLPI: Final = 3
SCHEDULE_VPE: Final = 4
DESCHEDULE_VPE: Final = 5
COMMIT_VPE: Final = 6
INVALL_VPE: Final = 7
PROP_UPDATE_VSGI: Final = 8
