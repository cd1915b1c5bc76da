"""``irqfwd calibrate``: the arm/micro-bench equivalents run in the simulator land within 10%
of the Ampere Altra measurements (kvm-unit-tests arm/micro-bench on Ampere Altra, Linux 6.12-rc1) with the default profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from irqfwd.calibrate.microbench import MEASURED_ALTRA, bench_hvc, bench_ipi, run_microbenchmarks
from irqfwd.sim.costs import load_profile


@pytest.fixture(scope="module")
def simulated() -> dict[str, float | None]:
    return run_microbenchmarks(load_profile("altra"))


@pytest.mark.parametrize("name", ["hvc", "mmio_read_user", "mmio_read_vgic", "eoi", "ipi", "timer_10ms"])
def test_default_profile_within_10_percent(simulated: dict[str, float | None], name: str) -> None:
    """Each simulated micro-benchmark is within ±10% of the Altra figure."""
    sim = simulated[name]
    assert sim is not None
    assert abs(sim / MEASURED_ALTRA[name] - 1) <= 0.10, (name, sim)


def test_altra_ratios_are_reproduced(simulated: dict[str, float | None]) -> None:
    """Ratios of the Altra figures (kvm-unit-tests arm/micro-bench, Linux 6.12-rc1): user/kernel
    MMIO ≈ 3.7, vGIC MMIO/hvc ≈ 1.5, IPI/hvc ≈ 6.3, EOI/hvc ≈ 1/22, vtimer injection/hvc ≈ 2.9."""
    s = {k: v for k, v in simulated.items() if v is not None}
    assert 3.3 < s["mmio_read_user"] / s["mmio_read_vgic"] < 4.1
    assert 1.3 < s["mmio_read_vgic"] / s["hvc"] < 1.7
    assert 5.6 < s["ipi"] / s["hvc"] < 7.0
    assert 18 < s["hvc"] / s["eoi"] < 26
    assert 2.6 < s["timer_10ms"] / s["hvc"] < 3.2


def test_benchmarks_follow_the_profile(tmp_path: Path) -> None:
    """The figures come from the cost model: +100 ns of hypercall_ns adds 100 ns to hvc,
    and a slower kick IPI slows the IPI benchmark by as much (its receiver spins in guest
    mode, micro-bench.c ``ipi_secondary_entry``, so ``kvm_vcpu_kick`` IPIs its pCPU), while
    the wake-up of a blocked vCPU plays no part in it."""
    base = load_profile("altra")
    slower = base.model_copy(update={"hypercall_ns": base.hypercall_ns + 100})
    assert bench_hvc(slower, 8) == pytest.approx(bench_hvc(base, 8) + 100)
    slow_ipi = base.model_copy(update={"kick_ipi_ns": base.kick_ipi_ns + 1000})
    assert bench_ipi(slow_ipi, 4) == pytest.approx(bench_ipi(base, 4) + 1000, abs=20)
    sleepy = base.model_copy(update={"vcpu_wakeup_ns": base.vcpu_wakeup_ns + 1000})
    assert bench_ipi(sleepy, 4) == pytest.approx(bench_ipi(base, 4), abs=20)


def test_calibrate_cli_json_and_bad_profile(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """'irqfwd calibrate --json' reports simulated/measured/ratio; a bad profile exits 2."""
    res = irqfwd("calibrate", "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["benchmarks"]["hvc"]["measured_ns"] == 306
    assert report["benchmarks"]["hvc"]["ok"] is True
    bad = tmp_path / "p.toml"
    bad.write_text("hypercall_ns = -1\n")
    res = irqfwd("calibrate", "--profile", str(bad))
    assert res.code == 2 and "hypercall_ns" in res.err
    res = irqfwd("calibrate", "--profile", "no-such-profile")
    assert res.code == 2 and "no-such-profile" in res.err
