"""The model's own exception types (no dependency on the CLI or on rich).

Everything below :mod:`irqfwd.cli` raises these; the CLI turns :class:`InputError` into a
one-line message and exit status 2 (:func:`irqfwd.cli.errors.fail`).  Kept interpreted:
a class deriving from a built-in exception cannot be a mypyc native class.
"""

from __future__ import annotations

__all__ = ["InputError", "IrqfwdError", "SimulationError"]


class IrqfwdError(Exception):
    """Base class of irqfwd's exceptions."""


class InputError(IrqfwdError):
    """Bad user input (CLI argument, TOML file, register script, sweep spec...).

    The message names the offending field or value and the problem.
    """


class SimulationError(IrqfwdError, RuntimeError):
    """Misuse of the event engine (negative delays, yielding unsupported values)."""
