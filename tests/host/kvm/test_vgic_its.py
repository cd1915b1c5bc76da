"""KVM's emulated ITS (arch/arm64/kvm/vgic/vgic-its.c) with GICv4 vLPIs: each test names
the Linux function it checks."""

from __future__ import annotations

import pytest

from irqfwd.host.irqchip.arm_gic_v3 import GITS_CMD_DISCARD, GITS_CMD_MAPD
from irqfwd.host.kvm.vgic_its import VgicIts
from irqfwd.scenarios.builtin import get_scenario
from irqfwd.system.build import System, build_system


def _forwarded() -> tuple[System, VgicIts, int]:
    """msix-nic under gicv4-direct once the guest's ITS driver has mapped the NIC's vectors
    and VFIO's irqbypass has turned them into vLPIs (``kvm_vgic_v4_set_forwarding``)."""
    s = build_system(get_scenario("msix-nic"), "gicv4-direct")
    s.machine.run(2_000_000)
    its = s.vms[0].vgic_its
    assert isinstance(its, VgicIts) and len(its.devices) == 1
    devid = next(iter(its.devices))
    ites = its.devices[devid].ites
    assert ites and all(ite.irq.hw for ite in ites.values())
    return s, its, devid


@pytest.mark.parametrize("command", ["MAPD V=0", "DISCARD"])
def test_freeing_an_ite_unmaps_its_vlpi(command: str) -> None:
    """``its_free_ite``: an ITE freed by DISCARD (``vgic_its_cmd_handle_discard``) or by a
    MAPD of its device (``vgic_its_cmd_handle_mapd`` → ``vgic_its_free_device``, which
    frees every ITE of the device) sends a forwarded LPI back to the host
    (``its_unmap_vlpi``): ``irq->hw`` cleared, the host irq no longer forwarded to a vCPU;
    the device's other vLPIs stay (DISCARD)."""
    s, its, devid = _forwarded()
    genirq = s.host.genirq
    ites = dict(its.devices[devid].ites)
    if command == "DISCARD":
        freed = {0: ites[0]}
        its.vgic_its_handle_command(devid << 32 | GITS_CMD_DISCARD, 0, 0, 0)
    else:
        freed = ites
        its.vgic_its_handle_command(devid << 32 | GITS_CMD_MAPD, 0, 0, 0)
        assert devid not in its.devices
    for event, ite in ites.items():
        forwarded = event not in freed
        assert ite.irq.hw is forwarded
        assert genirq.irq_get_irq_data(ite.irq.host_irq).irqd_is_forwarded_to_vcpu() is forwarded
