"""The lanes of a report timeline, read back from a design's Perfetto JSON trace: one lane
per pCPU, vCPU (its handler track) and device, slices clipped to the first ``window_ns``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["lanes"]


def lanes(trace: Path, window_ns: int) -> list[dict[str, Any]]:
    """``[{"name", "slices": [[start_ns, dur_ns, label, kind, args], ...]}]`` in track order."""
    doc = json.loads(trace.read_text())
    names: dict[tuple[int, int], str] = {}
    per: dict[tuple[int, int], list[list[Any]]] = {}
    for e in doc["traceEvents"]:
        key = (e["pid"], e["tid"])
        if e["ph"] == "M" and e["name"] == "thread_name":
            names[key] = e["args"]["name"]
        elif e["ph"] == "X":
            start = round(e["ts"] * 1000)
            if start > window_ns:
                continue
            dur = min(round(e["dur"] * 1000), window_ns - start)
            label = e["name"]
            kind = ("guest" if label.startswith(("vm", "guest")) else "exit" if label.startswith("exit")
                    else "irq" if label.startswith("IRQ") else "virq" if label.startswith("vINTID") else "line")
            per.setdefault(key, []).append([start, dur, label, kind, e.get("args", {})])
    out = []
    for key in sorted(names):
        pid, tid = key
        if pid >= 10 and tid % 2 == 1:
            continue  # the vCPU mode track repeats the pCPU lane; keep its IRQ-handler track
        if pid == 3:
            continue
        out.append({"name": names[key] if pid < 10 else f"vm{pid - 10} {names[key]}",
                    "slices": sorted(per.get(key, []), key=lambda s: (s[0], -s[1]))})
    return out
