"""Helpers for the periphery tests: run the real ``irqfwd`` entry point in-process."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest


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
