"""Uniform handling of bad user input: a clear message and exit status 2, never a traceback."""

from __future__ import annotations

import sys
from typing import NoReturn

from rich.console import Console

from irqfwd.errors import InputError

__all__ = ["InputError", "fail"]

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """Print ``irqfwd: error: message`` on stderr and exit with status 2."""
    _stderr.print(f"irqfwd: error: {message}", markup=False)
    sys.exit(2)
