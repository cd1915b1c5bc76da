"""``irqfwd run --profile PATH``: a pyinstrument profile of the simulation, written atomically
in the format the extension names (irqfwd.cli.profile)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from irqfwd import _accel

SHORT = ["nic-level", "--design", "forwarded", "--set", "duration=5ms", "--quiet"]


@pytest.mark.parametrize("ext", [".html", ".txt", ".json"])
def test_profile_written_in_the_format_of_its_extension(irqfwd, tmp_path: Path, ext: str) -> None:  # type: ignore[no-untyped-def]
    """The profile names the run's call path (run_scenario → Engine.run); .json is speedscope's
    file format, .html pyinstrument's page, .txt its call tree; no temporary file is left."""
    out = tmp_path / f"prof{ext}"
    res = irqfwd("run", *SHORT, "--profile", str(out))
    assert res.code == 0, res.err
    text = out.read_text()
    assert "run_scenario" in text
    if ext == ".json":
        doc = json.loads(text)
        assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
        assert doc["profiles"][0]["type"] == "evented" and doc["profiles"][0]["events"]
        names = {f["name"] for f in doc["shared"]["frames"]}
        assert "run_scenario" in names
    elif ext == ".html":
        assert text.lstrip().lower().startswith("<!doctype html")
    else:
        assert "Recorded:" in text and "Samples:" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_profile_does_not_change_the_results(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Profiling samples the stack from outside the model: the JSON report is the same."""
    plain = irqfwd("run", *SHORT, "--json")
    prof = irqfwd("run", *SHORT, "--json", "--profile", str(tmp_path / "p.txt"))
    assert plain.code == prof.code == 0
    assert json.loads(plain.out) == json.loads(prof.out)


def test_compiled_build_note(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With the compiled build the model's functions have no Python frames: the user is told
    how to get the per-function profile; with pure Python nothing is said."""
    res = irqfwd("run", *SHORT, "--profile", str(tmp_path / "p.txt"))
    assert res.code == 0
    assert ("IRQFWD_ACCEL=off" in res.err) == _accel.status().active


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("p.svg", "--profile {d}/p.svg: unknown extension '.svg' (known: .html, .txt, .json)"),
        ("p", "--profile {d}/p: unknown extension '(none)'"),
        ("no/such/dir/p.html", "--profile {d}/no/such/dir/p.html: directory {d}/no/such/dir does not exist"),
    ],
)
def test_bad_profile_path_exits_2(irqfwd, tmp_path: Path, name: str, message: str) -> None:  # type: ignore[no-untyped-def]
    """A profile path that cannot be written is refused before the run: exit 2, no traceback."""
    res = irqfwd("run", *SHORT, "--profile", str(tmp_path / name))
    assert res.code == 2
    assert "irqfwd: error: " + message.format(d=tmp_path) in res.err
    assert "Traceback" not in res.err + res.out


def test_failed_run_keeps_the_previous_profile(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Bad input after the path check (an unknown --set key) leaves an existing file as it was."""
    out = tmp_path / "p.txt"
    out.write_text("previous profile\n")
    res = irqfwd("run", "nic-level", "--set", "nope=1", "--profile", str(out))
    assert res.code == 2
    assert out.read_text() == "previous profile\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.txt"]


def test_profile_refuses_the_trace_file_and_replay(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--profile and --trace on the same file, or --profile with --replay: exit 2."""
    same = tmp_path / "t.json"
    res = irqfwd("run", *SHORT, "--trace", str(same), "--profile", str(same))
    assert res.code == 2 and "is also the --trace file" in res.err
    res = irqfwd("run", "--replay", str(tmp_path / "r.json"), "--profile", str(tmp_path / "p.txt"))
    assert res.code == 2 and "--profile: profiles a scenario run, not a --replay" in res.err
