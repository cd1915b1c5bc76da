"""The host ITS driver with GICv4/v4.1 support, after Linux ``drivers/irqchip/irq-gic-v3-its.c``
and ``irq-gic-v4.c``.

Physical LPIs (``its_init``, ``its_cpu_init_lpis``):

* one LPI configuration table for every redistributor (GICR_PROPBASER, IDbits 16), a 64 KiB
  pending table per redistributor (GICR_PENDBASER with PTZ), then GICR_CTLR.EnableLPIs;
* GITS_BASER0 (devices), GITS_BASER1 (collections), GITS_BASER2 (vPEs, GICv4), GITS_CBASER
  and GITS_CTLR.Enabled; one collection per CPU (``its_cpu_init_collection``: MAPC with the
  processor number, GITS_TYPER.PTA = 0, then INVALL);
* :meth:`ItsNode.its_create_device` (``its_msi_prepare``: MAPD with an ITT) and
  :meth:`ItsNode.msi_alloc` (``its_irq_domain_alloc`` + ``its_irq_domain_activate``: one LPI
  per event, MAPTI to the collection of the target CPU); the MSI message of an event is
  (GITS_TRANSLATER, EventID) (``its_irq_compose_msi_msg``);
* :class:`ItsIrqChip` (``its_irq_chip``): mask/unmask rewrite the LPI's configuration byte
  and send INV (``lpi_update_config``); PENDING through INT/CLEAR
  (``its_irq_set_irqchip_state``); ``irq_set_affinity`` (``its_set_affinity``) moves the
  event to the new CPU's collection (MOVI) and records it in ``col_map``;
  ``irq_set_vcpu_affinity`` (``its_irq_set_vcpu_affinity``)
  maps an event to a vLPI (``its_vlpi_map``: DISCARD + VMAPTI with the vPE's doorbell,
  configuration in the VM's vLPI property table), updates it (PROP_UPDATE_VLPI) or unmaps
  it (``its_vlpi_unmap``: DISCARD + MAPTI back to the host LPI).

Every command is written into the command queue in memory with its SYNC/VSYNC
(``its_send_single_command``, ``its_send_single_vcommand``), GITS_CWRITER is advanced and
GITS_CREADR polled: two ITS accesses, ``gicd_access_ns`` each.

GICv4 (``its_vpe_*``): :class:`ItsVm` / :class:`ItsVpe` (``struct its_vm`` / ``its_vpe``);
:meth:`ItsNode.its_alloc_vcpu_irqs` gives each vPE an id, a virtual pending table, a
doorbell LPI and a Linux irq (``vpe->irq``) whose chip :class:`ItsVpeChip` (``its_vpe_irq_chip``
/ ``its_vpe_4_1_irq_chip``) implements:

* activation: VMAPP (+ VINVALL) to the vPE's redistributor;
* ``irq_set_vcpu_affinity`` SCHEDULE_VPE (``its_vpe_schedule``: GICR_VPROPBASER,
  GICR_VPENDBASER.Valid; GICv4.1: Valid | vPEID) and DESCHEDULE_VPE
  (``its_vpe_deschedule``: Valid = 0, PendingLast read back into ``vpe.pending_last``;
  GICv4.1: Doorbell = ``req_db``);
* ``irq_set_affinity`` (``its_vpe_set_affinity``): VMOVP (+ VSYNC) to the new redistributor,
  and the doorbell's proxy event follows (MOVI);
* GICv4.0 doorbell masking through the proxy device (``its_vpe_db_proxy_map_locked``:
  DeviceID (1 << Devbits) - 1, one event per vPE): mask/unmask rewrite the doorbell's
  configuration byte and send INV; PENDING = false sends CLEAR;
* GICv4.1 vSGIs (``its_sgi_irq_chip``): 16 irqs per vPE; activation, mask/unmask and
  PROP_UPDATE_VSGI send VSGI, deactivation disables and clears (two VSGIs); PENDING = true
  writes GITS_SGIR (``its_sgi_set_irqchip_state``).
"""

from __future__ import annotations

from typing import Any, Final

from irqfwd.host.genirq import (
    EINVAL,
    IRQ_DISABLE_UNLAZY,
    IRQCHIP_STATE_PENDING,
    IRQD_FORWARDED_TO_VCPU,
    Genirq,
    IrqChip,
    IrqData,
)
from irqfwd.host.irqchip.arm_gic_v3 import (
    COMMIT_VPE,
    DESCHEDULE_VPE,
    GET_VLPI,
    GICR_CTLR,
    GICR_CTLR_ENABLE_LPIS,
    GICR_PENDBASER,
    GICR_PENDBASER_PTZ,
    GICR_PROPBASER,
    GICR_VLPI_BASE,
    GICR_VPENDBASER,
    GICR_VPENDBASER_4_1_DB,
    GICR_VPENDBASER_PENDINGLAST,
    GICR_VPENDBASER_VALID,
    GICR_VPROPBASER,
    GICR_VSGIPENDR,
    GICR_VSGIR,
    GITS_BASER,
    GITS_BASER_PAGE_SIZE_64K,
    GITS_BASER_VALID,
    GITS_CBASER,
    GITS_CBASER_VALID,
    GITS_CMD_CLEAR,
    GITS_CMD_DISCARD,
    GITS_CMD_INT,
    GITS_CMD_INV,
    GITS_CMD_INVALL,
    GITS_CMD_MAPC,
    GITS_CMD_MAPD,
    GITS_CMD_MAPTI,
    GITS_CMD_MOVI,
    GITS_CMD_SYNC,
    GITS_CMD_VINVALL,
    GITS_CMD_VMAPP,
    GITS_CMD_VMAPTI,
    GITS_CMD_VMOVI,
    GITS_CMD_VMOVP,
    GITS_CMD_VSGI,
    GITS_CMD_VSYNC,
    GITS_CREADR,
    GITS_CTLR,
    GITS_CTLR_ENABLE,
    GITS_CWRITER,
    GITS_SGIR,
    GITS_TRANSLATER,
    GITS_TYPER,
    GITS_TYPER_VLPIS,
    GITS_TYPER_VMAPP,
    INVALL_VPE,
    ITS_CMD_QUEUE_SZ,
    ITS_NO_DOORBELL,
    LPI_NRBITS,
    LPI_PROP_DEFAULT_PRIO,
    LPI_PROP_ENABLED,
    LPI_PROP_GROUP1,
    MAP_VLPI,
    PROP_UPDATE_AND_INV_VLPI,
    PROP_UPDATE_VLPI,
    PROP_UPDATE_VSGI,
    SCHEDULE_VPE,
)
from irqfwd.hw.gicv3.gic import GICv3
from irqfwd.hw.machine import Machine

__all__ = [
    "INVALL_VPE",
    "ItsCmdInfo",
    "ItsDevice",
    "ItsIrqChip",
    "ItsNode",
    "ItsVlpiMap",
    "ItsVm",
    "ItsVpe",
    "ItsVpeChip",
    "its_compose_msi_msg",
    "its_get_vlpi",
    "its_make_vpe_non_resident",
    "its_make_vpe_resident",
    "its_map_vlpi",
    "its_unmap_vlpi",
]

LPI_BASE: Final = 8192
# Where the driver puts its tables in the modelled RAM (the GIC model's ``mem``)
_PROP_TABLE: Final = 0x4100_0000
_PEND_TABLES: Final = 0x4200_0000
_DEVICE_TABLE: Final = 0x4300_0000
_COLLECTION_TABLE: Final = 0x4310_0000
_VPE_TABLE: Final = 0x4320_0000
_CMD_QUEUE: Final = 0x4400_0000
_ITT_BASE: Final = 0x4500_0000
_VPT_BASE: Final = 0x4600_0000
_VPROP_BASE: Final = 0x4700_0000
_ITT_SIZE: Final = 0x1000
_SZ_64K: Final = 0x10000
SGI_DOMAIN: Final = 3
"""genirq domain number of the vSGI irqs (hwirq = vPEID << 4 | INTID)."""


def its_compose_msi_msg(its_base: int, event: int) -> tuple[int, int]:
    """``its_irq_compose_msi_msg``: the (address, data) a device writes: GITS_TRANSLATER
    and the EventID."""
    return its_base + GITS_TRANSLATER, event


class ItsDevice:
    """``struct its_device``: a DeviceID, its ITT, its events' LPIs and vLPI maps."""

    __slots__ = ("collection", "device_id", "irqs", "itt", "lpi_base", "nr_ites", "vlpi_maps")

    def __init__(self, device_id: int, nr_ites: int, itt: int, lpi_base: int) -> None:
        self.device_id = device_id
        self.nr_ites = nr_ites
        self.itt = itt
        self.lpi_base = lpi_base
        self.irqs: list[int] = []
        """Linux irq of each event."""
        self.collection: list[int] = [0] * nr_ites
        """``event_map.col_map``: the CPU whose collection (ICID = CPU number) each event is
        mapped to (MAPTI at activation, MOVI in :meth:`ItsIrqChip._set_affinity`)."""
        self.vlpi_maps: list[ItsVlpiMap | None] = [None] * nr_ites


class ItsVpe:
    """``struct its_vpe``: one vCPU as the GIC sees it."""

    __slots__ = ("col_idx", "idai", "irq", "pending_last", "ready", "resident", "sgi_config",
                 "sgi_irqs", "vlpi_count", "vm", "vpe_db_lpi", "vpe_id", "vpe_proxy_event",
                 "vpt")

    def __init__(self, vm: ItsVm, vpe_id: int, vpt: int, db_lpi: int) -> None:
        self.vm = vm
        self.vpe_id = vpe_id
        self.vpt = vpt
        """Physical address of the virtual pending table (``vpt_page``)."""
        self.vpe_db_lpi = db_lpi
        self.col_idx = 0
        """The CPU whose redistributor the vPE is mapped to (VMAPP / VMOVP)."""
        self.irq = 0
        """``vpe->irq``: the doorbell's Linux irq."""
        self.resident = False
        self.pending_last = False
        self.idai = False
        self.ready = False
        self.vlpi_count = 0
        """``vpe->vlpi_count`` ("per-vPE VLPI tracking"): kept by KVM
        (``kvm_vgic_v4_set_forwarding`` / ``kvm_vgic_v4_unset_forwarding`` and the vITS's
        ``update_affinity``), never by this driver."""
        self.vpe_proxy_event = -1
        self.sgi_config: list[list[int]] = [[0, 0, 0] for _ in range(16)]
        """GICv4.1 vSGIs: [priority, group, enabled] per INTID (``vpe->sgi_config``)."""
        self.sgi_irqs: list[int] = []


class ItsVm:
    """``struct its_vm``: the vPEs of one VM and its vLPI property table."""

    __slots__ = ("nr_vpes", "vpes", "vprop")

    def __init__(self, vprop: int) -> None:
        self.vprop = vprop
        """Physical address of the vLPI configuration table (``vprop_page``), shared by
        the VM's vPEs."""
        self.vpes: list[ItsVpe] = []
        self.nr_vpes = 0


class ItsVlpiMap:
    """``struct its_vlpi_map``."""

    __slots__ = ("db_enabled", "properties", "vintid", "vm", "vpe")

    def __init__(self, vm: ItsVm, vpe: ItsVpe, vintid: int, properties: int,
                 db_enabled: bool) -> None:
        self.vm = vm
        self.vpe = vpe
        self.vintid = vintid
        self.properties = properties
        self.db_enabled = db_enabled


class ItsCmdInfo:
    """``struct its_cmd_info`` (the argument of ``irq_set_vcpu_affinity`` for ITS irqs)."""

    __slots__ = ("cmd_type", "config", "g0en", "g1en", "group", "map", "priority", "req_db")

    def __init__(self, cmd_type: int, map_: ItsVlpiMap | None = None, config: int = 0,
                 req_db: bool = False, g0en: bool = False, g1en: bool = False,
                 priority: int = 0, group: bool = False) -> None:
        self.cmd_type = cmd_type
        self.map = map_
        self.config = config
        self.req_db = req_db
        self.g0en = g0en
        self.g1en = g1en
        self.priority = priority
        self.group = group


def _cmd(cmd: int, dw0: int = 0, dw1: int = 0, dw2: int = 0, dw3: int = 0) -> tuple[int, int, int, int]:
    return (dw0 | cmd, dw1, dw2, dw3)


class ItsNode:
    """``struct its_node``: one ITS, its tables and command queue, and the LPI space."""

    def __init__(self, machine: Machine, gic: GICv3, genirq: Genirq, gic_driver: Any) -> None:
        self.m = machine
        self.gic = gic
        self.genirq = genirq
        self.gic_driver = gic_driver
        cfg = gic.config
        self.base = cfg.gits_base
        self.rd_base = cfg.gicr_base
        self.rd_stride = cfg.gicr_stride
        self.gicd = machine.costs.gicd_access_ns
        self.cwriter = 0
        self.typer = 0
        self.is_v4 = False
        self.is_v4_1 = False
        self.device_ids = 16
        self.lpi_next = LPI_BASE
        self.lpi_limit = 1 << LPI_NRBITS
        self.devices: dict[int, ItsDevice] = {}
        self.chip = ItsIrqChip(self)
        self.vpe_chip = ItsVpeChip(self)
        self.sgi_chip = ItsSgiChip(self)
        self.vpe_next = 0
        self.vms: list[ItsVm] = []
        self.vpe_proxy: ItsDevice | None = None
        self.commands = 0
        """ITS commands sent (SYNC/VSYNC included)."""
        self.cpu_load = [0] * cfg.num_cpus
        """Device LPIs routed to each CPU (``cpu_lpi_count``: what ``its_select_cpu`` reads,
        ``its_set_affinity`` moves)."""

    # ---------------------------------------------------------------- MMIO helpers
    def _write(self, off: int, value: int, size: int = 4) -> None:
        self.gic.write(self.base + off, value, size, 0)

    def _read(self, off: int, size: int = 4) -> int:
        return self.gic.read(self.base + off, size, 0)

    def _rd(self, cpu: int) -> int:
        return self.rd_base + cpu * self.rd_stride

    # ---------------------------------------------------------------- init
    def init(self) -> None:
        """``its_init``: probe (GITS_TYPER), LPI tables on every redistributor, the ITS
        tables and command queue, then one collection per CPU."""
        gic = self.gic
        cfg = gic.config
        self.typer = self._read(GITS_TYPER, 8)
        self.is_v4 = bool(self.typer & GITS_TYPER_VLPIS)
        self.is_v4_1 = bool(self.typer & GITS_TYPER_VMAPP)
        self.device_ids = ((self.typer >> 13) & 0x1F) + 1
        id_bits = min(LPI_NRBITS, cfg.lpi_id_bits)
        self.lpi_limit = 1 << id_bits
        # its_cpu_init_lpis (GICR_PROPBASER shared, GICR_PENDBASER per CPU)
        for cpu in range(cfg.num_cpus):
            rd = self._rd(cpu)
            gic.write(rd + GICR_PROPBASER, _PROP_TABLE | (id_bits - 1), 8, cpu)
            gic.write(rd + GICR_PENDBASER, _PEND_TABLES + cpu * _SZ_64K | GICR_PENDBASER_PTZ, 8, cpu)
            gic.write(rd + GICR_CTLR, GICR_CTLR_ENABLE_LPIS, 4, cpu)
        # its_alloc_tables: flat tables of 64 KiB pages (8-byte entries)
        # 8 pages of 64 KiB: 65,536 DeviceIDs (Devbits 16), the proxy device is the last one
        self._write(GITS_BASER, GITS_BASER_VALID | _DEVICE_TABLE | GITS_BASER_PAGE_SIZE_64K | 7, 8)
        self._write(GITS_BASER + 8, GITS_BASER_VALID | _COLLECTION_TABLE | GITS_BASER_PAGE_SIZE_64K, 8)
        if self.is_v4:
            self._write(GITS_BASER + 16, GITS_BASER_VALID | _VPE_TABLE | GITS_BASER_PAGE_SIZE_64K, 8)
        self._write(GITS_CBASER, GITS_CBASER_VALID | _CMD_QUEUE | (ITS_CMD_QUEUE_SZ // 0x1000 - 1), 8)
        self._write(GITS_CWRITER, 0, 8)
        self._write(GITS_CTLR, GITS_CTLR_ENABLE)
        for cpu in range(cfg.num_cpus):
            # its_cpu_init_collection: MAPC (RDbase = processor number), INVALL
            self.send(_cmd(GITS_CMD_MAPC, 0, 0, 1 << 63 | cpu << 16 | cpu),
                      _cmd(GITS_CMD_INVALL, 0, 0, cpu))
        if self.is_v4 and not self.is_v4_1:
            # its_init_vpe_domain: the doorbell proxy device (its_vpe_db_proxy_map_locked)
            self.vpe_proxy = self.its_create_device((1 << self.device_ids) - 1, 64, False)

    # ---------------------------------------------------------------- commands
    def send(self, *cmds: tuple[int, int, int, int]) -> None:
        """``its_send_single_command``: the commands into the queue, GITS_CWRITER advanced,
        GITS_CREADR polled until the ITS has consumed them."""
        mem = self.gic.mem
        for dws in cmds:
            off = self.cwriter
            for i in range(4):
                mem.write(_CMD_QUEUE + off + 8 * i, dws[i], 8)
            self.cwriter = (off + 32) % ITS_CMD_QUEUE_SZ
            self.commands += 1
        self._write(GITS_CWRITER, self.cwriter, 8)
        self._read(GITS_CREADR, 8)
        self.m.acc += 2 * self.gicd

    def _sync(self, cpu: int) -> tuple[int, int, int, int]:
        return _cmd(GITS_CMD_SYNC, 0, 0, cpu << 16)

    def _vsync(self, vpe: ItsVpe) -> tuple[int, int, int, int]:
        return _cmd(GITS_CMD_VSYNC, 0, vpe.vpe_id << 32)

    # ---------------------------------------------------------------- LPIs
    def alloc_lpis(self, n: int) -> int:
        """``its_lpi_alloc``: ``n`` consecutive LPI INTIDs."""
        base = self.lpi_next
        if base + n > self.lpi_limit:
            raise ValueError(f"ITS: out of LPIs ({n} more beyond {base})")
        self.lpi_next += n
        return base

    def lpi_write_config(self, lpi: int, clr: int, set_: int) -> None:
        """``lpi_write_config``: update the configuration byte of physical LPI ``lpi``."""
        mem = self.gic.mem
        addr = _PROP_TABLE + lpi - LPI_BASE
        mem.write_u8(addr, (mem.read_u8(addr) & ~clr) | set_ | LPI_PROP_GROUP1)

    def its_create_device(self, device_id: int, nvecs: int, alloc_lpis: bool = True) -> ItsDevice:
        """``its_create_device`` (``its_msi_prepare``): ITT, LPIs for ``nvecs`` events
        (unless ``alloc_lpis`` is false: the doorbell proxy), MAPD."""
        bits = max((nvecs - 1).bit_length(), 1)
        dev = ItsDevice(device_id, nvecs, _ITT_BASE + len(self.devices) * _ITT_SIZE,
                        self.alloc_lpis(nvecs) if alloc_lpis else 0)
        self.devices[device_id] = dev
        self.send(_cmd(GITS_CMD_MAPD, device_id << 32, bits - 1, 1 << 63 | dev.itt))
        return dev

    def its_select_cpu(self) -> int:
        """``its_select_cpu`` for an unmanaged interrupt: the least loaded CPU (fewest LPIs
        routed to it; the lowest on a tie)."""
        load = self.cpu_load
        return load.index(min(load))

    def msi_alloc(self, dev: ItsDevice) -> list[int]:
        """``its_irq_domain_alloc`` + ``its_irq_domain_activate`` for every event of
        ``dev``: a Linux irq per event on LPI ``lpi_base + event`` (configuration: default
        priority, disabled), MAPTI to the collection of the CPU ``its_select_cpu`` picks.
        Returns the irqs."""
        for event in range(dev.nr_ites):
            cpu = self.its_select_cpu()
            self.cpu_load[cpu] += 1
            lpi = dev.lpi_base + event
            irq = self.genirq.irq_create_mapping(self.chip, lpi)
            d = self.genirq.irq_get_irq_data(irq)
            d.chip_data = (dev, event)
            self.gic.mem.write_u8(_PROP_TABLE + lpi - LPI_BASE, LPI_PROP_DEFAULT_PRIO | LPI_PROP_GROUP1)
            dev.collection[event] = cpu
            self.send(_cmd(GITS_CMD_MAPTI, dev.device_id << 32, lpi << 32 | event, cpu),
                      self._sync(cpu))
            dev.irqs.append(irq)
        return list(dev.irqs)

    # ---------------------------------------------------------------- GICv4 vPEs
    def its_alloc_vcpu_irqs(self, vm: ItsVm, nr_vpes: int, cpus: list[int]) -> None:
        """``its_alloc_vcpu_irqs``: vPE ids, virtual pending tables, doorbell LPIs and the
        ``vpe->irq`` of each vPE (``its_vpe_irq_domain_alloc``), then their activation
        (``its_vpe_irq_domain_activate``: VMAPP + VINVALL to the redistributor of
        ``cpus[i]``; GICv4.1: with the vLPI configuration table and default doorbell)."""
        genirq = self.genirq
        base = self.alloc_lpis(nr_vpes)
        vm.nr_vpes = nr_vpes
        for i in range(nr_vpes):
            vpe_id = self.vpe_next
            self.vpe_next += 1
            vpe = ItsVpe(vm, vpe_id, _VPT_BASE + vpe_id * _SZ_64K, base + i)
            vpe.col_idx = cpus[i]
            vm.vpes.append(vpe)
            # the doorbell: an LPI in the shared property table, disabled until unmasked
            self.gic.mem.write_u8(_PROP_TABLE + vpe.vpe_db_lpi - LPI_BASE,
                                  LPI_PROP_DEFAULT_PRIO | LPI_PROP_GROUP1)
            vpe.irq = genirq.irq_create_mapping(self.vpe_chip, vpe.vpe_db_lpi)
            genirq.irq_get_irq_data(vpe.irq).chip_data = vpe
            self._vmapp(vpe, True)
            if self.is_v4_1:
                for intid in range(16):
                    irq = genirq.irq_create_mapping(self.sgi_chip, vpe_id << 4 | intid, SGI_DOMAIN)
                    genirq.irq_get_irq_data(irq).chip_data = vpe
                    vpe.sgi_irqs.append(irq)
            elif self.vpe_proxy is not None:
                vpe.vpe_proxy_event = vpe_id % self.vpe_proxy.nr_ites
        self.vms.append(vm)

    def _vmapp(self, vpe: ItsVpe, valid: bool) -> None:
        """``its_send_vmapp`` (+ VINVALL when mapping)."""
        dw0 = 0
        dw1 = vpe.vpe_id << 32
        if self.is_v4_1:
            dw0 = (vpe.vm.vprop >> 16) << 16
            dw1 |= vpe.vpe_db_lpi
        dw2 = (1 << 63 if valid else 0) | vpe.col_idx << 16
        dw3 = vpe.vpt | (LPI_NRBITS - 1)
        cmds = [_cmd(GITS_CMD_VMAPP, dw0, dw1, dw2, dw3)]
        if valid:
            cmds.append(_cmd(GITS_CMD_VINVALL, 0, vpe.vpe_id << 32))
        cmds.append(self._vsync(vpe))
        self.send(*cmds)

    def vpe_schedule(self, vpe: ItsVpe, g0en: bool, g1en: bool) -> None:
        """``its_vpe_schedule`` / ``its_vpe_4_1_schedule``: make the vPE resident on its
        redistributor (GICR_VPROPBASER, then GICR_VPENDBASER with Valid)."""
        vl = self._rd(vpe.col_idx) + GICR_VLPI_BASE
        cpu = vpe.col_idx
        if self.is_v4_1:
            self.gic.write(vl + GICR_VPENDBASER, GICR_VPENDBASER_VALID | vpe.vpe_id, 8, cpu)
        else:
            self.gic.write(vl + GICR_VPROPBASER, vpe.vm.vprop | (LPI_NRBITS - 1), 8, cpu)
            self.gic.write(vl + GICR_VPENDBASER, GICR_VPENDBASER_VALID | vpe.vpt, 8, cpu)
        self.m.acc += 2 * self.gicd

    def vpe_deschedule(self, vpe: ItsVpe, req_db: bool) -> None:
        """``its_vpe_deschedule`` / ``its_vpe_4_1_deschedule``: GICR_VPENDBASER.Valid = 0
        (GICv4.1: Doorbell = ``req_db``); PendingLast read back into ``pending_last``
        (GICv4.1 without a doorbell: ``pending_last`` = true)."""
        vl = self._rd(vpe.col_idx) + GICR_VLPI_BASE
        cpu = vpe.col_idx
        val = GICR_VPENDBASER_4_1_DB if self.is_v4_1 and req_db else 0
        self.gic.write(vl + GICR_VPENDBASER, val, 8, cpu)
        back = self.gic.read(vl + GICR_VPENDBASER, 8, cpu)
        self.m.acc += 2 * self.gicd
        if self.is_v4_1 and not req_db:
            vpe.pending_last = True  # not blocking: "we'll be back"
        else:
            vpe.pending_last = bool(back & GICR_VPENDBASER_PENDINGLAST)

    def vpe_set_affinity(self, vpe: ItsVpe, cpu: int) -> None:
        """``its_vpe_set_affinity``: VMOVP (+ VSYNC) when the vPE changes redistributor;
        the doorbell's proxy event follows (``its_vpe_db_proxy_move``)."""
        old = vpe.col_idx
        if old == cpu:
            return
        vpe.col_idx = cpu
        self.send(_cmd(GITS_CMD_VMOVP, 0, vpe.vpe_id << 32, cpu << 16), self._vsync(vpe))
        proxy = self.vpe_proxy
        if proxy is not None and vpe.vpe_proxy_event >= 0 and proxy.vlpi_maps[vpe.vpe_proxy_event] is not None:
            self.send(_cmd(GITS_CMD_MOVI, proxy.device_id << 32, vpe.vpe_proxy_event, cpu),
                      self._sync(cpu))

    def _proxy_map(self, vpe: ItsVpe) -> tuple[ItsDevice, int] | None:
        """``its_vpe_db_proxy_map_locked``: the vPE's doorbell as an event of the proxy
        device (MAPTI), so that INV and CLEAR can reach it (GICv4.0 without DirectLPI)."""
        proxy = self.vpe_proxy
        if proxy is None or vpe.vpe_proxy_event < 0:
            return None
        ev = vpe.vpe_proxy_event
        if proxy.vlpi_maps[ev] is None:
            # the slot records which vPE owns the event (the proxy has no vLPI maps)
            proxy.vlpi_maps[ev] = ItsVlpiMap(vpe.vm, vpe, vpe.vpe_db_lpi, 0, False)
            self.send(_cmd(GITS_CMD_MAPTI, proxy.device_id << 32, vpe.vpe_db_lpi << 32 | ev,
                           vpe.col_idx), self._sync(vpe.col_idx))
        return proxy, ev

    def vpe_send_inv(self, vpe: ItsVpe) -> None:
        """``its_vpe_send_inv``: INV of the doorbell through the proxy device."""
        pm = self._proxy_map(vpe)
        if pm is not None:
            self.send(_cmd(GITS_CMD_INV, pm[0].device_id << 32, pm[1]), self._sync(vpe.col_idx))

    def vpe_clear_db(self, vpe: ItsVpe) -> None:
        """``its_vpe_set_irqchip_state(PENDING, false)``: CLEAR of the doorbell."""
        pm = self._proxy_map(vpe)
        if pm is not None:
            self.send(_cmd(GITS_CMD_CLEAR, pm[0].device_id << 32, pm[1]), self._sync(vpe.col_idx))

    def vlpi_write_config(self, m: ItsVlpiMap) -> None:
        """``lpi_write_config`` of a forwarded irq: the VM's vLPI property table."""
        self.gic.mem.write_u8(m.vm.vprop + m.vintid - LPI_BASE, m.properties | LPI_PROP_GROUP1)

    # ---------------------------------------------------------------- vSGIs (GICv4.1)
    def send_vsgi(self, vpe: ItsVpe, intid: int, clear: bool = False) -> None:
        """``its_send_vsgi``: VSGI with the vSGI's priority, group and enable."""
        prio, group, enabled = vpe.sgi_config[intid]
        dw0 = (intid << 32 | ((prio >> 4) & 0xF) << 20 | (1 if group else 0) << 10
               | (1 if clear else 0) << 9 | (1 if enabled else 0) << 8)
        self.send(_cmd(GITS_CMD_VSGI, dw0, vpe.vpe_id << 32), self._vsync(vpe))

    def sgir_write(self, vpe: ItsVpe, intid: int) -> None:
        """``its_sgi_set_irqchip_state(PENDING, true)``: GITS_SGIR = vPEID | vINTID."""
        self.m.acc += self.gicd
        self._write(GITS_SGIR, vpe.vpe_id << 32 | intid, 8)


class ItsIrqChip(IrqChip):
    """``its_irq_chip``: the chip of device LPIs (``irq_data.chip_data`` = (device, event))."""

    name = "ITS"

    def __init__(self, its: ItsNode) -> None:
        self.its = its
        self.irq_set_vcpu_affinity = self._set_vcpu_affinity
        self.irq_set_irqchip_state = self._set_state
        self.irq_get_irqchip_state = self._get_state
        self.irq_set_affinity = self._set_affinity

    @staticmethod
    def _ev(d: IrqData) -> tuple[ItsDevice, int]:
        dev, event = d.chip_data
        return dev, event

    def _update_config(self, d: IrqData, clr: int, set_: int) -> None:
        """``lpi_update_config``: rewrite the configuration byte, then INV (``its_send_inv``)."""
        its = self.its
        dev, event = self._ev(d)
        m = dev.vlpi_maps[event]
        if d.state & IRQD_FORWARDED_TO_VCPU and m is not None:
            m.properties = (m.properties & ~clr) | set_
            its.vlpi_write_config(m)
            its.send(_cmd(GITS_CMD_INV, dev.device_id << 32, event), its._vsync(m.vpe))
            return
        its.lpi_write_config(d.hwirq, clr, set_)
        cpu = dev.collection[event]
        its.send(_cmd(GITS_CMD_INV, dev.device_id << 32, event), its._sync(cpu))

    def irq_mask(self, d: IrqData, cpu: int = 0) -> None:
        """``its_mask_irq``: clear the enable bit."""
        self._update_config(d, LPI_PROP_ENABLED, 0)

    def irq_unmask(self, d: IrqData, cpu: int = 0) -> None:
        """``its_unmask_irq``: set the enable bit."""
        self._update_config(d, 0, LPI_PROP_ENABLED)

    def irq_eoi(self, d: IrqData, cpu: int = 0) -> None:
        """``irq_chip_eoi_parent``: an LPI has no active state; its ICC_EOIR1_EL1 was
        written by ``gic_handle_irq``."""

    def _set_state(self, d: IrqData, which: int, val: bool, cpu: int) -> int:
        """``its_irq_set_irqchip_state``: PENDING through INT / CLEAR."""
        if which != IRQCHIP_STATE_PENDING:
            return EINVAL
        its = self.its
        dev, event = self._ev(d)
        m = dev.vlpi_maps[event]
        sync = its._vsync(m.vpe) if m is not None else its._sync(dev.collection[event])
        its.send(_cmd(GITS_CMD_INT if val else GITS_CMD_CLEAR, dev.device_id << 32, event), sync)
        return 0

    def _set_affinity(self, d: IrqData, cpu: int) -> int:
        """``its_set_affinity``: route the event's host LPI to ``cpu``.

        -EINVAL, nothing sent, for an LPI forwarded to a vCPU as a vLPI
        (``irqd_is_forwarded_to_vcpu``: its route is the vPE's, changed through
        ``irq_set_vcpu_affinity``) and for a CPU the system does not have (``its_select_cpu``
        finds none, ``cpu >= nr_cpu_ids``).  When ``cpu``'s collection (ICID = CPU number,
        ``its_cpu_init_collection``) is not the one in the event's ``col_map`` entry:
        ``its_send_movi`` (MOVI with the DeviceID, EventID and new ICID, then SYNC to the
        collection the event had when the command was built, ``its_build_movi_cmd``) and
        ``col_map`` takes ``cpu``; the per-CPU LPI counts follow
        (``its_dec_lpi_count``/``its_inc_lpi_count``).  The ITS moves a pending LPI to the
        new redistributor (IHI 0069H §6.3 MOVI).
        """
        if d.state & IRQD_FORWARDED_TO_VCPU:
            return EINVAL
        its = self.its
        load = its.cpu_load
        if not 0 <= cpu < len(load):
            return EINVAL
        dev, event = self._ev(d)
        prev = dev.collection[event]
        if cpu != prev:
            its.send(_cmd(GITS_CMD_MOVI, dev.device_id << 32, event, cpu), its._sync(prev))
            dev.collection[event] = cpu
        load[prev] -= 1
        load[cpu] += 1
        return 0

    def _get_state(self, d: IrqData, which: int, cpu: int) -> bool | int:
        """PENDING of a host LPI from the pending table of its redistributor."""
        if which != IRQCHIP_STATE_PENDING:
            return EINVAL
        dev, event = self._ev(d)
        its = self.its
        its.m.acc += its.gicd
        return d.hwirq in its.gic.redist[dev.collection[event]].lpi_pend

    def _set_vcpu_affinity(self, d: IrqData, info: Any) -> int:
        """``its_irq_set_vcpu_affinity``: MAP_VLPI / GET_VLPI / PROP_UPDATE(_AND_INV)_VLPI,
        ``None`` = ``its_vlpi_unmap``."""
        its = self.its
        if not its.is_v4:
            return EINVAL
        dev, event = self._ev(d)
        if info is None:
            return self._vlpi_unmap(d, dev, event)
        if not isinstance(info, ItsCmdInfo):
            return EINVAL
        if info.cmd_type == MAP_VLPI and info.map is not None:
            return self._vlpi_map(d, dev, event, info.map)
        if info.cmd_type == GET_VLPI:
            m = dev.vlpi_maps[event]
            if m is None:
                return EINVAL
            # its_vlpi_get: a copy of the mapping for the caller
            info.map = ItsVlpiMap(m.vm, m.vpe, m.vintid, m.properties, m.db_enabled)
            return 0
        if info.cmd_type in (PROP_UPDATE_VLPI, PROP_UPDATE_AND_INV_VLPI):
            m = dev.vlpi_maps[event]
            if m is None:
                return EINVAL
            m.properties = info.config
            its.vlpi_write_config(m)
            if info.cmd_type == PROP_UPDATE_AND_INV_VLPI:
                its.send(_cmd(GITS_CMD_INV, dev.device_id << 32, event), its._vsync(m.vpe))
            return 0
        return EINVAL

    def _vlpi_map(self, d: IrqData, dev: ItsDevice, event: int, m: ItsVlpiMap) -> int:
        """``its_vlpi_map``: a new map drops the physical mapping (DISCARD) and installs the
        virtual one (VMAPTI, doorbell = the vPE's when ``db_enabled``); a map of an irq
        already forwarded moves it ("Already mapped, move it around": VMOVI, even to the
        same vPE)."""
        its = self.its
        db = m.vpe.vpe_db_lpi if m.db_enabled and not its.is_v4_1 else ITS_NO_DOORBELL
        old = dev.vlpi_maps[event]
        dev.vlpi_maps[event] = m
        its.vlpi_write_config(m)
        if old is not None:
            its.send(_cmd(GITS_CMD_VMOVI, dev.device_id << 32, m.vpe.vpe_id << 32 | event,
                          db << 32 | (1 if m.db_enabled else 0)), its._vsync(m.vpe))
            return 0
        # irq_set_status_flags(IRQ_DISABLE_UNLAZY) was done by its_map_vlpi
        d.state |= IRQD_FORWARDED_TO_VCPU
        its.send(_cmd(GITS_CMD_DISCARD, dev.device_id << 32, event),
                 _cmd(GITS_CMD_VMAPTI, dev.device_id << 32, m.vpe.vpe_id << 32 | event,
                      db << 32 | m.vintid),
                 its._vsync(m.vpe))
        return 0

    def _vlpi_unmap(self, d: IrqData, dev: ItsDevice, event: int) -> int:
        """``its_vlpi_unmap``: DISCARD, then MAPTI back to the host LPI and its collection."""
        its = self.its
        m = dev.vlpi_maps[event]
        if m is None:
            return EINVAL
        dev.vlpi_maps[event] = None
        d.state &= ~IRQD_FORWARDED_TO_VCPU
        cpu = dev.collection[event]
        its.send(_cmd(GITS_CMD_DISCARD, dev.device_id << 32, event),
                 _cmd(GITS_CMD_MAPTI, dev.device_id << 32, d.hwirq << 32 | event, cpu),
                 its._sync(cpu))
        return 0


class ItsVpeChip(IrqChip):
    """``its_vpe_irq_chip`` (GICv4.0) / ``its_vpe_4_1_irq_chip``: the doorbell irq of a vPE
    (``irq_data.chip_data`` = the :class:`ItsVpe`)."""

    name = "GICv4-vpe"

    def __init__(self, its: ItsNode) -> None:
        self.its = its
        self.irq_set_vcpu_affinity = self._set_vcpu_affinity
        self.irq_set_irqchip_state = self._set_state
        self.irq_set_affinity = self._set_affinity

    def irq_mask(self, d: IrqData, cpu: int = 0) -> None:
        """``its_vpe_mask_irq``: clear the doorbell's enable bit, INV through the proxy."""
        vpe: ItsVpe = d.chip_data
        its = self.its
        its.lpi_write_config(vpe.vpe_db_lpi, LPI_PROP_ENABLED, 0)
        if not its.is_v4_1:
            its.vpe_send_inv(vpe)

    def irq_unmask(self, d: IrqData, cpu: int = 0) -> None:
        """``its_vpe_unmask_irq``: set the doorbell's enable bit, INV through the proxy."""
        vpe: ItsVpe = d.chip_data
        its = self.its
        its.lpi_write_config(vpe.vpe_db_lpi, 0, LPI_PROP_ENABLED)
        if not its.is_v4_1:
            its.vpe_send_inv(vpe)

    def irq_eoi(self, d: IrqData, cpu: int = 0) -> None:
        """A doorbell is an LPI: nothing to deactivate."""

    def _set_state(self, d: IrqData, which: int, val: bool, cpu: int) -> int:
        """``its_vpe_set_irqchip_state``: PENDING = false clears the doorbell (CLEAR)."""
        if which != IRQCHIP_STATE_PENDING or val:
            return EINVAL
        vpe: ItsVpe = d.chip_data
        self.its.vpe_clear_db(vpe)
        return 0

    def _set_affinity(self, d: IrqData, cpu: int) -> int:
        """``its_vpe_set_affinity``: VMOVP to ``cpu``'s redistributor."""
        vpe: ItsVpe = d.chip_data
        self.its.vpe_set_affinity(vpe, cpu)
        return 0

    def _set_vcpu_affinity(self, d: IrqData, info: Any) -> int:
        """``its_vpe_set_vcpu_affinity``: SCHEDULE_VPE, DESCHEDULE_VPE, COMMIT_VPE,
        INVALL_VPE."""
        vpe: ItsVpe = d.chip_data
        its = self.its
        if not isinstance(info, ItsCmdInfo):
            return EINVAL
        if info.cmd_type == SCHEDULE_VPE:
            its.vpe_schedule(vpe, info.g0en, info.g1en)
            return 0
        if info.cmd_type == DESCHEDULE_VPE:
            its.vpe_deschedule(vpe, info.req_db)
            return 0
        if info.cmd_type == COMMIT_VPE:
            vpe.ready = True
            return 0
        if info.cmd_type == INVALL_VPE:
            its.send(_cmd(GITS_CMD_VINVALL, 0, vpe.vpe_id << 32), its._vsync(vpe))
            return 0
        return EINVAL


class ItsSgiChip(IrqChip):
    """``its_sgi_irq_chip`` (GICv4.1): the 16 vSGIs of a vPE (hwirq = vPEID << 4 | INTID)."""

    name = "GICv4.1-sgi"

    def __init__(self, its: ItsNode) -> None:
        self.its = its
        self.irq_set_vcpu_affinity = self._set_vcpu_affinity
        self.irq_set_irqchip_state = self._set_state
        self.irq_get_irqchip_state = self._get_state
        self.irq_domain_activate = self._activate
        self.irq_domain_deactivate = self._deactivate

    def _activate(self, d: IrqData, reserve: bool) -> int:
        """``its_sgi_irq_domain_activate``: "Write out the initial SGI configuration" (VSGI
        with ``sgi_config``)."""
        vpe: ItsVpe = d.chip_data
        self.its.send_vsgi(vpe, d.hwirq & 15)
        return 0

    def _deactivate(self, d: IrqData) -> None:
        """``its_sgi_irq_domain_deactivate``: disable the vSGI (VSGI, Clear = 0), then clear
        its pending state (VSGI, Clear = 1): one VSGI cannot change the configuration and
        clear the pending bit at once."""
        vpe: ItsVpe = d.chip_data
        intid = d.hwirq & 15
        vpe.sgi_config[intid][2] = 0
        self.its.send_vsgi(vpe, intid)
        self.its.send_vsgi(vpe, intid, clear=True)

    def _get_state(self, d: IrqData, which: int, cpu: int) -> bool | int:
        """``its_sgi_get_irqchip_state``: GICR_VSGIR = vPEID, then GICR_VSGIPENDR."""
        if which != IRQCHIP_STATE_PENDING:
            return EINVAL
        vpe: ItsVpe = d.chip_data
        its = self.its
        vl = its._rd(cpu) + GICR_VLPI_BASE
        its.gic.write(vl + GICR_VSGIR, vpe.vpe_id, 4, cpu)
        pend = its.gic.read(vl + GICR_VSGIPENDR, 4, cpu)
        its.m.acc += 2 * its.gicd
        return bool(pend >> (d.hwirq & 15) & 1)

    def irq_mask(self, d: IrqData, cpu: int = 0) -> None:
        """``its_sgi_mask_irq``: enabled = false, VSGI."""
        vpe: ItsVpe = d.chip_data
        intid = d.hwirq & 15
        vpe.sgi_config[intid][2] = 0
        self.its.send_vsgi(vpe, intid)

    def irq_unmask(self, d: IrqData, cpu: int = 0) -> None:
        """``its_sgi_unmask_irq``: enabled = true, VSGI."""
        vpe: ItsVpe = d.chip_data
        intid = d.hwirq & 15
        vpe.sgi_config[intid][2] = 1
        self.its.send_vsgi(vpe, intid)

    def irq_eoi(self, d: IrqData, cpu: int = 0) -> None:
        """vSGIs never reach the host."""

    def _set_state(self, d: IrqData, which: int, val: bool, cpu: int) -> int:
        """``its_sgi_set_irqchip_state``: PENDING = true writes GITS_SGIR, false sends
        VSGI with Clear."""
        if which != IRQCHIP_STATE_PENDING:
            return EINVAL
        vpe: ItsVpe = d.chip_data
        intid = d.hwirq & 15
        if val:
            self.its.sgir_write(vpe, intid)
        else:
            self.its.send_vsgi(vpe, intid, clear=True)
        return 0

    def _set_vcpu_affinity(self, d: IrqData, info: Any) -> int:
        """``its_sgi_set_vcpu_affinity``: PROP_UPDATE_VSGI (priority, group), VSGI."""
        if not isinstance(info, ItsCmdInfo) or info.cmd_type != PROP_UPDATE_VSGI:
            return EINVAL
        vpe: ItsVpe = d.chip_data
        intid = d.hwirq & 15
        vpe.sgi_config[intid][0] = info.priority
        vpe.sgi_config[intid][1] = 1 if info.group else 0
        self.its.send_vsgi(vpe, intid)
        return 0


def its_map_vlpi(genirq: Genirq, irq: int, m: ItsVlpiMap) -> int:
    """``its_map_vlpi``: no lazy masking for this irq any more (the host never sees it
    fire again), then MAP_VLPI through ``irq_set_vcpu_affinity``."""
    genirq.irq_set_status_flags(irq, IRQ_DISABLE_UNLAZY)
    return genirq.irq_set_vcpu_affinity(irq, ItsCmdInfo(MAP_VLPI, m))


def its_get_vlpi(genirq: Genirq, irq: int) -> tuple[int, ItsVlpiMap | None]:
    """``its_get_vlpi``: GET_VLPI, the driver's copy of the irq's vLPI mapping (-EINVAL and
    None when it is not forwarded)."""
    info = ItsCmdInfo(GET_VLPI)
    ret = genirq.irq_set_vcpu_affinity(irq, info)
    return ret, info.map if ret == 0 else None


def its_unmap_vlpi(genirq: Genirq, irq: int) -> int:
    """``its_unmap_vlpi``."""
    genirq.irq_to_desc(irq).settings &= ~IRQ_DISABLE_UNLAZY
    return genirq.irq_set_vcpu_affinity(irq, None)


def its_make_vpe_resident(genirq: Genirq, vpe: ItsVpe, g0en: bool, g1en: bool,
                          has_v4_1: bool) -> int:
    """``its_make_vpe_resident``: GICv4.0 disables the doorbell first (we are about to
    enter the guest), then SCHEDULE_VPE."""
    if not has_v4_1:
        genirq.disable_irq_nosync(vpe.irq)
    ret = genirq.irq_set_vcpu_affinity(vpe.irq, ItsCmdInfo(SCHEDULE_VPE, g0en=g0en, g1en=g1en))
    if not ret:
        vpe.resident = True
    return ret


def its_make_vpe_non_resident(genirq: Genirq, vpe: ItsVpe, db: bool, has_v4_1: bool) -> int:
    """``its_make_vpe_non_resident``: GICv4.1 asks the redistributor for the doorbell;
    GICv4.0 undoes the nested ``disable_irq`` calls when a doorbell is wanted."""
    if not has_v4_1:
        desc = genirq.irq_to_desc(vpe.irq)
        while db and desc.irq_data.irqd_irq_disabled():
            genirq.enable_irq(vpe.irq)
    ret = genirq.irq_set_vcpu_affinity(vpe.irq, ItsCmdInfo(DESCHEDULE_VPE, req_db=db))
    if not ret:
        vpe.resident = False
    return ret

