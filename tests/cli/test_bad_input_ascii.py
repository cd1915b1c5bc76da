"""Numbers typed by the user are read in ASCII digits only, as durations and rates are:
``int()`` and ``float()`` also read full-width ('１２') and Arabic-Indic ('١٢') digits, which
used to be taken as the number they spell.  Each case exits 2 with one line naming the
value (the register scripts: tests/regs/test_script_parser.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHORT = ["--set", "duration=50us"]


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("lrs=４", "--set lrs: '４' is not an integer (write numbers in ASCII digits)"),
        ("vcpus=١", "--set vcpus: '١' is not an integer (write numbers in ASCII digits)"),
        ("num_lrs=４", "--set num_lrs: '４' is not an integer (write numbers in ASCII digits)"),
        ("devices.0.traffic.rate_hz=２0000.5", "'２0000.5' is not a number (write numbers in ASCII digits)"),
    ],
    ids=["shortcut", "arabic-indic", "dotted-int", "dotted-float"],
)
def test_set_value_with_non_ascii_digits(irqfwd_error, assignment: str, message: str) -> None:  # type: ignore[no-untyped-def]
    """--set integers (shortcuts and dotted paths) and numbers: a non-ASCII digit is refused
    naming the key and the value (lrs=４ ran with 4 list registers)."""
    assert message in irqfwd_error("run", "nic-level", *SHORT, "--set", assignment)


def test_set_value_error_without_non_ascii_digits_is_unchanged(irqfwd_error) -> None:  # type: ignore[no-untyped-def]
    """The ASCII hint is given only when the value has a non-ASCII character."""
    err = irqfwd_error("run", "nic-level", *SHORT, "--set", "lrs=four")
    assert "--set lrs: 'four' is not an integer\n" in err


def test_sweep_parameter_with_non_ascii_digits(irqfwd_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A sweep point goes through the same --set parsing: refused before any run, naming
    the spec field; nothing is written."""
    spec = tmp_path / "s.toml"
    spec.write_text("scenario = 'nic-level'\nset = ['duration=50us']\ndesigns = ['forwarded']\nseeds = 1\n"
                    "[parameters]\nlrs = ['４']\n", encoding="utf-8")
    out = tmp_path / "out"
    err = irqfwd_error("sweep", str(spec), "--out", str(out), "--executor", "serial")
    assert "parameters.lrs = '４': '４' is not an integer (write numbers in ASCII digits)" in err
    assert not out.exists()


def test_trace_csv_time_with_non_ascii_digits(irqfwd_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A device's trace CSV: a full-width time_ns is refused naming FILE:LINE."""
    (tmp_path / "t.csv").write_text("time_ns\n10000\n２0000\n", encoding="utf-8")
    scen = tmp_path / "s.toml"
    scen.write_text("[[devices]]\n[devices.traffic]\npattern = 'trace'\ntrace_csv = 't.csv'\n")
    err = irqfwd_error("run", str(scen), *SHORT)
    assert "t.csv:3: time_ns '２0000' is not an integer (write numbers in ASCII digits)" in err


def test_calibrate_set_with_non_ascii_digits(irqfwd_error) -> None:  # type: ignore[no-untyped-def]
    """calibrate --set PARAM=NS: a full-width value is not a whole number of ns."""
    err = irqfwd_error("calibrate", "--set", "trap_to_el2_ns=１０")
    assert "--set trap_to_el2_ns: '１０' is not a whole number of ns" in err


def test_bench_counts_with_non_ascii_digits(irqfwd_error) -> None:  # type: ignore[no-untyped-def]
    """bench --memory-scaling --counts: a full-width count is refused before any run."""
    err = irqfwd_error("bench", "--memory-scaling", "--counts", "１００")
    assert "--counts １００: expected positive interrupt counts" in err
