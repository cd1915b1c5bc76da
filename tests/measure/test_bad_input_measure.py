"""Bad input to ``irqfwd measure`` and to the readers of measured files: one
``irqfwd: error:`` line naming the option or field, exit status 2, no traceback, checked
before any boot (the measurement is never run here: ``measure`` is replaced by a stub that
fails the test), the user's file unchanged and no temporary file left."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from irqfwd.errors import InputError
from irqfwd.measure.record import load_record

REAL = Path(__file__).parents[2] / "data" / "measured" / "gicv2-nvhe-poll_0.json"



@pytest.fixture
def no_boot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if ``measure`` would boot anything."""
    import irqfwd.measure

    def boot(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("measure would have booted: the check must come first")

    monkeypatch.setattr(irqfwd.measure, "measure", boot)


def _no_temp_files(d: Path) -> None:
    assert not [p.name for p in d.rglob("*.tmp")]


# ------------------------------------------------------------------ --out / --raw-trace


def test_measure_refuses_to_replace_an_out_file_that_is_not_a_measured_record(
        irqfwd_error, no_boot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mine = tmp_path / "notes.json"
    mine.write_text('{"my": "notes"}\n')
    err = irqfwd_error("measure", "--out", str(mine))
    assert "--out" in err and "not an irqfwd measured file" in err and "refusing" in err
    assert mine.read_text() == '{"my": "notes"}\n'
    _no_temp_files(tmp_path)


@pytest.mark.parametrize("case", ["directory", "proc", "under-a-file"])
@pytest.mark.parametrize("option", ["--out", "--raw-trace"])
def test_measure_rejects_an_unwritable_output_path_before_booting(
        irqfwd_error, no_boot, tmp_path: Path, case: str, option: str) -> None:  # type: ignore[no-untyped-def]
    afile = tmp_path / "afile"
    afile.write_text("keep\n")
    bad = {"directory": tmp_path, "proc": Path("/proc/irqfwd-no-such/x.json"),
           "under-a-file": afile / "x.json"}[case]
    args = ["measure", option, str(bad)]
    if option == "--raw-trace":
        args += ["--out", str(tmp_path / "good.json")]
    err = irqfwd_error(*args)
    assert f"{option} {bad}" in err
    expected = {"directory": "is a directory", "proc": "cannot", "under-a-file": "not a directory"}
    assert expected[case] in err
    assert afile.read_text() == "keep\n"
    assert not (tmp_path / "good.json").exists()
    _no_temp_files(tmp_path)


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1"])
def test_measure_rejects_a_boot_timeout_that_is_not_a_positive_number(
        irqfwd_error, no_boot, tmp_path: Path, value: str) -> None:  # type: ignore[no-untyped-def]
    err = irqfwd_error("measure", "--boot-timeout", value, "--out", str(tmp_path / "m.json"))
    assert "--boot-timeout" in err and "positive" in err


def test_write_json_atomic_on_a_directory_is_an_input_error_and_leaves_no_temp_file(
        tmp_path: Path) -> None:
    from irqfwd.measure.record import write_json_atomic

    (tmp_path / "m.json").mkdir()
    with pytest.raises(InputError, match=r"--out .*m\.json: is a directory"):
        write_json_atomic(tmp_path / "m.json", {"a": 1})
    _no_temp_files(tmp_path)


# ------------------------------------------------------------------ malformed measured files


def _record() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REAL.read_text())
    return data


def _set(rec: dict[str, Any], dotted: str, value: Any) -> None:
    *path, last = dotted.split("/")
    node = rec
    for key in path:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()

MALFORMED = [
    ("host", _DELETE, "host: missing"),
    ("host", 5, "host: missing or not a table"),
    ("host/gic", "two", "host.gic"),
    ("experiments/sgi/n", _DELETE, "experiments.sgi.n: must be a whole number >= 1, missing"),
    ("experiments/sgi/n", "abc", "experiments.sgi.n: must be a whole number >= 1, not 'abc'"),
    ("experiments/sgi/interval_us", 0, "experiments.sgi.interval_us: must be a whole number >= 1"),
    ("experiments/sgi/reps", True, "experiments.sgi.reps"),
    ("experiments/sgi/per_interrupt", {"x": "y"}, "experiments.sgi.per_interrupt.x"),
    ("experiments/sgi/per_interrupt/exits_total/mean", "many", "per_interrupt.exits_total.mean"),
    ("experiments/sgi/per_interrupt/exits_total/reps", "1 2", "per_interrupt.exits_total.reps"),
    ("experiments/sgi/times", "bad", "experiments.sgi.times: must be a table"),
    ("experiments/sgi/times", {"elapsed_per_interrupt_ns": 3}, "times.elapsed_per_interrupt_ns"),
    ("experiments/bogus", {"per_interrupt": {}, "n": 1, "reps": 1, "interval_us": 1},
     "experiments.bogus: unknown experiment 'bogus'"),
    ("times_meaningful", "yes", "times_meaningful: must be true or false"),
    ("provenance", [], "provenance: must be a table"),
]


def _write_malformed(tmp_path: Path, dotted: str, value: Any) -> Path:
    rec = _record()
    if dotted == "experiments/sgi/times":
        rec["times_meaningful"] = True
    _set(rec, dotted, copy.deepcopy(value) if value is not _DELETE else value)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(rec))
    return path


def test_a_real_measured_file_loads() -> None:
    assert load_record(REAL)["experiments"]


@pytest.mark.parametrize(("dotted", "value", "message"), MALFORMED,
                         ids=[m[0] + "=" + repr(m[1])[:12] for m in MALFORMED])
def test_load_record_names_the_file_and_the_malformed_field(
        tmp_path: Path, dotted: str, value: Any, message: str) -> None:
    path = _write_malformed(tmp_path, dotted, value)
    with pytest.raises(InputError) as info:
        load_record(path)
    assert str(path) in str(info.value) and message in str(info.value)


@pytest.mark.parametrize(("dotted", "value", "message"),
                         [m for m in MALFORMED if m[0] in ("host", "experiments/sgi/n",
                                                           "experiments/sgi/interval_us",
                                                           "experiments/sgi/per_interrupt",
                                                           "experiments/sgi/times")])
@pytest.mark.parametrize("command", ["measure-from", "calibrate-targets"])
def test_measure_from_and_calibrate_targets_reject_a_malformed_measured_file(
        irqfwd_error, tmp_path: Path, dotted: str, value: Any, message: str,
        command: str) -> None:  # type: ignore[no-untyped-def]
    path = _write_malformed(tmp_path, dotted, value)
    before = path.read_bytes()
    args = (["measure", "--from", str(path)] if command == "measure-from"
            else ["calibrate", "--targets", str(path)])
    err = irqfwd_error(*args)
    assert str(path) in err and message in err
    assert path.read_bytes() == before
