"""The event kernel: deterministic (time, priority, sequence) order, processes, signals."""

from irqfwd.sim import LATE, URGENT, Engine
from irqfwd.sim.engine import Handle


def test_order_is_time_then_priority_then_insertion() -> None:
    eng = Engine()
    seen: list[str] = []
    eng.schedule(10, seen.append, "t10-normal-a")
    eng.schedule(10, seen.append, "t10-late", priority=LATE)
    eng.schedule(10, seen.append, "t10-urgent", priority=URGENT)
    eng.schedule(10, seen.append, "t10-normal-b")
    eng.schedule(5, seen.append, "t5")
    eng.run()
    assert seen == ["t5", "t10-urgent", "t10-normal-a", "t10-normal-b", "t10-late"]
    assert eng.now == 10


def test_cancel_and_run_until() -> None:
    eng = Engine()
    seen: list[int] = []
    h = eng.schedule(3, seen.append, 3)
    eng.schedule(7, seen.append, 7)
    eng.schedule(20, seen.append, 20)
    eng.cancel(h)
    eng.run(until=10)
    assert seen == [7] and eng.now == 10
    eng.run()
    assert seen == [7, 20]


def test_process_delays_and_signals() -> None:
    eng = Engine()
    sig = eng.signal()
    log: list[tuple[int, object]] = []

    def waiter():  # type: ignore[no-untyped-def]
        value = yield sig
        log.append((eng.now, value))
        yield 5
        log.append((eng.now, "done"))
        return 42

    def firer():  # type: ignore[no-untyped-def]
        yield 100
        sig.fire("go")

    p = eng.process(waiter())
    eng.process(firer())
    eng.run()
    assert log == [(100, "go"), (105, "done")]
    assert p.fired and p.value == 42


def test_same_seed_same_random_stream() -> None:
    a, b = Engine(seed=7), Engine(seed=7)
    assert [a.rng.random() for _ in range(5)] == [b.rng.random() for _ in range(5)]


def test_next_time_bound_skip_and_cancelled() -> None:
    """Engine.next_time: earliest live entry before the bound, skipping rejected callbacks
    and cancelled entries, without consuming anything (the spinning-guest quantum query)."""
    eng = Engine()
    seen: list[str] = []

    def a() -> None:
        seen.append("a")

    def b() -> None:
        seen.append("b")

    h = eng.schedule(5, a)
    eng.schedule(20, b)
    eng.schedule(30, a)
    assert eng.next_time() == 5
    assert eng.next_time(5) is None  # strictly earlier than the bound
    assert eng.next_time(6) == 5
    assert eng.next_time(skip=lambda cb: cb is a) == 20
    assert eng.next_time(20, skip=lambda cb: cb is a) is None
    eng.cancel(h)
    assert eng.next_time() == 20
    assert eng.next_time(skip=lambda cb: cb is b) == 30
    eng.run()
    assert seen == ["b", "a"]  # the queries consumed nothing
    assert eng.next_time() is None


def test_compaction_keeps_the_order() -> None:
    """Cancelled entries are dropped from the heap once they are most of it; what is left
    runs in the same (time, priority, sequence) order as without the cancels."""
    eng = Engine()
    seen: list[int] = []
    keep = []
    for i in range(200):
        h = eng.schedule(1000 - (i % 50), seen.append, i, priority=i % 3)
        if i % 5:
            eng.cancel(h)
            eng.cancel(h)  # twice: harmless, counted once
        else:
            keep.append((1000 - (i % 50), i % 3, i))
    assert len(eng._heap) < 100  # compacted on the way
    eng.run()
    assert seen == [i for _t, _p, i in sorted(keep)]
    assert eng.events_run == len(keep)


def test_at_seq_runs_in_the_place_of_its_reserved_number() -> None:
    """An entry scheduled later with a number reserved earlier runs as if scheduled then."""
    eng = Engine()
    seen: list[str] = []
    eng.schedule(10, seen.append, "a")
    seq = eng.reserve_seq()
    eng.schedule(10, seen.append, "c")
    eng.at_seq(10, seq, seen.append, "b")
    eng.run()
    assert seen == ["a", "b", "c"]


def test_chooser_default_order_is_the_normal_order() -> None:
    """A chooser that always picks ``pending()[0]`` runs entries exactly as :meth:`Engine.run`."""

    def build(eng: Engine, seen: list[str]) -> None:
        eng.schedule(10, seen.append, "t10-normal-a")
        eng.schedule(10, seen.append, "t10-late", priority=LATE)
        eng.schedule(10, seen.append, "t10-urgent", priority=URGENT)
        eng.schedule(5, lambda: eng.schedule(5, seen.append, "t10-from-t5"))
        eng.schedule(12, seen.append, "t12")

    plain, chosen = Engine(), Engine()
    a: list[str] = []
    b: list[str] = []
    build(plain, a)
    build(chosen, b)
    calls: list[int] = []

    def first(engine: Engine, limit: int) -> list[object]:
        calls.append(engine.now)
        return engine.pending()[0]

    chosen.chooser = first
    plain.run(until=11)
    chosen.run(until=11)
    assert a == b == ["t10-urgent", "t10-normal-a", "t10-from-t5", "t10-late"]
    assert plain.now == chosen.now == 11 and plain.events_run == chosen.events_run == 5
    assert len(calls) == 5  # consulted before every entry


def test_chooser_advances_an_entry_to_the_earliest_instant() -> None:
    """An entry chosen ahead of its time runs at the time of the earliest live entry; the
    skipped entries keep their times and run afterwards; the clock never goes backwards."""
    eng = Engine()
    seen: list[tuple[str, int]] = []
    eng.schedule(10, lambda: seen.append(("a", eng.now)))
    eng.schedule(30, lambda: seen.append(("b", eng.now)))
    eng.schedule(40, lambda: seen.append(("c", eng.now)))

    def last_first(engine: Engine, limit: int) -> list[object]:
        return engine.pending()[-1]

    eng.chooser = last_first
    eng.run()
    assert seen == [("c", 10), ("b", 10), ("a", 10)]
    assert eng.pending() == []


def test_chooser_must_return_a_live_entry_within_the_limit() -> None:
    """Returning a cancelled entry or one due after ``until`` is an engine misuse."""
    import pytest

    from irqfwd.errors import SimulationError

    eng = Engine()
    eng.schedule(5, lambda: None)
    late = eng.schedule(50, lambda: None)
    eng.chooser = lambda engine, limit: late
    with pytest.raises(SimulationError, match="chooser"):
        eng.run(until=20)


# --------------------------------------------------------------- order against a model
# Whatever the mix of delays, priorities, reserved sequence numbers (at_seq), cancels (and
# the compactions they cause) and zero-delay entries scheduled from callbacks, the entry
# that runs is always the smallest (time, priority, sequence) key pending: the module's
# ordering rules 1-3, checked against a plain dict of the pending keys.

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_OP = st.tuples(
    st.sampled_from(["schedule", "schedule", "schedule", "at_seq", "cancel", "run_until"]),
    st.integers(0, 40),  # delay / time offset / index of the handle to cancel
    st.integers(0, 2),  # priority
    st.integers(0, 3),  # zero-delay children scheduled by the callback
)


@given(st.lists(_OP, min_size=1, max_size=60))
@settings(max_examples=300, deadline=None)
def test_execution_order_is_the_sorted_key_order(ops: list[tuple[str, int, int, int]]) -> None:
    eng = Engine()
    ran: list[tuple[int, int, int]] = []
    live: dict[int, tuple[int, int, int]] = {}  # seq -> key, of entries not run nor cancelled
    handles: list[Handle] = []

    def fire(key: tuple[int, int, int], children: int) -> None:
        assert eng.now == key[0]
        assert key == min(live.values())  # the smallest pending key runs next
        live.pop(key[2])
        ran.append(key)
        for c in range(children):
            add(0, (c + key[1]) % 3, 0)

    def add(delay: int, prio: int, children: int) -> None:
        seq = eng._seq + 1
        key = (eng.now + delay, prio, seq)
        handles.append(eng.schedule(delay, fire, key, children, priority=prio))
        live[seq] = key

    for op, n, prio, children in ops:
        if op == "schedule":
            add(n, prio, children)
        elif op == "at_seq":
            seq = eng.reserve_seq()
            add(n, prio, 0)  # a later entry first, then the one with the earlier number
            key = (eng.now + n + 1, prio, seq)
            handles.append(eng.at_seq(key[0], seq, fire, key, children, priority=prio))
            live[seq] = key
        elif op == "cancel" and handles:
            h = handles[n % len(handles)]
            if h.callback is not None:
                live.pop(h.args[0][2])
            eng.cancel(h)
        elif op == "run_until":
            until = eng.now + n
            eng.run(until=until)
            assert all(k[0] > until for k in live.values())  # everything due by then ran
            assert eng.now == until
        assert eng.peek() == (min(live.values())[0] if live else None)
        assert [e.seq for e in eng.pending()] == [k[2] for k in sorted(live.values())]
    eng.run()
    assert not live and eng.peek() is None
    assert eng.events_run == len(ran)
