"""``irqfwd calibrate [--profile NAME|FILE] [--json]``: simulated vs measured micro-benchmarks.

Runs the kvm-unit-tests ``arm/micro-bench`` equivalents inside the simulator
(:mod:`irqfwd.calibrate.microbench`) with a cost profile and prints, per benchmark, the simulated
average ns per operation, the measured Ampere Altra figure (performance-anchors.md §1.1)
and their ratio.  Exit status 1 if a simulated figure is more than 10% off the measured
one, 2 on bad input (an unknown profile or an invalid profile file).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from irqfwd.errors import InputError

__all__ = ["register"]

TOLERANCE = 0.10


def calibrate_report(profile: str) -> dict[str, Any]:
    """``{"profile", "benchmarks": {name: {"simulated_ns", "measured_ns", "ratio", "ok"}}}``."""
    from irqfwd.calibrate.microbench import MEASURED_ALTRA, run_microbenchmarks
    from irqfwd.sim.costs import load_profile

    try:
        costs = load_profile(profile)
    except ValueError as exc:
        raise InputError(f"--profile: {exc}") from None
    simulated = run_microbenchmarks(costs)
    rows: dict[str, Any] = {}
    for name, measured in MEASURED_ALTRA.items():
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
) -> None:
    """Run the arm/micro-bench equivalents in the simulator; compare with Ampere Altra."""
    report = calibrate_report(profile)
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
    if any(row["ok"] is False for row in report["benchmarks"].values()):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``calibrate`` to the ``irqfwd`` command."""
    app.command("calibrate")(calibrate_cmd)
