"""``irqfwd run``, ``irqfwd compare`` and ``irqfwd list``: simulate scenarios under delivery designs.

``irqfwd run SCENARIO [--design D] [--set key=value ...] [--seed N] [--gic V] [--json] [--trace PATH [--trace-format F]] [--profile PATH] [--quiet]``
``irqfwd run --replay FILE [--json] [--trace PATH]`` (a counter-example of ``irqfwd explore``)
``irqfwd compare SCENARIO [--designs D1,D2,...] [--set ...] [--seed N] [--gic V] [--json] [--trace PATH [--trace-format F]] [--report DIR] [--quiet]``

``--gic v2|v3|v4|v4.1`` runs the scenario on that GIC (default: the scenario's); a design
that needs a newer GIC is refused (exit 2).

``--trace PATH`` streams the run's events to PATH (:mod:`irqfwd.trace`): ftrace text in the
``trace-cmd report`` layout (``.txt``), Chrome/Perfetto JSON (``.json``) or a VCD waveform
(``.vcd``), or the format ``--trace-format`` names.  ``compare`` writes one file per design,
``STEM.DESIGN.EXT``.

``--profile PATH`` writes where the simulator spent its wall time, by function
(:mod:`irqfwd.cli.profile`, pyinstrument): ``.html``, ``.txt`` or speedscope ``.json``.

A run that takes more than half a second shows a progress bar on stderr when stderr is a
terminal (simulated time, guest interrupts, simulated interrupts per second;
:mod:`irqfwd.cli.progress`); ``--quiet`` turns it off.  It never changes the results.

SCENARIO is a built-in name (``irqfwd list``) or a scenario TOML file.  The table shows, per
design, the interrupts handled, exits per interrupt by KVM exit reason (the ``perf kvm stat``
grouping), maintenance interrupts, VFIO mask/unmask, eventfd/resamplefd signals per
interrupt, the latency percentiles of the two measured paths and the invariant violations.

``--json`` prints one object ``{"scenario", "seed", "designs": {name: {"counters",
"latency_ns", "invariants", ...}}}`` with sorted keys and only simulated values, so the same
scenario and seed give byte-identical output.  Exit status: 0, 1 if an invariant is
violated (after printing), 2 on bad input.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from irqfwd.cli.errors import parse_designs
from irqfwd.cli.progress import RunBar
from irqfwd.config import ScenarioConfig
from irqfwd.errors import InputError
from irqfwd.system.designs import default_designs
from irqfwd.system.run import (
    DEFAULT_COMPARE_DESIGNS,
    LATENCY_PATHS,
    known_designs,
    prepare,
    report,
    run_designs,
    summarize_result,
    trace_path_for,
)
from irqfwd.trace import FORMATS, check_trace_path, resolve_format

__all__ = ["register"]

ScenarioArg = Annotated[
    str, typer.Argument(help="Built-in scenario name (see 'irqfwd list') or a scenario .toml file.")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override KEY=VALUE (rate, duration, trigger, pattern, vms, vcpus, pcpus, lrs, or a dotted path). Repeatable.",
        metavar="KEY=VALUE",
    ),
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed (default: the scenario's seed).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
TraceOpt = Annotated[
    Path | None,
    typer.Option("--trace", help="Stream the event trace to PATH (.txt ftrace text, .json Perfetto, .vcd waveform).",
                 metavar="PATH"),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar (stderr).")]
GicOpt = Annotated[
    str | None,
    typer.Option("--gic", help="The GIC: v2, v3, v4 or v4.1 (default: the scenario's).", metavar="VERSION"),
]
TraceFormatOpt = Annotated[
    str | None,
    typer.Option("--trace-format", help=f"Trace format ({', '.join(FORMATS)}); default: by the extension of PATH."),
]


def _check_trace(trace: Path | None, trace_format: str | None) -> None:
    if trace is None:
        if trace_format is not None:
            raise InputError("--trace-format: needs --trace PATH")
        return
    check_trace_path(trace)
    resolve_format(trace, trace_format)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def _check_trace_targets(trace: Path | None, designs: list[str], config: ScenarioConfig,
                         inputs: list[tuple[Path, str]]) -> None:
    """:class:`InputError` if a trace file the run will write (each design's
    :func:`trace_path_for`) is one of ``inputs`` (path, what) or the trace CSV of a device."""
    if trace is None:
        return
    sources = list(inputs)
    sources += [(Path(dev.traffic.trace_csv), f"the trace CSV of devices.{i}")
                for i, dev in enumerate(config.devices) if dev.traffic.trace_csv is not None]
    for design in designs:
        target = trace_path_for(trace, design, len(designs))
        for source, what in sources:
            if _same_file(target, source):
                shown = str(trace) if target == trace else f"{trace} (design {design!r} writes {target})"
                raise InputError(f"--trace {shown}: is {what}; refusing to overwrite it")


def _check_design(name: str) -> str:
    known = known_designs()
    if name not in known:
        raise InputError(f"unknown design {name!r} (known: {', '.join(known)})")
    return name


def _per_irq(n: int, handled: int) -> str:
    return f"{n / handled:.2f}" if handled else ("0" if n == 0 else f"{n} total")


def _us_per(ns: float, handled: int) -> str:
    """``ns`` per handled interrupt, in µs."""
    return f"{ns / handled / 1000:.2f}" if handled else "-"


def _us(ns: float) -> str:
    return f"{ns / 1000:.2f}"


def _table(title: str, summaries: dict[str, dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("per handled interrupt (or total)", no_wrap=True)
    for design in summaries:
        table.add_column(design, justify="right", no_wrap=True)

    def row(label: str, cells: list[str]) -> None:
        table.add_row(label, *cells)

    items = list(summaries.values())
    # Denominator: every interrupt the guest handled (device handlers + vtimer ticks).
    handled = [s["counters"]["guest_irqs_handled"] + s["counters"].get("guest_timer_irqs", 0) for s in items]
    row("device interrupts raised (total)", [str(s["counters"]["device_irqs_raised"]) for s in items])
    row("guest device interrupts handled (total)", [str(s["counters"]["guest_irqs_handled"]) for s in items])
    if any(s["counters"].get("guest_timer_irqs", 0) for s in items):
        row("guest timer interrupts handled (total)", [str(s["counters"].get("guest_timer_irqs", 0)) for s in items])
    row("exits", [_per_irq(s["counters"]["exits_total"], h) for s, h in zip(items, handled, strict=True)])
    reasons = sorted({r for s in items for r in s["counters"]["exits"]})
    for reason in reasons:
        row(f"  exit {reason}", [_per_irq(s["counters"]["exits"].get(reason, 0), h) for s, h in zip(items, handled, strict=True)])
    for key, label in (
        ("maintenance_irqs", "maintenance interrupts"),
        ("host_irqs", "host IRQs"),
        ("vfio_mask", "VFIO mask"),
        ("vfio_unmask", "VFIO unmask"),
        ("eventfd_signals", "eventfd signals"),
        ("resamplefd_signals", "resamplefd signals"),
        ("lr_spills", "LR spills"),
    ):
        row(label, [_per_irq(s["counters"][key], h) for s, h in zip(items, handled, strict=True)])
    if all("cpu_time_ns" in s for s in items):
        totals = [s["cpu_time_ns"]["total"] for s in items]
        row("host CPU time (µs)", [_us_per(t["host_total"], h) for t, h in zip(totals, handled, strict=True)])
        for cat, label in (("kvm", "  KVM exit/entry and exit handling"), ("hardirq", "  host hard IRQ"),
                           ("kworker", "  kworker"), ("vmm", "  VMM main loop (user space)"),
                           ("sched", "  scheduler switches"),
                           ("halt_poll", "  halt polling")):
            row(label + " (µs)", [_us_per(t.get(cat, 0), h) for t, h in zip(totals, handled, strict=True)])
        row("guest interrupt handling (µs)", [_us_per(t.get("guest_irq", 0), h) for t, h in zip(totals, handled, strict=True)])
        # halt polling is left out: it burns time the guest left idle, not delivery work
        row("pCPU time not spent delivering interrupts (%)", [
            f"{100.0 * (t['wall'] - t['host_total'] - t.get('guest_irq', 0)) / t['wall']:.1f}"
            if t["wall"] else "-" for t in totals])
    paths = [p for p in LATENCY_PATHS if any(p in s["latency_ns"] for s in items)]
    paths += sorted({p for s in items for p in s["latency_ns"]} - set(paths))
    for path in paths:
        for stat in ("p50", "p99", "max"):
            row(
                f"{path} {stat} (µs)",
                [_us(s["latency_ns"][path][stat]) if path in s["latency_ns"] else "-" for s in items],
            )
    row("invariant checks (total)", [str(s["invariants"]["checked"]) for s in items])
    row(
        "invariant violations (total)",
        [
            str(len(s["invariants"]["violations"])) if not s["invariants"]["violations"]
            else f"[bold red]{len(s['invariants']['violations'])}[/]"
            for s in items
        ],
    )
    return table


def _print_human(title: str, summaries: dict[str, dict[str, Any]]) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160
    console.print(_table(title, summaries))
    for design, s in summaries.items():
        violations = s["invariants"]["violations"]
        if not violations:
            continue
        by_rule: dict[str, int] = {}
        for v in violations:
            by_rule[v["rule"]] = by_rule.get(v["rule"], 0) + 1
        summary = ", ".join(f"{rule} ×{n}" for rule, n in sorted(by_rule.items()))
        console.print(f"[bold red]{design}: {len(violations)} invariant violation(s)[/]: {summary}")
        for v in violations[:5]:
            console.print(f"  {v['time_ns']} ns INTID {v['intid']}: {v['message']}", markup=False)
        if len(violations) > 5:
            console.print(f"  ... {len(violations) - 5} more (see --json)")


def _finish(rep: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(rep, sort_keys=True, indent=2))
    else:
        _print_human(title, rep["designs"])
    if any(s["invariants"]["violations"] for s in rep["designs"].values()):
        raise typer.Exit(1)


def run_cmd(
    scenario: Annotated[
        str | None,
        typer.Argument(help="Built-in scenario name (see 'irqfwd list') or a scenario .toml file.", show_default=False),
    ] = None,
    design: Annotated[str | None, typer.Option("--design", "-d", help="Delivery design [default: irqfd-resample, or the scenario's own first design].",
                                               show_default=False)] = None,
    overrides: SetOpt = None,
    seed: SeedOpt = None,
    as_json: JsonOpt = False,
    trace: TraceOpt = None,
    trace_format: TraceFormatOpt = None,
    replay_file: Annotated[
        Path | None, typer.Option("--replay", help="Re-execute a counter-example written by 'irqfwd explore --out'.",
                                  metavar="FILE")
    ] = None,
    quiet: QuietOpt = False,
    gic: GicOpt = None,
    profile: Annotated[
        Path | None,
        typer.Option("--profile", help="Write a profile of the simulator's time by function to PATH "
                     "(.html, .txt, or .json for speedscope; pyinstrument).", metavar="PATH"),
    ] = None,
) -> None:
    """Run SCENARIO under one delivery design and print its metrics."""
    if profile is not None:
        from irqfwd.cli.profile import check_profile_path

        check_profile_path(profile)
        if trace is not None and profile.resolve() == trace.resolve():
            raise InputError(f"--profile {profile}: is also the --trace file")
        if scenario is not None and Path(scenario).exists() and Path(scenario).resolve() == profile.resolve():
            raise InputError(f"--profile {profile}: is the scenario file; refusing to overwrite it")
    if trace is not None:
        for source, what in ((scenario, "the scenario file"), (replay_file, "the replay file")):
            if source is not None and Path(source).exists() and Path(source).resolve() == trace.resolve():
                raise InputError(f"--trace {trace}: is {what}; refusing to overwrite it")
    _check_trace(trace, trace_format)
    if replay_file is not None:
        given = [n for n, v in (("SCENARIO", scenario), ("--design", design), ("--set", overrides),
                                ("--seed", seed), ("--gic", gic)) if v is not None and v != []]
        if given:
            raise InputError(f"--replay: the replay file fixes the scenario, design and seed; do not give {given[0]}")
        if profile is not None:
            raise InputError("--profile: profiles a scenario run, not a --replay")
        _replay(replay_file, as_json, trace, trace_format)
        return
    if scenario is None:
        raise InputError("missing SCENARIO (a built-in name or a .toml file), or --replay FILE")
    if design is not None:
        _check_design(design)
    config, seed, costs = prepare(scenario, overrides, seed, gic)  # checks the scenario's designs
    if design is None:
        # irqfd-resample, or the scenario's first design when it has its own (MSI-X, vSGIs)
        design = (default_designs(config, ("irqfd-resample",)) or ["irqfd-resample"])[0]
    _check_trace_targets(trace, [design], config, _scenario_file(scenario))
    bar = RunBar(config.name, quiet=quiet)
    try:
        with _maybe_profiled(profile):
            result = run_designs(config, [design], seed, costs, trace=trace, trace_format=trace_format,
                                 progress=bar)[design]
    finally:
        bar.close()
    _finish(report(config.name, seed, {design: summarize_result(result)}), as_json, f"{config.name} (seed {seed})")


def _scenario_file(scenario: str) -> list[tuple[Path, str]]:
    """The scenario file SCENARIO names, if it is one (not a built-in name), for
    :func:`_check_trace_targets`."""
    return [(Path(scenario), "the scenario file")] if Path(scenario).is_file() else []


def _maybe_profiled(path: Path | None) -> contextlib.AbstractContextManager[None]:
    """``irqfwd.cli.profile.profiled(path)``, or nothing without ``--profile``."""
    if path is None:
        return contextlib.nullcontext()
    from irqfwd import _accel
    from irqfwd.cli.profile import profiled

    if _accel.status().active:
        typer.echo("note: --profile with the compiled build shows the engine's run loop, not the model's "
                   "functions (they have no Python frames); IRQFWD_ACCEL=off gives the per-function profile",
                   err=True)
    return profiled(path)


def _replay(path: Path, as_json: bool, trace: Path | None, trace_format: str | None) -> None:
    from irqfwd.system.explore import load_replay, replay

    rp = load_replay(path)
    _check_trace_targets(trace, [rp.design], rp.config, [(path, "the replay file")])
    result, decisions = replay(rp, trace=trace, trace_format=trace_format)
    rep = report(rp.config.name, rp.seed, {rp.design: summarize_result(result)})
    rep["replay"] = {"file": str(path), "choices": [d.as_dict() for d in decisions],
                     "recorded_rules": sorted({v.get("rule", "?") for v in rp.violations if isinstance(v, dict)}),
                     "reproduced": bool(result.violations) == bool(rp.violations)}
    if not as_json:
        from rich.console import Console

        console = Console(highlight=False)
        steps = [f"at {d.time_ns} ns ran {d.ran} before {d.instead_of}" for d in decisions]
        console.print(f"replay of {path}: {len(decisions)} deviation(s) from the default order"
                      + (": " + "; ".join(steps) if steps else ""), markup=False)
        console.print("recorded violations: " + (", ".join(rep["replay"]["recorded_rules"]) or "none")
                      + ("; reproduced" if rep["replay"]["reproduced"] else "; NOT reproduced"), markup=False)
    _finish(rep, as_json, f"{rp.config.name} / {rp.design} (seed {rp.seed}), replay of {path.name}")


def compare_cmd(
    scenario: ScenarioArg,
    designs: Annotated[
        str | None, typer.Option("--designs", help="Comma-separated delivery designs (default: "
                                 + ",".join(DEFAULT_COMPARE_DESIGNS)
                                 + ", those the scenario's devices and GIC allow, or the scenario's own).")
    ] = None,
    overrides: SetOpt = None,
    seed: SeedOpt = None,
    as_json: JsonOpt = False,
    trace: TraceOpt = None,
    trace_format: TraceFormatOpt = None,
    report_dir: Annotated[
        Path | None,
        typer.Option("--report", help="Write a report directory (config, stats, exit tables, plots, report.html).",
                     metavar="DIR"),
    ] = None,
    quiet: QuietOpt = False,
    gic: GicOpt = None,
) -> None:
    """Run SCENARIO under several delivery designs and print them side by side."""
    names = parse_designs(designs) if designs is not None else []
    _check_trace(trace, trace_format)
    config, seed, costs = prepare(scenario, overrides, seed, gic)  # checks the scenario's designs
    if designs is None:
        names = default_designs(config, DEFAULT_COMPARE_DESIGNS)
    if report_dir is not None and trace is not None:
        raise InputError("--report: writes its own traces (trace-DESIGN.json); drop --trace")
    _check_trace_targets(trace, names, config, _scenario_file(scenario))
    bar = RunBar(config.name, quiet=quiet)
    try:
        if report_dir is not None:
            from irqfwd.report import write_report

            results = write_report(report_dir, config, seed, costs, names, progress=bar)
        else:
            results = run_designs(config, names, seed, costs, trace=trace, trace_format=trace_format, progress=bar)
    finally:
        bar.close()
    _finish(report(config.name, seed, {d: summarize_result(r) for d, r in results.items()}), as_json, f"{config.name} (seed {seed}): {config.description}")


def list_cmd() -> None:
    """List the built-in scenarios and the delivery designs."""
    from rich.console import Console
    from rich.table import Table

    from irqfwd.scenarios.builtin import get_scenario, scenario_names

    table = Table(title="scenarios", title_justify="left")
    table.add_column("name")
    table.add_column("description")
    for name in scenario_names():
        table.add_row(name, get_scenario(name).description)
    console = Console(highlight=False)
    console.print(table)
    console.print("designs: " + ", ".join(known_designs()))


def register(app: typer.Typer) -> None:
    """Add ``run``, ``compare``, ``list`` and ``state`` to the ``irqfwd`` command."""
    app.command("run")(run_cmd)
    app.command("compare")(compare_cmd)
    app.command("list")(list_cmd)
    app.command("state")(state_cmd)


def state_cmd(
    scenario: ScenarioArg,
    at: Annotated[str, typer.Option("--at", help="Simulated time of the snapshot, at most the scenario's duration (e.g. 1ms, 250us, 12000).")],
    design: Annotated[str, typer.Option("--design", "-d", help="Delivery design.")] = "irqfd-resample",
    overrides: SetOpt = None,
    seed: SeedOpt = None,
    gic: GicOpt = None,
) -> None:
    """Print the vgic state (KVM debugfs vgic-state layout), the list registers and the
    distributor state of SCENARIO at simulated time --at."""
    from irqfwd.scenarios.builtin import parse_duration
    from irqfwd.system.state import state_at

    _check_design(design)
    try:
        at_ns = parse_duration(at)
    except ValueError as exc:
        raise InputError(f"--at: {exc}") from None
    config, seed, costs = prepare(scenario, overrides, seed, gic)
    if at_ns > config.duration_ns:
        from irqfwd.cli.progress import fmt_sim_ns

        raise InputError(f"--at {at}: past the end of scenario {config.name!r}, whose duration is "
                         f"{fmt_sim_ns(config.duration_ns)} ({config.duration_ns} ns); give a time up to "
                         f"{config.duration_ns} ns (or a longer --set duration=...)")
    typer.echo(state_at(config, design, at_ns, seed=seed, costs=costs), nl=False)
