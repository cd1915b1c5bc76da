"""Trace exporters, streamed to disk as the run goes (issue 11).

* :class:`~irqfwd.trace.ftrace.FtraceWriter`: ftrace text in the ``trace-cmd report``
  layout (``.txt``, ``.ftrace``; ``--trace-format ftrace``);
* :class:`~irqfwd.trace.chrome.ChromeTraceWriter`: Chrome Trace Event JSON for Perfetto
  (``.json``; ``--trace-format json``);
* :class:`~irqfwd.trace.vcd.VcdTraceWriter`: a VCD waveform of the interrupt signals for
  GTKWave (``.vcd``; ``--trace-format vcd``).

:func:`open_sink` picks the exporter (by ``fmt``, else by the file's extension) and opens
it; :mod:`irqfwd.system.observe` attaches it to a built system.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irqfwd.errors import InputError
from irqfwd.trace.sink import DeviceInfo, Topology, TraceSink, VmInfo

__all__ = ["EXTENSIONS", "FORMATS", "DeviceInfo", "Topology", "TraceSink", "VmInfo", "check_trace_path", "open_sink",
           "resolve_format"]

FORMATS = ("ftrace", "json", "vcd")
"""``--trace-format`` values."""
EXTENSIONS = {".txt": "ftrace", ".ftrace": "ftrace", ".json": "json", ".vcd": "vcd"}
"""File extensions that choose a format when ``--trace-format`` is not given."""


def resolve_format(path: Path, fmt: str | None) -> str:
    """The format for ``path``: ``fmt`` if given, else by extension; bad input raises
    :class:`~irqfwd.errors.InputError` naming the problem."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"--trace-format {fmt}: unknown format (known: {', '.join(FORMATS)})")
        return fmt
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        known = ", ".join(f"{e} ({f})" for e, f in EXTENSIONS.items())
        raise InputError(f"--trace {path}: cannot tell the format from the extension {path.suffix!r} "
                         f"(known: {known}; or give --trace-format)")
    return found


def check_trace_path(path: Path) -> None:
    """A trace file can be written at ``path`` (its directory exists and it is no directory)."""
    if path.is_dir() or not path.parent.is_dir():
        raise InputError(f"--trace {path}: not a writable file path")


def open_sink(path: Path, fmt: str, topo: Topology, header: dict[str, Any]) -> TraceSink:
    """Open the exporter for ``fmt`` writing to ``path`` (through a temporary file)."""
    check_trace_path(path)
    if fmt == "ftrace":
        from irqfwd.trace.ftrace import FtraceWriter

        return FtraceWriter(path, topo, header)
    if fmt == "json":
        from irqfwd.trace.chrome import ChromeTraceWriter

        return ChromeTraceWriter(path, topo, header)
    if fmt == "vcd":
        from irqfwd.trace.vcd import VcdTraceWriter

        return VcdTraceWriter(path, topo, header)
    raise InputError(f"--trace-format {fmt}: unknown format (known: {', '.join(FORMATS)})")
