"""The online invariant checker: each rule fires on a synthetic event stream that breaks it
and stays silent on a clean one (the rules of :mod:`irqfwd.check.invariants`; each test names
the Linux function, commit or IHI 0048B section behind its rule)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from irqfwd.check.invariants import InvariantChecker, Rule, register_rule, registered_rules
from irqfwd.sim import Engine
from irqfwd.sim.metrics import Recorder

Step = tuple[int, str, dict[str, Any]]

LR_HW = 1 << 31


def lr(state: int, vintid: int, pintid: int = 0, hw: bool = False) -> int:
    """GICH_LRn value (IHI 0048B §5.3.9): HW[31], State[29:28], PhysicalID[19:10], VirtualID[9:0]."""
    return (LR_HW if hw else 0) | (state << 28) | (pintid << 10) | vintid


def replay(steps: list[Step], end_ns: int = 10_000_000, design: str = "forwarded", grace_ns: int = 1_000_000) -> InvariantChecker:
    """Emit ``steps`` at their times through a Recorder watched by a checker, then finish."""
    eng = Engine()
    rec = Recorder(eng)
    checker = InvariantChecker(rec, design, grace_ns=grace_ns)
    for t, name, fields in steps:
        eng.at(t, lambda n=name, f=fields: rec.emit(n, **f))
    eng.run(until=end_ns)
    checker.finish(end_ns)
    return checker


def forwarded_level_irq(t: int, seq: int, intid: int = 48) -> list[Step]:
    """One clean forwarded level interrupt: raise, host entry, HW LR, guest handles + deactivates."""
    return [
        (t, "irqfwd_device_irq_raise", {"dev": "nic0", "intid": intid, "trigger": "level", "seq": seq}),
        (t + 100, "irqfwd_phys_activate", {"intid": intid, "cpu": 0, "source": "iar"}),
        (t + 110, "irq_handler_entry", {"intid": intid, "cpu": 0}),
        (t + 150, "irq_handler_exit", {"intid": intid, "cpu": 0, "ret": "handled"}),
        (t + 200, "kvm_exit", {"vcpu": 0, "reason": "IRQ"}),
        (t + 300, "gic_lr_entry", {"cpu": 0, "lr": 0, "value": lr(1, 48, intid, hw=True)}),
        (t + 400, "kvm_entry", {"vcpu": 0}),
        (t + 500, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nic0", "seq": seq}),
        (t + 600, "irqfwd_device_irq_lower", {"dev": "nic0", "intid": intid}),
        (t + 700, "irqfwd_guest_deactivate", {"vm": 0, "vcpu": 0, "vintid": 48}),
        (t + 700, "irqfwd_phys_deactivate", {"intid": intid, "cpu": 0, "source": "hw_lr", "by": "guest"}),
    ]


def resample_level_irq(t: int, seq: int, intid: int = 48) -> list[Step]:
    """One clean irqfd-resample level interrupt: VFIO mask, host DIR, EOI MI, resample, unmask."""
    return [
        (t, "irqfwd_device_irq_raise", {"dev": "nic0", "intid": intid, "trigger": "level", "seq": seq}),
        (t + 100, "irqfwd_phys_activate", {"intid": intid, "cpu": 0, "source": "iar"}),
        (t + 110, "irq_handler_entry", {"intid": intid, "cpu": 0}),
        (t + 150, "irqfwd_vfio_mask", {"intid": intid}),
        (t + 155, "irq_handler_exit", {"intid": intid, "cpu": 0, "ret": "handled"}),
        (t + 160, "irqfwd_phys_deactivate", {"intid": intid, "cpu": 0, "source": "dir", "by": "host"}),
        (t + 300, "gic_lr_entry", {"cpu": 0, "lr": 0, "value": lr(1, 48) | (1 << 19)}),
        (t + 500, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nic0", "seq": seq}),
        (t + 600, "irqfwd_device_irq_lower", {"dev": "nic0", "intid": intid}),
        (t + 700, "irqfwd_guest_deactivate", {"vm": 0, "vcpu": 0, "vintid": 48}),
        (t + 800, "irqfwd_vgic_maintenance", {"cpu": 0, "misr": 1}),
        (t + 900, "irqfwd_vfio_unmask", {"intid": intid}),
        (t + 1000, "kvm_entry", {"vcpu": 0}),
    ]


def clean_stream(factory: Callable[[int, int], list[Step]]) -> list[Step]:
    steps: list[Step] = []
    for k in range(20):
        steps += factory(10_000 + k * 50_000, k + 1)
    return steps


def rules_fired(checker: InvariantChecker) -> set[str]:
    return {v.rule for v in checker.violations}


def test_registry_lists_every_builtin_rule() -> None:
    """The eight delivery invariants are registered under their names."""
    assert {
        "lost-interrupt",
        "edge-exactly-once",
        "deactivate-exactly-once",
        "hw-lr-pending-active",
        "hw-lr-phys-inactive",
        "stale-active",
        "vfio-masked-at-end",
        "level-storm",
    } <= set(registered_rules())


@pytest.mark.parametrize("factory", [forwarded_level_irq, resample_level_irq])
def test_clean_streams_are_silent(factory: Callable[[int, int], list[Step]]) -> None:
    """A well-formed forwarded or resampled interrupt stream violates nothing, yet is checked."""
    checker = replay(clean_stream(factory))
    assert checker.violations == []
    assert checker.checked > 40


def test_lost_interrupt_fires_and_respects_grace_window() -> None:
    """A raise never handled is lost, unless it came within the grace window before the end."""
    steps = clean_stream(forwarded_level_irq)
    steps.append((5_000_000, "irqfwd_device_irq_raise", {"dev": "nic0", "intid": 48, "trigger": "level", "seq": 21}))
    checker = replay(steps)
    assert rules_fired(checker) == {"lost-interrupt"}
    v = checker.violations[0]
    assert v.intid == 48 and v.message.startswith("lost-interrupt:") and "seq 21" in v.message
    late = clean_stream(forwarded_level_irq)
    late.append((9_500_000, "irqfwd_device_irq_raise", {"dev": "nic0", "intid": 48, "trigger": "level", "seq": 21}))
    assert "lost-interrupt" not in rules_fired(replay(late))


def test_one_handler_covers_several_raises() -> None:
    """A handler reporting its oldest unserved raise serves all raises so far (Nic.handler_entry)."""
    steps: list[Step] = [
        (1_000, "irqfwd_device_irq_raise", {"dev": "nic0", "intid": 48, "trigger": "edge", "seq": 1}),
        (1_200, "irqfwd_device_irq_raise", {"dev": "nic0", "intid": 48, "trigger": "edge", "seq": 2}),
        (3_000, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nic0", "seq": 1}),
    ]
    assert replay(steps).violations == []


def test_edge_handled_twice_fires_edge_exactly_once() -> None:
    """An edge raise delivered to the guest handler twice is a duplicate (IHI 0048B §3.2.4:
    a second edge while active only makes it Active+Pending)."""
    steps: list[Step] = [
        (1_000, "irqfwd_device_irq_raise", {"dev": "nic0", "intid": 48, "trigger": "edge", "seq": 1}),
        (3_000, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nic0", "seq": 1}),
        (9_000, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nic0", "seq": None}),
    ]
    checker = replay(steps)
    assert rules_fired(checker) == {"edge-exactly-once"}
    assert checker.violations[0].time_ns == 9_000


def test_edge_held_pending_while_active_is_not_a_duplicate() -> None:
    """a second edge while the irq is active is delivered after deactivation, even if
    the driver already drained its work: two raises, two deliveries, no violation."""
    steps: list[Step] = [
        (1_000, "irqfwd_device_irq_raise", {"dev": "nic0", "intid": 48, "trigger": "edge", "seq": 1}),
        (2_000, "irqfwd_device_irq_raise", {"dev": "nic0", "intid": 48, "trigger": "edge", "seq": 2}),
        (3_000, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nic0", "seq": 2}),
        (6_000, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nic0", "seq": None}),
    ]
    assert replay(steps).violations == []


def test_level_handled_twice_is_not_an_edge_violation() -> None:
    """A spurious second handler run on a level line is not covered by edge-exactly-once."""
    steps: list[Step] = [
        (1_000, "irqfwd_device_irq_raise", {"dev": "nic0", "intid": 48, "trigger": "level", "seq": 1}),
        (3_000, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nic0", "seq": 1}),
        (9_000, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nic0", "seq": None}),
    ]
    assert "edge-exactly-once" not in rules_fired(replay(steps))


def test_double_deactivation_fires() -> None:
    """Guest (HW LR) and host both deactivating one activation breaks exactly-once
    (``gic_eoimode1_eoi_irq`` skips DIR for forwarded irqs)."""
    steps = forwarded_level_irq(10_000, 1)
    steps.append((10_800, "irqfwd_phys_deactivate", {"intid": 48, "cpu": 0, "source": "dir", "by": "host"}))
    checker = replay(steps)
    assert rules_fired(checker) == {"deactivate-exactly-once"}
    assert "double deactivation" in checker.violations[0].message


def test_never_deactivated_fires_deactivate_and_stale_active() -> None:
    """An activation nobody deactivates is reported at the end by both end-of-run rules."""
    steps = [s for s in forwarded_level_irq(10_000, 1) if s[1] != "irqfwd_phys_deactivate"]
    checker = replay(steps)
    assert {"deactivate-exactly-once", "stale-active"} <= rules_fired(checker)


def test_hw_lr_pending_active_fires_only_for_hw() -> None:
    """HW=1 with State=pending+active is forbidden; HW=0 pending+active is legal
    (IHI 0048B §5.3.9; ``vgic_v2_populate_lr`` since 3d6e77ad1489)."""
    act = (500, "irqfwd_phys_activate", {"intid": 48, "cpu": 0, "source": "iar"})
    deact = (1_500, "irqfwd_phys_deactivate", {"intid": 48, "cpu": 0, "source": "hw_lr", "by": "guest"})
    bad = replay([act, (1_000, "gic_lr_entry", {"cpu": 0, "lr": 2, "value": lr(3, 48, 48, hw=True)}), deact])
    assert rules_fired(bad) == {"hw-lr-pending-active"}
    assert bad.violations[0].intid == 48 and "GICH_LR2" in bad.violations[0].message
    ok = replay([(1_000, "gic_lr_entry", {"cpu": 0, "lr": 2, "value": lr(3, 48)})])
    assert ok.violations == []


def test_hw_lr_pending_active_over_an_active_intid_is_not_phys_inactive() -> None:
    """The fault-hw-lr-pending-active stream (``vgic_v2_populate_lr`` without its "Never set
    pending+active on a HW interrupt" guard, 3d6e77ad1489): the P+A LR is written while the
    physical INTID is active (the host acknowledged it and left it active), so only
    ``hw-lr-pending-active`` fires, not ``hw-lr-phys-inactive``."""
    steps = forwarded_level_irq(10_000, 1)
    steps.append((10_450, "gic_lr_entry", {"cpu": 0, "lr": 0, "value": lr(3, 48, 48, hw=True)}))
    checker = replay(sorted(steps, key=lambda s: s[0]))
    assert rules_fired(checker) == {"hw-lr-pending-active"}


def retained_level_stream() -> list[Step]:
    """One forwarded level interrupt, then the vgic writes the vINTID into an LR again (HW=1,
    pending) after the guest deactivated it through the HW bit, with the device de-asserted
    and no new physical activation: the stale ``line_level`` of fault-hw-retained-level."""
    steps = forwarded_level_irq(10_000, 1)
    steps += [
        (11_000, "kvm_exit", {"vcpu": 0, "reason": "WFx"}),
        (11_100, "gic_lr_entry", {"cpu": 0, "lr": 0, "value": lr(1, 48, 48, hw=True)}),
        (11_200, "kvm_entry", {"vcpu": 0}),
    ]
    return steps


def test_hw_lr_phys_inactive_fires_on_a_retained_level() -> None:
    """A valid HW=1 LR over an inactive physical INTID (the rule of 0e3dfda91d9f and "Support
    VGIC dist pend/active changes for mapped IRQs"): the re-injection of a retained
    ``line_level`` (3134cc8beb69, ``vgic_irq_handle_resampling``) is caught by
    ``hw-lr-phys-inactive`` alone, not by ``hw-lr-pending-active``."""
    checker = replay(retained_level_stream())
    assert rules_fired(checker) == {"hw-lr-phys-inactive"}
    v = checker.violations[0]
    assert v.time_ns == 11_100 and v.intid == 48 and "State=pending" in v.message
    # The same LR after the host took the line again (a new activation) is legal.
    again = retained_level_stream()
    again.insert(-2, (11_050, "irqfwd_phys_activate", {"intid": 48, "cpu": 0, "source": "iar"}))
    again.append((11_300, "irqfwd_phys_deactivate", {"intid": 48, "cpu": 0, "source": "hw_lr", "by": "guest"}))
    assert replay(again).violations == []


def test_hw_lr_phys_inactive_uses_the_banked_ppi_of_the_lr_cpu() -> None:
    """PPIs are banked: an active HW=1 LR for pINTID 27 written on CPU 1 needs CPU 1's PPI 27
    active, CPU 0's does not count (``kvm_timer_vcpu_load_gic`` rebuilds it on the new pCPU;
    before 0e3dfda91d9f it could leave it inactive under an active LR)."""
    act0 = (1_000, "irqfwd_phys_activate", {"intid": 27, "cpu": 0, "source": "iar"})
    lr1 = (2_000, "gic_lr_entry", {"cpu": 1, "lr": 0, "value": lr(2, 27, 27, hw=True)})
    checker = replay([act0, lr1])
    assert rules_fired(checker) == {"hw-lr-phys-inactive"}
    assert "State=active" in checker.violations[0].message
    act1 = (1_500, "irqfwd_phys_activate", {"intid": 27, "cpu": 1, "source": "irqchip_state"})
    assert replay([act0, act1, lr1]).violations == []
    # HW=0 LRs carry their own state: never checked.
    assert replay([(2_000, "gic_lr_entry", {"cpu": 1, "lr": 0, "value": lr(1, 27)})]).violations == []


def test_stale_active_after_guest_deactivation() -> None:
    """Physical INTID still active at the vCPU's next entry after the guest deactivated it."""
    steps = [s for s in forwarded_level_irq(10_000, 1) if s[1] != "irqfwd_phys_deactivate"]
    steps.append((11_000, "kvm_entry", {"vcpu": 0}))
    steps.append((12_000, "irqfwd_phys_deactivate", {"intid": 48, "cpu": 0, "source": "icactiver", "by": "host"}))
    checker = replay(steps)
    assert rules_fired(checker) == {"stale-active"}
    assert checker.violations[0].time_ns == 11_000


def test_no_stale_active_for_a_new_interrupt_the_host_is_handling() -> None:
    """Not forwarded (irqfd-resample, edge): the guest deactivates vINTID 48 of the previous
    injection while the host, on another pCPU, is inside its handler of the next edge (a new
    physical activation the host deactivates itself after irq_handler_exit): the physical
    INTID is active at the vCPU's next entry, and that is not stale (found by the stateful
    whole-stack test)."""
    steps: list[Step] = [
        (1_000, "irqfwd_phys_activate", {"intid": 48, "cpu": 0, "source": "iar"}),
        (1_010, "irq_handler_entry", {"intid": 48, "cpu": 0}),
        (1_020, "irqfwd_guest_deactivate", {"vm": 0, "vcpu": 1, "vintid": 48}),
        (1_030, "kvm_entry", {"vcpu": 1}),
        (1_500, "irq_handler_exit", {"intid": 48, "cpu": 0, "ret": "handled"}),
        (1_500, "irqfwd_phys_deactivate", {"intid": 48, "cpu": 0, "source": "dir", "by": "host"}),
    ]
    assert "stale-active" not in rules_fired(replay(steps))
    # the same deactivation after the host's handler returned (forwarded: Active is the guest's)
    late = [steps[0], steps[1], (1_015, "irq_handler_exit", {"intid": 48, "cpu": 0, "ret": "handled"}),
            steps[2], steps[3]]
    assert "stale-active" in rules_fired(replay(late))


def test_vfio_masked_at_end_fires() -> None:
    """A VFIO automask never undone leaves the line masked (vfio_platform_irq.c)."""
    steps = [s for s in resample_level_irq(10_000, 1) if s[1] != "irqfwd_vfio_unmask"]
    checker = replay(steps)
    assert rules_fired(checker) == {"vfio-masked-at-end"}


def test_level_storm_when_deasserted_and_on_early_refire() -> None:
    """A level line firing while de-asserted, or again after an early VFIO unmask, is a storm."""
    steps = clean_stream(resample_level_irq)
    steps.append((5_000_000, "irq_handler_entry", {"intid": 48, "cpu": 0}))
    assert rules_fired(replay(steps)) == {"level-storm"}
    early: list[Step] = [
        (1_000, "irqfwd_device_irq_raise", {"dev": "nic0", "intid": 48, "trigger": "level", "seq": 1}),
        (1_100, "irq_handler_entry", {"intid": 48, "cpu": 0}),
        (1_150, "irqfwd_vfio_mask", {"intid": 48}),
        (1_500, "irqfwd_vfio_unmask", {"intid": 48}),
        (1_900, "irq_handler_entry", {"intid": 48, "cpu": 0}),
        (3_000, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nic0", "seq": 1}),
    ]
    checker = replay(early)
    assert rules_fired(checker) == {"level-storm"}
    assert checker.violations[0].time_ns == 1_900


def test_lazy_disable_second_fire_is_not_a_storm() -> None:
    """disable_irq_nosync is lazy: the line fires once more while disabled, then the flow
    handler masks it (kernel/irq/chip.c handle_fasteoi_irq); that is not a storm."""
    lazy: list[Step] = [
        (1_000, "irqfwd_device_irq_raise", {"dev": "nic0", "intid": 48, "trigger": "level", "seq": 1}),
        (1_100, "irq_handler_entry", {"intid": 48, "cpu": 0}),
        (1_150, "irqfwd_vfio_mask", {"intid": 48}),
        (1_400, "irq_handler_entry", {"intid": 48, "cpu": 0}),
        (3_000, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nic0", "seq": 1}),
        (3_100, "irqfwd_device_irq_lower", {"dev": "nic0", "intid": 48}),
        (4_000, "irqfwd_vfio_unmask", {"intid": 48}),
    ]
    assert replay(lazy).violations == []


def test_virtual_level_refire_while_deasserted_is_a_storm() -> None:
    """No EOI bit → no resample: the guest handler runs again with nothing raised while the
    device is de-asserted (``vgic_v2_populate_lr`` sets GICH_LR.EOI on level non-HW irqs so
    that ``kvm_notify_acked_irq`` resamples); flagged as level-storm at the guest's handler
    entry."""
    steps: list[Step] = [
        (1_000, "irqfwd_device_irq_raise", {"dev": "nic0", "intid": 48, "trigger": "level", "seq": 1}),
        (3_000, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nic0", "seq": 1}),
        (3_100, "irqfwd_device_irq_lower", {"dev": "nic0", "intid": 48}),
        (4_000, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nic0", "seq": None}),
    ]
    checker = replay(steps)
    assert rules_fired(checker) == {"level-storm"}
    assert checker.violations[0].time_ns == 4_000


def test_active_at_teardown_is_stale_even_inside_grace_window() -> None:
    """A physical INTID left active when the VM is torn down is never deactivated (only the
    host's ``gic_eoimode1_mask_irq`` could): reported even though the activation is within
    the grace window before the end."""
    steps = [s for s in forwarded_level_irq(9_990_000, 1) if s[1] not in ("irqfwd_phys_deactivate", "irqfwd_guest_deactivate")]
    steps.append((9_995_000, "irqfwd_vm_teardown", {"vm": 0}))
    checker = replay(steps)
    assert {"stale-active", "deactivate-exactly-once"} <= rules_fired(checker)
    no_teardown = [s for s in steps if s[1] != "irqfwd_vm_teardown"]
    assert replay(no_teardown).violations == []


def test_rule_registered_from_another_module_runs() -> None:
    """register_rule() adds a rule every new checker subscribes; it can report violations."""

    class NoHvc(Rule):
        name = "test-no-hvc-exit"

        def handlers(self) -> dict[str, Callable[[int, dict[str, Any]], None]]:
            return {"kvm_exit": self._on_exit}

        def _on_exit(self, time: int, f: dict[str, Any]) -> None:
            self.check()
            if f["reason"] == "HVC":
                self.violation(time, 0, "unexpected HVC exit")

    register_rule(NoHvc)
    try:
        eng = Engine()
        rec = Recorder(eng)
        checker = InvariantChecker(rec, "forwarded", rules=["test-no-hvc-exit"])
        rec.emit("kvm_exit", vcpu=0, reason="HVC")
        assert [v.rule for v in checker.violations] == ["test-no-hvc-exit"]
        assert checker.checked == 1
        with pytest.raises(ValueError, match="already registered"):

            class Dup(Rule):
                name = "test-no-hvc-exit"

            register_rule(Dup)
    finally:
        from irqfwd.check import invariants

        invariants._RULES.remove(NoHvc)
