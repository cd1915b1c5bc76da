"""Fit a cost profile on some measured micro-benchmarks, predict the others.

The simulated micro-benchmarks (:mod:`irqfwd.calibrate.microbench`) *are* the model: the
fit never writes down how a benchmark decomposes into cost parameters.  It measures it,
by running the benchmarks with perturbed profiles (a finite-difference Jacobian), and
solves a least-squares problem on the relative errors of the *fit targets*:

1. ``base`` = the prior profile with the :class:`~irqfwd.calibrate.platforms.Setting` s
   applied (parameters pinned to values that no held-out figure influenced);
2. the free :class:`Knob` s start at their prior values (1.0 for a scale);
3. Gauss-Newton: run the fit targets, the Jacobian column of each knob from one
   perturbed run, solve ``min Σ ((sim_i − measured_i) / measured_i)²`` by QR
   (modified Gram-Schmidt), step, clip at 0; keep the best point, stop when a step no
   longer improves it (the profile holds integer ns, so the optimum is reached to
   within rounding);
4. run every benchmark with the fitted profile: the fit targets are *fitted* rows, the
   others *predicted* rows, which no held-out figure influenced.

A knob that moves no fit target, or that the fit targets cannot tell apart from another
knob, is refused (:class:`~irqfwd.errors.InputError`): the fit would otherwise invent
its value.

A knob is either one cost parameter (its value in ns) or a scale factor over a group of
them (their prior values multiplied by one factor, proportions kept):

``world_switch``
    the exit and entry path every trap pays: ``trap_to_el2``, ``world_switch_out``,
    ``vgic_fold``, ``gich_save_fixed`` (exit) and ``vgic_flush``, ``gich_restore_fixed``,
    ``world_switch_in``, ``guest_entry`` (entry).
``cpu_scale``
    every cost parameter except those of the other free knobs and the pinned ones: one
    speed factor for a platform whose costs are assumed proportional to the prior's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from irqfwd.calibrate.microbench import BENCHMARKS
from irqfwd.calibrate.platforms import Platform, Setting
from irqfwd.errors import InputError
from irqfwd.sim.costs import CostProfile

__all__ = [
    "COST_PARAMS",
    "GROUPS",
    "NOT_EXERCISED",
    "ROLES",
    "FitResult",
    "Knob",
    "attribute",
    "fit_profile",
    "resolve_knob",
    "run_fit",
]

COST_PARAMS: tuple[str, ...] = tuple(k for k in CostProfile.model_fields if k.endswith("_ns"))
"""Every cost parameter of a profile, in declaration order."""

WORLD_SWITCH: tuple[str, ...] = (
    "trap_to_el2_ns", "world_switch_out_ns", "vgic_fold_ns", "gich_save_fixed_ns",
    "vgic_flush_ns", "gich_restore_fixed_ns", "world_switch_in_ns", "guest_entry_ns",
)
GROUPS: dict[str, tuple[str, ...] | None] = {"world_switch": WORLD_SWITCH, "cpu_scale": None}
"""Scale knobs by name; ``None``: every parameter not otherwise fixed (resolved per fit)."""

NOT_EXERCISED: tuple[str, ...] = (
    "maintenance_handler_ns", "wfi_block_ns", "vcpu_wakeup_ns",
    "vfio_handler_ns", "eventfd_signal_ns", "kworker_work_ns", "host_tick_ns",
    "halt_poll_check_ns", "irqfd_inject_ns", "resample_ns", "vfio_unmask_ns",
    "sched_switch_ns", "hrtimer_ns", "pci_cfg_access_ns", "vmm_fd_handler_ns",
    "kvm_irq_line_ns", "vfio_ioctl_ns", "vfio_region_access_ns", "memslot_update_ns",
    "guest_handler_ns", "guest_mmio_ack_ns", "guest_timer_handler_ns",
)
"""Cost parameters that no simulated micro-benchmark depends on (checked by
``tests/calibrate/test_fit.py``): VFIO, PCI configuration accesses, eventfd, irqfd, the
resampler, maintenance interrupts, WFI blocking and wake-up, the host tick and scheduler,
the VMM's ioctls.  No measured figure can fit or test them; their values are assumed.
(``gicd_access_ns`` and ``irqchip_state_ns`` are on ``mmio_read_user``'s path: the
return to the VMM is a ``vcpu_put``/``vcpu_load`` pair, and the arch timer's load writes
the vtimer PPI's Active state with ``irq_set_irqchip_state``.)"""

ROLES: dict[str, str] = {
    "fitted": "the value of a free knob, solved from the fit targets",
    "scaled": "in a group scaled by one fitted factor: the group's total is fitted, the "
              "split between its parameters is the prior's",
    "measured": "set from an independent measurement before the fit",
    "assumed": "the prior's value (or pinned by a setting), not fitted to any figure of "
               "this fit",
}
"""What a cost parameter's role in a fit means."""

MAX_ITERATIONS = 8
VALUE_STEP_NS = 20
"""Smallest finite-difference step of a value knob (ns); larger values step by 20%."""
SCALE_STEP = 0.1
"""Finite-difference step of a scale knob."""
RANK_TOLERANCE = 1e-6

Runner = Callable[[CostProfile, str], float]


def _run_bench(costs: CostProfile, name: str) -> float:
    value = BENCHMARKS[name](costs)
    if value is None:
        raise InputError(f"benchmark {name!r} is not available in this build")
    return float(value)


@dataclass(frozen=True)
class Knob:
    """A free variable of the fit: one parameter's ns, or a factor over a group."""

    name: str
    params: tuple[str, ...]
    kind: Literal["value", "scale"]

    def initial(self, base: CostProfile) -> float:
        return float(getattr(base, self.params[0])) if self.kind == "value" else 1.0

    def step(self, x: float) -> float:
        return max(float(VALUE_STEP_NS), 0.2 * abs(x)) if self.kind == "value" else SCALE_STEP

    def values(self, base: CostProfile, x: float) -> dict[str, int]:
        """The parameter values this knob sets at ``x``."""
        if self.kind == "value":
            return {self.params[0]: max(0, round(x))}
        return {p: max(0, round(getattr(base, p) * x)) for p in self.params}

    def describe(self, base: CostProfile, x: float) -> str:
        if self.kind == "value":
            return f"{self.name} = {max(0, round(x))} ns"
        return f"{self.name} ×{x:.3f} ({len(self.params)} parameters)"


def resolve_knob(name: str, fixed: Iterable[str] = ()) -> Knob:
    """The knob called ``name``: a group (``world_switch``, ``cpu_scale``) or a cost
    parameter.  ``fixed``: parameters ``cpu_scale`` must leave alone."""
    if name in GROUPS:
        params = GROUPS[name]
        if params is None:
            skip = set(fixed)
            params = tuple(p for p in COST_PARAMS if p not in skip)
        return Knob(name, params, "scale")
    if name in COST_PARAMS:
        return Knob(name, (name,), "value")
    raise InputError(
        f"--free: unknown knob {name!r}; a knob is a group ({', '.join(GROUPS)}) "
        f"or a cost parameter ({', '.join(COST_PARAMS)})"
    )


def _knobs(names: Iterable[str], settings: Iterable[Setting]) -> list[Knob]:
    names = list(names)
    if len(set(names)) != len(names):
        raise InputError(f"--free: a knob is named twice in {','.join(names)}")
    plain = [resolve_knob(n) for n in names if GROUPS.get(n, ()) is not None]
    fixed = {p for k in plain for p in k.params} | {s.param for s in settings}
    knobs = [resolve_knob(n, fixed) for n in names]
    seen: dict[str, str] = {}
    for k in knobs:
        for p in k.params:
            if p in seen:
                raise InputError(f"--free: {k.name} and {seen[p]} both move {p}")
            seen[p] = k.name
    return knobs


def _apply(base: CostProfile, knobs: list[Knob], x: list[float]) -> CostProfile:
    update: dict[str, int] = {}
    for k, v in zip(knobs, x, strict=True):
        update.update(k.values(base, v))
    return base.model_copy(update=update)


def _lstsq(jac: list[list[float]], rhs: list[float], knobs: list[Knob], targets: list[str]) -> list[float]:
    """``argmin_d ‖J d − rhs‖`` by modified Gram-Schmidt; refuses rank-deficient ``J``."""
    m, n = len(jac), len(knobs)
    cols = [[jac[i][j] for i in range(m)] for j in range(n)]
    for j, col in enumerate(cols):
        if all(abs(v) < 1e-12 for v in col):
            raise InputError(
                f"--free: {knobs[j].name} moves none of the fit targets "
                f"({', '.join(targets)}); fit a benchmark that depends on it or leave it out"
            )
    q: list[list[float]] = []
    r = [[0.0] * n for _ in range(n)]
    for j in range(n):
        v = list(cols[j])
        norm0 = math.sqrt(sum(a * a for a in v))
        for i in range(j):
            r[i][j] = sum(a * b for a, b in zip(q[i], v, strict=True))
            v = [a - r[i][j] * b for a, b in zip(v, q[i], strict=True)]
        norm = math.sqrt(sum(a * a for a in v))
        if norm <= RANK_TOLERANCE * norm0:
            others = ", ".join(k.name for k in knobs[:j])
            raise InputError(
                f"--free: the fit targets ({', '.join(targets)}) cannot tell {knobs[j].name} "
                f"apart from {others}: they move the targets in the same proportions"
            )
        r[j][j] = norm
        q.append([a / norm for a in v])
    qtb = [sum(a * b for a, b in zip(q[j], rhs, strict=True)) for j in range(n)]
    d = [0.0] * n
    for j in reversed(range(n)):
        d[j] = (qtb[j] - sum(r[j][k] * d[k] for k in range(j + 1, n))) / r[j][j]
    return d


@dataclass
class FitResult:
    """The fitted profile and how it was obtained."""

    profile: CostProfile
    base: CostProfile
    knobs: list[Knob]
    x: list[float]
    targets: list[str]
    settings: tuple[Setting, ...]
    iterations: int
    at_bound: list[str] = field(default_factory=list)

    def roles(self) -> dict[str, str]:
        """cost parameter → its role in this fit (:data:`ROLES`)."""
        out = dict.fromkeys(COST_PARAMS, "assumed")
        for s in self.settings:
            out[s.param] = s.role
        for k in self.knobs:
            for p in k.params:
                out[p] = "fitted" if k.kind == "value" else "scaled"
        return out


def fit_profile(
    prior: CostProfile,
    measured: Mapping[str, float],
    targets: Iterable[str],
    free: Iterable[str],
    settings: Iterable[Setting] = (),
    run: Runner = _run_bench,
) -> FitResult:
    """Fit the ``free`` knobs so that the ``targets`` reproduce ``measured``.

    Only ``measured[t]`` for ``t`` in ``targets`` is read: the figures of the other
    benchmarks cannot influence the result."""
    targets = list(targets)
    settings = tuple(settings)
    for t in targets:
        if t not in BENCHMARKS:
            raise InputError(f"--fit: unknown benchmark {t!r} (known: {', '.join(BENCHMARKS)})")
        if t not in measured:
            raise InputError(f"--fit: no measured figure for {t!r} on this platform")
        if measured[t] <= 0:
            raise InputError(f"--fit: the measured figure of {t!r} must be positive")
    if len(set(targets)) != len(targets) or not targets:
        raise InputError("--fit: name each benchmark once, at least one")
    for s in settings:
        if s.param not in COST_PARAMS:
            raise InputError(f"unknown cost parameter {s.param!r}")
    knobs = _knobs(free, settings)
    if not knobs:
        raise InputError("--free: at least one knob")
    if len(knobs) > len(targets):
        raise InputError(
            f"--free: {len(knobs)} knobs for {len(targets)} fit targets: the fit would be "
            "under-determined; fit more benchmarks or free fewer knobs"
        )
    base = prior.model_copy(update={s.param: s.value for s in settings})
    meas = [float(measured[t]) for t in targets]

    def residuals(x: list[float]) -> list[float]:
        prof = _apply(base, knobs, x)
        return [(run(prof, t) - m) / m for t, m in zip(targets, meas, strict=True)]

    def cost(r: list[float]) -> float:
        return sum(v * v for v in r)

    x = [k.initial(base) for k in knobs]
    r = residuals(x)
    best_x, best_cost = list(x), cost(r)
    iterations = 0
    while iterations < MAX_ITERATIONS:
        iterations += 1
        jac_cols = []
        for j, k in enumerate(knobs):
            h = k.step(x[j])
            xh = list(x)
            xh[j] += h
            rh = residuals(xh)
            jac_cols.append([(a - b) / h for a, b in zip(rh, r, strict=True)])
        jac = [[jac_cols[j][i] for j in range(len(knobs))] for i in range(len(targets))]
        d = _lstsq(jac, [-v for v in r], knobs, targets)
        x_new = [max(0.0, a + b) for a, b in zip(x, d, strict=True)]
        r_new = residuals(x_new)
        c_new = cost(r_new)
        if c_new >= best_cost:
            break
        best_x, best_cost = list(x_new), c_new
        x, r = x_new, r_new
        if all(abs(b) < 1e-3 * k.step(a) for k, a, b in zip(knobs, x, d, strict=True)):
            break
    profile = _apply(base, knobs, best_x)
    at_bound = [k.name for k, v in zip(knobs, best_x, strict=True) if v <= 0.0]
    return FitResult(profile, base, knobs, best_x, targets, settings, iterations, at_bound)


def attribute(costs: CostProfile, roles: Mapping[str, str], bench: str,
              run: Runner = _run_bench, total: float | None = None) -> dict[str, float]:
    """How many ns of ``bench`` come from the parameters of each role.

    A benchmark is a sum of the costs on its path, so the share of a role is what the
    figure loses when that role's parameters are set to 0; ``structure`` is what no
    parameter explains (the guest's spin granularity, the counter's tick)."""
    if total is None:
        total = run(costs, bench)
    out: dict[str, float] = {}
    for role in ROLES:
        params = [p for p, r in roles.items() if r == role]
        if not params:
            out[role] = 0.0
            continue
        zeroed = costs.model_copy(update=dict.fromkeys(params, 0))
        out[role] = total - run(zeroed, bench)
    out["structure"] = total - sum(out.values())
    return out


def run_fit(
    platform: Platform,
    prior: CostProfile,
    targets: Iterable[str] | None = None,
    free: Iterable[str] | None = None,
    extra_settings: Iterable[Setting] = (),
    measured_ns: Mapping[str, float] | None = None,
    run: Runner = _run_bench,
) -> tuple[dict[str, Any], CostProfile]:
    """Fit on ``platform`` and predict its held-out figures: the report (JSON-ready) and
    the fitted profile.

    ``measured_ns`` replaces the platform's figures of the benchmarks it names;
    ``extra_settings`` pin further parameters (they override the platform's)."""
    measured = {**platform.measured, **(measured_ns or {})}
    for name in measured:
        if name not in BENCHMARKS:
            raise InputError(f"measured figure for unknown benchmark {name!r}")
    chosen = list(targets) if targets is not None else list(platform.fit)
    pinned = {s.param: s for s in platform.settings}
    for s in extra_settings:
        pinned[s.param] = s
    result = fit_profile(prior, measured, chosen,
                         list(free) if free is not None else list(platform.free),
                         tuple(pinned.values()), run)
    roles = result.roles()
    rows: dict[str, Any] = {}
    for name, meas in measured.items():
        sim = run(result.profile, name)
        role = "fitted" if name in result.targets else "predicted"
        row: dict[str, Any] = {
            "role": role,
            "simulated_ns": round(sim, 1),
            "measured_ns": meas,
            "ratio": round(sim / meas, 3),
            "error_pct": round(100.0 * (sim - meas) / meas, 1),
        }
        if role == "predicted":
            row["attribution_ns"] = {k: round(v, 1) for k, v in
                                     attribute(result.profile, roles, name, run, sim).items()}
        rows[name] = row
    report = {
        "platform": platform.name,
        "title": platform.title,
        "source": platform.source,
        "note": platform.note if (tuple(result.targets) == platform.fit and tuple(
            k.name for k in result.knobs) == platform.free) else "",
        "fit": {
            "targets": result.targets,
            "free": [
                {"knob": k.name, "kind": k.kind, "params": list(k.params),
                 "prior": round(k.initial(result.base), 3), "value": round(v, 3),
                 "describe": k.describe(result.base, v)}
                for k, v in zip(result.knobs, result.x, strict=True)
            ],
            "iterations": result.iterations,
            "at_bound": result.at_bound,
            "rms_error_pct": round(100.0 * math.sqrt(
                sum(((rows[t]["simulated_ns"] - rows[t]["measured_ns"]) / rows[t]["measured_ns"]) ** 2
                    for t in result.targets) / len(result.targets)), 2),
        },
        "settings": [
            {"param": s.param, "value": s.value, "role": s.role, "source": s.source}
            for s in result.settings
            if roles[s.param] == s.role  # a setting a knob then moved was only its start
        ],
        "parameters": {
            p: {"value": getattr(result.profile, p), "role": roles[p]} for p in COST_PARAMS
        },
        "unmodelled": dict(platform.unmodelled),
        "not_exercised": [p for p in NOT_EXERCISED if roles[p] != "fitted"],
        "benchmarks": rows,
    }
    return report, result.profile
