"""Bad input found by an audit of ``run`` and ``compare``: each case exits with status 2 and
one ``irqfwd: error:`` line naming the problem, no traceback, and leaves the user's files as
they were (the standard of ``test_bad_input.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHORT = ["--set", "duration=50us"]

TRACE_SCENARIO = ("duration_ns = 50000\n[[devices]]\n[devices.traffic]\npattern = 'trace'\n"
                  "trace_csv = 't.csv'\n")
TRACE_CSV = "time_ns\n20000\n30000\n"


# --------------------------------------------------------------------------- --trace targets

def test_compare_trace_refuses_to_overwrite_the_scenario_file(irqfwd_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scen = tmp_path / "s.toml"
    scen.write_text("duration_ns = 50000\n")
    err = irqfwd_error("compare", str(scen), "--designs", "forwarded", "--trace", str(scen),
               "--trace-format", "ftrace")
    assert f"--trace {scen}: is the scenario file; refusing to overwrite it" in err
    assert scen.read_text() == "duration_ns = 50000\n"


def test_compare_per_design_trace_name_refuses_to_overwrite_the_scenario_file(irqfwd_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With several designs the trace of design D goes to STEM.D.EXT, which may be the
    scenario file."""
    scen = tmp_path / "s.forwarded.toml"
    scen.write_text("duration_ns = 50000\n")
    err = irqfwd_error("compare", str(scen), "--designs", "irqfd-resample,forwarded",
               "--trace", str(tmp_path / "s.toml"), "--trace-format", "ftrace")
    assert "design 'forwarded' writes" in err and "is the scenario file; refusing to overwrite it" in err
    assert scen.read_text() == "duration_ns = 50000\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.forwarded.toml"]


@pytest.mark.parametrize(
    ("command", "csv_name", "trace_name"),
    [
        (["run"], "t.csv", "t.csv"),
        (["compare", "--designs", "irqfd-resample"], "t.csv", "t.csv"),
        # two designs: design irqfd-resample's trace goes to t.irqfd-resample.csv
        (["compare", "--designs", "irqfd-resample,forwarded"], "t.irqfd-resample.csv", "t.csv"),
    ],
    ids=["run", "compare", "compare-per-design-name"],
)
def test_trace_refuses_to_overwrite_a_device_trace_csv(irqfwd_error, tmp_path: Path, command: list[str],  # type: ignore[no-untyped-def]
                                                       csv_name: str, trace_name: str) -> None:
    """The traffic trace CSV a scenario reads (relative to the scenario file) is no --trace
    target, under either command and whatever the design's trace file name."""
    scen = tmp_path / "s.toml"
    scen.write_text(TRACE_SCENARIO.replace("t.csv", csv_name))
    csv = tmp_path / csv_name
    csv.write_text(TRACE_CSV)
    err = irqfwd_error(command[0], str(scen), *command[1:], "--trace", str(tmp_path / trace_name),
               "--trace-format", "ftrace")
    assert "is the trace CSV of devices.0; refusing to overwrite it" in err
    assert csv.read_text() == TRACE_CSV
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["s.toml", csv_name])


# --------------------------------------------------------------------------- designs

@pytest.mark.parametrize("command", ["run", "compare"])
def test_scenario_file_with_unknown_design_names_the_field(irqfwd_error, tmp_path: Path, command: str) -> None:  # type: ignore[no-untyped-def]
    scen = tmp_path / "s.toml"
    scen.write_text("duration_ns = 50000\ndesigns = ['nosuch']\n")
    err = irqfwd_error(command, str(scen))
    assert "designs: unknown design 'nosuch' (known: irqfd-resample," in err


@pytest.mark.parametrize(
    "command",
    [["state", "--at", "1us"], ["explore", "--designs", "forwarded"], ["explore"]],
    ids=["state", "explore", "explore-all"],
)
def test_scenario_file_with_unknown_design_is_refused_by_every_command(irqfwd_error, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                       command: list[str]) -> None:
    """state and explore check the scenario's own list of designs as run and compare do
    (they ran it, ignoring the unknown name): exit 2 naming the design and the known ones,
    and explore writes no replay directory."""
    scen = tmp_path / "s.toml"
    scen.write_text("duration_ns = 50000\ndesigns = ['nosuch']\n")
    out = tmp_path / "replays"
    extra = ["--out", str(out)] if command[0] == "explore" else []
    err = irqfwd_error(command[0], str(scen), *command[1:], *extra)
    assert "designs: unknown design 'nosuch' (known: irqfd-resample," in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ("scenario = 's.toml'\n", "scenario: designs: unknown design 'nosuch'"),
        ("scenario = 'nic-level'\nset = ['designs=[\"nosuch\"]']\n", "set: designs: unknown design 'nosuch'"),
        ("scenario = 'nic-level'\nmode = 'list'\n[[runs]]\ndesigns = '[\"nosuch\"]'\n",
         "runs[0].designs = '[\"nosuch\"]': designs: unknown design 'nosuch'"),
    ],
    ids=["scenario-file", "set", "point"],
)
def test_sweep_scenario_with_unknown_design(irqfwd_error, tmp_path: Path, spec: str, field: str) -> None:  # type: ignore[no-untyped-def]
    """A sweep whose scenario (its file, the spec's set, or a point) lists an unknown
    design is refused before any run, naming the spec field, the design and the known
    ones (it ran and stored results); nothing is written."""
    (tmp_path / "s.toml").write_text("duration_ns = 50000\ndesigns = ['nosuch']\n")
    f = tmp_path / "sweep.toml"
    f.write_text("designs = ['forwarded']\nseeds = 1\n" + spec)
    out = tmp_path / "out"
    err = irqfwd_error("sweep", str(f), "--out", str(out), "--executor", "serial")
    assert f"{f}: {field}" in err and "(known: irqfd-resample," in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("designs", "message"),
    [
        ("forwarded,psychic", "--designs: unknown design 'psychic' (known: irqfd-resample, forwarded,"),
        ("", "--designs: no design given"),
        (",", "--designs: no design given"),
        ("forwarded,forwarded", "--designs: a design is listed twice"),
    ],
    ids=["unknown", "empty", "only-commas", "twice"],
)
def test_bench_designs_checked_as_compare_checks_them(irqfwd_error, designs: str, message: str) -> None:  # type: ignore[no-untyped-def]
    """bench --designs names the unknown design and the known ones (it named the design
    only), and refuses an empty list (--designs '' ran the default designs) and a repeated
    name, as compare and explore do; before any benchmark runs."""
    assert message in irqfwd_error("bench", "--quick", "--designs", designs)


def test_set_unknown_design_names_the_field(irqfwd_error) -> None:  # type: ignore[no-untyped-def]
    err = irqfwd_error("compare", "nic-level", *SHORT, "--set", 'designs=["forwarded", "nosuch"]')
    assert "designs: unknown design 'nosuch'" in err and "forwarded-direct" in err


def test_run_with_design_option_still_checks_the_scenario_designs(irqfwd_error) -> None:  # type: ignore[no-untyped-def]
    err = irqfwd_error("run", "nic-level", "-d", "forwarded", *SHORT, "--set", 'designs=["nosuch"]')
    assert "designs: unknown design 'nosuch'" in err


# --------------------------------------------------------------------------- trace CSV encoding

@pytest.mark.parametrize("data", [b"\xff\xfetime_ns\n5\n", b"time_ns\n5\n\xff\xfe9\n"],
                         ids=["header", "row"])
def test_trace_csv_that_is_not_utf8_is_named(irqfwd_error, tmp_path: Path, data: bytes) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "t.csv").write_bytes(data)
    scen = tmp_path / "s.toml"
    scen.write_text(TRACE_SCENARIO)
    err = irqfwd_error("run", str(scen))
    assert f"{tmp_path / 't.csv'}: not a UTF-8 text file" in err


# --------------------------------------------------------------------------- rates

@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e30", "1000000001"])
def test_traffic_rate_must_be_finite_and_at_most_1ghz(irqfwd_error, value: str) -> None:  # type: ignore[no-untyped-def]
    """An infinite or huge rate (a period under 1 ns) was accepted and never advanced time."""
    err = irqfwd_error("run", "nic-level", *SHORT, "--set", f"devices.0.traffic.rate_hz={value}")
    assert "devices.0.traffic.rate_hz: " in err


def test_rate_shortcut_overflowing_to_inf_is_refused(irqfwd_error) -> None:  # type: ignore[no-untyped-def]
    err = irqfwd_error("run", "nic-level", *SHORT, "--set", "rate=1e400")
    assert "devices.0.traffic.rate_hz: Input should be a finite number" in err


def test_scenario_file_with_infinite_rate_names_the_field(irqfwd_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scen = tmp_path / "s.toml"
    scen.write_text("duration_ns = 50000\n[[devices]]\n[devices.traffic]\nrate_hz = inf\n")
    assert "devices.0.traffic.rate_hz: Input should be a finite number" in irqfwd_error("run", str(scen))


def test_rate_of_1ghz_is_accepted(irqfwd) -> None:  # type: ignore[no-untyped-def]
    res = irqfwd("run", "nic-level", "--set", "duration=2us", "--set", "devices.0.traffic.rate_hz=1e9", "--json")
    assert res.code == 0, res.err


# --------------------------------------------------------------------------- vCPU pins

@pytest.mark.parametrize("source", ["set", "toml"])
def test_negative_vcpu_pin_is_refused(irqfwd_error, tmp_path: Path, source: str) -> None:  # type: ignore[no-untyped-def]
    if source == "set":
        err = irqfwd_error("run", "nic-level", *SHORT, "--set", "vms.0.pin=[-1]")
    else:
        scen = tmp_path / "s.toml"
        scen.write_text("duration_ns = 50000\n[[vms]]\npin = [-1]\n")
        err = irqfwd_error("run", str(scen))
    assert "vms.0.pin.0: Input should be greater than or equal to 0" in err


# --------------------------------------------------------------------------- long messages

def test_many_validation_errors_are_truncated(irqfwd_error) -> None:  # type: ignore[no-untyped-def]
    """--set vms=N adds one NIC per VM; past INTID 1019 each is an error: the message lists
    the first few and counts the rest."""
    err = irqfwd_error("run", "nic-level", *SHORT, "--set", "vms=1000")
    assert err.count("host_intid: Input should be less than or equal to 1019") == 5
    assert err.rstrip().endswith("; ... and 23 more")
    assert len(err) < 1000
