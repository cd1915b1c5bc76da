"""What tracing costs: ``irqfwd bench --tracing``.

One process, the same scenario (``nic-level`` stretched to 200 ms, 4,001 interrupts; 20 ms
with ``quick``) under each design, in these variants:

* ``off``: no tracer (every ``irqfwd run`` without ``--trace``);
* ``noop``: a tracer that does nothing (:class:`irqfwd.sim.metrics.NoopTracer`, compiled, attached as a trace is, with
  :func:`irqfwd.system.observe.attach_trace`): every event is produced and dispatched,
  nothing is formatted or written;
* ``ftrace``, ``json``, ``vcd``: each exporter writing a real file in a temporary
  directory (its size is reported, then it is deleted);
* ``ftrace-null``: the ftrace exporter writing to ``/dev/null`` (formatting without disk).

Repetitions are interleaved (every variant once, then again...) after a ``gc.collect()``
each, so that a change of the machine's load hits every variant alike; the figures are
medians of the process CPU time and of the wall time, and ``ratio`` is the median over
repetitions of (variant ÷ ``off`` of the same repetition).

With tracing off an emission site costs one test of :attr:`~irqfwd.sim.metrics.Event.live`
(no field is written, nothing is called); ``noop`` makes every site live, so its ratio is
the price of producing and dispatching the events themselves (``docs/performance.md``,
section 5).
"""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from irqfwd.scenarios.builtin import apply_overrides, get_scenario
from irqfwd.sim.costs import load_profile
from irqfwd.sim.metrics import Event, Listener, NoopTracer
from irqfwd.system.run import run_scenario

__all__ = ["VARIANTS", "NoopTracer", "tracing_section"]

VARIANTS: Final = ("off", "noop", "ftrace", "json", "vcd", "ftrace-null")
"""The measured variants, in this order in every repetition."""
NOOP_TARGET: Final = 1.05
"""Issue 11's target: tracing off within 5% of a run with a no-op tracer (``noop`` ÷ ``off``)."""
_EXT: Final = {"ftrace": ".txt", "json": ".json", "vcd": ".vcd"}


class _Count(Listener):
    def __init__(self) -> None:
        self.n = 0

    def on_event(self, ev: Event, time_ns: int) -> None:
        self.n += 1


def tracing_section(quick: bool = False, designs: tuple[str, ...] = ("forwarded", "irqfd-resample"),
                    repeats: int | None = None) -> dict[str, Any]:
    """Cost of each tracing variant per design (see the module docstring)."""
    duration = "20ms" if quick else "200ms"
    reps = repeats if repeats is not None else (3 if quick else 5)
    config = apply_overrides(get_scenario("nic-level"), [f"duration={duration}"])
    costs = load_profile(config.cost_profile)
    out: dict[str, Any] = {"scenario": "nic-level", "duration": duration, "repeats": reps,
                           "noop_target": NOOP_TARGET, "designs": {}}
    with tempfile.TemporaryDirectory(prefix="irqfwd-trace-bench-") as tmp:
        tmpdir = Path(tmp)

        def once(design: str, variant: str) -> tuple[float, float, int, int]:
            path: Path | None = None
            fmt: str | None = None
            observer: Listener | None = None
            if variant == "noop":
                observer = NoopTracer()
            elif variant == "ftrace-null":
                path, fmt = Path(os.devnull), "ftrace"
            elif variant != "off":
                path, fmt = tmpdir / f"{design}{_EXT[variant]}", variant
            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            r = run_scenario(config, design, seed=config.seed, costs=costs, trace=path, trace_format=fmt,
                             observer=observer)
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
            size = 0
            if path is not None and path.is_file():
                size = path.stat().st_size
                path.unlink()
            return cpu, wall, size, int(r.recorder.counters["guest_irqs_handled"])

        for design in designs:
            once(design, "ftrace")  # warm-up: the exporters' imports, caches
            counter = _Count()
            run_scenario(config, design, seed=config.seed, costs=costs, observer=counter)
            samples: dict[str, list[tuple[float, float, int, int]]] = {v: [] for v in VARIANTS}
            for _ in range(reps):
                for v in VARIANTS:
                    samples[v].append(once(design, v))
            irqs = samples["off"][-1][3]
            res: dict[str, Any] = {"guest_irqs": irqs, "events": counter.n,
                                   "events_per_irq": counter.n / irqs if irqs else 0.0, "variants": {}}
            for v in VARIANTS:
                s = samples[v]
                cpu = statistics.median(x[0] for x in s)
                wall = statistics.median(x[1] for x in s)
                ratio = statistics.median(x[0] / o[0] for x, o in zip(s, samples["off"], strict=True) if o[0] > 0)
                size = s[-1][2]
                res["variants"][v] = {
                    "cpu_s_median": cpu, "wall_s_median": wall, "ratio_cpu_vs_off": ratio,
                    "us_per_irq": cpu / irqs * 1e6 if irqs else 0.0,
                    "irqs_per_cpu_s": irqs / cpu if cpu > 0 else 0.0,
                    "trace_bytes": size, "bytes_per_irq": size / irqs if irqs else 0.0,
                }
            res["noop_ratio"] = res["variants"]["noop"]["ratio_cpu_vs_off"]
            res["noop_within_target"] = res["noop_ratio"] <= NOOP_TARGET
            out["designs"][design] = res
    return out
