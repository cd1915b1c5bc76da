"""Exhaustive exploration of event orderings, counter-examples and their replay.

``irqfwd explore SCENARIO`` runs a small scenario under a design again and again, each time
with the events that may happen at the same time or race in another order, and reports
every ordering that breaks an invariant as a replayable counter-example.

What may be reordered
---------------------
The engine (:mod:`irqfwd.sim.engine`) runs its entries in (time, priority, sequence) order.
Here its :attr:`~irqfwd.sim.engine.Engine.chooser` is consulted before every entry, and
fast-forward is off (:attr:`~irqfwd.hw.machine.Machine.max_batch` = 1), so every pCPU step
boundary is an entry.  With ``t0`` the time of the earliest live entry *d* (the default
choice), the *candidates* are *d* and every other live entry *e* with:

* ``e`` due at ``t0`` with *d*'s priority (entries of one instant in any order; an
  ``URGENT`` hardware reaction still precedes software, a ``LATE`` bookkeeping entry still
  follows it);
* or ``e`` of ``NORMAL`` priority due within a window after ``t0`` (and *d* not
  ``URGENT``): ``e`` may run first, at ``t0`` (it is *advanced*; the clock never goes
  backwards).  The window depends on what ``e`` is:

  - **environment** events, whose timing nothing in the model fixes: a device event
    (``Nic`` arrival or moderation timer), an IPI in flight (a kick's reschedule SGI), a
    vCPU migration or a timeslice end: ``env_window_ns``;
  - the **VM teardown**: after ``duration_ns`` the explorer schedules a kill of every VM
    ``kill_window_ns`` later, which may be advanced to any earlier entry boundary, so the
    teardown meets every handler, injection and unmask in flight (the default run kills at
    the first guest handler entry, as :func:`~irqfwd.system.run.run_scenario` does);
  - anything else (a pCPU step, a timer, a host hrtimer): ``window_ns`` (default 0: only
    entries of the same instant).

An *ordering* is one run; a *decision point* is an entry boundary with more than one
candidate; a *deviation* is a decision point where the run does not take the default.
Orderings are explored breadth-first by number of deviations, up to ``max_deviations``
per ordering (every ordering with at most that many deviations is run, unless the state
at a decision point was already expanded with at least the same remaining budget) and
``max_orderings`` runs in all.  This is stateless model checking: each ordering re-runs the
scenario from scratch, following its deviations (a prefix), then the defaults.

State hashing
-------------
At every decision point where an ordering may still deviate, the explorer hashes the state
of the whole system (:func:`irqfwd.system.statehash.state_digest`: GIC, vgic, host, VFIO,
devices, guests, pCPUs, the engine's clock and pending entries, and the invariant
checker's bookkeeping).  A state already expanded with at least as many deviations left is
not expanded again: no state is visited twice.  ``states`` counts the distinct states.

Latency bound
-------------
An interrupt raised more than ``grace_ns`` before the end of an ordering (the VM teardown)
and never handled by the guest is a ``lost-interrupt``.  The bound is ``grace_ns`` (30 µs)
for every design but ``vmm-irqline``, whose main loop unmaps the device's BAR at every
interrupt (``vfio_mmap_set_enabled``: a ``KVM_SET_USER_MEMORY_REGION`` the model charges as
``memslot_update_ns``, 20 µs, of CPU time on the main loop's pCPU), so a vCPU migrated onto
that pCPU waits behind it: its bound is ``grace_ns + memslot_update_ns``
(:func:`grace_for`).

Designs a scenario does not apply to
------------------------------------
``vmm-irqline`` is QEMU's INTx path: level devices only.  :func:`inapplicable` says why a
design cannot run a scenario; ``irqfwd explore`` leaves such a design out when it explores
every design and says so.

Counter-examples and replay
---------------------------
A counter-example is a JSON file (``format`` ``irqfwd-replay/2``) holding the resolved
scenario (with its host kernel profile), the design, the seed, the cost profile, the exploration windows and the list of
deviations (decision point, chosen candidate, with the time and the name of the entry run
instead of the default one), plus the violations seen.  ``irqfwd run --replay FILE``
re-executes it (:func:`replay`) and checks at each deviation that the same entry is there
to be chosen (otherwise the model changed and the file says so).
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from irqfwd.check.invariants import InvariantChecker
from irqfwd.config import ScenarioConfig
from irqfwd.devices.nic import Nic
from irqfwd.devices.traffic import ArrivalMux
from irqfwd.errors import InputError
from irqfwd.fileio import atomic_write_text
from irqfwd.host.sched import Scheduler
from irqfwd.hw.machine import PhysCpu
from irqfwd.sim.costs import CostProfile
from irqfwd.sim.engine import NORMAL, URGENT, Engine, Entry
from irqfwd.system.build import System
from irqfwd.system.designs import DESIGNS, get_design, unsupported
from irqfwd.system.run import RunHooks, RunResult, run_scenario
from irqfwd.system.statehash import state_digest
from irqfwd.system.teardown import Teardown

__all__ = [
    "REPLAY_FORMAT",
    "Counterexample",
    "DesignReport",
    "ExploreOptions",
    "describe_entry",
    "explore_design",
    "grace_for",
    "inapplicable",
    "load_replay",
    "replay",
    "write_replay",
]

REPLAY_FORMAT: Final = "irqfwd-replay/2"



@dataclass(frozen=True)
class ExploreOptions:
    """Bounds and windows of an exploration (see the module docstring)."""

    window_ns: int = 0
    env_window_ns: int = 2_000
    kill_window_ns: int = 10_000
    max_deviations: int = 2
    max_orderings: int = 5_000
    grace_ns: int = 30_000
    """Raises and activations this close to the end are not yet expected to be complete."""
    state_hashing: bool = True
    stop_after: int = 0
    """Stop exploring a design after this many counter-examples (0: never)."""

    def check(self) -> None:
        """:class:`InputError` naming the first out-of-range option."""
        for name in ("window_ns", "env_window_ns", "kill_window_ns", "max_deviations", "grace_ns",
                     "stop_after"):
            if getattr(self, name) < 0:
                raise InputError(f"explore: {name} must be >= 0, got {getattr(self, name)}")
        if self.max_orderings < 1:
            raise InputError(f"explore: max_orderings must be >= 1, got {self.max_orderings}")

    def as_dict(self) -> dict[str, Any]:
        return {"window_ns": self.window_ns, "env_window_ns": self.env_window_ns,
                "kill_window_ns": self.kill_window_ns, "grace_ns": self.grace_ns}


# --------------------------------------------------------------------------- entries

def describe_entry(entry: Entry) -> tuple[str, str]:
    """``(kind, name)`` of an engine entry: kind ``env`` (environment event), ``kill`` (the
    explorer's VM teardown) or ``step`` (anything else); the name is for people."""
    cb = entry.callback
    args = entry.args
    owner = getattr(cb, "__self__", None)
    name = getattr(cb, "__name__", type(cb).__name__)
    if isinstance(owner, PhysCpu):
        return "step", f"cpu{owner.index} step"
    if isinstance(owner, ArrivalMux):  # a device's next arrival (one mux per device here)
        dev = getattr(owner.sink_for(entry.seq), "__self__", None)
        if isinstance(dev, Nic):
            return "env", f"{dev.name} event"
    if isinstance(owner, Nic):
        return "env", f"{owner.name} {'event' if name == '_arrival' else 'moderation timer'}"
    if name == "_dist_write" and type(owner).__name__ == "GicDriver":
        return "env", "IPI delivery"  # a reschedule/kick IPI in flight (kick_ipi_ns)
    if isinstance(owner, Scheduler):
        if name == "_migrate":
            return "env", "vCPU migration"
        if name == "_slice_expired" and args:
            return "env", f"timeslice end on cpu{getattr(args[0], 'index', '?')}"
    if isinstance(owner, Teardown):
        if name == "kill":
            return "kill", "VM teardown"
        return "step", f"teardown {name.strip('_')}"
    qual = getattr(cb, "__qualname__", None) or name
    return "step", str(qual)


def _label(entry: Entry) -> str:
    return describe_entry(entry)[1]


# --------------------------------------------------------------------------- one ordering

@dataclass
class Decision:
    """A deviation actually taken: at decision ``point`` (time ``time_ns``), candidate
    ``choice`` of ``candidates`` ran (``ran``) instead of the default (``instead_of``)."""

    point: int
    choice: int
    time_ns: int
    ran: str
    instead_of: str
    candidates: int

    def as_dict(self) -> dict[str, Any]:
        return {"point": self.point, "choice": self.choice, "time_ns": self.time_ns,
                "ran": self.ran, "instead_of": self.instead_of, "candidates": self.candidates}


class _Ordering(RunHooks):
    """The hooks of one run: installs the chooser and the floating VM teardown."""

    def __init__(self, opts: ExploreOptions, deviations: tuple[tuple[int, int], ...],
                 explorer: _Explorer | None = None,
                 expect: dict[int, tuple[str, str]] | None = None) -> None:
        self.opts = opts
        self.grace_ns = opts.grace_ns
        self.devs = dict(deviations)
        self.n_devs = len(deviations)
        self.expand_from = max(self.devs) + 1 if self.devs else 0
        self.explorer = explorer
        self.expect = expect
        self.point = 0
        self.decisions: list[Decision] = []
        self.system: System | None = None
        self.checker: InvariantChecker | None = None
        self._reach = max(opts.window_ns, opts.env_window_ns, opts.kill_window_ns)

    # RunHooks
    def built(self, system: System, checker: InvariantChecker) -> None:
        self.system = system
        self.checker = checker
        system.machine.max_batch = 1
        system.engine.chooser = self.choose

    def armed(self, system: System, teardown: Teardown) -> None:
        if self.opts.kill_window_ns:
            system.engine.schedule(self.opts.kill_window_ns, teardown.kill)

    # the engine's chooser
    def candidates(self, engine: Engine, limit: int) -> list[Entry]:
        pend = engine.pending()
        d = pend[0]
        t0 = d.time
        prio = d.priority
        out = [d]
        horizon = min(limit, t0 + self._reach)
        opts = self.opts
        for e in pend[1:]:
            t = e.time
            if t > horizon:
                break
            if t == t0 and e.priority == prio:
                out.append(e)
                continue
            if prio == URGENT or e.priority != NORMAL:
                continue
            kind = describe_entry(e)[0]
            w = opts.kill_window_ns if kind == "kill" else opts.env_window_ns if kind == "env" else opts.window_ns
            if t - t0 <= w:
                out.append(e)
        return out

    def choose(self, engine: Engine, limit: int) -> Entry:
        cands = self.candidates(engine, limit)
        n = len(cands)
        if n == 1:
            return cands[0]
        i = self.point
        self.point += 1
        k = self.devs.get(i, 0)
        if k >= n:
            raise _Diverged(i, f"decision point {i} has {n} candidate(s), the file chooses #{k}")
        if self.expect is not None and k:
            ran, instead = self.expect[i]
            if (_label(cands[k]), _label(cands[0])) != (ran, instead):
                raise _Diverged(i, f"decision point {i} at {engine.now} ns offers "
                                   f"{_label(cands[k])!r} instead of {_label(cands[0])!r}; "
                                   f"the file ran {ran!r} instead of {instead!r}")
        if self.explorer is not None and i >= self.expand_from:
            self.explorer.expand(self, i, n)
        if k:
            self.decisions.append(Decision(i, k, engine.now, _label(cands[k]), _label(cands[0]), n))
        return cands[k]


class _Diverged(Exception):
    def __init__(self, point: int, message: str) -> None:
        super().__init__(message)
        self.point = point


# --------------------------------------------------------------------------- exploring

@dataclass
class Counterexample:
    """One ordering that broke an invariant."""

    scenario: ScenarioConfig
    design: str
    seed: int
    costs: CostProfile
    options: ExploreOptions
    decisions: list[Decision]
    violations: list[dict[str, Any]]

    @property
    def rules(self) -> list[str]:
        return sorted({v["rule"] for v in self.violations})

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": REPLAY_FORMAT,
            "scenario": self.scenario.model_dump(mode="json"),
            "design": self.design,
            "seed": self.seed,
            "costs": self.costs.model_dump(mode="json"),
            "explore": self.options.as_dict(),
            "choices": [d.as_dict() for d in self.decisions],
            "violations": self.violations,
        }


@dataclass
class DesignReport:
    """What exploring one design found."""

    design: str
    fault: bool
    orderings: int = 0
    states: int = 0
    decision_points: int = 0
    pruned: int = 0
    complete: bool = False
    seconds: float = 0.0
    counterexamples: list[Counterexample] = field(default_factory=list)
    by_rule: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """A correct design with no counter-example, or a fault design whose bug was found."""
        return bool(self.counterexamples) == self.fault

    def summary(self) -> dict[str, Any]:
        return {
            "design": self.design,
            "fault": self.fault,
            "orderings": self.orderings,
            "states": self.states,
            "decision_points": self.decision_points,
            "pruned": self.pruned,
            "complete": self.complete,
            "seconds": round(self.seconds, 3),
            "counterexamples": len(self.counterexamples),
            "violations_by_rule": dict(sorted(self.by_rule.items())),
            "ok": self.ok,
        }


def grace_for(opts: ExploreOptions, design: str, costs: CostProfile) -> int:
    """The checker's grace window of an ordering of ``design`` (see "Latency bound")."""
    if get_design(design).injection == "irq-line":
        return opts.grace_ns + costs.memslot_update_ns
    return opts.grace_ns


def inapplicable(config: ScenarioConfig, design: str) -> str | None:
    """Why ``design`` cannot run ``config`` (None: it can): :func:`irqfwd.system.designs.unsupported`."""
    return unsupported(get_design(design), config)


class _Explorer:
    def __init__(self, opts: ExploreOptions) -> None:
        self.opts = opts
        self.work: deque[tuple[tuple[int, int], ...]] = deque([()])
        self.seen: dict[int, int] = {}
        self.points = 0
        self.pruned = 0

    def expand(self, run: _Ordering, point: int, n: int) -> None:
        self.points += 1
        left = self.opts.max_deviations - run.n_devs
        if left <= 0:
            return
        if self.opts.state_hashing:
            assert run.system is not None
            h = state_digest(run.system, run.checker)
            if self.seen.get(h, -1) >= left:
                self.pruned += 1
                return
            self.seen[h] = left
        base = tuple(sorted(run.devs.items()))
        for k in range(1, n):
            self.work.append((*base, (point, k)))


def explore_design(config: ScenarioConfig, design: str, *, seed: int, costs: CostProfile,
                   options: ExploreOptions | None = None,
                   on_counterexample: Any = None) -> DesignReport:
    """Explore the orderings of ``config`` under ``design`` (see the module docstring).

    ``on_counterexample(cx)`` is called for each violating ordering as it is found.
    """
    opts = options or ExploreOptions()
    opts.check()
    d = get_design(design)
    report = DesignReport(design, d.fault)
    grace = grace_for(opts, design, costs)
    ex = _Explorer(opts)
    t0 = time.perf_counter()
    while ex.work and report.orderings < opts.max_orderings:
        devs = ex.work.popleft()
        hooks = _Ordering(opts, devs, ex)
        hooks.grace_ns = grace
        result = run_scenario(config, design, seed=seed, costs=costs, hooks=hooks)
        report.orderings += 1
        if result.violations:
            cx = Counterexample(config, design, seed, costs, opts, hooks.decisions,
                                [v.as_dict() for v in result.violations])
            report.counterexamples.append(cx)
            for rule in cx.rules:
                report.by_rule[rule] = report.by_rule.get(rule, 0) + 1
            if on_counterexample is not None:
                on_counterexample(cx)
            if opts.stop_after and len(report.counterexamples) >= opts.stop_after:
                break
    report.complete = not ex.work
    report.states = len(ex.seen)
    report.decision_points = ex.points
    report.pruned = ex.pruned
    report.seconds = time.perf_counter() - t0
    return report


# --------------------------------------------------------------------------- replay files

def write_replay(path: Path, cx: Counterexample, what: str = "replay file") -> None:
    """Write ``cx`` to ``path``, all or nothing, never replacing an existing file."""
    text = json.dumps(cx.as_dict(), indent=2, sort_keys=True) + "\n"
    atomic_write_text(path, [text], what, exclusive=True)


_REPLAY_KEYS = {"format", "scenario", "design", "seed", "costs", "explore",
                "choices", "violations"}


@dataclass
class Replay:
    """A loaded replay file."""

    path: str
    config: ScenarioConfig
    design: str
    seed: int
    costs: CostProfile
    options: ExploreOptions
    choices: list[Decision]
    violations: list[dict[str, Any]]


def _field(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise InputError(f"{where}: missing field {key!r}")
    v = data[key]
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InputError(f"{where}: field {key!r} must be {names}, got {type(v).__name__}")
    return v


def parse_replay(text: str, where: str) -> Replay:
    """Validate the JSON of a replay file; :class:`InputError` names the field and the problem."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not a replay file: invalid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise InputError(f"{where}: not a replay file: expected a JSON object")
    fmt = data.get("format")
    if fmt != REPLAY_FORMAT:
        raise InputError(f"{where}: field 'format' must be {REPLAY_FORMAT!r}, got {fmt!r}")
    unknown = sorted(set(data) - _REPLAY_KEYS)
    if unknown:
        raise InputError(f"{where}: unknown field {unknown[0]!r}")
    scen = _field(data, "scenario", dict, where)
    try:
        config = ScenarioConfig.model_validate(scen)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{where}: scenario.{loc}: {err['msg'].removeprefix('Value error, ')}") from None
    design = _field(data, "design", str, where)
    if design not in DESIGNS:
        raise InputError(f"{where}: field 'design': unknown design {design!r} (known: {', '.join(DESIGNS)})")
    seed = _field(data, "seed", int, where)
    try:
        costs = CostProfile.model_validate(_field(data, "costs", dict, where))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{where}: costs.{loc}: {err['msg']}") from None
    ex = _field(data, "explore", dict, where)
    kw: dict[str, int] = {}
    for key in ("window_ns", "env_window_ns", "kill_window_ns", "grace_ns"):
        v = _field(ex, key, int, f"{where}: explore")
        if v < 0:
            raise InputError(f"{where}: explore: field {key!r} must be >= 0, got {v}")
        kw[key] = v
    unknown = sorted(set(ex) - set(kw))
    if unknown:
        raise InputError(f"{where}: explore: unknown field {unknown[0]!r}")
    options = ExploreOptions(window_ns=kw["window_ns"], env_window_ns=kw["env_window_ns"],
                             kill_window_ns=kw["kill_window_ns"], grace_ns=kw["grace_ns"])
    choices: list[Decision] = []
    last = -1
    for n, c in enumerate(_field(data, "choices", list, where)):
        w = f"{where}: choices[{n}]"
        if not isinstance(c, dict):
            raise InputError(f"{w}: expected an object")
        point = _field(c, "point", int, w)
        choice = _field(c, "choice", int, w)
        if point <= last:
            raise InputError(f"{w}: field 'point' must increase ({point} after {last})")
        if choice < 1:
            raise InputError(f"{w}: field 'choice' must be >= 1 (0 is the default), got {choice}")
        last = point
        choices.append(Decision(point, choice, _field(c, "time_ns", int, w), _field(c, "ran", str, w),
                                _field(c, "instead_of", str, w), _field(c, "candidates", int, w)))
    violations = _field(data, "violations", list, where)
    return Replay(where, config, design, seed, costs, options, choices, violations)


def load_replay(path: str | Path) -> Replay:
    """Read and validate a replay file; :class:`InputError` if unreadable or malformed."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such replay file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a replay file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read replay file: {exc}") from None
    return parse_replay(text, str(path))


def replay(rp: Replay, *, trace: Path | None = None,
           trace_format: str | None = None) -> tuple[RunResult, list[Decision]]:
    """Re-execute a counter-example (``trace``: stream its events to a file, as ``irqfwd run
    --trace``); returns the run and the deviations taken.

    :class:`InputError` if the model no longer offers the recorded choices (the file was
    made by another version of the model: re-run ``irqfwd explore``)."""
    devs = tuple((c.point, c.choice) for c in rp.choices)
    expect = {c.point: (c.ran, c.instead_of) for c in rp.choices}
    hooks = _Ordering(rp.options, devs, None, expect)
    hooks.grace_ns = grace_for(rp.options, rp.design, rp.costs)
    try:
        result = run_scenario(rp.config, rp.design, seed=rp.seed, costs=rp.costs,
                              trace=trace, trace_format=trace_format, hooks=hooks)
    except _Diverged as exc:
        raise InputError(f"{rp.path}: the model no longer follows this replay: {exc} "
                         "(re-run irqfwd explore to regenerate it)") from None
    if len(hooks.decisions) != len(rp.choices):
        missing = rp.choices[len(hooks.decisions)]
        raise InputError(f"{rp.path}: the model no longer follows this replay: the run ended "
                         f"after {hooks.point} decision point(s), before point {missing.point} "
                         "(re-run irqfwd explore to regenerate it)")
    return result, hooks.decisions
