"""The event trace as text, one event per line: ``time_ns name key=value ...``.

Fields are written in emission order; integers named ``value``/``misr``/``hcr``/``eisr``/
``elrsr`` in hex, booleans as 0/1, empty or blank strings JSON-quoted.  The header names the
scenario, design and seed.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from irqfwd.errors import InputError
from irqfwd.sim.metrics import TraceSink

__all__ = ["TextTraceFile", "format_trace_line", "write_trace"]


def _fmt_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) and key in ("value", "misr", "hcr", "eisr", "elrsr"):
        return f"{value:#x}"
    if isinstance(value, str) and (not value or any(c.isspace() for c in value)):
        return json.dumps(value)
    return str(value)


def format_trace_line(time_ns: int, name: str, fields: dict[str, Any]) -> str:
    """One line: ``time_ns name key=value ...`` (fields in emission order)."""
    parts = [str(time_ns), name]
    parts += [f"{k}={_fmt_value(k, v)}" for k, v in fields.items()]
    return " ".join(parts)


def write_trace(path: Path, events: Iterable[tuple[int, str, dict[str, Any]]], header: str) -> None:
    try:
        with path.open("w") as out:
            out.write(f"# tracer: irqfwd\n# {header}\n# time_ns event fields...\n")
            for time_ns, name, fields in events:
                out.write(format_trace_line(time_ns, name, fields))
                out.write("\n")
    except OSError as exc:
        raise InputError(f"--trace {path}: cannot write: {exc.strerror or exc}") from None


class TextTraceFile(TraceSink):
    """A trace streamed to ``path`` as the run emits it (``Recorder(sink=...)``): the lines
    go to a temporary file beside ``path``, renamed onto it by :meth:`commit`; :meth:`abort`
    removes it, so ``path`` is never half written.  Same text as :func:`write_trace`."""

    def __init__(self, path: Path, header: str) -> None:
        self.path = path
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        except OSError as exc:
            raise InputError(f"--trace {path}: cannot write: {exc.strerror or exc}") from None
        self.tmp = tmp
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)  # as open(path, "w") would create it (mkstemp: 0600)
        self.out = os.fdopen(fd, "w", buffering=1 << 16)
        self.out.write(f"# tracer: irqfwd\n# {header}\n# time_ns event fields...\n")

    def write(self, time_ns: int, name: str, fields: dict[str, Any]) -> None:
        self.out.write(format_trace_line(time_ns, name, fields))
        self.out.write("\n")

    def commit(self) -> None:
        try:
            self.out.close()
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.abort()
            raise InputError(f"--trace {self.path}: cannot write: {exc.strerror or exc}") from None

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.out.close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)
