"""Independent readers of the exporters' files: a parser of the ``trace-cmd report`` text
layout, a JSON schema of the Chrome Trace Event format (the subset Perfetto reads), and
vcdvcd for the VCD waveform (:func:`read_vcd`)."""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def read_vcd(path: Path) -> Any:
    """vcdvcd's reading of the VCD file ``path``.

    vcdvcd, when imported, sets SIGPIPE to its default action (for its command line
    viewer, vcdcat).  In a test process that turns any write to a closed pipe or socket, which
    Python reports as ``BrokenPipeError`` and multiprocessing, Dask and the QEMU probe
    handle, into the silent death of the whole pytest-xdist worker ("node down").  So
    vcdvcd is imported here, by the test that reads a VCD, and the disposition in force
    before the import is put back."""
    previous = signal.getsignal(signal.SIGPIPE)
    try:
        import vcdvcd
    finally:
        signal.signal(signal.SIGPIPE, previous)
    return vcdvcd.VCDVCD(str(path))

# trace-cmd report: "TASK-PID [CPU] SECS.NSECS: EVENT: FIELDS" (the layout Perfetto's
# systrace importer also parses).
LINE = re.compile(r"^\s*(?P<task>.+?)-(?P<pid>\d+)\s+\[(?P<cpu>\d{3})\]\s+(?P<sec>\d+)\.(?P<ns>\d{9}):\s+"
                  r"(?P<event>[a-z_0-9]+):\s+(?P<fields>.*)$")


@dataclass(frozen=True)
class FtraceLine:
    task: str
    pid: int
    cpu: int
    time_ns: int
    event: str
    fields: str


def parse_ftrace(path: Path) -> tuple[list[str], list[FtraceLine]]:
    """(header comment lines, event lines); any other line is an error."""
    header: list[str] = []
    events: list[FtraceLine] = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("#"):
            header.append(line)
            continue
        m = LINE.match(line)
        assert m is not None, f"{path}:{n}: not a trace-cmd report line: {line!r}"
        events.append(FtraceLine(m["task"], int(m["pid"]), int(m["cpu"]),
                                 int(m["sec"]) * 1_000_000_000 + int(m["ns"]), m["event"], m["fields"]))
    return header, events


_NUM = {"type": "number"}
_ID = {"type": "integer"}
CHROME_TRACE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["traceEvents"],
    "properties": {
        "displayTimeUnit": {"enum": ["ms", "ns"]},
        "otherData": {"type": "object"},
        "traceEvents": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["ph", "pid", "tid"],
                "properties": {"ph": {"enum": ["X", "i", "C", "M", "s", "t", "f"]}, "pid": _ID, "tid": _ID,
                               "name": {"type": "string"}, "cat": {"type": "string"}},
                "allOf": [
                    {"if": {"properties": {"ph": {"const": "X"}}},
                     "then": {"required": ["name", "ts", "dur"], "properties": {"ts": _NUM, "dur": {"type": "number", "minimum": 0}}}},
                    {"if": {"properties": {"ph": {"const": "i"}}},
                     "then": {"required": ["name", "ts", "s"], "properties": {"ts": _NUM, "s": {"enum": ["t", "p", "g"]}}}},
                    {"if": {"properties": {"ph": {"const": "C"}}},
                     "then": {"required": ["name", "ts", "args"],
                              "properties": {"args": {"type": "object", "additionalProperties": _NUM, "minProperties": 1}}}},
                    {"if": {"properties": {"ph": {"const": "M"}}},
                     "then": {"required": ["name", "args"],
                              "properties": {"name": {"enum": ["process_name", "process_sort_index", "thread_name",
                                                               "thread_sort_index"]}}}},
                    {"if": {"properties": {"ph": {"enum": ["s", "t", "f"]}}},
                     "then": {"required": ["name", "cat", "id", "ts"], "properties": {"id": _ID}}},
                ],
            },
        },
    },
}
