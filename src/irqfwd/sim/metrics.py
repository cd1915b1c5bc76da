"""Counters, streamed latency statistics and the trace-event bus every model reports through.

Models never print or keep their own statistics: they call :meth:`Recorder.count`,
:meth:`Recorder.latency` and :meth:`Recorder.emit`.  Event names follow the Linux
tracepoints where one exists (``kvm_exit``, ``kvm_entry``, ``irq_handler_entry``,
``vgic_update_irq_pending``, ...), so a trace reads like ``perf kvm`` output.

``emit`` is the hook the online invariant checker and the trace writers subscribe to.
It costs one dict lookup when nobody listens to that event name and tracing is off.
A *tracer* (:meth:`Recorder.set_tracer`, a :class:`Listener`) receives every event as it
is emitted (the streaming exporters of :mod:`irqfwd.trace`); ``tracing=True`` instead keeps
every event in the in-memory list :attr:`Recorder.trace` (tests, short runs).
Subscribers are :class:`Listener` objects (``on_event(name, time_ns, fields)``, a direct
method call in the compiled build) or plain callables ``fn(time_ns, fields)``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar, Final

from irqfwd._mypyc import mypyc_attr
from irqfwd.sim.engine import Engine

__all__ = [
    "LATENCY_RELATIVE_ERROR",
    "CounterSite",
    "EventSite",
    "LatencyStats",
    "Listener",
    "NoopTracer",
    "Recorder",
    "TraceEvent",
    "latency_bucket",
    "latency_bucket_bounds",
]

TraceEvent = tuple[int, str, dict[str, Any]]
"""``(time_ns, name, fields)`` as kept in :attr:`Recorder.trace`."""

Subscriber = Callable[[int, dict[str, Any]], None]


@mypyc_attr(allow_interpreted_subclasses=True)
class Listener:
    """An object subscribed with :meth:`Recorder.listen`: :meth:`on_event` receives every
    event it listens to (one method call per event, no bound-method object)."""

    events: ClassVar[tuple[str, ...]] = ()
    """The events :meth:`on_event` routes (for subscribers that subscribe themselves by it,
    e.g. the invariant checker's rules)."""

    def on_event(self, name: str, time_ns: int, fields: dict[str, Any]) -> None:
        """Handle event ``name`` emitted at ``time_ns`` with ``fields``."""
        raise NotImplementedError(f"{type(self).__name__} does not handle {name!r}")


class NoopTracer(Listener):
    """A tracer that ignores every event: attached in place of a trace exporter, it
    measures what producing and dispatching the events costs (``irqfwd bench --tracing``).
    Compiled with the recorder, so the call into it is a native one."""

    __slots__ = ()

    def on_event(self, name: str, time_ns: int, fields: dict[str, Any]) -> None:
        return None


class EventSite:
    """A hot emission site of one event (:meth:`Recorder.event`): a reusable ``fields``
    dict whose keys are fixed at creation, and :attr:`live`, true while emitting would
    reach anyone (tracing, or a subscriber of :attr:`name`).

    The site updates the changing values in :attr:`fields` and calls :meth:`emit` only when
    :attr:`live`; that costs no dict construction.  Listeners see the site's own dict for
    the duration of the call (the :class:`Listener` contract: never keep ``fields``);
    plain-callable subscribers and the trace get a copy.  The site holds the listeners of
    its event in dispatch order (:attr:`listeners`, kept up to date by the recorder), so an
    emission is one loop of direct calls.
    """

    __slots__ = ("_engine", "fields", "listeners", "live", "name")

    def __init__(self, rec: Recorder, name: str, fields: dict[str, Any]) -> None:
        self._engine = rec._engine
        self.name = name
        self.fields = fields
        self.listeners: list[Listener] = rec._dispatch_list(name)
        """Who receives the event, in order: the in-memory trace, the tracer, the subscribers."""
        self.live = bool(self.listeners)

    def emit(self) -> None:
        """Publish the event with the current :attr:`fields` at the current simulated time."""
        now = self._engine.now
        name = self.name
        fields = self.fields
        for listener in self.listeners:
            listener.on_event(name, now, fields)


class CounterSite:
    """A hot counter (:meth:`Recorder.counter`): ``site.n += k`` costs no dict update; the
    count is folded into :attr:`Recorder.counters` whenever that is read."""

    __slots__ = ("n", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.n = 0


class _Callback(Listener):
    """A plain callable ``fn(time_ns, fields)`` subscribed with :meth:`Recorder.subscribe`
    (it gets its own copy of ``fields``: a plain callable may keep it)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Subscriber) -> None:
        self.fn = fn

    def on_event(self, name: str, time_ns: int, fields: dict[str, Any]) -> None:
        self.fn(time_ns, dict(fields))


class _TraceKeeper(Listener):
    """Appends every event to :attr:`Recorder.trace` (``tracing=True``), fields copied."""

    __slots__ = ("trace",)

    def __init__(self, trace: list[TraceEvent]) -> None:
        self.trace = trace

    def on_event(self, name: str, time_ns: int, fields: dict[str, Any]) -> None:
        self.trace.append((time_ns, name, dict(fields)))


LATENCY_SUB_BITS: Final = 8
"""Sub-buckets per power of two of :class:`LatencyStats` are ``2**LATENCY_SUB_BITS``."""
LATENCY_RELATIVE_ERROR: Final = 1.0 / (1 << (LATENCY_SUB_BITS + 1))
"""Bound on the relative error of a :class:`LatencyStats` quantile: 2**-9 (0.195%)."""
_SUB: Final = 1 << LATENCY_SUB_BITS
_SUB_MASK: Final = _SUB - 1
_EXACT_BELOW: Final = 2 * _SUB
"""Samples below this (512 ns) have a bucket of their own: their quantiles are exact."""


def latency_bucket(ns: int) -> int:
    """Index of the :class:`LatencyStats` bucket holding sample ``ns`` (>= 0).

    Below 512 every value has its own bucket; above, each power of two ``[2**b, 2**(b+1))``
    is split into 256 buckets of width ``2**(b-8)`` (HDR-histogram layout), so a bucket's
    width is at most 2**-8 of its lower bound.
    """
    if ns < _EXACT_BELOW:
        return ns
    shift = ns.bit_length() - LATENCY_SUB_BITS - 1
    return ((shift + 1) << LATENCY_SUB_BITS) + ((ns >> shift) & _SUB_MASK)


def latency_bucket_bounds(index: int) -> tuple[int, int]:
    """``(lowest value, width)`` of bucket ``index`` (the inverse of :func:`latency_bucket`)."""
    if index < _EXACT_BELOW:
        return index, 1
    shift = (index >> LATENCY_SUB_BITS) - 1
    return ((index & _SUB_MASK) | _SUB) << shift, 1 << shift


class LatencyStats:
    """Streamed latency statistics of one measured path, in memory independent of the
    number of samples: exact ``count``, ``total`` (so the mean), ``min`` and ``max``, and a
    log-bucketed histogram (:func:`latency_bucket`) for the quantiles.

    A quantile is the nearest-rank sample's bucket, reported as the bucket's middle clamped
    to ``[min, max]``: within :data:`LATENCY_RELATIVE_ERROR` (2**-9) of the exact
    nearest-rank value, and exact below 512 ns or when every sample has the same value.
    The histogram holds one int per bucket up to the largest sample (about 3,000 buckets
    for a sample of 1 s).
    """

    __slots__ = ("count", "counts", "max", "min", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0
        self.min = 0
        self.max = 0
        self.counts: list[int] = []

    def add(self, ns: int) -> None:
        """Record one sample (integer ns, >= 0)."""
        if ns < 0:
            raise ValueError(f"negative latency sample {ns}")
        if self.count == 0:
            self.min = ns
            self.max = ns
        elif ns < self.min:
            self.min = ns
        elif ns > self.max:
            self.max = ns
        self.count += 1
        self.total += ns
        if ns < _EXACT_BELOW:
            i = ns
        else:
            shift = ns.bit_length() - LATENCY_SUB_BITS - 1
            i = ((shift + 1) << LATENCY_SUB_BITS) + ((ns >> shift) & _SUB_MASK)
        counts = self.counts
        if i >= len(counts):
            counts.extend([0] * (i + 1 - len(counts)))
        counts[i] += 1

    def merge(self, other: LatencyStats) -> None:
        """Add every sample of ``other`` (as if each had been :meth:`add`-ed here)."""
        if other.count == 0:
            return
        if self.count == 0 or other.min < self.min:
            self.min = other.min
        if self.count == 0 or other.max > self.max:
            self.max = other.max
        self.count += other.count
        self.total += other.total
        counts = self.counts
        if len(other.counts) > len(counts):
            counts.extend([0] * (len(other.counts) - len(counts)))
        for i, n in enumerate(other.counts):
            counts[i] += n

    def quantiles(self, ps: list[float]) -> list[int]:
        """Nearest-rank percentiles ``ps`` (each in [0, 100]), within
        :data:`LATENCY_RELATIVE_ERROR` of the exact ones; 0 when there are no samples."""
        n = self.count
        if n == 0:
            return [0 for _ in ps]
        out: list[int] = []
        for p in ps:
            if not 0.0 <= p <= 100.0:
                raise ValueError(f"percentile {p} outside [0, 100]")
            rank = max(1, math.ceil(p / 100.0 * n))
            seen = 0
            value = self.max
            for i, c in enumerate(self.counts):
                seen += c
                if seen >= rank:
                    lo, width = latency_bucket_bounds(i)
                    value = min(max(lo + width // 2, self.min), self.max)
                    break
            out.append(value)
        return out

    def cdf(self) -> list[tuple[int, float]]:
        """The empirical CDF as ``(value, fraction of samples <= value)`` per non-empty bucket
        (value: the bucket's middle clamped to ``[min, max]``, as :meth:`quantiles`)."""
        out: list[tuple[int, float]] = []
        n = self.count
        seen = 0
        for i, c in enumerate(self.counts):
            if not c:
                continue
            seen += c
            lo, width = latency_bucket_bounds(i)
            out.append((min(max(lo + width // 2, self.min), self.max), seen / n))
        return out

    def percentile(self, p: float) -> int:
        """Nearest-rank percentile ``p`` in [0, 100] (:meth:`quantiles`)."""
        return self.quantiles([p])[0]

    def summary(self) -> dict[str, float | int]:
        """``{"count", "min", "mean", "p50", "p90", "p99", "p999", "max"}``: count, min, max
        and mean (rounded to 0.1 ns) exact, the percentiles within
        :data:`LATENCY_RELATIVE_ERROR`."""
        n = self.count
        if n == 0:
            return {"count": 0, "min": 0, "mean": 0.0, "p50": 0, "p90": 0, "p99": 0, "p999": 0, "max": 0}
        p50, p90, p99, p999 = self.quantiles([50.0, 90.0, 99.0, 99.9])
        return {
            "count": n,
            "min": self.min,
            "mean": round(self.total / n, 1),
            "p50": p50,
            "p90": p90,
            "p99": p99,
            "p999": p999,
            "max": self.max,
        }


class Recorder:
    """Collects counters, latencies and (optionally) a full trace for one simulation run."""

    __slots__ = ("_counter_sites", "_counters", "_dispatch", "_engine", "_keeper", "_named", "_sites", "_subs",
                 "keep_trace", "latencies", "trace", "tracer", "tracing")

    def __init__(self, engine: Engine, tracing: bool = False) -> None:
        self._engine = engine
        self._counters: Counter[str] = Counter()
        self._counter_sites: list[CounterSite] = []
        self._named: dict[str, CounterSite] = {}
        """The site :meth:`count` adds to, per counter name."""
        self.latencies: dict[str, LatencyStats] = {}
        self.tracing = tracing
        """True while every event is wanted (a tracer, or the in-memory :attr:`trace`)."""
        self.keep_trace = tracing
        """Append every event to :attr:`trace` (``tracing=True`` at construction)."""
        self.tracer: Listener | None = None
        """The listener that receives every event (:meth:`set_tracer`)."""
        self.trace: list[TraceEvent] = []
        """Every event, when :attr:`keep_trace`."""
        self._keeper = _TraceKeeper(self.trace)
        self._subs: dict[str, list[Listener]] = {}
        self._sites: dict[str, list[EventSite]] = {}
        self._dispatch: dict[str, list[Listener]] = {}
        """Cache of :meth:`_dispatch_list` per event name for :meth:`emit` (cleared on change)."""

    @property
    def counters(self) -> Counter[str]:
        """Every counter by name (the :class:`CounterSite` counts are folded in first)."""
        c = self._counters
        for site in self._counter_sites:
            if site.n:
                c[site.name] += site.n
                site.n = 0
        return c

    def peek_counter(self, name: str) -> int:
        """Counter ``name`` as it stands, without folding the :class:`CounterSite` counts into
        :attr:`counters` (a progress display reads it: reading never changes the recorder)."""
        n = self._counters.get(name, 0)
        for site in self._counter_sites:
            if site.name == name:
                n += site.n
        return n

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name`` (through a :class:`CounterSite` per name: an int
        addition, not an update of the ``Counter``)."""
        site = self._named.get(name)
        if site is None:
            site = self._named[name] = self.counter(name)
            self._counters[name] += 0  # the name takes its place in `counters` now, as before
        site.n += n

    def counter(self, name: str) -> CounterSite:
        """A :class:`CounterSite` adding to counter ``name`` (for hot paths)."""
        site = CounterSite(name)
        self._counter_sites.append(site)
        return site

    def latency(self, path: str, ns: int) -> None:
        """Record one latency sample (ns) for measured path ``path``."""
        stats = self.latencies.get(path)
        if stats is None:
            stats = self.latencies[path] = LatencyStats()
        stats.add(ns)

    def subscribe(self, name: str, fn: Subscriber) -> None:
        """Call ``fn(time_ns, fields)`` for every event ``name`` emitted from now on."""
        self.listen(name, _Callback(fn))

    def listen(self, name: str, listener: Listener) -> None:
        """Call ``listener.on_event(name, time_ns, fields)`` for every event ``name``
        emitted from now on (subscribers run in subscription order)."""
        self._subs.setdefault(name, []).append(listener)
        self._refresh(name)

    def set_tracer(self, tracer: Listener | None) -> None:
        """Send every event emitted from now on to ``tracer.on_event(name, time_ns, fields)``
        (None: stop).  The tracer sees emission sites' own dicts (it must not keep them)
        and runs before the subscribers of the event."""
        self.tracer = tracer
        self.tracing = self.keep_trace or tracer is not None
        for name in list(self._sites):
            self._refresh(name)
        self._dispatch.clear()

    def _dispatch_list(self, name: str) -> list[Listener]:
        """The receivers of event ``name`` in dispatch order: the in-memory trace
        (:attr:`keep_trace`), the tracer, then the subscribers in subscription order."""
        out: list[Listener] = []
        if self.keep_trace:
            out.append(self._keeper)
        if self.tracer is not None:
            out.append(self.tracer)
        subs = self._subs.get(name)
        if subs is not None:
            out.extend(subs)
        return out

    def _refresh(self, name: str) -> None:
        """Recompute the receivers of ``name`` for its emission sites and :meth:`emit`."""
        self._dispatch.pop(name, None)
        for site in self._sites.get(name, ()):
            site.listeners = self._dispatch_list(name)
            site.live = bool(site.listeners)

    def event(self, name: str, /, **fields: Any) -> EventSite:
        """An :class:`EventSite` for event ``name`` whose fields are ``fields`` (their
        order is the order of the emitted event's fields)."""
        site = EventSite(self, name, fields)
        self._sites.setdefault(name, []).append(site)
        return site

    def wants(self, name: str) -> bool:
        """True if emitting ``name`` would reach anyone (lets hot paths skip building fields)."""
        return self.tracing or name in self._subs

    def emit(self, name: str, /, **fields: Any) -> None:
        """Publish trace event ``name`` at the current simulated time."""
        listeners = self._dispatch.get(name)
        if listeners is None:
            listeners = self._dispatch[name] = self._dispatch_list(name)
        if listeners:
            now = self._engine.now
            for listener in listeners:
                listener.on_event(name, now, fields)
