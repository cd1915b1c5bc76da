"""``irqfwd bench [--quick] [--json]``: how fast the models run on this machine.

Three measurements (wall clock; the only place irqfwd reports wall-clock figures):

1. **GIC model**: GICD/GICC MMIO accesses per second and GICC_IAR/EOIR/DIR round trips per
   second with 32 and with 988 SPIs (:func:`irqfwd.hw.gicv2.bench.run_gic_benchmark`), and
   the per-access cost ratio 988/32 (target ≤ 1.2: highest-priority-pending selection must
   not scan every interrupt).
2. **End-to-end simulator**: simulated guest interrupts handled per wall-clock second for
   ``compare nic-level`` (each default design), beside the event rate of a bare ``heapq``
   event loop doing the same number of push/pop pairs with trivial callbacks, measured in
   the same process (performance-anchors.md §3.1 describes that loop).  Medians of several
   repetitions; ``slowdown_vs_bare`` = bare loop events/s ÷ simulator engine events/s (how
   much real work one engine entry carries: a machine step chain runs inside one entry).
   The run is ``nic-level`` stretched to 200 ms (20 ms with ``--quick``) so that set-up is
   a small part of it.
3. **Memory**: peak traced allocation (``tracemalloc``) of one ``nic-level`` run per design.

``--quick`` shortens every measurement (for CI smoke runs); figures are then noisier.
"""

from __future__ import annotations

import heapq
import json
import os
import platform
import statistics
import time
import tracemalloc
from typing import Annotated, Any

import typer

__all__ = ["bare_heap_loop", "machine_description", "register", "run_bench"]

GIC_TARGET_RATIO = 1.2


def machine_description() -> dict[str, Any]:
    """CPU model, logical CPU count, Python implementation/version (for docs/performance.md)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "cpu model")):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": model,
        "logical_cpus": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "system": f"{platform.system()} {platform.release()}",
    }


def _noop(_arg: int) -> None:
    return None


def bare_heap_loop(events: int, queue: int = 16) -> float:
    """Seconds to run ``events`` heappop/heappush pairs of ``[time, prio, seq, fn, args]`` entries.

    The heap holds ``queue`` entries throughout (each callback re-schedules one entry),
    the same list-entry layout and callback call as :class:`irqfwd.sim.engine.Engine`.
    """
    heap: list[list[Any]] = [[i, 1, i, _noop, (i,)] for i in range(queue)]
    heapq.heapify(heap)
    pop, push = heapq.heappop, heapq.heappush
    seq = queue
    start = time.perf_counter()
    for _ in range(events):
        entry = pop(heap)
        entry[3](*entry[4])
        seq += 1
        push(heap, [entry[0] + 7 + (seq & 15), 1, seq, _noop, (seq,)])
    return time.perf_counter() - start


def _gic_section(quick: bool) -> dict[str, Any]:
    from irqfwd.hw.gicv2.bench import run_gic_benchmark

    seconds, repeats = (0.4, 3) if quick else (3.0, 5)
    small = run_gic_benchmark(64, seconds, repeats)
    large = run_gic_benchmark(1020, seconds, repeats)
    ratio_mmio = small["mmio_per_s"] / large["mmio_per_s"]
    ratio_rt = small["roundtrips_per_s"] / large["roundtrips_per_s"]
    keep = ("num_irqs", "spis", "repeats", "mmio_per_s", "roundtrips_per_s", "ns_per_access", "ns_per_roundtrip")
    return {
        "small": {k: small[k] for k in keep},
        "large": {k: large[k] for k in keep},
        "cost_ratio_mmio": ratio_mmio,
        "cost_ratio_roundtrip": ratio_rt,
        "target_ratio": GIC_TARGET_RATIO,
        "ok": max(ratio_mmio, ratio_rt) <= GIC_TARGET_RATIO,
    }


def _sim_section(quick: bool, designs: tuple[str, ...]) -> dict[str, Any]:
    import importlib

    from irqfwd.scenarios.builtin import apply_overrides, get_scenario
    from irqfwd.sim.costs import load_profile

    run_scenario = importlib.import_module("irqfwd.sim.system").run_scenario
    duration, repeats = ("20ms", 3) if quick else ("200ms", 5)
    config = apply_overrides(get_scenario("nic-level"), [f"duration={duration}"])
    costs = load_profile(config.cost_profile)
    run_scenario(config, designs[0], seed=config.seed, costs=costs)  # warm-up (imports, caches)
    out: dict[str, Any] = {"scenario": "nic-level", "duration": duration, "repeats": repeats, "designs": {}}
    for design in designs:
        walls: list[float] = []
        bares: list[float] = []
        handled = events = 0
        for _ in range(repeats):
            t0 = time.perf_counter()
            result = run_scenario(config, design, seed=config.seed, costs=costs)
            walls.append(time.perf_counter() - t0)
            handled = int(result.recorder.counters["guest_irqs_handled"])
            events = int(result.events_run)
            bares.append(bare_heap_loop(events))
        wall, bare = statistics.median(walls), statistics.median(bares)
        sim_eps = events / wall
        bare_eps = events / bare if bare > 0 else float("inf")
        out["designs"][design] = {
            "guest_irqs_handled": handled,
            "engine_events": events,
            "wall_s_median": wall,
            "guest_irqs_per_wall_s": handled / wall,
            "sim_events_per_wall_s": sim_eps,
            "bare_heap_events_per_s": bare_eps,
            "ratio_sim_to_bare": sim_eps / bare_eps,
            "slowdown_vs_bare": bare_eps / sim_eps,
            "sim_ns_per_wall_s": config.duration_ns / wall,
        }
    return out


def _memory_section(designs: tuple[str, ...]) -> dict[str, Any]:
    import importlib

    from irqfwd.scenarios.builtin import get_scenario
    from irqfwd.sim.costs import load_profile

    run_scenario = importlib.import_module("irqfwd.sim.system").run_scenario
    config = get_scenario("nic-level")
    costs = load_profile(config.cost_profile)
    out: dict[str, Any] = {}
    for design in designs:
        tracemalloc.start()
        try:
            run_scenario(config, design, seed=config.seed, costs=costs)
            _cur, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        out[design] = {"peak_bytes": peak, "peak_mib": round(peak / 2**20, 3)}
    return out


def run_bench(quick: bool = False, designs: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Run all three benchmark sections and return their figures."""
    from irqfwd.cli.run import DEFAULT_COMPARE_DESIGNS

    chosen = designs or DEFAULT_COMPARE_DESIGNS
    return {
        "machine": machine_description(),
        "quick": quick,
        "gic": _gic_section(quick),
        "simulator": _sim_section(quick, chosen),
        "memory": _memory_section(chosen),
    }


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
    sim = report["simulator"]
    t = Table(title=f"simulator: {sim['scenario']} for {sim['duration']} (median of {sim['repeats']})", title_justify="left")
    for col in ("design", "guest IRQs", "wall s", "IRQs/wall s", "engine ev/s", "bare heapq ev/s", "slowdown"):
        t.add_column(col, justify="right", no_wrap=True)
    for design, d in sim["designs"].items():
        t.add_row(
            design, str(d["guest_irqs_handled"]), f"{d['wall_s_median']:.3f}", f"{d['guest_irqs_per_wall_s']:,.0f}",
            f"{d['sim_events_per_wall_s']:,.0f}", f"{d['bare_heap_events_per_s']:,.0f}", f"{d['slowdown_vs_bare']:.0f}x",
        )
    console.print(t)
    mem = report["memory"]
    console.print(
        "peak traced memory of one nic-level run: "
        + ", ".join(f"{d} {v['peak_mib']:.2f} MiB" for d, v in mem.items())
    )


def bench_cmd(
    quick: Annotated[bool, typer.Option("--quick", help="Short measurements (noisier).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Benchmark the GIC model, the end-to-end simulator and its memory use."""
    report = run_bench(quick)
    if as_json:
        typer.echo(json.dumps(report, sort_keys=True, indent=2))
    else:
        _print(report)
    if not report["gic"]["ok"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``bench`` to the ``irqfwd`` command."""
    app.command("bench")(bench_cmd)
