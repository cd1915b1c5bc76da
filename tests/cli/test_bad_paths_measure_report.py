"""``irqfwd explore --out DIR`` where DIR cannot be made: one ``irqfwd: error:`` line
naming --out, exit status 2, no traceback (the measure and report paths are tested in
tests/measure/test_bad_input_measure.py and tests/report/test_report_bad_paths.py)."""

from __future__ import annotations

from pathlib import Path

ARGS = ["explore", "explore-2x2", "-k", "0", "--max-orderings", "2", "-d", "forwarded"]



def test_explore_out_in_proc_is_an_error_naming_out(irqfwd_error) -> None:  # type: ignore[no-untyped-def]
    err = irqfwd_error(*ARGS, "--out", "/proc/irqfwd-no-such-dir")
    assert "--out /proc/irqfwd-no-such-dir: cannot write" in err


def test_explore_out_under_a_file_is_an_error_and_keeps_the_file(
        irqfwd_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mine = tmp_path / "mine"
    mine.write_text("keep\n")
    err = irqfwd_error(*ARGS, "--out", str(mine / "replays"))
    assert "--out" in err
    assert mine.read_text() == "keep\n"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_explore_out_that_can_be_made_leaves_no_probe_file(
        irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = irqfwd(*ARGS, "--out", str(tmp_path / "replays"))
    assert res.code in (0, 1), res.err
    assert not [p for p in (tmp_path / "replays").iterdir() if p.name.startswith(".")]
