"""Hostile guests (issue 13 §3): a guest that abuses its virtual GIC or its timer must not
change the host's or another VM's physical interrupts, must not push their interrupt
latency past a stated bound, and destroying it must leave its forwarded interrupts
inactive and usable (:mod:`irqfwd.guest.hostile`, :mod:`irqfwd.system.isolation`).

Stated bounds (``docs/verification.md``, "Hostile guests"), against the same scenario with
a well-behaved guest in place of the hostile one:

* dedicated pCPUs (``hostile-dedicated``): the victim's device and timer latency at most
  1 µs above the benign run's maximum; the host takes the victim's SPI within 1 µs;
* one shared pCPU (``hostile-shared``, round-robin, 100 µs slices): the victim waits at most
  one slice of the hostile vCPU: at most 100 µs + the benign maximum + 5 µs; the host
  takes the victim's SPI within 2 µs (a physical IRQ exit of the hostile vCPU).
"""

from __future__ import annotations

from functools import cache

import pytest

from irqfwd.guest.hostile import BEHAVIOURS
from irqfwd.scenarios.builtin import apply_overrides, get_scenario
from irqfwd.system.designs import DESIGNS
from irqfwd.system.isolation import IsolationResult, run_isolation

CORRECT = tuple(d for d, x in DESIGNS.items() if not x.fault and x.gic == "v2")  # hostile guests: GICv2
SLICE_NS = 100_000


@cache
def _run(scenario: str, design: str, behaviour: str) -> IsolationResult:
    cfg = apply_overrides(get_scenario(scenario), [f"vms.1.hostile={behaviour}"])
    return run_isolation(cfg, design, hostile_vm=1, seed=1)


def _max(stats: dict[str, dict[str, int]] | dict[str, int] | None, key: str | None = None) -> int:
    if not stats:
        return 0
    s = stats[key] if key is not None else stats
    return int(s["max"])  # type: ignore[index, arg-type]


def _check_isolation(r: IsolationResult) -> None:
    # no physical interrupt of another VM or of the host changed state by the hostile VM's doing
    assert r.foreign_changes == []
    # the victim keeps every invariant (nothing lost, nothing stuck, no stale timer Active)
    assert [v.message for v in r.victim_violations] == []
    # the hostile behaviour really ran (timer-storm mostly storms itself: a timer written
    # into the past fires at once and its handler never masks it)
    if r.behaviour not in ("never-eoi", "eoi-unserviced"):
        assert r.hostile_ops > (20 if r.behaviour == "timer-storm" else 1_000)
    # teardown of the hostile VM alone: its forwarded SPIs inactive, unmasked and usable
    spis = {k: v for k, v in r.teardown.items() if v["intid"] >= 32}
    assert spis, "the hostile VM was not torn down"
    for name, st in spis.items():
        assert not st["active"] and not st["pending"] and not st["vfio_masked"], (name, st)
        assert st["delivered_after_rerequest"] is True, (name, st)


@pytest.mark.parametrize("design", CORRECT)
@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_hostile_guest_on_its_own_pcpu(behaviour: str, design: str) -> None:
    """Victim on pCPU 0 (where the host takes every SPI), hostile VM's 2 vCPUs on pCPU 1."""
    r = _run("hostile-dedicated", design, behaviour)
    base = _run("hostile-dedicated", design, "none")
    _check_isolation(r)
    assert _max(r.victim_latency_ns, "nic0") <= _max(base.victim_latency_ns, "nic0") + 1_000
    assert _max(r.host_latency_ns, "nic0") <= 1_000
    assert _max(r.timer_latency_ns) <= _max(base.timer_latency_ns) + 1_000
    assert r.victim_latency_ns["nic0"]["count"] >= 30  # the victim kept running


@pytest.mark.parametrize("design", ("irqfd-resample", "forwarded", "vmm-irqline"))
@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_hostile_guest_sharing_the_victims_pcpu(behaviour: str, design: str) -> None:
    """Victim and hostile VM round-robin on one pCPU: the victim waits at most one slice."""
    r = _run("hostile-shared", design, behaviour)
    base = _run("hostile-shared", design, "none")
    _check_isolation(r)
    bound = SLICE_NS + _max(base.victim_latency_ns, "nic0") + 5_000
    assert _max(r.victim_latency_ns, "nic0") <= bound
    assert _max(r.host_latency_ns, "nic0") <= 2_000
    assert _max(r.timer_latency_ns) <= SLICE_NS + _max(base.timer_latency_ns) + 5_000


def test_a_benign_guest_gives_the_baseline() -> None:
    """The baseline (``vms.1.hostile=none``: the Linux-like guest) keeps every invariant,
    and the monitor sees no foreign change: the checks can pass."""
    for scenario in ("hostile-dedicated", "hostile-shared"):
        base = _run(scenario, "forwarded", "none")
        assert base.hostile_ops == 0 and base.foreign_changes == []
        assert [v.message for v in base.victim_violations + base.hostile_violations] == []


def test_the_monitor_sees_a_foreign_change() -> None:
    """The monitor is not blind: a hostile step that writes another VM's physical SPI
    (here: a test stand-in for a broken KVM that lets a guest reach GICD_ISACTIVER of the
    host) is reported."""
    from irqfwd.guest import hostile

    orig = hostile._LOOPS["gicd-fuzz"]

    def leaky(self: hostile.HostileCpu) -> int:
        gic = self.vcpu.kvm.m.gic
        gic.write(gic.config.gicd_base + 0x304, 1 << (48 - 32), 4, self._cpu())  # ISACTIVER1: SPI 48
        return orig(self)

    hostile._LOOPS["gicd-fuzz"] = leaky
    try:
        cfg = apply_overrides(get_scenario("hostile-dedicated"), ["vms.1.hostile=gicd-fuzz", "duration=200us"])
        r = run_isolation(cfg, "forwarded", hostile_vm=1, seed=1)
    finally:
        hostile._LOOPS["gicd-fuzz"] = orig
    assert any("active of INTID 48" in c for c in r.foreign_changes), r.foreign_changes[:3]


def test_vms_hostile_none_and_unknown_behaviour() -> None:
    from irqfwd.errors import InputError

    cfg = apply_overrides(get_scenario("hostile-dedicated"), ["vms.1.hostile=none"])
    assert cfg.vms[1].hostile is None
    with pytest.raises(InputError, match=r"vms\.1\.hostile"):
        apply_overrides(get_scenario("hostile-dedicated"), ["vms.1.hostile=psychic"])
