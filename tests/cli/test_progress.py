"""The progress bar of ``irqfwd run`` / ``compare`` / ``sweep``: on stderr, only on a
terminal, never with ``--quiet``, and stdout (``--json``) is the same bytes either way."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from irqfwd.cli.progress import RunBar, fmt_sim_ns, show_after_s

ROOT = Path(__file__).resolve().parents[2]
SHORT = ["--set", "duration=20ms", "--json"]


def _on_a_pty(*args: str) -> tuple[int, bytes, bytes]:
    """Run ``irqfwd ARGS`` with stderr on a pseudo-terminal and stdout on a pipe; the bar
    is asked to appear at once (IRQFWD_PROGRESS_AFTER=0)."""
    master, slave = pty.openpty()
    env = dict(os.environ, IRQFWD_PROGRESS_AFTER="0", COLUMNS="160",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-c", "from irqfwd.cli.main import main; main()", *args],
                            stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    out = proc.stdout.read() if proc.stdout else b""
    return proc.wait(), out, err


def test_bar_on_a_terminal_stderr_and_json_untouched(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """With stderr a terminal the bar is drawn there (design, simulated time, IRQs/s);
    stdout carries exactly the JSON of a run without any terminal."""
    code, out, err = _on_a_pty("run", "nic-level", "--design", "forwarded", *SHORT)
    assert code == 0, err
    text = err.decode("utf-8", "replace")
    assert "nic-level forwarded" in text
    assert "20.00 ms / 20.00 ms simulated" in text  # the finished run's row stays
    assert "401 IRQs" in text and "IRQs/s" in text
    plain = irqfwd("run", "nic-level", "--design", "forwarded", *SHORT)
    assert out.decode() == plain.out
    json.loads(out)


def test_compare_bar_has_a_row_per_design() -> None:
    """compare: one finished row per design."""
    code, out, err = _on_a_pty("compare", "nic-level", "--designs", "forwarded,sw-deactivate", *SHORT)
    assert code == 0, err
    text = err.decode("utf-8", "replace")
    assert "nic-level forwarded" in text and "nic-level sw-deactivate" in text
    assert set(json.loads(out)["designs"]) == {"forwarded", "sw-deactivate"}


def test_quiet_draws_nothing_on_a_terminal() -> None:
    """--quiet: nothing on the terminal's stderr, the same JSON on stdout."""
    code, out, err = _on_a_pty("run", "nic-level", "--design", "forwarded", *SHORT, "--quiet")
    assert code == 0
    assert b"simulated" not in err and b"IRQs/s" not in err
    assert json.loads(out)["designs"]["forwarded"]["counters"]["guest_irqs_handled"] == 401


def test_no_bar_when_stderr_is_not_a_terminal(irqfwd, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Captured stderr (a pipe or file, as in CI) gets no bar, even asked to show at once."""
    monkeypatch.setenv("IRQFWD_PROGRESS_AFTER", "0")
    res = irqfwd("compare", "nic-level", "--designs", "forwarded", *SHORT)
    assert res.code == 0
    assert res.err == ""


def test_bar_with_an_injected_terminal_console() -> None:
    """RunBar draws on a forced-terminal console after ``after_s``, not before, and not at
    all when quiet; stop leaves the finished row with the end time."""
    from rich.console import Console

    buf = io.StringIO()
    bar = RunBar("scen", console=Console(file=buf, force_terminal=True, width=150), after_s=0.0)
    bar.start("forwarded", 2_000_000)
    bar.update(1_000_000, 20)
    bar.stop(2_100_000, 41)
    bar.close()
    text = buf.getvalue()
    assert bar.updates == 2
    assert "scen forwarded" in text and "1.00 ms / 2.00 ms simulated" in text
    assert "2.00 ms / 2.00 ms simulated" in text and "41 IRQs" in text

    late = RunBar("scen", console=Console(file=io.StringIO(), force_terminal=True), after_s=3600)
    late.start("forwarded", 2_000_000)
    late.update(1_000_000, 20)
    late.stop(2_000_000, 41)
    assert late.updates == 0 and late.progress is None  # a short run draws nothing

    quiet = RunBar("scen", quiet=True, console=Console(file=io.StringIO(), force_terminal=True), after_s=0)
    quiet.start("forwarded", 2_000_000)
    quiet.update(1_000_000, 20)
    assert quiet.updates == 0 and not quiet.enabled


def test_show_after_and_units(monkeypatch: pytest.MonkeyPatch) -> None:
    """IRQFWD_PROGRESS_AFTER overrides the delay when it is a number ≥ 0; simulated time
    is shown in ns, µs, ms or s."""
    monkeypatch.setenv("IRQFWD_PROGRESS_AFTER", "2.5")
    assert show_after_s() == 2.5
    monkeypatch.setenv("IRQFWD_PROGRESS_AFTER", "soon")
    assert show_after_s() == 0.5
    monkeypatch.setenv("IRQFWD_PROGRESS_AFTER", "-1")
    assert show_after_s() == 0.5
    assert [fmt_sim_ns(x) for x in (999, 12_500, 3_000_000, 2_500_000_000)] == [
        "999 ns", "12.50 µs", "3.00 ms", "2.50 s"]


def test_sweep_bar_adds_simulated_time_and_rate() -> None:
    """The sweep/study bar sums the finished runs' simulated time and guest interrupts
    (timer interrupts included) and skips failed runs."""
    from rich.console import Console

    from irqfwd.cli.sweep import _Bar

    buf = io.StringIO()
    bar = _Bar(False, "study", console=Console(file=buf, force_terminal=True, width=200))
    bar.start(3, 0)
    bar.advance({"summary": {"sim_time_ns": 2_000_000, "counters": {"guest_irqs_handled": 40}}})
    bar.advance({"summary": {"sim_time_ns": 3_000_000, "counters": {"guest_irqs_handled": 10,
                                                                    "guest_timer_irqs": 5}}})
    bar.advance({"error": "boom"})
    bar.stop()
    assert (bar.sim_ns, bar.irqs, bar.failed) == (5_000_000, 55, 1)
    text = buf.getvalue()
    assert "5.00 ms simulated, 55 IRQs" in text and "IRQs/s" in text
