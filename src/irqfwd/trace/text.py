"""The event trace as text, one event per line: ``time_ns name key=value ...``.

Fields are written in emission order; integers named ``value``/``misr``/``hcr``/``eisr``/
``elrsr`` in hex, booleans as 0/1, empty or blank strings JSON-quoted.  The header names the
scenario, design and seed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from irqfwd.fileio import atomic_write_text

__all__ = ["format_trace_line", "write_trace"]


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
    """Write the trace to ``path`` (all or nothing: :func:`irqfwd.fileio.atomic_write_text`)."""

    def lines() -> Iterable[str]:
        yield f"# tracer: irqfwd\n# {header}\n# time_ns event fields...\n"
        for time_ns, name, fields in events:
            yield format_trace_line(time_ns, name, fields) + "\n"

    atomic_write_text(path, lines(), "--trace")
