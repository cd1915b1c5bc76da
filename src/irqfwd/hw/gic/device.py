"""What every GIC model offers the rest of the machine (the hardware seam between versions).

A GIC device (:class:`GicDevice`: GICv2 in :mod:`irqfwd.hw.gicv2`, GICv3/v4 in
:mod:`irqfwd.hw.gicv3`) has input lines, per-CPU output lines, MMIO frames and, from GICv3
on, system registers.  The pCPU step loop (:mod:`irqfwd.hw.machine`) reads the outputs;
software reaches the GIC only through :meth:`GicDevice.read` / :meth:`GicDevice.write`
(and :meth:`GicDevice.read_sysreg` / :meth:`GicDevice.write_sysreg`), or through the
blocks' named register accessors, which have exactly the semantics of the register access
they are named after.

:class:`GicDevice` and :class:`SysRegGicDevice` are base classes the models derive from,
not protocols: in the compiled build a call through them (a device driving its line
with :meth:`GicDevice.set_line`, on every interrupt) is a native method call, where a
protocol-typed call is a generic Python call with its arguments boxed and parsed.
"""

from __future__ import annotations

from collections.abc import Callable

from irqfwd._mypyc import mypyc_attr
from irqfwd.sim.metrics import Event

__all__ = ["CpuOutputs", "EventHook", "GicDevice", "GicSink", "HookSink", "OutputHook", "SysRegGicDevice"]

OutputHook = Callable[[int, str, bool], None]
"""``on_output(cpu, signal, level)``: ``signal`` is ``"irq" | "fiq" | "virq" | "vfiq"``."""
EventHook = Callable[[str, int, int, str], None]
"""``on_event(kind, intid, cpu, source)``: ``kind`` ``"activate" | "deactivate"`` of a
physical interrupt; ``source`` the register or mechanism (``"iar"``, ``"eoir"``, ``"dir"``,
``"isactiver"``, ``"icactiver"``, ``"hw_lr"``)."""


class CpuOutputs:
    """Output lines of one CPU interface: physical IRQ/FIQ and virtual IRQ/FIQ."""

    __slots__ = ("fiq", "irq", "vfiq", "virq")

    def __init__(self) -> None:
        self.irq = False
        self.fiq = False
        self.virq = False
        self.vfiq = False

    def __repr__(self) -> str:
        return f"CpuOutputs(irq={self.irq}, fiq={self.fiq}, virq={self.virq}, vfiq={self.vfiq})"


@mypyc_attr(allow_interpreted_subclasses=True)
class GicSink:
    """What a GIC's outputs drive: every output level change (:meth:`gic_output`) and
    every physical activation or deactivation (:meth:`gic_event`).  The machine is one
    (:meth:`GicDevice.attach`): each is a native call in the compiled build."""

    def gic_output(self, cpu: int, signal: str, level: bool) -> None:
        """Output ``signal`` (``"irq" | "fiq" | "virq" | "vfiq"``) of ``cpu`` changed."""

    def gic_event(self, kind: str, intid: int, cpu: int, source: str) -> None:
        """Physical ``intid`` was activated or deactivated (``kind``) by ``source``."""


class HookSink(GicSink):
    """The sink of a GIC whose outputs drive the ``on_output`` / ``on_event`` callables
    (tests, tools): it calls them, each when set."""

    __slots__ = ("on_event", "on_output")

    def __init__(self) -> None:
        self.on_output: OutputHook | None = None
        self.on_event: EventHook | None = None

    def gic_output(self, cpu: int, signal: str, level: bool) -> None:
        cb = self.on_output
        if cb is not None:
            cb(cpu, signal, level)

    def gic_event(self, kind: str, intid: int, cpu: int, source: str) -> None:
        cb = self.on_event
        if cb is not None:
            cb(kind, intid, cpu, source)


@mypyc_attr(allow_interpreted_subclasses=True)
class GicDevice:
    """The interface of a GIC model to the machine (see the module docstring)."""

    def __init__(self) -> None:
        self.outputs: list[CpuOutputs] = []
        """Per CPU interface: the current output levels."""

    @property
    def version(self) -> int:
        """Architecture version: 2 or 3 (a GICv4 is a version-3 GIC with vLPIs)."""
        raise NotImplementedError

    @property
    def num_cpus(self) -> int:
        """CPU interfaces (processing elements) the GIC serves."""
        raise NotImplementedError

    @property
    def on_output(self) -> OutputHook | None:
        """Called on every output level change."""
        raise NotImplementedError

    @on_output.setter
    def on_output(self, cb: OutputHook | None) -> None:
        raise NotImplementedError

    @property
    def on_event(self) -> EventHook | None:
        """Called on every physical activation and deactivation."""
        raise NotImplementedError

    @on_event.setter
    def on_event(self, cb: EventHook | None) -> None:
        raise NotImplementedError

    def attach(self, sink: GicSink) -> None:
        """Drive ``sink`` instead of the :attr:`on_output` / :attr:`on_event` callables
        (which then read None; setting one of them drives the callables again)."""
        raise NotImplementedError

    def read(self, addr: int, size: int = 4, cpu: int = 0) -> int:
        """MMIO read of ``size`` bytes at physical address ``addr`` by ``cpu``."""
        raise NotImplementedError

    def write(self, addr: int, value: int, size: int = 4, cpu: int = 0) -> None:
        """MMIO write of ``size`` bytes at physical address ``addr`` by ``cpu``."""
        raise NotImplementedError

    def set_line(self, intid: int, level: bool, cpu: int | None = None) -> None:
        """Drive the input of SPI ``intid``, or of PPI ``intid`` of ``cpu``."""
        raise NotImplementedError

    def trace_events(self) -> list[Event]:
        """The GIC's own trace events (QEMU's trace points), for the machine to register
        with its recorder (:meth:`~irqfwd.sim.metrics.Recorder.site`)."""
        return []

    def reset(self) -> None:
        """Reset every block and recompute the outputs."""
        raise NotImplementedError


@mypyc_attr(allow_interpreted_subclasses=True)
class SysRegGicDevice(GicDevice):
    """A GIC with a system-register CPU interface (GICv3/v4: :class:`irqfwd.hw.gicv3.GICv3`).

    Registers are named as in Arm IHI 0069H: ``ICC_*_EL1`` and ``ICC_SRE_EL2`` are the
    physical CPU interface as accessed at EL2, ``ICH_*_EL2`` the virtualization control,
    ``ICV_*_EL1`` the virtual CPU interface a guest reaches at EL1 with
    ``HCR_EL2.IMO``/``FMO`` set.  A CPU model that decodes MRS/MSR itself uses
    :meth:`access_sysreg` with the encoding, the exception level and IMO/FMO; the routing
    rule is :func:`irqfwd.hw.gic.sysregs.route`.  Unimplemented registers raise
    :class:`irqfwd.hw.gic.sysregs.SysRegUndefined` (the CPU's UNDEF).
    """

    def read_sysreg(self, cpu: int, name: str) -> int:
        """MRS of system register ``name`` on PE ``cpu``."""
        raise NotImplementedError

    def write_sysreg(self, cpu: int, name: str, value: int) -> None:
        """MSR of ``value`` to system register ``name`` on PE ``cpu``."""
        raise NotImplementedError

    def access_sysreg(self, cpu: int, enc: int, el: int, imo: bool, fmo: bool,
                      value: int | None = None) -> int:
        """MRS (``value`` None) or MSR by encoding, routed to ICC/ICH/ICV."""
        raise NotImplementedError

    def msi(self, device_id: int, event_id: int) -> bool:
        """A device's write of ``event_id`` to GITS_TRANSLATER."""
        raise NotImplementedError
