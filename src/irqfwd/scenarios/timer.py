"""Virtual timer scenarios: the forwarded vtimer PPI context-switched between vCPUs.

Registered in :mod:`irqfwd.scenarios.builtin` (imported through ``PLUGIN_MODULES``; the
shim :mod:`irqfwd.scenarios.vtimer` is the listed name).  No pass-through devices: the
only interrupt source is each vCPU's virtual timer (PPI 27), ticking at ``HZ``.

``vtimer-tick``
    1 pCPU, 1 VM with 1 vCPU, periodic tick at HZ=1000 for 20 ms: the steady state of
    ``linux-forwarding-lineage.md`` §6 (one exit per tick, no EOI exit with ``forwarded``).
``vtimer-shared``
    1 pCPU shared round-robin (300 µs timeslice) by 3 VMs of 1 vCPU, each ticking at
    HZ=1000 for 20 ms (two CPU-bound guests, one idling in WFI): every switch saves one
    vCPU's CNTV_CTL/CVAL and restores the next one's, rebuilding the PPI's physical Active
    state (§6.2, §6.3); a descheduled vCPU's tick is injected at its next load.
``vtimer-migrate``
    2 pCPUs, 3 VMs with 1 vCPU each (two CPU-bound), round-robin with vCPU migration
    every 13 µs (KVM selftests ``arch_timer.c -m``, as a stress: the period divides
    neither the tick nor the timeslice, so some migrations land between the host's
    injection and the guest's EOI): a vCPU leaves with its timer interrupt pending or
    active (counters ``timer_put_pending`` / ``timer_put_active``) and the per-CPU PPI
    state is rebuilt on the new pCPU at load (§13.3).

Each runs under the timer designs of :data:`irqfwd.host.kvm.arch_timer.SCENARIO_DESIGNS`
(``irqfwd run vtimer-shared --design forwarded``).
"""

from __future__ import annotations

import irqfwd.check.timer  # noqa: F401  (registers the timer invariant rules)
from irqfwd.config import ScenarioConfig, SchedulerConfig, TimerConfig, VMConfig
from irqfwd.scenarios.builtin import register_scenario

__all__ = ["TIMER_SCENARIOS"]

TIMER_SCENARIOS = ("vtimer-tick", "vtimer-shared", "vtimer-migrate")


def _vm(name: str, hz: int = 1000, busy: bool = False) -> VMConfig:
    return VMConfig(name=name, vcpus=1, timer=TimerConfig(enabled=True, mode="periodic", hz=hz, guest_busy=busy))


register_scenario(
    ScenarioConfig(
        name="vtimer-tick",
        description="1 pCPU, 1 VM/1 vCPU, virtual timer tick at HZ=1000 (forwarded PPI 27)",
        duration_ns=20_000_000,
        pcpus=1,
        vms=[_vm("vm0")],
        devices=[],
        scheduler=SchedulerConfig(policy="pinned"),
    ),
    replace=True,
)

register_scenario(
    ScenarioConfig(
        name="vtimer-shared",
        description="1 pCPU shared round-robin (300 us) by 3 VMs ticking at HZ=1000: vtimer save/restore on every switch",
        duration_ns=20_000_000,
        pcpus=1,
        vms=[_vm("vm0", busy=True), _vm("vm1", busy=True), _vm("vm2")],
        devices=[],
        scheduler=SchedulerConfig(policy="round-robin", timeslice_ns=300_000),
    ),
    replace=True,
)

register_scenario(
    ScenarioConfig(
        name="vtimer-migrate",
        description="2 pCPUs, 3 VMs ticking at HZ=1000, vCPUs migrated every 13 us (selftests arch_timer.c -m stress)",
        duration_ns=20_000_000,
        pcpus=2,
        vms=[_vm("vm0", busy=True), _vm("vm1", busy=True), _vm("vm2")],
        devices=[],
        scheduler=SchedulerConfig(policy="round-robin", timeslice_ns=500_000, migrate_every_ns=13_000),
    ),
    replace=True,
)
