"""``irqfwd calibrate``: fit the cost model on some measured micro-benchmarks, predict the rest.

``irqfwd calibrate [--platform P] [--gic v2|v3] [--profile NAME|FILE] [--fit B,...]
[--free K,...] [--set PARAM=NS]... [--check] [--strict] [--targets MEASURED.json] [--json]``

Runs the kvm-unit-tests ``arm/micro-bench`` equivalents inside the simulator
(:mod:`irqfwd.calibrate.microbench`) and fits a cost profile on a subset of one platform's
measured figures (:mod:`irqfwd.calibrate.fit`, :mod:`irqfwd.calibrate.platforms`):

* ``--profile`` is the *prior* (default ``altra``): every parameter the fit does not
  move keeps its value;
* ``--fit`` names the benchmarks the fit uses (default ``hvc,mmio_read_vgic,
  mmio_read_user,eoi``); every other measured benchmark is *predicted* by the fitted
  profile, which its figure never influenced;
* ``--free`` names the knobs the fit solves for (a cost parameter, ``world_switch`` or
  ``cpu_scale``; default per platform);
* ``--set PARAM=NS`` pins a parameter before the fit (an assumption, reported as such);
* ``--gic`` chooses the GIC model the benchmarks run on (default ``v2``).  The measured
  hosts have GICv3: ``--gic v3`` runs the benchmarks on the GICv3 model (ICV_* system
  registers, a trapped ICC_SGI1R_EL1) and adds ``lpi`` (an LPI through KVM's emulated ITS)
  and the GICv4.1 direct vSGI ``ipi_hw``, compared with a figure of another machine;
* ``--check`` fits nothing: every figure is simulated with the profile as it is (the
  shipped profile is the full fit, ``docs/calibration.md`` §3).

It prints the *fitted* rows, the *predicted* rows with their errors and what share of each
prediction comes from fitted, scaled, measured or assumed parameters, the parameters set
before the fit, and a closing note on the predictions.  ``docs/calibration.md`` says which
parameter is measured, fitted or assumed, and from where.

``--targets FILE`` takes a file written by ``irqfwd measure`` (:mod:`irqfwd.measure.calibrate`):
its counts per interrupt are structural targets, compared with the model's; its times,
when measured natively on arm64, replace the platform's figures of the benchmarks they
measure (``ipi``, ``timer_10ms``).  A structural target off also gives exit status 1.

Exit status: 1 if a *fitted* (or, with ``--check``, a *checked*) row is more than 10% off
its measured figure (the fit failed),
or, with ``--strict``, if a *predicted* one is; predicted misses are otherwise reported, not
failed.  2 on bad input (unknown platform, benchmark, knob or parameter; an invalid profile;
a fit the targets cannot determine).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from irqfwd.errors import InputError

__all__ = ["calibrate_report", "register"]

TOLERANCE = 0.10


def _names(option: str, value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise InputError(f"{option}: empty list")
    return names


MAX_SETTING_NS = 1_000_000
"""Largest cost a ``--set`` may pin: 1 ms, 500 times the largest cost of the shipped
profile (host_tick_ns 2000 ns in altra.toml) and far above any modelled operation; a
larger one makes the micro-benchmarks, each run for one simulated second, run for minutes
or not finish."""


def _settings(values: list[str]) -> list[Any]:
    from irqfwd.calibrate.fit import COST_PARAMS
    from irqfwd.calibrate.platforms import Setting

    out = []
    for item in values:
        param, sep, raw = item.partition("=")
        param = param.strip()
        if not sep:
            raise InputError(f"--set {item!r}: expected PARAM=NS")
        if param not in COST_PARAMS:
            raise InputError(f"--set: unknown cost parameter {param!r}")
        try:
            if not raw.isascii():  # int() reads full-width and other Unicode digits
                raise ValueError(raw)
            value = int(raw.strip())
        except ValueError:
            raise InputError(f"--set {param}: {raw.strip()!r} is not a whole number of ns") from None
        if value < 0:
            raise InputError(f"--set {param}: must be >= 0")
        if value > MAX_SETTING_NS:
            raise InputError(f"--set {param}={value}: must be 0..{MAX_SETTING_NS} ns (1 ms; "
                             "the shipped profile's costs are all below 2 us)")
        out.append(Setting(param, value, "assumed", "--set on the command line"))
    return out


def calibrate_report(
    profile: str = "altra",
    measured_ns: dict[str, float] | None = None,
    *,
    platform: str = "altra",
    fit: list[str] | None = None,
    free: list[str] | None = None,
    settings: list[str] | None = None,
    strict: bool = False,
    gic: str = "v2",
    check: bool = False,
) -> dict[str, Any]:
    """``{"profile", "platform", "tolerance", "fit", "settings", "parameters",
    "benchmarks": {name: {"role", "simulated_ns", "measured_ns", "ratio", "error_pct",
    "ok", ...}}, "predictions"}``.

    ``measured_ns`` replaces the platform's figures of the benchmarks it names.  ``ok`` is
    the tolerance check of a fitted row (and of a predicted one with ``strict``); ``None``
    for a predicted row that is reported, not checked."""
    from irqfwd.calibrate.fit import run_check, run_fit
    from irqfwd.calibrate.microbench import GICS
    from irqfwd.calibrate.platforms import PLATFORMS
    from irqfwd.sim.costs import load_profile

    if platform not in PLATFORMS:
        raise InputError(f"--platform: unknown platform {platform!r} (known: {', '.join(PLATFORMS)})")
    try:
        costs = load_profile(profile)
    except ValueError as exc:
        raise InputError(f"--profile: {exc}") from None
    if gic not in GICS:
        raise InputError(f"--gic: unknown GIC {gic!r} (known: {', '.join(GICS)})")
    if check:
        if fit is not None or free is not None:
            raise InputError("--check fits nothing: it takes no --fit or --free")
        report = run_check(PLATFORMS[platform], costs, _settings(settings or []), measured_ns, gic=gic)
    else:
        report, _ = run_fit(PLATFORMS[platform], costs, fit, free, _settings(settings or []),
                            measured_ns, gic=gic)
    for row in report["benchmarks"].values():
        within = abs(row["ratio"] - 1.0) <= TOLERANCE
        row["within_tolerance"] = within
        row["ok"] = within if (row["role"] in ("fitted", "checked") or strict) else None
    predicted = {n: r for n, r in report["benchmarks"].items() if r["role"] == "predicted"}
    report["predictions"] = {
        "count": len(predicted),
        "within_tolerance": sorted(n for n, r in predicted.items() if r["within_tolerance"]),
        "missed": sorted(n for n, r in predicted.items() if not r["within_tolerance"]),
        "mean_abs_error_pct": round(sum(abs(r["error_pct"]) for r in predicted.values())
                                    / len(predicted), 1) if predicted else None,
    }
    return {"profile": costs.name, "tolerance": TOLERANCE, "strict": strict, **report}


def _share(row: dict[str, Any]) -> str:
    """``scaled 43% · assumed 53% · other 4%``: where a predicted figure comes from."""
    att = row.get("attribution_ns") or {}
    total = row["simulated_ns"] or 1.0
    labels = {"fitted": "fitted", "scaled": "scaled", "measured": "measured", "assumed": "assumed",
              "structure": "other"}
    return " · ".join(f"{labels[k]} {100 * v / total:.0f}%" for k, v in att.items()
                      if abs(v) >= 0.005 * total)


def _print(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    tol = report["tolerance"]
    fit = report["fit"]
    gic = report.get("gic", "v2")
    console.print(f"kvm-unit-tests arm/micro-bench on {report['title']}"
                  + (" (GICv3 model)" if gic == "v3" else ""))
    console.print(f"  measured: {report['source']}")
    if fit is None:
        console.print(f"  profile {report['profile']!r} as it is: no fit (--check)")
    else:
        console.print(f"  prior profile {report['profile']!r}; fitted on {', '.join(fit['targets'])} "
                      f"(rms error {fit['rms_error_pct']:.2f}%; Gauss-Newton steps: {fit['iterations']})")
        console.print("  free: " + "; ".join(k["describe"] for k in fit["free"]))
        if fit["at_bound"]:
            console.print(f"  [bold red]at the bound 0:[/] {', '.join(fit['at_bound'])}")
    table = Table(title="simulated vs measured (ns/op)", title_justify="left")
    for col in ("role", "benchmark", "simulated", "measured", "error", ""):
        table.add_column(col, justify="right" if col in ("simulated", "measured", "error") else "left",
                         no_wrap=True)
    rows = report["benchmarks"]
    for role in ("fitted", "checked", "predicted", "reference"):
        for name, row in rows.items():
            if row["role"] != role:
                continue
            if row["within_tolerance"]:
                mark = "ok" if role in ("fitted", "checked") else f"within {tol:.0%}"
            elif row["ok"] is False:
                mark = f"[bold red]off by more than {tol:.0%}[/]"
            else:
                mark = "miss"
            rng = row.get("measured_range_ns")
            meas = f"{rng[0]:.0f}–{rng[1]:.0f}" if rng else f"{row['measured_ns']:.0f}"
            table.add_row(role, name, f"{row['simulated_ns']:.0f}", meas,
                          f"{row['error_pct']:+.1f}%", mark)
    console.print(table)
    for name, row in rows.items():
        if row["role"] == "reference":
            console.print(f"reference {name} (another machine, not fitted; error to the range): "
                          f"{row['source']}")
    shares = [(n, _share(r)) for n, r in rows.items() if r["role"] == "predicted"]
    if shares:
        console.print("predicted figures by the role of their parameters (docs/calibration.md §2):")
        for name, share in shares:
            console.print(f"  {name}: {share}")
    if report["settings"]:
        console.print("set before the fit:")
        for s in report["settings"]:
            console.print(f"  {s['param']} = {s['value']} ns ({s['role']}): {s['source']}")
    else:
        console.print("set before the fit: nothing (every parameter the fit does not move "
                      "keeps the prior's value)")
    if report["unmodelled"]:
        console.print("measured, not simulated: " + ", ".join(
            f"{k} {v:.0f} ns" for k, v in report["unmodelled"].items())
            + " (no ITS in the GICv2 model: --gic v3 simulates it)")
    if report["not_exercised"]:
        console.print(f"assumed, and exercised by no micro-benchmark ({len(report['not_exercised'])} "
                      f"of {len(report['parameters'])} parameters): {', '.join(report['not_exercised'])}")
    if report["note"]:
        console.print(f"note: {report['note']}")
    pred = report["predictions"]
    if fit is None:
        checked = [n for n, r in rows.items() if r["role"] == "checked"]
        off = [n for n in checked if not rows[n]["within_tolerance"]]
        console.print(f"checked: {len(checked) - len(off)} of {len(checked)} within ±{tol:.0%}"
                      + (f"; off: {', '.join(off)}" if off else ""))
        return
    if not pred["count"]:
        console.print("predictions: none (every measured benchmark is a fit target)")
        return
    errs = ", ".join(f"{n} {rows[n]['error_pct']:+.1f}%" for n in rows if rows[n]["role"] == "predicted")
    verdict = (f"{len(pred['missed'])} of {pred['count']} miss the ±{tol:.0%} tolerance"
               if pred["missed"] else f"all {pred['count']} within ±{tol:.0%}")
    tail = ("they fail the run (--strict)" if report["strict"]
            else "reported, not failed; --strict fails on them")
    console.print(f"predictions: {errs} (mean |error| {pred['mean_abs_error_pct']:.1f}%): "
                  f"{verdict}" + (f"; {tail}" if pred["missed"] else ""))


def calibrate_cmd(
    profile: Annotated[
        str, typer.Option("--profile", help="Prior: a built-in cost profile name or a profile .toml file.")
    ] = "altra",
    platform: Annotated[
        str, typer.Option("--platform", help="Measured figures to fit and predict: altra, kunpeng920, phytium-s2500.")
    ] = "altra",
    fit: Annotated[
        str | None, typer.Option("--fit", help="Comma-separated benchmarks to fit (default per platform); the others are predicted.")
    ] = None,
    free: Annotated[
        str | None, typer.Option("--free", help="Comma-separated knobs to fit: cost parameters, world_switch, cpu_scale (default per platform).")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="PARAM=NS: pin a cost parameter before the fit (an assumption). Repeatable.")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when a predicted figure, too, is beyond the tolerance.")
    ] = False,
    gic: Annotated[
        str, typer.Option("--gic", help="GIC model the benchmarks run on: v2, or v3 (adds lpi and the GICv4.1 ipi_hw).")
    ] = "v2",
    check: Annotated[
        bool, typer.Option("--check", help="No fit: simulate every figure with the profile as it is; "
                                           "exit 1 when one is beyond the tolerance.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    targets: Annotated[Path | None, typer.Option(
        "--targets", help="A file written by 'irqfwd measure': its counts are structural targets; "
                          "its times (native arm64 only) replace the platform's figures.")] = None,
) -> None:
    """Fit the cost model on some measured micro-benchmarks; predict the others."""
    measured_targets = None
    if targets is not None:
        from irqfwd.measure.calibrate import load_targets

        measured_targets = load_targets(targets)
    report = calibrate_report(profile, measured_targets.costs if measured_targets else None,
                              platform=platform, fit=_names("--fit", fit),
                              free=_names("--free", free), settings=set_, strict=strict,
                              gic=gic, check=check)
    if measured_targets is not None:
        report["targets"] = measured_targets.to_json()
    if as_json:
        typer.echo(json.dumps(report, sort_keys=True, indent=2))
    else:
        _print(report)
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
