"""Helpers for the periphery tests: run the real ``irqfwd`` entry point in-process; every
test starts and ends with SIGPIPE ignored, as Python starts."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


def _sigpipe_ignored(when: str) -> None:
    found = signal.getsignal(signal.SIGPIPE)
    if found != signal.SIG_IGN:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        pytest.fail(f"SIGPIPE is not ignored {when}: found {found!r} (vcdvcd sets the default"
                    " action when imported; see read_vcd in tests/trace/readers.py)", pytrace=False)


@pytest.fixture(autouse=True)
def _sigpipe_stays_ignored() -> Iterator[None]:
    """Python ignores SIGPIPE, so a write to a closed pipe or socket raises BrokenPipeError,
    which multiprocessing (the resource tracker's probe, the process pools), Dask's comms
    and the QEMU probe's close expect.  A module that puts back the default action makes
    that write kill the pytest-xdist worker without a word ("node down", no traceback):
    the test that finds SIGPIPE changed fails instead, and SIGPIPE is ignored again."""
    _sigpipe_ignored("when the test starts (changed at collection or by an earlier test's teardown)")
    yield
    _sigpipe_ignored("when the test ends (changed by this test)")


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def irqfwd(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Call ``irqfwd ARGS...`` through :func:`irqfwd.cli.main.main` (InputError → exit 2)."""
    from irqfwd.cli.main import main

    def call(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["irqfwd", *args])
        capsys.readouterr()
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return call


@pytest.fixture
def irqfwd_error(irqfwd):  # type: ignore[no-untyped-def]
    """Call ``irqfwd ARGS...`` with bad input: assert exit status 2, a single
    ``irqfwd: error:`` line and no traceback (the project's rule for bad input); returns the
    message."""

    def call(*args: str) -> str:
        res = irqfwd(*args)
        assert res.code == 2, (res.code, res.out[-500:], res.err[-500:])
        assert "Traceback" not in res.err + res.out
        assert res.err.startswith("irqfwd: error: ") and res.err.count("\n") == 1, res.err
        return str(res.err)

    return call
