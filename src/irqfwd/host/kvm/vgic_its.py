"""KVM's emulated ITS for GICv3 guests (arch/arm64/kvm/vgic/vgic-its.c).

A VM's vITS (:class:`VgicIts`, ``struct vgic_its``) sits on ``KVM_MMIO_BUS`` at the guest
address the VMM chose (``KVM_VGIC_ITS_ADDR_TYPE``); every guest access to its control
frame traps (``DABT_LOW``) and is emulated here: GITS_CTLR, GITS_IIDR, GITS_TYPER,
GITS_CBASER, GITS_CWRITER, GITS_CREADR, GITS_BASER<n>.  A GITS_CWRITER write runs the
commands the guest queued in its memory (``vgic_its_process_commands``): MAPD, MAPC,
MAPTI/MAPI (``vgic_add_lpi``: the LPI's configuration is read from the guest's
GICR_PROPBASER table, ``update_lpi_config``; a MAPTI of an event that has an ITE is
ignored), INT (resolved and injected as an MSI, ``vgic_its_trigger_msi``), CLEAR, INV,
INVALL, SYNC, DISCARD, MOVI, MOVALL.  The tables themselves live in the kernel (KVM writes them to guest memory
only when userspace saves the ITS).

MSIs reach the vITS from the VMM's MSI routes (``kvm_set_msi`` → :func:`vgic_its_inject_msi`:
DeviceID/EventID → LPI, ``vgic_its_trigger_msi``), and, from an irqfd's wake-up, through
the translation cache (:func:`vgic_its_inject_cached_translation`, used by
``kvm_arch_set_irq_inatomic``): a hit injects in the signaller's context, a miss returns
-EWOULDBLOCK and the irqfd falls back to its ``irqfd_inject`` work item, whose
``vgic_its_inject_msi`` looks in the cache again (since Linux 5.4) and on a second miss
translates and fills it (``vgic_its_cache_translation``).  The counters ``its_cache_hit``
and ``its_cache_miss`` count lookups, so an irqfd's first MSI misses twice.  Commands that
change a translation invalidate the cache (``vgic_its_invalidate_all_caches``).

An LPI mapped to a GICv4 vLPI (``irq.hw``, :mod:`irqfwd.host.kvm.vgic_v4`) follows the
guest's commands through the host ITS driver: INT/CLEAR → ``irq_set_irqchip_state``,
INV/INVALL → ``its_prop_update_vlpi``.
"""

from __future__ import annotations

from typing import Any, Final

from irqfwd.host.genirq import IRQCHIP_STATE_PENDING
from irqfwd.host.irqchip.arm_gic_v3 import (
    GITS_BASER,
    GITS_CBASER,
    GITS_CMD_CLEAR,
    GITS_CMD_DISCARD,
    GITS_CMD_INT,
    GITS_CMD_INV,
    GITS_CMD_INVALL,
    GITS_CMD_MAPC,
    GITS_CMD_MAPD,
    GITS_CMD_MAPI,
    GITS_CMD_MAPTI,
    GITS_CMD_MOVALL,
    GITS_CMD_MOVI,
    GITS_CMD_SYNC,
    GITS_CREADR,
    GITS_CTLR,
    GITS_CTLR_ENABLE,
    GITS_CTLR_QUIESCENT,
    GITS_CWRITER,
    GITS_IIDR,
    GITS_TRANSLATER,
    GITS_TYPER,
    LPI_PROP_ENABLED,
    PROP_UPDATE_AND_INV_VLPI,
    PROP_UPDATE_VLPI,
)
from irqfwd.host.irqchip.irq_gic_v3_its import ItsCmdInfo, its_get_vlpi, its_map_vlpi
from irqfwd.host.kvm.arm_vgic import VGIC_CONFIG_EDGE, VGIC_MIN_LPI
from irqfwd.host.kvm.kvm_host import Kvm, KvmVcpu, VgicIrq
from irqfwd.host.kvm.vgic import vgic_queue_irq_unlock

__all__ = [
    "EWOULDBLOCK",
    "KVM_VGIC_V3_ITS_SIZE",
    "KvmMsi",
    "VgicIts",
    "vgic_its_inject_cached_translation",
    "vgic_its_inject_msi",
    "vgic_msi_to_its",
]

EWOULDBLOCK: Final = -11
EBUSY: Final = -16
ENODEV: Final = -19
E_ITS_INT_UNMAPPED_INTERRUPT: Final = 0x010307
KVM_VGIC_V3_ITS_SIZE: Final = 0x20000
"""``KVM_VGIC_V3_ITS_SIZE``: control and translation frames."""
_IIDR: Final = 0x4B << 24 | 0x43B  # PRODUCT_ID_KVM, IMPLEMENTER_ARM
_ITS_ID_BITS: Final = 16
_ITS_DEV_BITS: Final = 16


def _max_lpis_propbaser(propbaser: int) -> int:
    """``max_lpis_propbaser``: 2^(IDbits + 1), at most 2^``INTERRUPT_ID_BITS_ITS`` (16)."""
    return 1 << min((propbaser & 0x1F) + 1, _ITS_ID_BITS)


class KvmMsi:
    """``struct kvm_msi`` of an MSI routing entry: the doorbell address, the data
    (EventID) and the DeviceID (``KVM_MSI_VALID_DEVID``)."""

    __slots__ = ("address", "data", "devid")

    def __init__(self, address: int, data: int, devid: int) -> None:
        self.address = address
        self.data = data
        self.devid = devid


class _Ite:
    """``struct its_ite``: an event's LPI and collection."""

    __slots__ = ("collection", "irq")

    def __init__(self, irq: VgicIrq, collection: int) -> None:
        self.irq = irq
        self.collection = collection


class _Device:
    """``struct its_device``: EventID bits and the ITT (kept in the kernel)."""

    __slots__ = ("ites", "num_eventid_bits")

    def __init__(self, bits: int) -> None:
        self.num_eventid_bits = bits
        self.ites: dict[int, _Ite] = {}


class VgicIts:
    """``struct vgic_its``: one emulated ITS of a VM (see the module docstring)."""

    def __init__(self, kvm: Kvm, base: int) -> None:
        self.kvm = kvm
        self.base = base
        """Guest physical address of GITS_CTLR."""
        self.enabled = False
        self.cbaser = 0
        self.creadr = 0
        self.cwriter = 0
        self.baser = [0] * 8
        self.devices: dict[int, _Device] = {}
        self.collections: dict[int, int] = {}
        """ICID → target vCPU (GITS_TYPER.PTA = 0: RDbase is the vCPU number)."""
        self.cache: dict[tuple[int, int, int], VgicIrq] = {}
        """The translation cache: (doorbell address, DeviceID, EventID) → LPI."""
        self.cache_max = 16 * max(1, len(kvm.vcpus))
        """``vgic_its_max_cache_size``: 16 entries per vCPU."""
        rec = kvm.m.recorder
        self._c_hit = rec.counter("its_cache_hit")
        self._c_miss = rec.counter("its_cache_miss")
        self._c_cmds = rec.counter("its_commands")
        self._inject_ns = kvm.vgic.inject_ns
        self._cmd_ns = kvm.m.costs.its_cmd_ns
        self._elapsed = 0
        """ns of command processing done so far in this GITS_CWRITER write."""

    @property
    def doorbell(self) -> int:
        """The address a device's MSI is written to: GITS_TRANSLATER."""
        return self.base + GITS_TRANSLATER

    # ---------------------------------------------------------------- MMIO
    def access(self, vcpu: KvmVcpu, addr: int, value: int, size: int, is_write: bool) -> int:
        """``vgic_its_read/write``: the trapped control frame (KVM_MMIO_BUS handler)."""
        off = addr - self.base
        word = off & ~7
        shift = 8 * (off & 4)
        if off < GITS_TYPER:  # GITS_CTLR, GITS_IIDR: 32-bit registers
            shift = 0
        if not is_write:
            return self._read(off, word) >> shift & ((1 << (8 * size)) - 1)
        mask = (0xFFFFFFFF << shift) if size == 4 else (1 << 64) - 1
        v = (value << shift) & mask
        if off == GITS_CTLR:
            self._write_ctlr(value)
        elif word == GITS_CBASER and not self.enabled:
            self.cbaser = (self.cbaser & ~mask) | v
            self.creadr = 0
        elif word == GITS_CWRITER:
            self.cwriter = ((self.cwriter & ~mask) | v) & 0xF_FFE0
            self.vgic_its_process_commands()
        elif GITS_BASER <= word < GITS_BASER + 64 and not self.enabled:
            n = (word - GITS_BASER) >> 3
            self.baser[n] = (self.baser[n] & ~mask) | v
        return 0

    def _read(self, off: int, word: int) -> int:
        if off == GITS_CTLR:
            return (GITS_CTLR_ENABLE if self.enabled else 0) | GITS_CTLR_QUIESCENT
        if off == GITS_IIDR:
            return _IIDR
        if word == GITS_TYPER:
            return self._typer()
        if word == GITS_CBASER:
            return self.cbaser
        if word == GITS_CWRITER:
            return self.cwriter
        if word == GITS_CREADR:
            return self.creadr
        if GITS_BASER <= word < GITS_BASER + 64:
            return self.baser[(word - GITS_BASER) >> 3]
        return 0

    def _typer(self) -> int:
        """GITS_TYPER: Physical, ITT_entry_size 8 (ABI rev 0), ID_bits, Devbits, CIL with
        16-bit collection IDs."""
        return 1 | 7 << 4 | (_ITS_ID_BITS - 1) << 8 | (_ITS_DEV_BITS - 1) << 13 | 15 << 32 | 1 << 36

    def _write_ctlr(self, value: int) -> None:
        """``vgic_mmio_write_its_ctlr``: enabling processes the queued commands."""
        was = self.enabled
        self.enabled = bool(value & GITS_CTLR_ENABLE)
        if not self.enabled:
            self.vgic_its_invalidate_all_caches()
        if self.enabled and not was:
            self.vgic_its_process_commands()

    # ---------------------------------------------------------------- commands
    def vgic_its_process_commands(self) -> None:
        """Run the commands between GITS_CREADR and GITS_CWRITER from guest memory
        (``its_cmd_ns`` each, charged to the trapping vCPU)."""
        if not self.enabled or not self.cbaser >> 63:
            return
        base = self.cbaser & 0x000F_FFFF_FFFF_F000
        size = ((self.cbaser & 0xFF) + 1) * 0x1000
        mem = self.kvm.guest_mem
        m = self.kvm.m
        self._elapsed = 0
        while self.creadr != self.cwriter:
            rd = self.creadr
            dws = [mem.read(base + rd + 8 * i, 8) for i in range(4)]
            self._c_cmds.n += 1
            m.acc += self._cmd_ns
            self._elapsed += self._cmd_ns
            self.vgic_its_handle_command(dws[0], dws[1], dws[2], dws[3])
            self.creadr = (rd + 32) % size
        self._elapsed = 0

    def vgic_its_handle_command(self, dw0: int, dw1: int, dw2: int, dw3: int) -> int:
        """``vgic_its_handle_command``: one ITS command (IHI 0069H §6.3)."""
        cmd = dw0 & 0xFF
        devid = dw0 >> 32
        event = dw1 & 0xFFFF_FFFF
        if cmd == GITS_CMD_MAPD:
            return self._mapd(devid, (dw1 & 0x1F) + 1, bool(dw2 >> 63))
        if cmd == GITS_CMD_MAPC:
            return self._mapc(dw2 & 0xFFFF, (dw2 >> 16) & 0xFFFF_FFFF, bool(dw2 >> 63))
        if cmd in (GITS_CMD_MAPTI, GITS_CMD_MAPI):
            lpi = dw1 >> 32 if cmd == GITS_CMD_MAPTI else event
            return self._mapti(devid, event, lpi, dw2 & 0xFFFF)
        if cmd == GITS_CMD_SYNC:
            return 0
        if cmd == GITS_CMD_INVALL:
            return self._invall(dw2 & 0xFFFF)
        if cmd == GITS_CMD_MOVALL:
            return self._movall((dw2 >> 16) & 0xFFFF_FFFF, (dw3 >> 16) & 0xFFFF_FFFF)
        if cmd == GITS_CMD_INT:
            # vgic_its_cmd_handle_int: the same path as an MSI (vgic_its_trigger_msi)
            return self.vgic_its_trigger_msi(devid, event)
        ite = self._find_ite(devid, event)
        if ite is None:
            return E_ITS_INT_UNMAPPED_INTERRUPT
        if cmd == GITS_CMD_CLEAR:
            return self._set_pending(ite.irq, False)
        if cmd == GITS_CMD_INV:
            return self.update_lpi_config(ite.irq, True)
        if cmd == GITS_CMD_DISCARD:
            self._free_ite(devid, event)
            return 0
        if cmd == GITS_CMD_MOVI:
            coll = dw2 & 0xFFFF
            target = self.collections.get(coll)
            if target is None:
                return E_ITS_INT_UNMAPPED_INTERRUPT
            ite.collection = coll
            self.vgic_its_invalidate_all_caches()
            return self._update_affinity(ite.irq, target)
        return E_ITS_INT_UNMAPPED_INTERRUPT

    def _find_ite(self, devid: int, event: int) -> _Ite | None:
        dev = self.devices.get(devid)
        return None if dev is None else dev.ites.get(event)

    def _mapd(self, devid: int, bits: int, valid: bool) -> int:
        """``vgic_its_cmd_handle_mapd``: a mapped device is dropped first
        (``vgic_its_free_device``: every ITE freed with ``its_free_ite``, so its vLPIs go
        back to the host), then mapped again if V=1."""
        old = self.devices.pop(devid, None)
        if old is not None:
            for ite in old.ites.values():
                self._its_free_ite(ite)
            old.ites.clear()
            self.vgic_its_invalidate_all_caches()
        if valid:
            self.devices[devid] = _Device(bits)
        return 0

    def _mapc(self, coll: int, target: int, valid: bool) -> int:
        """``vgic_its_cmd_handle_mapc``: collection → vCPU (remapping moves its LPIs)."""
        if not valid:
            self.collections.pop(coll, None)
            self.vgic_its_invalidate_all_caches()
            return 0
        if target >= len(self.kvm.vcpus):
            return E_ITS_INT_UNMAPPED_INTERRUPT
        self.collections[coll] = target
        for dev in self.devices.values():
            for ite in dev.ites.values():
                if ite.collection == coll:
                    self._update_affinity(ite.irq, target)
        return 0

    def _mapti(self, devid: int, event: int, lpi: int, coll: int) -> int:
        """``vgic_its_cmd_handle_mapi``: ``vgic_add_lpi`` (edge, Group 1, targeting the
        collection's vCPU, configuration from the guest's LPI property table).  An LPI
        number outside the guest's GICR_PROPBASER.IDbits is refused
        (``max_lpis_propbaser``); an event that already has an ITE keeps it ("If there is
        an existing mapping, behavior is UNPREDICTABLE": KVM ignores the command)."""
        dev = self.devices.get(devid)
        kvm = self.kvm
        if dev is None or event >= 1 << dev.num_eventid_bits:
            return E_ITS_INT_UNMAPPED_INTERRUPT
        if not VGIC_MIN_LPI <= lpi < _max_lpis_propbaser(kvm.vgic.propbaser):
            return E_ITS_INT_UNMAPPED_INTERRUPT
        if event in dev.ites:
            return 0
        target = self.collections.get(coll)
        vcpu = kvm.vcpus[target] if target is not None else None
        irq = kvm.vgic.lpis.get(lpi)
        if irq is None:
            irq = VgicIrq(lpi, vcpu, VGIC_CONFIG_EDGE)
            irq.group = 1
            kvm.vgic.lpis[lpi] = irq
            self.update_lpi_config(irq, False)
        dev.ites[event] = _Ite(irq, coll)
        return 0

    def _free_ite(self, devid: int, event: int) -> None:
        """``vgic_its_cmd_handle_discard``: drop the ITE (``its_free_ite``)."""
        dev = self.devices.get(devid)
        if dev is None:
            return
        ite = dev.ites.pop(event, None)
        self.vgic_its_invalidate_all_caches()
        if ite is not None:
            self._its_free_ite(ite)

    def _its_free_ite(self, ite: _Ite) -> None:
        """``its_free_ite``: a forwarded LPI goes back to the host (``its_unmap_vlpi``)."""
        irq = ite.irq
        if irq.hw:
            irq.hw = False
            self.kvm.host.genirq.irq_set_vcpu_affinity(irq.host_irq, None)

    def _update_affinity(self, irq: VgicIrq, target: int) -> int:
        """``update_affinity``: the LPI follows its collection's vCPU; a vLPI is re-mapped
        to the new vPE (``its_get_vlpi``, then VMOVI through ``its_map_vlpi``), and its
        count moves with it (``vlpi_count`` of the old vPE down, of the new one up)."""
        kvm = self.kvm
        vcpu = kvm.vcpus[target]
        irq.target_vcpu = vcpu
        if not irq.hw:
            return 0
        genirq = kvm.host.genirq
        ret, m = its_get_vlpi(genirq, irq.host_irq)
        if ret or m is None:
            return ret
        m.vpe.vlpi_count -= 1
        v3 = vcpu.vgic_cpu.vgic_v3
        if v3 is None or v3.its_vpe is None:
            raise ValueError("a vLPI needs the target vCPU's vPE")
        m.vpe = v3.its_vpe
        m.vpe.vlpi_count += 1
        return its_map_vlpi(genirq, irq.host_irq, m)

    def _invall(self, coll: int) -> int:
        """``vgic_its_cmd_handle_invall``: re-read every LPI of the collection's vCPU."""
        target = self.collections.get(coll)
        if target is None:
            return E_ITS_INT_UNMAPPED_INTERRUPT
        vcpu = self.kvm.vcpus[target]
        for irq in list(self.kvm.vgic.lpis.values()):
            if irq.target_vcpu is vcpu:
                self.update_lpi_config(irq, True)
        return 0

    def _movall(self, src: int, dst: int) -> int:
        """``vgic_its_cmd_handle_movall``: every LPI of vCPU ``src`` moves to ``dst``."""
        vcpus = self.kvm.vcpus
        if src >= len(vcpus) or dst >= len(vcpus):
            return E_ITS_INT_UNMAPPED_INTERRUPT
        for irq in list(self.kvm.vgic.lpis.values()):
            if irq.target_vcpu is vcpus[src]:
                self._update_affinity(irq, dst)
        self.vgic_its_invalidate_all_caches()
        return 0

    def _set_pending(self, irq: VgicIrq, pending: bool) -> int:
        """INT / CLEAR: the latch of an emulated LPI, ``irq_set_irqchip_state`` of a vLPI."""
        kvm = self.kvm
        if irq.hw:
            kvm.host.genirq.irq_set_irqchip_state(irq.host_irq, IRQCHIP_STATE_PENDING, pending,
                                                  kvm.current_pcpu())
            return 0
        if pending and self._elapsed:
            # INT: the injection happens once the commands before it and itself are
            # processed, not at the start of the trapping vCPU's step
            kvm.m.acc += self._inject_ns
            kvm.m.engine.schedule(self._elapsed, self._int_done, irq, kvm.current_pcpu())
            return 0
        irq.pending_latch = pending
        if pending:
            kvm.m.acc += self._inject_ns
            vgic_queue_irq_unlock(kvm, irq)
        return 0

    def _int_done(self, irq: VgicIrq, cpu: int) -> None:
        """The end of an INT command on pCPU ``cpu``: latch and queue the LPI
        (``vgic_its_trigger_msi`` → ``vgic_queue_irq_unlock``, which kicks its vCPU)."""
        m = self.kvm.m
        cur, acc = m.cur, m.acc
        m.cur = cpu
        irq.pending_latch = True
        vgic_queue_irq_unlock(self.kvm, irq)
        m.cur, m.acc = cur, acc

    def update_lpi_config(self, irq: VgicIrq, needs_inv: bool) -> int:
        """``update_lpi_config``: priority and enable from the guest's configuration table
        (``dist->propbaser``); a vLPI's goes to the host ITS (``its_prop_update_vlpi``)."""
        kvm = self.kvm
        propbase = kvm.vgic.propbaser & 0x000F_FFFF_FFFF_F000
        prop = kvm.guest_mem.read_u8(propbase + irq.intid - VGIC_MIN_LPI)
        irq.priority = prop & 0xFC
        irq.enabled = bool(prop & LPI_PROP_ENABLED)
        if irq.hw:
            info = ItsCmdInfo(PROP_UPDATE_AND_INV_VLPI if needs_inv else PROP_UPDATE_VLPI,
                              config=prop)
            kvm.host.genirq.irq_set_vcpu_affinity(irq.host_irq, info)
        elif irq.enabled and irq.irq_is_pending():
            vgic_queue_irq_unlock(kvm, irq)
        return 0

    # ---------------------------------------------------------------- MSI injection
    def vgic_its_resolve_lpi(self, devid: int, eventid: int) -> tuple[int, VgicIrq | None]:
        """``vgic_its_resolve_lpi``: the LPI of (DeviceID, EventID); -EBUSY while the vITS
        or the target's LPIs are disabled.  Caches the translation."""
        if not self.enabled:
            return EBUSY, None
        ite = self._find_ite(devid, eventid)
        if ite is None:
            return E_ITS_INT_UNMAPPED_INTERRUPT, None
        target = self.collections.get(ite.collection)
        if target is None:
            return E_ITS_INT_UNMAPPED_INTERRUPT, None
        if not self.kvm.vcpus[target].vgic_cpu.lpis_enabled:
            return EBUSY, None
        self.vgic_its_cache_translation(devid, eventid, ite.irq)
        return 0, ite.irq

    def vgic_its_cache_translation(self, devid: int, eventid: int, irq: VgicIrq) -> None:
        """``vgic_its_cache_translation``: remember (doorbell, DeviceID, EventID) → LPI,
        evicting the oldest entry when full.  "Do not cache a directly injected interrupt"
        (a vLPI, ``irq.hw``)."""
        if irq.hw:
            return
        cache = self.cache
        key = (self.doorbell, devid, eventid)
        if key in cache:
            return
        if len(cache) >= self.cache_max:
            del cache[next(iter(cache))]
        cache[key] = irq

    def vgic_its_invalidate_all_caches(self) -> None:
        """``vgic_its_invalidate_all_caches``."""
        self.cache.clear()

    def vgic_its_trigger_msi(self, devid: int, eventid: int) -> int:
        """``vgic_its_trigger_msi``: a vLPI through the host ITS, else the latch + queue."""
        ret, irq = self.vgic_its_resolve_lpi(devid, eventid)
        if ret or irq is None:
            return ret
        return self._set_pending(irq, True)


def vgic_msi_to_its(kvm: Kvm, msi: KvmMsi) -> VgicIts | None:
    """``vgic_msi_to_its``: the vITS whose GITS_TRANSLATER the MSI's address is (None where
    Linux returns an error pointer)."""
    its = kvm.vgic_its
    if not isinstance(its, VgicIts) or msi.address != its.doorbell:
        return None
    return its


def vgic_its_inject_msi(kvm: Kvm, msi: KvmMsi) -> int:
    """``vgic_its_inject_msi`` (``kvm_set_msi``): the translation cache first
    (:func:`vgic_its_inject_cached_translation`), then find the vITS by the doorbell
    address, translate and inject.

    Returns as ``KVM_SIGNAL_MSI`` does: 1 when delivered, 0 when the guest's ITS tables
    block the MSI (an ITS command error such as ``E_ITS_INT_UNMAPPED_INTERRUPT``), a
    negative errno (-ENODEV: no vITS at that address).
    """
    if vgic_its_inject_cached_translation(kvm, msi) == 0:
        return 1
    its = vgic_msi_to_its(kvm, msi)
    if its is None:
        return ENODEV
    ret = its.vgic_its_trigger_msi(msi.devid, msi.data)
    if ret < 0:
        return ret
    return 0 if ret else 1


def vgic_its_inject_cached_translation(kvm: Kvm, msi: KvmMsi) -> int:
    """``vgic_its_inject_cached_translation``: inject from the translation cache (0), or
    -EWOULDBLOCK on a miss (the caller defers to ``irqfd_inject``)."""
    its: Any = kvm.vgic_its
    if not isinstance(its, VgicIts):
        return EWOULDBLOCK
    irq = its.cache.get((msi.address, msi.devid, msi.data))
    if irq is None:
        its._c_miss.n += 1
        return EWOULDBLOCK
    its._c_hit.n += 1
    irq.pending_latch = True
    kvm.m.acc += its._inject_ns
    vgic_queue_irq_unlock(kvm, irq)
    return 0
