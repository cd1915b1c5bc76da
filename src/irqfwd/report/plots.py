"""The report's PNG plots (matplotlib, Agg backend; no dates in the metadata)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from irqfwd.fileio import atomic_write_bytes
from irqfwd.report.timeline import lanes

__all__ = ["COLORS", "write_plots"]

COLORS = {"guest": "#4c9f70", "exit": "#d1495b", "irq": "#edae49", "virq": "#00798c", "line": "#30638e"}
"""Slice colour per kind (guest mode, exit handling, host IRQ, guest handler, device line)."""


def _save(fig: Any, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    atomic_write_bytes(path, buf.getvalue(), "--report")


def write_plots(out: Path, runs: dict[str, Any], summaries: dict[str, dict[str, Any]], observers: dict[str, Any],
                window_ns: int) -> list[Path]:
    """``latency-cdf.png``, ``per-interrupt.png`` and ``timeline.png`` in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    designs = list(runs)
    # latency CDF per design
    fig, ax = plt.subplots(figsize=(7, 4))
    for d, r in runs.items():
        stats = r.recorder.latencies.get("assert_to_guest_handler")
        if stats is None or not stats.count:
            continue
        cdf = stats.cdf()
        ax.step([v / 1000 for v, _ in cdf], [f for _, f in cdf], where="post", label=d)
    ax.set_xlabel("device assertion → guest handler (µs)")
    ax.set_ylabel("fraction of interrupts")
    ax.set_title("Latency CDF per design")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    _save(fig, out / "latency-cdf.png")
    plt.close(fig)
    written.append(out / "latency-cdf.png")
    # exits and maintenance interrupts per handled interrupt
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.38
    pos = list(range(len(designs)))
    per = []
    for d in designs:
        c = summaries[d]["counters"]
        handled = max(1, c["guest_irqs_handled"] + c.get("guest_timer_irqs", 0))
        per.append((c["exits_total"] / handled, c["maintenance_irqs"] / handled))
    ax.bar([x - width / 2 for x in pos], [p[0] for p in per], width, label="KVM exits", color="#d1495b")
    ax.bar([x + width / 2 for x in pos], [p[1] for p in per], width, label="maintenance interrupts", color="#edae49")
    ax.set_xticks(pos, designs, rotation=15)
    ax.set_ylabel("per handled interrupt")
    ax.set_title("Exits and maintenance interrupts per interrupt")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _save(fig, out / "per-interrupt.png")
    plt.close(fig)
    written.append(out / "per-interrupt.png")
    # timeline of the first window
    all_lanes = {d: lanes(out / f"trace-{d}.json", window_ns) for d in designs}
    rows = sum(len(v) for v in all_lanes.values())
    fig, axes = plt.subplots(len(designs), 1, figsize=(10, 1 + 0.45 * rows + 0.5 * len(designs)), squeeze=False)
    for ax, d in zip(axes[:, 0], designs, strict=True):
        ls = all_lanes[d]
        for i, lane in enumerate(ls):
            for kind in COLORS:
                spans = [(s[0] / 1000, max(s[1], 1) / 1000) for s in lane["slices"] if s[3] == kind]
                if spans:
                    ax.broken_barh(spans, (i - 0.4, 0.8), color=COLORS[kind])
        ax.set_yticks(range(len(ls)), [lane["name"] for lane in ls])
        ax.set_ylim(len(ls) - 0.5, -0.5)
        ax.set_xlim(0, window_ns / 1000)
        ax.set_title(d, loc="left", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("simulated time (µs)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLORS.values()]
    fig.legend(handles, ["guest mode", "exit handling", "host IRQ handler", "guest handler", "device line"],
               loc="upper right", ncol=5, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    _save(fig, out / "timeline.png")
    plt.close(fig)
    written.append(out / "timeline.png")
    return written
