"""Progress bars of the ``irqfwd`` commands, on stderr and only on a terminal.

* :class:`RunBar`: ``irqfwd run`` / ``compare``: one row per design with the simulated
  time reached against the scenario's duration, the guest interrupts handled and the
  simulated interrupts per wall-clock second.  It appears once a run has taken
  :data:`SHOW_AFTER_S` (``IRQFWD_PROGRESS_AFTER`` seconds if set), so a short run prints
  nothing, and stays when the run ends (the figures of the finished run).
* The sweep and study bar (:mod:`irqfwd.cli.sweep`) uses :func:`stderr_console` and
  :func:`sim_columns` to show the same figures over the finished runs.

Nothing is drawn with ``--quiet`` or when stderr is not a terminal (a pipe, a file, the
test suite's capture); stdout (tables, ``--json``) is never written.  The bar is redrawn by
the simulation's own thread between slices of simulated time
(:func:`irqfwd.system.run.advance`), so it needs no second thread, which compiled
(mypyc) code would rarely let run, and it never changes the run.
"""

from __future__ import annotations

import os
import time
from typing import Any

from irqfwd.system.run import RunProgress

__all__ = ["SHOW_AFTER_S", "RunBar", "fmt_sim_ns", "show_after_s", "stderr_console"]

SHOW_AFTER_S = 0.5
"""A run's bar appears once the run has taken this many wall-clock seconds."""


def show_after_s() -> float:
    """:data:`SHOW_AFTER_S`, or ``IRQFWD_PROGRESS_AFTER`` (seconds) when it is a number ≥ 0."""
    raw = os.environ.get("IRQFWD_PROGRESS_AFTER")
    if raw:
        try:
            value = float(raw)
        except ValueError:
            return SHOW_AFTER_S
        if value >= 0:
            return value
    return SHOW_AFTER_S


def stderr_console() -> Any:
    """The rich console progress is drawn on (stderr)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def fmt_sim_ns(ns: float) -> str:
    """Simulated time in the largest unit that keeps it ≥ 1 (ns, µs, ms, s)."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:,.2f} {unit}"
    return f"{ns:.0f} ns"


class RunBar(RunProgress):
    """The progress bar of ``irqfwd run`` and ``compare`` (see the module docstring).

    ``console`` defaults to :func:`stderr_console`; the bar is drawn only when it is a
    terminal and ``quiet`` is false.  Call :meth:`close` when every run has ended.
    """

    def __init__(self, label: str, *, quiet: bool = False, console: Any = None,
                 after_s: float | None = None) -> None:
        self.console = console if console is not None else stderr_console()
        self.enabled = not quiet and bool(self.console.is_terminal)
        self.label = label
        self.after_s = show_after_s() if after_s is None else after_s
        self.progress: Any = None
        self._task: Any = None
        self._design = ""
        self._end = 0
        self._t0 = 0.0
        self.updates = 0
        """Redraws so far (updates seen while the bar is shown)."""

    # ------------------------------------------------------------------ RunProgress
    def start(self, design: str, end_ns: int) -> None:
        self._design = design
        self._end = max(end_ns, 1)
        self._t0 = time.perf_counter()
        self._task = None

    def update(self, now_ns: int, irqs: int) -> None:
        if not self.enabled:
            return
        if self.progress is None and time.perf_counter() - self._t0 < self.after_s:
            return
        self._show(now_ns, irqs)

    def stop(self, now_ns: int, irqs: int) -> None:
        # leave the finished run's figures when it was shown or lasted long enough
        if self.enabled and (self._task is not None or time.perf_counter() - self._t0 >= self.after_s):
            self._show(max(now_ns, self._end), irqs)
        self._task = None

    def close(self) -> None:
        """Take the live display down (the finished rows stay on the terminal)."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    # ------------------------------------------------------------------ drawing
    def _begin(self) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(),
            TextColumn("{task.fields[sim]}"), TextColumn("{task.fields[irqs]}"),
            TextColumn("[bold]{task.fields[rate]}"), TextColumn("{task.fields[wall]}"),
            console=self.console, auto_refresh=False, transient=False,
        )
        self.progress.start()

    def _show(self, now_ns: int, irqs: int) -> None:
        if self.progress is None:
            self._begin()
        wall = time.perf_counter() - self._t0
        shown = min(now_ns, self._end)
        fields = {
            "sim": f"{fmt_sim_ns(shown)} / {fmt_sim_ns(self._end)} simulated",
            "irqs": f"{irqs:,} IRQs",
            "rate": f"{irqs / wall:,.0f} IRQs/s" if wall > 0 else "",
            "wall": f"{wall:.1f} s",
        }
        if self._task is None:
            self._task = self.progress.add_task(f"{self.label} {self._design}", total=self._end, completed=shown,
                                                **fields)
        else:
            self.progress.update(self._task, completed=shown, **fields)
        self.progress.refresh()
        self.updates += 1
