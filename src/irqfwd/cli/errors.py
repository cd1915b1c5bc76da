"""Uniform handling of bad user input: a clear message and exit status 2, never a traceback."""

from __future__ import annotations

import sys
from typing import NoReturn

from rich.console import Console

from irqfwd.errors import InputError

__all__ = ["InputError", "fail", "parse_designs"]

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """Print ``irqfwd: error: message`` on stderr and exit with status 2."""
    _stderr.print(f"irqfwd: error: {message}", markup=False)
    sys.exit(2)


def parse_designs(text: str) -> list[str]:
    """``--designs D1,D2,...`` as every command reads it: at least one name, none twice,
    each a known design (:func:`irqfwd.system.run.known_designs`); :class:`InputError`
    naming the problem otherwise."""
    from irqfwd.system.run import known_designs

    names = [d.strip() for d in text.split(",") if d.strip()]
    if not names:
        raise InputError("--designs: no design given")
    if len(set(names)) != len(names):
        raise InputError("--designs: a design is listed twice")
    known = known_designs()
    for name in names:
        if name not in known:
            raise InputError(f"--designs: unknown design {name!r} (known: {', '.join(known)})")
    return names
