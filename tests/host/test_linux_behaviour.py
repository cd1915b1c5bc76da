"""Behaviours of Linux that concern the host GIC driver, genirq,
the vgic, VFIO, irqfd and irqbypass (not the timer, not GICv4), one test (or more) each.

Each docstring quotes the statement it checks.
"""

from __future__ import annotations

from typing import Any

import pytest

from irqfwd.config import DeviceConfig, ScenarioConfig, TrafficConfig, VMConfig
from irqfwd.host.genirq import EINVAL, ENOSYS
from irqfwd.host.irqbypass import EBUSY, IrqBypassConsumer, IrqBypassManager, IrqBypassProducer
from irqfwd.host.irqchip.arm_gic import (
    GICH_LR_ACTIVE_BIT,
    GICH_LR_EOI,
    GICH_LR_HW,
    GICH_LR_PENDING_BIT,
)
from irqfwd.host.irqchip.irq_gic import GicEoimode1Chip, gic_check_eoimode
from irqfwd.host.kvm.arm_vgic import VGIC_CONFIG_EDGE, VGIC_CONFIG_LEVEL
from irqfwd.host.kvm.irqfd import KVM_IRQ_ROUTING_MSI, KvmIrqfd
from irqfwd.host.kvm.kvm_host import VgicIrq
from irqfwd.host.kvm.vgic import (
    kvm_notify_acked_irq,
    kvm_vgic_inject_irq,
    vgic_deactivate,
    vgic_debug_state,
    vgic_get_irq,
    vgic_prune_ap_list,
    vgic_target_oracle,
)
from irqfwd.system.build import System, build_system
from irqfwd.system.run import run_scenario

GICD = 0x0800_0000


def _cfg(trigger: str = "level", vcpus: int = 1) -> ScenarioConfig:
    return ScenarioConfig(name="s14", duration_ns=1_000_000, vms=[VMConfig(vcpus=vcpus)],
                          devices=[DeviceConfig(trigger=trigger, traffic=TrafficConfig(rate_hz=20_000))])  # type: ignore[arg-type]


def _sys(design: str, trigger: str = "level", tracing: bool = False, vcpus: int = 1) -> System:
    return build_system(_cfg(trigger, vcpus), design, tracing=tracing)


def _fire(s: System, times: list[int], until: int = 200_000) -> None:
    s.devices[0].nic.start(iter(times))
    s.machine.run(until)


def _spi(s: System, intid: int = 48) -> VgicIrq:
    irq = vgic_get_irq(s.vms[0], None, intid)
    assert irq is not None
    return irq


def _phys_deactivations(s: System, intid: int) -> list[str]:
    """Sources (``eoir``/``dir``/``hw_lr``...) of the traced physical deactivations of ``intid``."""
    return [f["source"] for _t, name, f in s.recorder.trace
            if name == "irqfwd_phys_deactivate" and f["intid"] == intid]


# ---------------------------------------------------------------------- host GIC driver / genirq
def test_forwarded_host_eoir_before_handler_never_dir() -> None:
    """"The host writes EOIR for a forwarded interrupt before running its handler and
    never writes DIR for it." """
    s = _sys("forwarded", tracing=True)
    gic = s.machine.gic
    desc = s.host.genirq.irq_to_desc(s.devices[0].host_irq)
    assert desc.action is not None
    real = desc.action.handler
    seen: list[int] = []

    def handler(irq: int, dev_id: Any) -> int:
        # EOIR (the priority drop) has been written: the running priority is idle again
        # while INTID 48 stays active (EOImode 1, IHI 0048B §3.2.1 / gic_handle_irq).
        seen.append(gic.cpu_if[0].running_priority())
        assert gic.dist.is_active(48)
        return real(irq, dev_id)

    desc.action.handler = handler
    _fire(s, [10_000])
    assert seen == [0x100]
    # The only deactivation of 48 is the guest's (a HW list register), never a GICC_DIR.
    assert _phys_deactivations(s, 48) == ["hw_lr"]
    assert s.recorder.counters["phys_deactivate_host"] == 0


def test_mask_of_forwarded_irq_clears_active() -> None:
    """"Masking (disable/free) a forwarded interrupt on the host also clears its
    physical Active state."  (A non-forwarded irq keeps it.)"""
    for design, cleared in (("forwarded", True), ("irqfd-resample", False)):
        s = _sys(design)
        dist = s.machine.gic.dist
        dist.set_active(48, True)
        s.host.genirq.free_irq(s.devices[0].host_irq)
        assert dist.is_active(48) is (not cleared)
        assert not dist.is_enabled(48)


def test_irq_set_vcpu_affinity_marks_and_unmarks_forwarded() -> None:
    """"irq_set_vcpu_affinity(irq, non-NULL) marks the interrupt forwarded;
    irq_set_vcpu_affinity(irq, NULL) un-marks it; a chip without support returns -ENOSYS." """
    s = _sys("irqfd-resample")
    g = s.host.genirq
    irq = s.devices[0].host_irq
    d = g.irq_get_irq_data(irq)
    assert g.irq_set_vcpu_affinity(irq, s.vms[0].vcpus[0]) == 0
    assert d.irqd_is_forwarded_to_vcpu()
    assert g.irq_set_vcpu_affinity(irq, None) == 0
    assert not d.irqd_is_forwarded_to_vcpu()
    s0 = build_system(_cfg().model_copy(update={"host_at_el2": False}), "irqfd-resample")
    assert s0.host.genirq.irq_set_vcpu_affinity(s0.devices[0].host_irq, object()) == ENOSYS


def test_forwarding_sgi_or_cascaded_gic_rejected() -> None:
    """"Forwarding an SGI or an interrupt of a cascaded GIC is rejected." """
    s = _sys("irqfd-resample")
    g = s.host.genirq
    sgi = g.irq_create_mapping(s.host.irqchip.chip, 5)
    assert g.irq_set_vcpu_affinity(sgi, object()) == EINVAL
    cascaded = GicEoimode1Chip(s.machine, s.gic, cascaded=True)
    spi = g.irq_create_mapping(cascaded, 60, domain=1)
    assert g.irq_set_vcpu_affinity(spi, object()) == EINVAL
    assert not g.irq_get_irq_data(spi).irqd_is_forwarded_to_vcpu()


def test_eoimode1_only_at_el2_with_8k_cpu_interface() -> None:
    """"EOImode1 is enabled only when the host booted at EL2/HYP (and, on GICv2, only
    with an 8 KiB CPU interface)." """
    assert gic_check_eoimode(True, 0x2000)
    assert not gic_check_eoimode(True, 0x1000)
    assert not gic_check_eoimode(False, 0x2000)
    for el2 in (True, False):
        s = build_system(_cfg().model_copy(update={"host_at_el2": el2}), "irqfd-resample")
        ctlr = s.gic.read(s.gic.config.gicc_base, 4, 0)
        assert bool(ctlr & (1 << 9)) is el2


def test_special_intids_never_eoid() -> None:
    """"INTIDs 1020–1023 returned by IAR are never EOI'd or deactivated." """
    s = _sys("irqfd-resample", trigger="edge", tracing=True)
    gic = s.machine.gic
    drv = s.host.irqchip
    _fire(s, [10_000])
    assert s.recorder.counters["host_irqs"] == 1
    # The real interrupt: EOIR (priority drop) then GICC_DIR (EOImode 1).
    assert _phys_deactivations(s, 48) == ["dir"]
    assert gic.cpu_if[0].running_priority() == 0x100
    # A spurious entry (nothing pending): one GICC_IAR read returning 1023 and the
    # exception return, no EOIR/DIR access (each would cost one more GICC access) and no
    # change of any physical Active state.
    cpu = s.machine.pcpus[0]
    n_trace = len(s.recorder.trace)
    cpu.stack.push(None)
    cost = drv.handle_irq_step(cpu)
    assert cost == drv.gicc + drv.return_ns
    assert not [e for e in s.recorder.trace[n_trace:] if e[1].startswith("phys_")]
    assert gic.cpu_if[0].running_priority() == 0x100


# ---------------------------------------------------------------------- LR encoding
def _populate(s: System, irq: VgicIrq) -> int:
    vcpu = s.vms[0].vcpus[0]
    s.vms[0].vgic.ops.populate_lr(vcpu, irq, 0)
    return vcpu.vgic_cpu.vgic_v2.vgic_lr[0]


def test_hw_lr_carries_pintid_and_no_eoi_bit() -> None:
    """"An LR with HW=1 carries pINTID and never sets the EOI (maintenance) bit." """
    s = _sys("forwarded")
    irq = _spi(s)
    irq.line_level = True
    irq.enabled = True
    lr = _populate(s, irq)
    assert lr & GICH_LR_HW
    assert (lr >> 10) & 0x3FF == 48  # PhysicalID; bit 19 (EOI when HW=0) is PhysicalID[9]
    r = run_scenario(_cfg(), "forwarded")
    assert r.recorder.counters["maintenance_irqs"] == 0


def test_hw_lr_never_pending_and_active() -> None:
    """"An LR with HW=1 is never written in the Pending+Active state; if the virtual
    irq is active, only A is written." """
    s = _sys("forwarded")
    irq = _spi(s)
    irq.enabled = True
    irq.active = True
    irq.line_level = True
    irq.pending_latch = True
    lr = _populate(s, irq)
    assert lr & GICH_LR_HW
    assert lr & (GICH_LR_PENDING_BIT | GICH_LR_ACTIVE_BIT) == GICH_LR_ACTIVE_BIT


def test_guest_deactivation_of_hw_lr_deactivates_physical_without_exit() -> None:
    """"When the guest deactivates a vINTID whose LR has HW=1, the physical pINTID
    becomes Inactive, with no maintenance interrupt and no exit." """
    r = run_scenario(_cfg(), "forwarded", tracing=True)
    last = None
    seen = 0
    for _, name, f in r.recorder.trace:
        if name in ("kvm_entry", "kvm_exit"):
            last = name
        elif name == "irqfwd_phys_deactivate" and f["by"] == "guest":
            assert f["intid"] == 48 and f["source"] == "hw_lr"
            assert last == "kvm_entry"  # still in the guest: no exit happened
            seen += 1
    assert seen > 10
    assert r.recorder.counters["maintenance_irqs"] == 0


def test_level_non_hw_lr_has_eoi_bit_and_ack_notifier_runs() -> None:
    """"A level, non-HW LR has the EOI bit set; guest deactivation causes a maintenance
    interrupt, and fold calls the ack notifier (resampler) for SPIs." """
    r = run_scenario(_cfg(), "irqfd-resample", tracing=True)
    lrs = [f["value"] for _, n, f in r.recorder.trace if n == "gic_lr_entry" and f["value"] & 0x3FF == 48]
    assert lrs and all(v & GICH_LR_EOI and not v & GICH_LR_HW for v in lrs)
    acks = sum(1 for _, n, _f in r.recorder.trace if n == "kvm_ack_irq")
    c = r.recorder.counters
    assert acks == c["maintenance_irqs"] == c["resamplefd_signals"] > 10


def test_mapped_level_written_pending_then_line_level_cleared() -> None:
    """"A level mapped irq is written to the LR as Pending and its cached line_level is
    then cleared; the level is re-sampled from hardware at fold time." """
    s = _sys("forwarded")
    irq = _spi(s)
    irq.enabled = True
    irq.line_level = True
    lr = _populate(s, irq)
    assert lr & GICH_LR_PENDING_BIT and not lr & GICH_LR_ACTIVE_BIT
    assert irq.line_level is False
    # Fold with the LR still pending and the physical line high: re-sampled to True.
    vcpu = s.vms[0].vcpus[0]
    vcpu.vgic_cpu.used_lrs = 1
    s.machine.gic.set_line(48, True)
    s.vms[0].vgic.ops.fold_lr_state(vcpu)
    assert irq.line_level is True


def test_fold_line_low_clears_physical_active() -> None:
    """"If at fold a mapped level irq's line is sampled low, KVM clears the physical
    Active state itself." """
    s = _sys("forwarded")
    irq = _spi(s)
    irq.enabled = True
    irq.line_level = True
    dist = s.machine.gic.dist
    dist.set_active(48, True)
    _populate(s, irq)
    vcpu = s.vms[0].vcpus[0]
    vcpu.vgic_cpu.used_lrs = 1  # the guest never acknowledged it; the device went away
    s.vms[0].vgic.ops.fold_lr_state(vcpu)
    assert not dist.is_active(48)
    assert irq.line_level is False


def test_deactivate_with_line_high_refires_and_reinjects() -> None:
    """"If the guest deactivates a mapped level irq whose line is still high, the
    physical interrupt fires again immediately and is re-injected." """
    # A probe run finds when the guest's handler acknowledges the NIC (the line falls)
    # and when its EOI deactivates INTID 48; a second packet arriving between the two
    # raises the line again while the interrupt is still active.
    probe = _sys("forwarded", tracing=True)
    _fire(probe, [10_000])
    t_lower = next(t for t, n, f in probe.recorder.trace if n == "irqfwd_device_irq_lower")
    t_deact = next(t for t, n, f in probe.recorder.trace if n == "irqfwd_phys_deactivate")
    assert t_lower < t_deact
    s = _sys("forwarded", tracing=True)
    _fire(s, [10_000, (t_lower + t_deact) // 2])
    c = s.recorder.counters
    assert c["device_irqs_raised"] == 2
    trace = s.recorder.trace
    second_raise = [t for t, n, f in trace if n == "irqfwd_device_irq_raise"][1]
    first_deact = next(t for t, n, f in trace if n == "irqfwd_phys_deactivate" and f["by"] == "guest")
    assert second_raise < first_deact  # the line is high when the guest deactivates
    assert c["host_irqs"] == 2 and c["guest_irqs_handled"] == 2
    entries = [t for t, n, f in trace if n == "irq_handler_entry" and f["intid"] == 48]
    assert len(entries) == 2 and entries[1] >= first_deact  # fires again after deactivation
    injections = [t for t, n, f in trace if n == "vgic_update_irq_pending"]
    assert len(injections) >= 2 and injections[-1] >= entries[1]  # and is re-injected


def test_second_edge_while_active_is_held_in_physical_gic() -> None:
    """"A second edge on a mapped edge irq while it is virtually active is held
    pending in the physical GIC and is delivered after deactivation." """
    s = _sys("forwarded", trigger="edge", tracing=True)
    dist = s.machine.gic.dist
    probe: dict[str, bool] = {}

    def look() -> None:
        probe["pending"] = dist.is_pending(48)
        probe["active"] = dist.is_active(48)

    s.engine.at(10_600, look)
    _fire(s, [10_000, 10_500])
    assert probe == {"pending": True, "active": True}
    c = s.recorder.counters
    assert c["host_irqs"] == 2 and c["guest_irqs_handled"] == 2
    tr = s.recorder.trace
    deact = [t for t, n, f in tr if n == "irqfwd_phys_deactivate" and f["by"] == "guest"]
    act = [t for t, n, f in tr if n == "irqfwd_phys_activate"]
    assert len(act) == 2 and act[1] >= deact[0]


def test_edge_pending_latch_consumed_by_lr_and_restored_at_fold() -> None:
    """"An edge irq whose LR is still Pending at fold keeps pending_latch set; an edge
    irq written to an LR has pending_latch cleared." """
    s = _sys("irqfd-resample")
    irq = _spi(s, 49)
    irq.config = VGIC_CONFIG_EDGE
    irq.enabled = True
    irq.pending_latch = True
    lr = _populate(s, irq)
    assert lr & GICH_LR_PENDING_BIT and irq.pending_latch is False
    vcpu = s.vms[0].vcpus[0]
    vcpu.vgic_cpu.used_lrs = 1
    s.vms[0].vgic.ops.fold_lr_state(vcpu)
    assert irq.pending_latch is True


def test_active_irq_stays_on_its_vcpu_until_inactive() -> None:
    """"An active virtual irq stays on its current vcpu's ap_list even if its target
    vcpu changes; it migrates only after it is no longer active." """
    s = _sys("irqfd-resample", vcpus=2)
    vgic = s.vms[0].vgic
    v0, v1 = s.vms[0].vcpus
    irq = _spi(s, 50)
    irq.enabled = True
    vgic.enabled = True
    irq.active = True
    irq.vcpu = v0
    v0.vgic_cpu.ap_list.append(irq)
    irq.target_vcpu = v1
    assert vgic_target_oracle(s.vms[0], irq) is v0
    vgic_prune_ap_list(v0)
    assert irq in v0.vgic_cpu.ap_list and irq.vcpu is v0
    irq.active = False
    irq.pending_latch = True
    vgic_prune_ap_list(v0)
    assert irq not in v0.vgic_cpu.ap_list and irq in v1.vgic_cpu.ap_list and irq.vcpu is v1


def test_ap_list_order_legacy_and_2025() -> None:
    """"ap_list order (2025+ vgic): pending-not-active before active; then by
    priority; among active, HW irqs before non-HW (older kernels: active first)." """
    from irqfwd.host.kvm.vgic import _cmp_key_2025, _cmp_key_legacy

    def mk(intid: int, prio: int, active: bool, pending: bool, hw: bool) -> VgicIrq:
        i = VgicIrq(intid, None, VGIC_CONFIG_LEVEL)
        i.enabled, i.priority, i.active, i.line_level, i.hw = True, prio, active, pending, hw
        return i

    c_nonhw = mk(40, 0x10, True, False, False)
    a_hw = mk(41, 0x10, True, False, True)
    b = mk(42, 0x80, False, True, False)
    d = mk(43, 0x20, False, True, False)
    irqs = [c_nonhw, a_hw, b, d]
    assert [i.intid for i in sorted(irqs, key=_cmp_key_legacy)] == [40, 41, 43, 42]
    assert [i.intid for i in sorted(irqs, key=_cmp_key_2025)] == [43, 42, 41, 40]


def test_vgic_irq_cmp_hw_tie_break_applies_to_pending_irqs() -> None:
    """2025 ``vgic_irq_cmp``: after "pending, enabled and not active first" and the
    priority, the last key is ``irqb->hw - irqa->hw`` for *any* two irqs, so of two pending
    irqs of equal priority the HW one sorts first; ``vgic_flush_lr_state`` then gives it
    the LR when the ap_list overflows (here 3 pending irqs, 2 LRs)."""
    from irqfwd.config import HostConfig
    from irqfwd.host.kvm.vgic import kvm_vgic_flush_hwstate

    cfg = _cfg().model_copy(update={"num_lrs": 2, "host": HostConfig(kernel="current")})
    s = build_system(cfg, "forwarded")
    kvm = s.vms[0]
    v0 = kvm.vcpus[0]
    kvm.vgic.enabled = True
    for intid in (50, 51, 48):  # two non-HW SPIs queued before the HW-mapped SPI 48
        irq = _spi(s, intid)
        irq.enabled = True
        irq.priority = 0xA0
        irq.line_level = True
        irq.vcpu = v0
        v0.vgic_cpu.ap_list.append(irq)
    assert _spi(s, 48).hw and not _spi(s, 50).hw
    kvm_vgic_flush_hwstate(v0)
    assert v0.vgic_cpu.vgic_v2 is not None
    lrs = v0.vgic_cpu.vgic_v2.vgic_lr
    assert [lr & 0x3FF for lr in lrs] == [48, 50]
    assert lrs[0] & GICH_LR_HW


def test_no_pending_irq_while_the_distributor_is_disabled() -> None:
    """``kvm_vgic_vcpu_pending_irq`` returns false when ``!vcpu->kvm->arch.vgic.enabled``,
    before it looks at ``its_vpe.pending_last`` or the ap_list; and ``vgic_target_oracle``
    forwards no pending irq with a target while the distributor is disabled, private irqs
    (an SGI here) included."""
    from irqfwd.host.kvm.vgic import kvm_vgic_vcpu_pending_irq, vgic_queue_irq_unlock

    s = _sys("irqfd-resample")
    kvm = s.vms[0]
    v0 = kvm.vcpus[0]
    kvm.vgic.enabled = True
    spi = _spi(s, 50)
    spi.enabled = True
    spi.priority = 0xA0
    spi.line_level = True
    vgic_queue_irq_unlock(kvm, spi)
    assert spi in v0.vgic_cpu.ap_list
    cif = v0.vgic_cpu.vgic_v2
    assert cif is not None
    cif.vgic_vmcr = 0x1F << 27  # GICH_VMCR.PriMask 0xF8: no priority masked
    assert kvm_vgic_vcpu_pending_irq(v0)
    kvm.vgic.enabled = False  # the guest clears GICD_CTLR.Enable
    assert not kvm_vgic_vcpu_pending_irq(v0)
    sgi = v0.vgic_cpu.private_irqs[1]
    sgi.source = 1
    sgi.pending_latch = True
    assert vgic_target_oracle(kvm, sgi) is None
    vgic_queue_irq_unlock(kvm, sgi)
    assert sgi not in v0.vgic_cpu.ap_list and sgi.vcpu is None
    kvm.vgic.enabled = True
    assert vgic_target_oracle(kvm, sgi) is v0


def test_gicv4_pending_last_needs_the_distributor_enabled() -> None:
    """``kvm_vgic_vcpu_pending_irq``: the distributor check comes first, so a doorbell
    (``its_vpe.pending_last``) does not make the vCPU runnable while it is disabled."""
    from irqfwd.config import DeviceConfig as _Dev
    from irqfwd.host.kvm.vgic import kvm_vgic_vcpu_pending_irq

    cfg = ScenarioConfig(name="v4", gic="v4", duration_ns=1_000_000, vms=[VMConfig(vcpus=1)],
                         devices=[_Dev()])
    s = build_system(cfg, "gicv4-direct")
    kvm = s.vms[0]
    v0 = kvm.vcpus[0]
    v3 = v0.vgic_cpu.vgic_v3
    assert v3 is not None and v3.its_vpe is not None
    v3.its_vpe.pending_last = True
    kvm.vgic.enabled = True
    assert kvm_vgic_vcpu_pending_irq(v0)
    kvm.vgic.enabled = False
    assert not kvm_vgic_vcpu_pending_irq(v0)


def test_gicv2_sgi_active_from_one_source_pending_from_another() -> None:
    """``vgic_v2_populate_lr`` (``vgic_v2_compute_lr``): an SGI active from vCPU 1 and
    pending again from vCPU 2 is a multi-SGI (``vgic_irq_is_multi_sgi``: one LR per source
    plus one for the active state); its one LR holds Active with CPUID = the active source
    and the EOI bit, no Pending (CPUID cannot name two sources).  Once the guest's EOI
    empties that LR (fold: inactive), the next flush presents the source-2 instance: Pending,
    CPUID 2, no EOI bit (no source left), and ``source`` / ``pending_latch`` are consumed."""
    from irqfwd.host.kvm.vgic import (
        kvm_vgic_flush_hwstate,
        kvm_vgic_sync_hwstate,
        vgic_irq_get_lr_count,
    )

    s = _sys("irqfd-resample", vcpus=3)
    kvm = s.vms[0]
    kvm.vgic.enabled = True
    v0 = kvm.vcpus[0]
    cif = v0.vgic_cpu.vgic_v2
    assert cif is not None
    sgi = v0.vgic_cpu.private_irqs[0]
    sgi.active = True
    sgi.active_source = 1
    sgi.source = 1 << 2
    sgi.pending_latch = True
    sgi.vcpu = v0
    v0.vgic_cpu.ap_list.append(sgi)
    assert vgic_irq_get_lr_count(sgi) == 2
    kvm_vgic_flush_hwstate(v0)
    lr = cif.vgic_lr[0]
    assert lr & GICH_LR_ACTIVE_BIT and not lr & GICH_LR_PENDING_BIT
    assert (lr >> 10) & 7 == 1 and lr & GICH_LR_EOI
    assert sgi.source == 1 << 2 and sgi.pending_latch
    cif.vgic_lr[0] = lr & ~(GICH_LR_ACTIVE_BIT | GICH_LR_PENDING_BIT)  # the guest's EOI
    kvm_vgic_sync_hwstate(v0)
    assert not sgi.active and sgi in v0.vgic_cpu.ap_list
    kvm_vgic_flush_hwstate(v0)
    lr = cif.vgic_lr[0]
    assert lr & GICH_LR_PENDING_BIT and not lr & GICH_LR_ACTIVE_BIT
    assert (lr >> 10) & 7 == 2 and not lr & GICH_LR_EOI
    assert sgi.source == 0 and not sgi.pending_latch


def _flush_sys(kernel: str, num_lrs: int) -> System:
    from irqfwd.config import HostConfig

    cfg = _cfg(vcpus=3).model_copy(update={"num_lrs": num_lrs, "host": HostConfig(kernel=kernel)})
    s = build_system(cfg, "irqfd-resample")
    s.vms[0].vgic.enabled = True
    return s


def _queue(s: System, irq: VgicIrq, prio: int) -> None:
    v0 = s.vms[0].vcpus[0]
    irq.enabled = True
    irq.priority = prio
    irq.vcpu = v0
    v0.vgic_cpu.ap_list.append(irq)


@pytest.mark.parametrize("kernel", ["6.12", "current"])
def test_flush_with_a_multi_source_sgi(kernel: str) -> None:
    """``vgic_flush_lr_state`` with a GICv2 SGI pending from two vCPUs (priority 0x10)
    queued after an SPI (priority 0x20), four LRs.  Up to 2025 (kernel ``6.12``):
    ``compute_ap_list_depth`` finds a multi-SGI, so the ap_list is sorted (SGI first) and
    "we need to guarantee that they are all seen before any IRQ of lower priority": after
    the SGI's LR (source 1, EOI bit, source 2 left) the loop stops, the SPI waits for the
    EOI maintenance interrupt, no UIE.  Since the 2025 rework (``current``) "GICv2 SGIs with
    multiple sources are injected one source at a time": ``summarize_ap_list`` counts the
    SGI once, two irqs fit in four LRs, no sort, both get an LR in ap_list order."""
    from irqfwd.host.irqchip.arm_gic import GICH_HCR_UIE
    from irqfwd.host.kvm.vgic import kvm_vgic_flush_hwstate

    s = _flush_sys(kernel, 4)
    v0 = s.vms[0].vcpus[0]
    spi = _spi(s, 50)
    spi.line_level = True
    _queue(s, spi, 0x20)
    sgi = v0.vgic_cpu.private_irqs[0]
    sgi.source = (1 << 1) | (1 << 2)
    sgi.pending_latch = True
    _queue(s, sgi, 0x10)
    kvm_vgic_flush_hwstate(v0)
    cif = v0.vgic_cpu.vgic_v2
    assert cif is not None
    lrs = cif.vgic_lr[:v0.vgic_cpu.used_lrs]
    if kernel == "6.12":
        assert [lr & 0x3FF for lr in lrs] == [0]
        assert not cif.vgic_hcr & GICH_HCR_UIE
        assert s.recorder.counters["lr_spills"] == 1
    else:
        assert [lr & 0x3FF for lr in lrs] == [50, 0]
    sgi_lr = lrs[-1]
    assert (sgi_lr >> 10) & 7 == 1 and sgi_lr & GICH_LR_EOI and sgi_lr & GICH_LR_PENDING_BIT
    assert sgi.source == 1 << 2 and sgi.pending_latch


def test_flush_sorts_only_when_the_irqs_targeting_the_vcpu_overflow() -> None:
    """2025 ``vgic_flush_lr_state``: ``vgic_sort_ap_list`` only ``if
    (irqs_outside_lrs(&als))``, and ``summarize_ap_list`` counts only the irqs whose
    ``vgic_target_oracle`` is this vCPU: two routable SPIs and one disabled (not yet pruned)
    fit in two LRs, so they keep their ap_list order (the later, higher-priority SPI in the
    second LR)."""
    from irqfwd.host.kvm.vgic import kvm_vgic_flush_hwstate

    s = _flush_sys("current", 2)
    v0 = s.vms[0].vcpus[0]
    for intid, prio in ((52, 0x10), (51, 0x80), (50, 0x20)):
        irq = _spi(s, intid)
        irq.line_level = True
        _queue(s, irq, prio)
    _spi(s, 52).enabled = False
    kvm_vgic_flush_hwstate(v0)
    cif = v0.vgic_cpu.vgic_v2
    assert cif is not None
    assert [lr & 0x3FF for lr in cif.vgic_lr[:v0.vgic_cpu.used_lrs]] == [51, 50]
    assert "lr_spills" not in s.recorder.counters


# ---------------------------------------------------------------------- guest MMIO on mapped irqs
def _mmio(s: System, off: int, val: int, write: bool = True, uaccess: bool = False) -> int:
    kvm = s.vms[0]
    return kvm.vgic_mmio.access(kvm.vcpus[0], GICD + off, val, 4, write, uaccess)


def test_guest_ispendr_on_mapped_irq_sets_physical_active() -> None:
    """"Guest ISPENDR on a mapped irq sets pending and makes the physical irq Active." """
    s = _sys("forwarded")
    _mmio(s, 0x200 + 4, 1 << 16)
    assert _spi(s).pending_latch
    assert s.machine.gic.dist.is_active(48)


def test_guest_icpendr_on_mapped_irq() -> None:
    """"Guest ICPENDR on a mapped irq clears physical pending, and clears physical
    Active if the virtual irq is not active." """
    for vactive in (False, True):
        s = _sys("forwarded")
        dist = s.machine.gic.dist
        dist.set_pending(48, True)
        dist.set_active(48, True)
        irq = _spi(s)
        irq.active = vactive
        irq.pending_latch = True
        _mmio(s, 0x280 + 4, 1 << 16)
        assert not irq.pending_latch
        assert not dist.is_pending(48)
        assert dist.is_active(48) is vactive


def test_guest_and_user_active_writes_on_mapped_irq() -> None:
    """"Guest I/CACTIVER on a mapped irq changes both virtual and physical Active;
    userspace accesses change only virtual state." """
    s = _sys("forwarded")
    dist = s.machine.gic.dist
    irq = _spi(s)
    _mmio(s, 0x300 + 4, 1 << 16)
    assert irq.active and dist.is_active(48)
    _mmio(s, 0x380 + 4, 1 << 16)
    assert not irq.active and not dist.is_active(48)
    _mmio(s, 0x300 + 4, 1 << 16, uaccess=True)
    assert irq.active and not dist.is_active(48)
    assert _mmio(s, 0x300 + 4, 0, write=False) & (1 << 16)


def test_injection_owner_and_level_semantics() -> None:
    """``vgic_validate_injection``: ``irq->owner != owner`` refuses the injection, and
    ``kvm_vgic_inject_irq`` then returns 0 ("Nothing to see here, move along"), not an
    error: userspace (owner NULL) cannot raise an irq an in-kernel device owns, nor can an
    owner token raise an irq it does not own; level injection only applies level changes;
    edge injection only acts on level=1."""
    s = _sys("irqfd-resample")
    kvm = s.vms[0]
    kvm.vgic.enabled = True
    v0 = kvm.vcpus[0]
    owned = _spi(s, 50)
    owned.owner = "timer-ctx"
    assert kvm_vgic_inject_irq(kvm, None, 50, True, None) == 0
    assert not owned.line_level
    assert kvm_vgic_inject_irq(kvm, None, 50, True, "timer-ctx") == 0 and owned.line_level
    unowned = _spi(s, 53)
    assert kvm_vgic_inject_irq(kvm, None, 53, True, "timer-ctx") == 0
    assert not unowned.line_level
    assert kvm_vgic_inject_irq(kvm, None, 16, True, None) == EINVAL  # a PPI needs its vCPU
    lvl = _spi(s, 51)
    lvl.enabled = True
    assert kvm_vgic_inject_irq(s.vms[0], None, 51, True, None) == 0
    n = len(v0.vgic_cpu.ap_list)
    kvm_vgic_inject_irq(s.vms[0], None, 51, True, None)  # no level change: nothing happens
    assert len(v0.vgic_cpu.ap_list) == n and lvl.line_level
    edge = _spi(s, 52)
    edge.config = VGIC_CONFIG_EDGE
    kvm_vgic_inject_irq(s.vms[0], None, 52, False, None)
    assert not edge.pending_latch
    kvm_vgic_inject_irq(s.vms[0], None, 52, True, None)
    assert edge.pending_latch


def test_kvm_vgic_set_owner() -> None:
    """``kvm_vgic_set_owner`` (the arch timer's ``timer_irqs_are_valid``): a PPI or SPI
    takes one owner; another owner gets -EEXIST, an SGI -EINVAL ("SGIs and LPIs cannot be
    wired up to any device"); the vtimer PPI of a built system is owned by its timer
    context."""
    from irqfwd.host.kvm.vgic import EEXIST, kvm_vgic_set_owner

    s = _sys("irqfd-resample")
    kvm = s.vms[0]
    v0 = kvm.vcpus[0]
    assert kvm_vgic_set_owner(kvm, v0, 50, "pmu") == 0 and _spi(s, 50).owner == "pmu"
    assert kvm_vgic_set_owner(kvm, v0, 50, "pmu") == 0
    assert kvm_vgic_set_owner(kvm, v0, 50, "other") == EEXIST
    assert kvm_vgic_set_owner(kvm, v0, 1, "pmu") == EINVAL
    assert s.vtimer is not None
    assert v0.vgic_cpu.private_irqs[27].owner is s.vtimer.kt.context_of(v0)


# ---------------------------------------------------------------------- VFIO / irqfd / irqbypass
def test_vfio_level_masks_before_signal_and_unmasks_on_resamplefd() -> None:
    """"A VFIO platform level IRQ is masked (disable_irq_nosync) in its handler before
    the trigger eventfd is signalled, and unmasked only by an UNMASK action or eventfd; an
    edge IRQ only signals." """
    r = run_scenario(_cfg(), "irqfd-resample", tracing=True)
    state = "idle"
    unmasks = 0
    for _, n, f in r.recorder.trace:
        if n == "irqfwd_vfio_mask":
            state = "masked"
        elif n == "irqfwd_eventfd_signal" and f["fd"] == "nic0-trigger":
            assert state == "masked"
        elif n == "irqfwd_eventfd_signal" and f["fd"] == "nic0-resample":
            state = "resampled"
        elif n == "irqfwd_vfio_unmask":
            unmasks += 1
            assert state in ("resampled", "teardown")
            state = "idle"
        elif n == "irqfwd_vm_teardown":
            state = "teardown"
    assert unmasks > 10
    c = run_scenario(_cfg("edge"), "irqfd-resample").recorder.counters
    assert c["vfio_mask"] == 0 and c["eventfd_signals"] == c["guest_irqs_handled"] > 10


def test_resample_irqfd_asserts_until_ack_then_deasserts_once() -> None:
    """"A resample irqfd asserts the GSI on trigger and keeps it asserted until guest
    ack; on ack it de-asserts once and signals every resamplefd on that GSI." """
    from irqfwd.host.eventfd import EventFd

    s = _sys("irqfd-resample", tracing=True)
    kvm = s.vms[0]
    w = s.devices[0]
    fd2, rfd2 = EventFd(s.machine, "t2"), EventFd(s.machine, "r2")
    second = kvm.irqfds.kvm_irqfd_assign(fd2, 16, rfd2)
    assert isinstance(second, KvmIrqfd) and second.resampler is w.irqfd.resampler
    w.irqfd.irqfd_inject()
    irq = _spi(s)
    assert irq.line_level
    assert w.resamplefd is not None
    before = (w.resamplefd.count, rfd2.count)
    w.vfio.set_unmask_eventfd(None)  # keep the counts observable (no virqfd consumer)
    kvm_notify_acked_irq(kvm, 16)
    assert not irq.line_level
    assert (w.resamplefd.count, rfd2.count) == (before[0] + 1, before[1] + 1)
    lows = [f for _, n, f in s.recorder.trace if n == "vgic_update_irq_pending" and not f["level"]]
    assert len(lows) == 1


def test_non_resample_irqfd_pulses() -> None:
    """"A non-resample irqfd pulses the GSI (1 then 0)." """
    from irqfwd.host.eventfd import EventFd

    s = _sys("irqfd-resample", tracing=True)
    fd = EventFd(s.machine, "p")
    irqfd = s.vms[0].irqfds.kvm_irqfd_assign(fd, 17, None)
    assert isinstance(irqfd, KvmIrqfd)
    irqfd.irqfd_inject()
    levels = [f["level"] for _, n, f in s.recorder.trace if n == "vgic_update_irq_pending" and f["intid"] == 49]
    assert levels == [True, False]


def test_assigning_a_signalled_eventfd_injects_at_once() -> None:
    """kvm_irqfd_assign: an eventfd already signalled (vfs_poll returns EPOLLIN) gets
    ``schedule_work(&irqfd->inject)`` at once; the poll does not consume the count."""
    from irqfwd.host.eventfd import EventFd

    s = _sys("irqfd-resample")
    fd = EventFd(s.machine, "pre")
    fd.signal()
    irqfd = s.vms[0].irqfds.kvm_irqfd_assign(fd, 17, None)
    assert isinstance(irqfd, KvmIrqfd)
    assert irqfd.inject.pending and fd.count == 1


def test_irqfd_routes_only_to_spis() -> None:
    """"On ARM, irqfd can target SPIs (via routing) ...; PPIs cannot be irqfd
    targets": GSI n routes to SPI 32 + n, and a GSI beyond the SPIs is refused."""
    from irqfwd.host.eventfd import EventFd

    s = _sys("irqfd-resample", tracing=True)
    kvm = s.vms[0]
    assert kvm.irqfds.kvm_irqfd_assign(EventFd(s.machine), kvm.vgic.nr_spis, None) == EINVAL
    assert kvm.irqfds.kvm_irqfd_assign(EventFd(s.machine), -1, None) == EINVAL
    irqfd = kvm.irqfds.kvm_irqfd_assign(EventFd(s.machine), 0, None)
    assert isinstance(irqfd, KvmIrqfd)
    irqfd.irqfd_inject()
    intids = {f["intid"] for _, n, f in s.recorder.trace if n == "vgic_update_irq_pending"}
    assert intids == {32}


def test_irqbypass_one_to_one_and_ebusy() -> None:
    """"irqbypass connects exactly one producer with one consumer with the same token;
    a duplicate token returns -EBUSY." """
    mgr = IrqBypassManager()
    token, other = object(), object()
    links: list[str] = []
    cons = IrqBypassConsumer(token, lambda c, p: links.append("add") or 0, lambda c, p: None)
    prod = IrqBypassProducer(token)
    stranger = IrqBypassProducer(other)
    assert mgr.register_consumer(cons) == 0
    assert mgr.register_producer(stranger) == 0 and stranger.consumer is None
    assert mgr.register_producer(prod) == 0
    assert prod.consumer is cons and cons.producer is prod and links == ["add"]
    assert mgr.register_producer(IrqBypassProducer(token)) == EBUSY
    assert mgr.register_consumer(IrqBypassConsumer(token, lambda c, p: 0, lambda c, p: None)) == EBUSY


@pytest.mark.parametrize("fail", [False, True])
def test_irqbypass_connect_order(fail: bool) -> None:
    """"irqbypass connect order: producer stop, consumer stop, add_consumer,
    add_producer (rollback add_consumer on failure), consumer start, producer start." """
    mgr = IrqBypassManager()
    token = object()
    log: list[str] = []
    cons = IrqBypassConsumer(token, lambda c, p: log.append("cons.add_producer") or (-5 if fail else 0),
                             lambda c, p: log.append("cons.del_producer"))
    cons.stop = lambda c: log.append("cons.stop")
    cons.start = lambda c: log.append("cons.start")
    prod = IrqBypassProducer(token)
    prod.stop = lambda p: log.append("prod.stop")
    prod.start = lambda p: log.append("prod.start")
    prod.add_consumer = lambda p, c: log.append("prod.add_consumer") or 0
    prod.del_consumer = lambda p, c: log.append("prod.del_consumer")
    mgr.register_consumer(cons)
    ret = mgr.register_producer(prod)
    expected = ["prod.stop", "cons.stop", "prod.add_consumer", "cons.add_producer"]
    if fail:
        expected.append("prod.del_consumer")
    expected += ["cons.start", "prod.start"]
    assert log == expected
    assert (ret != 0) is fail and (prod.consumer is None) is fail


def test_arm_irqbypass_only_for_msi_routes() -> None:
    """"On ARM, irqbypass forwarding is only accepted for MSI routes (GICv4 vLPI); SPI
    routes stay on the eventfd path." """
    from irqfwd.host.eventfd import EventFd

    s = _sys("irqfd-resample")
    w = s.devices[0]
    mgr = s.host.irqbypass
    w.vfio.producer.token = w.trigger
    assert mgr.register_consumer(w.irqfd.consumer) == 0
    assert mgr.register_producer(w.vfio.producer) == 0
    assert w.irqfd.producer is None and w.vfio.bypass_inject is None
    c = run_scenario(_cfg(), "irqfd-resample").recorder.counters
    assert c["eventfd_signals"] > 0
    msi = s.vms[0].irqfds.kvm_irqfd_assign(EventFd(s.machine), 20, None)
    assert isinstance(msi, KvmIrqfd)
    msi.route_type = KVM_IRQ_ROUTING_MSI
    prod = IrqBypassProducer(msi.eventfd)
    assert mgr.register_consumer(msi.consumer) == 0 and mgr.register_producer(prod) == 0
    assert msi.producer is prod


def test_vgic_state_debugfs_layout() -> None:
    """arch/arm64/kvm/vgic/vgic-debug.c: a ``vgic-state`` snapshot in KVM's debugfs layout;
    a mapped, enabled, level SPI 48 pending on its line reads ``PLAEHCG`` = 0101110 with
    HWID 48 before it is queued, and 0011110 (A=1, line low) once the guest holds it."""
    s = _sys("forwarded")
    irq = _spi(s)
    irq.enabled = True
    irq.line_level = True
    text = vgic_debug_state(s.vms[0])
    assert "TYP   ID TGT_ID PLAEHCG     HWID   TARGET SRC PRI VCPU_ID" in text
    row = next(line for line in text.splitlines() if line.startswith("SPI   48"))
    assert row.split()[3] == "0101110" and row.split()[4] == "48"
    irq.line_level = False
    irq.active = True
    row = next(line for line in vgic_debug_state(s.vms[0]).splitlines() if line.startswith("SPI   48"))
    assert row.split()[3] == "0011110"


def _overflow_cfg() -> ScenarioConfig:
    # EOImode 1 guest, oneshot threaded handlers (DIR deferred to the thread end), four
    # devices bursting together, two LRs: more active irqs than LRs.
    from irqfwd.config import GuestConfig, HostConfig

    return ScenarioConfig(
        name="ovf", duration_ns=2_000_000, num_lrs=2, guest=GuestConfig(eoimode=1),
        host=HostConfig(kernel="current"),
        devices=[DeviceConfig(name=f"d{i}", host_intid=48 + i, guest_intid=48 + i, threaded=True,
                              handler_ns=5_000,
                              traffic=TrafficConfig(pattern="burst", rate_hz=30_000, burst_size=3, burst_gap_ns=0))
                 for i in range(4)])


def test_lr_overflow_eoimode1_needs_trapped_dir() -> None:
    """"Under LR overflow with EOImode1 guests, DIR is trapped and deactivation of an
    active irq not in an LR is emulated (including physical deactivation for HW irqs,
    exactly once)."  With the 2025 ap_list order (pending first, kernel profile ``current``)
    active irqs are pushed out
    of the LRs; an untrapped GICV_DIR for them finds no LR (GICH_HCR.EOICount) and they stay
    active (the device starves); with DIR trapped every deactivation is emulated once."""
    from irqfwd.system.build import build_system as _build

    assert _build(_overflow_cfg(), "forwarded").vms[0].vgic.options.trap_dir
    r = run_scenario(_overflow_cfg(), "forwarded", tracing=True)
    c = r.recorder.counters
    assert c["lr_spills"] > 0 and c["eoicount"] == 0
    assert c["dir_trapped"] == c["guest_irqs_handled"] - 1  # the killed last one never DIRs
    deact = [f for _, n, f in r.recorder.trace if n == "irqfwd_phys_deactivate"]
    assert all(f["source"] == "icactiver" for f in deact)
    assert len(deact) == c["host_irqs"]
    assert r.checker.by_rule() == {}
    # The same vgic ordering without DIR trapping loses deactivations.
    s = _build(_overflow_cfg(), "forwarded")
    for kvm in s.vms:  # stage 2 maps the GICV_DIR page after all: the guest's DIR does not trap
        kvm.stage2_device_pages.add((s.gic.config.gicv_base + 0x1000) >> 12)
    from irqfwd.devices.traffic import arrivals

    for w in s.devices:
        w.nic.start(arrivals(w.cfg.traffic, s.engine.rng, 0, 2_000_000))
    s.machine.run(2_000_000)
    assert s.recorder.counters["eoicount"] > 0
    assert any(s.gic.dist.is_active(48 + i) for i in range(4))


def _overflow_eoimode0_cfg() -> ScenarioConfig:
    # as _overflow_cfg, with an EOImode 0 guest: its EOIs of active irqs pushed out of the
    # LRs are counted in GICH_HCR.EOICount
    return _overflow_cfg().model_copy(update={"name": "ovf0", "guest": _overflow_cfg().guest.model_copy(
        update={"eoimode": 0})})


@pytest.mark.parametrize("gic", ["v2", "v3"])
@pytest.mark.parametrize("design", ["irqfd-resample", "vmm-irqline"])
def test_lr_overflow_eoicount_acks_level_spis(design: str, gic: str) -> None:
    """2025 ``vgic_v2_fold_lr_state`` / ``vgic_v3_fold_lr_state``: each EOI that
    GICH_HCR.EOICount / ICH_HCR_EL2.EOIcount counted is replayed as the LR
    ``vgic_v*_compute_lr`` gives the active irq, Active cleared, folded through
    ``vgic_v*_fold_lr``: a level non-HW SPI (EOI bit, no state) signals
    ``lr_signals_eoi_mi`` and runs its ack notifiers (``kvm_notify_acked_irq``: the irqfd
    resampler lowers the GSI and signals the resamplefd, VFIO unmasks INTx).  Without it the
    line stays asserted after the guest's EOI and re-fires (the checker's ``level-storm``),
    and acks go missing."""
    cfg = _overflow_eoimode0_cfg().model_copy(update={"gic": gic})
    r = run_scenario(cfg, design)
    c = r.recorder.counters
    assert c["lr_spills"] > 0 and c["eoicount"] > 0
    assert r.checker.by_rule() == {}
    # every handled interrupt's EOI is acked, but for at most one in flight per device
    assert c["guest_irqs_handled"] - len(cfg.devices) <= c["kvm_ack_irq"] <= c["guest_irqs_handled"]
    if design == "irqfd-resample":
        assert c["resamplefd_signals"] == c["kvm_ack_irq"]


def test_trapped_dir_resamples_a_mapped_level_irq() -> None:
    """2025 ``vgic_v2_deactivate``: a trapped GICV_DIR folds the LR the irq would have had,
    Active cleared, through ``vgic_v2_fold_lr``, so a HW-mapped level irq whose
    ``line_level`` was set while the guest held it active is re-sampled from the physical
    line (``vgic_irq_handle_resampling``, 3134cc8beb69): the stale level is dropped instead
    of being written into a pending HW=1 LR at the next flush."""
    s = _sys("forwarded")
    s.machine.run(200_000)
    irq = _spi(s)
    assert irq.is_mapped_level() and s.vms[0].vgic.options.resample_on_deactivation
    irq.active = True
    irq.line_level = True  # raised while active; the device has since dropped its line
    vgic_deactivate(s.vms[0].vcpus[0], irq.intid)
    assert not irq.active and not irq.line_level and not irq.irq_is_pending()
    assert s.recorder.counters["dir_trapped"] == 1


def test_bare_kick_of_a_blocked_vcpu_sleeps_again() -> None:
    """``kvm_vcpu_block`` loops until ``kvm_vcpu_check_block`` finds the vCPU runnable: a
    kick with nothing deliverable (``vgic_queue_irq_unlock`` kicks for an irq already on
    the ap_list) wakes the thread, a switch in and out, but the vCPU neither enters the
    guest nor ends its halt (no ``kvm_vcpu_wakeup``); a ``KVM_REQ_UNBLOCK`` request ends it."""
    s = build_system(_cfg().model_copy(update={"duration_ns": 10_000_000}), "forwarded")  # no traffic
    s.machine.run(2_000_000)
    v = s.vms[0].vcpus[0]
    assert v.blocked
    before = dict(s.recorder.counters)  # a copy: `counters` is updated in place
    s.engine.schedule(0, v.kvm_vcpu_kick)
    s.machine.run(3_000_000)
    c = s.recorder.counters
    assert v.blocked
    assert c.get("kvm_entries", 0) == before.get("kvm_entries", 0)
    assert c.get("vcpu_wakeups", 0) == before.get("vcpu_wakeups", 0)
    assert c["sched_switch"] == before["sched_switch"] + 1
    assert c["vcpu_block_spurious_wakeups"] == 1
    v.req_unblock = True
    s.engine.schedule(0, v.kvm_vcpu_kick)
    s.machine.run(3_100_000)
    c = s.recorder.counters
    assert c["vcpu_wakeups"] == before.get("vcpu_wakeups", 0) + 1
    assert c["kvm_entries"] > before.get("kvm_entries", 0)
    assert "vcpu_wakeups_invalid" not in c and not v.req_unblock


def test_irq_domains_resolve_the_same_hwirq_separately() -> None:
    """``irq_resolve_mapping`` per irq domain: hwirq 60 of a cascaded GIC's domain is not the
    root GIC's hwirq 60, whichever was looked up last (genirq keeps the last mapping found),
    and a hwirq with no mapping resolves to nothing (irq 0)."""
    s = _sys("irqfd-resample")
    g = s.host.genirq
    root = g.irq_create_mapping(s.host.irqchip.chip, 60)
    cascaded = g.irq_create_mapping(GicEoimode1Chip(s.machine, s.gic, cascaded=True), 60, domain=1)
    assert root != cascaded
    for _ in range(2):
        assert g.irq_find_mapping(60) == root
        assert g.irq_find_mapping(60, domain=1) == cascaded
        assert g.irq_find_mapping(61, domain=1) == 0
        assert g.irq_find_mapping(60, domain=2) == 0
