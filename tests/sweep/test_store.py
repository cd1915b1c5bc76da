"""A sweep's result files go through :mod:`irqfwd.fileio`: a write that fails half-way
(a full disk) is a clear exit-2 error naming ``--out`` and the file, leaves no temporary
file and no partial result, and the rerun keeps every run already finished."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import irqfwd.fileio as fileio

SPEC = """
scenario = "nic-level"
set = ["duration=1ms", "pattern=poisson"]
designs = ["forwarded"]
seeds = [0, 1, 2]
"""


def test_disk_full_mid_sweep_exits_2_and_the_rerun_keeps_finished_runs(  # type: ignore[no-untyped-def]
        irqfwd, irqfwd_error, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    real_fsync = os.fsync
    calls = {"n": 0}

    def fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # sweep.json, the first run, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(fileio.os, "fsync", fsync)
    msg = irqfwd_error("sweep", str(spec), "--out", str(out), "--executor", "serial", "-q")
    assert msg.startswith(f"irqfwd: error: --out {out / 'runs'}/") and msg.rstrip().endswith(
        "cannot write: No space left on device"), msg
    written = sorted(p.name for p in (out / "runs").iterdir())
    assert len(written) == 1 and written[0].endswith(".json")  # the finished run, whole; no .tmp file
    first = (out / "runs" / written[0]).read_bytes()

    monkeypatch.setattr(fileio.os, "fsync", real_fsync)
    res = irqfwd("sweep", str(spec), "--out", str(out), "--executor", "serial", "-q")
    assert res.code == 0, res.err
    assert len(list((out / "runs").iterdir())) == 3
    assert (out / "runs" / written[0]).read_bytes() == first  # kept, not run again
    assert (out / "results.csv").read_text().count("\n") == 4
