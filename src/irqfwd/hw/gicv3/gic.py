"""The GICv3/GICv4 device: memory map, system registers, input lines, outputs, wiring.

``GICv3(config)`` builds one :class:`~irqfwd.hw.gicv3.distributor.Distributor`, one
:class:`~irqfwd.hw.gicv3.redistributor.Redistributor`,
:class:`~irqfwd.hw.gicv3.cpu_interface.CpuInterface` (ICC) and
:class:`~irqfwd.hw.gicv3.virt_interface.VirtInterface` (ICH/ICV) per PE, an
:class:`~irqfwd.hw.gicv3.its.ITS` and the modelled RAM (:class:`~irqfwd.hw.gic.memory.Memory`)
holding the LPI tables and the ITS command queue.  It implements
:class:`irqfwd.hw.gic.device.GicDevice` plus system-register access:

* :meth:`read` / :meth:`write`: MMIO (1, 2, 4 or 8 bytes) on GICD, GITS, the GICR frames,
  and plain RAM from 0x40000000;
* :meth:`read_sysreg` / :meth:`write_sysreg`: by architectural name: ``ICC_*_EL1``,
  ``ICC_SRE_EL2`` and ``ICH_*_EL2`` (the physical CPU interface and the virtualization
  control, as accessed at EL2), ``ICV_*_EL1`` (the guest's virtual CPU interface);
* :meth:`access_sysreg`: by encoding and exception level with ``HCR_EL2.IMO``/``FMO``,
  routed as the architecture does (:func:`irqfwd.hw.gic.sysregs.route`);
* :meth:`set_line` (SPI and per-PE PPI inputs), :meth:`msi` (a device's write to
  GITS_TRANSLATER);
* ``outputs[cpu]`` (``irq``/``fiq``/``virq``/``vfiq``), ``on_output(cpu, signal, level)``
  on every change and ``on_event(kind, intid, cpu, source)`` on every physical activation
  or deactivation of an SGI/PPI/SPI (``source``: ``"iar"``, ``"eoir"``, ``"dir"``,
  ``"isactiver"``, ``"icactiver"``, ``"hw_lr"``), as the GICv2 model.

The maintenance interrupt of each PE is wired internally to its PPI
:attr:`GICv3Config.maintenance_intid` (25), as on QEMU ``virt``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from irqfwd.hw.gic.device import CpuOutputs, GicSink, HookSink, SysRegGicDevice
from irqfwd.hw.gic.hppi import PS_SIZE, bucket_add, bucket_remove, new_buckets, ps_lowest
from irqfwd.hw.gic.memory import RAM_BASE, Memory
from irqfwd.hw.gic.regs import RegisterBlock
from irqfwd.hw.gic.sysregs import SysRegBlock, SysRegUndefined, route, sysreg_by_name
from irqfwd.hw.gicv3.config import GICv3Config
from irqfwd.hw.gicv3.core import GicV3Core
from irqfwd.hw.gicv3.cpu_interface import CpuInterface
from irqfwd.hw.gicv3.distributor import GICD_CTLR_ENABLEGRP1, GICD_SIZE, Distributor
from irqfwd.hw.gicv3.its import ITS, NO_DOORBELL
from irqfwd.hw.gicv3.redistributor import LPI_BASE, Redistributor
from irqfwd.hw.gicv3.virt_interface import VirtInterface

__all__ = ["GICv3"]

_NONE: Final = -1


class GICv3(GicV3Core):
    """A GICv3 (or GICv4 with ``config.version = 4``) with the ITS, QEMU ``virt`` defaults."""

    __slots__ = (
        "_bk", "_cand", "_hooks", "_hppi", "_maint", "_pm", "_sink",
        "_spi_at", "_updating", "config", "cpu_if", "dist", "its", "mem", "outputs",
        "virt",
    )

    def __init__(self, config: GICv3Config | None = None) -> None:
        super().__init__()
        self.config = cfg = config or GICv3Config()
        n = cfg.num_cpus
        self.mem = Memory()
        self._hooks = HookSink()
        """Calls the ``on_output`` / ``on_event`` callables."""
        self._sink: GicSink = self._hooks
        """What the outputs drive: :attr:`_hooks`, or the sink given to :meth:`attach`."""
        self.dist = Distributor(cfg)
        self.dist.changed = self._spi_changed
        self.dist.ctlr_changed = self._update_all
        self.dist.on_active = self._active_written
        self.redist = [Redistributor(c, cfg, self.mem) for c in range(n)]
        for r in self.redist:
            r.changed = self._make_ppi_sync(r.cpu)
            r.lpi_changed = self._make_updater(r.cpu)
            r.vlpi_changed = r.lpi_changed
            r.on_active = self._active_written
        self.cpu_if = [CpuInterface(c, cfg, self) for c in range(n)]
        self.virt = [VirtInterface(c, cfg, self) for c in range(n)]
        self.outputs: list[CpuOutputs] = [ci.out for ci in self.cpu_if]
        self.its = ITS(cfg, self.mem, self)
        for r in self.redist:
            r.vpe_info = self._vpe_info
            r.on_deschedule = self._descheduled
            r.vsgi_state = self._vsgi_state
        words = cfg.num_irqs // 32
        self._bk = [[new_buckets(words), new_buckets(words)] for _ in range(n)]
        self._pm = [[0] * (2 * PS_SIZE) for _ in range(n)]
        self._cand = [[_NONE] * cfg.num_irqs for _ in range(n)]
        """Per PE and INTID < num_irqs: ``prio << 1 | group`` while in the buckets."""
        self._spi_at = [_NONE] * cfg.num_irqs
        """PE whose buckets hold SPI ``intid`` as a candidate."""
        self._hppi: list[tuple[int, int, int] | None] = [None] * n
        self._maint = [False] * n
        self._updating = False
        self.reset()

    # ------------------------------------------------------------------ callbacks

    @property
    def version(self) -> int:
        """3 (a GICv4 is a version-3 GIC with vLPIs: ``config.version`` says 4)."""
        return 3

    @property
    def num_cpus(self) -> int:
        return self.config.num_cpus

    @property
    def on_output(self) -> Callable[[int, str, bool], None] | None:
        """``on_output(cpu, signal, level)``: called on every output level change (None
        while a sink is attached)."""
        return self._hooks.on_output if self._sink is self._hooks else None

    @on_output.setter
    def on_output(self, cb: Callable[[int, str, bool], None] | None) -> None:
        self._hooks.on_output = cb
        self._sink = self._hooks

    @property
    def on_event(self) -> Callable[[str, int, int, str], None] | None:
        """``on_event(kind, intid, cpu, source)``: physical activations/deactivations
        (None while a sink is attached)."""
        return self._hooks.on_event if self._sink is self._hooks else None

    @on_event.setter
    def on_event(self, cb: Callable[[str, int, int, str], None] | None) -> None:
        self._hooks.on_event = cb
        self._sink = self._hooks

    def attach(self, sink: GicSink) -> None:
        """Drive ``sink``'s native methods instead of the callables (the machine)."""
        self._sink = sink

    def reset(self) -> None:
        """Reset every block (and forget the modelled RAM) and recompute the outputs."""
        self.mem = Memory()
        self.its.mem = self.mem
        for r in self.redist:
            r.mem = self.mem
            r.reset()
        self.dist.reset()
        for ci in self.cpu_if:
            ci.reset()
        for v in self.virt:
            v.reset()
        self.its.reset()
        for c in range(self.config.num_cpus):
            for g in (0, 1):
                bk = self._bk[c][g]
                for i in range(len(bk)):
                    bk[i] = 0
            self._pm[c] = [0] * (2 * PS_SIZE)
            self._cand[c] = [_NONE] * self.config.num_irqs
            self._maint[c] = False
        self._spi_at = [_NONE] * self.config.num_irqs
        for c in range(self.config.num_cpus):
            for i in range(32):
                self._sync_ppi(c, i)
        for i in range(32, self.config.num_irqs):
            self._sync_spi(i)
        self._update_all()

    # ------------------------------------------------------------------ memory map

    def read(self, addr: int, size: int = 4, cpu: int = 0) -> int:
        """MMIO read of ``size`` bytes (1, 2, 4, 8) at ``addr`` by PE ``cpu``."""
        block, off = self._decode(addr, cpu)
        if block is None:
            return self.mem.read(addr, size)
        return block.read(off, size, cpu)

    def write(self, addr: int, value: int, size: int = 4, cpu: int = 0) -> None:
        """MMIO write of ``size`` bytes at ``addr`` by PE ``cpu``."""
        block, off = self._decode(addr, cpu)
        if block is None:
            self.mem.write(addr, value, size)
            return
        block.write(off, value, size, cpu)

    def _decode(self, addr: int, cpu: int) -> tuple[RegisterBlock | None, int]:
        cfg = self.config
        if not 0 <= cpu < cfg.num_cpus:
            raise ValueError(f"cpu {cpu} out of range (num_cpus={cfg.num_cpus})")
        off = addr - cfg.gicd_base
        if 0 <= off < GICD_SIZE:
            return self.dist.block, off
        off = addr - cfg.gicr_base
        stride = cfg.gicr_stride
        if 0 <= off < stride * cfg.num_cpus:
            return self.redist[off // stride].block, off % stride
        off = addr - cfg.gits_base
        if cfg.its and 0 <= off < self.its.block.size:
            return self.its.block, off
        if addr >= RAM_BASE:
            return None, 0
        raise ValueError(f"address {addr:#x} is not in a GIC frame (GICD {cfg.gicd_base:#x}, "
                         f"GITS {cfg.gits_base:#x}, GICR {cfg.gicr_base:#x}) nor in RAM")

    # ------------------------------------------------------------------ system registers

    def read_sysreg(self, cpu: int, name: str) -> int:
        """Read system register ``name`` of PE ``cpu``: ``ICC_*_EL1``/``ICC_SRE_EL2``
        (physical CPU interface), ``ICH_*_EL2``, or ``ICV_*_EL1`` (the virtual CPU
        interface, as from EL1 with HCR_EL2.IMO = FMO = 1).  :class:`SysRegUndefined`
        for a register this configuration does not implement or a write-only one."""
        reg, virtual = sysreg_by_name(name)
        return self._block(cpu, reg.name, virtual).read(reg.name)

    def write_sysreg(self, cpu: int, name: str, value: int) -> None:
        """Write system register ``name`` of PE ``cpu`` (see :meth:`read_sysreg`)."""
        reg, virtual = sysreg_by_name(name)
        self._block(cpu, reg.name, virtual).write(reg.name, value)

    def access_sysreg(self, cpu: int, enc: int, el: int, imo: bool, fmo: bool,
                      value: int | None = None) -> int:
        """MRS (``value is None``) or MSR of encoding ``enc`` (:func:`sysregs.encoding`)
        at exception level ``el`` with HCR_EL2.IMO/FMO: routed to ICC_*, ICH_* or ICV_*
        as IHI 0069H §12.1.5 says (:func:`irqfwd.hw.gic.sysregs.route`)."""
        reg, virtual = route(enc, el, imo, fmo)
        block = self._block(cpu, reg.name, virtual)
        if value is None:
            return block.read(reg.name)
        block.write(reg.name, value)
        return 0

    def _block(self, cpu: int, name: str, virtual: bool) -> SysRegBlock:
        if not 0 <= cpu < self.config.num_cpus:
            raise ValueError(f"cpu {cpu} out of range (num_cpus={self.config.num_cpus})")
        if virtual:
            return self.virt[cpu].icv
        if name.startswith("ICH_"):
            return self.virt[cpu].regs
        return self.cpu_if[cpu].regs

    # ------------------------------------------------------------------ inputs

    def set_line(self, intid: int, level: bool, cpu: int | None = None) -> None:
        """Drive SPI ``intid`` (``cpu`` None) or PPI ``intid`` of PE ``cpu``."""
        if 16 <= intid < 32:
            if cpu is None or not 0 <= cpu < self.config.num_cpus:
                raise ValueError(f"PPI {intid} needs a cpu (0..{self.config.num_cpus - 1})")
            self.redist[cpu].set_level(intid, level)
        elif 32 <= intid < min(self.config.num_irqs, 1020):
            self.dist.set_level(intid, level)
        else:
            raise ValueError(f"INTID {intid} is not a PPI or an implemented SPI")

    def msi(self, device_id: int, event_id: int) -> bool:
        """A device's write of ``event_id`` to GITS_TRANSLATER (DeviceID ``device_id``)."""
        return self.its.translate(device_id, event_id)

    # ------------------------------------------------------------------ candidates

    def _make_ppi_sync(self, cpu: int) -> Callable[[int], None]:
        def changed(intid: int) -> None:
            self._sync_ppi(cpu, intid)
            self.update(cpu)

        return changed

    def _make_updater(self, cpu: int) -> Callable[[], None]:
        def changed() -> None:
            self.update(cpu)

        return changed

    def _bucket_set(self, cpu: int, intid: int, enc: int) -> None:
        """Put ``intid`` in PE ``cpu``'s buckets as ``prio << 1 | group`` (or take it out
        with ``enc = -1``)."""
        cur = self._cand[cpu][intid]
        if cur == enc:
            return
        w, b = intid >> 5, 1 << (intid & 31)
        if cur != _NONE:
            bucket_remove(self._bk[cpu][cur & 1], self._pm[cpu], (cur & 1) * PS_SIZE, w, b, cur >> 1, intid)
        if enc != _NONE:
            bucket_add(self._bk[cpu][enc & 1], self._pm[cpu], (enc & 1) * PS_SIZE, w, b, enc >> 1, intid)
        self._cand[cpu][intid] = enc

    def _sync_ppi(self, cpu: int, intid: int) -> None:
        r = self.redist[cpu]
        enc = (r.prio[intid] << 1 | int(r.group[intid])) if r.candidate(intid) else _NONE
        self._bucket_set(cpu, intid, enc)

    def _sync_spi(self, intid: int) -> int:
        """Resync SPI ``intid``; return the PE whose candidates changed (or -1)."""
        d = self.dist
        tgt = d.target[intid] if d.candidate(intid) else _NONE
        old = self._spi_at[intid]
        if old != _NONE and old != tgt:
            self._bucket_set(old, intid, _NONE)
        if tgt != _NONE:
            self._bucket_set(tgt, intid, d.prio[intid] << 1 | int(d.group[intid]))
        self._spi_at[intid] = tgt
        return old

    def _spi_changed(self, intid: int) -> None:
        old = self._sync_spi(intid)
        tgt = self._spi_at[intid]
        if old != _NONE and old != tgt:
            self.update(old)
        if tgt != _NONE:
            self.update(tgt)
        elif old == _NONE:
            # not a candidate anywhere: its route may still have changed nothing visible
            return

    # ------------------------------------------------------------------ HPPI and outputs

    def _compute_hppi(self, cpu: int) -> tuple[int, int, int] | None:
        """``(INTID, priority, group)`` of PE ``cpu``'s highest-priority pending interrupt
        among SGIs/PPIs, SPIs routed to it and its LPIs, of groups the distributor enables
        (ties: lowest INTID); None if none, or while the PE is asleep (GICR_WAKER)."""
        r = self.redist[cpu]
        if r.asleep and not self.config.quirks.waker_sleep_ignored:
            return None
        ctlr = self.dist.ctlr
        best: tuple[int, int, int] | None = None
        pm = self._pm[cpu]
        for g in (0, 1):
            p = ps_lowest(pm, g * PS_SIZE) if ctlr >> g & 1 else -1
            if p >= 0:
                intid = self._bk[cpu][g][256 | p]
                if best is None or (p, intid) < (best[1], best[0]):
                    best = (intid, p, g)
        if ctlr & GICD_CTLR_ENABLEGRP1 and r.lpis_enabled():
            lb = r.lpi.best()
            if lb is not None and (best is None or lb < (best[1], best[0])):
                best = (lb[1], lb[0], 1)
        if best is not None and best[1] == 0xFF:
            return None
        return best

    def hppi(self, cpu: int) -> tuple[int, int, int] | None:
        """PE ``cpu``'s current HPPI ``(INTID, priority, group)`` (see :meth:`_compute_hppi`)."""
        return self._hppi[cpu]

    def update(self, cpu: int) -> None:
        """Recompute PE ``cpu``'s HPPI, its IRQ/FIQ/vIRQ/vFIQ outputs and its maintenance
        interrupt level; ``on_output`` fires for every level that changed."""
        h = self._hppi[cpu] = self._compute_hppi(cpu)
        ci = self.cpu_if[cpu]
        irq = fiq = False
        if h is not None and ci.can_signal(h[1], h[2]):
            irq, fiq = h[2] == 1, h[2] == 0
        v = self.virt[cpu]
        virq, vfiq = v.outputs()
        out = ci.out
        sink = self._sink
        if out.irq != irq:
            out.irq = irq
            sink.gic_output(cpu, "irq", irq)
        if out.fiq != fiq:
            out.fiq = fiq
            sink.gic_output(cpu, "fiq", fiq)
        if out.virq != virq:
            out.virq = virq
            sink.gic_output(cpu, "virq", virq)
        if out.vfiq != vfiq:
            out.vfiq = vfiq
            sink.gic_output(cpu, "vfiq", vfiq)
        maint = v.maintenance()
        if maint != self._maint[cpu]:
            self._maint[cpu] = maint
            self.redist[cpu].set_level(self.config.maintenance_intid, maint)

    def _update_all(self) -> None:
        for c in range(self.config.num_cpus):
            self.update(c)

    # ------------------------------------------------------------------ state changes

    def _event(self, kind: str, intid: int, cpu: int, source: str) -> None:
        self._sink.gic_event(kind, intid, cpu, source)

    def _active_written(self, intid: int, active: bool, cpu: int) -> None:
        """GICD_I[SC]ACTIVER / GICR_I[SC]ACTIVER0 changed an active state: reported as a
        physical activation (``"isactiver"``) or deactivation (``"icactiver"``)."""
        if active:
            self._event("activate", intid, cpu, "isactiver")
        else:
            self._event("deactivate", intid, cpu, "icactiver")

    def activate(self, cpu: int, intid: int) -> None:
        """Acknowledge ``intid`` on PE ``cpu``: an SGI/PPI/SPI goes pending → active (the
        pending latch is cleared), an LPI leaves the pending state (§4.1.1)."""
        if intid < 32:
            r = self.redist[cpu]
            r.latch[intid] = False
            r.set_active(intid, True)
            self._sync_ppi(cpu, intid)
        elif intid < self.config.num_irqs:
            self.dist.latch[intid] = False
            self.dist.set_active(intid, True)
        elif intid >= LPI_BASE:
            self.redist[cpu].set_lpi(intid, False)
            return
        self._event("activate", intid, cpu, "iar")
        self.update(cpu)

    def deactivate(self, cpu: int, intid: int, source: str) -> None:
        """Deactivate SGI/PPI ``intid`` of PE ``cpu`` or SPI ``intid`` (EOI with EOImode 0,
        ICC_DIR_EL1, or an ICH_LR<n>_EL2 with HW = 1); nothing for an LPI."""
        if intid < 32:
            r = self.redist[cpu]
            if not r.active[intid]:
                return
            r.set_active(intid, False)
        elif intid < self.config.num_irqs:
            if not self.dist.active[intid]:
                return
            self.dist.set_active(intid, False)
        else:
            return
        self._event("deactivate", intid, cpu, source)

    def send_sgi(self, cpu: int, value: int, kind: int) -> None:
        """ICC_SGI0R_EL1 (``kind`` 0), ICC_SGI1R_EL1 (1), ICC_ASGI1R_EL1 (2) written by PE
        ``cpu`` (§12.2.21–22): IRM = 1 targets every other PE, else the PEs of affinity
        Aff3.Aff2.Aff1 whose Aff0 is in TargetList (offset by RS * 16).  The SGI becomes
        pending on a target if its group there is the one generated (Group 0 for SGI0R
        and, with a single Security state, ASGI1R; Group 1 for SGI1R)."""
        intid = (value >> 24) & 0xF
        want_group = 1 if kind == 1 else 0
        if value >> 40 & 1:
            targets = [c for c in range(self.config.num_cpus) if c != cpu]
        else:
            aff321 = (value >> 48 & 0xFF) << 16 | (value >> 32 & 0xFF) << 8 | (value >> 16 & 0xFF)
            rs = 0 if self.config.quirks.sgi_rs_ignored else (value >> 44) & 0xF
            tl = value & 0xFFFF
            targets = []
            for c in range(self.config.num_cpus):
                # Aff0 of PE c is c % 16 (< 16): it is addressed by RS = 0 only
                if aff321 != c // 16 or rs != 0:
                    continue
                if tl >> (c % 16) & 1:
                    targets.append(c)
        for c in targets:
            r = self.redist[c]
            if int(r.group[intid]) == want_group:
                r.set_pending(intid, True)

    # ------------------------------------------------------------------ LPIs

    def set_lpi(self, cpu: int, intid: int, pending: bool) -> None:
        """Set or clear physical LPI ``intid`` pending on PE ``cpu``'s redistributor."""
        self.redist[cpu].set_lpi(intid, pending)

    def move_lpi(self, src: int, dst: int, intid: int) -> None:
        """MOVI: a pending LPI moves from redistributor ``src`` to ``dst`` (§6.3 MOVI)."""
        r = self.redist[src]
        if intid in r.lpi_pend:
            r.set_lpi(intid, False)
            self.redist[dst].set_lpi(intid, True)

    def move_all_lpis(self, src: int, dst: int) -> None:
        """MOVALL: every pending LPI of ``src`` moves to ``dst`` (§6.3 MOVALL)."""
        if src == dst:
            return
        r = self.redist[src]
        for intid in sorted(r.lpi_pend):
            r.set_lpi(intid, False)
            self.redist[dst].set_lpi(intid, True)

    # ------------------------------------------------------------------ vLPIs (GICv4)

    def set_vlpi(self, cpu: int, vpt: int, intid: int, pending: bool, doorbell: int,
                 vpe: int = -1) -> None:
        """Set or clear vLPI ``intid`` pending in the virtual pending table at ``vpt`` of
        vPE ``vpe`` mapped to PE ``cpu`` (§5.4): the VPT bit is written; if the vPE is
        resident on ``cpu`` (GICR_VPENDBASER.Valid with that table, or that vPEID on a
        GICv4.1) the virtual CPU interface sees the change, otherwise a pending vLPI
        rings ``doorbell`` (a physical LPI, 1023 = none; GICv4.1: the vPE's default
        doorbell if armed)."""
        r = self.redist[cpu]
        if self.config.gicv41:
            resident = vpe >= 0 and r.resident_vpe() == vpe
        else:
            resident = r.resident_vpt() == vpt
        if resident and intid >= r.vlpi_id_limit():
            return
        before = self.mem.test_bit(vpt, intid)
        if before != pending:
            self.mem.set_bit(vpt, intid, pending)
            if resident:
                r.vlpi_update(intid, pending)
        if not resident and pending:
            if doorbell != NO_DOORBELL:
                r.set_lpi(doorbell, True)
            elif self.config.gicv41:
                self._ring_default_doorbell(vpe)

    def vlpi_pending(self, vpt: int, intid: int) -> bool:
        """The VPT bit of vLPI ``intid``."""
        return self.mem.test_bit(vpt, intid)

    def direct_best(self, cpu: int, veng0: bool, veng1: bool) -> tuple[int, int, int] | None:
        """``(priority, vINTID, group)`` of the resident vPE's highest-priority pending
        direct interrupt of an enabled group: its vLPIs (Group 1) and, on a GICv4.1, its
        enabled vSGIs (group from the VSGI command); lowest INTID on a tie."""
        r = self.redist[cpu]
        best: tuple[int, int, int] | None = None
        if veng1 and r.resident_vpt() >= 0:
            b = r.vlpi.best()
            if b is not None:
                best = (b[0], b[1], 1)
        vpeid = r.resident_vpe()
        if vpeid >= 0:
            vpe = self.its.vpes.get(vpeid)
            if vpe is not None and vpe.sgi_pend:
                for i in range(16):
                    c = vpe.sgi_cfg[i]
                    if not (vpe.sgi_pend >> i & 1 and c >> 9 & 1):
                        continue
                    g = c >> 8 & 1
                    if not (veng1 if g else veng0):
                        continue
                    if best is None or (c & 0xFF, i) < (best[0], best[1]):
                        best = (c & 0xFF, i, g)
        return best

    def ack_direct(self, cpu: int, intid: int) -> None:
        """ICV_IAR acknowledged a direct vLPI or (GICv4.1) vSGI ``intid``: it leaves the
        pending state (neither has an active state)."""
        r = self.redist[cpu]
        if intid < 16:
            vpe = self.its.vpes.get(r.resident_vpe())
            if vpe is not None:
                vpe.sgi_pend &= ~(1 << intid)
            return
        vpt = r.resident_vpt()
        if vpt >= 0:
            self.mem.set_bit(vpt, intid, False)
            r.vlpi.remove(intid)

    # ------------------------------------------------------------------ GICv4.1

    def _vpe_info(self, vpeid: int) -> tuple[int, int, int] | None:
        vpe = self.its.vpes.get(vpeid)
        return None if vpe is None else (vpe.vpt, vpe.vconf, vpe.vpt_bits)

    def _vsgi_state(self, vpeid: int) -> tuple[list[int], int] | None:
        vpe = self.its.vpes.get(vpeid)
        return None if vpe is None else (vpe.sgi_cfg, vpe.sgi_pend)

    def _descheduled(self, vpeid: int, doorbell: bool) -> None:
        vpe = self.its.vpes.get(vpeid)
        if vpe is not None:
            vpe.db_armed = doorbell

    def _ring_default_doorbell(self, vpeid: int) -> None:
        """GICv4.1 (§5.4.2): a vPE descheduled with GICR_VPENDBASER.Doorbell = 1 rings its
        default doorbell (VMAPP) once when a vLPI or vSGI becomes pending for it."""
        vpe = self.its.vpes.get(vpeid)
        if vpe is None or not vpe.db_armed or vpe.doorbell == NO_DOORBELL:
            return
        vpe.db_armed = False
        self.redist[vpe.cpu].set_lpi(vpe.doorbell, True)

    def vsgi_changed(self, vpeid: int, ring: bool = False) -> None:
        """A vSGI of ``vpeid`` changed (VSGI command, GITS_SGIR): update its PE if the vPE
        is resident there, else (``ring``, a new pending vSGI) ring its default doorbell."""
        vpe = self.its.vpes.get(vpeid)
        if vpe is None:
            return
        if self.redist[vpe.cpu].resident_vpe() == vpeid:
            self.update(vpe.cpu)
        elif ring:
            self._ring_default_doorbell(vpeid)

    def inv_vlpi(self, cpu: int, vpt: int, intid: int) -> None:
        """INV of a vLPI: re-read its configuration if its vPE is resident."""
        r = self.redist[cpu]
        if r.resident_vpt() == vpt and self.mem.test_bit(vpt, intid):
            r.vlpi_update(intid, True)

    def inv_all_vlpis(self, cpu: int, vpt: int) -> None:
        """VINVALL: re-read every pending vLPI's configuration if the vPE is resident."""
        r = self.redist[cpu]
        if r.resident_vpt() == vpt:
            r.vinv_all()


__all__ += ["SysRegUndefined"]

if TYPE_CHECKING:

    def _is_a_sysreg_gic_device(g: GICv3) -> SysRegGicDevice:
        """mypy checks that GICv3 implements the device protocols."""
        return g
