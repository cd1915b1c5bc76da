"""The Interrupt Translation Service (Arm IHI 0069H chapter 6, registers §12.19) with the
GICv4 virtual-LPI commands (chapter 6.3 "ITS commands", §5.3/5.4 "vPEs").

An MSI is a write of an EventID to GITS_TRANSLATER by a device with a DeviceID (the
machine calls :meth:`ITS.translate`; a CPU write to GITS_TRANSLATER carries DeviceID 0, as
QEMU gives CPU accesses).  The ITS finds the device's Interrupt Translation Table (MAPD),
the event's entry (MAPTI/MAPI: an LPI and a collection; VMAPTI/VMAPI: a vLPI, a vPE and a
doorbell LPI) and the collection's redistributor (MAPC) or the vPE's redistributor and
virtual pending table (VMAPP), and sets the (v)LPI pending there.

Software drives the ITS through the command queue in memory (GITS_CBASER, GITS_CWRITER,
GITS_CREADR; 32-byte commands, §6.3): commands are executed when GITS_CWRITER is written
(or the ITS is enabled) until GITS_CREADR reaches GITS_CWRITER.  A command with bad
arguments is ignored and execution goes on (an IMPLEMENTATION DEFINED choice for command
errors, the same as QEMU); :attr:`ITS.errors` counts them.  A command is cited by its name
in §6.3 (its subsection there), e.g. "§6.3 MAPC".

Table formats are IMPLEMENTATION DEFINED (§5.2): the model checks every DeviceID,
collection and vPE number against the capacity the software gave in GITS_BASER<n> (flat or
two-level tables; second-level pointers are read from memory), but keeps the entries
themselves in the ITS (in ``dicts``), not in the memory they occupy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from irqfwd.hw.gic.memory import Memory
from irqfwd.hw.gic.regs import Reg, RegisterBlock
from irqfwd.hw.gicv3.config import GICv3Config
from irqfwd.hw.gicv3.distributor import id_registers

if TYPE_CHECKING:
    from irqfwd.hw.gicv3.core import GicV3Core

__all__ = [
    "CMD_CLEAR", "CMD_DISCARD", "CMD_INT", "CMD_INV", "CMD_INVALL", "CMD_MAPC", "CMD_MAPD",
    "CMD_MAPI", "CMD_MAPTI", "CMD_MOVALL", "CMD_MOVI", "CMD_SYNC", "CMD_VINVALL", "CMD_VMAPI",
    "CMD_VMAPP", "CMD_VMAPTI", "CMD_VMOVI", "CMD_VMOVP", "CMD_VSGI", "CMD_VSYNC", "GITS_SIZE",
    "ITS", "Ite", "Vpe", "its_command",
]

GITS_SIZE: Final = 0x20000
"""Control frame (64 KiB) + translation frame (64 KiB: GITS_TRANSLATER at +0x10040);
a GICv4.1 ITS has a third frame with GITS_SGIR at +0x20020 (:data:`GITS_SIZE_V41`)."""
GITS_SIZE_V41: Final = 0x30000
GITS_SGIR: Final = 0x20020
GITS_TRANSLATER: Final = 0x10040
CMD_MOVI: Final = 0x01
CMD_INT: Final = 0x03
CMD_CLEAR: Final = 0x04
CMD_SYNC: Final = 0x05
CMD_MAPD: Final = 0x08
CMD_MAPC: Final = 0x09
CMD_MAPTI: Final = 0x0A
CMD_MAPI: Final = 0x0B
CMD_INV: Final = 0x0C
CMD_INVALL: Final = 0x0D
CMD_MOVALL: Final = 0x0E
CMD_DISCARD: Final = 0x0F
CMD_VMOVI: Final = 0x21
CMD_VMOVP: Final = 0x22
CMD_VSGI: Final = 0x23
CMD_VSYNC: Final = 0x25
CMD_VMAPP: Final = 0x29
CMD_VMAPTI: Final = 0x2A
CMD_VMAPI: Final = 0x2B
CMD_VINVALL: Final = 0x2D
NO_DOORBELL: Final = 1023
"""Dbell_pINTID value meaning "no doorbell" (§6.3 VMAPI, VMAPTI)."""

GITS_CTLR_ENABLED: Final = 1 << 0
GITS_CTLR_QUIESCENT: Final = 1 << 31
CBASER_MASK: Final = 0xB8EF_FFFF_FFFF_FCFF
"""GITS_CBASER: Valid [63], InnerCache [61:59], OuterCache [55:53], PA [51:12],
Shareability [11:10], Size [7:0] (§12.19.2)."""
CWRITER_MASK: Final = 0xF_FFE1
"""GITS_CWRITER: Offset [19:5], Retry [0] (§12.19.5)."""
BASER_RW: Final = 0xF8E0_FFFF_FFFF_FFFF
"""GITS_BASER<n> writable: Valid, Indirect, InnerCache, OuterCache, PA, Shareability,
PageSize, Size (§12.19.1); Type [58:56] and Entry_Size [52:48] read-only."""
BASER_VALID: Final = 1 << 63
BASER_INDIRECT: Final = 1 << 62
ENTRY_SIZE: Final = 8
_PAGE_SIZES: Final = (0x1000, 0x4000, 0x10000, 0x10000)
_BASER_TYPES: Final = (1, 4, 2)
"""GITS_BASER0: Devices, GITS_BASER1: Collections, GITS_BASER2 (GICv4): vPEs."""
_PA_64K: Final = 0x000F_FFFF_FFFF_0000


def its_command(cmd: int, dw0: int = 0, dw1: int = 0, dw2: int = 0, dw3: int = 0) -> bytes:
    """The 32 bytes of one ITS command (command number in DW0 [7:0])."""
    words = (dw0 | cmd, dw1, dw2, dw3)
    return b"".join(w.to_bytes(8, "little") for w in words)


@dataclass(slots=True)
class Ite:
    """An Interrupt Translation Entry: a physical LPI and collection, or a vLPI, vPE and
    doorbell (``vpe >= 0``)."""

    intid: int
    icid: int = -1
    vpe: int = -1
    doorbell: int = NO_DOORBELL


@dataclass(slots=True)
class Vpe:
    """A vPE table entry (VMAPP): target redistributor and virtual pending table; on a
    GICv4.1 also the vLPI configuration table, the default doorbell and the vSGIs."""

    cpu: int
    vpt: int
    vpt_bits: int
    vconf: int = 0
    doorbell: int = NO_DOORBELL
    """GICv4.1 default doorbell pINTID (VMAPP DW1 [31:0])."""
    db_armed: bool = False
    """GICv4.1: descheduled with GICR_VPENDBASER.Doorbell = 1, not rung since."""
    sgi_cfg: list[int] = field(default_factory=lambda: [0] * 16)
    """GICv4.1 vSGI configuration: priority [7:0], group [8], enable [9] (VSGI command)."""
    sgi_pend: int = 0
    """GICv4.1 pending vSGIs, bit per INTID 0..15."""


class ITS:
    """GITS_* registers, the command queue and the translation tables."""

    __slots__ = (
        "baser",
        "block",
        "cbaser",
        "collections",
        "commands",
        "config",
        "creadr",
        "ctlr",
        "cwriter",
        "devices",
        "errors",
        "gic",
        "ites",
        "mem",
        "vpes",
    )

    def __init__(self, config: GICv3Config, mem: Memory, gic: GicV3Core) -> None:
        self.config = config
        self.mem = mem
        self.gic = gic
        self.ctlr = 0
        self.cbaser = 0
        self.cwriter = 0
        self.creadr = 0
        self.baser = [0] * 8
        self.devices: dict[int, int] = {}
        """DeviceID → EventID bits (MAPD Size + 1)."""
        self.ites: dict[tuple[int, int], Ite] = {}
        self.collections: dict[int, int] = {}
        """ICID → target CPU (RDbase as a processor number, GITS_TYPER.PTA = 0)."""
        self.vpes: dict[int, Vpe] = {}
        self.errors = 0
        self.commands = 0
        size = GITS_SIZE_V41 if config.gicv41 else GITS_SIZE
        self.block = RegisterBlock("GITS", size, self._regs(), self)
        self.reset()

    def _regs(self) -> list[Reg]:
        v = self.config.version
        regs = [
            Reg("GITS_CTLR", 0x0000, read="read_ctlr", write="write_ctlr", doc="§12.19.6"),
            Reg("GITS_IIDR", 0x0004, read="read_iidr", doc="§12.19.7"),
            Reg("GITS_TYPER", 0x0008, length=8, width=64, sizes=(4, 8), read="read_typer",
                doc="§12.19.10"),
            Reg("GITS_CBASER", 0x0080, length=8, width=64, sizes=(4, 8), read="read_cbaser",
                write="write_cbaser", doc="§12.19.2"),
            Reg("GITS_CWRITER", 0x0088, length=8, width=64, sizes=(4, 8),
                read="read_cwriter", write="write_cwriter", doc="§12.19.5"),
            Reg("GITS_CREADR", 0x0090, length=8, width=64, sizes=(4, 8), read="read_creadr",
                write="write_creadr", doc="§12.19.4"),
            Reg("GITS_BASER", 0x0100, length=64, width=64, sizes=(4, 8), read="read_baser",
                write="write_baser", doc="§12.19.1"),
            *id_registers("GITS", v),
            Reg("GITS_TRANSLATER", GITS_TRANSLATER, sizes=(2, 4), write="write_translater",
                doc="§12.19.11 (translation frame)"),
        ]
        if self.config.gicv41:
            regs.append(Reg("GITS_SGIR", GITS_SGIR, length=8, width=64, sizes=(4, 8),
                            write="write_sgir", doc="§12.19.9 (GICv4.1)"))
        return regs

    def reset(self) -> None:
        """Disabled, empty command queue, GITS_BASER<n> with their read-only Type and
        Entry_Size only; no mapping survives."""
        self.ctlr = 0
        self.cbaser = self.cwriter = self.creadr = 0
        for n in range(8):
            ro = self._baser_ro(n)
            self.baser[n] = ro | (2 << 8 if ro else 0)  # PageSize reset: 64 KiB, as QEMU
        self.devices.clear()
        self.ites.clear()
        self.collections.clear()
        self.vpes.clear()

    def _baser_ro(self, n: int) -> int:
        ntypes = 3 if self.config.version >= 4 else 2
        if n >= ntypes:
            return 0
        return _BASER_TYPES[n] << 56 | (ENTRY_SIZE - 1) << 48

    # -- registers --------------------------------------------------------------------

    def read_ctlr(self, n: int, cpu: int) -> int:
        """GITS_CTLR (§12.19.6): Enabled; Quiescent is 1 (commands complete at once)."""
        return self.ctlr | GITS_CTLR_QUIESCENT

    def write_ctlr(self, n: int, value: int, mask: int, cpu: int) -> None:
        self.ctlr = value & GITS_CTLR_ENABLED
        if self.ctlr:
            self.process()

    def read_iidr(self, n: int, cpu: int) -> int:
        return self.config.gits_iidr

    def read_typer(self, n: int, cpu: int) -> int:
        """GITS_TYPER (§12.19.10): Physical, Virtual (GICv4), ITT_entry_size 12 bytes,
        ID_bits, Devbits, CIL with CIDbits, VMOVP (GICv4)."""
        cfg = self.config
        v4 = 1 if cfg.version >= 4 else 0
        v41 = 1 if cfg.gicv41 else 0  # VSGI [39], VMAPP [40]
        return (1 | v4 << 1 | 0xB << 4 | (cfg.its_id_bits - 1) << 8
                | (cfg.its_dev_bits - 1) << 13 | (cfg.its_cid_bits - 1) << 32 | 1 << 36
                | v4 << 37 | v41 << 39 | v41 << 40)

    def _store_res0(self, arch_mask: int) -> int:
        return 0xFFFF_FFFF_FFFF_FFFF if self.config.quirks.baser_res0_stored else arch_mask

    def read_cbaser(self, n: int, cpu: int) -> int:
        return self.cbaser

    def write_cbaser(self, n: int, value: int, mask: int, cpu: int) -> None:
        """Ignored while the ITS is enabled; a write resets GITS_CREADR to 0 (§12.19.2)."""
        if self.ctlr & GITS_CTLR_ENABLED:
            return
        self.cbaser = ((self.cbaser & ~mask) | (value & mask)) & self._store_res0(CBASER_MASK)
        self.creadr = 0

    def _cw_mask(self) -> int:
        return 0xFFFF_FFFF_FFFF_FFFE if self.config.quirks.cwriter_res0_stored else CWRITER_MASK

    def read_cwriter(self, n: int, cpu: int) -> int:
        return self.cwriter

    def write_cwriter(self, n: int, value: int, mask: int, cpu: int) -> None:
        self.cwriter = ((self.cwriter & ~mask) | (value & mask)) & self._cw_mask()
        self.process()

    def read_creadr(self, n: int, cpu: int) -> int:
        return self.creadr

    def write_creadr(self, n: int, value: int, mask: int, cpu: int) -> None:
        """Read-only (§12.19.4); writable while disabled under QemuQuirks.cwriter_res0_stored."""
        if self.config.quirks.cwriter_res0_stored and not self.ctlr & GITS_CTLR_ENABLED:
            self.creadr = ((self.creadr & ~mask) | (value & mask)) & self._cw_mask()

    def read_baser(self, n: int, cpu: int) -> int:
        return self.baser[n]

    def write_baser(self, n: int, value: int, mask: int, cpu: int) -> None:
        """GITS_BASER<n>: writable fields of an implemented table; ignored while enabled."""
        ro = self._baser_ro(n)
        if not ro or self.ctlr & GITS_CTLR_ENABLED:
            return
        v = ((self.baser[n] & ~mask) | (value & mask)) & BASER_RW
        self.baser[n] = v | ro

    def write_translater(self, n: int, value: int, mask: int, cpu: int) -> None:
        """GITS_TRANSLATER written by a CPU: an MSI from DeviceID 0 (QEMU's requester ID of
        CPU accesses)."""
        self.translate(0, value & mask)

    # -- tables -------------------------------------------------------------------------

    def _table_has(self, n: int, index: int) -> bool:
        """``index`` fits the table GITS_BASER<n> describes (flat: (Size+1) pages of
        8-byte entries; Indirect: (Size+1) pages of 8-byte level-1 pointers whose Valid
        bit [63] must be set, each covering a page of entries)."""
        b = self.baser[n]
        if not b & BASER_VALID or index < 0:
            return False
        page = _PAGE_SIZES[(b >> 8) & 3]
        pages = (b & 0xFF) + 1
        per_page = page // ENTRY_SIZE
        base = b & 0x0000_FFFF_FFFF_F000 if page < 0x10000 else b & 0x0000_FFFF_FFFF_0000
        if not b & BASER_INDIRECT:
            return index < pages * per_page
        l1 = index // per_page
        if l1 >= pages * page // 8:
            return False
        return bool(self.mem.read(base + 8 * l1, 8) >> 63)

    def _collection_cpu(self, icid: int) -> int:
        return self.collections.get(icid, -1)

    # -- translation ------------------------------------------------------------------

    def translate(self, device_id: int, event_id: int) -> bool:
        """An MSI (§6.1): set the LPI or vLPI the (DeviceID, EventID) maps to pending.
        False (and nothing happens) when a table has no entry for it."""
        ite = self._lookup(device_id, event_id)
        if ite is None:
            return False
        return self._deliver(ite, True)

    def _lookup(self, device_id: int, event_id: int) -> Ite | None:
        bits = self.devices.get(device_id)
        if bits is None or event_id >= 1 << bits:
            return None
        return self.ites.get((device_id, event_id))

    def _deliver(self, ite: Ite, pending: bool) -> bool:
        if ite.vpe >= 0:
            vpe = self.vpes.get(ite.vpe)
            if vpe is None:
                return False
            doorbell = ite.doorbell if pending and not self.config.gicv41 else NO_DOORBELL
            self.gic.set_vlpi(vpe.cpu, vpe.vpt, ite.intid, pending, doorbell, ite.vpe)
            return True
        cpu = self._collection_cpu(ite.icid)
        if cpu < 0:
            return False
        self.gic.set_lpi(cpu, ite.intid, pending)
        return True

    # -- command queue ----------------------------------------------------------------

    def _queue(self) -> tuple[int, int]:
        cb = self.cbaser
        return cb & 0x000F_FFFF_FFFF_F000, ((cb & 0xFF) + 1) * 0x1000

    def process(self) -> None:
        """Execute commands from GITS_CREADR up to GITS_CWRITER (§6.3)."""
        if not self.ctlr & GITS_CTLR_ENABLED or not self.cbaser & BASER_VALID:
            return
        base, size = self._queue()
        wr = self.cwriter & 0xF_FFE0
        rd = self.creadr & 0xF_FFE0
        if wr >= size:
            return
        while rd != wr:
            raw = self.mem.read_bytes(base + rd, 32)
            dws = [int.from_bytes(raw[8 * i:8 * i + 8], "little") for i in range(4)]
            self.commands += 1
            if not self.execute(dws[0], dws[1], dws[2], dws[3]):
                self.errors += 1
            rd = (rd + 32) % size
            self.creadr = rd

    def execute(self, dw0: int, dw1: int, dw2: int, dw3: int) -> bool:
        """Execute one command; False when its arguments are bad (it is then ignored)."""
        cmd = dw0 & 0xFF
        devid = dw0 >> 32
        event = dw1 & 0xFFFF_FFFF
        if cmd == CMD_MAPD:
            return self._mapd(devid, (dw1 & 0x1F) + 1, bool(dw2 >> 63))
        if cmd == CMD_MAPC:
            return self._mapc(dw2 & 0xFFFF, (dw2 >> 16) & 0xF_FFFF_FFFF, bool(dw2 >> 63))
        if cmd in (CMD_MAPTI, CMD_MAPI):
            intid = dw1 >> 32 if cmd == CMD_MAPTI else event
            return self._mapti(devid, event, intid, dw2 & 0xFFFF)
        if cmd == CMD_SYNC:
            return (dw2 >> 16) & 0xF_FFFF_FFFF < self.config.num_cpus
        if cmd == CMD_INVALL:
            cpu = self._collection_cpu(dw2 & 0xFFFF)
            if cpu < 0:
                return False
            self.gic.redist[cpu].inv_all()
            return True
        if cmd == CMD_MOVALL:
            src = (dw2 >> 16) & 0xF_FFFF_FFFF
            dst = (dw3 >> 16) & 0xF_FFFF_FFFF
            ncpu = self.config.num_cpus
            if src >= ncpu or dst >= ncpu:
                return False
            self.gic.move_all_lpis(src, dst)
            return True
        if cmd in (CMD_INT, CMD_CLEAR, CMD_INV, CMD_DISCARD):
            return self._event_cmd(cmd, devid, event)
        if cmd == CMD_MOVI:
            return self._movi(devid, event, dw2 & 0xFFFF)
        if self.config.version >= 4:
            return self._v4(cmd, dw0, event, dw1, dw2, dw3)
        return False

    def _mapd(self, devid: int, bits: int, valid: bool) -> bool:
        """MAPD (§6.3): map DeviceID to an ITT for ``bits`` EventID bits, or unmap."""
        if devid >= 1 << self.config.its_dev_bits or not self._table_has(0, devid):
            return False
        if not valid:
            self.devices.pop(devid, None)
            for key in [k for k in self.ites if k[0] == devid]:
                del self.ites[key]
            return True
        if bits > self.config.its_id_bits:
            return False
        self.devices[devid] = bits
        return True

    def _mapc(self, icid: int, rdbase: int, valid: bool) -> bool:
        """MAPC (§6.3): collection → redistributor (processor number)."""
        if not self._table_has(1, icid):
            return False
        if not valid:
            self.collections.pop(icid, None)
            return True
        if rdbase >= self.config.num_cpus:
            return False
        self.collections[icid] = rdbase
        return True

    def _valid_lpi(self, intid: int) -> bool:
        return 8192 <= intid < 1 << self.config.lpi_id_bits

    def _mapti(self, devid: int, event: int, intid: int, icid: int) -> bool:
        """MAPTI/MAPI (§6.3 MAPTI, MAPI): (DeviceID, EventID) → (LPI, collection)."""
        bits = self.devices.get(devid)
        if bits is None or event >= 1 << bits or not self._valid_lpi(intid):
            return False
        if not self._table_has(1, icid):
            return False
        self.ites[(devid, event)] = Ite(intid, icid=icid)
        return True

    def _event_cmd(self, cmd: int, devid: int, event: int) -> bool:
        """INT, CLEAR, DISCARD or INV of the event (DeviceID, EventID) (§6.3)."""
        ite = self._lookup(devid, event)
        if ite is None:
            return False
        if ite.vpe < 0 and self._collection_cpu(ite.icid) < 0:
            return False
        if cmd == CMD_INT:
            return self._deliver(ite, True)
        if cmd == CMD_CLEAR:
            return self._deliver(ite, False)
        if cmd == CMD_DISCARD:
            self._deliver(ite, False)
            del self.ites[(devid, event)]
            return True
        if cmd == CMD_INV:
            if ite.vpe >= 0:
                vpe = self.vpes.get(ite.vpe)
                if vpe is not None:
                    self.gic.inv_vlpi(vpe.cpu, vpe.vpt, ite.intid)
                return True
            self.gic.redist[self._collection_cpu(ite.icid)].inv_lpi(ite.intid)
            return True
        return False

    def _movi(self, devid: int, event: int, icid: int) -> bool:
        """MOVI (§6.3): the event (DeviceID, EventID) moves to collection ``icid``: its
        ITE takes the new ICID and, when the two collections name different
        redistributors, a pending LPI becomes pending on the new one and not pending on
        the old one (the pending-table bits follow); the same redistributor: the ITE
        alone changes.

        A command error (the command is ignored, :attr:`errors` counts it) when the
        DeviceID is not mapped (MAPD) or beyond Devbits, the EventID is beyond the
        device's ITT range or has no ITE, the ITE is a vLPI's (VMAPTI: VMOVI moves those),
        or the event's collection or collection ``icid`` is not mapped (an ICID beyond the
        collection table never is: MAPC refuses it)."""
        ite = self._lookup(devid, event)
        if ite is None or ite.vpe >= 0:
            return False
        old_cpu = self._collection_cpu(ite.icid)
        new_cpu = self._collection_cpu(icid)
        if old_cpu < 0 or new_cpu < 0:
            return False
        ite.icid = icid
        if old_cpu != new_cpu:
            self.gic.move_lpi(old_cpu, new_cpu, ite.intid)
        return True

    # -- GICv4 (§6.3, the V commands) -------------------------------------------------------

    def _v4(self, cmd: int, dw0: int, event: int, dw1: int, dw2: int, dw3: int) -> bool:
        devid = dw0 >> 32
        vpeid = (dw1 >> 32) & 0xFFFF
        if cmd == CMD_VMAPP:
            ok = self._vmapp(vpeid, (dw2 >> 16) & 0xF_FFFF_FFFF, dw3 & _PA_64K,
                             (dw3 & 0x1F) + 1, bool(dw2 >> 63))
            vpe = self.vpes.get(vpeid)
            if ok and vpe is not None and self.config.gicv41:
                # GICv4.1 VMAPP (§6.3): VCONF_addr DW0 [51:16], default doorbell DW1 [31:0]
                vpe.vconf = ((dw0 >> 16) & 0xF_FFFF_FFFF) << 16
                vpe.doorbell = dw1 & 0xFFFF_FFFF
            return ok
        if cmd == CMD_VSGI and self.config.gicv41:
            return self._vsgi(vpeid, dw0)
        if cmd in (CMD_VMAPTI, CMD_VMAPI):
            vintid = dw2 & 0xFFFF_FFFF if cmd == CMD_VMAPTI else event
            return self._vmapti(devid, event, vpeid, vintid, dw2 >> 32)
        if cmd == CMD_VMOVP:
            vpe = self.vpes.get(vpeid)
            rd = (dw2 >> 16) & 0xF_FFFF_FFFF
            if vpe is None or rd >= self.config.num_cpus:
                return False
            vpe.cpu = rd
            return True
        if cmd == CMD_VMOVI:
            return self._vmovi(devid, event, vpeid, dw2)
        if cmd == CMD_VSYNC:
            return vpeid in self.vpes
        if cmd == CMD_VINVALL:
            vpe = self.vpes.get(vpeid)
            if vpe is None:
                return False
            self.gic.inv_all_vlpis(vpe.cpu, vpe.vpt)
            return True
        return False

    def _vmapp(self, vpeid: int, rd: int, vpt: int, vpt_bits: int, valid: bool) -> bool:
        """VMAPP (§6.3): vPE → redistributor and virtual pending table, or unmap."""
        if not self._table_has(2, vpeid):
            return False
        if not valid:
            self.vpes.pop(vpeid, None)
            return True
        if rd >= self.config.num_cpus:
            return False
        self.vpes[vpeid] = Vpe(rd, vpt, vpt_bits)
        return True

    def _vmapti(self, devid: int, event: int, vpeid: int, vintid: int, doorbell: int) -> bool:
        """VMAPTI/VMAPI (§6.3 VMAPTI, VMAPI): (DeviceID, EventID) → (vLPI, vPE, doorbell)."""
        bits = self.devices.get(devid)
        if bits is None or event >= 1 << bits or vpeid not in self.vpes:
            return False
        if not self._valid_lpi(vintid) or not (doorbell == NO_DOORBELL or self._valid_lpi(doorbell)):
            return False
        self.ites[(devid, event)] = Ite(vintid, vpe=vpeid, doorbell=doorbell)
        return True

    def _vmovi(self, devid: int, event: int, vpeid: int, dw2: int) -> bool:
        """VMOVI (§6.3): the event's vLPI moves to another vPE; a pending vLPI stays
        pending (in the new vPE's virtual pending table)."""
        ite = self._lookup(devid, event)
        new = self.vpes.get(vpeid)
        if ite is None or ite.vpe < 0 or new is None:
            return False
        old = self.vpes.get(ite.vpe)
        doorbell = (dw2 >> 32) if dw2 & 1 else NO_DOORBELL
        if doorbell != NO_DOORBELL and not self._valid_lpi(doorbell):
            return False
        was = old is not None and self.gic.vlpi_pending(old.vpt, ite.intid)
        if was and old is not None:
            self.gic.set_vlpi(old.cpu, old.vpt, ite.intid, False, NO_DOORBELL, ite.vpe)
        ite.vpe = vpeid
        ite.doorbell = doorbell
        if was:
            db = NO_DOORBELL if self.config.gicv41 else doorbell
            self.gic.set_vlpi(new.cpu, new.vpt, ite.intid, True, db, vpeid)
        return True

    # -- GICv4.1 vSGIs (§6.3 VSGI, §12.19.9 GITS_SGIR) ------------------------------

    def _vsgi(self, vpeid: int, dw0: int) -> bool:
        """VSGI: configure vSGI DW0 [35:32] of a vPE: priority [23:20] << 4, group [10],
        enable [8]; clear [9] removes its pending state."""
        vpe = self.vpes.get(vpeid)
        if vpe is None:
            return False
        intid = (dw0 >> 32) & 0xF
        vpe.sgi_cfg[intid] = (((dw0 >> 20) & 0xF) << 4 | ((dw0 >> 10) & 1) << 8
                              | ((dw0 >> 8) & 1) << 9)
        if dw0 >> 9 & 1:
            vpe.sgi_pend &= ~(1 << intid)
        self.gic.vsgi_changed(vpeid)
        return True

    def write_sgir(self, n: int, value: int, mask: int, cpu: int) -> None:
        """GITS_SGIR: make vSGI INTID [3:0] of vPEID [47:32] pending (the hypervisor
        forwards a guest's ICC_SGI1R_EL1 this way)."""
        if mask & 0xFFFF_0000_0000:
            self.send_vsgi((value >> 32) & 0xFFFF, value & 0xF)

    def send_vsgi(self, vpeid: int, intid: int) -> bool:
        """Make vSGI ``intid`` of vPE ``vpeid`` pending (GITS_SGIR); False if unmapped."""
        vpe = self.vpes.get(vpeid)
        if vpe is None:
            return False
        vpe.sgi_pend |= 1 << intid
        self.gic.vsgi_changed(vpeid, ring=True)
        return True
