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
    """Per-interrupt model counts net of a baseline run, compared row by row; the
    maintenance handler row compares with the model's host handler count (KVM's
    ``vgic_maintenance_handler``), not with the maintenance conditions seen at exit."""
    data = {"designs": {"d": {"counters": {"exits": {"IRQ": 10, "WFx": 10}, "exits_total": 20,
                                            "guest_irqs_handled": 10, "maintenance_irqs": 10,
                                            "maintenance_irq_host": 0, "host_irqs": 13,
                                            "host_ticks": 3, "boot_exits_total": 7}}}}
    base = {"designs": {"d": {"counters": {"exits": {"IRQ": 2}, "exits_total": 2}}}}
    model = model_per_interrupt(data, "d", base)
    assert model["exits.IRQ"] == 0.8 and model["exits_total"] == 1.8 and "boot_exits_total" not in model
    assert model["host_irqs_guest"] == 1.0
    busy = model_per_interrupt(data, "d", None, busy_guest=True)
    assert busy["exits.IRQ"] == 0.7  # the host's 3 tick exits taken off
    measured = {"exits.IRQ": {"mean": 0.8}, "exits.WFx": {"mean": 0.5}, "exits_total": {"mean": 1.6},
                "maintenance_irqs": {"mean": 0.0}, "sgi_roundtrip": {"mean": 1.0}}
    rows = {r.key: r for r in compare(measured, model)}
    assert rows["exits.IRQ"].verdict == "agrees"
    assert rows["exits.WFx"].verdict == "differs"
    assert rows["maintenance_irqs"].model == 0.0 and rows["maintenance_irqs"].verdict == "agrees"
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
