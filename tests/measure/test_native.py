"""The native path (an arm64 host with /dev/kvm runs the VMM directly), exercised with a
stand-in VMM that replays a recorded transcript: no QEMU, no KVM needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from irqfwd.measure.build import Harness
from irqfwd.measure.experiments import EXPERIMENTS, HostSetting
from irqfwd.measure.record import make_record
from irqfwd.measure.reduce import reduce_experiment
from irqfwd.measure.runner import MeasureError, RunSpec, run_native, vmm_config

DATA = Path(__file__).parent / "data"


def _fake_vmm(tmp_path: Path, body: str) -> Harness:
    vmm = tmp_path / "irqfwd-vmm"
    vmm.write_text("#!/bin/sh\n" + body + "\n")
    vmm.chmod(0o755)
    guest = tmp_path / "guest.bin"
    guest.write_bytes(b"\0")
    return Harness(vmm, guest, "gcc (test)")


def test_native_run_reports_times(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRQFWD_MEASURE_LOGS", str(tmp_path / "logs"))
    harness = _fake_vmm(tmp_path, f"cat '{DATA / 'gicv3-vhe-n20.log'}'")
    setting = HostSetting(3, "vhe", 0)
    specs = [RunSpec(EXPERIMENTS["sgi"], 20, 1, 5000)]
    boot = run_native(setting, specs, harness=harness)
    assert boot.where == "native" and boot.output.ended and boot.log is None
    rec = make_record(setting, boot, [reduce_experiment(boot.output, "sgi")], kernel=None,
                      harness=harness, smp=2)
    assert rec["times_meaningful"] is True
    times = rec["experiments"]["sgi"]["times"]
    assert times["sgi_roundtrip_ns"]["mean"] > 0 and times["elapsed_per_interrupt_ns"]["mean"] > 0
    assert not list((tmp_path / "logs").iterdir())  # kept only on failure


def test_native_failure_keeps_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRQFWD_MEASURE_LOGS", str(tmp_path / "logs"))
    harness = _fake_vmm(tmp_path, "echo '@@irqfwd begin 1'; echo '@@irqfwd error cannot open /dev/kvm: "
                                  "Permission denied'; echo '@@irqfwd end 1'; exit 1")
    with pytest.raises(MeasureError, match=r"cannot open /dev/kvm: Permission denied; log kept at"):
        run_native(HostSetting(), [RunSpec(EXPERIMENTS["edge-irqfd"], 5, 1, 1000)], harness=harness)
    assert len(list((tmp_path / "logs").iterdir())) == 1


def test_native_config_sets_halt_polling() -> None:
    spec = RunSpec(EXPERIMENTS["vtimer-idle"], 5, 2, 1000)
    text = vmm_config(HostSetting(2, "nvhe", 0), [spec], set_halt_poll=True)
    assert "halt_poll_ns 0" in text.splitlines() and "gic 2" in text.splitlines()
    assert "run vtimer-idle 5 2 1000 30" in text
    assert "halt_poll_ns" not in vmm_config(HostSetting(2, "nvhe", 0), [spec])
