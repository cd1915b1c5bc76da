"""The GICv2 device: memory map, input lines, output lines and wiring of the blocks.

``GICv2(config)`` builds one :class:`~irqfwd.hw.gicv2.distributor.Distributor`, one
:class:`~irqfwd.hw.gicv2.cpu_interface.CpuInterface` per CPU and, when the virtualization
modules are present, one ``HypInterface`` (GICH) and ``VcpuInterface`` (GICV) per CPU
(``docs/architecture.md`` gives the contract).  Every state change recomputes the outputs
of the CPUs it concerns; ``on_output`` fires only on a level change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from irqfwd.hw.events import GicSetIrq, GicUpdateMaintenanceIrq
from irqfwd.hw.gic.device import CpuOutputs, GicSink, HookSink
from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.hw.gicv2.core import GicV2Core
from irqfwd.hw.gicv2.cpu_interface import GICC_SIZE, CpuInterface
from irqfwd.hw.gicv2.distributor import GICD_SIZE, Distributor
from irqfwd.hw.gicv2.hyp_interface import HypInterface
from irqfwd.hw.gicv2.vcpu_interface import VcpuInterface
from irqfwd.sim.metrics import Event

__all__ = ["GICH_SIZE", "GICV_SIZE", "GICv2"]

GICH_SIZE: Final = 0x1000
"""GICH "this CPU" frame (GICv2 §5.3~; QEMU maps 0x1000 bytes)."""
GICV_SIZE: Final = 0x2000
"""GICV frame (GICV_DIR at +0x1000)."""

_Access = Callable[..., Any]
_Decoded = tuple[Callable[[int, int], int], Callable[[int, int, int, int], None], int, bool, int]
"""Word address → (read handler, write handler, word index, GICD/GICC frame, legal sizes
as the bit mask 1 | 2 | 4) of a register word (see :meth:`GICv2._flat_decode`)."""


class GICv2(GicV2Core):
    """A GICv2 with Virtualization Extensions (Arm IHI 0048B), QEMU ``virt`` defaults.

    * :meth:`read` / :meth:`write`: MMIO on the GICD, GICC, GICH and GICV frames;
    * :meth:`set_line`: SPI and per-CPU PPI inputs;
    * ``outputs[cpu]``: ``irq``/``fiq``/``virq``/``vfiq`` levels; ``on_output(cpu, signal,
      level)`` on every change; ``on_event(kind, intid, cpu, source)`` on every physical
      activation/deactivation (or, instead of both, the native methods of an attached
      :class:`~irqfwd.hw.gic.device.GicSink`: :meth:`attach`); every drive of an input
      line is QEMU's ``gic_set_irq`` trace event, of the maintenance PPI
      ``gic_update_maintenance_irq`` (:meth:`trace_events`: live once a recorder that
      wants them registered them).

    Callbacks run synchronously inside the access that caused them.  ``on_output`` fires
    after the state change is complete; ``on_event`` fires during the transition (the
    interrupt's new active state and, for an IAR, the new running priority are visible,
    the outputs are not yet recomputed).  Callbacks should schedule work on the engine
    rather than re-enter the GIC.
    """

    __slots__ = (
        "_decode",
        "_frames",
        "_hooks",
        "_ncpu",
        "_q_hw_deactivate_no_phys_update",
        "_sink",
        "_spi_end",
        "_stale_mask",
        "config",
        "cpu_if",
        "dist",
        "ev_maint",
        "ev_set_irq",
        "hyp",
        "outputs",
        "vcpu_if",
    )

    def __init__(self, config: GICv2Config | None = None) -> None:
        super().__init__()
        self.config = config = config or GICv2Config()
        self._ncpu = config.num_cpus
        self._spi_end = min(config.num_irqs, 1020)
        self._q_hw_deactivate_no_phys_update = config.quirks.hw_deactivate_no_phys_update
        self._hooks = HookSink()
        """Calls the ``on_output`` / ``on_event`` callables."""
        self._sink: GicSink = self._hooks
        """What the outputs drive: :attr:`_hooks`, or the sink given to :meth:`attach`."""
        self.ev_set_irq = GicSetIrq()
        """``gic_set_irq``: every drive of an input line (``cpu`` 0 for SPIs)."""
        self.ev_maint = GicUpdateMaintenanceIrq()
        """``gic_update_maintenance_irq``: every drive of a maintenance interrupt line."""
        self._stale_mask = 0
        self.dist = Distributor(config)
        self.dist.gic = self
        self.cpu_if = [CpuInterface(c, config, self.dist, self._hooks) for c in range(config.num_cpus)]
        self.outputs: list[CpuOutputs] = [ci.out for ci in self.cpu_if]
        self.hyp: list[HypInterface] = [HypInterface(c, config, self) for c in range(config.num_cpus)]
        self.vcpu_if: list[VcpuInterface] = [VcpuInterface(h, config) for h in self.hyp]
        self._frames: dict[int, tuple[int, str, tuple[_Access, ...], tuple[_Access, ...]]] = {}
        self._map_frames()
        self._decode: tuple[dict[int, _Decoded], ...] = self._flat_decode()

    @property
    def version(self) -> int:
        """GIC architecture version (:class:`~irqfwd.hw.gic.device.GicDevice`): 2."""
        return 2

    @property
    def num_cpus(self) -> int:
        """CPU interfaces (GICD_TYPER.CPUNumber + 1)."""
        return self._ncpu

    # ------------------------------------------------------------------ callbacks

    @property
    def on_output(self) -> Callable[[int, str, bool], None] | None:
        """``on_output(cpu, signal, level)``: called on every output level change (None
        while a sink is attached)."""
        return self._hooks.on_output if self._sink is self._hooks else None

    @on_output.setter
    def on_output(self, cb: Callable[[int, str, bool], None] | None) -> None:
        self._hooks.on_output = cb
        self._drive(self._hooks)

    @property
    def on_event(self) -> Callable[[str, int, int, str], None] | None:
        """``on_event(kind, intid, cpu, source)``: physical activations/deactivations
        (None while a sink is attached)."""
        return self._hooks.on_event if self._sink is self._hooks else None

    @on_event.setter
    def on_event(self, cb: Callable[[str, int, int, str], None] | None) -> None:
        self._hooks.on_event = cb
        self._drive(self._hooks)

    def attach(self, sink: GicSink) -> None:
        """Drive ``sink``'s native methods instead of the callables (the machine)."""
        self._drive(sink)

    def _drive(self, sink: GicSink) -> None:
        """Wire ``sink`` straight into the blocks that emit (no wrapper call per change);
        the distributor skips the call when nobody watches the (de)activations."""
        self._sink = sink
        for ci in self.cpu_if:
            ci.sink = sink
        watched = sink is not self._hooks or self._hooks.on_event is not None
        self.dist.sink = sink if watched else None

    # ------------------------------------------------------------------ memory map

    def _map_frames(self) -> None:
        cfg = self.config
        ncpu = self._ncpu
        dist_block = self.dist.block
        frames: list[tuple[str, int, int, tuple[_Access, ...], tuple[_Access, ...]]] = [
            ("GICD", cfg.gicd_base, GICD_SIZE, (dist_block.read,) * ncpu,
             (dist_block.write,) * ncpu),
            ("GICC", cfg.gicc_base, GICC_SIZE, tuple(ci.block.read for ci in self.cpu_if),
             tuple(ci.block.write for ci in self.cpu_if)),
        ]
        if self.hyp:
            frames.append(("GICH", cfg.gich_base, GICH_SIZE,
                           tuple(self._virt_reader(h) for h in self.hyp),
                           tuple(self._virt_writer(h) for h in self.hyp)))
            frames.append(("GICV", cfg.gicv_base, GICV_SIZE,
                           tuple(self._virt_reader(v) for v in self.vcpu_if),
                           tuple(self._virt_writer(v) for v in self.vcpu_if)))
        for name, base, size, rd, wr in frames:
            if base % 0x1000:
                raise ValueError(f"{name} base {base:#x} is not 4 KiB aligned")
            for page in range(base >> 12, (base + size) >> 12):
                if page in self._frames:
                    raise ValueError(f"{name} frame at {base:#x} overlaps another GIC frame")
                self._frames[page] = (base, name, rd, wr)

    @staticmethod
    def _virt_reader(block: Any) -> _Access:
        def read(offset: int, size: int, cpu: int) -> int:
            return int(block.read(offset, size))

        return read

    @staticmethod
    def _virt_writer(block: Any) -> _Access:
        def write(offset: int, value: int, size: int, cpu: int) -> None:
            block.write(offset, value, size)

        return write

    def _frame(self, addr: int, cpu: int) -> tuple[int, str, tuple[_Access, ...], tuple[_Access, ...]]:
        f = self._frames.get(addr >> 12)
        if f is None:
            raise ValueError(
                f"address {addr:#x} is not in a GIC frame (GICD {self.config.gicd_base:#x}, "
                f"GICC {self.config.gicc_base:#x}"
                + (f", GICH {self.config.gich_base:#x}, GICV {self.config.gicv_base:#x})"
                   if self.hyp else "; GICH/GICV not available)")
            )
        if not 0 <= cpu < self._ncpu:
            raise ValueError(f"cpu {cpu} out of range (num_cpus={self._ncpu})")
        return f

    def _flat_decode(self) -> tuple[dict[int, _Decoded], ...]:
        """Per CPU: absolute word address → handlers of every decoded register word,
        built once from the blocks' decode tables (``RegisterBlock.word_entries``).

        :meth:`read`/:meth:`write` use it for legal aligned accesses (what the
        ``RegisterBlock`` would do, minus the frame lookup and one call level) and fall
        back to the frame's :class:`~irqfwd.hw.gicv2.regs.RegisterBlock` for anything else
        (illegal sizes or alignment, reserved offsets, errors), so the result is the same
        either way.
        """
        cfg = self.config
        out: list[dict[int, _Decoded]] = []
        for c in range(self._ncpu):
            blocks: list[tuple[int, Any, bool]] = [
                (cfg.gicd_base, self.dist.block, True),
                (cfg.gicc_base, self.cpu_if[c].block, True),
            ]
            if self.hyp:
                blocks.append((cfg.gich_base, self.hyp[c].regs, False))
                blocks.append((cfg.gicv_base, self.vcpu_if[c].regs, False))
            table: dict[int, _Decoded] = {}
            for base, block, phys in blocks:
                for off, (rd, wr, n, allowed) in block.word_entries():
                    # RegisterBlock's size bits: 0b001 = 1 byte, 0b010 = 2, 0b100 = 4 bytes
                    table[base + off] = (rd, wr, n, phys, allowed)
            out.append(table)
        return tuple(out)

    def read(self, addr: int, size: int = 4, cpu: int = 0) -> int:
        """MMIO read of ``size`` bytes (1, 2 or 4) at ``addr`` by ``cpu``."""
        if 0 <= cpu < self._ncpu:
            e = self._decode[cpu].get(addr & ~3)
            if e is not None:
                if size == 4:
                    if not addr & 3 and e[4] & 4:
                        return e[0](e[2], cpu)
                elif (size == 1 or (size == 2 and not addr & 1)) and e[4] & size:
                    return (e[0](e[2], cpu) >> ((addr & 3) << 3)) & (0xFF if size == 1 else 0xFFFF)
        f = self._frames.get(addr >> 12)
        if f is None or not 0 <= cpu < self._ncpu:
            f = self._frame(addr, cpu)
        return f[2][cpu](addr - f[0], size, cpu)

    def write(self, addr: int, value: int, size: int = 4, cpu: int = 0) -> None:
        """MMIO write of ``size`` bytes (1, 2 or 4) at ``addr`` by ``cpu``."""
        if 0 <= cpu < self._ncpu:
            e = self._decode[cpu].get(addr & ~3)
            if e is not None:
                if size == 4:
                    if not addr & 3 and e[4] & 4:
                        e[1](e[2], value & 0xFFFF_FFFF, 0xFFFF_FFFF, cpu)
                        if self._stale_mask and e[3]:
                            self.outputs_changed(self._stale_mask)
                        return
                elif (size == 1 or (size == 2 and not addr & 1)) and e[4] & size:
                    shift = (addr & 3) << 3
                    lane = 0xFF if size == 1 else 0xFFFF
                    e[1](e[2], (value & lane) << shift, lane << shift, cpu)
                    if self._stale_mask and e[3]:
                        self.outputs_changed(self._stale_mask)
                    return
        f = self._frames.get(addr >> 12)
        if f is None or not 0 <= cpu < self._ncpu:
            f = self._frame(addr, cpu)
        f[3][cpu](addr - f[0], value, size, cpu)
        if self._stale_mask and f[1] in ("GICD", "GICC"):
            self.outputs_changed(self._stale_mask)

    # ------------------------------------------------------------------ inputs

    def set_line(self, intid: int, level: bool, cpu: int | None = None) -> None:
        """Drive the input of SPI ``intid`` (``cpu`` ignored) or of PPI ``intid`` of ``cpu``.

        SGIs have no input line (use GICD_SGIR); INTIDs ≥ ``num_irqs`` or ≥ 1020 and PPIs
        without a valid ``cpu`` raise :class:`ValueError`.
        """
        ev = self.ev_set_irq
        if intid >= 32:
            if intid >= self._spi_end:
                raise ValueError(
                    f"INTID {intid} is not an implemented SPI (num_irqs={self.config.num_irqs})"
                )
            if ev.live:
                self._trace_line(intid, 0, level)
            self.dist.set_line(intid, level, 0)
            return
        if intid < 16:
            raise ValueError(f"INTID {intid} is an SGI: SGIs have no input line (use GICD_SGIR)")
        if cpu is None or not 0 <= cpu < self._ncpu:
            raise ValueError(f"PPI {intid} needs cpu in 0..{self._ncpu - 1}, got {cpu}")
        if ev.live:
            self._trace_line(intid, cpu, level)
        self.dist.set_line(intid, level, cpu)

    # ------------------------------------------------------------------ outputs & events

    def outputs_changed(self, mask: int) -> None:
        """Recompute the outputs of the CPUs in ``mask`` (the distributor's notification)."""
        cpus = self.cpu_if
        m = mask
        c = 0
        while m:  # up to the highest CPU in the mask, not over every CPU interface
            if m & 1:
                cpus[c].update()
            m >>= 1
            c += 1
        if self._stale_mask:
            self._stale_mask &= ~mask

    def update_outputs(self) -> None:
        """Recompute every CPU's physical outputs (emitting changes)."""
        self.outputs_changed((1 << self._ncpu) - 1)

    # ------------------------------------------------------------------ hooks for GICH/GICV

    def deactivate_physical(self, cpu: int, intid: int) -> None:
        """Deactivate physical ``intid`` as a GICC_DIR write from ``cpu`` would, without a
        priority drop (HW=1 list register, GICv2 §5.x~ / Arm XML GICH_LR.HW).

        SGIs and INTIDs ≥ 1020 or not implemented are ignored (UNPREDICTABLE; QEMU D17).
        With ``QemuQuirks.hw_deactivate_no_phys_update`` (D16) the physical outputs and
        GICC_HPPIR are left stale until the next GICD/GICC write or input change.
        """
        if intid < 16 or intid >= self._spi_end:
            return
        if not self._q_hw_deactivate_no_phys_update:
            # dist.deactivate() without its range check (done above)
            mask = self.dist._set_active(intid, False, cpu, "hw_lr")
            if mask:
                self.outputs_changed(mask)
            return
        ci = self.cpu_if[cpu]
        stale_hppir = ci.read_hppir()
        mask = self.dist.deactivate(cpu, intid, "hw_lr")
        for c in range(self._ncpu):
            if (mask >> c) & 1 and not self.cpu_if[c].stale:
                self.cpu_if[c].stale_hppir = stale_hppir if c == cpu else self.cpu_if[c].read_hppir()
                self.cpu_if[c].stale = True
        self._stale_mask |= mask

    def set_maintenance(self, cpu: int, level: bool) -> None:
        """Drive the maintenance interrupt PPI (``config.maintenance_intid``) of ``cpu``."""
        if self.ev_maint.live:
            self._trace_line(self.config.maintenance_intid, cpu, level)
        self.dist.set_line(self.config.maintenance_intid, level, cpu)

    def _trace_line(self, intid: int, cpu: int, level: bool) -> None:
        """Emit ``gic_set_irq`` (``gic_update_maintenance_irq`` for the maintenance PPI)."""
        if intid == self.config.maintenance_intid:
            m = self.ev_maint
            m.cpu = cpu
            m.level = int(level)
            m.emit()
        else:
            ev = self.ev_set_irq
            ev.intid = intid
            ev.cpu = cpu
            ev.level = int(level)
            ev.emit()

    def trace_events(self) -> list[Event]:
        return [self.ev_set_irq, self.ev_maint]

    def update_virtual_outputs(self, cpu: int, virq: bool, vfiq: bool) -> None:
        """Set the virtual IRQ/FIQ outputs of ``cpu`` (called by the virtual interface)."""
        out = self.outputs[cpu]
        if out.virq != virq:
            out.virq = virq
            self._sink.gic_output(cpu, "virq", virq)
        if out.vfiq != vfiq:
            out.vfiq = vfiq
            self._sink.gic_output(cpu, "vfiq", vfiq)

    # ------------------------------------------------------------------ reset

    def reset(self) -> None:
        """Reset every block and recompute the outputs (changes are emitted)."""
        self.dist.reset()
        for ci in self.cpu_if:
            ci.reset()
        self._stale_mask = 0
        for block in (*self.hyp, *self.vcpu_if):
            reset = getattr(block, "reset", None)
            if reset is not None:
                reset()
        if not self.hyp:
            for c in range(self._ncpu):
                self.update_virtual_outputs(c, False, False)
        self.update_outputs()
