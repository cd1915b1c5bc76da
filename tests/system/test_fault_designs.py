"""Fault-injection designs: each makes the invariant checker report exactly the rules it
breaks, its own rule first; the clean designs report nothing (the Linux history each fault
design mirrors: ``irqfwd.system.designs`` and docs/designs.md "Fault variants")."""

from __future__ import annotations

import importlib
from typing import NamedTuple

import pytest

from irqfwd.scenarios.builtin import apply_overrides, get_scenario
from irqfwd.system.designs import DESIGNS

CLEAN = ("irqfd-resample", "forwarded", "forwarded-direct", "sw-deactivate")

ONESHOT_TIMER = ("vms.0.timer.mode=oneshot", "vms.0.timer.oneshot_max_ns=100000")
"""vtimer-migrate with vm0's guest on one-shot hrtimers (20 µs–100 µs apart, random phase
against the 13 µs migrations): now and then the vCPU is put between its GICV_IAR of vINTID 27
and its CNTV_CTL.IMASK write, so ``kvm_timer_vcpu_load_gic`` raises the level of an active
vINTID: the vgic holds a HW irq pending+active (the periodic built-ins never hit that window)."""


class Fault(NamedTuple):
    scenario: str
    overrides: tuple[str, ...]
    rules: frozenset[str]
    """Every rule the run breaks; ``rule`` is its own, the others are consequences."""
    rule: str
    intid: int


FAULTS = {
    # vgic_v2_populate_lr without GICH_LR.EOI on a level non-HW LR: no maintenance
    # interrupt, vgic_v2_fold_lr_state never calls kvm_notify_acked_irq, the resampler never
    # de-asserts (7a84428af7ca, 174178fed338): the guest is re-interrupted while the NIC is
    # de-asserted.
    "fault-level-no-eoi-bit": Fault("nic-level", ("duration=3ms",), frozenset({"level-storm"}),
                                    "level-storm", 48),
    # vfio_platform_unmask before the guest acknowledged the device (the automasking of
    # 06211b40ce6b undone early): the still-high level line fires again; the storm starves
    # the guest of its first raise within 3 ms (lost-interrupt, a consequence).
    "fault-early-unmask": Fault("nic-level", ("duration=3ms",), frozenset({"level-storm", "lost-interrupt"}),
                                "level-storm", 48),
    # Teardown un-forwards before free_irq, so gic_eoimode1_mask_irq no longer clears Active.
    "fault-no-teardown-deactivate": Fault("nic-level", ("duration=3ms",),
                                          frozenset({"stale-active", "deactivate-exactly-once"}),
                                          "stale-active", 48),
    # vgic_v2_populate_lr writes HW=1 with pending+active ("Never set pending+active on a HW
    # interrupt"; 3d6e77ad1489): after the guest's EOI the LR is still pending, the guest
    # takes vINTID 27 again with CNTV_CTL.ISTATUS clear (timer-condition-false,
    # timer-wrong-guest: consequences).
    "fault-hw-lr-pending-active": Fault("vtimer-migrate", ONESHOT_TIMER,
                                        frozenset({"hw-lr-pending-active", "timer-condition-false",
                                                   "timer-wrong-guest"}),
                                        "hw-lr-pending-active", 27),
    # line_level neither lowered by vgic_v2_populate_lr (e40cc57bac79) nor re-sampled by
    # vgic_irq_handle_resampling after the HW deactivation (3134cc8beb69): re-injected in a
    # HW=1 LR over an inactive physical INTID; the guest runs its handler for nothing
    # (level-storm, a consequence).
    "fault-hw-retained-level": Fault("nic-level", ("duration=3ms",),
                                     frozenset({"hw-lr-phys-inactive", "level-storm"}),
                                     "hw-lr-phys-inactive", 48),
    # kvm_timer_vcpu_load_gic sets PPI 27 Active from the timer output only, ignoring
    # kvm_vgic_map_is_active (before 0e3dfda91d9f): an active HW=1 LR over an inactive PPI.
    "fault-timer-clear-active": Fault("vtimer-migrate", (), frozenset({"hw-lr-phys-inactive"}),
                                      "hw-lr-phys-inactive", 27),
}


def run(scenario: str, design: str, overrides: tuple[str, ...] = ("duration=3ms",), seed: int | None = 1):  # type: ignore[no-untyped-def]
    run_scenario = importlib.import_module("irqfwd.system.run").run_scenario
    cfg = apply_overrides(get_scenario(scenario), list(overrides))
    return run_scenario(cfg, design, seed=seed)


CASES = [
    (scenario, design)
    for scenario in ("nic-level", "nic-edge", "nic-burst", "two-vms-one-pcpu")
    for design in CLEAN
]


@pytest.mark.parametrize(("scenario", "design"), CASES)
def test_clean_designs_report_no_violation(scenario: str, design: str) -> None:
    """Upstream-correct designs keep every invariant on every built-in scenario."""
    result = run(scenario, design)
    assert result.checker.checked > 0
    assert [v.message for v in result.checker.violations] == []
    assert result.recorder.counters["guest_irqs_handled"] > 0


@pytest.mark.parametrize("design", CLEAN)
@pytest.mark.parametrize("overrides", [(), ONESHOT_TIMER], ids=["periodic", "oneshot"])
def test_clean_designs_report_no_violation_on_the_timer_faults_scenarios(
        design: str, overrides: tuple[str, ...]) -> None:
    """The vtimer-migrate runs that catch the timer-side faults are clean under every
    correct design (the P+A state arises there, and the correct vgic writes it A only)."""
    result = run("vtimer-migrate", design, overrides, seed=None)
    assert [v.message for v in result.checker.violations] == []
    assert result.recorder.counters["guest_timer_irqs"] > 0


def test_every_fault_design_has_a_case() -> None:
    """Each fault variant of the design table is tested here (and only those)."""
    assert set(FAULTS) == {name for name, d in DESIGNS.items() if d.fault}


@pytest.mark.parametrize("design", sorted(FAULTS))
def test_fault_design_breaks_exactly_its_rules(design: str) -> None:
    """Each injected bug is caught by the invariant named after the behaviour it breaks, and
    by no rule outside its documented set; its own rule reports first (no later than any
    other)."""
    f = FAULTS[design]
    result = run(f.scenario, design, f.overrides, seed=None)
    rules = set(result.checker.by_rule())
    assert rules == f.rules, f"{design}: expected {sorted(f.rules)}, got {sorted(rules)}"
    first = next(v for v in result.checker.violations if v.rule == f.rule)
    assert first.time_ns == min(v.time_ns for v in result.checker.violations)
    assert first.intid == f.intid and first.message.startswith(f"{f.rule}:")


def test_hw_pending_active_and_retained_level_are_told_apart() -> None:
    """The two halves of the old combined HW fault are caught each by its own rule and never
    by the other's: a pending+active HW=1 LR is written over an *active* physical INTID
    (``hw-lr-pending-active`` only), a retained line level writes a *pending* HW=1 LR over an
    *inactive* one (``hw-lr-phys-inactive`` only), on both the NIC and the timer runs."""
    for scenario, overrides in (("nic-level", ("duration=3ms",)), ("vtimer-migrate", ONESHOT_TIMER)):
        pa = set(run(scenario, "fault-hw-lr-pending-active", overrides, seed=None).checker.by_rule())
        kept = set(run(scenario, "fault-hw-retained-level", overrides, seed=None).checker.by_rule())
        assert "hw-lr-phys-inactive" not in pa, (scenario, pa)
        assert "hw-lr-pending-active" not in kept, (scenario, kept)
        assert "hw-lr-phys-inactive" in kept, (scenario, kept)
    # The NIC never holds a forwarded irq pending while active (the physical Active state
    # blocks a second host interrupt), so only the timer reaches the P+A state.
    assert set(run("nic-level", "fault-hw-lr-pending-active").checker.by_rule()) == set()
