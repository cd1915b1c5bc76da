"""Running a scenario under a design, and the summaries every front end prints.

* :func:`run_scenario`: build the system, start the devices, run ``duration_ns``, then tear
  the VMs down (:mod:`irqfwd.system.teardown`); deterministic for a given seed.
* :class:`RunSpec`: a picklable description of one run (resolved scenario, design, seed,
  cost profile, vgic variant), and :func:`run_spec` / :func:`run_summary` to execute it:
  what a sweep ships to a worker and gets back.
* :func:`summarize_result`: the JSON-ready summary of one run (counters, latency
  percentiles, invariant verdict); :func:`report` the ``run``/``compare`` JSON object.
* :func:`prepare`: resolve a scenario name or file, ``--set`` overrides and a seed.
* :class:`RunHooks`: optional observers of :func:`run_scenario` (the ordering explorer,
  :mod:`irqfwd.system.explore`, installs its choice hook and its teardown through them).

``trace=PATH`` streams the run's events to PATH through an exporter of :mod:`irqfwd.trace`
(``trace_format``, else chosen by the extension); the file appears, complete, when the run
ends (a failed run leaves none).

``progress=`` (a :class:`RunProgress`) is told the simulated time and the guest interrupts
handled about every :attr:`RunProgress.interval_s` of wall time (the ``irqfwd run`` /
``compare`` progress bar).  The engine then runs in successive slices of simulated time
(:func:`advance`) while the machine's fast-forward horizon stays where an unobserved run
puts it, so the same entries run in the same order and every output, ``events_run``
included, is identical with and without it (``tests/system/test_progress.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from irqfwd.check.invariants import InvariantChecker, Violation
from irqfwd.config import ScenarioConfig
from irqfwd.devices.traffic import ArrivalMux, arrivals
from irqfwd.errors import InputError
from irqfwd.scenarios.builtin import apply_overrides, load_scenario
from irqfwd.sim.costs import CostProfile, load_profile
from irqfwd.sim.metrics import Listener, Recorder
from irqfwd.system.build import System, build_system
from irqfwd.system.designs import GIC_ORDER, NAMES, check_designs
from irqfwd.system.msi import start_msix
from irqfwd.system.observe import attach_trace, detach_trace
from irqfwd.system.teardown import TEARDOWN_WINDOW_NS, Teardown
from irqfwd.trace import TraceSink, check_trace_path, resolve_format

__all__ = [
    "COUNTERS",
    "DEFAULT_COMPARE_DESIGNS",
    "HOST_CPU_CATEGORIES",
    "LATENCY_PATHS",
    "RunHooks",
    "RunProgress",
    "RunResult",
    "RunSpec",
    "advance",
    "cpu_time_summary",
    "handled_irqs",
    "known_designs",
    "prepare",
    "report",
    "run_designs",
    "run_scenario",
    "run_spec",
    "run_summary",
    "summarize_result",
    "trace_path_for",
    "with_gic",
]

DEFAULT_COMPARE_DESIGNS = ("vmm-irqline", "irqfd-resample", "forwarded", "forwarded-direct", "sw-deactivate")
"""The designs ``irqfwd compare`` runs by default."""

COUNTERS = (
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
"""Counters always present in a summary (0 when a design never touches them)."""
LATENCY_PATHS = ("assert_to_guest_handler", "assert_to_phys_deactivate")
"""The two measured latency paths, listed first in tables."""


@dataclass
class RunResult:
    """Outcome of one :func:`run_scenario`."""

    config: ScenarioConfig
    design: str
    seed: int
    recorder: Recorder
    checker: InvariantChecker
    sim_time_ns: int
    events_run: int
    system: System | None = field(default=None, repr=False)
    trace_path: Path | None = None
    """The trace file written (``trace=``), if any."""

    @property
    def counters(self) -> dict[str, int]:
        return dict(self.recorder.counters)

    @property
    def violations(self) -> list[Violation]:
        """The invariant violations of the run."""
        return list(self.checker.violations)


class RunHooks:
    """Observers of one :func:`run_scenario` (every method does nothing by default)."""

    grace_ns: int | None = None
    """The invariant checker's grace window (None: :data:`DEFAULT_GRACE_NS`)."""

    def built(self, system: System, checker: InvariantChecker) -> None:
        """Called once the system and its checker exist, before anything runs."""

    def armed(self, system: System, teardown: Teardown) -> None:
        """Called after ``duration_ns``, once the teardown is armed."""


class RunProgress:
    """Receives the progress of runs (the default ignores it): what a progress bar draws.
    Observing a run never changes it (:func:`advance`)."""

    interval_s: float = 0.1
    """Wall-clock seconds between two :meth:`update` calls (at most one per slice)."""

    def start(self, design: str, end_ns: int) -> None:
        """A run of ``design`` starts; its traffic stops at simulated ``end_ns`` (the VMs
        are torn down after it)."""

    def update(self, now_ns: int, irqs: int) -> None:
        """The run is at simulated ``now_ns`` and the guests have handled ``irqs``
        interrupts (device and timer)."""

    def stop(self, now_ns: int, irqs: int) -> None:
        """The run ended (also after an exception) at ``now_ns`` with ``irqs`` handled."""


def handled_irqs(system: System) -> int:
    """Guest interrupts handled so far (device and timer), read without changing the recorder."""
    rec = system.recorder
    return rec.peek_counter("guest_irqs_handled") + rec.peek_counter("guest_timer_irqs")


FIRST_SLICE_NS = 10_000
"""The first slice of simulated time :func:`advance` runs before it looks at the clock."""


def advance(system: System, until: int, progress: RunProgress | None = None) -> None:
    """Run ``system`` to simulated ``until`` as :meth:`Machine.run` does; with ``progress``,
    in slices of simulated time sized to last about half of ``progress.interval_s`` each,
    calling ``progress.update`` between them at most every ``interval_s``.

    Only the engine's ``until`` is sliced: the machine's fast-forward horizon is ``until``
    for the whole call, as in :meth:`Machine.run`, so no pCPU step batch is split at a
    slice boundary (a batch may run past it; the next slice starts where it ended), and
    by the engine's rule 3 running to T1 then to T2 executes exactly the entries that
    running to T2 does, in the same order.  A :meth:`Engine.stop` ends the call as it ends
    :meth:`Engine.run`.
    """
    machine = system.machine
    if progress is None:
        machine.run(until)
        return
    engine = system.engine
    machine.horizon = until  # what Machine.run(until) sets: batches never pass it
    interval = progress.interval_s
    target = interval / 2
    slice_ns = FIRST_SLICE_NS
    clock = time.perf_counter
    last_update = clock()
    while True:
        t0 = clock()
        stop_at = min(engine.now + slice_ns, until)
        engine.run(until=stop_at)
        if engine.stopped or stop_at >= until:
            return
        now = clock()
        spent = now - t0
        if spent < target / 2:
            slice_ns *= 2
        elif spent > target * 2 and slice_ns > 1_000:
            slice_ns //= 2
        if now - last_update >= interval:
            last_update = now
            progress.update(engine.now, handled_irqs(system))


def run_scenario(config: ScenarioConfig, design: str, *, seed: int | None = None,
                 costs: CostProfile | None = None, tracing: bool = False,
                 trace: Path | None = None,
                 trace_format: str | None = None, observer: Listener | None = None,
                 hooks: RunHooks | None = None, progress: RunProgress | None = None) -> RunResult:
    """Run ``config`` under ``design``; deterministic for a given seed (``trace``/
    ``trace_format``: stream the events to a file;
    ``observer``: a listener that receives every event, e.g. a report's;
    ``hooks``: :class:`RunHooks`;
    ``progress``: told how far the run is, see :class:`RunProgress`)."""
    fmt = None
    if trace is not None:
        fmt = resolve_format(trace, trace_format)
        check_trace_path(trace)
    system = build_system(config, design, seed=seed, costs=costs, tracing=tracing)
    engine = system.engine
    sink: TraceSink | None = None
    if trace is not None or observer is not None:
        sink = attach_trace(system, trace, fmt, {"scenario": config.name, "design": system.design.name,
                                                 "seed": engine.seed}, observer)
    if progress is not None:
        progress.start(system.design.name, config.duration_ns)
    try:
        checker = _simulate(system, hooks, progress)
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    finally:
        if progress is not None:
            progress.stop(engine.now, handled_irqs(system))
    if trace is not None or observer is not None:
        detach_trace(system)
    if sink is not None:
        sink.close(engine.now)
    return RunResult(config, design, engine.seed, system.recorder, checker, engine.now,
                     engine.events_run, system, trace)


def _simulate(system: System, hooks: RunHooks | None = None,
              progress: RunProgress | None = None) -> InvariantChecker:
    """Start the devices, run the scenario, tear the VMs down; the finished checker."""
    config = system.config
    grace = hooks.grace_ns if hooks is not None else None
    checker = (InvariantChecker(system.recorder, system.design.name) if grace is None
               else InvariantChecker(system.recorder, system.design.name, grace_ns=grace))
    if hooks is not None:
        hooks.built(system, checker)
    engine = system.engine
    end = config.duration_ns
    # One engine entry for every device's next arrival, except when a chooser orders the
    # entries (irqfwd explore): each device's arrival is then an event of its own to move.
    mux = ArrivalMux(engine) if engine.chooser is None else None
    for w in system.devices:
        w.nic.start(arrivals(w.cfg.traffic, engine.rng, 0, end + TEARDOWN_WINDOW_NS), mux)
    for mw in system.msi_devices:
        start_msix(mw, engine.rng, end + TEARDOWN_WINDOW_NS)
    for dev, sender in system.ipis:
        sender.start(arrivals(dev.traffic, engine.rng, 0, end + TEARDOWN_WINDOW_NS))
    system.host.sched.start_migration()
    advance(system, end, progress)
    td = Teardown(system)
    td.arm()
    if hooks is not None:
        hooks.armed(system, td)
    advance(system, end + 2 * TEARDOWN_WINDOW_NS, progress)
    if not td.killed:
        td.kill()
        advance(system, end + 3 * TEARDOWN_WINDOW_NS, progress)
    if not td.done:
        td.teardown()
    checker.finish(engine.now)
    return checker


def trace_path_for(path: Path, design: str, designs: int) -> Path:
    """The trace file of ``design`` when ``designs`` designs are traced to ``path``: ``path``
    itself for one, else ``STEM.DESIGN.EXT`` beside it; a path that is no regular file
    (``/dev/null``, a FIFO) takes every design's trace, one after the other."""
    if designs <= 1 or (path.exists() and not path.is_file()):
        return path
    return path.with_name(f"{path.stem}.{design}{path.suffix}")


@dataclass(frozen=True)
class RunSpec:
    """One run, fully resolved and picklable: the scenario (its ``host.kernel`` chooses the
    host behaviour), the design, the seed and the cost profile (None: the scenario's)."""

    config: ScenarioConfig
    design: str
    seed: int
    costs: CostProfile | None = None
    tracing: bool = False
    labels: dict[str, Any] = field(default_factory=dict)
    """Free-form labels carried into the summary (e.g. a sweep's parameter values)."""


def run_spec(spec: RunSpec) -> RunResult:
    """Execute ``spec`` (:func:`run_scenario`)."""
    return run_scenario(spec.config, spec.design, seed=spec.seed, costs=spec.costs,
                        tracing=spec.tracing)


def run_summary(spec: RunSpec) -> dict[str, Any]:
    """Execute ``spec`` and return its JSON-ready summary (with the spec's identity)."""
    summary = summarize_result(run_spec(spec))
    summary["scenario"] = spec.config.name
    summary["design"] = spec.design
    summary["seed"] = spec.seed
    summary["labels"] = dict(spec.labels)
    return summary


def known_designs() -> tuple[str, ...]:
    """Design names the simulator accepts (:data:`irqfwd.system.designs.NAMES`)."""
    return NAMES


def prepare(scenario: str, overrides: list[str] | None, seed: int | None,
            gic: str | None = None) -> tuple[ScenarioConfig, int, CostProfile]:
    """Resolve a scenario name or file, its ``--set`` overrides, the GIC (``--gic``), the
    seed and the cost profile; :class:`InputError` if the scenario's own list of designs
    names an unknown one (:func:`~irqfwd.system.designs.check_designs`)."""
    config = load_scenario(scenario)
    if overrides:
        config = apply_overrides(config, overrides)
    check_designs(config)
    if gic is not None:
        config = with_gic(config, gic)
    if seed is None:
        seed = config.seed
    try:
        costs = load_profile(config.cost_profile)
    except ValueError as exc:
        raise InputError(f"cost_profile {config.cost_profile!r}: {exc}") from None
    return config, seed, costs


def with_gic(config: ScenarioConfig, gic: str) -> ScenarioConfig:
    """``config`` on GIC ``gic`` (``v2``, ``v3``, ``v4``, ``v4.1``); :class:`InputError` for
    another name or a scenario that cannot run on it (MSI-X devices need an ITS)."""
    if gic not in GIC_ORDER:
        raise InputError(f"--gic: unknown GIC {gic!r}; choose one of: {', '.join(GIC_ORDER)}")
    data = config.model_dump()
    data["gic"] = gic
    try:
        return ScenarioConfig.model_validate(data)
    except ValidationError as exc:
        msg = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise InputError(f"--gic {gic}: {msg}") from None


def run_designs(config: ScenarioConfig, designs: list[str], seed: int,
                costs: CostProfile | None = None, *, tracing: bool = False,
                trace: Path | None = None, trace_format: str | None = None,
                progress: RunProgress | None = None) -> dict[str, RunResult]:
    """Run ``config`` under each design; ``{design: RunResult}`` in the given order.  With
    ``trace``, each design's events go to :func:`trace_path_for` of it."""
    return {
        d: run_scenario(config, d, seed=seed, costs=costs, tracing=tracing,
                        trace=None if trace is None else trace_path_for(trace, d, len(designs)),
                        trace_format=trace_format, progress=progress)
        for d in designs
    }


def summarize_result(result: RunResult) -> dict[str, Any]:
    """The JSON-ready summary of one run: counters, latency_ns, invariants."""
    rec = result.recorder
    counters: dict[str, Any] = {name: 0 for name in COUNTERS}
    exits: dict[str, int] = {}
    for name, value in rec.counters.items():
        if name.startswith("exit:"):
            exits[name[5:]] = int(value)
        else:
            counters[name] = int(value)
    counters["exits"] = exits
    latency = {path: dict(stats.summary().items()) for path, stats in sorted(rec.latencies.items())}
    checker = result.checker
    violations = [
        {"time_ns": v.time_ns, "rule": v.rule, "intid": v.intid, "message": v.message}
        for v in checker.violations
    ]
    out = {
        "counters": counters,
        "latency_ns": latency,
        "invariants": {"checked": int(checker.checked), "violations": violations},
        "sim_time_ns": int(result.sim_time_ns),
        "events_run": int(result.events_run),
    }
    if result.system is not None:
        out["cpu_time_ns"] = cpu_time_summary(result.system.machine.cpu_time())
    return out


HOST_CPU_CATEGORIES = ("kvm", "hardirq", "kworker", "sched", "host", "vmm")
"""The categories of host CPU time a delivery design costs (halt polling, time the host
chooses to burn instead of idling, is reported beside them)."""


def cpu_time_summary(per_cpu: list[dict[str, int]]) -> dict[str, Any]:
    """Per pCPU and in total: ns per category, ``idle`` and ``wall``, and in the total
    ``host_total`` (the sum of :data:`HOST_CPU_CATEGORIES`)."""
    total: dict[str, int] = {}
    for row in per_cpu:
        for k, v in row.items():
            total[k] = total.get(k, 0) + v
    total["host_total"] = sum(total.get(k, 0) for k in HOST_CPU_CATEGORIES)
    return {"total": total, "per_cpu": per_cpu}


def report(scenario_name: str, seed: int, summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The ``run`` / ``compare`` JSON object."""
    return {"scenario": scenario_name, "seed": seed, "designs": summaries}
