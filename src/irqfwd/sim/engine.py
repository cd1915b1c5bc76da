"""The discrete-event kernel every irqfwd model runs on.

A deliberately tiny, dependency-free core in the spirit of SimPy's ``core.py``:

* Time is an integer number of **nanoseconds** (``Engine.now``).
* Pending work is a binary heap of :class:`Entry` objects (``time``, ``priority``,
  ``seq``, ``callback``, ``args``).  The order is total and deterministic: earlier *time*
  first, then lower *priority* (:data:`URGENT` < :data:`NORMAL` < :data:`LATE`), then
  insertion order (*sequence*).  Two runs that schedule the same things in the same order therefore
  execute them in the same order, which is what makes results byte-identical.
* Randomness comes only from :attr:`Engine.rng`, seeded at construction.
* Work is either a plain callback (:meth:`Engine.schedule`, :meth:`Engine.at`) or a
  generator *process* (:meth:`Engine.process`) that yields an ``int`` delay in ns or a
  :class:`Signal` to wait for; the value the signal fires with is sent back into the
  generator.

Event-ordering rules the models rely on (asserted where they matter):

1. A callback scheduled with delay 0 runs after every callback already queued for the
   current instant with the same or a lower priority value.
2. Cancelled entries are skipped, never reordered.
3. :meth:`Engine.run` with ``until=T`` executes every entry with ``time <= T`` and then
   leaves ``now == T``.

A merged event source takes sequence numbers with :meth:`Engine.reserve_seq` when its
events become known and schedules only its earliest one, with that event's number
(:meth:`Engine.at_seq`): the order is the same as with one entry per event, and the heap
stays small.

Queries: :meth:`Engine.peek` (time of the next live entry; :meth:`Engine.due` the same as a
plain int), :meth:`Engine.next_time`
(earliest live entry before a bound, optionally ignoring some callbacks) and
:meth:`Engine.pending` (every live entry in execution order).

**Choosing the order (exploration).**  :attr:`Engine.chooser` is ``None`` in every normal
run, and then :meth:`Engine.run` is exactly the loop above (the choice costs one test per
``run`` call, nothing per entry).  The ordering explorer (:mod:`irqfwd.system.explore`)
sets it to a callable ``chooser(engine, limit) -> entry`` that is consulted before every
entry: it returns one live entry of :meth:`pending` due no later than ``limit``, which
runs *now*, at the time of the earliest live entry (an entry chosen ahead of its time is
advanced to that instant; the clock never goes backwards and never passes a pending
entry).  Returning ``pending()[0]`` at every call reproduces the normal order.
:meth:`irqfwd.hw.machine.PhysCpu._run` calls :meth:`Engine.due` after every step to
decide whether it may fast-forward.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Generator
from typing import Any, Final

from irqfwd.errors import SimulationError

__all__ = ["LATE", "NORMAL", "URGENT", "Engine", "Entry", "Handle", "Process", "Signal", "SimulationError"]

URGENT: Final = 0
"""Priority for hardware reactions that must happen before software at the same instant."""
NORMAL: Final = 1
"""Default priority."""
LATE: Final = 2
"""Priority for bookkeeping that must observe everything else at the same instant."""

_SEQ_BITS: Final = 40
"""Bits of :attr:`Entry.order` below the priority: sequence numbers stay below 2**40
(10**12 entries; a 10-million-interrupt run takes about 10**8)."""


class Entry:
    """One scheduled callback, an element of the engine's heap.

    Ordered by ``(time, order)`` where ``order`` is the priority above the sequence number
    (``priority << 40 | seq``): two native int comparisons in the compiled build, where a
    list entry costs a generic element-by-element comparison.  ``callback`` is None once
    the entry ran or was cancelled.
    """

    __slots__ = ("args", "callback", "order", "time")

    def __init__(self, time: int, priority: int, seq: int, callback: Callable[..., Any] | None,
                 args: tuple[Any, ...]) -> None:
        self.time = time
        self.order = (priority << _SEQ_BITS) | seq
        self.callback = callback
        self.args = args

    def __lt__(self, other: Entry) -> bool:
        if self.time != other.time:
            return self.time < other.time
        return self.order < other.order

    @property
    def priority(self) -> int:
        """:data:`URGENT`, :data:`NORMAL` or :data:`LATE`."""
        return self.order >> _SEQ_BITS

    @property
    def seq(self) -> int:
        """The sequence number (insertion order, or :meth:`Engine.reserve_seq`'s)."""
        return self.order & ((1 << _SEQ_BITS) - 1)

    def __repr__(self) -> str:
        return f"Entry(time={self.time}, priority={self.priority}, seq={self.seq}, callback={self.callback!r})"


Handle = Entry
"""Handle returned by :meth:`Engine.schedule`; pass it to :meth:`Engine.cancel`."""

ProcessGen = Generator[Any, Any, Any]


class Signal:
    """A one-shot event that processes and callbacks can wait for.

    ``fire(value)`` wakes every waiter (in the order they started waiting) at the current
    simulated time.  A signal fires at most once; firing it again raises.
    """

    __slots__ = ("_engine", "_waiters", "fired", "value")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._waiters: list[Callable[[Any], None]] = []
        self.fired = False
        self.value: Any = None

    def add_callback(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(value)`` when the signal fires (at once if it already has)."""
        if self.fired:
            self._engine.schedule(0, callback, self.value)
        else:
            self._waiters.append(callback)

    def fire(self, value: Any = None) -> None:
        """Fire the signal; waiters resume at the current instant, in wait order."""
        if self.fired:
            raise SimulationError("Signal fired twice")
        self.fired = True
        self.value = value
        waiters, self._waiters = self._waiters, []
        for callback in waiters:
            self._engine.schedule(0, callback, value)


class Process(Signal):
    """A running generator; as a :class:`Signal` it fires with the generator's return value."""

    __slots__ = ("_gen", "name")

    def __init__(self, engine: Engine, gen: ProcessGen, name: str = "") -> None:
        super().__init__(engine)
        self._gen = gen
        self.name = name
        engine.schedule(0, self._resume, None)

    def _resume(self, value: Any) -> None:
        try:
            target = self._gen.send(value)
        except StopIteration as stop:
            self.fire(stop.value)
            return
        if type(target) is int:
            if target < 0:
                raise SimulationError(f"process {self.name!r} yielded negative delay {target}")
            self._engine.schedule(target, self._resume, None)
        elif isinstance(target, Signal):
            target.add_callback(self._resume)
        else:
            raise SimulationError(
                f"process {self.name!r} yielded {target!r}; expected an int delay in ns or a Signal"
            )


heapify: Final = heapq.heapify
heappop: Final = heapq.heappop
heappush: Final = heapq.heappush
# Final: the compiled build keeps them in C statics (no module-dict look-up per call).

_FAR_FUTURE: Final = (1 << 62) - 1
"""Beyond any simulated time (``run(until=None)``); the largest int the compiled build
keeps unboxed (2**62 - 1)."""
_COMPACT_MIN: Final = 8
"""Cancelled entries tolerated in the heap whatever its size (:meth:`Engine.cancel`)."""


class Engine:
    """Deterministic discrete-event scheduler with integer-nanosecond time."""

    __slots__ = ("_dead", "_heap", "_seq", "_stopped", "chooser", "events_run", "now", "rng", "seed")

    def __init__(self, seed: int = 0) -> None:
        self.chooser: Callable[[Engine, int], Entry] | None = None
        """Exploration hook (see the module docstring); None: the (time, priority, seq) order."""
        self.now = 0
        self.seed = seed
        self.rng = random.Random(seed)
        self.events_run = 0
        self._heap: list[Entry] = []
        self._dead = 0
        """Cancelled entries still in :attr:`_heap`."""
        self._seq = 0
        self._stopped = False

    def schedule(
        self, delay: int, callback: Callable[..., Any], *args: Any, priority: int = NORMAL
    ) -> Handle:
        """Run ``callback(*args)`` ``delay`` ns from now; returns a cancellable handle."""
        if delay < 0:
            raise SimulationError(f"negative delay {delay}")
        self._seq += 1
        entry = Entry(self.now + delay, priority, self._seq, callback, args)
        heappush(self._heap, entry)
        return entry

    def reserve_seq(self) -> int:
        """Take the next sequence number without scheduling anything.

        :meth:`at_seq` schedules an entry with it later: the entry is then ordered as if
        it had been scheduled now (how a merged event source, e.g.
        :class:`irqfwd.devices.traffic.ArrivalMux`, keeps one engine entry for many
        pending events and still runs each where its own entry would have run).
        """
        self._seq += 1
        return self._seq

    def at_seq(self, time: int, seq: int, callback: Callable[..., Any], *args: Any,
               priority: int = NORMAL) -> Handle:
        """Run ``callback(*args)`` at ``time`` (not in the past) in the place of sequence
        number ``seq`` (from :meth:`reserve_seq`) among the entries of that instant."""
        if time < self.now:
            raise SimulationError(f"entry at {time} ns is in the past (now {self.now} ns)")
        entry = Entry(time, priority, seq, callback, args)
        heappush(self._heap, entry)
        return entry

    def at(self, time: int, callback: Callable[..., Any], *args: Any, priority: int = NORMAL) -> Handle:
        """Run ``callback(*args)`` at absolute time ``time`` (not in the past).

        Builds its entry itself: forwarding ``*args`` to :meth:`schedule` would be a generic
        call (argument list, keyword dict, attribute look-up) in the compiled build."""
        if time < self.now:
            raise SimulationError(f"negative delay {time - self.now}")
        self._seq += 1
        entry = Entry(time, priority, self._seq, callback, args)
        heappush(self._heap, entry)
        return entry

    def cancel(self, handle: Handle | None) -> None:
        """Cancel a scheduled callback; cancelling twice or a run entry is harmless.

        A cancelled entry stays in the heap until it reaches the top; when they are more
        than half of it the heap is rebuilt without them (:meth:`_compact`), so that timers
        rearmed far ahead (guest ticks saved and restored at every vCPU switch, halt-poll
        windows) do not make every push and pop dearer.
        """
        if handle is not None and handle.callback is not None:
            handle.callback = None
            self._dead += 1
            if self._dead > _COMPACT_MIN and 2 * self._dead > len(self._heap):
                self._compact()

    def _compact(self) -> None:
        """Drop the cancelled entries from the heap (in place: :meth:`run` holds it).

        The order of the remaining entries is unchanged: it is fixed by their keys
        (time, priority, sequence), which are unique, not by their places in the heap.
        """
        heap = self._heap
        heap[:] = [entry for entry in heap if entry.callback is not None]
        heapify(heap)
        self._dead = 0

    def process(self, gen: ProcessGen, name: str = "") -> Process:
        """Start a generator process at the current instant."""
        return Process(self, gen, name)

    def signal(self) -> Signal:
        """A new one-shot :class:`Signal` bound to this engine."""
        return Signal(self)

    def timeout(self, delay: int, value: Any = None) -> Signal:
        """A :class:`Signal` that fires ``delay`` ns from now."""
        sig = Signal(self)
        self.schedule(delay, sig.fire, value)
        return sig

    def stop(self) -> None:
        """Make :meth:`run` return after the current callback."""
        self._stopped = True

    @property
    def stopped(self) -> bool:
        """True when the last :meth:`run` returned because of :meth:`stop`."""
        return self._stopped

    def peek(self) -> int | None:
        """Time of the next live entry, or ``None`` when nothing is scheduled."""
        t = self.due()
        return None if t == _FAR_FUTURE else t

    def due(self) -> int:
        """Time of the next live entry, or a time beyond any run (2**62 - 1) when nothing is
        scheduled: :meth:`peek` as a plain int (no ``None``, so no boxed result in the compiled
        build; the pCPU step loop asks after every step).  Cancelled entries before it are
        dropped on the way."""
        heap = self._heap
        while heap:
            top = heap[0]
            if top.callback is not None:
                return top.time
            heappop(heap)
            self._dead -= 1
        return _FAR_FUTURE

    def next_time(
        self, before: int | None = None, skip: Callable[[Callable[..., Any]], bool] | None = None
    ) -> int | None:
        """Time of the earliest live entry earlier than ``before`` whose callback ``skip`` rejects.

        ``before=None`` means no bound; ``skip(callback)`` returning True leaves that entry
        out (e.g. a CPU's own step chain).  Returns ``None`` when no entry qualifies.  A
        read-only scan of the whole queue (O(n)): it never pops or reorders entries.
        """
        best = before
        for entry in self._heap:
            t = entry.time
            if best is None or t < best:
                cb = entry.callback
                if cb is not None and (skip is None or not skip(cb)):
                    best = t
        return None if best == before else best

    def pending(self) -> list[Entry]:
        """The live entries, in the order :meth:`run` would execute them (read-only; cancel
        with :meth:`cancel`)."""
        return sorted(e for e in self._heap if e.callback is not None)

    def run(self, until: int | None = None) -> None:
        """Execute entries in order until the heap is empty, ``until`` is passed, or :meth:`stop`."""
        if self.chooser is not None:
            self._run_chosen(self.chooser, until)
            return
        heap = self._heap
        pop = heappop
        self._stopped = False
        count = 0
        limit = _FAR_FUTURE if until is None else until
        while heap:
            entry = heap[0]
            t = entry.time
            if t > limit:
                break
            pop(heap)
            callback = entry.callback
            if callback is None:
                self._dead -= 1
                continue
            self.now = t
            entry.callback = None
            count += 1
            args = entry.args
            if args:
                callback(*args)
            else:
                callback()
            if self._stopped:
                break
        self.events_run += count
        if until is not None and not self._stopped and self.now < until:
            self.now = until

    def _run_chosen(self, chooser: Callable[[Engine, int], Entry], until: int | None) -> None:
        """:meth:`run` with :attr:`chooser` picking each entry (see the module docstring)."""
        self._stopped = False
        count = 0
        limit = _FAR_FUTURE if until is None else until
        while True:
            t0 = self.peek()
            if t0 is None or t0 > limit:
                break
            entry = chooser(self, limit)
            callback = entry.callback
            if callback is None or entry.time > limit:
                raise SimulationError("the chooser returned an entry that is not live or is due after the limit")
            entry.callback = None  # left in the heap as a cancelled entry
            self._dead += 1
            self.now = t0
            count += 1
            args = entry.args
            if args:
                callback(*args)
            else:
                callback()
            if self._stopped:
                break
        self.events_run += count
        if until is not None and not self._stopped and self.now < until:
            self.now = until
