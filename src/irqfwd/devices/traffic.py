"""Traffic patterns: when a device has a new event (packet, completion) to signal.

:func:`arrivals` turns a :class:`~irqfwd.config.TrafficConfig` into a finite,
non-decreasing sequence of absolute event times (integer ns) in ``[start, end_ns)``, where
``start = start_ns + cfg.start_ns``:

* ``periodic``: ``start + round(k * 1e9 / rate_hz)`` for k = 0, 1, 2...  (no drift from
  rounding the period).
* ``poisson``: exponential gaps of mean ``1e9 / rate_hz`` drawn from ``rng`` (the engine's
  generator, so runs are reproducible); the first event comes one gap after ``start``.
* ``burst``: bursts of ``burst_size`` events spaced ``burst_gap_ns``; bursts start
  periodically at ``rate_hz / burst_size`` (so the mean event rate is ``rate_hz``).
* ``trace``: replay of a CSV file with a ``time_ns`` column; each row is one event at
  ``start_ns + time_ns``.  Rows must be non-negative integers in non-decreasing order; a bad
  file raises :class:`~irqfwd.cli.errors.InputError` naming the file and the line.

``count`` (when set) keeps only the first ``count`` events of any pattern.

:class:`ArrivalMux` keeps the pending arrivals of every device behind one engine entry.

Pure Python, no dependency: the CSV is read with the ``csv`` module.
"""

from __future__ import annotations

import csv
import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from irqfwd.config import TrafficConfig
from irqfwd.errors import InputError
from irqfwd.sim.engine import Engine

__all__ = ["ArrivalMux", "arrivals", "read_trace_csv"]

_NS_PER_S: Final = 1_000_000_000
heappop: Final = heapq.heappop
heappush: Final = heapq.heappush
# Final: the compiled build keeps them in C statics (no module-dict look-up per call).


def arrivals(cfg: TrafficConfig, rng: random.Random, start_ns: int, end_ns: int) -> Iterator[int]:
    """Absolute event times (ns) of pattern ``cfg`` in ``[start_ns + cfg.start_ns, end_ns)``
    (the first ``cfg.count`` of them when ``count`` is set)."""
    times = _pattern(cfg, rng, start_ns, end_ns)
    return times if cfg.count is None else itertools.islice(times, cfg.count)


def _pattern(cfg: TrafficConfig, rng: random.Random, start_ns: int, end_ns: int) -> Iterator[int]:
    if cfg.pattern == "trace":
        if cfg.trace_csv is None:  # the config validator already forbids this
            raise InputError("traffic pattern 'trace' needs trace_csv")
        times = read_trace_csv(Path(cfg.trace_csv))
        return (start_ns + t for t in times if start_ns + t < end_ns)
    start = start_ns + cfg.start_ns
    if cfg.pattern == "periodic":
        return _periodic(start, end_ns, _NS_PER_S / cfg.rate_hz)
    if cfg.pattern == "poisson":
        return _poisson(start, end_ns, cfg.rate_hz, rng)
    if cfg.pattern == "burst":
        period = cfg.burst_size * _NS_PER_S / cfg.rate_hz
        span = (cfg.burst_size - 1) * cfg.burst_gap_ns
        if span >= period:
            raise InputError(
                f"traffic: a burst of {cfg.burst_size} events spaced {cfg.burst_gap_ns} ns lasts "
                f"{span} ns, not shorter than the burst period {period:.0f} ns at rate_hz={cfg.rate_hz:g}"
            )
        return _bursts(start, end_ns, period, cfg.burst_size, cfg.burst_gap_ns)
    raise InputError(f"traffic: unknown pattern {cfg.pattern!r}")  # pragma: no cover


def _periodic(start: int, end: int, period: float) -> Iterator[int]:
    k = 0
    while True:
        t = start + round(k * period)
        if t >= end:
            return
        yield t
        k += 1


def _expovariate(rng: random.Random, lam: float) -> float:
    """``rng.expovariate(lam)`` computed here, the same operations as CPython's
    ``random.expovariate`` (``-log(1.0 - random()) / lambd``, 3.11-3.13), so the draws are
    bit-identical; compiled, it saves a call into the interpreted ``random.py`` per arrival."""
    return -math.log(1.0 - rng.random()) / lam


def _poisson(start: int, end: int, rate_hz: float, rng: random.Random) -> Iterator[int]:
    lam = rate_hz / _NS_PER_S  # events per ns
    t = float(start)
    last = start
    while True:
        t += _expovariate(rng, lam)
        ti = max(last, round(t))
        if ti >= end:
            return
        yield ti
        last = ti


def _bursts(start: int, end: int, period: float, size: int, gap: int) -> Iterator[int]:
    k = 0
    while True:
        base = start + round(k * period)
        if base >= end:
            return
        for i in range(size):
            t = base + i * gap
            if t >= end:
                return
            yield t
        k += 1


def read_trace_csv(path: Path) -> list[int]:
    """Event times of a trace CSV (column ``time_ns``); :class:`InputError` names file and line."""
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot read trace: {exc.strerror or exc}") from None
    times: list[int] = []
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(f"{path}:1: empty trace file (expected a header with a time_ns column)") from None
        except csv.Error as exc:
            raise InputError(f"{path}:1: {exc}") from None
        names = [h.strip() for h in header]
        if "time_ns" not in names:
            raise InputError(f"{path}:1: no time_ns column in header {','.join(names)!r}")
        col = names.index("time_ns")
        last = 0
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if col >= len(row):
                    raise InputError(f"{path}:{line}: missing time_ns value")
                text = row[col].strip()
                try:
                    t = int(text)
                except ValueError:
                    raise InputError(f"{path}:{line}: time_ns {text!r} is not an integer") from None
                if t < 0:
                    raise InputError(f"{path}:{line}: time_ns {t} is negative")
                if t < last:
                    raise InputError(f"{path}:{line}: time_ns {t} is earlier than the previous row ({last})")
                times.append(t)
                last = t
        except csv.Error as exc:
            raise InputError(f"{path}:{reader.line_num}: {exc}") from None
    return times


class ArrivalMux:
    """The next arrival of every device behind **one** engine entry.

    Each device keeps exactly one future arrival known (it draws the next when the current
    one happens).  With an engine entry per device, N devices keep N entries in the engine
    heap and every push and pop of the whole simulation pays for them; here they wait in
    the mux's own heap and only the earliest is scheduled.  Each arrival takes its engine
    sequence number when it becomes known (:meth:`Engine.reserve_seq`, exactly when its own
    entry would have been scheduled) and is scheduled with it (:meth:`Engine.at_seq`), so
    arrivals run at the same instants and in the same order among the other entries as
    with one entry each: results are identical.

    The earliest pending arrival always has its engine entry; the entries run in the order
    of the mux's heap, so the entry that runs is the earliest's.  An arrival that stops
    being the earliest (a device started later with an earlier first arrival) keeps its
    entry (an entry is scheduled once per sequence number, never again after a cancel).
    """

    __slots__ = ("_engine", "_fire_cb", "_firing", "_heap", "_scheduled", "_sinks")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._fire_cb: Callable[[], None] = self._fire
        """:meth:`_fire` as the engine callback (one bound method for the whole run)."""
        self._heap: list[tuple[int, int, int]] = []
        """Pending arrivals: ``(time, engine sequence number, device slot)``."""
        self._sinks: list[Callable[[], None]] = []
        self._scheduled: set[int] = set()
        """Sequence numbers of the pending arrivals that have their engine entry."""
        self._firing = False

    def add(self, sink: Callable[[], None]) -> int:
        """A new device whose arrivals call ``sink()``; returns its slot for :meth:`push`."""
        self._sinks.append(sink)
        return len(self._sinks) - 1

    def push(self, slot: int, time: int) -> None:
        """Device ``slot``'s next arrival is at ``time`` (ns, clamped to now)."""
        eng = self._engine
        t = max(time, eng.now)
        seq = eng.reserve_seq()
        heap = self._heap
        heappush(heap, (t, seq, slot))
        if not self._firing and heap[0][1] == seq:  # the new earliest (else: when firing ends)
            self._schedule(t, seq)

    def sink_for(self, seq: int) -> Callable[[], None] | None:
        """The device sink of the pending arrival whose engine sequence number is ``seq``
        (None if none is pending with it): which device an engine entry of the mux is for."""
        for _t, s, slot in self._heap:
            if s == seq:
                return self._sinks[slot]
        return None

    def _schedule(self, t: int, seq: int) -> None:
        self._scheduled.add(seq)
        self._engine.at_seq(t, seq, self._fire_cb)

    def _fire(self) -> None:
        heap = self._heap
        _t, seq, slot = heappop(heap)
        self._scheduled.discard(seq)
        self._firing = True
        try:
            self._sinks[slot]()
        finally:
            self._firing = False
        if heap:
            head = heap[0]
            if head[1] not in self._scheduled:
                self._schedule(head[0], head[1])
