"""The Recorder's hot-path helpers keep the plain API's results (docs/architecture.md,
"Simulation kernel"): counter sites fold into ``Recorder.counters``, event sites emit
exactly what ``Recorder.emit`` would, and listeners are called in subscription order."""

from __future__ import annotations

from typing import Any

from irqfwd.sim.engine import Engine
from irqfwd.sim.metrics import Listener, Recorder


class _Log(Listener):
    def __init__(self, out: list[tuple[str, int, dict[str, Any]]], tag: str) -> None:
        self.out = out
        self.tag = tag

    def on_event(self, name: str, time_ns: int, fields: dict[str, Any]) -> None:
        self.out.append((f"{self.tag}:{name}", time_ns, dict(fields)))


def test_counter_site_folds_once_into_counters() -> None:
    """A CounterSite's count appears in ``counters`` on every read, never twice, and adds
    to ``count()`` increments of the same name."""
    rec = Recorder(Engine())
    site = rec.counter("host_irqs")
    site.n += 3
    rec.count("host_irqs", 2)
    assert rec.counters["host_irqs"] == 5
    assert rec.counters["host_irqs"] == 5  # a second read does not fold again
    site.n += 1
    assert dict(rec.counters) == {"host_irqs": 6}
    assert rec.counters["never_counted"] == 0  # Counter semantics kept


def test_event_site_live_follows_subscriptions_and_tracing() -> None:
    """``EventSite.live`` is false until someone subscribes to its name; tracing makes
    every site live."""
    rec = Recorder(Engine())
    site = rec.event("kvm_entry", vcpu=0, vm=0, cpu=0)
    other = rec.event("kvm_exit", vcpu=0)
    assert not site.live and not other.live
    rec.subscribe("kvm_entry", lambda t, f: None)
    assert site.live and not other.live
    assert Recorder(Engine(), tracing=True).event("kvm_exit", vcpu=0).live


def test_event_site_emits_like_emit_and_copies_for_trace_and_callables() -> None:
    """An EventSite emission reaches listeners and callables in subscription order with the
    same time and fields as ``emit``; the trace and plain callables keep their own copy
    (the site reuses its dict)."""
    eng = Engine()
    rec = Recorder(eng, tracing=True)
    log: list[tuple[str, int, dict[str, Any]]] = []
    kept: list[dict[str, Any]] = []
    rec.listen("phys_activate", _Log(log, "a"))
    rec.subscribe("phys_activate", lambda t, f: kept.append(f))
    rec.listen("phys_activate", _Log(log, "b"))
    site = rec.event("phys_activate", intid=0, cpu=0, source="")
    eng.now = 100
    site.fields["intid"] = 48
    site.fields["source"] = "iar"
    site.emit()
    eng.now = 250
    site.fields["intid"] = 27
    site.emit()
    rec.emit("phys_activate", intid=30, cpu=1, source="iar")
    assert [(n, t, f["intid"]) for n, t, f in log] == [
        ("a:phys_activate", 100, 48), ("b:phys_activate", 100, 48),
        ("a:phys_activate", 250, 27), ("b:phys_activate", 250, 27),
        ("a:phys_activate", 250, 30), ("b:phys_activate", 250, 30),
    ]
    assert [f["intid"] for f in kept] == [48, 27, 30]
    assert [(t, f) for t, _n, f in rec.trace] == [
        (100, {"intid": 48, "cpu": 0, "source": "iar"}),
        (250, {"intid": 27, "cpu": 0, "source": "iar"}),
        (250, {"intid": 30, "cpu": 1, "source": "iar"}),
    ]


class _Tap(Listener):
    def __init__(self) -> None:
        self.seen: list[tuple[str, int, dict[str, Any]]] = []

    def on_event(self, name: str, time_ns: int, fields: dict[str, Any]) -> None:
        self.seen.append((name, time_ns, dict(fields)))


def test_tracer_receives_every_event_and_makes_existing_sites_live() -> None:
    """``set_tracer``: sites created before it become live, every event (site or ``emit``)
    reaches the tracer before the subscribers, nothing is kept in memory; ``None`` stops it."""
    eng = Engine()
    rec = Recorder(eng)
    site = rec.event("kvm_entry", vcpu=0)
    order: list[str] = []
    rec.subscribe("kvm_entry", lambda t, f: order.append("sub"))
    other = rec.event("kvm_exit", vcpu=0)
    assert not other.live and not rec.wants("kvm_exit")
    tap = _Tap()
    rec.set_tracer(tap)
    assert site.live and other.live and rec.wants("irqfwd_anything")
    eng.now = 7
    site.fields["vcpu"] = 1
    site.emit()
    order.append("after")
    rec.emit("kvm_exit", vcpu=1, reason="IRQ")
    assert tap.seen == [("kvm_entry", 7, {"vcpu": 1}), ("kvm_exit", 7, {"vcpu": 1, "reason": "IRQ"})]
    assert order == ["sub", "after"] and rec.trace == []
    rec.set_tracer(None)
    assert site.live and not other.live and not rec.wants("kvm_exit")
    other.emit()
    assert len(tap.seen) == 2
