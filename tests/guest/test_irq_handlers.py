"""The guest kernel's per-vINTID handler registry (Linux ``request_irq`` through the GIC irq
domain: ``gic_handle_irq`` → ``generic_handle_domain_irq`` calls the handler registered
for the acknowledged INTID)."""

from __future__ import annotations

import pytest

from irqfwd.config import ScenarioConfig
from irqfwd.guest.kernel import GuestCpu
from irqfwd.hw.timer import PPI_VTIMER
from irqfwd.scenarios.builtin import apply_overrides, get_scenario
from irqfwd.system.build import build_system
from irqfwd.system.run import run_scenario


def _nic_plus_tick() -> ScenarioConfig:
    return apply_overrides(get_scenario("nic-level"), ["vms.0.timer.enabled=true", "vms.0.timer.hz=1000"])


def test_two_vintids_dispatched_to_their_own_handlers() -> None:
    """A guest with a pass-through NIC (SPI vINTID) and the virtual timer (PPI 27): the NIC's
    vINTID runs the driver handler once per raise and PPI 27 runs the clock event handler
    once per tick; neither handler sees the other's interrupts."""
    cfg = _nic_plus_tick()
    nic_vintid = cfg.devices[0].guest_intid
    r = run_scenario(cfg, "forwarded", tracing=True)
    c = r.recorder.counters
    assert c["device_irqs_raised"] > 150
    assert c["guest_irqs_handled"] == c["device_irqs_raised"]
    handled = {f["vintid"] for _, name, f in r.recorder.trace if name == "irqfwd_guest_irq_handled"}
    assert handled == {nic_vintid}  # the driver handler never runs for vINTID 27
    vt = r.system.vtimer
    assert vt is not None
    (gt,) = vt.guest_timers
    duration_ms = cfg.duration_ns // 1_000_000
    assert duration_ms - 1 <= gt.irqs <= duration_ms + 1  # HZ=1000: one tick per ms
    assert r.checker.by_rule() == {}


def test_registry_maps_each_vintid_to_its_handler() -> None:
    """Drivers register through the same API as the timer: the NIC's vINTID maps to the
    driver flow, PPI 27 to the arch timer's handler."""
    cfg = _nic_plus_tick()
    s = build_system(cfg, "forwarded")
    (k,) = s.guests
    nic_vintid = cfg.devices[0].guest_intid
    assert k.irq_handlers[nic_vintid] is GuestCpu.driver_handler
    assert s.vtimer is not None
    assert k.irq_handlers[PPI_VTIMER] == s.vtimer.guest_drivers[k].handler
    assert set(k.irq_handlers) == {nic_vintid, PPI_VTIMER}


def test_second_registration_and_bad_vintid_rejected() -> None:
    """One handler per vINTID (no IRQF_SHARED: ``request_irq`` returns -EBUSY), and only
    INTIDs 0..1019 exist (IHI 0048B §3.2: 1020..1023 are special)."""
    s = build_system(get_scenario("nic-level"), "forwarded")
    (k,) = s.guests
    vintid = next(iter(k.irq_handlers))
    with pytest.raises(ValueError, match="already has a handler"):
        k.register_irq_handler(vintid, GuestCpu.driver_handler)
    with pytest.raises(ValueError, match="not an interrupt ID"):
        k.register_irq_handler(1023, GuestCpu.driver_handler)
