"""``irqfwd bench --scaling`` / ``--memory-scaling`` building blocks: the scenario of each
axis point has the size it names and the same total interrupt rate; the memory probe
reports a peak per run from fresh interpreters; a scaling point counts the modelled switches
(the timed figures themselves are not checked)."""

from __future__ import annotations

import statistics

import pytest

from irqfwd.calibrate.scaling import (
    AXES,
    FIXED_PATH_HOST,
    TOTAL_RATE_HZ,
    axis_config,
    memory_scaling,
    scaling_section,
)
from irqfwd.system.build import build_system


@pytest.mark.parametrize("axis", list(AXES))
def test_axis_points_grow_one_dimension_at_the_same_total_rate(axis: str) -> None:
    for n in AXES[axis]:
        cfg = axis_config(axis, n, 1_000_000)
        assert sum(d.traffic.rate_hz for d in cfg.devices) == pytest.approx(TOTAL_RATE_HZ)
        size = {"vms": len(cfg.vms), "vcpus": cfg.vms[0].vcpus, "pcpus": cfg.pcpus, "pcpus-cpu0": cfg.pcpus,
                "lrs": cfg.num_lrs}.get(axis)
        if axis == "spis":
            gic = build_system(cfg, "forwarded").machine.gic
            size = gic.config.num_irqs - 32
            assert size >= n and cfg.devices[0].host_intid == 32 + n - 1
        assert size == n or axis == "spis"


@pytest.mark.parametrize("n", AXES["pcpus"])
def test_pcpus_axes_differ_only_in_host_irq_affinity(n: int) -> None:
    """``pcpus``: NIC i's host interrupt is routed to pCPU i, where its vCPU is pinned;
    ``pcpus-cpu0``: the same scenario with every host interrupt on the boot CPU."""
    local, cpu0 = axis_config("pcpus", n, 1_000_000), axis_config("pcpus-cpu0", n, 1_000_000)
    assert cpu0.vms[0].pin == local.vms[0].pin == list(range(n))
    assert [d.host_cpu for d in local.devices] == [local.vms[0].pin[d.vcpu] for d in local.devices]
    assert [d.host_cpu for d in cpu0.devices] == [None] * n
    strip = {"name": True, "devices": {"__all__": {"host_cpu"}}}
    assert local.model_dump(exclude=strip) == cpu0.model_dump(exclude=strip)


def test_memory_scaling_reports_peaks_from_fresh_processes() -> None:
    out = memory_scaling((500, 1_000), rate_hz=100_000)
    runs = out["runs"]
    assert runs["500"]["guest_irqs"] >= 499 and runs["1000"]["guest_irqs"] >= 999
    assert all(r["peak_rss_mib"] > 10 and 0 < r["end_rss_kib"] <= r["maxrss_kib"] for r in runs.values())
    assert out["ratio_last_to_first"] == pytest.approx(runs["1000"]["peak_rss_mib"] / runs["500"]["peak_rss_mib"])


@pytest.mark.parametrize("to_file", [False, True])
def test_memory_scaling_streams_a_trace(tmp_path, to_file: bool) -> None:  # type: ignore[no-untyped-def]
    """--memory-scaling --trace: each run streams its trace, to /dev/null (no size) or to a
    real file in the directory given, whose size is reported and which is deleted."""
    out = memory_scaling((300,), rate_hz=100_000, trace_format="ftrace", trace_dir=tmp_path if to_file else None)
    run = out["runs"]["300"]
    assert out["trace_format"] == "ftrace" and out["trace_to"] == (str(tmp_path) if to_file else "/dev/null")
    assert run["guest_irqs"] >= 299
    if to_file:
        assert run["trace_bytes"] > 300 * 500  # hundreds of bytes of text per interrupt
        assert run["trace_bytes_per_irq"] == pytest.approx(run["trace_bytes"] / run["guest_irqs"])
    else:
        assert run["trace_bytes"] == 0
    assert list(tmp_path.iterdir()) == []  # the file is gone, and no temporary file is left


def test_scaling_section_holds_the_modelled_path_fixed() -> None:
    """``bench --scaling`` runs every point with two hosts.  Default host: one VM's vCPU is
    woken by halt polling (KVM's ``kvm_vcpu_halt`` poll window covers the 20 µs mean gap
    at 50 kHz), so it is almost never switched out; four VMs on one pCPU at 12.5 kHz each
    mostly block between interrupts (``kvm_vcpu_block``), and most interrupts switch a
    vCPU thread in (``sched_switch``; about 0.8 per interrupt).  Fixed path
    (``kvm.halt_poll_ns=0``): both points block and switch about once per interrupt, so
    their ratio compares the same modelled work."""
    out = scaling_section(quick=True, axes={"vms": (1, 4)})
    assert out["fixed_path_host"]["halt_poll_ns"] == 0
    axis = out["axes"]["vms"]
    one, four = axis["points"]["1"], axis["points"]["4"]
    for fixed in (one, four):
        assert fixed["switches_per_irq"] == pytest.approx(fixed["sched_switches"] / fixed["guest_irqs"])
        assert 0.9 < fixed["switches_per_irq"] <= 1.01
    d1, d4 = one["default_host"], four["default_host"]
    assert d1["switches_per_irq"] < 0.05 and d4["switches_per_irq"] > 0.5
    # each ratio is the median of the rounds' paired ratios (rounds measured back to back)
    assert len(four["us_per_irq_samples"]) == len(one["us_per_irq_samples"]) == out["repeats"] == 3
    assert one["ratio"] == 1.0 and four["ratio"] == pytest.approx(
        statistics.median(f / o for f, o in zip(four["us_per_irq_samples"], one["us_per_irq_samples"], strict=True)))
    assert d1["ratio"] == 1.0 and d4["ratio"] == pytest.approx(
        statistics.median(f / o for f, o in zip(d4["us_per_irq_samples"], d1["us_per_irq_samples"], strict=True)))
    assert four["us_per_irq"] == pytest.approx(statistics.median(four["us_per_irq_samples"]))
    assert axis["max_ratio"] == max(one["ratio"], four["ratio"])
    assert axis["flat_within_25pct"] == (axis["max_ratio"] <= 1.25)
    assert axis["default_host_max_ratio"] == max(d1["ratio"], d4["ratio"])


def test_axis_config_applies_the_host() -> None:
    cfg = axis_config("vms", 4, 1_000_000, FIXED_PATH_HOST)
    assert cfg.host.halt_poll_ns == 0
    assert cfg.model_dump(exclude={"host"}) == axis_config("vms", 4, 1_000_000).model_dump(exclude={"host"})


def test_bench_scaling_prints_both_hosts(irqfwd, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """``irqfwd bench --scaling``: one row per point with the fixed-path figures and the
    default host's beside them, and one verdict per axis naming both largest ratios."""
    import irqfwd.calibrate.scaling as scaling

    real = scaling.scaling_section
    seen: dict[str, object] = {}

    def small(quick: bool = False, axes: object = None, on_point: object = None) -> dict[str, object]:
        seen["out"] = out = real(quick=True, axes={"vms": (1, 4)})
        return out

    monkeypatch.setattr(scaling, "scaling_section", small)
    res = irqfwd("bench", "--scaling", "--quick")
    assert res.code == 0, res.err
    out = seen["out"]
    assert isinstance(out, dict)
    axis = out["axes"]["vms"]
    four = axis["points"]["4"]
    rows = [line.replace("│", " ").split() for line in res.out.splitlines()]
    cells = next(r for r in rows if r[:2] == ["vms", "4"])
    assert cells[-4:] == [f"{four['ratio']:.2f}x", f"{four['default_host']['switches_per_irq']:.2f}",
                          f"{four['default_host']['us_per_irq']:.2f}", f"{four['default_host']['ratio']:.2f}x"]
    assert (f"vms {'yes' if axis['flat_within_25pct'] else 'no'} (max {axis['max_ratio']:.2f}x; "
            f"default host {axis['default_host_max_ratio']:.2f}x)") in res.out
