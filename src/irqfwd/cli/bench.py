"""``irqfwd bench [--quick] [--json]``: how fast the models run on this machine.

Three measurements (wall clock; the only place irqfwd reports wall-clock figures):

1. **GIC model**: GICD/GICC MMIO accesses per second and GICC_IAR/EOIR/DIR round trips per
   second with 32 and with 988 SPIs, the two sizes interleaved round by round
   (:func:`irqfwd.calibrate.gic_bench.compare_sizes`), and the per-access cost ratio 988/32,
   the median of each round's paired ratio (target ≤ 1.2: highest-priority-pending
   selection must not scan every interrupt).
2. **End-to-end simulator**: simulated guest interrupts handled per wall-clock second for
   ``compare nic-level`` (each default design), beside the event rate of a bare ``heapq``
   event loop doing the same number of push/pop pairs with trivial callbacks, measured in
   the same process (the same entry layout and callback call as the engine).  Medians of several
   repetitions; ``slowdown_vs_bare`` = bare loop events/s ÷ simulator engine events/s (how
   much real work one engine entry carries: a machine step chain runs inside one entry).
   The run is ``nic-level`` stretched to 200 ms (20 ms with ``--quick``) so that set-up is
   a small part of it.
   The **aggregate** is the figure issue 3 names: total guest interrupts of the default
   ``compare nic-level`` designs ÷ total (median) wall time, against the target of
   100,000/s on one core (reported, not an exit status).
   The section says which build ran (:func:`irqfwd._accel.status`); when the compiled
   (mypyc) build is active, the same section is also measured in a pure-Python
   subprocess (``IRQFWD_ACCEL=off``) and the compiled/pure ratio is given per design.
3. **Memory**: peak traced allocation (``tracemalloc``) of one ``nic-level`` run per design.

Separate tables, each alone: ``--scaling`` and ``--memory-scaling`` (:mod:`irqfwd.calibrate.scaling`;
``--memory-scaling --trace FORMAT [--trace-dir DIR] [--counts N,N]`` streams each run's
trace to ``/dev/null`` or to a file in DIR), and ``--tracing``: the cost of tracing off, a
no-op tracer and each exporter (:mod:`irqfwd.calibrate.tracing`).  ``--scaling`` and
``--memory-scaling`` run design ``forwarded``: ``--designs`` or ``--tracing`` beside them is
refused (exit 2).

``--quick`` shortens every measurement (for CI smoke runs); figures are then noisier.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from irqfwd.calibrate.bench import run_bench, simulator_section
from irqfwd.calibrate.gicv3_bench import format_report as format_gicv3
from irqfwd.calibrate.gicv3_bench import run_gicv3_benchmark
from irqfwd.cli.errors import parse_designs
from irqfwd.errors import InputError
from irqfwd.system.run import DEFAULT_COMPARE_DESIGNS
from irqfwd.trace import FORMATS

__all__ = ["register"]


def _print(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 120
    m = report["machine"]
    console.print(f"machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, {m['python']}, {m['system']}")
    gic = report["gic"]
    t = Table(title="GICv2 model (medians)", title_justify="left")
    for col in ("SPIs", "MMIO accesses/s", "ns/access", "IAR+EOIR+DIR round trips/s", "ns/round trip"):
        t.add_column(col, justify="right")
    for key in ("small", "large"):
        r = gic[key]
        t.add_row(
            str(r["spis"]), f"{r['mmio_per_s']:,.0f}", f"{r['ns_per_access']:.0f}",
            f"{r['roundtrips_per_s']:,.0f}", f"{r['ns_per_roundtrip']:.0f}",
        )
    console.print(t)
    verdict = "ok" if gic["ok"] else "[bold red]ABOVE TARGET[/]"
    console.print(
        f"cost ratio 988/32 SPIs: MMIO {gic['cost_ratio_mmio']:.3f}, round trip "
        f"{gic['cost_ratio_roundtrip']:.3f} (target ≤ {gic['target_ratio']}): {verdict}"
    )
    for line in format_gicv3(report["gicv3"]):
        console.print(line, markup=False)
    _print_simulator(console, report["simulator"])
    mem = report["memory"]
    console.print(
        "peak traced memory of one nic-level run: "
        + ", ".join(f"{d} {v['peak_mib']:.2f} MiB" for d, v in mem.items())
    )


def _print_simulator(console: Any, sim: dict[str, Any]) -> None:
    from rich.table import Table

    pure = sim.get("pure")
    title = (
        f"simulator: {sim['scenario']} for {sim['duration']} (median of {sim['repeats']}), "
        f"{sim['build']} build"
    )
    t = Table(title=title, title_justify="left")
    cols = ["design", "guest IRQs", "wall s", "IRQs/wall s", "engine ev/s", "bare ev/s", "slowdown"]
    if pure:
        cols += ["pure IRQs/s", "vs pure"]
    for col in cols:
        t.add_column(col, justify="right", no_wrap=True)
    for design, d in sim["designs"].items():
        row = [
            design, str(d["guest_irqs_handled"]), f"{d['wall_s_median']:.3f}", f"{d['guest_irqs_per_wall_s']:,.0f}",
            f"{d['sim_events_per_wall_s']:,.0f}", f"{d['bare_heap_events_per_s']:,.0f}", f"{d['slowdown_vs_bare']:.0f}x",
        ]
        if pure:
            row += [f"{pure['designs'][design]['guest_irqs_per_wall_s']:,.0f}",
                    f"{sim['compiled_over_pure'][design]:.2f}x"]
        t.add_row(*row)
    a = sim["aggregate"]
    row = [
        "compare (all)", str(a["guest_irqs_handled"]), f"{a['wall_s']:.3f}", f"{a['guest_irqs_per_wall_s']:,.0f}",
        "", f"{a['bare_heap_events_per_s']:,.0f}", "",
    ]
    if pure:
        row += [f"{pure['aggregate']['guest_irqs_per_wall_s']:,.0f}", f"{sim['compiled_over_pure']['aggregate']:.2f}x"]
    t.add_row(*row, style="bold")
    console.print(t)
    verdict = "met" if a["meets_target"] else "[bold red]NOT met[/]"
    console.print(
        f"compare {sim['scenario']} aggregate: {a['guest_irqs_per_wall_s']:,.0f} guest IRQs/wall s "
        f"({sim['build']} build); target {a['target_guest_irqs_per_wall_s']:,}/s: {verdict}"
    )
    accel = sim["accel"]
    console.print(f"build: {accel['reason']} (IRQFWD_ACCEL={accel['mode']})", markup=False)
    if "pure_error" in sim:
        console.print(f"pure-Python comparison not measured: {sim['pure_error']}", markup=False)


def _tracing(quick: bool, as_json: bool, designs: tuple[str, ...]) -> None:
    from rich.console import Console
    from rich.table import Table

    from irqfwd import _accel
    from irqfwd.calibrate.bench import machine_description
    from irqfwd.calibrate.tracing import tracing_section

    build = "compiled" if _accel.status().active else "pure"
    report: dict[str, Any] = {"machine": machine_description(), "build": build, "quick": quick,
                              "tracing": tracing_section(quick, designs)}
    if as_json:
        typer.echo(json.dumps(report, sort_keys=True, indent=2))
        return
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 120
    m = report["machine"]
    console.print(f"machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, {m['python']}, {m['system']}; {build} build")
    tr = report["tracing"]
    for design, d in tr["designs"].items():
        t = Table(title=f"cost of tracing: {tr['scenario']} for {tr['duration']}, {design}, {d['guest_irqs']:,} guest "
                  f"IRQs, {d['events_per_irq']:.1f} events per IRQ (median of {tr['repeats']} interleaved runs)",
                  title_justify="left")
        for col in ("tracing", "CPU s", "wall s", "CPU µs / IRQ", "IRQs / CPU s", "vs off", "trace bytes",
                    "bytes / IRQ"):
            t.add_column(col, justify="right", no_wrap=True)
        for v, r in d["variants"].items():
            t.add_row(v, f"{r['cpu_s_median']:.3f}", f"{r['wall_s_median']:.3f}", f"{r['us_per_irq']:.2f}",
                      f"{r['irqs_per_cpu_s']:,.0f}", f"{r['ratio_cpu_vs_off']:.2f}x",
                      f"{r['trace_bytes']:,}" if r["trace_bytes"] else "", f"{r['bytes_per_irq']:,.0f}"
                      if r["trace_bytes"] else "")
        console.print(t)
        verdict = "met" if d["noop_within_target"] else "missed"
        console.print(f"no-op tracer against tracing off: {d['noop_ratio']:.3f}x (target at most "
                      f"{tr['noop_target']:.2f}x: {verdict})")


def _scaling(quick: bool, as_json: bool, scaling: bool, memory: bool, trace: str | None = None,
             trace_dir: Path | None = None, counts: tuple[int, ...] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    from irqfwd import _accel
    from irqfwd.calibrate.bench import machine_description
    from irqfwd.calibrate.scaling import memory_scaling, scaling_section

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160  # the scaling table is 11 columns wide
    build = "compiled" if _accel.status().active else "pure"
    report: dict[str, Any] = {"machine": machine_description(), "build": build, "quick": quick}
    if scaling:
        report["scaling"] = scaling_section(quick)
    if memory:
        report["memory_scaling"] = memory_scaling(
            counts or ((20_000, 200_000) if quick else (100_000, 10_000_000)), trace_format=trace, trace_dir=trace_dir)
    if as_json:
        typer.echo(json.dumps(report, sort_keys=True, indent=2))
        return
    m = report["machine"]
    console.print(f"machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, {m['python']}, {m['system']}; {build} build")
    if scaling:
        sc = report["scaling"]
        t = Table(title=f"cost per guest interrupt at {sc['total_rate_hz']:,} Hz in total, {sc['design']}, "
                  f"{sc['duration_ns'] / 1e6:.0f} ms simulated, median of {sc['repeats']} interleaved runs; "
                  "fixed path: kvm.halt_poll_ns=0, every point blocks and switches once per interrupt; "
                  "default host: KVM's halt polling", title_justify="left")
        for col in ("axis", "N", "guest IRQs", "events / IRQ", "switches / IRQ", "CPU µs / IRQ", "wall µs / IRQ",
                    "vs first", "default host: switches / IRQ", "CPU µs / IRQ", "vs first"):
            t.add_column(col, justify="right")
        for axis, a in sc["axes"].items():
            for n, p in a["points"].items():
                d = p["default_host"]
                t.add_row(axis, n, f"{p['guest_irqs']:,}", f"{p['events_per_irq']:.2f}", f"{p['switches_per_irq']:.2f}",
                          f"{p['us_per_irq']:.2f}", f"{p['wall_us_per_irq']:.2f}", f"{p['ratio']:.2f}x",
                          f"{d['switches_per_irq']:.2f}", f"{d['us_per_irq']:.2f}", f"{d['ratio']:.2f}x")
        console.print(t)
        verdicts = []
        for axis, a in sc["axes"].items():
            ok = "yes" if a["flat_within_25pct"] else "no"
            verdicts.append(f"{axis} {ok} (max {a['max_ratio']:.2f}x; default host {a['default_host_max_ratio']:.2f}x)")
        console.print("flat within 25% of the first point: " + ", ".join(verdicts))
    if memory:
        ms = report["memory_scaling"]
        traced = "tracing off" if ms["trace_format"] is None else f"{ms['trace_format']} trace to {ms['trace_to']}"
        t = Table(title=f"peak RSS of one run: nic-level, {ms['design']}, {ms['rate_hz']:,.0f} Hz, {traced}",
                  title_justify="left")
        cols = ["interrupts", "guest IRQs handled", "wall s", "peak RSS MiB", "after imports MiB", "at the end MiB"]
        if trace_dir is not None:
            cols += ["trace bytes", "bytes / IRQ"]
        for col in cols:
            t.add_column(col, justify="right")
        for n, r in ms["runs"].items():
            row = [f"{int(n):,}", f"{r['guest_irqs']:,}", f"{r['wall_s']:.1f}", f"{r['peak_rss_mib']:.1f}",
                   f"{r['start_rss_kib'] / 1024:.1f}", f"{r['end_rss_kib'] / 1024:.1f}"]
            if trace_dir is not None:
                row += [f"{r['trace_bytes']:,}", f"{r.get('trace_bytes_per_irq', 0):,.0f}"]
            t.add_row(*row)
        console.print(t)
        console.print(f"largest / smallest: {ms['ratio_last_to_first']:.3f} (target ≤ 1.10), "
                      f"under 300 MiB: {'yes' if ms['under_300_mib'] else 'no'}")


def _counts(raw: str) -> tuple[int, ...]:
    try:
        if not raw.isascii():  # int() reads full-width and other Unicode digits
            raise ValueError(raw)
        values = tuple(int(x.replace("_", "")) for x in raw.split(",") if x.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise InputError(f"--counts {raw}: expected positive interrupt counts, e.g. 100000,1000000")
    return values


def accel_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show whether the compiled (mypyc) build is in use, and why (IRQFWD_ACCEL)."""
    from irqfwd import _accel

    st = _accel.status()
    if as_json:
        typer.echo(json.dumps(st.as_dict(), sort_keys=True, indent=2))
        return
    typer.echo(f"mode: {st.mode}\nactive: {'yes' if st.active else 'no'}\nreason: {st.reason}")
    typer.echo(f"build dir: {st.build_dir}")
    if st.active:
        typer.echo(f"shared library: {st.shared_lib}\nmodules ({len(st.modules)}): {', '.join(st.modules)}")


def bench_cmd(
    quick: Annotated[bool, typer.Option("--quick", help="Short measurements (noisier).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    simulator_only: Annotated[bool, typer.Option("--simulator-only", hidden=True)] = False,
    designs: Annotated[
        str | None, typer.Option("--designs", help="Comma-separated designs (default: compare's).")
    ] = None,
    scaling: Annotated[
        bool, typer.Option("--scaling", help="Only the scaling table: cost per interrupt as VMs, vCPUs, "
                           "pCPUs, SPIs and list registers grow at the same total interrupt rate.")
    ] = False,
    memory_scaling: Annotated[
        bool, typer.Option("--memory-scaling", help="Only the memory table: peak RSS of 100,000 vs "
                           "10,000,000 interrupts (takes minutes).")
    ] = False,
    trace: Annotated[
        str | None, typer.Option("--trace", help=f"With --memory-scaling: stream each run's trace in this "
                                 f"format ({', '.join(FORMATS)}) to /dev/null, or to --trace-dir.", metavar="FORMAT")
    ] = None,
    trace_dir: Annotated[
        Path | None, typer.Option("--trace-dir", help="With --memory-scaling --trace: write the traces as real "
                                  "files in DIR (sizes reported, files deleted).", metavar="DIR")
    ] = None,
    counts: Annotated[
        str | None, typer.Option("--counts", help="With --memory-scaling: comma-separated interrupt counts "
                                 "(default 100000,10000000).", metavar="N,N,...")
    ] = None,
    tracing: Annotated[
        bool, typer.Option("--tracing", help="Only the cost of tracing: off, a no-op tracer and each exporter "
                           "(default designs: forwarded, irqfd-resample).")
    ] = False,
) -> None:
    """Benchmark the GIC model, the end-to-end simulator and its memory use."""
    if (trace is not None or trace_dir is not None or counts is not None) and not memory_scaling:
        raise InputError("--trace, --trace-dir and --counts go with --memory-scaling")
    if trace is not None and trace not in FORMATS:
        raise InputError(f"--trace {trace}: unknown format (known: {', '.join(FORMATS)})")
    if trace_dir is not None and (trace is None or not trace_dir.is_dir()):
        raise InputError(f"--trace-dir {trace_dir}: needs --trace FORMAT and an existing directory")
    sizes = _counts(counts) if counts is not None else None
    table = "--scaling" if scaling else "--memory-scaling" if memory_scaling else None
    if table is not None and designs is not None:
        from irqfwd.calibrate.scaling import DESIGN

        raise InputError(f"--designs: contradicts {table}, whose table runs design {DESIGN!r} only")
    if table is not None and tracing:
        raise InputError(f"--tracing: contradicts {table}: each is a table alone (run them one after the other)")
    if scaling or memory_scaling:
        _scaling(quick, as_json, scaling, memory_scaling, trace, trace_dir, sizes)
        return
    chosen = tuple(parse_designs(designs)) if designs is not None else DEFAULT_COMPARE_DESIGNS
    if tracing:
        _tracing(quick, as_json, chosen if designs else ("forwarded", "irqfd-resample"))
        return
    if simulator_only:  # internal: the pure-Python half of a compiled bench (pure_sim_section)
        typer.echo(json.dumps({"simulator": simulator_section(quick, chosen, with_pure=False)}, sort_keys=True))
        return
    report = run_bench(quick, chosen)
    report["gicv3"] = run_gicv3_benchmark(quick)
    if as_json:
        typer.echo(json.dumps(report, sort_keys=True, indent=2))
    else:
        _print(report)
    if not report["gic"]["ok"] or not report["gicv3"]["ok"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``bench`` and ``accel`` to the ``irqfwd`` command."""
    app.command("bench")(bench_cmd)
    app.command("accel")(accel_cmd)
