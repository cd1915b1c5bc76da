"""Scenarios with a hostile guest (:mod:`irqfwd.guest.hostile`): one victim VM beside it.

The hostile VM's behaviour is ``vms.1.hostile`` (``gicd-fuzz`` by default; ``irqfwd run
hostile-dedicated --set vms.1.hostile=sgi-flood``).  Both VMs have a level NIC at 20 kHz
(host SPIs 48 and 49, both vSPI 48); the victim also ticks its virtual timer at HZ=1000.
:func:`irqfwd.system.isolation.run_isolation` measures what the hostile VM does to the
victim and to the host (``docs/verification.md``).

``hostile-dedicated``
    2 pCPUs: the victim's vCPU pinned on pCPU 0 (where the host takes every SPI), the
    hostile VM's 2 vCPUs on pCPU 1.
``hostile-shared``
    1 pCPU shared round-robin (100 µs timeslice) by the victim and a 1-vCPU hostile VM.
"""

from __future__ import annotations

from irqfwd.config import (
    DeviceConfig,
    ScenarioConfig,
    SchedulerConfig,
    TimerConfig,
    VMConfig,
)
from irqfwd.scenarios.builtin import register_scenario

__all__ = ["HOSTILE_SCENARIOS"]

HOSTILE_SCENARIOS = ("hostile-dedicated", "hostile-shared")

_DEVICES = [
    DeviceConfig(name="nic0", vm=0, host_intid=48, guest_intid=48),
    DeviceConfig(name="nic1", vm=1, host_intid=49, guest_intid=48),
]

register_scenario(
    ScenarioConfig(
        name="hostile-dedicated",
        description="a victim VM (pCPU 0) beside a hostile VM (2 vCPUs on pCPU 1), level NICs at 20 kHz",
        duration_ns=2_000_000,
        pcpus=2,
        vms=[VMConfig(name="victim", vcpus=1, pin=[0], timer=TimerConfig(enabled=True, hz=1000)),
             VMConfig(name="hostile", vcpus=2, pin=[1, 1], hostile="gicd-fuzz")],
        devices=_DEVICES,
        scheduler=SchedulerConfig(policy="pinned"),
    ),
    replace=True,
)

register_scenario(
    ScenarioConfig(
        name="hostile-shared",
        description="a victim VM and a hostile VM sharing 1 pCPU round-robin (100 us), level NICs at 20 kHz",
        duration_ns=2_000_000,
        pcpus=1,
        vms=[VMConfig(name="victim", vcpus=1, timer=TimerConfig(enabled=True, hz=1000)),
             VMConfig(name="hostile", vcpus=1, hostile="gicd-fuzz")],
        devices=_DEVICES,
        scheduler=SchedulerConfig(policy="round-robin", timeslice_ns=100_000),
    ),
    replace=True,
)
