"""GICv3/v4 scenarios: MSI-X devices through the emulated ITS or as GICv4 vLPIs, and guest
IPIs as emulated SGIs or GICv4.1 vSGIs.

Registered through :data:`irqfwd.scenarios.builtin.PLUGIN_MODULES`.  Each names the GIC it
needs (``gic``) and the designs ``irqfwd compare`` runs on it (``designs``); the GICv2-era
scenarios run on a GICv3 with ``--gic v3``.

``msix-nic``
    GICv4, 2 pCPUs (isolated: no host tick, ``nohz_full``), 1 VM with 2 pinned vCPUs, a
    4-queue MSI-X NIC (queues 0 and 2 on vCPU 0, 1 and 3 on vCPU 1), 10 kHz per queue:
    ``its-emulated`` (irqfd → vITS, one exit per MSI: the vCPU's WFI) against
    ``gicv4-direct`` (vLPIs, no exit while the vPE is resident: WFI is not trapped for a
    vCPU alone on its pCPU with vLPIs, ``vcpu_clear_wfx_traps``).
``msix-blocked``
    GICv4, 1 pCPU, 1 vCPU, a 1-queue MSI-X NIC at 20 kHz with ``kvm-arm.wfi_trap_policy=trap``:
    the idle vCPU blocks in WFI, its vPE non-resident with the doorbell enabled; each MSI
    that finds it blocked rings the doorbell once (``vgic_v4_doorbell_handler``).
``msix-migrate``
    GICv4, 2 pCPUs, 1 vCPU migrating every 97 µs, a 2-queue MSI-X NIC with Poisson traffic
    at 50 kHz per queue: the vPE follows its vCPU (VMOVP at ``vgic_v4_load``) and no vLPI
    is lost on the way (the ``lost-interrupt`` invariant).
``ipi-vsgi``
    GICv4.1, 2 pCPUs, 1 VM with 2 pinned vCPUs, vCPU 0 sending IPIs (SGI 1) to vCPU 1 at
    20 kHz: ``gicv4-direct`` (SGIs emulated: the trapped ICC_SGI1R_EL1 queues the SGI in an
    LR and wakes the receiver) against ``gicv41-vsgi`` (GICD_CTLR.nASSGIreq: the SGI is a vSGI
    of the receiver's resident vPE, no exit on the receiver).
"""

from __future__ import annotations

from irqfwd.config import (
    DeviceConfig,
    HostConfig,
    ScenarioConfig,
    SchedulerConfig,
    TrafficConfig,
    VMConfig,
)
from irqfwd.scenarios.builtin import register_scenario

__all__ = ["GICV3_SCENARIOS"]

GICV3_SCENARIOS = ("msix-nic", "msix-blocked", "msix-migrate", "ipi-vsgi")

_MSI_DESIGNS = ["its-emulated", "gicv4-direct"]

register_scenario(ScenarioConfig(
    name="msix-nic",
    description="GICv4: 4-queue MSI-X NIC on 2 vCPUs (10 kHz per queue), isolated pCPUs",
    gic="v4", designs=_MSI_DESIGNS, pcpus=2,
    vms=[VMConfig(vcpus=2, pin=[0, 1])],
    host=HostConfig(hz=0),
    devices=[DeviceConfig(name="mq0", kind="msix-nic", queues=4, queue_vcpus=[0, 1, 0, 1],
                          traffic=TrafficConfig(rate_hz=10_000))],
), replace=True)

register_scenario(ScenarioConfig(
    name="msix-blocked",
    description="GICv4: 1-queue MSI-X NIC at 20 kHz, WFI always trapped: doorbells wake the vCPU",
    gic="v4", designs=_MSI_DESIGNS, pcpus=1,
    vms=[VMConfig(vcpus=1)],
    host=HostConfig(hz=0, wfi_trap_policy="trap"),
    devices=[DeviceConfig(name="mq0", kind="msix-nic", queues=1, traffic=TrafficConfig(rate_hz=20_000))],
), replace=True)

register_scenario(ScenarioConfig(
    name="msix-migrate",
    description="GICv4: 2-queue MSI-X NIC (Poisson, 50 kHz per queue), 1 vCPU migrating every 97 µs",
    gic="v4", designs=_MSI_DESIGNS, pcpus=2,
    vms=[VMConfig(vcpus=1)],
    scheduler=SchedulerConfig(migrate_every_ns=97_000),
    devices=[DeviceConfig(name="mq0", kind="msix-nic", queues=2,
                          traffic=TrafficConfig(pattern="poisson", rate_hz=50_000))],
), replace=True)

register_scenario(ScenarioConfig(
    name="ipi-vsgi",
    description="GICv4.1: vCPU 0 sends IPIs to vCPU 1 at 20 kHz (emulated SGI vs direct vSGI)",
    gic="v4.1", designs=["gicv4-direct", "gicv41-vsgi"], pcpus=2,
    vms=[VMConfig(vcpus=2, pin=[0, 1])],
    host=HostConfig(hz=0),
    devices=[DeviceConfig(name="ipi0", kind="ipi", vcpu=1, traffic=TrafficConfig(rate_hz=20_000))],
), replace=True)
