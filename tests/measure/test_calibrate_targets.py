"""``irqfwd calibrate --targets``: structural targets from counts, cost targets from native
times only (no QEMU; the model runs through the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from irqfwd.measure.build import Harness
from irqfwd.measure.calibrate import load_targets
from irqfwd.measure.experiments import HostSetting
from irqfwd.measure.protocol import BootOutput
from irqfwd.measure.record import make_record, write_json_atomic
from irqfwd.measure.reduce import reduce_experiment
from irqfwd.measure.runner import BootResult

from .test_cli import _one_line_error, irqfwd


def _write(recorded: BootOutput, tmp_path: Path, where: str) -> Path:
    (tmp_path / "vmm").write_bytes(b"v")
    (tmp_path / "guest").write_bytes(b"g")
    boot = BootResult(recorded, where, ["qemu-system-aarch64"], "", "QEMU 7.2", 1.0, 2.0, None, "t")
    reduced = [reduce_experiment(recorded, e) for e in ("edge-irqfd", "vtimer-idle", "sgi")]
    rec = make_record(HostSetting(3, "vhe"), boot, reduced, kernel=None,
                      harness=Harness(tmp_path / "vmm", tmp_path / "guest", "gcc"), smp=2)
    path = tmp_path / f"{where}.json"
    write_json_atomic(path, rec)
    return path


def test_tcg_file_gives_structural_targets_only(recorded: BootOutput, tmp_path: Path) -> None:
    t = load_targets(_write(recorded, tmp_path, "qemu-tcg"))
    assert not t.times_meaningful and t.costs == {}
    keys = {(r["experiment"], r["quantity"]) for r in t.structural}
    assert ("edge-irqfd", "exits.WFx") in keys and ("vtimer-idle", "timer_irq_injected") in keys
    assert not any(r["experiment"] == "sgi" for r in t.structural)  # no model scenario yet
    wfx = next(r for r in t.structural if r["experiment"] == "vtimer-idle" and r["quantity"] == "exits.WFx")
    assert wfx["ok"] and wfx["model"] == pytest.approx(1.0)


def test_native_file_gives_cost_targets(recorded: BootOutput, tmp_path: Path) -> None:
    t = load_targets(_write(recorded, tmp_path, "native"))
    assert t.times_meaningful
    # the transcript's own times (TCG's, but labelled native here) become the targets
    assert set(t.costs) == {"ipi", "timer_10ms"} and all(v > 0 for v in t.costs.values())


def test_cli_targets(recorded: BootOutput, tmp_path: Path) -> None:
    path = _write(recorded, tmp_path, "native")
    proc = irqfwd("calibrate", "--targets", str(path), "--json")
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["benchmarks"]["ipi"]["measured_ns"] == pytest.approx(report["targets"]["cost_targets_ns"]["ipi"])
    assert report["benchmarks"]["hvc"]["measured_ns"] == 306  # untouched Altra figure
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    _one_line_error(irqfwd("calibrate", "--targets", str(bad)), "not an irqfwd measured file")
