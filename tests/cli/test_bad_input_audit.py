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


def _bad(irqfwd, *args: str) -> str:  # type: ignore[no-untyped-def]
    res = irqfwd(*args)
    assert res.code == 2, (res.code, res.out[-500:], res.err[-500:])
    assert "Traceback" not in res.err + res.out
    assert res.err.startswith("irqfwd: error: ") and res.err.count("\n") == 1, res.err[:1000]
    return res.err


# --------------------------------------------------------------------------- trace CSV encoding

@pytest.mark.parametrize("data", [b"\xff\xfetime_ns\n5\n", b"time_ns\n5\n\xff\xfe9\n"],
                         ids=["header", "row"])
def test_trace_csv_that_is_not_utf8_is_named(irqfwd, tmp_path: Path, data: bytes) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "t.csv").write_bytes(data)
    scen = tmp_path / "s.toml"
    scen.write_text(TRACE_SCENARIO)
    err = _bad(irqfwd, "run", str(scen))
    assert f"{tmp_path / 't.csv'}: not a UTF-8 text file" in err


# --------------------------------------------------------------------------- rates

@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e30", "1000000001"])
def test_traffic_rate_must_be_finite_and_at_most_1ghz(irqfwd, value: str) -> None:  # type: ignore[no-untyped-def]
    """An infinite or huge rate (a period under 1 ns) was accepted and never advanced time."""
    err = _bad(irqfwd, "run", "nic-level", *SHORT, "--set", f"devices.0.traffic.rate_hz={value}")
    assert "devices.0.traffic.rate_hz: " in err


def test_rate_shortcut_overflowing_to_inf_is_refused(irqfwd) -> None:  # type: ignore[no-untyped-def]
    err = _bad(irqfwd, "run", "nic-level", *SHORT, "--set", "rate=1e400")
    assert "devices.0.traffic.rate_hz: Input should be a finite number" in err


def test_scenario_file_with_infinite_rate_names_the_field(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scen = tmp_path / "s.toml"
    scen.write_text("duration_ns = 50000\n[[devices]]\n[devices.traffic]\nrate_hz = inf\n")
    assert "devices.0.traffic.rate_hz: Input should be a finite number" in _bad(irqfwd, "run", str(scen))


def test_rate_of_1ghz_is_accepted(irqfwd) -> None:  # type: ignore[no-untyped-def]
    res = irqfwd("run", "nic-level", "--set", "duration=2us", "--set", "devices.0.traffic.rate_hz=1e9", "--json")
    assert res.code == 0, res.err


# --------------------------------------------------------------------------- vCPU pins

@pytest.mark.parametrize("source", ["set", "toml"])
def test_negative_vcpu_pin_is_refused(irqfwd, tmp_path: Path, source: str) -> None:  # type: ignore[no-untyped-def]
    if source == "set":
        err = _bad(irqfwd, "run", "nic-level", *SHORT, "--set", "vms.0.pin=[-1]")
    else:
        scen = tmp_path / "s.toml"
        scen.write_text("duration_ns = 50000\n[[vms]]\npin = [-1]\n")
        err = _bad(irqfwd, "run", str(scen))
    assert "vms.0.pin.0: Input should be greater than or equal to 0" in err


# --------------------------------------------------------------------------- long messages

def test_many_validation_errors_are_truncated(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """--set vms=N adds one NIC per VM; past INTID 1019 each is an error: the message lists
    the first few and counts the rest."""
    err = _bad(irqfwd, "run", "nic-level", *SHORT, "--set", "vms=1000")
    assert err.count("host_intid: Input should be less than or equal to 1019") == 5
    assert err.rstrip().endswith("; ... and 23 more")
    assert len(err) < 1000
