"""irqfwd.calibrate.fit: the fit reproduces its targets, recovers known parameters, is a
least-squares minimum when over-determined, refuses knobs its targets cannot determine, and
predicts held-out figures from a profile those figures never influenced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from irqfwd.calibrate.fit import (
    COST_PARAMS,
    NOT_EXERCISED,
    WORLD_SWITCH,
    fit_profile,
    run_fit,
)
from irqfwd.calibrate.microbench import BENCHMARKS, run_microbenchmarks
from irqfwd.calibrate.platforms import DEFAULT_FIT, PLATFORMS, Platform
from irqfwd.errors import InputError
from irqfwd.sim.costs import CostProfile, load_profile

FAST = ("hvc", "mmio_read_vgic", "mmio_read_user", "eoi")


@pytest.fixture(scope="module")
def altra() -> CostProfile:
    return load_profile("altra")


def _bench(costs: CostProfile, name: str) -> float:
    value = BENCHMARKS[name](costs)
    assert value is not None
    return float(value)


def test_fit_reproduces_its_targets_from_a_wrong_prior(altra: CostProfile) -> None:
    """Started from a prior 30% off in the world switch and off in every free parameter,
    the Altra fit lands each fit target within 1% of its measured figure."""
    wrong = altra.model_copy(update={
        **{p: round(getattr(altra, p) * 1.3) for p in WORLD_SWITCH},
        "mmio_emul_kernel_ns": 400, "mmio_emul_user_ns": 500, "gicv_access_ns": 40,
    })
    platform = PLATFORMS["altra"]
    result = fit_profile(wrong, platform.measured, platform.fit, platform.free, platform.settings)
    for name in platform.fit:
        assert _bench(result.profile, name) == pytest.approx(platform.measured[name], rel=0.01), name


def test_fit_recovers_the_parameters_that_made_the_figures(altra: CostProfile) -> None:
    """Figures simulated from a known profile are fitted back to that profile's free
    parameters (within rounding), and its held-out figures are then predicted exactly:
    the procedure itself adds no error when the assumed parameters are right."""
    truth = altra.model_copy(update={
        **{p: round(getattr(altra, p) * 0.8) for p in WORLD_SWITCH},
        "mmio_emul_kernel_ns": 250, "mmio_emul_user_ns": 900, "gicv_access_ns": 20,
    })
    figures = {k: float(v) for k, v in run_microbenchmarks(truth).items() if v is not None}
    platform = Platform("synthetic", "synthetic", "simulated", figures,
                        free=("world_switch", "mmio_emul_kernel_ns", "mmio_emul_user_ns",
                              "gicv_access_ns"))
    report, fitted = run_fit(platform, altra)
    for p in ("mmio_emul_kernel_ns", "mmio_emul_user_ns", "gicv_access_ns", *WORLD_SWITCH):
        assert abs(getattr(fitted, p) - getattr(truth, p)) <= 2, p
    for name in ("ipi", "timer_10ms"):
        row = report["benchmarks"][name]
        assert row["role"] == "predicted"
        assert row["simulated_ns"] == pytest.approx(figures[name], abs=3), name


def test_overdetermined_fit_is_a_least_squares_minimum(altra: CostProfile) -> None:
    """Kunpeng 920: one speed factor for hvc and mmio_read_vgic together cannot match both;
    moving the fitted factor either way makes the sum of squared relative errors worse."""
    platform = PLATFORMS["kunpeng920"]
    result = fit_profile(altra, platform.measured, platform.fit, platform.free, platform.settings)

    def sse(costs: CostProfile) -> float:
        return sum(((_bench(costs, t) - platform.measured[t]) / platform.measured[t]) ** 2
                   for t in platform.fit)

    best = sse(result.profile)
    assert best > 0  # over-determined: not every target is met exactly
    scale = result.knobs[0]
    assert scale.name == "cpu_scale"
    for delta in (-0.02, 0.02):
        moved = result.profile.model_copy(update=scale.values(result.base, result.x[0] + delta))
        assert sse(moved) > best, delta


class _Guarded(dict[str, float]):
    """Measured figures whose held-out entries must not be read."""

    def __init__(self, data: dict[str, float], held_out: set[str]) -> None:
        super().__init__(data)
        self.held_out = held_out

    def __getitem__(self, key: str) -> float:
        assert key not in self.held_out, f"the fit read the held-out figure {key!r}"
        return super().__getitem__(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k in super().__iter__() if k not in self.held_out)


def test_fit_never_reads_a_held_out_figure(altra: CostProfile) -> None:
    """fit_profile reads only the measured figures of its fit targets."""
    platform = PLATFORMS["altra"]
    held_out = set(platform.measured) - set(platform.fit)
    assert held_out == {"ipi", "timer_10ms"}
    fit_profile(altra, _Guarded(dict(platform.measured), held_out), platform.fit,
                platform.free, platform.settings)


@pytest.mark.parametrize("platform", ["altra", "kunpeng920"])
def test_prediction_is_unchanged_when_the_held_out_figure_changes(altra: CostProfile, platform: str) -> None:
    """Replacing the held-out measured figures (ipi ×3, timer_10ms ÷5) leaves the fitted
    profile and the predicted figures unchanged; only their errors move."""
    p = PLATFORMS[platform]
    report, fitted = run_fit(p, altra)
    other = {"ipi": p.measured["ipi"] * 3, "timer_10ms": p.measured["timer_10ms"] / 5}
    report2, fitted2 = run_fit(p, altra, measured_ns=other)
    assert fitted2 == fitted
    for name in other:
        assert report2["benchmarks"][name]["simulated_ns"] == report["benchmarks"][name]["simulated_ns"]
        assert report2["benchmarks"][name]["measured_ns"] == other[name]
        assert report2["benchmarks"][name]["error_pct"] != report["benchmarks"][name]["error_pct"]


def test_altra_prediction_does_not_use_the_values_fitted_to_held_out_figures(altra: CostProfile) -> None:
    """The shipped profile's kick_ipi_ns and kvm_timer_irq_ns were fitted to ipi and
    timer_10ms; the Altra fit pins them to values set before those fits, so the prediction
    differs from the shipped profile's figure by exactly what they add."""
    report, fitted = run_fit(PLATFORMS["altra"], altra)
    pinned = {s.param: s.value for s in PLATFORMS["altra"].settings}
    assert fitted.kick_ipi_ns == pinned["kick_ipi_ns"] != altra.kick_ipi_ns
    assert fitted.kvm_timer_irq_ns == pinned["kvm_timer_irq_ns"] != altra.kvm_timer_irq_ns
    shipped_ipi = _bench(altra, "ipi")
    predicted_ipi = report["benchmarks"]["ipi"]["simulated_ns"]
    assert shipped_ipi - predicted_ipi == pytest.approx(altra.kick_ipi_ns - fitted.kick_ipi_ns, abs=15)
    assert report["parameters"]["kick_ipi_ns"]["role"] == "assumed"


def test_full_fit_gives_back_the_shipped_lumps(altra: CostProfile) -> None:
    """Fitting all six Altra figures with kick_ipi_ns and kvm_timer_irq_ns free yields the
    shipped values within 2% of the figure each closes: the shipped profile is this fit."""
    p = PLATFORMS["altra"]
    result = fit_profile(altra, p.measured, list(p.measured),
                         [*p.free, "kick_ipi_ns", "kvm_timer_irq_ns"], p.settings)
    assert abs(result.profile.kick_ipi_ns - altra.kick_ipi_ns) <= 0.02 * p.measured["ipi"]
    assert abs(result.profile.kvm_timer_irq_ns - altra.kvm_timer_irq_ns) <= 0.02 * p.measured["timer_10ms"]
    for name in p.measured:
        assert _bench(result.profile, name) == pytest.approx(p.measured[name], rel=0.005), name


def test_predicted_figure_follows_an_assumed_parameter_through_its_attribution(altra: CostProfile) -> None:
    """+100 ns of the pinned kick_ipi_ns adds 100 ns to the predicted ipi, all of it to the
    share the report attributes to assumed parameters."""
    base = PLATFORMS["altra"]
    from irqfwd.calibrate.platforms import Setting

    more = Platform(**{**base.__dict__, "settings": (
        Setting("kick_ipi_ns", 500, "assumed", "test"), *base.settings[1:])})
    r1, _ = run_fit(base, altra)
    r2, _ = run_fit(more, altra)
    a1, a2 = r1["benchmarks"]["ipi"], r2["benchmarks"]["ipi"]
    assert a2["simulated_ns"] - a1["simulated_ns"] == pytest.approx(100, abs=12)
    assert (a2["attribution_ns"]["assumed"] - a1["attribution_ns"]["assumed"]
            == pytest.approx(100, abs=12))
    assert sum(a1["attribution_ns"].values()) == pytest.approx(a1["simulated_ns"], abs=0.2)


def test_not_exercised_parameters_move_no_benchmark_and_all_others_move_one(altra: CostProfile) -> None:
    """NOT_EXERCISED is exactly the set of cost parameters no micro-benchmark depends on."""
    base = run_microbenchmarks(altra)
    bumped = altra.model_copy(update={p: getattr(altra, p) + 1000 for p in NOT_EXERCISED})
    assert run_microbenchmarks(bumped) == base
    order = [*FAST, "timer_10ms", "ipi"]
    for p in COST_PARAMS:
        if p in NOT_EXERCISED:
            continue
        moved = altra.model_copy(update={p: getattr(altra, p) + 200})
        assert any(BENCHMARKS[b](moved) != base[b] for b in order), p


@pytest.mark.parametrize(("targets", "free", "message"), [
    (DEFAULT_FIT, ("kick_ipi_ns",), "moves none of the fit targets"),
    (("hvc", "eoi"), ("world_switch", "hypercall_ns"), "cannot tell hypercall_ns apart"),
    (("hvc",), ("world_switch", "gicv_access_ns"), "under-determined"),
    (DEFAULT_FIT, ("no_such_knob",), "unknown knob"),
    (("no_such_bench",), ("hypercall_ns",), "unknown benchmark"),
    (DEFAULT_FIT, ("world_switch", "trap_to_el2_ns"), "both move trap_to_el2_ns"),
])
def test_fit_refuses_what_its_targets_cannot_determine(
        altra: CostProfile, targets: tuple[str, ...], free: tuple[str, ...], message: str) -> None:
    with pytest.raises(InputError, match=message):
        fit_profile(altra, PLATFORMS["altra"].measured, targets, free)
