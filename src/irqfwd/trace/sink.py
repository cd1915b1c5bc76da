"""What every streaming trace exporter shares: the topology of the traced system, and a
:class:`TraceSink` that writes to a temporary file beside its target and renames it at
:meth:`TraceSink.close` (a failed or interrupted run never leaves a half-written trace).

A path that exists and is no regular file (``/dev/null``, a FIFO) is written directly.

A sink is the recorder's tracer (:meth:`irqfwd.sim.metrics.Recorder.set_tracer`): it
receives every event as it is emitted, in simulated-time order, and writes it out at once,
so a run of any length keeps only the sink's small per-track state in memory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

from irqfwd.errors import InputError
from irqfwd.sim.metrics import Event, Listener

__all__ = ["DeviceInfo", "Topology", "TraceSink", "VmInfo", "fmt_value", "kv_text"]


@dataclass(frozen=True)
class VmInfo:
    """One VM: its index, name and number of vCPUs."""

    index: int
    name: str
    vcpus: int


@dataclass(frozen=True)
class DeviceInfo:
    """One pass-through device: name, host INTID, owning VM, vCPU and vINTID, trigger."""

    name: str
    intid: int
    vm: int
    vcpu: int
    vintid: int
    trigger: str


def _no_cpu() -> int:
    return -1


def _no_task(cpu: int) -> tuple[int, int] | None:
    return None


@dataclass(frozen=True)
class Topology:
    """What a sink needs to know of the traced system, and two probes of its state at the
    instant of an event: the executing pCPU (-1: off-CPU work such as a device or a
    workqueue) and the vCPU thread ``(vm, vcpu)`` current on a pCPU (None: idle)."""

    pcpus: int
    vms: tuple[VmInfo, ...] = ()
    devices: tuple[DeviceInfo, ...] = ()
    maintenance_intid: int = 25
    timer_ppis: tuple[int, ...] = ()
    """PPIs driven by the generic timer in this system (the vtimer, 27, when a VM uses it)."""
    current_cpu: Callable[[], int] = field(default=_no_cpu, compare=False)
    current_task: Callable[[int], tuple[int, int] | None] = field(default=_no_task, compare=False)


_HEX_KEYS = frozenset(("value", "misr", "hcr", "eisr", "elrsr", "ctl", "cval"))


def fmt_value(key: str, value: Any) -> str:
    """One field value as text: booleans 0/1, register-like integers in hex, strings that
    are empty or contain blanks JSON-quoted (the ``key=value`` convention of the text trace)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) and key in _HEX_KEYS:
        return f"{value:#x}"
    if isinstance(value, str) and (not value or any(c.isspace() for c in value) or '"' in value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def kv_text(fields: dict[str, Any]) -> str:
    """``key=value`` pairs in emission order."""
    return " ".join(f"{k}={fmt_value(k, v)}" for k, v in fields.items())


class TraceSink(Listener):
    """Base of the exporters: a tracer writing to ``path`` through a temporary file.

    Subclasses implement :meth:`write_event` (each event as a fields dict) and may override
    :meth:`begin` (called once before the first event) and :meth:`finish` (called by
    :meth:`close` with the end time).
    """

    format_name: ClassVar[str] = ""
    binary: ClassVar[bool] = False

    def __init__(self, path: Path, topo: Topology, header: dict[str, Any]) -> None:
        self.path = path
        self.topo = topo
        self.header = header
        self.received = 0
        """Events received."""
        self.direct = path.exists() and not path.is_file()
        """True when ``path`` is no regular file (``/dev/null``, a FIFO, a terminal): written
        as it is, with no temporary file (``--trace /dev/null``: the exporter's cost
        without the disk; ``--trace FIFO``: into another program, e.g. a compressor)."""
        self._tmp = path if self.direct else path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self.out: IO[Any] = self._tmp.open("wb" if self.binary else "w", buffering=1 << 20)
        except OSError as exc:
            raise InputError(f"--trace {path}: cannot write: {exc.strerror or exc}") from None
        self.closed = False
        self.begin()

    def begin(self) -> None:
        """Write what comes before the first event (headers, track names)."""

    def finish(self, end_ns: int) -> None:
        """Write what comes after the last event (open slices closed at ``end_ns``)."""

    def on_event(self, ev: Event, time_ns: int) -> None:
        self.write_event(ev.event, time_ns, ev.fields())

    def write_event(self, name: str, time_ns: int, fields: dict[str, Any]) -> None:
        """Write event ``name`` emitted at ``time_ns`` with ``fields``."""
        raise NotImplementedError

    def close(self, end_ns: int) -> Path:
        """Finish the file and move it to :attr:`path`; returns the path."""
        if not self.closed:
            self.closed = True
            try:
                self.finish(end_ns)
                self.out.close()
                if not self.direct:
                    os.replace(self._tmp, self.path)
            except OSError as exc:
                self.abort()
                raise InputError(f"--trace {self.path}: cannot write: {exc.strerror or exc}") from None
        return self.path

    def abort(self) -> None:
        """Drop the temporary file (the run failed): :attr:`path` is left untouched."""
        self.closed = True
        with contextlib.suppress(OSError):
            self.out.close()
        if not self.direct:
            with contextlib.suppress(OSError):
                self._tmp.unlink()
