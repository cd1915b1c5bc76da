"""Where a sweep keeps its results, and the table they make.

``OUT/runs/KEY.json`` holds one finished run (its summary, parameter values, wall time),
written atomically (a temporary file in the same directory, then ``os.replace``) the
moment the run finishes, so a sweep killed at any point leaves only whole files, and a
rerun skips every key that has one.  ``OUT/results.parquet`` and ``OUT/results.csv`` (one
row per run of the spec, in plan order) are assembled from those files, atomically too.

A row holds the run's identity (``key``, ``scenario``, ``design``, ``seed``), one column
per swept parameter (named by its key), and the simulated results: ``counters.*``
(``counters.exits.REASON`` per exit reason), ``latency_ns.PATH.STAT``,
``invariants.checked``/``invariants.violations`` (a count), ``sim_time_ns``,
``events_run``, and per handled guest interrupt (device + timer): ``exits_per_irq``,
``maintenance_per_irq``, ``host_irqs_per_irq``, ``lr_spills_per_irq``,
``host_cpu_ns_per_irq`` (host CPU time: KVM, hard-irq, kworker, VMM, scheduler), plus
``guest_irqs_per_sim_s`` (guest interrupts handled per simulated second).  Wall-clock time stays in the run files only,
so the same spec and seeds give identical rows on any executor.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from irqfwd.errors import InputError
from irqfwd.fileio import atomic_write_bytes
from irqfwd.sweep.spec import PlannedRun

__all__ = ["ID_COLUMNS", "ResultStore", "make_row", "rows_table"]

ID_COLUMNS = ("key", "scenario", "design", "seed")
RESERVED = frozenset(ID_COLUMNS)


class ResultStore:
    """The result directory of one sweep."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.runs = out / "runs"

    def prepare(self) -> None:
        try:
            self.runs.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--out {self.out}: cannot create: {exc.strerror or exc}") from None

    def path(self, key: str) -> Path:
        return self.runs / f"{key}.json"

    def done(self, keys: Iterable[str]) -> set[str]:
        """The keys among ``keys`` whose result file exists and reads back."""
        out: set[str] = set()
        for key in keys:
            if self.read(key) is not None:
                out.add(key)
        return out

    def read(self, key: str) -> dict[str, Any] | None:
        try:
            record: dict[str, Any] = json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None
        return record if record.get("key") == key and "summary" in record else None

    def write(self, record: dict[str, Any]) -> None:
        data = json.dumps(record, sort_keys=True, indent=1).encode()
        atomic_write_bytes(self.path(record["key"]), data, "--out")

    def write_tables(self, rows: list[dict[str, Any]], columns: list[str]) -> tuple[Path, Path]:
        """``results.parquet`` and ``results.csv`` from ``rows`` (both atomic)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pydict({c: [r.get(c) for r in rows] for c in columns})
        buf = pa.BufferOutputStream()
        pq.write_table(table, buf)
        parquet = self.out / "results.parquet"
        atomic_write_bytes(parquet, buf.getvalue().to_pybytes(), "--out")
        text = io.StringIO()
        w = csv.writer(text, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
        csv_path = self.out / "results.csv"
        atomic_write_bytes(csv_path, text.getvalue().encode(), "--out")
        return parquet, csv_path


def _per(n: float, d: float) -> float | None:
    return n / d if d else None


def make_row(run: PlannedRun, summary: dict[str, Any]) -> dict[str, Any]:
    """The table row of one finished run (see the module docstring)."""
    row: dict[str, Any] = {
        "key": run.key,
        "scenario": run.spec.config.name,
        "design": run.spec.design,
        "seed": run.spec.seed,
    }
    row.update((k, v) for k, v in run.params.items() if k != "scenario")
    counters = summary["counters"]
    for name, value in counters.items():
        if name == "exits":
            for reason, n in value.items():
                row[f"counters.exits.{reason}"] = n
        else:
            row[f"counters.{name}"] = value
    for path, stats in summary["latency_ns"].items():
        for stat, value in stats.items():
            row[f"latency_ns.{path}.{stat}"] = value
    row["invariants.checked"] = summary["invariants"]["checked"]
    row["invariants.violations"] = len(summary["invariants"]["violations"])
    row["sim_time_ns"] = summary["sim_time_ns"]
    row["events_run"] = summary["events_run"]
    handled = counters.get("guest_irqs_handled", 0) + counters.get("guest_timer_irqs", 0)
    row["exits_per_irq"] = _per(counters.get("exits_total", 0), handled)
    row["maintenance_per_irq"] = _per(counters.get("maintenance_irqs", 0), handled)
    row["host_irqs_per_irq"] = _per(counters.get("host_irqs", 0), handled)
    row["lr_spills_per_irq"] = _per(counters.get("lr_spills", 0), handled)
    cpu = summary.get("cpu_time_ns")
    row["host_cpu_ns_per_irq"] = _per(cpu["total"]["host_total"], handled) if cpu else None
    row["guest_irqs_per_sim_s"] = handled * 1e9 / run.spec.config.duration_ns
    return row


def _uniform(values: list[Any]) -> list[Any]:
    """A parameter column of one Arrow type: strings if any value is a string (or if
    booleans mix with numbers), floats if ints mix with floats."""
    kinds = {type(v) for v in values if v is not None}
    if str in kinds or (bool in kinds and len(kinds) > 1):
        return [None if v is None else (str(v).lower() if isinstance(v, bool) else str(v)) for v in values]
    if float in kinds and int in kinds:
        return [None if v is None else float(v) for v in values]
    return values


def rows_table(rows: list[dict[str, Any]], params: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows with a common column set (counters absent from a run are 0, other absent
    values None), and the column order: identity, parameters, then the results sorted."""
    metric_cols = sorted({c for r in rows for c in r} - RESERVED - set(params))
    columns = [*ID_COLUMNS, *params, *metric_cols]
    out = []
    for r in rows:
        full = {c: r.get(c, 0 if c.startswith("counters.") else None) for c in columns}
        out.append(full)
    for p in params:
        col = _uniform([r[p] for r in out])
        for r, v in zip(out, col, strict=True):
            r[p] = v
    return out, columns
