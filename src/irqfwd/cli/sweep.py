"""``irqfwd sweep SPEC.toml`` and ``irqfwd study NAME``: many runs, one table.

``irqfwd sweep SPEC.toml [--out DIR] [--executor local|dask|serial] [--scheduler ADDRESS]
[--workers N] [--plot] [--quiet]`` runs every run of the spec (:mod:`irqfwd.sweep.spec`)
not already stored in DIR (default ``out/NAME``), writing each result the moment its run
finishes, then ``DIR/results.parquet`` and ``DIR/results.csv``; ``--plot`` draws the
standard figures into ``DIR/figures``.  A progress bar is shown on stderr when it is a
terminal (not with ``--quiet``): runs done, time, and the simulated time and guest
interrupts per wall-clock second of the runs finished so far.  Exit status: 0, 1 if a run failed, 2 on a bad spec or option.

``irqfwd study forwarding [--out DIR] [--report FILE] [--quick] ...`` runs a built-in
study and writes its report (Markdown with the table and the figures).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from irqfwd.cli.progress import fmt_sim_ns, stderr_console
from irqfwd.errors import InputError
from irqfwd.sweep.runner import Progress, run_sweep

__all__ = ["register"]

OutOpt = Annotated[
    str | None, typer.Option("--out", help="Result directory (default: out/NAME).", metavar="DIR")
]
"""A string, not a Path: ``Path("")`` is ``.``, and an empty ``--out`` must be refused."""
ExecutorOpt = Annotated[
    str, typer.Option("--executor", help="local (processes, every core), dask, or serial (in-process).")
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="Address of a running Dask scheduler (with --executor dask); "
                 "without it, a LocalCluster is started.", metavar="ADDRESS"),
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", help="Worker processes of --executor local, or of the dask "
                 "LocalCluster started without --scheduler (default: one per core).")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")]


class _Bar(Progress):
    """A rich progress bar on a terminal; nothing otherwise."""

    def __init__(self, quiet: bool, label: str, console: Any = None) -> None:
        self.console = console if console is not None else stderr_console()
        self.enabled = not quiet and self.console.is_terminal
        self.label = label
        self.progress: Any = None
        self.task: Any = None
        self.failed = 0
        self.sim_ns = 0
        """Simulated time of the runs finished in this invocation."""
        self.irqs = 0
        """Guest interrupts (device and timer) those runs handled."""
        self._t0 = time.perf_counter()

    def start(self, total: int, done: int) -> None:
        if not self.enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[sim]}"),
                                 console=self.console)
        self.progress.start()
        self._t0 = time.perf_counter()
        self.task = self.progress.add_task(self.label, total=total, completed=done, sim="")

    def sim_text(self) -> str:
        """Simulated time and simulated interrupts per wall-clock second of the runs
        finished so far (several run at once: the rate is the sweep's, not one run's)."""
        if not self.irqs and not self.sim_ns:
            return ""
        wall = time.perf_counter() - self._t0
        rate = f", {self.irqs / wall:,.0f} IRQs/s" if wall > 0 else ""
        return f"{fmt_sim_ns(self.sim_ns)} simulated, {self.irqs:,} IRQs{rate}"

    def advance(self, record: dict[str, Any]) -> None:
        if "error" in record:
            self.failed += 1
        else:
            summary = record.get("summary") or {}
            counters = summary.get("counters") or {}
            self.sim_ns += int(summary.get("sim_time_ns", 0))
            self.irqs += int(counters.get("guest_irqs_handled", 0)) + int(counters.get("guest_timer_irqs", 0))
        if self.progress is not None:
            desc = self.label if not self.failed else f"{self.label} [red]({self.failed} failed)[/]"
            self.progress.update(self.task, advance=1, description=desc, sim=self.sim_text())

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _out_dir(spec: Any, out: str | None) -> Path:
    """The result directory: ``--out`` (not empty) or ``out/NAME``."""
    if out is None:
        return Path("out") / spec.name
    if not out.strip():
        raise InputError("--out: empty directory name (give a directory, e.g. --out out/run1)")
    return Path(out)


def _go(spec: Any, where: str, out_dir: Path, executor: str, scheduler: str | None,
        workers: int | None, quiet: bool) -> Any:
    bar = _Bar(quiet, spec.name)
    outcome = run_sweep(spec, out_dir, executor=executor, workers=workers, scheduler=scheduler,
                        progress=bar, where=where)
    if not quiet and outcome.tables is not None:
        parquet, csv = outcome.tables
        typer.echo(
            f"{spec.name}: {outcome.total} runs: {outcome.skipped} already done, {outcome.ran} run now, "
            f"{len(outcome.failed)} failed; {len(outcome.rows)} rows in {parquet} and {csv}"
        )
    for run, err in outcome.failed[:10]:
        typer.echo(f"failed: {run.spec.design} seed {run.spec.seed} {run.params}: {err}", err=True)
    if len(outcome.failed) > 10:
        typer.echo(f"... {len(outcome.failed) - 10} more failed runs", err=True)
    return outcome


def sweep_cmd(
    spec_file: Annotated[Path, typer.Argument(help="Sweep spec (TOML).", metavar="SPEC.toml")],
    out: OutOpt = None,
    executor: ExecutorOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    plot: Annotated[bool, typer.Option("--plot", help="Draw the standard figures into DIR/figures.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Run a sweep: scenario parameters × designs × seeds, one row per run (Parquet + CSV)."""
    from irqfwd.sweep.spec import load_spec

    spec = load_spec(spec_file)
    outcome = _go(spec, str(spec_file), _out_dir(spec, out), executor, scheduler, workers, quiet)
    if plot:
        from irqfwd.sweep.plot import plot_rows

        fig_dir = outcome.out / "figures"
        try:
            figs = plot_rows(outcome.rows, outcome.params, fig_dir, spec.name)
        except OSError as exc:
            raise InputError(f"--plot: cannot write the figures into {fig_dir}: {exc.strerror or exc}") from None
        if not quiet:
            typer.echo(f"figures: {', '.join(str(f) for f in figs) or '(no swept parameter)'}")
    if outcome.failed:
        raise typer.Exit(1)


def study_cmd(
    name: Annotated[str, typer.Argument(help="Built-in study: forwarding.")],
    out: OutOpt = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Markdown report to write (default: DIR/study-NAME.md).")
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Shorter runs and one seed (a smoke test).")] = False,
    executor: ExecutorOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run a built-in study as a sweep and write its report, table and figures."""
    from irqfwd.sweep.study import check_report_path, get_study, write_report

    study = get_study(name)
    spec = study.spec(quick)
    out_dir = _out_dir(spec, out)
    if report is not None:  # before the sweep: a bad path must not cost the whole study
        check_report_path(study, report)
    outcome = _go(spec, f"study {name}", out_dir, executor, scheduler, workers, quiet)
    path = report if report is not None else outcome.out / f"study-{name}.md"
    check_report_path(study, path)
    written = write_report(study, outcome, path, quick=quick)
    if not quiet:
        typer.echo(f"report: {path}; figures: {', '.join(str(f) for f in written)}")
    if outcome.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``sweep`` and ``study`` to the ``irqfwd`` command."""
    app.command("sweep")(sweep_cmd)
    app.command("study")(study_cmd)
