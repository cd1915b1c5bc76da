"""The standard figures of a sweep (matplotlib, no display needed).

One figure per swept parameter (``OUT/figures/PARAM.png``), its x axis the parameter
(logarithmic when numeric and spanning a factor of 20 or more), six panels: guest work
throughput (guest interrupts handled per simulated second), exits per interrupt,
maintenance interrupts per interrupt, host IRQs per interrupt, and the
``assert_to_guest_handler`` latency p50 and p99; one line per design (and per
combination of the other parameters the runs of that figure set), the mean over seeds.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from statistics import fmean
from typing import Any

from irqfwd.fileio import atomic_write_bytes

__all__ = ["PANELS", "plot_rows", "series"]

PANELS = (
    ("guest_irqs_per_sim_s", "guest work throughput\n(guest IRQs handled / simulated s)"),
    ("exits_per_irq", "exits per interrupt"),
    ("maintenance_per_irq", "maintenance IRQs per interrupt"),
    ("host_irqs_per_irq", "host IRQs per interrupt"),
    ("host_cpu_ns_per_irq", "host CPU time per interrupt (ns)"),
    ("latency_ns.assert_to_guest_handler.p50", "assert → guest handler p50 (µs)"),
    ("latency_ns.assert_to_guest_handler.p99", "assert → guest handler p99 (µs)"),
)


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def series(rows: list[dict[str, Any]], param: str, params: list[str], metric: str
           ) -> dict[str, list[tuple[Any, float]]]:
    """``{line label: [(x, mean over seeds), ...]}`` for ``metric`` against ``param``, over
    the rows that set ``param``: one line per design and per combination of the other
    parameters that vary among those rows; x in ascending (numeric) or first-seen order."""
    groups: dict[str, dict[Any, list[float]]] = defaultdict(lambda: defaultdict(list))
    order: list[Any] = []
    mine = [r for r in rows if r.get(param) is not None]
    varying = [p for p in params if p != param and len({repr(r.get(p)) for r in mine}) > 1]
    for r in mine:
        x = r.get(param)
        y = r.get(metric)
        if x is None:
            continue
        if x not in order:
            order.append(x)
        if y is None:
            continue
        others = [f"{p}={r.get(p)}" for p in varying]
        label = r["design"] + (f" ({', '.join(others)})" if others else "")
        groups[label][x].append(float(y))
    if all(_num(x) for x in order):
        order.sort()
    return {label: [(x, fmean(pts[x])) for x in order if x in pts] for label, pts in groups.items()}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def plot_rows(rows: list[dict[str, Any]], params: list[str], out: Path, title: str = "") -> list[Path]:
    """Draw one PNG per parameter of ``params`` into ``out``; returns their paths."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for param in params:
        xs = [r[param] for r in rows if r.get(param) is not None]
        if not xs:
            continue
        numeric = all(_num(x) for x in xs)
        fig, axes = plt.subplots(2, 4, figsize=(20, 8), constrained_layout=True)
        for ax in axes.flat[len(PANELS):]:
            ax.axis("off")
        for ax, (metric, label) in zip(axes.flat[:len(PANELS)], PANELS, strict=True):
            data = series(rows, param, params, metric)
            scale = 1e-3 if metric.startswith("latency_ns.") else 1.0
            cats: list[Any] = []
            if not numeric:
                for pts in data.values():
                    for x, _ in pts:
                        if x not in cats:
                            cats.append(x)
            for line, pts in data.items():
                px = [x for x, _ in pts] if numeric else [cats.index(x) for x, _ in pts]
                ax.plot(px, [y * scale for _, y in pts], marker="o", label=line)
            if numeric and min(xs) > 0 and max(xs) / min(xs) >= 20:
                ax.set_xscale("log")
                if metric == "guest_irqs_per_sim_s":  # grows with the rate itself
                    ax.set_yscale("log")
            if not numeric:
                ax.set_xticks(range(len(cats)), [str(c) for c in cats])
            ax.set_xlabel(param)
            ax.set_title(label, fontsize=10)
            ax.grid(True, alpha=0.3)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)), fontsize=9)
        fig.suptitle(f"{title}: against {param}" if title else f"against {param}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        plt.close(fig)
        path = out / f"{_safe(param)}.png"
        atomic_write_bytes(path, buf.getvalue(), "--plot")
        written.append(path)
    return written
