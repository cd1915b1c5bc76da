"""``irqfwd bench --scaling`` / ``--memory-scaling`` building blocks: the scenario of each
axis point has the size it names and the same total interrupt rate; the memory probe
reports a peak per run from fresh interpreters; a scaling point counts the modelled switches
(the timed figures themselves are not checked)."""

from __future__ import annotations

import pytest

from irqfwd.calibrate.scaling import (
    AXES,
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


def test_scaling_section_counts_the_modelled_switches() -> None:
    """``bench --scaling`` points carry the modelled thread switches per interrupt beside
    the cost: one VM's vCPU is woken by halt polling (KVM's ``kvm_vcpu_halt`` poll window
    covers the 20 µs mean gap at 50 kHz), so it is almost never switched out; four VMs on
    one pCPU at 12.5 kHz each mostly block between interrupts (``kvm_vcpu_block``), and
    most interrupts switch a vCPU thread in (``sched_switch``; about 0.8 per interrupt)."""
    out = scaling_section(quick=True, axes={"vms": (1, 4)})
    points = out["axes"]["vms"]["points"]
    one, four = points["1"], points["4"]
    assert one["ratio"] == 1.0 and four["ratio"] == pytest.approx(four["us_per_irq"] / one["us_per_irq"])
    for p in (one, four):
        assert p["switches_per_irq"] == pytest.approx(p["sched_switches"] / p["guest_irqs"])
    assert one["switches_per_irq"] < 0.05
    assert four["switches_per_irq"] > 0.5
