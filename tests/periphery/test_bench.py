"""``irqfwd bench`` building blocks: the simulator section and the memory section report
consistent figures (the wall-clock values themselves are machine-dependent and not checked)."""

from __future__ import annotations

import pytest

from irqfwd.calibrate.bench import bare_heap_loop, machine_description, memory_section, sim_section


def test_sim_section_counts_and_rates() -> None:
    """Quick mode runs nic-level for 20 ms: 401 interrupts (one every 50 µs from 10 µs, plus the
    one at teardown), and derives rates from the median wall time."""
    out = sim_section(True, ("forwarded",))
    d = out["designs"]["forwarded"]
    assert d["guest_irqs_handled"] == 401
    assert d["engine_events"] > d["guest_irqs_handled"]
    assert d["guest_irqs_per_wall_s"] == d["guest_irqs_handled"] / d["wall_s_median"]
    assert d["slowdown_vs_bare"] * d["ratio_sim_to_bare"] == pytest.approx(1.0)


def test_memory_section_is_small_without_tracing() -> None:
    """A 10 ms nic-level run keeps counters and latency samples only: far below 16 MiB."""
    peak = memory_section(("irqfd-resample",))["irqfd-resample"]["peak_bytes"]
    assert 0 < peak < 16 * 2**20


def test_bare_loop_and_machine_description() -> None:
    """The bare heapq loop takes measurable time; the machine description names CPU count and Python."""
    assert bare_heap_loop(10_000) > 0
    m = machine_description()
    assert m["logical_cpus"] and m["python"].startswith(("CPython", "PyPy"))
