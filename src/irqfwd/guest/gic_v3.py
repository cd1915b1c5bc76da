"""The guest kernel's GICv3 driver and ITS driver (Linux ``drivers/irqchip/irq-gic-v3.c`` and
``irq-gic-v3-its.c`` inside the VM).

The guest's CPU interface is the ICV_*_EL1 system registers (the ICC encodings at EL1 with
HCR_EL2.IMO/FMO set): ICV_IAR1_EL1, ICV_EOIR1_EL1, ICV_DIR_EL1, ICV_PMR_EL1, ICV_BPR1_EL1,
ICV_CTLR_EL1 and ICV_IGRPEN1_EL1 never trap, except ICV_DIR_EL1 while KVM sets
ICH_HCR_EL2.TDIR (a ``SYS64`` exit, which the driver checks on the PE it runs on).  An IPI
is an ICC_SGI1R_EL1 write, which always traps (``SYS64``).  Its distributor, redistributors
and ITS are emulated by KVM: every access traps (``DABT_LOW``).

Boot (per vCPU, as ``gic_cpu_init`` / ``its_cpu_init_lpis``): GICR_WAKER, GICR_IGROUPR0,
the IPIs' GICR_ISENABLER0 bits, and, when the guest has MSI devices, GICR_PROPBASER,
GICR_PENDBASER and GICR_CTLR.EnableLPIs.  vCPU 0 then sets up the distributor (GICD_CTLR,
GICD_IGROUPR, GICD_ICFGR, GICD_IPRIORITYR, GICD_IROUTER, GICD_ISENABLER; GICD_CTLR.nASSGIreq
when asked, GICv4.1 vSGIs) and the ITS (``its_init``: GITS_BASER0/1, GITS_CBASER,
GITS_CTLR; MAPC per vCPU; per MSI device MAPD and one MAPTI per vector, the LPI
configuration bytes written in guest memory first).  ITS commands are written into the
command queue in guest memory (plain stores, no exit) and published by a trapped
GITS_CWRITER write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from irqfwd.guest.gic import GuestGic
from irqfwd.host.irqchip.arm_gic_v3 import (
    DEFAULT_PMR_VALUE,
    GICD_CTLR,
    GICD_CTLR_ARE_NS,
    GICD_CTLR_ENABLE_G1A,
    GICD_CTLR_NASSGIREQ,
    GICD_ICENABLER,
    GICD_ICFGR,
    GICD_IGROUPR,
    GICD_INT_DEF_PRI,
    GICD_IPRIORITYR,
    GICD_IROUTER,
    GICD_ISENABLER,
    GICR_CTLR,
    GICR_CTLR_ENABLE_LPIS,
    GICR_PENDBASER,
    GICR_PROPBASER,
    GICR_SGI_BASE,
    GICR_WAKER,
    GITS_BASER,
    GITS_CBASER,
    GITS_CBASER_VALID,
    GITS_CMD_MAPC,
    GITS_CMD_MAPD,
    GITS_CMD_MAPTI,
    GITS_CMD_SYNC,
    GITS_CTLR,
    GITS_CTLR_ENABLE,
    GITS_CWRITER,
    ICC_CTLR_EL1_EOIMODE_DROP,
    ICH_HCR_EL2_TDIR,
    LPI_PROP_DEFAULT_PRIO,
    LPI_PROP_ENABLED,
    LPI_PROP_GROUP1,
)
from irqfwd.hw.gicv3.virt_interface import VirtInterface
from irqfwd.hw.machine import Step

if TYPE_CHECKING:
    from irqfwd.host.kvm.vcpu import Vcpu

__all__ = ["GUEST_LPI_BASE", "GicV3GuestDriver", "GuestMsiDevice", "MmioOp"]

MmioOp = tuple[int, int, int]
"""A boot write: (guest physical address, value, size); an address in guest RAM is a plain
store, any other a trapped MMIO write."""

GUEST_PRIO: Final = GICD_INT_DEF_PRI
GUEST_LPI_BASE: Final = 8192
_SZ_64K: Final = 0x10000
# the guest's LPI and ITS tables in its RAM (addresses of this guest's choosing)
_PROP_TABLE: Final = 0x4100_0000
_PEND_TABLES: Final = 0x4200_0000
_DEVICE_TABLE: Final = 0x4300_0000
_COLLECTION_TABLE: Final = 0x4310_0000
_CMD_QUEUE: Final = 0x4400_0000
_ITT_BASE: Final = 0x4500_0000
_LPI_ID_BITS: Final = 16
_IPIS: Final = 0xFF
"""The SGIs Linux requests as IPIs (0..7), enabled in GICR_ISENABLER0 at boot."""


class GuestMsiDevice:
    """One MSI device as the guest's ITS driver maps it: its DeviceID, and per vector
    the vCPU (collection) it targets; LPIs are given out from :data:`GUEST_LPI_BASE`."""

    __slots__ = ("device_id", "lpi_base", "targets")

    def __init__(self, device_id: int, targets: list[int], lpi_base: int) -> None:
        self.device_id = device_id
        self.targets = targets
        self.lpi_base = lpi_base


class GicV3GuestDriver(GuestGic):
    """The guest's GICv3 driver: ICV system registers, trapped GICD/GICR/GITS MMIO."""

    def __init__(self, virt: list[VirtInterface], dist_base: int, rd_base: int, its_base: int,
                 eoimode1: bool, nassgireq: bool = False) -> None:
        super().__init__(0xFF_FFFF)  # ICV_IAR1_EL1.INTID [23:0]
        self.virt = virt
        """The ICV view of each pCPU's virtual interface (the one the vCPU runs on)."""
        self.dist_base = dist_base
        self.rd_base = rd_base
        self.its_base = its_base
        self.eoimode1 = eoimode1
        self.nassgireq = nassgireq
        self.msi_devices: list[GuestMsiDevice] = []
        self._lpi_next = GUEST_LPI_BASE

    def _rd(self, vcpu: int) -> int:
        return self.rd_base + vcpu * 2 * _SZ_64K

    # ---------------------------------------------------------------- boot
    def cpu_init(self, cpu: int) -> int:
        """``gic_cpu_sys_reg_init`` on ``cpu``'s ICV registers: ICV_PMR_EL1, ICV_BPR1_EL1,
        ICV_CTLR_EL1.EOImode, ICV_IGRPEN1_EL1 (no exit); returns the number of accesses."""
        v = self.virt[cpu]
        v.icv_write_pmr(DEFAULT_PMR_VALUE)
        v.icv_write_bpr(1, 0)
        v.icv_write_ctlr(ICC_CTLR_EL1_EOIMODE_DROP if self.eoimode1 else 0)
        v.icv_write_igrpen(1, 1)
        return 4

    def add_msi_device(self, device_id: int, targets: list[int]) -> GuestMsiDevice:
        """A device whose driver allocates ``len(targets)`` MSI vectors (one LPI each,
        vector i to vCPU ``targets[i]``); the LPIs are mapped by :meth:`dist_init_ops`."""
        dev = GuestMsiDevice(device_id, targets, self._lpi_next)
        self._lpi_next += len(targets)
        self.msi_devices.append(dev)
        return dev

    def cpu_boot_ops(self, vcpu: int) -> list[MmioOp]:
        """``gic_cpu_init`` (GICR_WAKER, SGIs/PPIs Group 1, the IPIs enabled) and, with MSI
        devices, ``its_cpu_init_lpis`` (GICR_PROPBASER, GICR_PENDBASER, EnableLPIs)."""
        rd = self._rd(vcpu)
        sgi = rd + GICR_SGI_BASE
        ops: list[MmioOp] = [(rd + GICR_WAKER, 0, 4), (sgi + GICD_IGROUPR, 0xFFFFFFFF, 4),
                             (sgi + GICD_ISENABLER, _IPIS, 4)]
        if self.msi_devices:
            ops += [(rd + GICR_PROPBASER, _PROP_TABLE | (_LPI_ID_BITS - 1), 8),
                    (rd + GICR_PENDBASER, _PEND_TABLES + vcpu * _SZ_64K, 8),
                    (rd + GICR_CTLR, GICR_CTLR_ENABLE_LPIS, 4)]
        return ops

    def dist_init_ops(self, irqs: Iterable[tuple[int, bool, int]]) -> list[MmioOp]:
        """``gic_dist_init`` + ``request_irq`` of ``(vintid, edge, vcpu)`` each (SPIs), then
        ``its_init`` with every MSI device's events mapped (:meth:`its_init_ops`)."""
        spis = [i for i in irqs if 32 <= i[0] < 1020]
        d = self.dist_base
        ops: list[MmioOp] = [(d + GICD_CTLR, 0, 4)]
        words = sorted({vintid // 32 for vintid, _, _ in spis})
        for w in words:
            ops.append((d + GICD_IGROUPR + 4 * w, 0xFFFFFFFF, 4))
        cfg: dict[int, int] = {}
        for vintid, edge, _ in spis:
            cfg[vintid // 16] = cfg.get(vintid // 16, 0) | ((2 << (2 * (vintid % 16))) if edge else 0)
        for word, val in sorted(cfg.items()):
            ops.append((d + GICD_ICFGR + 4 * word, val, 4))
        for vintid, _, vcpu in spis:
            ops.append((d + GICD_IPRIORITYR + vintid, GUEST_PRIO, 1))
            ops.append((d + GICD_IROUTER + 8 * vintid, (vcpu >> 4) << 8 | (vcpu & 15), 8))
        ctlr = GICD_CTLR_ARE_NS | GICD_CTLR_ENABLE_G1A
        if self.nassgireq:
            ops.append((d + GICD_CTLR, GICD_CTLR_ARE_NS | GICD_CTLR_NASSGIREQ, 4))
            ctlr |= GICD_CTLR_NASSGIREQ
        ops.append((d + GICD_CTLR, ctlr, 4))
        for vintid, _, _ in spis:
            ops.append(self.unmask_op(vintid))
        return ops + self.its_init_ops()

    def its_init_ops(self) -> list[MmioOp]:
        """``its_init`` and the MSI domain of every device: tables, command queue, enable,
        then MAPC per vCPU, MAPD + MAPTI per vector + SYNC, each batch published by one
        GITS_CWRITER write."""
        if not self.msi_devices:
            return []
        g = self.its_base
        ops: list[MmioOp] = [
            (g + GITS_BASER, 1 << 63 | _DEVICE_TABLE | 2 << 8 | 7, 8),
            (g + GITS_BASER + 8, 1 << 63 | _COLLECTION_TABLE | 2 << 8, 8),
            (g + GITS_CBASER, GITS_CBASER_VALID | _CMD_QUEUE | 15, 8),
            (g + GITS_CTLR, GITS_CTLR_ENABLE, 4),
        ]
        cmds: list[tuple[int, int, int, int]] = []
        ncpu = 1 + max((t for dev in self.msi_devices for t in dev.targets), default=0)
        for cpu in range(ncpu):
            cmds.append((GITS_CMD_MAPC, 0, 1 << 63 | cpu << 16 | cpu, 0))
        for dev in self.msi_devices:
            n = len(dev.targets)
            bits = max((n - 1).bit_length(), 1)
            cmds.append((GITS_CMD_MAPD | dev.device_id << 32, bits - 1,
                         1 << 63 | (_ITT_BASE + dev.device_id * 0x1000), 0))
            for ev, target in enumerate(dev.targets):
                lpi = dev.lpi_base + ev
                ops.append((_PROP_TABLE + lpi - GUEST_LPI_BASE,
                            LPI_PROP_DEFAULT_PRIO | LPI_PROP_GROUP1 | LPI_PROP_ENABLED, 1))
                cmds.append((GITS_CMD_MAPTI | dev.device_id << 32, lpi << 32 | ev, target, 0))
        cmds.append((GITS_CMD_SYNC, 0, 0, 0))
        off = 0
        for c in cmds:
            for i in range(4):
                ops.append((_CMD_QUEUE + off + 8 * i, c[i], 8))
            off += 32
        ops.append((g + GITS_CWRITER, off, 8))
        return ops

    def percpu_irq_ops(self, vintid: int, prio: int, vcpu: int = 0) -> list[MmioOp]:
        """``request_percpu_irq`` + ``enable_percpu_irq`` of a PPI on ``vcpu``: its
        priority byte and GICR_ISENABLER0 bit in that vCPU's SGI_base frame."""
        sgi = self._rd(vcpu) + GICR_SGI_BASE
        return [(sgi + GICD_IPRIORITYR + vintid, prio, 1), (sgi + GICD_ISENABLER, 1 << vintid, 4)]

    def mask_op(self, vintid: int) -> MmioOp:
        """``gic_mask_irq`` of an SPI: the GICD_ICENABLER write."""
        return (self.dist_base + GICD_ICENABLER + 4 * (vintid // 32), 1 << (vintid % 32), 4)

    def unmask_op(self, vintid: int) -> MmioOp:
        """``gic_unmask_irq`` of an SPI: the GICD_ISENABLER write."""
        return (self.dist_base + GICD_ISENABLER + 4 * (vintid // 32), 1 << (vintid % 32), 4)

    # ---------------------------------------------------------------- IRQ path
    def read_iar(self, cpu: int) -> int:
        """ICV_IAR1_EL1 on ``cpu``."""
        return self.virt[cpu].icv_acknowledge(1)

    def write_eoir(self, cpu: int, iar: int) -> None:
        """ICV_EOIR1_EL1: priority drop (and deactivation in EOImode 0)."""
        self.virt[cpu].icv_eoi(iar, 1)

    def dir_is_mapped(self, vcpu: Vcpu) -> bool:
        """ICV_DIR_EL1 does not trap unless ICH_HCR_EL2.TDIR is set on the PE."""
        cpu = vcpu.cpu
        return cpu is None or not self.virt[cpu.index].hcr & ICH_HCR_EL2_TDIR

    def write_dir(self, cpu: int, iar: int) -> None:
        """ICV_DIR_EL1."""
        self.virt[cpu].icv_dir(iar)

    def trap_dir(self, vcpu: Vcpu, iar: int, cont: Step) -> int:
        """ICV_DIR_EL1 with TDIR: a ``SYS64`` exit."""
        return vcpu.trap_sysreg("ICC_DIR_EL1", iar, True, cont)

    @staticmethod
    def sgi1r(sgi: int, target: int) -> int:
        """The ICC_SGI1R_EL1 value for SGI ``sgi`` to vCPU ``target`` (Aff1 = target >> 4,
        TargetList bit target & 15)."""
        return sgi << 24 | (target >> 4) << 16 | 1 << (target & 15)

    def send_sgi(self, vcpu: Vcpu, sgi: int, target: int, cont: Step) -> int:
        """``gic_ipi_send_mask``: ICC_SGI1R_EL1 (always trapped: ``SYS64``)."""
        return vcpu.trap_sysreg("ICC_SGI1R_EL1", self.sgi1r(sgi, target), True, cont)
