"""KVM's emulated ITS (arch/arm64/kvm/vgic/vgic-its.c) with GICv4 vLPIs: each test names
the Linux function it checks."""

from __future__ import annotations

import pytest

from irqfwd.host.irqchip.arm_gic_v3 import GITS_CMD_DISCARD, GITS_CMD_MAPD
from irqfwd.host.kvm.vgic_its import VgicIts
from irqfwd.scenarios.builtin import apply_overrides, get_scenario
from irqfwd.system.build import System, build_system


def _forwarded(kernel: str = "current") -> tuple[System, VgicIts, int]:
    """msix-nic under gicv4-direct once the guest's ITS driver has mapped the NIC's vectors
    and VFIO's irqbypass has turned them into vLPIs (``kvm_vgic_v4_set_forwarding``)."""
    s = build_system(apply_overrides(get_scenario("msix-nic"), [f"host.kernel={kernel}"]),
                     "gicv4-direct")
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


def _vlpi_counts(s: System) -> list[int]:
    return [vcpu.vgic_cpu.vgic_v3.its_vpe.vlpi_count for vcpu in s.vms[0].vcpus]


@pytest.mark.parametrize("command", ["MAPD V=0", "DISCARD"])
def test_vlpi_count_is_kvms_and_freeing_an_ite_keeps_it(command: str) -> None:
    """``its_vpe.vlpi_count`` is KVM's: ``kvm_vgic_v4_set_forwarding`` increments it and
    ``kvm_vgic_v4_unset_forwarding`` decrements it, the ITS driver's ``its_vlpi_map`` /
    ``its_vlpi_unmap`` never touch it.  ``its_free_ite`` (DISCARD, MAPD of the device)
    unmaps the vLPI without decrementing, so the count stays, and with it the vCPU's
    cleared WFI trap (``kvm_vcpu_should_clear_twi`` / ``vcpu_clear_wfx_traps``); a later
    unset finds no forwarded LPI and changes nothing."""
    from irqfwd.host.kvm.vgic_its import KvmMsi
    from irqfwd.host.kvm.vgic_v4 import kvm_vgic_v4_unset_forwarding

    s, its, devid = _forwarded()
    kvm = s.vms[0]
    assert _vlpi_counts(s) == [2, 2]  # events 0 and 2 on vCPU 0, 1 and 3 on vCPU 1
    ites = dict(its.devices[devid].ites)
    if command == "DISCARD":
        its.vgic_its_handle_command(devid << 32 | GITS_CMD_DISCARD, 0, 0, 0)
    else:
        its.vgic_its_handle_command(devid << 32 | GITS_CMD_MAPD, 0, 0, 0)
    assert not ites[0].irq.hw
    assert _vlpi_counts(s) == [2, 2]
    assert kvm.vgic.ops.has_direct_irqs(kvm.vcpus[0])
    kvm_vgic_v4_unset_forwarding(kvm, ites[0].irq.host_irq, KvmMsi(its.doorbell, 0, devid))
    assert _vlpi_counts(s) == [2, 2]


def test_unset_forwarding_decrements_vlpi_count() -> None:
    """``kvm_vgic_v4_unset_forwarding``: the vLPI goes back to the host and its target's
    ``vlpi_count`` drops."""
    from irqfwd.host.kvm.vgic_its import KvmMsi
    from irqfwd.host.kvm.vgic_v4 import kvm_vgic_v4_unset_forwarding

    s, its, devid = _forwarded()
    irq = its.devices[devid].ites[1].irq
    kvm_vgic_v4_unset_forwarding(s.vms[0], irq.host_irq, KvmMsi(its.doorbell, 1, devid))
    assert not irq.hw
    assert _vlpi_counts(s) == [2, 1]


def test_movi_moves_the_vlpi_count_to_the_new_vpe() -> None:
    """``update_affinity`` (MOVI → ``vgic_its_cmd_handle_movi``): ``its_get_vlpi``, the old
    vPE's ``vlpi_count`` decremented, the new one's incremented, then ``its_map_vlpi`` to
    the new vPE (VMOVI)."""
    from irqfwd.host.irqchip.arm_gic_v3 import GITS_CMD_MOVI

    s, its, devid = _forwarded()
    irq = its.devices[devid].ites[0].irq
    vpe1 = s.vms[0].vcpus[1].vgic_cpu.vgic_v3.its_vpe
    its.vgic_its_handle_command(devid << 32 | GITS_CMD_MOVI, 0, 1, 0)  # event 0 → ICID 1
    assert irq.target_vcpu is s.vms[0].vcpus[1]
    dev = s.host.genirq.irq_get_irq_data(irq.host_irq).chip_data[0]
    assert dev.vlpi_maps[0].vpe is vpe1
    assert _vlpi_counts(s) == [1, 3]


def _emulated() -> tuple[System, VgicIts, int]:
    """msix-nic under its-emulated once the guest's ITS driver has mapped the NIC."""
    s = build_system(get_scenario("msix-nic"), "its-emulated")
    s.machine.run(2_000_000)
    its = s.vms[0].vgic_its
    assert isinstance(its, VgicIts) and len(its.devices) == 1
    return s, its, next(iter(its.devices))


def test_mapti_of_a_mapped_event_keeps_its_ite() -> None:
    """``vgic_its_cmd_handle_mapi``: "If there is an existing mapping, behavior is
    UNPREDICTABLE" -- KVM returns without touching the ITE, so a second MAPTI of the same
    (DeviceID, EventID) to another LPI leaves the first translation in place."""
    from irqfwd.host.irqchip.arm_gic_v3 import GITS_CMD_MAPTI

    s, its, devid = _emulated()
    ite = its.devices[devid].ites[0]
    lpi = ite.irq.intid
    its.vgic_its_handle_command(devid << 32 | GITS_CMD_MAPTI, (lpi + 100) << 32 | 0, 1, 0)
    assert its.devices[devid].ites[0] is ite and ite.irq.intid == lpi
    assert lpi + 100 not in s.vms[0].vgic.lpis


def test_int_resolves_like_an_msi() -> None:
    """``vgic_its_cmd_handle_int`` → ``vgic_its_trigger_msi`` → ``vgic_its_resolve_lpi``: no
    injection (-EBUSY) while the target redistributor has LPIs disabled
    (``vgic_lpis_enabled``), none for an event whose collection is unmapped
    (E_ITS_INT_UNMAPPED_INTERRUPT); a delivered INT caches the translation
    (``vgic_its_cache_translation``) as an MSI does."""
    from irqfwd.host.irqchip.arm_gic_v3 import GITS_CMD_INT, GITS_CMD_MAPC

    s, its, devid = _emulated()
    kvm = s.vms[0]
    ite = its.devices[devid].ites[0]
    irq = ite.irq
    target = kvm.vcpus[its.collections[ite.collection]]
    irq.pending_latch = False
    its.vgic_its_invalidate_all_caches()
    target.vgic_cpu.lpis_enabled = False
    assert its.vgic_its_handle_command(devid << 32 | GITS_CMD_INT, 0, 0, 0) != 0
    assert not irq.pending_latch and not its.cache
    target.vgic_cpu.lpis_enabled = True
    assert its.vgic_its_handle_command(devid << 32 | GITS_CMD_INT, 0, 0, 0) == 0
    assert (its.doorbell, devid, 0) in its.cache
    irq.pending_latch = False
    its.vgic_its_handle_command(GITS_CMD_MAPC, 0, ite.collection, 0)  # V=0: unmap it
    assert its.vgic_its_handle_command(devid << 32 | GITS_CMD_INT, 0, 0, 0) != 0
    assert not irq.pending_latch


def test_a_vlpi_translation_is_not_cached() -> None:
    """``vgic_its_cache_translation``: "Do not cache a directly injected interrupt" -- the
    translation of a forwarded LPI (``irq->hw``) is resolved but not cached."""
    _, its, devid = _forwarded()
    its.vgic_its_invalidate_all_caches()
    ret, irq = its.vgic_its_resolve_lpi(devid, 0)
    assert ret == 0 and irq is not None and irq.hw
    assert not its.cache


def _forwarded_from(s: System, host_irq: int) -> bool:
    return s.host.genirq.irq_get_irq_data(host_irq).irqd_is_forwarded_to_vcpu()


@pytest.mark.parametrize("disable", ["GITS_CTLR.Enabled", "GICR_CTLR.EnableLPIs"])
def test_unset_forwarding_finds_the_vlpi_by_host_irq(disable: str) -> None:
    """``kvm_vgic_v4_unset_forwarding`` (v6.16+): ``__vgic_host_irq_get_vlpi`` finds the LPI
    forwarded from the producer's host irq, not through the vITS, so it is unmapped even
    while the guest has the vITS or the target's LPIs disabled
    (``vgic_its_resolve_lpi`` would fail with -EBUSY); a host irq that forwards nothing
    changes nothing."""
    from irqfwd.host.kvm.vgic_its import KvmMsi
    from irqfwd.host.kvm.vgic_v4 import kvm_vgic_v4_unset_forwarding

    s, its, devid = _forwarded()
    irq = its.devices[devid].ites[0].irq
    if disable == "GITS_CTLR.Enabled":
        its.enabled = False
    else:
        irq.target_vcpu.vgic_cpu.lpis_enabled = False
    kvm_vgic_v4_unset_forwarding(s.vms[0], irq.host_irq, KvmMsi(its.doorbell, 0, devid))
    assert not irq.hw and not _forwarded_from(s, irq.host_irq)
    assert _vlpi_counts(s) == [1, 2]
    kvm_vgic_v4_unset_forwarding(s.vms[0], irq.host_irq, KvmMsi(its.doorbell, 0, devid))
    assert _vlpi_counts(s) == [1, 2]


def test_unset_forwarding_before_6_16_unmaps_whatever_host_irq() -> None:
    """``kvm_vgic_v4_unset_forwarding`` up to v6.15 (kernel profile 6.12): the route is
    translated through the vITS and the LPI it gives is unmapped even when it is forwarded
    from another host irq (``WARN_ON(!(irq->hw && irq->host_irq == virq))``, then
    ``its_unmap_vlpi(virq)`` of the producer's irq); with the vITS disabled nothing is
    unmapped."""
    from irqfwd.host.kvm.vgic_its import KvmMsi
    from irqfwd.host.kvm.vgic_v4 import kvm_vgic_v4_unset_forwarding

    s, its, devid = _forwarded("6.12")
    irq0 = its.devices[devid].ites[0].irq
    irq2 = its.devices[devid].ites[2].irq
    its.enabled = False
    kvm_vgic_v4_unset_forwarding(s.vms[0], irq0.host_irq, KvmMsi(its.doorbell, 0, devid))
    assert irq0.hw and _forwarded_from(s, irq0.host_irq)
    its.enabled = True
    # the route of event 0 with the producer irq of event 2
    kvm_vgic_v4_unset_forwarding(s.vms[0], irq2.host_irq, KvmMsi(its.doorbell, 0, devid))
    assert not irq0.hw and _forwarded_from(s, irq0.host_irq)
    assert irq2.hw and not _forwarded_from(s, irq2.host_irq)
    assert _vlpi_counts(s) == [1, 2]


@pytest.mark.parametrize(("kernel", "mapped_again"), [("current", False), ("6.12", True)])
def test_set_forwarding_of_a_forwarded_lpi(kernel: str, mapped_again: bool) -> None:
    """``kvm_vgic_v4_set_forwarding``: since v6.16 "Silently exit if the vLPI is already
    mapped" -- a second producer irq for a forwarded LPI is not mapped; before (6.12) it was
    (``its_map_vlpi`` again, ``vlpi_count`` up)."""
    from irqfwd.host.kvm.vgic_its import KvmMsi
    from irqfwd.host.kvm.vgic_v4 import kvm_vgic_v4_set_forwarding, kvm_vgic_v4_unset_forwarding

    s, its, devid = _forwarded(kernel)
    irq0 = its.devices[devid].ites[0].irq
    other = its.devices[devid].ites[1].irq.host_irq  # an ITS irq of the same device
    old = irq0.host_irq
    kvm_vgic_v4_unset_forwarding(s.vms[0], other, KvmMsi(its.doorbell, 1, devid))
    assert not _forwarded_from(s, other)
    counts = _vlpi_counts(s)
    assert kvm_vgic_v4_set_forwarding(s.vms[0], other, KvmMsi(its.doorbell, 0, devid)) == 0
    assert _forwarded_from(s, other) is mapped_again
    assert irq0.host_irq == (other if mapped_again else old)
    assert _vlpi_counts(s) == [counts[0] + int(mapped_again), counts[1]]


def test_movi_to_the_same_vcpu_still_sends_vmovi() -> None:
    """``its_vlpi_map`` of an irq already forwarded: "Already mapped, move it around" --
    ``its_send_vmovi`` whatever the target vPE, so a MOVI (``update_affinity``) that keeps
    the vLPI on its vCPU still costs a VMOVI and its VSYNC."""
    from irqfwd.host.irqchip.arm_gic_v3 import (
        GITS_CBASER,
        GITS_CMD_MOVI,
        GITS_CMD_VMOVI,
        ITS_CMD_QUEUE_SZ,
    )
    from irqfwd.host.irqchip.irq_gic_v3_its import ItsNode

    s, its, devid = _forwarded()
    ite = its.devices[devid].ites[0]
    host_its = s.host.genirq.irq_get_irq_data(ite.irq.host_irq).chip.its
    assert isinstance(host_its, ItsNode)
    before = host_its.commands
    its.vgic_its_handle_command(devid << 32 | GITS_CMD_MOVI, 0, ite.collection, 0)
    assert host_its.commands == before + 2
    queue = host_its.gic.read(host_its.base + GITS_CBASER, 8, 0) & 0x000F_FFFF_FFFF_F000
    off = (host_its.cwriter - 64) % ITS_CMD_QUEUE_SZ
    assert host_its.gic.mem.read(queue + off, 8) & 0xFF == GITS_CMD_VMOVI


def test_inject_msi_tries_the_translation_cache_first() -> None:
    """``vgic_its_inject_msi``: ``vgic_its_inject_cached_translation`` first (a hit is one
    more ``its_cache_hit`` and no translation), and only on a miss ``vgic_its_trigger_msi``,
    which fills the cache; ``KVM_SIGNAL_MSI`` returns 1 on delivery, 0 when the guest's ITS
    blocks the MSI (an unmapped event: E_ITS_INT_UNMAPPED_INTERRUPT), -ENODEV when no vITS
    answers at the address."""
    from irqfwd.host.kvm.vgic_its import ENODEV, KvmMsi, vgic_its_inject_msi

    s, its, devid = _emulated()
    kvm = s.vms[0]
    irq = its.devices[devid].ites[0].irq
    its.vgic_its_invalidate_all_caches()
    hits, misses = its._c_hit.n, its._c_miss.n
    irq.pending_latch = False
    assert vgic_its_inject_msi(kvm, KvmMsi(its.doorbell, 0, devid)) == 1
    assert irq.pending_latch and (its.doorbell, devid, 0) in its.cache
    assert (its._c_hit.n, its._c_miss.n) == (hits, misses + 1)
    irq.pending_latch = False
    device = its.devices.pop(devid)  # behind the cache's back: only a hit can still deliver
    assert vgic_its_inject_msi(kvm, KvmMsi(its.doorbell, 0, devid)) == 1
    its.devices[devid] = device
    assert irq.pending_latch
    assert (its._c_hit.n, its._c_miss.n) == (hits + 1, misses + 1)
    unmapped = max(its.devices[devid].ites) + 1
    assert vgic_its_inject_msi(kvm, KvmMsi(its.doorbell, unmapped, devid)) == 0
    assert vgic_its_inject_msi(kvm, KvmMsi(its.doorbell + 0x10000, 0, devid)) == ENODEV < 0
