"""``irqfwd measure``: run an experiment on a real Linux KVM and print counts per interrupt.

Thin: options → :mod:`irqfwd.measure`.  Under QEMU (TCG) it boots Debian's arm64 kernel
with the project's VMM as /init; on an arm64 host with /dev/kvm it runs the VMM directly
and then also prints times.  ``--against-model`` runs the matching model scenario through
``irqfwd run --json`` and prints both side by side with a verdict per quantity.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from irqfwd.errors import InputError
from irqfwd.fileio import check_writable

__all__ = ["register"]

_TCG_NOTE = ("Counted under QEMU TCG: the counts are the real kernel's, the times are "
             "emulation's and are not meaningful, so none are printed.")


def _progress_printer(console: Any) -> tuple[Any, Any]:
    """A progress callback: a rich status line on a terminal, plain lines otherwise."""
    if console.is_terminal:
        status = console.status("starting", spinner="dots")
        status.start()

        def note(phase: str, detail: str) -> None:
            if phase == "kernel":
                console.print(f"[dim]kernel: {detail}[/]")
            status.update(f"{phase}: {detail}")

        return note, status.stop

    def plain(phase: str, detail: str) -> None:
        if phase != "boot" or detail.startswith("booting"):
            console.print(f"{phase}: {detail}", markup=False)

    return plain, lambda: None


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _print_experiment(console: Any, name: str, exp: dict[str, Any], host: str,
                      rows: list[Any] | None, model_cmd: str | None, note: str) -> None:
    from rich.table import Table

    from irqfwd.measure.model import explanation

    title = f"{name} on {host}: N={exp['n']}, {exp['reps']} repetitions, per interrupt"
    table = Table(title=title, title_justify="left")
    if rows is None:
        table.add_column("quantity")
        table.add_column("mean", justify="right")
        table.add_column("repetitions", justify="right")
        for key, q in exp["per_interrupt"].items():
            if "@" in key or all(abs(v) < 0.005 for v in q["reps"]):
                continue
            label = q["label"] + (" †" if q.get("timebased") else "")
            table.add_row(label, _fmt(q["mean"]), " ".join(f"{v:.2f}" for v in q["reps"]))
    else:
        for col in ("quantity", "measured", "model", "diff", "verdict"):
            table.add_column(col, justify="left" if col in ("quantity", "verdict") else "right")
        for r in rows:
            if "@" in r.key or (r.model is None and abs(r.measured) < 0.005):
                continue
            verdict = {"agrees": "agrees", "differs": "[bold red]differs[/]"}.get(r.verdict, r.verdict)
            why = explanation(name, r.key) if r.verdict == "differs" else None
            if why:
                verdict += f" ({why})"
            table.add_row(r.label, _fmt(r.measured), _fmt(r.model), _fmt(r.diff), verdict)
    console.print(table)
    times = exp.get("times")
    if times:
        el = times["elapsed_per_interrupt_ns"]["mean"]
        console.print(f"time per interrupt (wall clock of the run / N): {el / 1000:.1f} us")
        if "vtimer_late_ns" in times:
            console.print(f"vtimer handler entry after expiry: {times['vtimer_late_ns']['mean']:.0f} ns")
    if any(q.get("timebased") for q in exp["per_interrupt"].values()):
        console.print("[dim]† background that grows with the run's duration (under TCG a run "
                      "lasts several times longer than on hardware)[/]")
    if model_cmd:
        console.print(f"[dim]model: irqfwd {model_cmd}[/]")
    if note:
        console.print(f"[dim]{note}[/]")
    if rows is not None:
        agree = sum(r.verdict == "agrees" for r in rows if "@" not in r.key)
        differ = sum(r.verdict == "differs" for r in rows if "@" not in r.key)
        console.print(f"{agree} quantities agree, {differ} differ (tolerance 0.15 per interrupt)")


def measure_cmd(
    experiment: Annotated[list[str] | None, typer.Option(
        "--experiment", "-e",
        help="Experiment (level-resample, edge-irqfd, vtimer-idle, vtimer-busy, sgi) or 'all'. "
             "Repeatable.")] = None,
    host_gic: Annotated[str, typer.Option("--host-gic", help="The host's GIC: v2 or v3.")] = "v2",
    mode: Annotated[str, typer.Option("--mode", help="KVM mode: nvhe, vhe or protected.")] = "nvhe",
    halt_poll_ns: Annotated[int | None, typer.Option(
        "--halt-poll-ns", help="kvm.halt_poll_ns (default: the kernel's, 500000 on arm64).")] = None,
    n: Annotated[int | None, typer.Option("-n", help="Interrupts per run (default 50).")] = None,
    reps: Annotated[int, typer.Option("--reps", help="Repetitions (each with a baseline run).")] = 3,
    interval_us: Annotated[int | None, typer.Option(
        "--interval-us", help="Interrupt spacing in us (default: the experiment's).")] = None,
    where: Annotated[str, typer.Option(
        "--where", help="auto (native on arm64 with /dev/kvm, else qemu), qemu or native.")] = "auto",
    boot_timeout: Annotated[float, typer.Option(
        "--boot-timeout", help="Seconds the kernel may take to start the VMM.")] = 180.0,
    smp: Annotated[int, typer.Option("--smp", help="Host CPUs of the QEMU machine.")] = 2,
    out: Annotated[Path | None, typer.Option(
        "--out", help="JSON file to write (default out/measured/<host setting>.json; experiments "
                      "already in it for the same host setting are kept).")] = None,
    from_file: Annotated[Path | None, typer.Option(
        "--from", help="Print a measured file instead of measuring.")] = None,
    against_model: Annotated[bool, typer.Option(
        "--against-model", help="Run the matching model scenario and compare.")] = False,
    keep_log: Annotated[bool, typer.Option("--keep-log", help="Keep the console log.")] = False,
    raw_trace: Annotated[Path | None, typer.Option(
        "--raw-trace", help="Also write every traced event of every run to this file "
                            "(ftrace text; use a small N).")] = None,
) -> None:
    """Run an experiment on a real Linux KVM; print and write counts per interrupt."""
    from rich.console import Console

    from irqfwd.measure import experiments_from_names, measure
    from irqfwd.measure.experiments import EXPERIMENTS, HostSetting, parse_gic, parse_mode
    from irqfwd.measure.model import compare, model_command, run_model
    from irqfwd.measure.record import load_record, merge_records, write_json_atomic

    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    if from_file is not None:
        record = load_record(from_file)
        if experiment:
            wanted = [e.name for e in experiments_from_names(experiment)]
            missing = [w for w in wanted if w not in record["experiments"]]
            if missing:
                raise InputError(f"{from_file}: has no {', '.join(missing)} "
                                 f"(it has {', '.join(record['experiments'])})")
            record["experiments"] = {k: record["experiments"][k] for k in wanted}
    else:
        if n is not None and n <= 0:
            raise InputError(f"-n {n}: the number of interrupts must be at least 1")
        if smp < 1:
            raise InputError(f"--smp {smp}: must be at least 1")
        if not (math.isfinite(boot_timeout) and boot_timeout > 0):
            raise InputError(f"--boot-timeout {boot_timeout:g}: must be a positive number of seconds")
        setting = HostSetting(parse_gic(host_gic), parse_mode(mode), halt_poll_ns)
        exps = experiments_from_names(experiment or ["level-resample"])
        target = out if out is not None else Path("out") / "measured" / f"{setting.key}.json"
        # Before measuring: a path that cannot be written would lose the measurement.
        check_writable(target, "--out", missing_parents=True)
        old_record = None
        if target.exists():
            try:
                old_record = load_record(target)
            except InputError as exc:
                raise InputError(f"--out {target}: exists and is not a measured file ({exc}); "
                                 "refusing to replace it") from None
        if raw_trace is not None:
            check_writable(raw_trace, "--raw-trace", missing_parents=True)
        note, stop = _progress_printer(err)
        try:
            record = measure(setting, exps, n=n, reps=reps, interval_us=interval_us, where=where,
                             boot_timeout=boot_timeout, smp=smp, progress=note, keep_log=keep_log,
                             raw_trace=raw_trace)
        finally:
            stop()
        if target.exists():
            # read again: another run may have written it meanwhile
            try:
                old_record = load_record(target)
            except InputError as exc:
                raise InputError(f"--out {target}: changed during the measurement and is no "
                                 f"longer a measured file ({exc}); refusing to replace it") from None
        record_to_write = merge_records(old_record, record) if old_record is not None else record
        write_json_atomic(target, record_to_write, "--out")
        err.print(f"wrote {target}", markup=False)
    host = record["host"]
    prov = record["provenance"]
    detected = host.get("mode_detected")
    host_text = (f"GICv{host['gic']}/{detected or host['mode']}, halt_poll_ns "
                 f"{host.get('halt_poll_ns_effective', host.get('halt_poll_ns'))}")
    console.print(f"Linux {prov.get('kernel_release')} ({prov.get('kernel_package', '')}), "
                  f"{prov.get('qemu_version') or 'native KVM'}", markup=False)
    if detected and detected != host["mode"]:
        console.print(f"[yellow]note: asked for {host['mode']}, the kernel chose {detected}[/]")
    for name, exp in record["experiments"].items():
        rows = None
        cmd_text = None
        note_text = ""
        if against_model:
            spec = EXPERIMENTS.get(name)
            args = model_command(spec, exp["n"], exp["interval_us"]) if spec else None
            model = None
            if args is not None and spec is not None and spec.model is not None:
                model = run_model(spec, exp["n"], exp["interval_us"])
                cmd_text = " ".join(args) + " (net of the same run without interrupts)"
            elif spec is not None:
                note_text = spec.model_note
            rows = compare(exp["per_interrupt"], model)
        _print_experiment(console, name, exp, host_text, rows, cmd_text, note_text)
    if not record.get("times_meaningful"):
        console.print(_TCG_NOTE)
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    """Add ``measure`` to the ``irqfwd`` command."""
    app.command("measure")(measure_cmd)
