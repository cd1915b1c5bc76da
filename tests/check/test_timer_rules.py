"""Timer invariant rules (sim/invariants_timer.py): each rule fires on the trace that breaks it, not on a clean one."""

from __future__ import annotations

from typing import Any

import irqfwd.check.timer  # noqa: F401  (registers the rules)
from irqfwd.check.invariants import InvariantChecker
from irqfwd.sim.engine import Engine
from irqfwd.sim.metrics import Recorder

TIMER_RULES = ["timer-lost", "timer-condition-false", "timer-stale-active", "timer-wrong-guest"]


def replay(events: list[tuple[int, str, dict[str, Any]]], end: int = 10_000_000, design: str = "forwarded") -> list[str]:
    eng = Engine()
    rec = Recorder(eng)
    chk = InvariantChecker(rec, design, rules=TIMER_RULES, grace_ns=1_000_000)
    for t, name, fields in events:
        eng.now = t
        rec.emit(name, **fields)
    chk.finish(end)
    return [v.rule for v in chk.violations]


def prog(t: int, deadline: int, vm: int = 0, vcpu: int = 0) -> tuple[int, str, dict[str, Any]]:
    return (t, "irqfwd_guest_timer_program", {"vm": vm, "vcpu": vcpu, "cval": deadline // 10, "deadline_ns": deadline})


def raise_(t: int, vm: int = 0, vcpu: int = 0, cpu: int = 0) -> tuple[int, str, dict[str, Any]]:
    return (t, "kvm_timer_update_irq", {"vm": vm, "vcpu": vcpu, "intid": 27, "level": True, "cpu": cpu})


def girq(t: int, vm: int = 0, vcpu: int = 0, istatus: bool = True) -> tuple[int, str, dict[str, Any]]:
    return (t, "irqfwd_guest_timer_irq", {"vm": vm, "vcpu": vcpu, "istatus": istatus, "ctl": 5 if istatus else 1, "cval": 0})


def test_clean_periodic_trace_has_no_violation() -> None:
    """A tick chain program → raise → handler → reprogram breaks no timer rule."""
    ev = [prog(0, 1_000_000), raise_(1_000_000), girq(1_001_000), prog(1_001_500, 2_000_000),
          raise_(2_000_000), girq(2_000_900), prog(2_001_000, 3_000_000)]
    assert replay(ev, end=3_500_000) == []


def test_lost_deadline_is_reported() -> None:
    """timer-lost (vCPU migration, selftests arch_timer.c): an armed deadline never handled is a loss."""
    assert replay([prog(0, 1_000_000)], end=5_000_000) == ["timer-lost"]
    # within the grace window at the end: not yet expected
    assert replay([prog(0, 4_500_000)], end=5_000_000) == []


def test_condition_false_delivery_is_reported() -> None:
    """timer-condition-false (arch_timer_edge_cases: the handler checks ISTATUS)."""
    assert replay([raise_(10), girq(20, istatus=False)]) == ["timer-condition-false"]


def test_stale_active_at_load_is_reported() -> None:
    """timer-stale-active (9b4a3004439d: only "inactive" is cached): a load that needs PPI 27
    inactive must find it inactive."""
    act = (100, "irqfwd_phys_activate", {"intid": 27, "cpu": 1, "source": "iar"})
    load = (200, "irqfwd_kvm_timer_phys_active", {"cpu": 1, "active": False, "cached": True})
    assert replay([act, load]) == ["timer-stale-active"]
    deact = (150, "irqfwd_phys_deactivate", {"intid": 27, "cpu": 1, "source": "hw_lr", "by": "guest"})
    assert replay([act, deact, load]) == []
    other_cpu = (200, "irqfwd_kvm_timer_phys_active", {"cpu": 0, "active": False, "cached": False})
    assert replay([act, other_cpu]) == []


def test_wrong_guest_is_reported() -> None:
    """timer-wrong-guest (``kvm_arch_timer_handler`` ignores a PPI with no loaded vCPU): a
    handler run with no raise for that vCPU, or an ignored PPI injected."""
    assert replay([raise_(10, vm=1), girq(20, vm=0)]) == ["timer-wrong-guest"]
    ignored = (10, "irqfwd_timer_host_irq", {"cpu": 0, "vcpu": None, "vm": None, "condition": False})
    assert replay([ignored, raise_(10, vm=0, cpu=0), girq(30)]) == ["timer-wrong-guest"]
    assert replay([ignored, raise_(10, vm=0, cpu=1), girq(30)]) == []


def test_sw_deactivate_stale_line_redelivery_is_documented() -> None:
    """docs/timer.md "Known spurious deliveries": under sw-deactivate one re-delivery right after the
    guest's own deactivation (no new raise) is accepted; the same trace under forwarded is a violation,
    and a condition-false delivery with no preceding deactivation is one under both."""
    deact = (25, "irqfwd_guest_deactivate", {"vm": 0, "vcpu": 0, "vintid": 27})
    trace = [raise_(10), girq(20), deact, girq(30, istatus=False)]
    assert replay(trace, design="sw-deactivate") == []
    assert sorted(replay(trace, design="forwarded")) == ["timer-condition-false", "timer-wrong-guest"]
    fresh = [raise_(10), girq(20, istatus=False)]
    assert replay(fresh, design="sw-deactivate") == ["timer-condition-false"]
