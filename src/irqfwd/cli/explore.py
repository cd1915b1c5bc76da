"""``irqfwd explore``: run every ordering of a small scenario's racing events under each design.

``irqfwd explore SCENARIO [--designs D1,D2|all] [--deviations K] [--max-orderings N]
[--env-window T] [--kill-window T] [--window T] [--grace T] [--out DIR] [--keep N] [--json]``

For each design it prints the orderings explored, the distinct states visited (hashed at
every decision point), the decision points, the states not expanded again, whether the
bound was exhausted, the time taken and the counter-examples found by rule; then, per
design, the verdict and the first counter-example as an event list.  ``--out DIR`` (a new
or empty directory) receives up to ``--keep`` replay files per design, which ``irqfwd run
--replay FILE`` re-executes.

Exit status: 0 when no correct design has a counter-example; 1 when one has (every fault
design is expected to have some: a fault design without one is reported as "not
exhibited by this scenario"); 2 on bad input.  A design the scenario does not apply to
(``vmm-irqline`` with an edge device) is left out of ``--designs all`` with a note; named
explicitly, it is bad input.  The method is described in
:mod:`irqfwd.system.explore`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from irqfwd.cli.errors import parse_designs
from irqfwd.errors import InputError

__all__ = ["register"]


def _ns(text: str, option: str) -> int:
    from irqfwd.scenarios.builtin import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None


def _out_dir(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: not a directory")
    if out.is_dir() and any(out.iterdir()):
        raise InputError(f"--out {out}: directory is not empty; refusing to overwrite files in it")
    if not out.exists() and not out.parent.is_dir():
        raise InputError(f"--out {out}: parent directory {out.parent} does not exist")
    return out


def explore_cmd(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name (explore-2x2, ...) or a scenario .toml file.")],
    designs: Annotated[str, typer.Option("--designs", "-d", help="Comma-separated designs, or 'all'.")] = "all",
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override KEY=VALUE (as for 'irqfwd run'). Repeatable.",
                                                       metavar="KEY=VALUE")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (default: the scenario's).")] = None,
    deviations: Annotated[int, typer.Option("--deviations", "-k", help="Most non-default choices per ordering.", min=0)] = 2,
    max_orderings: Annotated[int, typer.Option("--max-orderings", help="Most orderings run per design.", min=1)] = 5000,
    window: Annotated[str, typer.Option("--window", help="Steps and timers due this close may run first (e.g. 0, 50ns).")] = "0",
    env_window: Annotated[str, typer.Option("--env-window", help="Device events, workqueue items, migrations and timeslice ends may come this much earlier.")] = "2us",
    kill_window: Annotated[str, typer.Option("--kill-window", help="The VM teardown may happen anywhere this long after the end.")] = "10us",
    grace: Annotated[str, typer.Option("--grace", help="Work started this close to the end need not be complete.")] = "30us",
    no_hashing: Annotated[bool, typer.Option("--no-state-hashing", help="Expand every decision point, even in states already seen.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write replay files of the counter-examples into this new or empty directory.",
                                             metavar="DIR")] = None,
    keep: Annotated[int, typer.Option("--keep", help="Replay files written per design (0: every counter-example).", min=0)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Explore every ordering of SCENARIO's racing events; report each broken invariant as a replay file."""
    from irqfwd.system.designs import DESIGNS
    from irqfwd.system.explore import ExploreOptions, explore_design, inapplicable, write_replay
    from irqfwd.system.run import prepare

    every = designs.strip() == "all"
    if every:
        names = list(DESIGNS)
    else:
        names = parse_designs(designs)
    opts = ExploreOptions(
        window_ns=_ns(window, "--window"), env_window_ns=_ns(env_window, "--env-window"),
        kill_window_ns=_ns(kill_window, "--kill-window"), max_deviations=deviations,
        max_orderings=max_orderings, grace_ns=_ns(grace, "--grace"), state_hashing=not no_hashing)
    opts.check()
    if out is not None:
        out = _out_dir(out)
    config, seed, costs = prepare(scenario, overrides, seed)
    skipped: dict[str, str] = {}
    for name in list(names):
        why = inapplicable(config, name)
        if why is not None:
            if not every:
                raise InputError(f"--designs: not for scenario {config.name!r}: {why}")
            skipped[name] = why
            names.remove(name)
    if out is not None:
        try:
            out.mkdir(exist_ok=True)
            os.close(os.open(out / ".irqfwd-probe", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
            (out / ".irqfwd-probe").unlink()
        except OSError as exc:
            raise InputError(f"--out {out}: cannot write replay files there: "
                             f"{exc.strerror or exc}") from None
    files: dict[str, list[str]] = {}
    reports = []
    for name in names:
        written: list[str] = files.setdefault(name, [])

        def save(cx: Any, name: str = name, written: list[str] = written) -> None:
            if out is not None and (keep == 0 or len(written) < keep):
                path = out / f"{config.name}-{name}-{len(written) + 1:04d}.json"
                write_replay(path, cx, "--out")
                written.append(str(path))

        reports.append(explore_design(config, name, seed=seed, costs=costs, options=opts,
                                      on_counterexample=save))
    bad = [r for r in reports if r.counterexamples and not r.fault]
    if as_json:
        doc = {
            "scenario": config.name,
            "seed": seed,
            "options": {**opts.as_dict(), "max_deviations": opts.max_deviations,
                        "max_orderings": opts.max_orderings, "state_hashing": opts.state_hashing},
            "designs": [r.summary() for r in reports],
            "designs_left_out": skipped,
            "first_counterexample": {
                r.design: r.counterexamples[0].as_dict()["choices"] for r in reports if r.counterexamples
            },
            "replay_files": {k: v for k, v in files.items() if v},
        }
        typer.echo(json.dumps(doc, indent=2, sort_keys=True))
    else:
        _print_human(config.name, seed, opts, reports, files, skipped)
    if bad:
        raise typer.Exit(1)


def _print_human(scenario: str, seed: int, opts: Any, reports: list[Any], files: dict[str, list[str]],
                 skipped: dict[str, str]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160
    table = Table(title=f"explore {scenario} (seed {seed}; ≤{opts.max_deviations} deviation(s) per ordering, "
                        f"env window {opts.env_window_ns} ns, teardown window {opts.kill_window_ns} ns, "
                        f"step window {opts.window_ns} ns)", title_justify="left")
    for col in ("design", "orderings", "states", "points", "pruned", "complete", "s", "cx", "rules broken"):
        table.add_column(col, justify="left" if col in ("design", "rules broken") else "right", no_wrap=True)
    for r in reports:
        rules = ", ".join(f"{k} ×{v}" for k, v in sorted(r.by_rule.items())) or "-"
        table.add_row(r.design, str(r.orderings), str(r.states), str(r.decision_points), str(r.pruned),
                      "yes" if r.complete else "no", f"{r.seconds:.1f}", str(len(r.counterexamples)), rules)
    console.print(table)
    console.print("orderings: runs; states: distinct states hashed at decision points; points: decision points "
                  "met; pruned: states not expanded again; complete: every ordering within the bound run; "
                  "cx: counter-examples")
    total = sum(r.orderings for r in reports)
    states = sum(r.states for r in reports)
    secs = sum(r.seconds for r in reports)
    console.print(f"{total} orderings explored, {states} states visited, {secs:.1f} s")
    for r in reports:
        if r.counterexamples and not r.fault:
            verdict = f"[bold red]BUG: {len(r.counterexamples)} ordering(s) break an invariant[/]"
        elif r.counterexamples:
            verdict = f"fault design: its bug found in {len(r.counterexamples)} ordering(s)"
        elif r.fault:
            verdict = "fault design: its bug is not exhibited by this scenario"
        else:
            verdict = "ok: no ordering breaks an invariant"
        console.print(f"{r.design}: {verdict}")
        if r.counterexamples:
            cx = r.counterexamples[0]
            steps = "; ".join(f"at {d.time_ns} ns ran {d.ran} before {d.instead_of}" for d in cx.decisions)
            console.print(f"  first: {steps or 'the default ordering'}", markup=False)
            v = cx.violations[0]
            console.print(f"  → {v['time_ns']} ns INTID {v['intid']}: {v['message']}", markup=False)
        for path in files.get(r.design, []):
            console.print(f"  replay: irqfwd run --replay {path}", markup=False)
    for name, why in skipped.items():
        console.print(f"{name}: left out: {why}", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``explore`` to the ``irqfwd`` command."""
    app.command("explore")(explore_cmd)
