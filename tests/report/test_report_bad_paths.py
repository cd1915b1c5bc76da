"""``irqfwd compare --report DIR`` with a directory it cannot write: one ``irqfwd: error:``
line naming ``--report``, exit status 2, no traceback, checked before any run, no temporary
file left behind and the user's files untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from irqfwd.errors import InputError

ARGS = ["compare", "nic-level", "--set", "duration=1ms", "--designs", "forwarded"]



def _no_temp_files(d: Path) -> None:
    assert not [p.name for p in d.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture
def no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a design would run: the checks come first."""
    import irqfwd.report.build

    def run(*args: object, **kwargs: object) -> object:
        raise AssertionError("a design ran before the report directory was checked")

    monkeypatch.setattr(irqfwd.report.build, "run_scenario", run)


def test_report_into_an_uncreatable_directory_is_an_error_naming_report(
        irqfwd_error, no_run) -> None:  # type: ignore[no-untyped-def]
    err = irqfwd_error(*ARGS, "--report", "/proc/irqfwd-no-such-dir")
    assert "--report /proc/irqfwd-no-such-dir" in err and "cannot create" in err


def test_report_over_a_file_is_an_error_and_keeps_the_file(
        irqfwd_error, no_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mine = tmp_path / "mine.txt"
    mine.write_text("keep\n")
    err = irqfwd_error(*ARGS, "--report", str(mine))
    assert "--report" in err and "not a directory" in err
    assert mine.read_text() == "keep\n"


@pytest.mark.parametrize("name", ["report.html", "latency-cdf.png", "per-interrupt.png", "timeline.png",
                                  "config.json", "stats.json", "stats.txt", "exits.txt",
                                  "trace-forwarded.json"])
def test_report_output_name_that_is_a_directory_is_an_error_naming_report(
        irqfwd_error, no_run, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    rep = tmp_path / "rep"
    (rep / name).mkdir(parents=True)
    (rep / name / "inside").write_text("keep\n")
    err = irqfwd_error(*ARGS, "--report", str(rep))
    assert f"--report {rep}: {name}" in err and "is a directory" in err
    assert "--trace" not in err
    assert (rep / name / "inside").read_text() == "keep\n"
    _no_temp_files(tmp_path)


@pytest.mark.parametrize("writer", ["plot", "html", "text"])
def test_report_write_that_fails_leaves_no_temp_file(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, writer: str) -> None:
    from irqfwd.report import build, plots

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    target = tmp_path / "out.bin"
    target.write_text("old\n")
    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(InputError, match=r"--report .*out\.bin: cannot write: No space left"):
        if writer == "plot":
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig = plt.figure()
            try:
                plots._save(fig, target)
            finally:
                plt.close(fig)
        elif writer == "html":
            from irqfwd.fileio import atomic_write_text

            atomic_write_text(target, ["<html>"], "--report")
        else:
            build._write_atomic(target, b"data")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
