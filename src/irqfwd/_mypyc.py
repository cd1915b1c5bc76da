"""``mypyc_attr`` for modules that the optional mypyc build compiles.

mypy and mypyc see :func:`mypy_extensions.mypyc_attr` (mypyc reads the decorator
statically); at run time it is an identity decorator, so neither the interpreted nor the
compiled package needs ``mypy_extensions`` installed.  See ``docs/performance.md``,
"Compiled build".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

__all__ = ["mypyc_attr"]

_T = TypeVar("_T")

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr
else:

    def mypyc_attr(*_attrs: str, **_kwattrs: object) -> Callable[[_T], _T]:
        """Identity decorator standing in for ``mypy_extensions.mypyc_attr``."""

        def identity(obj: _T) -> _T:
            return obj

        return identity
