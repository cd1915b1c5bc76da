"""Traffic patterns (irqfwd.devices.traffic): rates, determinism and CSV trace errors."""

from __future__ import annotations

import itertools
import random
import statistics
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irqfwd.cli.errors import InputError
from irqfwd.config import TrafficConfig
from irqfwd.devices.traffic import ArrivalMux, arrivals, round_half_even
from irqfwd.sim.engine import Engine


def times(cfg: TrafficConfig, end_ns: int, seed: int = 1, start_ns: int = 0) -> list[int]:
    return list(arrivals(cfg, random.Random(seed), start_ns, end_ns))


def test_periodic_rate_and_phase() -> None:
    """20 kHz periodic over 10 ms: 200 events 50 µs apart from start_ns, none at or after the end."""
    t = times(TrafficConfig(pattern="periodic", rate_hz=20_000, start_ns=10_000), 10_000_000)
    assert len(t) == 200
    assert t[0] == 10_000 and t[-1] == 10_000 + 199 * 50_000
    assert {b - a for a, b in itertools.pairwise(t)} == {50_000}


def test_periodic_non_integer_period_does_not_drift() -> None:
    """A 3 kHz period (333,333.3 ns) is rounded per event, not accumulated: event k at round(k·T)."""
    t = times(TrafficConfig(pattern="periodic", rate_hz=3_000, start_ns=0), 1_000_000_000)
    assert len(t) == 3_000
    assert t[-1] == round(2_999 * 1e9 / 3_000)


def test_poisson_mean_rate_and_exponential_gaps() -> None:
    """Poisson at 50 kHz over 1 s: about 50,000 events; gap mean ≈ std (exponential)."""
    t = times(TrafficConfig(pattern="poisson", rate_hz=50_000, start_ns=0), 1_000_000_000)
    assert 49_000 < len(t) < 51_000
    gaps = [b - a for a, b in itertools.pairwise(t)]
    assert all(g >= 0 for g in gaps)
    mean, std = statistics.fmean(gaps), statistics.pstdev(gaps)
    assert 19_000 < mean < 21_000
    assert abs(std - mean) / mean < 0.05


def test_poisson_is_deterministic_per_seed() -> None:
    """Same seed → same times (engine.rng is the only randomness); another seed differs."""
    cfg = TrafficConfig(pattern="poisson", rate_hz=20_000)
    assert times(cfg, 5_000_000, seed=3) == times(cfg, 5_000_000, seed=3)
    assert times(cfg, 5_000_000, seed=3) != times(cfg, 5_000_000, seed=4)


def test_bursts_shape_and_mean_rate() -> None:
    """Bursts of 8 events 500 ns apart, bursts every 8/20 kHz = 400 µs: mean rate 20 kHz."""
    cfg = TrafficConfig(pattern="burst", rate_hz=20_000, burst_size=8, burst_gap_ns=500, start_ns=0)
    t = times(cfg, 10_000_000)
    assert len(t) == 200
    assert t[:9] == [0, 500, 1_000, 1_500, 2_000, 2_500, 3_000, 3_500, 400_000]


def test_burst_longer_than_its_period_is_an_input_error() -> None:
    """Overlapping bursts cannot be produced in order: rejected with the numbers involved,
    by the scenario schema (naming burst_gap_ns) and, for a configuration built without
    validation, by the traffic generator."""
    from pydantic import ValidationError

    kw = {"pattern": "burst", "rate_hz": 1_000_000, "burst_size": 8, "burst_gap_ns": 5_000}
    with pytest.raises(ValidationError, match="burst_gap_ns: a burst of 8 events"):
        TrafficConfig(**kw)  # type: ignore[arg-type]
    cfg = TrafficConfig.model_construct(**{**TrafficConfig().model_dump(), **kw})
    with pytest.raises(InputError, match="burst of 8 events"):
        times(cfg, 1_000_000)


def test_start_offset_is_added() -> None:
    """Times are absolute: start_ns + cfg.start_ns is the first periodic event."""
    t = times(TrafficConfig(pattern="periodic", rate_hz=1_000, start_ns=5), 3_000_000, start_ns=1_000_000)
    assert t == [1_000_005, 2_000_005]


def test_trace_replay(tmp_path: Path) -> None:
    """Trace rows replay at start_ns + time_ns, extra columns ignored, rows past the end dropped."""
    f = tmp_path / "t.csv"
    f.write_text("bytes,time_ns\n64,100\n1500,100\n64,2500\n\n64,9999999\n")
    cfg = TrafficConfig(pattern="trace", trace_csv=str(f))
    assert times(cfg, 1_000_000, start_ns=10) == [110, 110, 2_510]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", r"t\.csv:1: empty trace"),
        ("when\n1\n", r"t\.csv:1: no time_ns column"),
        ("time_ns\n10\nabc\n", r"t\.csv:3: time_ns 'abc' is not an integer"),
        ("time_ns\n10\n-5\n", r"t\.csv:3: time_ns -5 is negative"),
        ("time_ns\n10\n20\n15\n", r"t\.csv:4: time_ns 15 is earlier than the previous row"),
        ("a,time_ns\n1,10\n2\n", r"t\.csv:3: missing time_ns"),
    ],
)
def test_trace_errors_name_file_and_line(tmp_path: Path, content: str, expected: str) -> None:
    """A bad trace file is an InputError naming the file and the offending line."""
    f = tmp_path / "t.csv"
    f.write_text(content)
    with pytest.raises(InputError, match=expected):
        times(TrafficConfig(pattern="trace", trace_csv=str(f)), 1_000_000)


def test_missing_trace_file(tmp_path: Path) -> None:
    """A missing trace file is an InputError naming it."""
    missing = tmp_path / "nope.csv"
    with pytest.raises(InputError, match=r"nope\.csv: cannot read trace"):
        times(TrafficConfig(pattern="trace", trace_csv=str(missing)), 1_000_000)



class _Dev:
    """A device drawing its next arrival when one happens (as Nic does), with or without a mux."""

    def __init__(self, eng: Engine, k: int, times: list[int], log: list[tuple[int, str]],
                 mux: ArrivalMux | None) -> None:
        self.eng, self.k, self.it, self.log, self.mux = eng, k, iter(times), log, mux
        self.slot = mux.add(self.arrival) if mux is not None else 0
        self.next()

    def next(self) -> None:
        t = next(self.it, None)
        if t is None:
            return
        if self.mux is not None:
            self.mux.push(self.slot, t)
        else:
            self.eng.schedule(max(t - self.eng.now, 0), self.arrival)

    def arrival(self) -> None:
        self.log.append((self.eng.now, f"dev{self.k}"))
        self.eng.schedule(0, self.log.append, (self.eng.now, f"work{self.k}"))
        self.next()


def test_arrival_mux_matches_one_entry_per_device() -> None:
    """Devices behind one ArrivalMux run their arrivals at the same instants and in the same
    order among other engine entries as with an engine entry each (ties included, a later
    device starting earlier than the others), and the engine counts the same entries."""
    streams = [[5, 9, 9, 30], [2, 9, 12], [9, 40], [1, 1, 9]]

    def run(merged: bool) -> tuple[list[tuple[int, str]], int]:
        eng = Engine()
        log: list[tuple[int, str]] = []
        mux = ArrivalMux(eng) if merged else None
        for k, ts in enumerate(streams):
            _Dev(eng, k, ts, log, mux)
            eng.schedule(9, log.append, (9, f"other{k}"))
        eng.run()
        return log, eng.events_run

    plain, merged = run(False), run(True)
    assert plain == merged
    assert len(plain[0]) == sum(map(len, streams)) * 2 + len(streams)


def test_count_keeps_the_first_events_of_any_pattern() -> None:
    """``traffic.count`` bounds the number of events (the explorer's small configurations)."""
    import random

    from irqfwd.config import TrafficConfig
    from irqfwd.devices.traffic import arrivals

    for pattern in ("periodic", "poisson", "burst"):
        cfg = TrafficConfig(pattern=pattern, rate_hz=100_000, burst_size=2, count=3, start_ns=0)
        unbounded = TrafficConfig(pattern=pattern, rate_hz=100_000, burst_size=2, start_ns=0)
        got = list(arrivals(cfg, random.Random(1), 0, 1_000_000))
        assert got == list(arrivals(unbounded, random.Random(1), 0, 1_000_000))[:3]
        assert len(got) == 3


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.floats(min_value=0.0, max_value=2.0**53, allow_nan=False),
                 st.integers(min_value=0, max_value=2**40).map(lambda k: k + 0.5)))
def test_round_half_even_is_pythons_round(x: float) -> None:
    """round_half_even(x) == round(x) for x >= 0, ties included (round half to even, the
    rounding of every arrival time): the compiled sources may not use round()."""
    assert round_half_even(x) == round(x)


def test_a_counted_source_draws_no_more_than_its_count() -> None:
    """TrafficConfig.count: the source stops drawing from the shared generator after
    ``count`` events (as itertools.islice over the old generator did), so the engine's other
    random draws do not depend on a device's count cap."""
    rng = random.Random(7)
    src = arrivals(TrafficConfig(pattern="poisson", rate_hz=10_000, count=5), rng, 0, 10**12)
    got = [src.next_time() for _ in range(8)]
    assert got[5:] == [-1, -1, -1]
    ref = random.Random(7)
    for _ in range(5):
        ref.random()
    assert rng.random() == ref.random()


def test_source_iteration_and_next_time_agree() -> None:
    """Iterating over an ArrivalSource yields what next_time() returns, up to its -1."""
    cfg = TrafficConfig(pattern="burst", rate_hz=40_000, burst_size=4, burst_gap_ns=1_000)
    src = arrivals(cfg, random.Random(1), 0, 2_000_000)
    drawn = []
    while (t := src.next_time()) >= 0:
        drawn.append(t)
    assert drawn == times(cfg, 2_000_000)
    assert len(drawn) == 80
