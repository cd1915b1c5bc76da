"""Counters, streamed latency statistics and the trace-event bus every model reports through.

Models never print or keep their own statistics: they call :meth:`Recorder.count`,
:meth:`Recorder.latency` and emit events.  Event names follow the Linux tracepoints where
one exists (``kvm_exit``, ``kvm_entry``, ``irq_handler_entry``, ``vgic_update_irq_pending``,
...), so a trace reads like ``perf kvm`` output.

An event is an :class:`Event` object.  A hot event is a *record*: a subclass whose typed
attributes are the event's fields (:attr:`Event.FIELDS`, in trace order), like a
tracepoint's ``TP_STRUCT__entry``.  Its emission site keeps one instance, registered with
:meth:`Recorder.site`: while :attr:`Event.live` it assigns the changing attributes and
calls :meth:`Event.emit` (no dict, no allocation); otherwise it does nothing.  Cold events
go through :meth:`Recorder.emit` (``name, **fields``: a :class:`DictEvent`).

Receivers are :class:`Listener` objects, ``on_event(ev, time_ns)`` (a direct method call in
the compiled build): the online invariant checker reads a record's attributes, the trace
exporters its :meth:`Event.fields`.  They must not keep ``ev`` (the site reuses it).  A
*tracer* (:meth:`Recorder.set_tracer`) receives every event (the streaming exporters of
:mod:`irqfwd.trace`); ``tracing=True`` instead keeps every event in the in-memory list
:attr:`Recorder.trace` (tests, short runs).  Plain callables ``fn(time_ns, fields)``
subscribed with :meth:`Recorder.subscribe` get a fields dict of their own.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar, Final, TypeVar

from irqfwd._mypyc import mypyc_attr
from irqfwd.sim.engine import Engine

__all__ = [
    "LATENCY_RELATIVE_ERROR",
    "CounterSite",
    "DictEvent",
    "Event",
    "LatencySite",
    "LatencyStats",
    "Listener",
    "NoopTracer",
    "Recorder",
    "TraceEvent",
    "latency_bucket",
    "latency_bucket_bounds",
    "register_events",
]

TraceEvent = tuple[int, str, dict[str, Any]]
"""``(time_ns, name, fields)`` as kept in :attr:`Recorder.trace`."""

Subscriber = Callable[[int, dict[str, Any]], None]


@mypyc_attr(allow_interpreted_subclasses=True)
class Event:
    """One trace event: its name (:attr:`event`) and fields.

    A *record* subclass sets :attr:`NAME` and :attr:`FIELDS` and keeps each field as a
    typed attribute.  Its emission site creates one instance, registers it with
    :meth:`Recorder.site` and, while :attr:`live`, assigns the fields that change and calls
    :meth:`emit`.  Receivers see the instance for the duration of the call only.
    """

    __slots__ = ("_engine", "_first", "_rest", "event", "listeners", "live")

    NAME: ClassVar[str] = ""
    """The event's name (the tracepoint's, e.g. ``kvm_exit``)."""
    FIELDS: ClassVar[tuple[str, ...]] = ()
    """The record's field attributes, in the order a trace shows them."""

    def __init__(self) -> None:
        self.event: str = self.NAME
        """The event's name (:attr:`NAME`, or a :class:`DictEvent`'s own)."""
        self.listeners: list[Listener] = []
        """Who receives the event, in order: the in-memory trace, the tracer, the
        subscribers (kept up to date by the recorder of :meth:`Recorder.site`)."""
        self.live = False
        """True while emitting would reach anyone (tracing, or a subscriber of the name)."""
        self._engine: Engine | None = None
        self._first: Listener | None = None
        self._rest: list[Listener] = []
        """:attr:`listeners` split as :meth:`emit` calls them: the first (typed, so the
        compiled build calls it with no type check of a list item), then the others."""

    def set_listeners(self, listeners: list[Listener]) -> None:
        """Who receives the event from now on (and so whether it is :attr:`live`)."""
        self.listeners = listeners
        self.live = bool(listeners)
        self._first = listeners[0] if listeners else None
        self._rest = listeners[1:]

    def emit(self) -> None:
        """Publish the event with its current fields at the current simulated time."""
        engine = self._engine
        if engine is None:
            return
        first = self._first
        if first is None:
            return
        now = engine.now
        first.on_event(self, now)
        for listener in self._rest:
            listener.on_event(self, now)

    def fields(self) -> dict[str, Any]:
        """The fields as a new dict, in :attr:`FIELDS` order (what a trace shows)."""
        return {k: getattr(self, k) for k in self.FIELDS}


class DictEvent(Event):
    """An event whose fields are a dict (:meth:`Recorder.emit`, :meth:`Recorder.event`)."""

    __slots__ = ("values",)

    def __init__(self, name: str, values: dict[str, Any]) -> None:
        super().__init__()
        self.event = name
        self.values = values
        """The fields, by name (a site built by :meth:`Recorder.event` updates them in place)."""

    def fields(self) -> dict[str, Any]:
        return dict(self.values)


E = TypeVar("E", bound=Event)

_RECORDS: dict[str, Callable[..., Event]] = {}
"""Record class per event name (:func:`register_events`)."""


def register_events(*classes: type[Event]) -> None:
    """Make :meth:`Recorder.emit` of each class's :attr:`~Event.NAME` build that record
    (from the keyword fields), so that every listener of a recorded event receives its
    record, whoever emits it (a model's site, or a test feeding synthetic events)."""
    for cls in classes:
        _RECORDS[cls.NAME] = cls


@mypyc_attr(allow_interpreted_subclasses=True)
class Listener:
    """An object subscribed with :meth:`Recorder.listen`: :meth:`on_event` receives every
    event it listens to (one method call per event, no bound-method object)."""

    events: ClassVar[tuple[str, ...]] = ()
    """The events :meth:`on_event` routes (for subscribers that subscribe themselves by it,
    e.g. the invariant checker's rules)."""

    def on_event(self, ev: Event, time_ns: int) -> None:
        """Handle event ``ev`` emitted at ``time_ns`` (do not keep ``ev``: its site reuses it)."""
        raise NotImplementedError(f"{type(self).__name__} does not handle {ev.event!r}")


class NoopTracer(Listener):
    """A tracer that ignores every event: attached in place of a trace exporter, it
    measures what producing and dispatching the events costs (``irqfwd bench --tracing``).
    Compiled with the recorder, so the call into it is a native one."""

    __slots__ = ()

    def on_event(self, ev: Event, time_ns: int) -> None:
        return None


class CounterSite:
    """A hot counter (:meth:`Recorder.counter`): ``site.n += k`` costs no dict update; the
    count is folded into :attr:`Recorder.counters` whenever that is read."""

    __slots__ = ("n", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.n = 0


class _Callback(Listener):
    """A plain callable ``fn(time_ns, fields)`` subscribed with :meth:`Recorder.subscribe`
    (it gets a fields dict of its own: a plain callable may keep it)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Subscriber) -> None:
        self.fn = fn

    def on_event(self, ev: Event, time_ns: int) -> None:
        self.fn(time_ns, ev.fields())


class _TraceKeeper(Listener):
    """Appends every event to :attr:`Recorder.trace` (``tracing=True``)."""

    __slots__ = ("trace",)

    def __init__(self, trace: list[TraceEvent]) -> None:
        self.trace = trace

    def on_event(self, ev: Event, time_ns: int) -> None:
        self.trace.append((time_ns, ev.event, ev.fields()))


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


class LatencySite:
    """A hot latency path (:meth:`Recorder.latency_site`): :meth:`add` records a sample
    with no look-up by path name; the path's :class:`LatencyStats` appears in
    :attr:`Recorder.latencies` at its first sample, as with :meth:`Recorder.latency`."""

    __slots__ = ("_recorder", "path", "stats")

    def __init__(self, recorder: Recorder, path: str) -> None:
        self._recorder = recorder
        self.path = path
        self.stats: LatencyStats | None = None

    def add(self, ns: int) -> None:
        """Record one sample (ns)."""
        stats = self.stats
        if stats is None:
            stats = self.stats = self._recorder.latency_stats(self.path)
        stats.add(ns)


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
        self._sites: dict[str, list[Event]] = {}
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
        self.latency_stats(path).add(ns)

    def latency_stats(self, path: str) -> LatencyStats:
        """The statistics of path ``path``, created (empty) if it has none yet."""
        stats = self.latencies.get(path)
        if stats is None:
            stats = self.latencies[path] = LatencyStats()
        return stats

    def latency_site(self, path: str) -> LatencySite:
        """A :class:`LatencySite` recording samples of path ``path`` (for hot paths)."""
        return LatencySite(self, path)

    def subscribe(self, name: str, fn: Subscriber) -> None:
        """Call ``fn(time_ns, fields)`` for every event ``name`` emitted from now on."""
        self.listen(name, _Callback(fn))

    def listen(self, name: str, listener: Listener) -> None:
        """Call ``listener.on_event(ev, time_ns)`` for every event ``name``
        emitted from now on (subscribers run in subscription order)."""
        self._subs.setdefault(name, []).append(listener)
        self._refresh(name)

    def set_tracer(self, tracer: Listener | None) -> None:
        """Send every event emitted from now on to ``tracer.on_event(ev, time_ns)`` (None:
        stop).  The tracer sees emission sites' own records (it must not keep them) and
        runs before the subscribers of the event."""
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
            site.set_listeners(self._dispatch_list(name))

    def site(self, ev: E) -> E:
        """Register ``ev`` as an emission site: its :attr:`~Event.live` and
        :attr:`~Event.listeners` follow this recorder's subscriptions and tracer from now on."""
        ev._engine = self._engine
        name = ev.event
        self._sites.setdefault(name, []).append(ev)
        ev.set_listeners(self._dispatch_list(name))
        return ev

    def event(self, name: str, /, **fields: Any) -> DictEvent:
        """An emission site for event ``name`` whose fields are the dict ``fields`` (a
        :class:`DictEvent`, its :attr:`~DictEvent.values` updated in place; their order is
        the order of the emitted event's fields), for events that have no record class."""
        return self.site(DictEvent(name, fields))

    def wants(self, name: str) -> bool:
        """True if emitting ``name`` would reach anyone (lets hot paths skip building fields)."""
        return self.tracing or name in self._subs

    def emit(self, name: str, /, **fields: Any) -> None:
        """Publish trace event ``name`` at the current simulated time (as its record, if
        :func:`register_events` registered one for ``name``)."""
        listeners = self._dispatch.get(name)
        if listeners is None:
            listeners = self._dispatch[name] = self._dispatch_list(name)
        if listeners:
            make = _RECORDS.get(name)
            ev = make(**fields) if make is not None else DictEvent(name, fields)
            now = self._engine.now
            for listener in listeners:
                listener.on_event(ev, now)
