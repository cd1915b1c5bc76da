"""``irqfwd measure`` on bad input: one line naming the cause, exit status 2, nothing
written (no QEMU needed: every case fails before a boot)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = "import sys; from irqfwd.cli.main import main; sys.argv[0] = 'irqfwd'; main()"


def irqfwd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "IRQFWD_ACCEL": "off", **(env or {})}
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True,
                          env=full, timeout=120, check=False)


def _one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("irqfwd: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.mark.parametrize("args,fragments", [
    (["-e", "nope"], ["unknown experiment 'nope'", "level-resample"]),
    (["-n", "0"], ["-n 0", "at least 1"]),
    (["--host-gic", "v4"], ["unknown host GIC 'v4'"]),
    (["--mode", "hvhe"], ["unknown KVM mode 'hvhe'", "nvhe, vhe, protected"]),
    (["--halt-poll-ns", "-5"], ["--halt-poll-ns -5"]),
    (["--reps", "0"], ["--reps 0"]),
    (["--where", "mars"], ["--where 'mars'"]),
])
def test_bad_options(tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    out = tmp_path / "data" / "m.json"
    _one_line_error(irqfwd("measure", *args, "--out", str(out)), *fragments)
    assert not out.parent.exists()


def test_kernel_missing(tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    proc = irqfwd("measure", "--where", "qemu", "--out", str(out),
                  env={"IRQFWD_KERNEL": str(tmp_path / "no-vmlinuz")})
    _one_line_error(proc, "IRQFWD_KERNEL=", "no such file")
    proc = irqfwd("measure", "--where", "qemu", "--out", str(out),
                  env={"IRQFWD_KERNEL": "", "XDG_CACHE_HOME": str(tmp_path / "cache")})
    _one_line_error(proc, "no arm64 kernel found", "make system-deps")
    assert not out.exists()


def test_tools_missing(tmp_path: Path) -> None:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"\0" * 64)
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = irqfwd("measure", "--where", "qemu", "--out", str(tmp_path / "m.json"),
                  env={"IRQFWD_KERNEL": str(kernel), "PATH": str(empty)})
    _one_line_error(proc, "needs", "qemu-system-aarch64", "aarch64-linux-gnu-gcc")


def test_from_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("[]")
    _one_line_error(irqfwd("measure", "--from", str(bad)), "not an irqfwd measured file")


def test_from_stored_file_against_model() -> None:
    data = Path(__file__).resolve().parents[2] / "data" / "measured"
    files = sorted(data.glob("*.json"))
    if not files:
        pytest.skip("no data/measured files yet")
    proc = irqfwd("measure", "--from", str(files[0]), "-e", "level-resample", "--against-model")
    assert proc.returncode == 0, proc.stderr
    assert "verdict" in proc.stdout and "agree" in proc.stdout
    assert "times are" in proc.stdout
