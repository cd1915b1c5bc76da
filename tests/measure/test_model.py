"""The model side of --against-model: command, flattening, verdicts (no QEMU)."""

from __future__ import annotations

import pytest

from irqfwd.errors import InputError
from irqfwd.measure.experiments import EXPERIMENTS
from irqfwd.measure.model import compare, model_command, model_per_interrupt, run_model_cli


def test_model_command() -> None:
    args = model_command(EXPERIMENTS["level-resample"], 50, 5000)
    assert args is not None
    assert args[:4] == ["run", "nic-level", "--design", "irqfd-resample"]
    assert "rate=200" in args and "duration=255000us" in args
    busy = model_command(EXPERIMENTS["vtimer-busy"], 50, 1000)
    assert busy is not None and "vms.0.timer.guest_busy=true" in busy
    assert model_command(EXPERIMENTS["sgi"], 50, 5000) is None


def test_flatten_and_compare() -> None:
    data = {"designs": {"d": {"counters": {"exits": {"IRQ": 10, "WFx": 10}, "exits_total": 20,
                                            "guest_irqs_handled": 10, "maintenance_irqs": 10,
                                            "boot_exits_total": 7}}}}
    model = model_per_interrupt(data, "d")
    assert model["exits.IRQ"] == 1.0 and model["exits_total"] == 2.0 and "boot_exits_total" not in model
    measured = {"exits.IRQ": {"mean": 1.1}, "exits.WFx": {"mean": 0.5}, "exits_total": {"mean": 1.6},
                "wakeups": {"mean": 1.0}}
    rows = {r.key: r for r in compare(measured, model)}
    assert rows["exits.IRQ"].verdict == "agrees"
    assert rows["exits.WFx"].verdict == "differs"
    assert rows["maintenance_irqs"].measured == 0.0 and rows["maintenance_irqs"].verdict == "differs"
    assert rows["wakeups"].verdict == "not modelled"
    assert all(r.verdict == "not modelled" for r in compare(measured, None))


def test_flatten_rejects_missing_design() -> None:
    with pytest.raises(InputError, match="no counters"):
        model_per_interrupt({"designs": {}}, "x")


def test_model_through_the_cli() -> None:
    args = model_command(EXPERIMENTS["edge-irqfd"], 10, 5000)
    assert args is not None
    model = model_per_interrupt(run_model_cli(args), "irqfd-resample")
    assert model["exits.WFx"] == pytest.approx(1.0, abs=0.15)
    with pytest.raises(InputError, match="failed"):
        run_model_cli(["run", "no-such-scenario", "--json"])
