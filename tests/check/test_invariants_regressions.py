"""Regressions of the invariant checker found on whole-system runs (stale-active keyed by
vCPU id only; level-storm on the faithful threaded-handler races)."""

from __future__ import annotations

from typing import Any

from irqfwd.check.invariants import InvariantChecker
from irqfwd.scenarios.builtin import apply_overrides, get_scenario
from irqfwd.sim import Engine
from irqfwd.sim.metrics import Recorder
from irqfwd.system.run import run_scenario

Step = tuple[int, str, dict[str, Any]]


def replay(steps: list[Step], end_ns: int = 1_000_000) -> InvariantChecker:
    eng = Engine()
    rec = Recorder(eng)
    checker = InvariantChecker(rec, "sw-deactivate", grace_ns=100_000)
    for t, name, fields in steps:
        eng.at(t, lambda n=name, f=fields: rec.emit(n, **f))
    eng.run(until=end_ns)
    checker.finish(end_ns)
    return checker


def _served(t: int, vm: int, intid: int, dev: str) -> list[Step]:
    return [
        (t, "irqfwd_device_irq_raise", {"dev": dev, "intid": intid, "trigger": "edge", "seq": 1}),
        (t + 10, "irqfwd_phys_activate", {"intid": intid, "cpu": vm, "source": "iar"}),
        (t + 100, "kvm_entry", {"vm": vm, "vcpu": 0, "cpu": vm}),
        (t + 200, "irqfwd_guest_irq_handled", {"vm": vm, "vcpu": 0, "vintid": 48, "dev": dev, "seq": 1}),
    ]


def test_stale_active_keys_the_vcpu_by_vm() -> None:
    """stale-active (the host's part lands at the fold, ``vgic_v2_fold_lr_state``): VM 0's
    vCPU 0 deactivates vINTID 48 (pINTID 48); before its fold, VM 1's vCPU 0 enters on
    another pCPU.  That entry is not VM 0's, so no violation;
    VM 0's own entry after the fold finds the INTID inactive."""
    steps = _served(1_000, 0, 48, "nicA") + _served(1_000, 1, 49, "nicB") + [
        (2_000, "irqfwd_guest_deactivate", {"vm": 0, "vcpu": 0, "vintid": 48}),
        (2_030, "kvm_entry", {"vm": 1, "vcpu": 0, "cpu": 1}),
        (2_300, "irqfwd_phys_deactivate", {"intid": 48, "cpu": 0, "source": "icactiver", "by": "host"}),
        (2_500, "kvm_entry", {"vm": 0, "vcpu": 0, "cpu": 0}),
        (3_000, "irqfwd_guest_deactivate", {"vm": 1, "vcpu": 0, "vintid": 48}),
        (3_300, "irqfwd_phys_deactivate", {"intid": 49, "cpu": 1, "source": "icactiver", "by": "host"}),
        (3_500, "kvm_entry", {"vm": 1, "vcpu": 0, "cpu": 1}),
    ]
    checker = replay(steps)
    assert [v.rule for v in checker.violations] == []
    # The same stream with VM 0's fold missing is still a stale activation.
    broken = [s for s in steps if not (s[1] == "irqfwd_phys_deactivate" and s[2]["intid"] == 48)]
    assert "stale-active" in {v.rule for v in replay(broken).violations}


def test_stale_active_new_activation_is_another_instance() -> None:
    """sw-deactivate + edge (IHI 0048B §3.2.4: an edge while active is held as
    Active+Pending): the fold deactivates the physical INTID and a new edge
    held pending in the GIC is activated at once, at the same instant as the guest's
    deactivation in the trace.  The new activation is not the one the guest deactivated."""
    steps = [
        *_served(1_000, 0, 48, "nicA"),
        (2_000, "irqfwd_device_irq_raise", {"dev": "nicA", "intid": 48, "trigger": "edge", "seq": 2}),
        (2_100, "irqfwd_guest_deactivate", {"vm": 0, "vcpu": 0, "vintid": 48}),
        (2_100, "irqfwd_phys_deactivate", {"intid": 48, "cpu": 0, "source": "icactiver", "by": "host"}),
        (2_100, "irqfwd_phys_activate", {"intid": 48, "cpu": 0, "source": "iar"}),
        (2_400, "kvm_entry", {"vm": 0, "vcpu": 0, "cpu": 0}),
        (2_500, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nicA", "seq": 2}),
        (2_600, "irqfwd_guest_deactivate", {"vm": 0, "vcpu": 0, "vintid": 48}),
        (2_700, "irqfwd_phys_deactivate", {"intid": 48, "cpu": 0, "source": "icactiver", "by": "host"}),
        (2_800, "kvm_entry", {"vm": 0, "vcpu": 0, "cpu": 0}),
    ]
    assert replay(steps).violations == []


def test_two_vms_edge_sw_deactivate_on_two_pcpus_has_no_stale_active() -> None:
    """The whole-system case that exposed it: two 1-vCPU VMs on two pCPUs, edge NICs at
    200 kHz under sw-deactivate (the fold deactivates with GICD_ICACTIVER): clean."""
    cfg = apply_overrides(get_scenario("two-vms-one-pcpu"),
                          ["rate=200000", "trigger=edge", "pattern=poisson", "duration=3ms", "pcpus=2"])
    for seed in (0, 1):
        r = run_scenario(cfg, "sw-deactivate", seed=seed)
        assert r.checker.checked > 1000
        assert r.checker.by_rule() == {}, seed


def test_level_storm_one_empty_run_per_host_interrupt_is_allowed() -> None:
    """level-storm (c): a host interrupt taken while the device was still asserted, after
    the handler started and before the driver acked, may reach the guest once more (one
    empty run, IRQ_NONE); a second empty run with no new host interrupt is a storm."""
    steps: list[Step] = [
        (1_000, "irqfwd_device_irq_raise", {"dev": "nic0", "intid": 48, "trigger": "level", "seq": 1}),
        (1_100, "irq_handler_entry", {"intid": 48, "cpu": 0}),
        (3_000, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nic0", "seq": 1}),
        (3_200, "irq_handler_entry", {"intid": 48, "cpu": 0}),  # guest EOI, line still high
        (3_500, "irqfwd_device_irq_lower", {"dev": "nic0", "intid": 48}),  # the thread acks
        (5_000, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nic0", "seq": None}),
    ]
    assert replay(steps).violations == []
    storm = [*steps, (6_000, "irqfwd_guest_irq_handled", {"vm": 0, "vcpu": 0, "vintid": 48, "dev": "nic0", "seq": None})]
    checker = replay(storm)
    assert [v.rule for v in checker.violations] == ["level-storm"]
    assert checker.violations[0].time_ns == 6_000
