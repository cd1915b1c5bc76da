"""Options that contradict each other: exit 2 naming both, before any work starts (they
were silently ignored: one of the two had no effect)."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_SPEC = 'scenario = "nic-level"\nset = ["duration=50us"]\ndesigns = ["forwarded"]\nseeds = 1\n'


def test_regs_quirks_none_with_qemu_target(irqfwd_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`regs run --target qemu --quirks none`: the architectural model was asked for and
    QEMU ran anyway (the quirks only configure the model target); refused naming both
    options, before QEMU starts."""
    script = tmp_path / "ok.regs"
    script.write_text("r 0x8000004\n")
    err = irqfwd_error("regs", "run", str(script), "--target", "qemu", "--quirks", "none")
    assert "--quirks none: contradicts --target qemu" in err


def test_regs_quirks_qemu_with_qemu_target_is_not_a_contradiction(irqfwd_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`--quirks qemu` asks for QEMU's behaviour, which QEMU has: accepted (the script is
    checked next, so a bad line is what is reported; QEMU is never started)."""
    script = tmp_path / "bad.regs"
    script.write_text("r 0x8000001\n")
    err = irqfwd_error("regs", "run", str(script), "--target", "qemu", "--quirks", "qemu")
    assert "bad.regs:1: address 0x8000001 is not aligned" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executor", "serial", "--workers", "4"], "--workers 4: contradicts --executor serial"),
        (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"],
         "--workers 2: contradicts --scheduler tcp://127.0.0.1:1"),
    ],
    ids=["serial", "dask-scheduler"],
)
def test_sweep_workers_without_worker_processes(irqfwd_error, tmp_path: Path, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    """--workers sizes the process pool or the Dask LocalCluster: with the in-process
    serial executor, or with a running scheduler (whose workers are its own), it was
    ignored.  Refused naming both options; nothing is written."""
    spec = tmp_path / "s.toml"
    spec.write_text(TINY_SPEC)
    out = tmp_path / "out"
    err = irqfwd_error("sweep", str(spec), "--out", str(out), *args)
    assert message in err
    assert not out.exists()


def test_study_workers_with_serial(irqfwd_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`study` takes the same executor options and refuses the same contradiction."""
    out = tmp_path / "out"
    err = irqfwd_error("study", "forwarding", "--quick", "--out", str(out), "--executor", "serial",
                       "--workers", "2")
    assert "--workers 2: contradicts --executor serial" in err
    assert not out.exists()


def test_sweep_workers_with_local_executor_is_accepted(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--workers with the process executor is what it is for: the sweep runs."""
    spec = tmp_path / "s.toml"
    spec.write_text(TINY_SPEC)
    res = irqfwd("sweep", str(spec), "--out", str(tmp_path / "out"), "--executor", "local", "--workers", "1", "-q")
    assert res.code == 0, res.err
    assert (tmp_path / "out" / "results.csv").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scaling", "--designs", "irqfd-resample"], "--designs: contradicts --scaling"),
        (["--memory-scaling", "--designs", "irqfd-resample"], "--designs: contradicts --memory-scaling"),
        (["--scaling", "--tracing"], "--tracing: contradicts --scaling"),
        (["--memory-scaling", "--tracing"], "--tracing: contradicts --memory-scaling"),
    ],
    ids=["scaling-designs", "memory-designs", "scaling-tracing", "memory-tracing"],
)
def test_bench_table_options_that_exclude_each_other(irqfwd_error, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    """bench --scaling and --memory-scaling run design forwarded only and are tables alone:
    --designs and --tracing beside them were ignored (the scaling table was measured).
    Refused naming both options, before any measurement."""
    assert message in irqfwd_error("bench", "--quick", *args)
