"""Records: reduction to JSON, atomic writes, loading and merging (no QEMU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from irqfwd.errors import InputError
from irqfwd.measure.build import Harness
from irqfwd.measure.experiments import HostSetting
from irqfwd.measure.protocol import BootOutput
from irqfwd.measure.record import (
    SCHEMA,
    load_record,
    make_record,
    merge_records,
    write_json_atomic,
)
from irqfwd.measure.reduce import reduce_experiment
from irqfwd.measure.runner import BootResult


def _record(recorded: BootOutput, tmp_path: Path, where: str = "qemu-tcg") -> dict:  # type: ignore[type-arg]
    (tmp_path / "vmm").write_bytes(b"vmm")
    (tmp_path / "guest").write_bytes(b"guest")
    boot = BootResult(recorded, where, ["qemu-system-aarch64", "-M", "virt"], "console=ttyAMA0",
                      "QEMU emulator version 7.2", 10.0, 40.0, None, "2026-01-01T00:00:00+00:00")
    reduced = [reduce_experiment(recorded, e) for e in ("level-resample", "sgi")]
    return make_record(HostSetting(3, "vhe"), boot, reduced, kernel=None,
                       harness=Harness(tmp_path / "vmm", tmp_path / "guest", "gcc"), smp=2)


def test_record_contents(recorded: BootOutput, tmp_path: Path) -> None:
    rec = _record(recorded, tmp_path)
    assert rec["schema"] == SCHEMA and rec["host"]["key"] == "gicv3-vhe-poll_default"
    assert rec["host"]["mode_detected"] == "vhe"
    assert rec["times_meaningful"] is False
    level = rec["experiments"]["level-resample"]
    assert level["per_interrupt"]["eoi_notifications"]["mean"] == 1.0
    assert level["per_interrupt"]["eoi_notifications"]["reps"] == [1.0]
    assert "times" not in level and level["runs"][0]["elapsed_ns"] is None
    assert rec["provenance"]["kernel_release"].startswith("6.")
    assert rec["provenance"]["qemu_command"][0] == "qemu-system-aarch64"


def test_native_record_has_times(recorded: BootOutput, tmp_path: Path) -> None:
    rec = _record(recorded, tmp_path, where="native")
    assert rec["times_meaningful"] is True
    assert rec["experiments"]["level-resample"]["times"]["elapsed_per_interrupt_ns"]["mean"] > 0


def test_atomic_write_and_load(recorded: BootOutput, tmp_path: Path) -> None:
    rec = _record(recorded, tmp_path)
    target = tmp_path / "out" / "m.json"
    write_json_atomic(target, rec)
    assert load_record(target) == json.loads(target.read_text())
    assert [p.name for p in target.parent.iterdir()] == ["m.json"]


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    with pytest.raises(TypeError):
        write_json_atomic(target, {"x": object()})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text,match", [
    ("{", "not JSON"), ('{"schema": "other"}', "not an irqfwd measured file"),
    ('{"schema": "irqfwd.measured/1", "experiments": {}}', "no experiments"),
])
def test_load_bad_files(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(InputError, match=match):
        load_record(p)
    with pytest.raises(InputError, match="no such"):
        load_record(tmp_path / "missing.json")


def test_merge_keeps_other_experiments(recorded: BootOutput, tmp_path: Path) -> None:
    rec = _record(recorded, tmp_path)
    only_sgi = dict(rec, experiments={"sgi": rec["experiments"]["sgi"]})
    only_level = dict(rec, experiments={"level-resample": rec["experiments"]["level-resample"]})
    assert set(merge_records(only_sgi, only_level)["experiments"]) == {"level-resample", "sgi"}
    other = dict(only_sgi, host=dict(rec["host"], key="gicv2-nvhe-poll_0"))
    assert set(merge_records(other, only_level)["experiments"]) == {"level-resample"}


def test_rereduce_reproduces_the_counts(recorded: BootOutput, tmp_path: Path) -> None:
    from irqfwd.measure.record import rereduce

    rec = json.loads(json.dumps(_record(recorded, tmp_path)))
    again = rereduce(rec)
    for name, exp in rec["experiments"].items():
        assert again["experiments"][name]["per_interrupt"] == exp["per_interrupt"]
    assert "elapsed_ns" not in rec["experiments"]["sgi"]["runs"][0]["source"][0]["stats"]


def test_fidelity_tables(recorded: BootOutput, tmp_path: Path) -> None:
    from irqfwd.measure.fidelity import fidelity_rows, markdown

    rec = _record(recorded, tmp_path)
    path = tmp_path / "gicv3-vhe-poll_default.json"
    write_json_atomic(path, rec)
    text = markdown(fidelity_rows([path]))
    assert "#### level-resample" in text and "| GICv3 vhe |" in text and "GICv2" not in text
    line = next(t for t in text.splitlines() if t.startswith("| EOI notifications"))
    assert "1.00 / –" in line and line.endswith("| agrees |")
    # the maintenance interrupt only forces the exit: no host handler, in Linux as in the model
    # (a row where both are 0 everywhere is left out of the table)
    maint = [t for t in text.splitlines() if t.startswith("| maintenance interrupts handled")]
    assert all(t.endswith("| agrees |") for t in maint)
    eoi = next(t for t in text.splitlines() if t.startswith("| EOI notifications"))
    assert float(eoi.split("|")[2]) > 0.9  # the model side: kvm_notify_acked_irq per level interrupt
    assert "Compared quantities:" in text
