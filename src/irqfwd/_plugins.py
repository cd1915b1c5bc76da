"""Import-once loading of the optional modules that extend a registry (rules, scenarios)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

__all__ = ["import_plugins"]

_done: set[str] = set()


def import_plugins(modules: Iterable[str]) -> None:
    """Import each module of ``modules`` once; a module that is absent is skipped.

    An import error *inside* a present module propagates (it is a bug, not an absence).
    """
    for mod in modules:
        if mod in _done:
            continue
        _done.add(mod)
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
