"""A canonical digest of a whole simulated system's state (the ordering explorer's state hash).

:func:`state_digest` walks everything reachable from a :class:`~irqfwd.system.build.System`
and its invariant checker (GIC registers and internal state, the vgic, the host kernel,
VFIO, eventfds, the scheduler, guests, devices, every pCPU's program counter: its next step
and exception stack), plus the engine's clock and its pending entries, and hashes a
canonical form of it:

* objects are visited in a fixed order (attributes in declaration order, lists in their
  order); an object met again is written as a back-reference to its first visit, so two
  systems built the same way and brought to the same state give the same digest even
  though every object is a different Python object;
* dict items and set members are sorted, so insertion order does not matter;
* a step or callback is its function name plus its canonical owner (a bound method),
  or its function and arguments (``functools.partial``), or its qualified name and
  captured variables (a closure);
* an engine entry is ``(time, priority, callback, args)``: its sequence number, which
  differs between orderings of the same events, is left out; the pending entries are
  hashed in execution order;
* left out as configuration or bookkeeping, not state: the recorder, counters and
  latency samples, cost profiles and pydantic configurations, register decode tables,
  the distributor's HPPI buckets (derived from the pending/enabled/priority state that is
  hashed), random-number generators and traffic generators (a device's position in its
  traffic is hashed through its event count and its pending arrival entry), violations
  already reported and the checker's check counter.

Absolute simulated time is part of the state: two orderings merge when they reach the same
state at the same instant (the case of events at one instant that commute).

Works on the interpreted and on the mypyc-compiled modules (native classes list their
attributes in ``__mypyc_attrs__``).
"""

# mypyc: interpreted (walks arbitrary objects by reflection)
from __future__ import annotations

import functools
import hashlib
import random
import types
from collections import deque
from typing import Any

from pydantic import BaseModel

from irqfwd.sim.metrics import Event

__all__ = ["canonical_state", "stable_digest", "state_digest"]

_SKIP_TYPES = frozenset({
    "Recorder", "CounterSite", "LatencyStats", "Engine", "RegisterBlock",
    "GICv2Config", "QemuQuirks", "_Callback",
})
"""Types (by class name) that are configuration, bookkeeping or walked separately."""

_SKIP_ATTRS = frozenset({
    "_bk", "_pm", "cand", "_decode", "_frames", "_assert_t", "acc", "cur", "horizon",
    "max_batch", "violations", "checked", "trace", "latencies", "_counters",
})
"""Attributes that are derived, transient (meaningful only inside a step) or bookkeeping."""

_fields_cache: dict[type, tuple[str, ...]] = {}
_UNSET = "<unset>"


def _fields(tp: type) -> tuple[str, ...]:
    names = _fields_cache.get(tp)
    if names is None:
        seen: list[str] = []
        attrs = getattr(tp, "__mypyc_attrs__", None)
        if attrs:
            seen.extend(a for a in attrs if a != "__dict__")
        for klass in tp.__mro__:
            slots = klass.__dict__.get("__slots__", ())
            if isinstance(slots, str):
                slots = (slots,)
            seen.extend(s for s in slots if s not in ("__dict__", "__weakref__"))
        names = tuple(dict.fromkeys(n for n in seen if n not in _SKIP_ATTRS))
        _fields_cache[tp] = names
    return names


def _is_entry(v: list[Any]) -> bool:
    """An engine entry ``[time, priority, sequence, callback, args]``."""
    return (len(v) == 5 and type(v[0]) is int and type(v[1]) is int and type(v[2]) is int
            and (v[3] is None or callable(v[3])) and type(v[4]) is tuple)


class _Walker:
    def __init__(self) -> None:
        self.ids: dict[int, int] = {}
        self.keep: list[Any] = []  # keeps visited objects alive (ids stay unique)

    def value(self, v: Any) -> Any:
        t = type(v)
        if v is None or t is int or t is bool or t is str or t is float or t is bytes:
            return v
        if t is list:
            if _is_entry(v):
                if v[3] is None:
                    return ("E",)
                return ("E", v[0], v[1], self.value(v[3]), self.value(v[4]))
            return ("L", *[self.value(x) for x in v])
        if t is tuple or t is deque:
            return ("T", *[self.value(x) for x in v])
        if t is dict:
            items = [(self.value(k), self.value(x)) for k, x in v.items()]
            items.sort(key=lambda kv: repr(kv[0]))
            return ("D", *items)
        if t is set or t is frozenset:
            return ("S", *sorted((self.value(x) for x in v), key=repr))
        if t is functools.partial:
            return ("P", self.value(v.func), self.value(v.args), self.value(v.keywords))
        if t is types.FunctionType:
            cells = v.__closure__ or ()
            return ("F", v.__qualname__, *[self.value(c.cell_contents) for c in cells])
        if t is types.GeneratorType or t is random.Random:
            return ("X", t.__name__)
        owner = getattr(v, "__self__", None)
        if owner is not None and not isinstance(owner, types.ModuleType) and callable(v):
            return ("M", getattr(v, "__name__", "?"), self.value(owner))
        if t.__name__ in _SKIP_TYPES or isinstance(v, (Event, BaseModel, type, types.ModuleType)):
            return ("X", t.__name__)
        if callable(v) and not hasattr(v, "__dict__") and not _fields(t):
            return ("C", getattr(v, "__qualname__", t.__name__))
        return self.obj(v)

    def obj(self, o: Any) -> Any:
        key = id(o)
        idx = self.ids.get(key)
        if idx is not None:
            return ("R", idx)
        self.ids[key] = len(self.ids)
        self.keep.append(o)
        t = type(o)
        value = self.value
        # attribute names are implied by the type: only the values are kept
        out: list[Any] = [t.__name__]
        out.extend([value(getattr(o, name, _UNSET)) for name in _fields(t)])
        d = getattr(o, "__dict__", None)
        if d:
            for name, v in d.items():
                if name not in _SKIP_ATTRS:
                    out.append(name)
                    out.append(value(v))
        return tuple(out)


def canonical_state(system: Any, checker: Any = None) -> Any:
    """The canonical form of ``system`` (and ``checker``'s rule state) as nested tuples."""
    w = _Walker()
    engine = system.engine
    pending = tuple(w.value(e) for e in engine.pending())
    roots = (system.machine, system.host, system.kvm, system.vms, system.guests, system.devices,
             system.vtimer, system.torn_down)
    state = [("now", engine.now), ("pending", pending), ("system", w.value(roots))]
    if checker is not None:
        state.append(("checker", w.value((checker.rules, checker._shared, checker.teardown_ns))))
    return tuple(state)


def state_digest(system: Any, checker: Any = None) -> int:
    """A 64-bit digest of :func:`canonical_state` (Python's tuple hash: stable within one
    process, which is all a search needs; :func:`stable_digest` is stable across runs)."""
    return hash(canonical_state(system, checker))


def stable_digest(system: Any, checker: Any = None) -> str:
    """A hex digest of :func:`canonical_state` that is the same in every process."""
    return hashlib.blake2b(repr(canonical_state(system, checker)).encode(), digest_size=16).hexdigest()
