"""``irqfwd run --profile PATH``: where the simulator spends its wall time, by function.

A statistical profile of the run (pyinstrument, 1 ms samples of the Python stack) written
when the run has finished, in the format the extension of PATH names:

* ``.html``: pyinstrument's interactive call tree (open it in a browser);
* ``.txt``: the same tree as plain text;
* ``.json``: the speedscope format (https://www.speedscope.app, or Perfetto's importer).

The file is written through a temporary file in its directory and renamed over PATH, so
an interrupted or failed run leaves a previous file at PATH untouched.

The compiled build (:mod:`irqfwd._accel`) runs the model as C functions, which have no
Python frames: its profile stops at the engine's run loop.  ``IRQFWD_ACCEL=off`` gives the
per-function profile of the same run (about 16 times slower).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from irqfwd.errors import InputError
from irqfwd.fileio import atomic_write_text, check_output_path

__all__ = ["PROFILE_FORMATS", "check_profile_path", "profiled"]

PROFILE_FORMATS: Final = {".html": "html", ".txt": "text", ".json": "speedscope"}
"""Extension of the profile's path → its format."""

_INTERVAL_S: Final = 0.001


def check_profile_path(path: Path) -> str:
    """The format of a profile written to ``path``; :class:`InputError` when ``path`` cannot be
    written or its extension names no format."""
    fmt = PROFILE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"--profile {path}: unknown extension {path.suffix or '(none)'!r} "
                         f"(known: {', '.join(PROFILE_FORMATS)})")
    check_output_path(path, "--profile")
    return fmt


def _render(profiler: object, fmt: str) -> str:
    from pyinstrument import Profiler
    from pyinstrument.renderers import ConsoleRenderer, HTMLRenderer, SpeedscopeRenderer

    assert isinstance(profiler, Profiler)
    if fmt == "html":
        return profiler.output(HTMLRenderer())
    if fmt == "speedscope":
        return profiler.output(SpeedscopeRenderer())
    return profiler.output(ConsoleRenderer(unicode=True, color=False))


@contextmanager
def profiled(path: Path) -> Iterator[None]:
    """Profile the body; when it returns, write the profile to ``path`` (nothing is
    written when it raises)."""
    from pyinstrument import Profiler

    fmt = check_profile_path(path)
    profiler = Profiler(interval=_INTERVAL_S, async_mode="disabled")
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
    atomic_write_text(path, [_render(profiler, fmt)], "--profile")
