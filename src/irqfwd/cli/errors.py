"""Uniform handling of bad user input: a clear message and exit status 2, never a traceback."""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["InputError", "fail"]

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


class InputError(Exception):
    """Bad user input (CLI argument, TOML file, register script). The message names the problem."""


def fail(message: str) -> "NoReturn":  # noqa: UP037
    """Print ``irqfwd: error: message`` on stderr and exit with status 2."""
    _stderr.print(f"irqfwd: error: {message}", markup=False)
    sys.exit(2)


from typing import NoReturn  # noqa: E402
