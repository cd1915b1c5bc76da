"""The measurements behind ``irqfwd bench``: how fast the models run on this machine.

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

``--quick`` shortens every measurement (for CI smoke runs); figures are then noisier.
"""

from __future__ import annotations

import heapq
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from typing import Any

from irqfwd import _accel
from irqfwd.calibrate.gic_bench import compare_sizes
from irqfwd.scenarios.builtin import apply_overrides, get_scenario
from irqfwd.sim.costs import load_profile
from irqfwd.system.run import DEFAULT_COMPARE_DESIGNS, run_scenario

__all__ = [
    "SIM_TARGET_IRQS_PER_S",
    "aggregate",
    "bare_heap_loop",
    "machine_description",
    "pure_sim_section",
    "run_bench",
    "simulator_section",
]

GIC_TARGET_RATIO = 1.2
SIM_TARGET_IRQS_PER_S = 100_000
"""Issue 3's target: simulated guest interrupts per wall-clock second, one core."""


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
    """32 against 988 SPIs, interleaved, with paired cost ratios (:func:`compare_sizes`)."""
    seconds, repeats = (0.8, 3) if quick else (6.0, 5)
    both = compare_sizes(seconds, repeats)
    ratio_mmio, ratio_rt = both["cost_ratio_mmio"], both["cost_ratio_roundtrip"]
    keep = ("num_irqs", "spis", "repeats", "mmio_per_s", "roundtrips_per_s", "ns_per_access", "ns_per_roundtrip")
    return {
        "small": {k: both["small"][k] for k in keep},
        "large": {k: both["large"][k] for k in keep},
        "cost_ratio_mmio": ratio_mmio,
        "cost_ratio_roundtrip": ratio_rt,
        "target_ratio": GIC_TARGET_RATIO,
        "ok": max(ratio_mmio, ratio_rt) <= GIC_TARGET_RATIO,
    }


def sim_section(quick: bool, designs: tuple[str, ...]) -> dict[str, Any]:
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
    out["aggregate"] = aggregate(out["designs"])
    return out


def aggregate(designs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``compare nic-level`` as a whole: total guest IRQs ÷ total median wall time.

    Beside it, the bare ``heapq`` loop rate over the same total number of engine events,
    and whether the 100,000 IRQs/s target (:data:`SIM_TARGET_IRQS_PER_S`) is met.
    """
    irqs = sum(int(d["guest_irqs_handled"]) for d in designs.values())
    wall = sum(float(d["wall_s_median"]) for d in designs.values())
    events = sum(int(d["engine_events"]) for d in designs.values())
    bare_s = sum(int(d["engine_events"]) / float(d["bare_heap_events_per_s"]) for d in designs.values())
    rate = irqs / wall if wall > 0 else float("inf")
    return {
        "designs": list(designs),
        "guest_irqs_handled": irqs,
        "wall_s": wall,
        "guest_irqs_per_wall_s": rate,
        "engine_events": events,
        "bare_heap_events_per_s": events / bare_s if bare_s > 0 else float("inf"),
        "target_guest_irqs_per_wall_s": SIM_TARGET_IRQS_PER_S,
        "meets_target": rate >= SIM_TARGET_IRQS_PER_S,
    }


def pure_sim_section(quick: bool, designs: tuple[str, ...]) -> dict[str, Any]:
    """The simulator section measured again in a pure-Python subprocess (``IRQFWD_ACCEL=off``).

    Runs ``irqfwd bench --simulator-only`` (a hidden option) with the same interpreter, so
    that compiled and pure figures come from the same ``bench`` invocation and machine state.
    """
    env = {k: v for k, v in os.environ.items() if k != "IRQFWD_ACCEL"}
    env["IRQFWD_ACCEL"] = "off"
    cmd = [sys.executable, "-c", "from irqfwd.cli.main import main; main()", "bench",
           "--simulator-only", "--json", "--designs", ",".join(designs)]
    if quick:
        cmd.append("--quick")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"pure-Python bench subprocess failed ({proc.returncode}): {proc.stderr.strip()}")
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def memory_section(designs: tuple[str, ...]) -> dict[str, Any]:
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


def simulator_section(quick: bool, designs: tuple[str, ...], with_pure: bool) -> dict[str, Any]:
    """Simulator section + which build ran; with the compiled build, pure figures beside."""
    accel = _accel.status()
    sim = sim_section(quick, designs)
    sim["build"] = "compiled" if accel.active else "pure"
    sim["accel"] = accel.as_dict()
    if accel.active and with_pure:
        try:
            pure = pure_sim_section(quick, designs)["simulator"]
        except (RuntimeError, ValueError, KeyError) as exc:  # reported, never a traceback
            sim["pure_error"] = str(exc)
            return sim
        sim["pure"] = {"designs": pure["designs"], "aggregate": pure["aggregate"], "build": pure["build"]}
        speed = {
            d: sim["designs"][d]["guest_irqs_per_wall_s"] / pure["designs"][d]["guest_irqs_per_wall_s"]
            for d in designs
        }
        speed["aggregate"] = (
            sim["aggregate"]["guest_irqs_per_wall_s"] / pure["aggregate"]["guest_irqs_per_wall_s"]
        )
        sim["compiled_over_pure"] = speed
    return sim


def run_bench(quick: bool = False, designs: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Run all three benchmark sections and return their figures."""
    chosen = designs or DEFAULT_COMPARE_DESIGNS
    return {
        "machine": machine_description(),
        "quick": quick,
        "gic": _gic_section(quick),
        "simulator": simulator_section(quick, chosen, with_pure=True),
        "memory": memory_section(chosen),
    }
