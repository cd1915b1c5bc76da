"""``irqfwd calibrate --set PARAM=NS`` out of range, and a micro-benchmark that cannot
finish: one ``irqfwd: error:`` line naming the problem, exit status 2, no traceback (the
bound is checked before any micro-benchmark runs)."""

from __future__ import annotations

import pytest

from irqfwd.errors import InputError


@pytest.mark.parametrize("args", [
    ["--set", "exception_entry_ns=100000000"],
    ["--check", "--set", "kick_ipi_ns=1000000000"],
    ["--set", "kick_ipi_ns=1000001"],
])
def test_calibrate_set_beyond_the_bound_is_rejected_at_once(
        irqfwd_error, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    err = irqfwd_error("calibrate", *args)
    param = args[-1].split("=")[0]
    assert f"--set {param}=" in err and "must be 0..1000000 ns" in err


def test_shipped_profile_costs_are_within_the_set_bound() -> None:
    from irqfwd.calibrate.fit import COST_PARAMS
    from irqfwd.cli.calibrate import MAX_SETTING_NS
    from irqfwd.sim.costs import load_profile

    costs = load_profile("altra")
    assert all(0 <= getattr(costs, p) <= MAX_SETTING_NS for p in COST_PARAMS if hasattr(costs, p))


def test_a_micro_benchmark_that_does_not_finish_is_an_input_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from irqfwd.calibrate import microbench
    from irqfwd.sim.costs import load_profile

    # a run budget too short for any guest loop to finish stands for costs too large for it
    def short_run(system, guest):  # type: ignore[no-untyped-def]
        system.machine.run(system.engine.now + 1)
        return guest.per_op()

    monkeypatch.setattr(microbench, "_run", short_run)
    with pytest.raises(InputError, match=r"micro-benchmark did not finish .*cost parameters are too large"):
        microbench.bench_hvc(load_profile("altra"), n=10)
