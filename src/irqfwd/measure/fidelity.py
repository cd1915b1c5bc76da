"""Side-by-side tables of the model and the measured kernel, for docs/fidelity.md.

``python -m irqfwd.measure.fidelity data/measured/*.json`` prints, per experiment, one
Markdown table: each quantity's model value (``irqfwd run --json``, once per experiment:
the model has no GIC-version, VHE or halt-polling setting) next to the measured mean of
every host setting, halt polling default / 0 in one cell, and a verdict; then the counts
of quantities that agree and differ.  A quantity agrees when every host setting is within
:data:`~irqfwd.measure.model.TOLERANCE` of the model.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from irqfwd.measure.experiments import EXPERIMENTS
from irqfwd.measure.model import TOLERANCE, run_model
from irqfwd.measure.record import load_record
from irqfwd.measure.reduce import QUANTITIES, quantity_label

__all__ = ["Row", "fidelity_rows", "main", "markdown"]

_COLUMNS = [(2, "nvhe"), (2, "vhe"), (2, "protected"), (3, "nvhe"), (3, "vhe"), (3, "protected")]
_SHOWN_UNMODELLED = ("wakeups", "wakeups.slept", "wakeups.polled", "injections_inatomic",
                     "injections_workqueue", "vtimer_host_irqs", "ipi_call", "ipi_resched",
                     "sched_in_vcpu", "host_tick")


@dataclass
class Row:
    experiment: str
    key: str
    label: str
    model: float | None
    cells: dict[tuple[int, str], tuple[float | None, float | None]]
    """(gic, mode) → (halt polling default, halt polling 0) means."""
    timebased: bool

    def values(self) -> list[float]:
        return [v for pair in self.cells.values() for v in pair if v is not None]

    @property
    def verdict(self) -> str:
        vals = self.values()
        if self.model is None or not vals:
            return "not modelled"
        off = sum(abs(v - self.model) > TOLERANCE for v in vals)
        return "agrees" if off == 0 else f"differs ({off}/{len(vals)})"


def _records(paths: list[Path]) -> dict[tuple[int, str, bool], dict[str, Any]]:
    out = {}
    for p in paths:
        rec = load_record(p)
        host = rec["host"]
        out[(int(host["gic"]), str(host["mode"]), host["halt_poll_ns"] == 0)] = rec
    return out


def fidelity_rows(paths: list[Path]) -> list[Row]:
    recs = _records(paths)
    rows: list[Row] = []
    timebased = {q.key for q in QUANTITIES if q.timebased}
    for name, exp in EXPERIMENTS.items():
        present = {k: r["experiments"][name] for k, r in recs.items() if name in r["experiments"]}
        if not present:
            continue
        any_exp = next(iter(present.values()))
        model: dict[str, float] | None = None
        model = run_model(exp, int(any_exp["n"]), int(any_exp["interval_us"]))
        keys = [q.key for q in QUANTITIES if q.model is not None or q.key in _SHOWN_UNMODELLED]
        keys += sorted({k for e in present.values() for k in e["per_interrupt"]
                        if k.startswith("exits.") and "@" not in k and k not in keys})
        if name == "sgi":
            keys += sorted({k for e in present.values() for k in e["per_interrupt"]
                            if "@vcpu" in k and k.split("@")[0] in ("exits.WFx", "exits.DABT_LOW",
                                                                     "exits.SYS64", "exits.IRQ",
                                                                     "wakeups")})
        for key in keys:
            q = next((q for q in QUANTITIES if q.key == key), None)
            mval = None
            if model is not None:
                counter = q.model if q is not None else (key if key.startswith("exits.") and "@" not in key else None)
                if counter is not None:
                    mval = model.get(counter, 0.0)
            cells: dict[tuple[int, str], tuple[float | None, float | None]] = {}
            for gic, mode in _COLUMNS:
                pair: list[float | None] = []
                for poll0 in (False, True):
                    e = present.get((gic, mode, poll0))
                    if e is None:
                        pair.append(None)
                        continue
                    entry = e["per_interrupt"].get(key)
                    pair.append(float(entry["mean"]) if entry else 0.0)
                cells[(gic, mode)] = (pair[0], pair[1])
            row = Row(name, key, quantity_label(key).strip(), mval, cells, key in timebased)
            vals = row.values()
            if not vals or (all(abs(v) < 0.03 for v in vals) and not mval):
                continue
            rows.append(row)
            if (name, key) in _RAW_ROWS:
                raw_cells = {c: tuple(_raw(present.get((c[0], c[1], p0)), key) for p0 in (False, True))
                             for c in _COLUMNS}
                rows.append(Row(name, key + "~raw", row.label + ", without subtracting the baseline",
                                None, raw_cells, False))  # type: ignore[arg-type]
    return rows


_RAW_ROWS = {("vtimer-busy", "exits.IRQ"), ("sgi", "exits.IRQ@vcpu0")}
"""Rows also shown before the baseline's subtraction (where the host tick's exits matter)."""


def _raw(exp: dict[str, Any] | None, key: str) -> float | None:
    if exp is None:
        return None
    entry = exp["per_interrupt"].get(key)
    return float(entry["raw_mean"]) if entry else 0.0


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def markdown(rows: list[Row]) -> str:
    out: list[str] = []
    columns = [c for c in _COLUMNS if any(r.cells[c] != (None, None) for r in rows)]
    head = "| quantity | model | " + " | ".join(
        f"GICv{g} {m}" for g, m in columns) + " | verdict |"
    sep = "|---|---:|" + "---:|" * len(columns) + "---|"
    current = None
    for r in rows:
        if r.experiment != current:
            current = r.experiment
            out += ["", f"#### {current}", "", head, sep]
        cells = " | ".join(f"{_f(a)} / {_f(b)}" if (a, b) != (None, None) else "–"
                           for a, b in (r.cells[c] for c in columns))
        label = r.label + (" †" if r.timebased else "")
        verdict = "(for reference)" if r.key.endswith("~raw") else r.verdict
        out.append(f"| {label} | {_f(r.model)} | {cells} | {verdict} |")
    real = [r for r in rows if not r.key.endswith("~raw")]
    agree = sum(r.verdict == "agrees" for r in real)
    differ = sum(r.verdict.startswith("differs") for r in real)
    unmodelled = sum(r.verdict == "not modelled" for r in real)
    out += ["", f"Compared quantities: {agree} agree, {differ} differ; {unmodelled} measured "
                "quantities have no model counterpart."]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m irqfwd.measure.fidelity MEASURED.json...", file=sys.stderr)
        return 2
    sys.stdout.write(markdown(fidelity_rows([Path(a) for a in args])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
