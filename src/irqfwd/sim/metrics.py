"""Counters, latency samples and the trace-event bus every model reports through.

Models never print or keep their own statistics: they call :meth:`Recorder.count`,
:meth:`Recorder.latency` and :meth:`Recorder.emit`.  Event names follow the Linux
tracepoints where one exists (``kvm_exit``, ``kvm_entry``, ``irq_handler_entry``,
``vgic_update_irq_pending``, ...), so a trace reads like ``perf kvm`` output.

``emit`` is the hook the online invariant checker and the trace writers subscribe to.
It costs one dict lookup when nobody listens to that event name and tracing is off.
Subscribers are :class:`Listener` objects (``on_event(name, time_ns, fields)``, a direct
method call in the compiled build) or plain callables ``fn(time_ns, fields)``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

from irqfwd._mypyc import mypyc_attr
from irqfwd.sim.engine import Engine

__all__ = ["CounterSite", "EventSite", "LatencyStats", "Listener", "Recorder", "TraceEvent"]

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


class EventSite:
    """A hot emission site of one event (:meth:`Recorder.event`): a reusable ``fields``
    dict whose keys are fixed at creation, and :attr:`live`, true while emitting would
    reach anyone (tracing, or a subscriber of :attr:`name`).

    The site updates the changing values in :attr:`fields` and calls :meth:`emit` only when
    :attr:`live`; that costs no dict construction.  Listeners see the site's own dict for
    the duration of the call (the :class:`Listener` contract: never keep ``fields``);
    plain-callable subscribers and the trace get a copy.
    """

    __slots__ = ("_rec", "fields", "live", "name")

    def __init__(self, rec: Recorder, name: str, fields: dict[str, Any]) -> None:
        self._rec = rec
        self.name = name
        self.fields = fields
        self.live = rec.tracing or name in rec._subs

    def emit(self) -> None:
        """Publish the event with the current :attr:`fields` at the current simulated time."""
        rec = self._rec
        name = self.name
        fields = self.fields
        if rec.tracing:
            rec.trace.append((rec._engine.now, name, dict(fields)))
        subs = rec._subs.get(name)
        if subs is not None:
            now = rec._engine.now
            for listener in subs:
                if isinstance(listener, _Callback):
                    listener.fn(now, dict(fields))
                else:
                    listener.on_event(name, now, fields)


class CounterSite:
    """A hot counter (:meth:`Recorder.counter`): ``site.n += k`` costs no dict update; the
    count is folded into :attr:`Recorder.counters` whenever that is read."""

    __slots__ = ("n", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.n = 0


class _Callback(Listener):
    """A plain callable ``fn(time_ns, fields)`` subscribed with :meth:`Recorder.subscribe`."""

    __slots__ = ("fn",)

    def __init__(self, fn: Subscriber) -> None:
        self.fn = fn

    def on_event(self, name: str, time_ns: int, fields: dict[str, Any]) -> None:
        self.fn(time_ns, fields)


class LatencyStats:
    """Exact order statistics over a list of integer samples (nearest-rank percentiles)."""

    __slots__ = ("samples",)

    def __init__(self) -> None:
        self.samples: list[int] = []

    def add(self, ns: int) -> None:
        self.samples.append(ns)

    def percentile(self, p: float) -> int:
        """Nearest-rank percentile ``p`` in [0, 100]; 0 when there are no samples."""
        if not self.samples:
            return 0
        ordered = sorted(self.samples)
        rank = max(1, math.ceil(p / 100.0 * len(ordered)))
        return ordered[rank - 1]

    def summary(self) -> dict[str, float | int]:
        """``{"count", "p50", "p99", "max", "mean"}`` (mean rounded to 0.1 ns)."""
        n = len(self.samples)
        if n == 0:
            return {"count": 0, "p50": 0, "p99": 0, "max": 0, "mean": 0.0}
        ordered = sorted(self.samples)

        def rank(p: float) -> int:
            return ordered[max(1, math.ceil(p / 100.0 * n)) - 1]

        return {
            "count": n,
            "p50": rank(50),
            "p99": rank(99),
            "max": ordered[-1],
            "mean": round(sum(ordered) / n, 1),
        }


class Recorder:
    """Collects counters, latencies and (optionally) a full trace for one simulation run."""

    __slots__ = ("_counter_sites", "_counters", "_engine", "_sites", "_subs", "latencies", "trace", "tracing")

    def __init__(self, engine: Engine, tracing: bool = False) -> None:
        self._engine = engine
        self._counters: Counter[str] = Counter()
        self._counter_sites: list[CounterSite] = []
        self.latencies: dict[str, LatencyStats] = {}
        self.tracing = tracing
        self.trace: list[TraceEvent] = []
        self._subs: dict[str, list[Listener]] = {}
        self._sites: dict[str, list[EventSite]] = {}

    @property
    def counters(self) -> Counter[str]:
        """Every counter by name (the :class:`CounterSite` counts are folded in first)."""
        c = self._counters
        for site in self._counter_sites:
            if site.n:
                c[site.name] += site.n
                site.n = 0
        return c

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name``."""
        self._counters[name] += n

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
        stats.samples.append(ns)

    def subscribe(self, name: str, fn: Subscriber) -> None:
        """Call ``fn(time_ns, fields)`` for every event ``name`` emitted from now on."""
        self.listen(name, _Callback(fn))

    def listen(self, name: str, listener: Listener) -> None:
        """Call ``listener.on_event(name, time_ns, fields)`` for every event ``name``
        emitted from now on (subscribers run in subscription order)."""
        self._subs.setdefault(name, []).append(listener)
        for site in self._sites.get(name, ()):
            site.live = True

    def event(self, name: str, **fields: Any) -> EventSite:
        """An :class:`EventSite` for event ``name`` whose fields are ``fields`` (their
        order is the order of the emitted event's fields)."""
        site = EventSite(self, name, fields)
        self._sites.setdefault(name, []).append(site)
        return site

    def wants(self, name: str) -> bool:
        """True if emitting ``name`` would reach anyone (lets hot paths skip building fields)."""
        return self.tracing or name in self._subs

    def emit(self, name: str, **fields: Any) -> None:
        """Publish trace event ``name`` at the current simulated time."""
        subs = self._subs.get(name)
        if self.tracing:
            self.trace.append((self._engine.now, name, fields))
        if subs is not None:
            now = self._engine.now
            for listener in subs:
                listener.on_event(name, now, fields)
