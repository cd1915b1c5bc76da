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


def test_calibrate_cli_prints_fitted_and_predicted_rows_with_errors(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """The table has a 'fitted' row per fit target and a 'predicted' row per held-out
    benchmark; the closing note names every predicted benchmark with its error, and says
    how many miss the tolerance."""
    res = irqfwd("calibrate", "--json")
    report = json.loads(res.out)
    rows = report["benchmarks"]
    assert {n for n, r in rows.items() if r["role"] == "fitted"} == set(report["fit"]["targets"])
    predicted = {n: r for n, r in rows.items() if r["role"] == "predicted"}
    assert set(predicted) == {"ipi", "timer_10ms"}
    for r in predicted.values():
        assert r["ok"] is None  # reported, not checked
        assert r["error_pct"] == pytest.approx(100 * (r["simulated_ns"] - r["measured_ns"]) / r["measured_ns"], abs=0.1)
    res = irqfwd("calibrate")
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    for name, r in rows.items():
        row = next(line for line in lines if line.startswith("│") and f" {name} " in line)
        assert f"│ {r['role']} " in row and f"{r['error_pct']:+.1f}%" in row
    note = next(line for line in lines if line.startswith("predictions:"))
    for name, r in predicted.items():
        assert f"{name} {r['error_pct']:+.1f}%" in note
    assert f"{len(report['predictions']['missed'])} of 2 miss" in note or "all 2 within" in note
    assert "set before the fit:" in res.out and "kick_ipi_ns = 400" in res.out


def test_calibrate_cli_exit_status(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """A predicted miss exits 0 unless --strict; a fitted row the fit cannot bring within
    10% (Phytium: one speed factor for hvc and eoi) exits 1."""
    report = json.loads(irqfwd("calibrate", "--json").out)
    missed = report["predictions"]["missed"]
    res = irqfwd("calibrate", "--strict", "--json")
    assert res.code == (1 if missed else 0)
    strict = json.loads(res.out)
    assert all(strict["benchmarks"][n]["ok"] is False for n in missed)
    res = irqfwd("calibrate", "--platform", "phytium-s2500", "--fit", "hvc,eoi", "--free", "cpu_scale", "--json")
    rows = json.loads(res.out)["benchmarks"]
    assert any(rows[n]["ok"] is False for n in ("hvc", "eoi"))
    assert res.code == 1


@pytest.mark.parametrize("platform", ["kunpeng920", "phytium-s2500"])
def test_calibrate_cli_cross_platform(irqfwd, platform: str) -> None:  # type: ignore[no-untyped-def]
    """--platform fits that platform's figures (its own measured ns) and predicts its others."""
    res = irqfwd("calibrate", "--platform", platform, "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["platform"] == platform
    assert report["fit"]["free"][0]["knob"] == "cpu_scale" and report["fit"]["free"][0]["value"] > 1.0
    assert all(r["ok"] for r in report["benchmarks"].values() if r["role"] == "fitted")
    assert {n for n, r in report["benchmarks"].items() if r["role"] == "predicted"} == {"ipi", "timer_10ms"}


def test_calibrate_cli_fit_free_and_set(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """--fit/--free choose the fit; --set pins a parameter, reported as an assumption."""
    res = irqfwd("calibrate", "--fit", "hvc,mmio_read_vgic,mmio_read_user,eoi,timer_10ms",
                 "--free", "world_switch,mmio_emul_kernel_ns,mmio_emul_user_ns,gicv_access_ns,kvm_timer_irq_ns",
                 "--set", "kick_ipi_ns=1000", "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["benchmarks"]["timer_10ms"]["role"] == "fitted"
    assert report["benchmarks"]["ipi"]["role"] == "predicted"
    assert report["parameters"]["kick_ipi_ns"] == {"value": 1000, "role": "assumed"}
    assert report["parameters"]["kvm_timer_irq_ns"]["role"] == "fitted"


@pytest.mark.parametrize(("args", "message"), [
    (("--platform", "no-such-platform"), "unknown platform"),
    (("--fit", "hvc,no_such_bench"), "unknown benchmark"),
    (("--free", "no_such_knob"), "unknown knob"),
    (("--free", "kick_ipi_ns"), "moves none of the fit targets"),
    (("--fit", "hvc", "--free", "world_switch,hypercall_ns"), "under-determined"),
    (("--set", "kick_ipi_ns"), "expected PARAM=NS"),
    (("--set", "no_such_ns=3"), "unknown cost parameter"),
    (("--set", "kick_ipi_ns=-3"), ">= 0"),
    (("--fit", ","), "empty list"),
])
def test_calibrate_cli_bad_input_exits_2(irqfwd, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    """Bad input: one line naming the problem, exit status 2, no traceback."""
    res = irqfwd("calibrate", *args)
    assert res.code == 2
    assert message in res.err
    assert "Traceback" not in res.err + res.out


DOCS = Path(__file__).resolve().parents[2] / "docs" / "calibration.md"


@pytest.mark.parametrize(("heading", "platform"), [
    ("### Ampere Altra", "altra"),
    ("### HiSilicon Kunpeng 920", "kunpeng920"),
    ("### Phytium S2500", "phytium-s2500"),
])
def test_docs_tables_are_what_calibrate_prints(heading: str, platform: str) -> None:
    """Every fitted and predicted row of docs/calibration.md §4 (simulated, measured, error)
    is what 'irqfwd calibrate --platform P' computes now."""
    from irqfwd.cli.calibrate import calibrate_report

    text = DOCS.read_text()
    section = text[text.index(heading):]
    section = section[:section.index("\n### ", 1)]
    rows = [line.split("|")[1:6] for line in section.splitlines()
            if line.startswith(("| fitted", "| predicted"))]
    report = calibrate_report(platform=platform)
    assert len(rows) == len(report["benchmarks"])
    for role, name, sim, meas, err in (tuple(c.strip() for c in r) for r in rows):
        row = report["benchmarks"][name]
        assert row["role"] == role
        assert f"{row['simulated_ns']:,.0f}" == sim
        assert f"{row['measured_ns']:,.0f}" == meas
        assert f"{row['error_pct']:+.1f}%".replace("-", "−") == err.replace("*", "") or (
            f"{row['error_pct']:+.1f}%" == err.replace("*", "")), (name, err)
