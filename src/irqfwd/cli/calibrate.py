"""``irqfwd calibrate [--profile NAME|FILE] [--targets MEASURED.json] [--json]``: simulated vs measured micro-benchmarks.

Runs the kvm-unit-tests ``arm/micro-bench`` equivalents inside the simulator
(:mod:`irqfwd.calibrate.microbench`) with a cost profile and prints, per benchmark, the simulated
average ns per operation, the measured Ampere Altra figure (kvm-unit-tests ``arm/micro-bench``, Linux 6.12-rc1; ``docs/calibration.md``)
and their ratio.  Exit status 1 if a simulated figure is more than 10% off the measured
one, 2 on bad input (an unknown profile or an invalid profile file).

``--targets FILE`` takes a file written by ``irqfwd measure`` (:mod:`irqfwd.measure.calibrate`):
its counts per interrupt are structural targets, compared with the model's; its times,
when measured natively on arm64, replace the Altra figures of the benchmarks they
measure (``ipi``, ``timer_10ms``).  Any target off also gives exit status 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from irqfwd.errors import InputError

__all__ = ["register"]

TOLERANCE = 0.10


def calibrate_report(profile: str, measured_ns: dict[str, float] | None = None) -> dict[str, Any]:
    """``{"profile", "benchmarks": {name: {"simulated_ns", "measured_ns", "ratio", "ok"}}}``.

    ``measured_ns`` replaces the Altra figures of the benchmarks it names."""
    from irqfwd.calibrate.microbench import MEASURED_ALTRA, run_microbenchmarks
    from irqfwd.sim.costs import load_profile

    try:
        costs = load_profile(profile)
    except ValueError as exc:
        raise InputError(f"--profile: {exc}") from None
    simulated = run_microbenchmarks(costs)
    rows: dict[str, Any] = {}
    for name, measured in {**MEASURED_ALTRA, **(measured_ns or {})}.items():
        sim = simulated.get(name)
        if sim is None:
            rows[name] = {"simulated_ns": None, "measured_ns": measured, "ratio": None, "ok": None}
            continue
        ratio = sim / measured
        rows[name] = {
            "simulated_ns": round(sim, 1),
            "measured_ns": measured,
            "ratio": round(ratio, 3),
            "ok": abs(ratio - 1.0) <= TOLERANCE,
        }
    return {"profile": costs.name, "tolerance": TOLERANCE, "benchmarks": rows}


def calibrate_cmd(
    profile: Annotated[
        str, typer.Option("--profile", help="Built-in cost profile name or a profile .toml file.")
    ] = "altra",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    targets: Annotated[Path | None, typer.Option(
        "--targets", help="A file written by 'irqfwd measure': its counts are structural targets; "
                          "its times (native arm64 only) replace the Altra figures.")] = None,
) -> None:
    """Run the arm/micro-bench equivalents in the simulator; compare with Ampere Altra."""
    measured_targets = None
    if targets is not None:
        from irqfwd.measure.calibrate import load_targets

        measured_targets = load_targets(targets)
    report = calibrate_report(profile, measured_targets.costs if measured_targets else None)
    if measured_targets is not None:
        report["targets"] = measured_targets.to_json()
    if as_json:
        typer.echo(json.dumps(report, sort_keys=True, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(
            title=f"kvm-unit-tests arm/micro-bench, profile {report['profile']!r} vs Ampere Altra (ns/op)",
            title_justify="left",
        )
        for col in ("benchmark", "simulated", "measured", "ratio", ""):
            table.add_column(col, justify="left" if col in ("benchmark", "") else "right")
        for name, row in report["benchmarks"].items():
            if row["simulated_ns"] is None:
                table.add_row(name, "n/a", str(row["measured_ns"]), "-", "not simulated")
                continue
            mark = "ok" if row["ok"] else f"[bold red]off by more than {TOLERANCE:.0%}[/]"
            table.add_row(
                name, f"{row['simulated_ns']:.0f}", str(row["measured_ns"]), f"{row['ratio']:.3f}", mark
            )
        Console(highlight=False).print(table)
        if measured_targets is not None:
            _print_targets(measured_targets)
    if any(row["ok"] is False for row in report["benchmarks"].values()):
        raise typer.Exit(1)
    if measured_targets is not None and any(not r["ok"] for r in measured_targets.structural):
        raise typer.Exit(1)


def _print_targets(t: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title=f"structural targets from {t.source} ({t.host}), per interrupt",
                  title_justify="left")
    for col in ("experiment", "quantity", "measured", "model", "diff", ""):
        table.add_column(col, justify="right" if col in ("measured", "model", "diff") else "left")
    for r in t.structural:
        table.add_row(r["experiment"], r["label"], f"{r['measured']:.2f}", f"{r['model']:.2f}",
                      f"{r['diff']:+.2f}", "ok" if r["ok"] else "[bold red]differs[/]")
    console.print(table)
    if t.costs:
        console.print("cost targets (native arm64): "
                      + ", ".join(f"{k} {v:.0f} ns" for k, v in t.costs.items()))
    else:
        console.print("no cost targets: the times of a TCG run are not meaningful")


def register(app: typer.Typer) -> None:
    """Add ``calibrate`` to the ``irqfwd`` command."""
    app.command("calibrate")(calibrate_cmd)
