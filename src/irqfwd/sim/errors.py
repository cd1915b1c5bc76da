"""Exceptions of the simulation core.

Kept in a module of its own, always interpreted: a class deriving from
``RuntimeError`` cannot be a mypyc native class, and :mod:`irqfwd.sim.engine` is
compiled when mypyc is available (``docs/performance.md``, "Compiled build").
"""

from __future__ import annotations

__all__ = ["SimulationError"]


class SimulationError(RuntimeError):
    """Raised for misuse of the engine (negative delays, yielding unsupported values)."""
