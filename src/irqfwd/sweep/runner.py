"""Running a sweep: plan, skip what is done, execute the rest, store each result as it
arrives, assemble the tables.

:func:`run_sweep` is what ``irqfwd sweep`` and ``irqfwd study`` call.  Progress is
reported through a :class:`Progress` object (the CLI's draws a bar).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from irqfwd.errors import InputError
from irqfwd.fileio import atomic_write_bytes
from irqfwd.sweep.executors import check_options, results
from irqfwd.sweep.spec import PlannedRun, SweepSpec, model_fingerprint, plan
from irqfwd.sweep.store import ResultStore, make_row, rows_table

__all__ = ["Progress", "SweepOutcome", "assemble", "run_sweep"]


class Progress:
    """Receives the sweep's progress (the default ignores it)."""

    def start(self, total: int, done: int) -> None:
        """``total`` runs in the spec, ``done`` of them already stored."""

    def advance(self, record: dict[str, Any]) -> None:
        """One run finished (``record`` has ``error`` if it failed)."""

    def stop(self) -> None:
        """No more runs."""


@dataclass
class SweepOutcome:
    """What a sweep did."""

    out: Path
    total: int
    skipped: int
    ran: int = 0
    failed: list[tuple[PlannedRun, str]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    tables: tuple[Path, Path] | None = None


def _params(runs: list[PlannedRun]) -> list[str]:
    names: dict[str, None] = {}
    for r in runs:
        for k in r.params:
            if k != "scenario":  # the scenario column names it
                names.setdefault(k, None)
    return list(names)


def assemble(store: ResultStore, runs: list[PlannedRun]) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The rows of every stored run of ``runs`` (plan order), their columns and the
    parameter columns."""
    rows = []
    for r in runs:
        record = store.read(r.key)
        if record is not None:
            rows.append(make_row(r, record["summary"]))
    params = _params(runs)
    table, columns = rows_table(rows, params)
    return table, columns, params


def run_sweep(spec: SweepSpec, out: Path, *, executor: str = "local", workers: int | None = None,
              scheduler: str | None = None, progress: Progress | None = None,
              where: str = "sweep spec") -> SweepOutcome:
    """Run every run of ``spec`` not yet stored under ``out``, then write the tables."""
    check_options(executor, workers, scheduler)
    runs = plan(spec, where)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: not a directory")
    store = ResultStore(out)
    store.prepare()
    done = store.done(r.key for r in runs)
    todo = [r for r in runs if r.key not in done]
    info = {"spec": spec.model_dump(mode="json"), "model": model_fingerprint(), "runs": len(runs)}
    atomic_write_bytes(out / "sweep.json", json.dumps(info, sort_keys=True, indent=1).encode(), "--out")
    outcome = SweepOutcome(out=out, total=len(runs), skipped=len(done))
    prog = progress or Progress()
    by_key = {r.key: r for r in todo}
    fingerprint = model_fingerprint()
    prog.start(len(runs), len(done))
    try:
        for record in results(todo, executor, workers, scheduler):
            run = by_key[record["key"]]
            if "error" not in record and record.get("model") != fingerprint:
                record = {**record, "error": f"the worker runs another irqfwd model ({record.get('model')}, "
                                              f"here {fingerprint}): install the same irqfwd on every worker"}
            if "error" in record:
                outcome.failed.append((run, record["error"]))
            else:
                record["params"] = run.params
                record["design"] = run.spec.design
                record["seed"] = run.spec.seed
                store.write(record)
                outcome.ran += 1
            prog.advance(record)
    finally:
        prog.stop()
    outcome.rows, outcome.columns, outcome.params = assemble(store, runs)
    outcome.tables = store.write_tables(outcome.rows, outcome.columns)
    return outcome
