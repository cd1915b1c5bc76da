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
import math
import random
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Final

from irqfwd.config import TrafficConfig
from irqfwd.errors import InputError
from irqfwd.sim.engine import NORMAL, Engine, Entry

__all__ = ["ArrivalMux", "ArrivalSource", "IterSource", "arrivals", "as_source", "read_trace_csv", "round_half_even"]

_NS_PER_S: Final = 1_000_000_000
heappop: Final = heapq.heappop
heappush: Final = heapq.heappush
# Final: the compiled build keeps them in C statics (no module-dict look-up per call).


def arrivals(cfg: TrafficConfig, rng: random.Random, start_ns: int, end_ns: int) -> ArrivalSource:
    """Absolute event times (ns) of pattern ``cfg`` in ``[start_ns + cfg.start_ns, end_ns)``
    (the first ``cfg.count`` of them when ``count`` is set), as an iterator that also
    answers :meth:`ArrivalSource.next_time` (a native call in the compiled build)."""
    src = _pattern(cfg, rng, start_ns, end_ns)
    if cfg.count is not None:
        src.left = cfg.count
    return src


def _pattern(cfg: TrafficConfig, rng: random.Random, start_ns: int, end_ns: int) -> ArrivalSource:
    if cfg.pattern == "trace":
        if cfg.trace_csv is None:  # the config validator already forbids this
            raise InputError("traffic pattern 'trace' needs trace_csv")
        return _Replay(read_trace_csv(Path(cfg.trace_csv)), start_ns, end_ns)
    start = start_ns + cfg.start_ns
    if cfg.pattern == "periodic":
        return _Periodic(start, end_ns, _NS_PER_S / cfg.rate_hz)
    if cfg.pattern == "poisson":
        return _Poisson(start, end_ns, cfg.rate_hz, rng)
    if cfg.pattern == "burst":
        period = cfg.burst_size * _NS_PER_S / cfg.rate_hz
        span = (cfg.burst_size - 1) * cfg.burst_gap_ns
        if span >= period:
            raise InputError(
                f"traffic: a burst of {cfg.burst_size} events spaced {cfg.burst_gap_ns} ns lasts "
                f"{span} ns, not shorter than the burst period {period:.0f} ns at rate_hz={cfg.rate_hz:g}"
            )
        return _Bursts(start, end_ns, period, cfg.burst_size, cfg.burst_gap_ns)
    raise InputError(f"traffic: unknown pattern {cfg.pattern!r}")  # pragma: no cover


def round_half_even(x: float) -> int:
    """``round(x)`` for ``x >= 0`` (ties to even, as Python's ``round``), in native
    arithmetic: ``round`` looks up ``float.__round__``, a generic call in the compiled
    build.  ``x - int(x)`` is exact for a double."""
    r = int(x)
    d = x - r
    if d > 0.5 or (d == 0.5 and r & 1):
        r += 1
    return r


class ArrivalSource:
    """A finite, non-decreasing sequence of event times (ns), drawn one at a time.

    :meth:`next_time` returns the next time, or -1 once the sequence is over (and from then
    on, drawing nothing more from a shared random generator).  ``left`` caps the number of
    events (``TrafficConfig.count``; -1: no cap).  Iterating over it yields the same times.
    """

    __slots__ = ("done", "end", "left")

    def __init__(self, end: int) -> None:
        self.end = end
        self.left = -1
        self.done = False

    def next_time(self) -> int:
        """The next event time, or -1 when there is none."""
        if self.done or self.left == 0:
            self.done = True
            return -1
        t = self._draw()
        if t < 0 or t >= self.end:
            self.done = True
            return -1
        if self.left > 0:
            self.left -= 1
        return t

    def _draw(self) -> int:
        """The next time of the pattern (checked against ``end`` by :meth:`next_time`)."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        """The remaining times (drawn as the iteration goes)."""
        while True:
            t = self.next_time()
            if t < 0:
                return
            yield t


class _Periodic(ArrivalSource):
    """``start + round(k * period)``, k = 0, 1, 2... (no drift from rounding the period)."""

    __slots__ = ("k", "period", "start")

    def __init__(self, start: int, end: int, period: float) -> None:
        super().__init__(end)
        self.start = start
        self.period = period
        self.k = 0

    def _draw(self) -> int:
        t = self.start + round_half_even(self.k * self.period)
        self.k += 1
        return t


def _expovariate(draw: Callable[[], float], lam: float) -> float:
    """``rng.expovariate(lam)`` computed here (``draw`` is ``rng.random``), the same
    operations as CPython's ``random.expovariate`` (``-log(1.0 - random()) / lambd``,
    3.11-3.13), so the draws are bit-identical; compiled, it saves a call into the
    interpreted ``random.py`` per arrival."""
    return -math.log(1.0 - draw()) / lam


class _Poisson(ArrivalSource):
    """Exponential gaps of mean ``1e9 / rate_hz`` from ``rng``; the first event one gap
    after ``start``; times rounded to ns and kept non-decreasing."""

    __slots__ = ("draw", "lam", "last", "t")

    def __init__(self, start: int, end: int, rate_hz: float, rng: random.Random) -> None:
        super().__init__(end)
        self.lam = rate_hz / _NS_PER_S  # events per ns
        self.draw: Callable[[], float] = rng.random
        """``rng.random``, looked up once (a method look-up per call otherwise)."""
        self.t = float(start)
        self.last = start

    def _draw(self) -> int:
        self.t += _expovariate(self.draw, self.lam)
        ti = round_half_even(self.t)
        if ti < self.last:
            ti = self.last
        self.last = ti
        return ti


class _Bursts(ArrivalSource):
    """Bursts of ``size`` events ``gap`` ns apart, starting every ``period`` ns."""

    __slots__ = ("gap", "i", "k", "period", "size", "start")

    def __init__(self, start: int, end: int, period: float, size: int, gap: int) -> None:
        super().__init__(end)
        self.start = start
        self.period = period
        self.size = size
        self.gap = gap
        self.k = 0
        self.i = 0

    def _draw(self) -> int:
        t = self.start + round_half_even(self.k * self.period) + self.i * self.gap
        self.i += 1
        if self.i == self.size:
            self.i = 0
            self.k += 1
        return t


class _Replay(ArrivalSource):
    """The rows of a trace CSV, each at ``start + time_ns``."""

    __slots__ = ("i", "start", "times")

    def __init__(self, times: list[int], start: int, end: int) -> None:
        super().__init__(end)
        self.times = times
        self.start = start
        self.i = 0

    def _draw(self) -> int:
        if self.i == len(self.times):
            return -1
        t = self.start + self.times[self.i]
        self.i += 1
        return t


class IterSource(ArrivalSource):
    """Any iterator of times as an :class:`ArrivalSource` (e.g. shifted arrivals)."""

    __slots__ = ("it",)

    def __init__(self, it: Iterator[int]) -> None:
        super().__init__(1 << 62)
        self.it = it

    def _draw(self) -> int:
        t = next(self.it, None)
        return -1 if t is None else t


def as_source(times: Iterable[int]) -> ArrivalSource:
    """``times`` itself when it is an :class:`ArrivalSource`, else wrapped in one."""
    return times if isinstance(times, ArrivalSource) else IterSource(iter(times))


def read_trace_csv(path: Path) -> list[int]:
    """Event times of a trace CSV (column ``time_ns``); :class:`InputError` names file and line."""
    try:
        handle = path.open(newline="", encoding="utf-8")
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
        except UnicodeDecodeError:
            raise InputError(f"{path}: not a UTF-8 text file") from None
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
                    if not text.isascii():  # int() reads full-width and other Unicode digits
                        raise ValueError(text)
                    t = int(text)
                except ValueError:
                    hint = "" if text.isascii() else " (write numbers in ASCII digits)"
                    raise InputError(f"{path}:{line}: time_ns {text!r} is not an integer{hint}") from None
                if t < 0:
                    raise InputError(f"{path}:{line}: time_ns {t} is negative")
                if t < last:
                    raise InputError(f"{path}:{line}: time_ns {t} is earlier than the previous row ({last})")
                times.append(t)
                last = t
        except csv.Error as exc:
            raise InputError(f"{path}:{reader.line_num}: {exc}") from None
        except UnicodeDecodeError:
            raise InputError(f"{path}: not a UTF-8 text file") from None
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
        self._heap: list[Entry] = []
        """Pending arrivals, as the engine entries they stand for (time, sequence number,
        the device's sink) but not scheduled: ordered natively by ``(time, seq)``."""
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
        heappush(heap, Entry(t, NORMAL, seq, self._sinks[slot], ()))
        if not self._firing and heap[0].seq == seq:  # the new earliest (else: when firing ends)
            self._schedule(t, seq)

    def sink_for(self, seq: int) -> Callable[[], None] | None:
        """The device sink of the pending arrival whose engine sequence number is ``seq``
        (None if none is pending with it): which device an engine entry of the mux is for."""
        for p in self._heap:
            if p.seq == seq:
                return p.callback
        return None

    def _schedule(self, t: int, seq: int) -> None:
        self._scheduled.add(seq)
        self._engine.at_seq(t, seq, self._fire_cb)

    def _fire(self) -> None:
        heap = self._heap
        p = heappop(heap)
        sink = p.callback
        assert sink is not None
        self._scheduled.discard(p.seq)
        self._firing = True
        try:
            sink()
        finally:
            self._firing = False
        if heap:
            head = heap[0]
            if head.seq not in self._scheduled:
                self._schedule(head.time, head.seq)
