"""``irqfwd run``, ``irqfwd compare`` and ``irqfwd list``: simulate scenarios under delivery designs.

``irqfwd run SCENARIO [--design D] [--set key=value ...] [--seed N] [--json] [--trace FILE]``
``irqfwd compare SCENARIO [--designs D1,D2,...] [--set ...] [--seed N] [--json]``

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

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from irqfwd.errors import InputError
from irqfwd.system.designs import NAMES

if TYPE_CHECKING:
    from irqfwd.config import ScenarioConfig
    from irqfwd.sim.costs import CostProfile

__all__ = [
    "DEFAULT_COMPARE_DESIGNS",
    "format_trace_line",
    "register",
    "run_designs",
    "summarize_result",
]

DEFAULT_COMPARE_DESIGNS = ("irqfd-resample", "forwarded", "forwarded-direct", "sw-deactivate")

# Counters always present in the JSON (0 when a design never touches them).
_COUNTERS = (
    "device_irqs_raised",
    "guest_irqs_handled",
    "exits_total",
    "maintenance_irqs",
    "vfio_mask",
    "vfio_unmask",
    "eventfd_signals",
    "resamplefd_signals",
    "lr_spills",
    "host_irqs",
    "phys_deactivate_guest",
    "phys_deactivate_host",
)
_LAT_PATHS = ("assert_to_guest_handler", "assert_to_phys_deactivate")

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


def known_designs() -> tuple[str, ...]:
    """Design names the simulator accepts (:data:`irqfwd.system.designs.NAMES`)."""
    return NAMES


def _check_design(name: str) -> str:
    known = known_designs()
    if name not in known:
        raise InputError(f"unknown design {name!r} (known: {', '.join(known)})")
    return name


def _prepare(scenario: str, overrides: list[str] | None, seed: int | None) -> tuple[ScenarioConfig, int, CostProfile]:
    from irqfwd.scenarios.builtin import apply_overrides, load_scenario
    from irqfwd.sim.costs import load_profile

    config = load_scenario(scenario)
    if overrides:
        config = apply_overrides(config, overrides)
    if seed is None:
        seed = config.seed
    try:
        costs = load_profile(config.cost_profile)
    except ValueError as exc:
        raise InputError(f"cost_profile {config.cost_profile!r}: {exc}") from None
    return config, seed, costs


def run_designs(
    config: ScenarioConfig, designs: list[str], seed: int, costs: CostProfile | None = None, *, tracing: bool = False
) -> dict[str, Any]:
    """Run ``config`` under each design; ``{design: RunResult}`` in the given order."""
    from irqfwd.system.build import run_scenario
    return {d: run_scenario(config, d, seed=seed, costs=costs, tracing=tracing) for d in designs}


def summarize_result(result: Any) -> dict[str, Any]:
    """The JSON-ready summary of one ``RunResult``: counters, latency_ns, invariants."""
    rec = result.recorder
    counters: dict[str, Any] = {name: 0 for name in _COUNTERS}
    exits: dict[str, int] = {}
    for name, value in rec.counters.items():
        if name.startswith("exit:"):
            exits[name[5:]] = int(value)
        else:
            counters[name] = int(value)
    counters["exits"] = exits
    latency = {
        path: {k: v for k, v in stats.summary().items()} for path, stats in sorted(rec.latencies.items())
    }
    checker = result.checker
    violations = [
        {"time_ns": v.time_ns, "rule": v.rule, "intid": v.intid, "message": v.message} for v in checker.violations
    ]
    return {
        "counters": counters,
        "latency_ns": latency,
        "invariants": {"checked": int(checker.checked), "violations": violations},
        "sim_time_ns": int(result.sim_time_ns),
        "events_run": int(result.events_run),
    }


def _report(scenario_name: str, seed: int, summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"scenario": scenario_name, "seed": seed, "designs": summaries}


def _per_irq(n: int, handled: int) -> str:
    return f"{n / handled:.2f}" if handled else ("0" if n == 0 else f"{n} total")


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
    paths = [p for p in _LAT_PATHS if any(p in s["latency_ns"] for s in items)]
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


def _fmt_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) and key in ("value", "misr", "hcr", "eisr", "elrsr"):
        return f"{value:#x}"
    if isinstance(value, str) and (not value or any(c.isspace() for c in value)):
        return json.dumps(value)
    return str(value)


def format_trace_line(time_ns: int, name: str, fields: dict[str, Any]) -> str:
    """One ftrace-like line: ``time_ns name key=value ...`` (fields in emission order)."""
    parts = [str(time_ns), name]
    parts += [f"{k}={_fmt_value(k, v)}" for k, v in fields.items()]
    return " ".join(parts)


def _write_trace(path: Path, result: Any, header: str) -> None:
    try:
        with path.open("w") as out:
            out.write(f"# tracer: irqfwd\n# {header}\n# time_ns event fields...\n")
            for time_ns, name, fields in result.recorder.trace:
                out.write(format_trace_line(time_ns, name, fields))
                out.write("\n")
    except OSError as exc:
        raise InputError(f"--trace {path}: cannot write: {exc.strerror or exc}") from None


def _finish(report: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(report, sort_keys=True, indent=2))
    else:
        _print_human(title, report["designs"])
    if any(s["invariants"]["violations"] for s in report["designs"].values()):
        raise typer.Exit(1)


def run_cmd(
    scenario: ScenarioArg,
    design: Annotated[str, typer.Option("--design", "-d", help="Delivery design.")] = "irqfd-resample",
    overrides: SetOpt = None,
    seed: SeedOpt = None,
    as_json: JsonOpt = False,
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Write the event trace (ftrace-like text) to FILE.", metavar="FILE")
    ] = None,
) -> None:
    """Run SCENARIO under one delivery design and print its metrics."""
    _check_design(design)
    if trace is not None and (trace.is_dir() or not trace.parent.is_dir()):
        raise InputError(f"--trace {trace}: not a writable file path")
    config, seed, costs = _prepare(scenario, overrides, seed)
    result = run_designs(config, [design], seed, costs, tracing=trace is not None)[design]
    if trace is not None:
        _write_trace(trace, result, f"scenario={config.name} design={design} seed={seed}")
    report = _report(config.name, seed, {design: summarize_result(result)})
    _finish(report, as_json, f"{config.name} (seed {seed})")


def compare_cmd(
    scenario: ScenarioArg,
    designs: Annotated[
        str, typer.Option("--designs", help="Comma-separated delivery designs.")
    ] = ",".join(DEFAULT_COMPARE_DESIGNS),
    overrides: SetOpt = None,
    seed: SeedOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run SCENARIO under several delivery designs and print them side by side."""
    names = [d.strip() for d in designs.split(",") if d.strip()]
    if not names:
        raise InputError("--designs: no design given")
    if len(set(names)) != len(names):
        raise InputError("--designs: a design is listed twice")
    for name in names:
        _check_design(name)
    config, seed, costs = _prepare(scenario, overrides, seed)
    results = run_designs(config, names, seed, costs)
    report = _report(config.name, seed, {d: summarize_result(r) for d, r in results.items()})
    _finish(report, as_json, f"{config.name} (seed {seed}): {config.description}")


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
    """Add ``run``, ``compare`` and ``list`` to the ``irqfwd`` command."""
    app.command("run")(run_cmd)
    app.command("compare")(compare_cmd)
    app.command("list")(list_cmd)
