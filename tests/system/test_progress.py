"""Observing a run's progress (``run_scenario(progress=...)``, :func:`irqfwd.system.run.advance`)
never changes the run: the engine runs in slices of simulated time but the pCPUs'
fast-forward horizon is not moved, so outputs and ``events_run`` stay identical."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from irqfwd.scenarios.builtin import apply_overrides, get_scenario, scenario_names
from irqfwd.system.designs import DESIGNS, NAMES
from irqfwd.system.run import RunProgress, run_scenario, summarize_result


class _Tiny(RunProgress):
    """Asks for an update after every slice, which makes the slices as small as
    :func:`advance` goes (sub-microsecond): as many slice boundaries as possible."""

    interval_s = 0.0

    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []
        self.seen: list[tuple[int, int]] = []
        self.stopped: list[tuple[int, int]] = []

    def start(self, design: str, end_ns: int) -> None:
        self.started.append((design, end_ns))

    def update(self, now_ns: int, irqs: int) -> None:
        self.seen.append((now_ns, irqs))

    def stop(self, now_ns: int, irqs: int) -> None:
        self.stopped.append((now_ns, irqs))


def _outputs(scenario: str, design: str, tmp: Path, progress: RunProgress | None) -> tuple[str, bytes]:
    config = apply_overrides(get_scenario(scenario), ["duration=3ms"])
    trace = tmp / f"{scenario}.{design}.{'p' if progress else 'n'}.txt"
    r = run_scenario(config, design, trace=trace, progress=progress)
    return json.dumps(summarize_result(r), sort_keys=True), trace.read_bytes()


def _runs_on(scenario: str, design: str) -> bool:
    """vmm-irqline is QEMU's INTx path: it needs every device level-triggered."""
    if DESIGNS[design].injection != "irq-line":
        return True
    return all(d.trigger == "level" for d in get_scenario(scenario).devices)


CASES = ([(s, d) for s in scenario_names() for d in NAMES[:5] if _runs_on(s, d)]
         + [("nic-level", d) for d in NAMES[5:]])


@pytest.mark.parametrize(("scenario", "design"), CASES)
def test_sliced_run_is_byte_identical(scenario: str, design: str, tmp_path: Path) -> None:
    """Summary JSON (counters, latencies, invariants, sim_time_ns, events_run) and the
    ftrace file are the same bytes whether or not the run is observed in tiny slices
    (fault designs included: their teardown ends the run with Engine.stop)."""
    plain = _outputs(scenario, design, tmp_path, None)
    prog = _Tiny()
    observed = _outputs(scenario, design, tmp_path, prog)
    assert len(prog.seen) > 30  # really sliced: many boundaries crossed (3 ms in ~50 µs slices)
    assert observed[0] == plain[0]
    assert observed[1] == plain[1]


def test_progress_reports_monotone_time_and_final_counts() -> None:
    """start gets the design and the traffic's end, updates are monotone in simulated time
    and in interrupts, stop gets the run's end time and its guest interrupts handled."""
    config = apply_overrides(get_scenario("vtimer-tick"), ["duration=4ms"])
    prog = _Tiny()
    r = run_scenario(config, "forwarded", progress=prog)
    assert prog.started == [("forwarded", 4_000_000)]
    times = [t for t, _ in prog.seen]
    irqs = [n for _, n in prog.seen]
    assert times == sorted(times) and irqs == sorted(irqs)
    counters = r.recorder.counters
    handled = counters["guest_irqs_handled"] + counters["guest_timer_irqs"]
    assert counters["guest_timer_irqs"] > 0  # the timer's interrupts count too
    assert prog.stopped == [(r.sim_time_ns, handled)]
    assert 0 < irqs[-1] <= handled


def test_stop_is_reported_when_the_run_fails() -> None:
    """An exception inside the run still reaches RunProgress.stop (the bar is closed)."""

    class Boom(_Tiny):
        def update(self, now_ns: int, irqs: int) -> None:
            super().update(now_ns, irqs)
            if len(self.seen) == 3:
                raise RuntimeError("stop here")

    prog = Boom()
    with pytest.raises(RuntimeError, match="stop here"):
        run_scenario(get_scenario("nic-level"), "forwarded", progress=prog)
    assert len(prog.stopped) == 1 and prog.stopped[0][0] == prog.seen[-1][0]
