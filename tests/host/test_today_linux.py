"""The host as today's Linux runs it (issue 9), one behaviour per test, each against the
Linux function it follows and, where they differ, across the kernel profiles."""

from __future__ import annotations

from collections import Counter

import pytest

from irqfwd.config import ScenarioConfig
from irqfwd.host.profile import PROFILES
from irqfwd.scenarios.builtin import apply_overrides, get_scenario
from irqfwd.system.run import HOST_CPU_CATEGORIES, RunResult, run_scenario


def _run(design: str, *sets: str, tracing: bool = False) -> RunResult:
    cfg: ScenarioConfig = apply_overrides(get_scenario("nic-level"), list(sets))
    return run_scenario(cfg, design, tracing=tracing)


def _per_irq(c: Counter[str], key: str) -> float:
    return c.get(key, 0) / c["guest_irqs_handled"]


# ------------------------------------------------------------------ injection context
@pytest.mark.parametrize("kernel", ["current", "6.12", "6.1", "5.8"])
def test_irqfd_injects_spis_in_atomic_context_since_5_9(kernel: str) -> None:
    """``irqfd_wakeup`` → ``kvm_arch_set_irq_inatomic`` ("Injecting SPIs is always possible
    in atomic context", v5.9): the SPI is injected in VFIO's hard-irq handler; before it
    (5.8) every injection is ``irqfd_inject`` on the signalling CPU's kworker."""
    c = _run("forwarded", f"host.kernel={kernel}").recorder.counters
    n = c["guest_irqs_handled"]
    assert n > 150
    if PROFILES[kernel].irqfd_inject_inatomic:
        assert c["irqfd_inject_inatomic"] == c["eventfd_signals"] and c.get("irqfd_inject_work", 0) == 0
        assert c.get("kworker_items", 0) == 0
    else:
        assert c.get("irqfd_inject_inatomic", 0) == 0 and c["irqfd_inject_work"] == c["eventfd_signals"]
        assert c["kworker_items"] == c["irqfd_inject_work"]


def test_the_kworker_hop_doubles_the_context_switches_of_an_idle_guest() -> None:
    """With interrupts 5 ms apart every halt ends in ``kvm_vcpu_block`` (beyond the 500 µs
    polling window): one switch to the vCPU thread per interrupt on a 5.9+ host, two on 5.8
    (the kworker that runs ``irqfd_inject`` first, woken with wake-up preemption)."""
    now = _run("forwarded", "rate=200", "duration=100ms").recorder.counters
    old = _run("forwarded", "rate=200", "duration=100ms", "host.kernel=5.8").recorder.counters
    assert _per_irq(now, "sched_switch") == pytest.approx(1.0, abs=0.1)
    assert _per_irq(old, "sched_switch") == pytest.approx(2.0, abs=0.1)
    assert _per_irq(old, "sched_in_vcpu") == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize(("design", "exits"), [("forwarded", 1), ("irqfd-resample", 2)])
def test_busy_guest_exits_per_interrupt(design: str, exits: int) -> None:
    """A guest that computes (``guest.busy``) on the current profile: the device interrupt
    is an IRQ exit; ``forwarded`` needs nothing else (the HW=1 LR deactivates), while
    ``irqfd-resample`` adds the EOI maintenance exit (``vgic_v2_populate_lr`` sets
    GICH_LR.EOI on a level non-HW irq).  Host-tick exits are taken off."""
    c = _run(design, "guest.busy=true").recorder.counters
    n = c["guest_irqs_handled"]
    assert n > 150 and c.get("exit:WFx", 0) == 0
    assert c["exit:IRQ"] - c.get("host_ticks", 0) == pytest.approx(exits * n, abs=2)


# ------------------------------------------------------------------ halt polling
def test_halt_polling_catches_interrupts_inside_its_window() -> None:
    """``kvm_vcpu_halt``: the window starts at 0, grows from ``halt_poll_ns_grow_start``
    (10 µs) doubling after each block shorter than ``halt_poll_ns`` (500 µs); at 20 kHz
    (50 µs apart) it soon covers the gap and the vCPU stops sleeping.  With
    ``halt_poll_ns = 0`` it sleeps on every halt (``kvm_vcpu_wakeup`` waited)."""
    poll = _run("forwarded", tracing=True)
    c = poll.recorder.counters
    n = c["guest_irqs_handled"]
    assert c["halt_poll_success"] > 0.9 * n and c["vcpu_wakeups_waited"] < 0.1 * n
    grown = [f["new"] for _, name, f in poll.recorder.trace if name == "kvm_halt_poll_ns" and f["grow"]]
    assert grown[:3] == [10_000, 20_000, 40_000]
    off = _run("forwarded", "host.halt_poll_ns=0").recorder.counters
    assert off.get("halt_poll_success", 0) == 0 and off["vcpu_wakeups_waited"] == off["vcpu_wakeups"]


@pytest.mark.parametrize(("kernel", "after"), [("current", 20_000), ("6.1", 0)])
def test_a_long_block_shrinks_the_window(kernel: str, after: int) -> None:
    """``shrink_halt_poll_ns``: a block longer than ``halt_poll_ns`` divides the window by
    ``halt_poll_ns_shrink`` (2 since 6.12: 40 µs → 20 µs) or resets it (0 before)."""
    r = _run("forwarded", f"host.kernel={kernel}", "devices.0.traffic.pattern=burst",
             "devices.0.traffic.burst_size=4", "devices.0.traffic.burst_gap_ns=30000",
             "devices.0.traffic.rate_hz=2000", tracing=True)
    shrinks = [(f["old"], f["new"]) for _, name, f in r.recorder.trace
               if name == "kvm_halt_poll_ns" and not f["grow"]]
    assert shrinks and shrinks[0] == (2 * after if after else shrinks[0][0], after)


def test_a_runnable_thread_ends_polling() -> None:
    """``kvm_vcpu_can_poll`` stops when another thread waits for the CPU
    (``single_task_running``): on 5.8 the kworker woken by the injection ends the poll
    at once, so no halt ends by polling."""
    c = _run("forwarded", "host.kernel=5.8").recorder.counters
    assert c.get("halt_poll_success", 0) == 0 and c["vcpu_wakeups_waited"] == c["vcpu_wakeups"]


# ------------------------------------------------------------------ host CPU time
@pytest.mark.parametrize("design", ["irqfd-resample", "forwarded", "vmm-irqline"])
def test_cpu_time_adds_up_to_wall_time(design: str) -> None:
    """Per pCPU, guest + host + idle = wall time: every step's cost goes to exactly one
    category of the pCPU that runs it, and idle is what is left."""
    r = _run(design, "devices.0.traffic.pattern=poisson")
    cpu = r.system.machine.cpu_time() if r.system is not None else []
    assert cpu
    for row in cpu:
        busy = sum(v for k, v in row.items() if k not in ("idle", "wall"))
        assert row["idle"] >= 0 and busy + row["idle"] == row["wall"] == r.sim_time_ns
        assert row["guest"] + row["guest_irq"] > 0 and row["kvm"] > 0 and row["hardirq"] > 0


def test_host_cpu_time_per_design_orders_as_the_exits() -> None:
    """The quantity forwarding saves: host CPU time per interrupt (KVM exits and entries,
    hard-irq, kworker, VMM, scheduler; halt polling apart) is lowest for
    ``forwarded-direct`` and highest for the VMM's ``KVM_IRQ_LINE`` path."""
    per = {}
    for d in ("vmm-irqline", "irqfd-resample", "forwarded", "forwarded-direct"):
        r = _run(d)
        rows = r.system.machine.cpu_time() if r.system is not None else []
        host = sum(row[k] for row in rows for k in HOST_CPU_CATEGORIES)
        per[d] = host / r.recorder.counters["guest_irqs_handled"]
    assert per["vmm-irqline"] > per["irqfd-resample"] > per["forwarded"] > per["forwarded-direct"]


# ------------------------------------------------------------------ host tick
def test_host_tick_stops_when_idle_and_runs_when_busy() -> None:
    """NO_HZ_IDLE (``tick_nohz_idle_stop_tick``): the CNTHP tick (HZ=250) fires every 4 ms
    while the pCPU runs a thread and not while it idles."""
    idle = _run("forwarded", "rate=200", "duration=40ms", "host.halt_poll_ns=0").recorder.counters
    busy = _run("forwarded", "rate=200", "duration=40ms", "guest.busy=true").recorder.counters
    assert busy["host_ticks"] >= 40 // 4 - 1
    assert idle.get("host_ticks", 0) < busy["host_ticks"] // 2


def test_eevdf_and_cfs_slices() -> None:
    """``scheduler_tick`` preempts after the slice: EEVDF's ``base_slice_ns`` (0.75 ms) or
    CFS's ``sched_latency`` (6 ms) shared out, floored at ``sched_min_granularity`` (0.75
    ms), both times ``1 + ilog2(ncpus)`` (SCHED_TUNABLESCALING_LOG; 2 pCPUs: ×2)."""
    from irqfwd.system.build import build_system

    cfg = apply_overrides(get_scenario("nic-level"), ["pcpus=2"])
    sched = build_system(cfg, "forwarded").host.sched
    assert sched.eevdf and sched.sched_slice(2) == sched.sched_slice(8) == 1_500_000
    sched.eevdf = False
    assert sched.sched_slice(2) == 6_000_000 and sched.sched_slice(16) == 1_500_000


# ------------------------------------------------------------------ LR management
def test_configure_hcr_asks_for_what_stayed_out_and_the_group_enables() -> None:
    """``vgic_v2_configure_hcr`` (current): NPIE when pending irqs stayed out of the LRs,
    LRENPIE for active ones, UIE for either; VGrp1DIE while group 1 is enabled in
    GICH_VMCR (EIE while disabled); on 6.1 only UIE (``vgic_set_underflow``)."""
    from irqfwd.host.irqchip.arm_gic import (
        GICH_HCR_LRENPIE,
        GICH_HCR_NPIE,
        GICH_HCR_UIE,
        GICH_HCR_VGRP1DIE,
        GICH_HCR_VGRP1EIE,
    )
    from irqfwd.system.build import build_system

    s = build_system(get_scenario("nic-level"), "forwarded")
    vcpu = s.vms[0].vcpus[0]
    ops = s.vms[0].vgic.ops
    cpuif = vcpu.vgic_cpu.vgic_v2
    assert cpuif is not None
    cpuif.vgic_vmcr = 0
    ops.configure_hcr(vcpu, True, False, 0)
    assert cpuif.vgic_hcr & (GICH_HCR_NPIE | GICH_HCR_UIE) == GICH_HCR_NPIE | GICH_HCR_UIE
    assert not cpuif.vgic_hcr & GICH_HCR_LRENPIE and cpuif.vgic_hcr & GICH_HCR_VGRP1EIE
    cpuif.vgic_vmcr = 1 << 1  # GICH_VMCR.VENG1
    ops.configure_hcr(vcpu, False, True, 0)
    assert cpuif.vgic_hcr & GICH_HCR_LRENPIE and cpuif.vgic_hcr & GICH_HCR_VGRP1DIE
    assert not cpuif.vgic_hcr & GICH_HCR_NPIE
