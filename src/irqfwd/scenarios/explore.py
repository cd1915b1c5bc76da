"""Small scenarios for the ordering explorer (``irqfwd explore``, :mod:`irqfwd.system.explore`).

Each has a bounded number of events (``traffic.count``) and lasts a few tens of µs, so that
every ordering of its racing events can be run; each puts a device interrupt in flight when
the run ends, so that the VM teardown meets a handler in flight.

``explore-2x2``
    2 pCPUs, 1 VM with 2 vCPUs pinned one per pCPU, 2 level NICs (SPI 48 → vCPU 0, SPI 49
    → vCPU 1 with a oneshot threaded guest handler), 2 events each, and the vCPUs migrated
    every 12 µs: a migration against an injection, a device re-assertion against a guest
    EOI, an unmask against a re-assertion, the teardown against a handler in flight.
``explore-edge``
    2 pCPUs, 1 VM with 2 vCPUs, 2 edge NICs on vCPU 0 whose 2 events come 1.5 µs apart (the
    second edge arrives while the first is pending or active) and 2 list registers.
``explore-two-vms``
    1 pCPU shared round-robin (5 µs timeslice) by 2 VMs of 1 vCPU with a level NIC each (both
    vSPI 48), 2 events each: a timeslice end against an injection for the other VM.
``explore-vtimer``
    2 pCPUs, 1 VM with 2 vCPUs on one-shot guest timers (3–9 µs ahead) and no device, the
    vCPUs migrated every 7 µs: a migration (``vcpu_put``/``vcpu_load`` with
    ``kvm_timer_vcpu_load_gic``) against a timer firing, the guest's acknowledge of vINTID 27
    and its CNTV_CTL write (the races of the forwarded vtimer PPI: a HW=1 LR pending+active,
    an active LR over an inactive PPI).
"""

from __future__ import annotations

from irqfwd.config import (
    DeviceConfig,
    ScenarioConfig,
    SchedulerConfig,
    TimerConfig,
    TrafficConfig,
    VMConfig,
)
from irqfwd.scenarios.builtin import register_scenario

__all__ = ["EXPLORE_SCENARIOS"]

EXPLORE_SCENARIOS = ("explore-2x2", "explore-edge", "explore-two-vms", "explore-vtimer")


def _two(start_ns: int, gap_ns: int) -> TrafficConfig:
    """Two periodic events, ``gap_ns`` apart, from ``start_ns``."""
    return TrafficConfig(pattern="periodic", rate_hz=1e9 / gap_ns, start_ns=start_ns, count=2)


register_scenario(
    ScenarioConfig(
        name="explore-2x2",
        description="explorer: 2 pCPUs, 2 pinned vCPUs, 2 level NICs (one threaded) x 2 events, migration every 12 us",
        duration_ns=34_000,
        pcpus=2,
        vms=[VMConfig(name="vm0", vcpus=2, pin=[0, 1])],
        devices=[
            DeviceConfig(name="nic0", vm=0, vcpu=0, host_intid=48, guest_intid=48, traffic=_two(8_000, 24_000)),
            DeviceConfig(name="nic1", vm=0, vcpu=1, host_intid=49, guest_intid=49, threaded=True,
                         traffic=_two(9_000, 24_000)),
        ],
        scheduler=SchedulerConfig(policy="pinned", migrate_every_ns=12_000),
    ),
    replace=True,
)

register_scenario(
    ScenarioConfig(
        name="explore-edge",
        description="explorer: 2 pCPUs, 2 vCPUs, 2 edge NICs x 2 events 1.5 us apart, 2 list registers",
        duration_ns=22_000,
        pcpus=2,
        num_lrs=2,
        vms=[VMConfig(name="vm0", vcpus=2, pin=[0, 1])],
        devices=[
            DeviceConfig(name="nic0", vm=0, vcpu=0, trigger="edge", host_intid=48, guest_intid=48,
                         traffic=_two(8_000, 1_500)),
            DeviceConfig(name="nic1", vm=0, vcpu=0, trigger="edge", host_intid=49, guest_intid=49,
                         traffic=_two(19_000, 1_500)),
        ],
        scheduler=SchedulerConfig(policy="pinned"),
    ),
    replace=True,
)

register_scenario(
    ScenarioConfig(
        name="explore-two-vms",
        description="explorer: 2 VMs of 1 vCPU sharing 1 pCPU round-robin (5 us), a level NIC each x 2 events",
        duration_ns=30_000,
        pcpus=1,
        vms=[VMConfig(name="vm0", vcpus=1), VMConfig(name="vm1", vcpus=1)],
        devices=[
            DeviceConfig(name="nic0", vm=0, host_intid=48, guest_intid=48, traffic=_two(8_000, 20_000)),
            DeviceConfig(name="nic1", vm=1, host_intid=49, guest_intid=48, traffic=_two(9_500, 20_000)),
        ],
        scheduler=SchedulerConfig(policy="round-robin", timeslice_ns=5_000),
    ),
    replace=True,
)

register_scenario(
    ScenarioConfig(
        name="explore-vtimer",
        description="explorer: 2 pCPUs, 2 vCPUs on one-shot guest timers 3-9 us ahead, no device, migration every 7 us",
        duration_ns=40_000,
        pcpus=2,
        vms=[VMConfig(name="vm0", vcpus=2, pin=[0, 1],
                      timer=TimerConfig(enabled=True, mode="oneshot", oneshot_min_ns=3_000, oneshot_max_ns=9_000))],
        devices=[],
        scheduler=SchedulerConfig(policy="pinned", migrate_every_ns=7_000),
    ),
    replace=True,
)
