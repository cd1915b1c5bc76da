"""Fault-injection designs: each makes the invariant checker report the rule it breaks;
the clean designs report nothing (the hazards each fault design mirrors, docs/designs.md)."""

from __future__ import annotations

import importlib

import pytest

from irqfwd.scenarios.builtin import apply_overrides, get_scenario

CLEAN = ("irqfd-resample", "forwarded", "forwarded-direct", "sw-deactivate")

FAULTS = {
    # Level non-HW LR without GICH_LR.EOI: no maintenance interrupt, no resample
    # (``vgic_v2_populate_lr`` sets it for level non-HW irqs; ``kvm_notify_acked_irq``):
    # the GSI stays asserted and the guest is re-interrupted while the NIC is de-asserted.
    "fault-level-no-eoi-bit": "level-storm",
    # VFIO unmask before the guest acknowledged: the still-high level line fires again
    # (``vfio_automasked_irq_handler`` / ``vfio_platform_unmask``).
    "fault-early-unmask": "level-storm",
    # Teardown that does not clear the physical Active state of a forwarded IRQ
    # (``gic_eoimode1_mask_irq``).
    "fault-no-teardown-deactivate": "stale-active",
    # HW=1 LR written Pending+Active (``vgic_v2_populate_lr`` since 3d6e77ad1489,
    # IHI 0048B §5.3.9).
    "fault-hw-lr-pending-active": "hw-lr-pending-active",
}


def run(scenario: str, design: str, seed: int = 1):  # type: ignore[no-untyped-def]
    run_scenario = importlib.import_module("irqfwd.system.run").run_scenario
    cfg = apply_overrides(get_scenario(scenario), ["duration=3ms"])
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


@pytest.mark.parametrize(("design", "rule"), sorted(FAULTS.items()))
def test_fault_design_breaks_its_rule(design: str, rule: str) -> None:
    """Each injected bug is caught by the invariant named after the behaviour it breaks."""
    result = run("nic-level", design)
    rules = {v.rule for v in result.checker.violations}
    assert rule in rules, f"{design}: expected {rule}, got {sorted(rules)}"
    first = next(v for v in result.checker.violations if v.rule == rule)
    assert first.intid == 48 and first.message.startswith(f"{rule}:")
