"""The measured data in data/measured/: complete, with provenance, and showing the counts
a real kernel must show (no QEMU: the files are read)."""

from __future__ import annotations

from pathlib import Path

import pytest

from irqfwd.measure.experiments import EXPERIMENTS
from irqfwd.measure.record import load_record

DATA = Path(__file__).resolve().parents[2] / "data" / "measured"
REQUIRED = [f"gicv{g}-{m}-poll_{p}" for g in (2, 3) for m in ("nvhe", "vhe") for p in ("default", "0")]


def _files() -> list[Path]:
    return sorted(DATA.glob("*.json"))


def test_required_settings_present() -> None:
    names = {p.stem for p in _files()}
    assert set(REQUIRED) <= names, sorted(set(REQUIRED) - names)


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.stem)
def test_file(path: Path) -> None:
    rec = load_record(path)
    host, prov = rec["host"], rec["provenance"]
    assert path.stem == host["key"]
    assert host["mode_detected"] == host["mode"]
    assert host["halt_poll_ns_effective"] == (0 if host["halt_poll_ns"] == 0 else 500000)
    assert prov["kernel_release"].startswith("6.") and prov["qemu_version"].startswith("QEMU")
    assert prov["kernel_package"].startswith("linux-image-6.")
    assert rec["times_meaningful"] is False
    assert set(rec["experiments"]) == set(EXPERIMENTS)
    for exp in rec["experiments"].values():
        assert exp["n"] == 50 and exp["reps"] == 3
        assert all(r["dropped_events"] == 0 for r in exp["runs"])

    def mean(exp: str, key: str) -> float:
        entry = rec["experiments"][exp]["per_interrupt"].get(key)
        return float(entry["mean"]) if entry else 0.0

    assert mean("level-resample", "eoi_notifications") == pytest.approx(1.0, abs=0.02)
    assert mean("level-resample", "resamplefd_signals") == pytest.approx(1.0, abs=0.02)
    assert mean("level-resample", "exits.IRQ") == pytest.approx(1.0, abs=0.2)
    assert mean("level-resample", "maintenance_irqs") == 0.0
    assert mean("edge-irqfd", "eoi_notifications") == 0.0
    assert mean("edge-irqfd", "exits.WFx") == pytest.approx(1.0, abs=0.1)
    assert mean("vtimer-idle", "timer_irq_injected") == pytest.approx(1.0, abs=0.05)
    assert mean("vtimer-busy", "vtimer_host_irqs") == pytest.approx(1.0, abs=0.05)
    assert mean("sgi", "exits.WFx@vcpu1") == pytest.approx(1.0, abs=0.1)
    trap = "exits.SYS64@vcpu0" if host["gic"] == 3 else "exits.DABT_LOW@vcpu0"
    assert mean("sgi", trap) == pytest.approx(1.0, abs=0.05)
    assert mean("level-irqline", "exits.DABT_LOW") == pytest.approx(1.0, abs=0.05)
    assert mean("level-irqline", "eoi_notifications") == pytest.approx(1.0, abs=0.02)
