"""vtimer-tick / vtimer-shared / vtimer-migrate under each timer design (issue #4).

Checked per run: no invariant violation (timer rules included), every VM receives its
expected ticks (HZ × duration, within a small tolerance for the random first phase and the
teardown window), save/restore counts equal the number of vCPU puts/loads, and the
per-design exit/maintenance/deactivation counts of arch/arm64/kvm/arch_timer.c.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import Any

import pytest

from irqfwd.host.kvm.arch_timer import SCENARIO_DESIGNS, KvmArchTimer
from irqfwd.scenarios.builtin import apply_overrides, get_scenario
from irqfwd.scenarios.timer import TIMER_SCENARIOS
from irqfwd.system.run import RunResult, run_scenario


@cache
def run(name: str, design: str) -> RunResult:
    return run_scenario(get_scenario(name), design, tracing=True)


def cnt(r: RunResult, key: str) -> int:
    return r.counters.get(key, 0)


def events(r: RunResult, name: str) -> list[dict[str, Any]]:
    return [f for _t, ev, f in r.recorder.trace if ev == name]


@pytest.mark.parametrize("design", SCENARIO_DESIGNS)
@pytest.mark.parametrize("name", TIMER_SCENARIOS)
def test_no_violation_and_every_tick_received(name: str, design: str) -> None:
    """No invariant violation (timer-lost, -condition-false, -stale-active, -wrong-guest...) and
    each VM's guest handler took ≈ HZ × duration timer interrupts, all with ISTATUS set."""
    r = run(name, design)
    assert r.violations == []
    cfg = r.config
    irqs = Counter((f["vm"], f["vcpu"]) for f in events(r, "irqfwd_guest_timer_irq") if f["istatus"])
    ticks = cnt(r, "guest_timer_ticks")
    for i, vm in enumerate(cfg.vms):
        expected = cfg.duration_ns * vm.timer.hz // 1_000_000_000
        got = irqs[(i, 0)]
        assert expected - 1 <= got <= expected + 2, (i, got, expected)
    assert cnt(r, "guest_timer_spurious") == 0
    assert ticks == cnt(r, "guest_timer_irqs") + cnt(r, "guest_timer_ticks_caught_up")


@pytest.mark.parametrize("design", SCENARIO_DESIGNS)
@pytest.mark.parametrize("name", TIMER_SCENARIOS)
def test_save_restore_match_vcpu_switches(name: str, design: str) -> None:
    """kvm_timer_vcpu_put saves and kvm_timer_vcpu_load restores exactly once per vCPU put/load."""
    r = run(name, design)
    loads = len(events(r, "irqfwd_vcpu_load"))
    puts = len(events(r, "irqfwd_vcpu_put"))
    assert cnt(r, "timer_restore") == loads > 0
    assert cnt(r, "timer_save") == puts
    assert loads - puts in (0, 1, 2, 3)  # vCPUs still loaded at the end


def test_shared_switches_more_than_ticks() -> None:
    """vtimer-shared really context-switches the timer: more save/restores than one VM's ticks,
    and the descheduled VMs' ticks are injected at load (the restore finds the level high)."""
    r = run("vtimer-shared", "forwarded")
    assert cnt(r, "timer_save") > 60
    assert cnt(r, "sched_tick_preempt") > 0
    loads_with_level = sum(1 for f in events(r, "irqfwd_kvm_timer_phys_active") if f["active"])
    assert loads_with_level > 10


def test_migrate_moves_vcpus_with_timer_pending_or_active() -> None:
    """vtimer-migrate: some vCPUs are put (migrated) with the timer interrupt asserted or active,
    and their ticks still arrive (selftests arch_timer.c -m; ``kvm_timer_vcpu_load_gic`` rebuilds
    the PPI's Active state on the new CPU)."""
    r = run("vtimer-migrate", "forwarded")
    assert cnt(r, "vcpu_migrations") > 1000
    assert cnt(r, "timer_put_active") + cnt(r, "timer_put_pending") > 0
    cpus_by_vcpu: dict[tuple[int, int], set[int]] = {}
    for f in events(r, "irqfwd_vcpu_load"):
        cpus_by_vcpu.setdefault((f["vm"], f["vcpu"]), set()).add(f["cpu"])
    assert all(c == {0, 1} for c in cpus_by_vcpu.values())


@pytest.mark.parametrize("name", TIMER_SCENARIOS)
def test_forwarded_vs_sw_deactivate_counts(name: str) -> None:
    """HW-bit forwarding: the guest's EOI deactivates the PPI with no exit; without HW
    deactivation (M1, ``VGIC_IRQ_SW_RESAMPLE``) one EOI maintenance interrupt — one extra
    exit — per timer interrupt."""
    fw = run(name, "forwarded")
    sw = run(name, "sw-deactivate")
    n_fw = cnt(fw, "guest_timer_irqs")
    n_sw = cnt(sw, "guest_timer_irqs")
    assert cnt(fw, "maintenance_irqs") == 0
    assert cnt(fw, "phys_deactivate_guest") == n_fw
    assert cnt(sw, "maintenance_irqs") == n_sw
    assert cnt(sw, "phys_deactivate_guest") == 0
    if name != "vtimer-migrate":  # (migration adds design-independent exits that do not line up)
        assert cnt(sw, "exits_total") - cnt(fw, "exits_total") == n_sw


def test_busy_tick_takes_one_irq_exit_per_tick() -> None:
    """§6.2/§15 steady state with a running guest: one physical IRQ exit per guest tick, no EOI
    exit; the host's own scheduler tick (CNTHP PPI 26, HZ=250, not stopped while the pCPU runs
    a vCPU thread) adds its own IRQ exits."""
    cfg = get_scenario("vtimer-tick")
    cfg.vms[0].timer.guest_busy = True
    r = run_scenario(cfg, "forwarded")
    n = cnt(r, "guest_timer_irqs")
    assert n >= 19 and r.violations == []
    ticks = cnt(r, "host_ticks")
    assert ticks >= r.sim_time_ns // 4_000_000 - 1
    assert cnt(r, "exit:IRQ") == n + ticks
    assert r.counters.get("exit:WFx", 0) == 0
    assert cnt(r, "host_irqs") >= n - 1  # the first tick may be injected at the first load


def test_deterministic() -> None:
    """Same scenario + seed → identical counters and latency statistics."""
    a = run_scenario(get_scenario("vtimer-migrate"), "forwarded")
    b = run_scenario(get_scenario("vtimer-migrate"), "forwarded")
    assert a.counters == b.counters
    la = a.recorder.latencies["timer_expiry_to_guest_handler"]
    lb = b.recorder.latencies["timer_expiry_to_guest_handler"]
    assert (la.counts, la.summary()) == (lb.counts, lb.summary())


def test_stale_active_fault_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A KVM that trusted a cached "inactive" without invalidation (the hazard of 9b4a3004439d's
    cache, kernel profile 5.8) leaves the PPI Active behind a load: the timer-stale-active rule
    reports it."""
    orig = KvmArchTimer._set_phys_active

    def never_invalidated(self: KvmArchTimer, cpu: int, active: bool) -> int:
        if not active:
            self._inactive_cached[cpu] = True
        return orig(self, cpu, active)

    monkeypatch.setattr(KvmArchTimer, "_set_phys_active", never_invalidated)
    r = run_scenario(apply_overrides(get_scenario("vtimer-migrate"), ["host.kernel=5.8"]), "forwarded")
    rules = {v.rule for v in r.violations}
    assert "timer-stale-active" in rules


def test_missing_bg_timer_fault_loses_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A KVM that never arms the background timer at put (kvm_timer_blocking) leaves a vCPU blocked
    in WFI past its deadline: timer-lost reports it."""
    monkeypatch.setattr(KvmArchTimer, "_blocking", lambda self, ctx: 0)
    r = run_scenario(get_scenario("vtimer-tick"), "forwarded")
    assert "timer-lost" in {v.rule for v in r.violations}
    assert cnt(r, "guest_timer_irqs") < 5


def test_stale_level_fault_delivers_with_condition_false(monkeypatch: pytest.MonkeyPatch) -> None:
    """A KVM that re-injects the cached ctx->irq.level at load instead of kvm_timer_should_fire
    interrupts guests whose timer condition is false: timer-condition-false reports it."""
    orig = KvmArchTimer.kvm_timer_should_fire

    def sticky(self: KvmArchTimer, ctx: Any) -> bool:
        return ctx.irq_level or orig(self, ctx)

    monkeypatch.setattr(KvmArchTimer, "kvm_timer_should_fire", sticky)
    r = run_scenario(get_scenario("vtimer-shared"), "forwarded")
    assert "timer-condition-false" in {v.rule for v in r.violations}
    assert cnt(r, "guest_timer_spurious") > 0


@pytest.mark.parametrize("design", ["irqfd-resample", "forwarded", "forwarded-direct", "sw-deactivate"])
def test_timer_with_passthrough_nic(design: str) -> None:
    """The vtimer shares the vCPU (LRs, exits) with a pass-through level NIC under each device
    design: every tick still arrives (no vCPU switch ever rebuilds the timer state here, so the
    guest's EOI — HW bit, or the M1 maintenance path unmasking the PPI — must do it) and
    every NIC interrupt is handled, with no violation."""
    cfg = apply_overrides(get_scenario("nic-level"), [
        "vms.0.timer.enabled=true", "vms.0.timer.guest_busy=true", "vms.0.timer.hz=1000", "duration=10ms",
    ])
    r = run_scenario(cfg, design)
    assert r.violations == []
    assert 9 <= cnt(r, "guest_timer_irqs") <= 12
    assert cnt(r, "guest_irqs_handled") >= 195
    assert cnt(r, "timer_restore") <= 2  # pinned, busy: loaded once (plus the boot WFI)


def test_sw_deactivate_chip_keeps_forwarding_off_the_gic() -> None:
    """``timer_chip`` (Apple M1, Linux 5.14) on a GIC: the kvm-timer irqchip is forwarded, the
    GIC's irq_data of PPI 27 is not (so the GIC driver deactivates it with DIR), and after
    each tick the PPI ends unmasked again."""
    cfg = apply_overrides(get_scenario("vtimer-tick"), ["vms.0.timer.guest_busy=true"])
    r = run_scenario(cfg, "sw-deactivate")
    assert r.system is not None
    vt = r.system.vtimer
    d = r.system.host.genirq.irq_get_irq_data(vt.host_irq)
    assert d.irqd_is_forwarded_to_vcpu()
    assert d.parent_data is not None and not d.parent_data.irqd_is_forwarded_to_vcpu()
    assert cnt(r, "phys_deactivate_host") == cnt(r, "host_irqs") > 15
    assert not vt.kt.masked(0)
    assert r.system.gic.dist.is_enabled(27, 0)


@pytest.mark.parametrize("extra", [["vms.0.timer.mode=oneshot"], ["vcpus=2"], ["pcpus=3"],
                                   ["vms.0.timer.hz=250", "vms.0.timer.guest_busy=true"]])
@pytest.mark.parametrize("design", ["irqfd-resample", "forwarded", "forwarded-direct", "sw-deactivate"])
def test_migrate_variants_have_no_violation(design: str, extra: list[str]) -> None:
    """vtimer-migrate varied (one-shot hrtimers on VM 0, 2-vCPU VMs, 3 pCPUs, HZ=250 on VM 0)
    under every non-fault design and another seed: no invariant violation, every vCPU ticks."""
    cfg = apply_overrides(get_scenario("vtimer-migrate"), extra)
    r = run_scenario(cfg, design, seed=3, tracing=True)
    assert r.violations == []
    ticked = {(f["vm"], f["vcpu"]) for f in events(r, "irqfwd_guest_timer_irq")}
    assert ticked == {(i, v) for i, vm in enumerate(cfg.vms) for v in range(vm.vcpus)}
