"""The Recorder's hot-path helpers keep the plain API's results (docs/architecture.md,
"Simulation kernel"): counter sites fold into ``Recorder.counters``, event sites emit
exactly what ``Recorder.emit`` would, and listeners are called in subscription order."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from irqfwd.devices import events as dev_events
from irqfwd.guest import events as guest_events
from irqfwd.host import events as host_events
from irqfwd.host.kvm import events as kvm_events
from irqfwd.host.kvm.events import KvmEntry, KvmExit
from irqfwd.hw import events as hw_events
from irqfwd.hw.events import PhysActivate
from irqfwd.sim.engine import Engine
from irqfwd.sim.metrics import (
    LATENCY_RELATIVE_ERROR,
    Event,
    LatencyStats,
    Listener,
    Recorder,
    latency_bucket,
    latency_bucket_bounds,
)


class _Log(Listener):
    def __init__(self, out: list[tuple[str, int, dict[str, Any]]], tag: str) -> None:
        self.out = out
        self.tag = tag

    def on_event(self, ev: Event, time_ns: int) -> None:
        self.out.append((f"{self.tag}:{ev.event}", time_ns, ev.fields()))


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
    """``Event.live`` is false until someone subscribes to the site's name; tracing makes
    every site live."""
    rec = Recorder(Engine())
    site = rec.site(KvmEntry())
    other = rec.event("kvm_exit", vcpu=0)
    assert not site.live and not other.live
    rec.subscribe("kvm_entry", lambda t, f: None)
    assert site.live and not other.live
    assert Recorder(Engine(), tracing=True).site(KvmExit()).live


def test_record_site_emits_like_emit_and_copies_for_trace_and_callables() -> None:
    """A record site's emission reaches listeners and callables in subscription order with
    the same time and fields (in ``FIELDS`` order) as ``emit``; the trace and plain
    callables keep their own dict (the site reuses its record)."""
    eng = Engine()
    rec = Recorder(eng, tracing=True)
    log: list[tuple[str, int, dict[str, Any]]] = []
    kept: list[dict[str, Any]] = []
    rec.listen("irqfwd_phys_activate", _Log(log, "a"))
    rec.subscribe("irqfwd_phys_activate", lambda t, f: kept.append(f))
    rec.listen("irqfwd_phys_activate", _Log(log, "b"))
    site = rec.site(PhysActivate())
    eng.now = 100
    site.intid = 48
    site.source = "iar"
    site.emit()
    eng.now = 250
    site.intid = 27
    site.emit()
    rec.emit("irqfwd_phys_activate", intid=30, cpu=1, source="iar")
    assert [(n, t, f["intid"]) for n, t, f in log] == [
        ("a:irqfwd_phys_activate", 100, 48), ("b:irqfwd_phys_activate", 100, 48),
        ("a:irqfwd_phys_activate", 250, 27), ("b:irqfwd_phys_activate", 250, 27),
        ("a:irqfwd_phys_activate", 250, 30), ("b:irqfwd_phys_activate", 250, 30),
    ]
    assert [f["intid"] for f in kept] == [48, 27, 30]
    assert [(t, list(f.items())) for t, _n, f in rec.trace] == [
        (100, [("intid", 48), ("cpu", 0), ("source", "iar")]),
        (250, [("intid", 27), ("cpu", 0), ("source", "iar")]),
        (250, [("intid", 30), ("cpu", 1), ("source", "iar")]),
    ]


def test_dict_site_updates_in_place() -> None:
    """``Recorder.event`` (an event with no record class): its ``values`` dict is updated in
    place and each emission shows the values of that moment."""
    eng = Engine()
    rec = Recorder(eng, tracing=True)
    site = rec.event("irqfwd_custom", a=0, b="x")
    site.values["a"] = 5
    site.emit()
    site.values["b"] = "y"
    site.emit()
    assert rec.trace == [(0, "irqfwd_custom", {"a": 5, "b": "x"}), (0, "irqfwd_custom", {"a": 5, "b": "y"})]


def _record_classes() -> list[type[Event]]:
    mods = (hw_events, dev_events, guest_events, host_events, kvm_events)
    return [getattr(m, n) for m in mods for n in m.__all__]


@pytest.mark.parametrize("cls", _record_classes(), ids=lambda c: c.__name__)
def test_record_fields_are_its_constructor_parameters(cls: type[Event]) -> None:
    """Every record names its event (``NAME``) and takes each of its ``FIELDS`` as a
    keyword of its constructor, stored under its own name and shown in ``FIELDS`` order:
    what a trace of the event shows (and what ``Recorder.emit`` of the same name builds).
    (Checked through construction: a compiled class has no inspectable signature.)"""
    default = cls()
    assert cls.NAME and default.event == cls.NAME
    assert list(default.fields()) == list(cls.FIELDS)
    values = {name: _other(v, i) for i, (name, v) in enumerate(default.fields().items())}
    ev = cls(**values)
    assert list(ev.fields().items()) == list(values.items())


def _other(default: object, i: int) -> object:
    """A value of the parameter's type that differs from its default (and from the others)."""
    if isinstance(default, bool):
        return not default
    if isinstance(default, str):
        return f"v{i}"
    return 1000 + i  # int, or int | None


class _Tap(Listener):
    def __init__(self) -> None:
        self.seen: list[tuple[str, int, dict[str, Any]]] = []

    def on_event(self, ev: Event, time_ns: int) -> None:
        self.seen.append((ev.event, time_ns, ev.fields()))


def test_tracer_receives_every_event_and_makes_existing_sites_live() -> None:
    """``set_tracer``: sites created before it become live, every event (site or ``emit``,
    which builds the name's record) reaches the tracer before the subscribers, nothing is
    kept in memory; ``None`` stops it."""
    eng = Engine()
    rec = Recorder(eng)
    site = rec.site(KvmEntry())
    order: list[str] = []
    rec.subscribe("kvm_entry", lambda t, f: order.append("sub"))
    other = rec.site(KvmExit())
    assert not other.live and not rec.wants("kvm_exit")
    tap = _Tap()
    rec.set_tracer(tap)
    assert site.live and other.live and rec.wants("irqfwd_anything")
    eng.now = 7
    site.vcpu = 1
    site.emit()
    order.append("after")
    rec.emit("kvm_exit", vcpu=1, reason="IRQ")
    assert tap.seen == [("kvm_entry", 7, {"vcpu": 1, "vm": 0, "cpu": 0}), ("kvm_exit", 7, {"vcpu": 1, "vm": 0, "reason": "IRQ", "cpu": 0})]
    assert order == ["sub", "after"] and rec.trace == []
    rec.set_tracer(None)
    assert site.live and not other.live and not rec.wants("kvm_exit")
    other.emit()
    assert len(tap.seen) == 2


# --------------------------------------------------------------------------- latency statistics


def _exact(samples: list[int], p: float) -> int:
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(p / 100.0 * len(ordered))) - 1]


def test_latency_buckets_are_contiguous_and_within_the_stated_precision() -> None:
    """Every value lands in the bucket whose bounds contain it; buckets follow each other
    without gaps; a bucket's width is at most 2**-8 of its lowest value (exact below 512)."""
    prev_end = 0
    for i in range(0, latency_bucket(1 << 40) + 1):
        lo, width = latency_bucket_bounds(i)
        assert lo == prev_end, i
        assert latency_bucket(lo) == i and latency_bucket(lo + width - 1) == i
        assert width == 1 or width * 2**8 <= lo
        prev_end = lo + width
    assert all(latency_bucket_bounds(v) == (v, 1) for v in range(512))


def test_streamed_quantiles_within_stated_error_of_exact() -> None:
    """On a small run that keeps every sample, each streamed percentile is within
    LATENCY_RELATIVE_ERROR of the exact nearest-rank one; count/min/max/mean are exact."""
    rng = random.Random(12)
    samples = [int(rng.lognormvariate(8.5, 1.2)) for _ in range(20_000)] + [0, 7, 3_000_000_007]
    rng.shuffle(samples)
    stats = LatencyStats()
    for s in samples:
        stats.add(s)
    for p in (0, 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100):
        exact = _exact(samples, p)
        assert abs(stats.percentile(p) - exact) <= LATENCY_RELATIVE_ERROR * exact, p
    summary = stats.summary()
    assert summary["count"] == len(samples)
    assert summary["min"] == 0 and summary["max"] == 3_000_000_007
    assert summary["mean"] == round(sum(samples) / len(samples), 1)
    assert LATENCY_RELATIVE_ERROR == 2**-9


def test_streamed_quantiles_of_a_real_run_match_exact_samples() -> None:
    """A small poisson run: the recorder's streamed percentiles are within the stated error
    of the exact percentiles of the same samples collected by a subscriber."""
    from irqfwd.config import DeviceConfig, ScenarioConfig, TrafficConfig
    from irqfwd.system.run import run_scenario

    cfg = ScenarioConfig(name="q", duration_ns=4_000_000, seed=3,
                         devices=[DeviceConfig(traffic=TrafficConfig(pattern="poisson", rate_hz=100_000))])
    result = run_scenario(cfg, "irqfd-resample", tracing=True)
    starts: dict[int, int] = {}
    exact: list[int] = []
    for t, name, f in result.recorder.trace:
        if name == "irqfwd_device_irq_raise":
            starts[f["seq"]] = t
        elif name == "irqfwd_guest_irq_handled" and f.get("seq") is not None:
            exact.append(t - starts[min(starts)])
            starts.clear()
    stats = result.recorder.latencies["assert_to_guest_handler"]
    assert stats.count == len(exact) > 300
    assert stats.max == max(exact) and stats.min == min(exact)
    for p in (50, 90, 99):
        e = _exact(exact, p)
        assert abs(stats.percentile(p) - e) <= LATENCY_RELATIVE_ERROR * e


def test_latency_stats_memory_is_independent_of_sample_count() -> None:
    """A million samples of the same spread keep as many buckets as a thousand."""
    small, large = LatencyStats(), LatencyStats()
    for i in range(1_000):
        small.add(1_000 + (i * 7919) % 50_000)
    for i in range(1_000_000):
        large.add(1_000 + (i * 7919) % 50_000)
    small.add(51_000)
    large.add(51_000)
    assert len(large.counts) == len(small.counts) < 4_000
    assert large.count == 1_000_001


def test_latency_merge_equals_adding_every_sample() -> None:
    a, b, both = LatencyStats(), LatencyStats(), LatencyStats()
    for v in (5, 900, 70_000):
        a.add(v)
        both.add(v)
    for v in (3, 1_000_000):
        b.add(v)
        both.add(v)
    a.merge(b)
    assert (a.counts, a.summary()) == (both.counts, both.summary())
    with pytest.raises(ValueError):
        a.add(-1)


def test_cdf_steps_reach_one_at_the_maximum() -> None:
    """``LatencyStats.cdf``: non-decreasing fractions ending at 1.0 on the largest sample; each
    step's value is within the stated error of the samples it counts."""
    stats = LatencyStats()
    samples = [300, 300, 1_000, 5_000, 5_003, 90_000]
    for v in samples:
        stats.add(v)
    cdf = stats.cdf()
    fractions = [f for _, f in cdf]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert cdf[0] == (300, 2 / 6) and abs(cdf[-1][0] - 90_000) <= LATENCY_RELATIVE_ERROR * 90_000
    for value, frac in cdf:
        exact = sorted(samples)[round(frac * len(samples)) - 1]
        assert abs(value - exact) <= LATENCY_RELATIVE_ERROR * exact


def test_latency_site_records_like_recorder_latency() -> None:
    """A LatencySite (the hot paths' way to record) gives the same statistics as
    Recorder.latency, and its path appears in Recorder.latencies only at its first sample
    (a path never sampled is not reported)."""
    eng = Engine()
    a, b = Recorder(eng), Recorder(eng)
    site = a.latency_site("assert_to_guest_handler")
    assert "assert_to_guest_handler" not in a.latencies
    rng = random.Random(3)
    for _ in range(500):
        ns = rng.randrange(0, 5_000_000)
        site.add(ns)
        b.latency("assert_to_guest_handler", ns)
    assert a.latencies["assert_to_guest_handler"].summary() == b.latencies["assert_to_guest_handler"].summary()
    assert a.latencies["assert_to_guest_handler"].counts == b.latencies["assert_to_guest_handler"].counts
