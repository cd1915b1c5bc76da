"""KVM's GICv4.1 vSGIs (arch/arm64/kvm/vgic/vgic-v4.c) over the host ITS driver's
``its_sgi_irq_chip``: each test names the Linux function it checks."""

from __future__ import annotations

from irqfwd.host.genirq import IRQCHIP_STATE_PENDING
from irqfwd.host.kvm.kvm_host import Kvm, KvmVcpu
from irqfwd.host.kvm.vgic_v4 import vgic_v4_configure_vsgis
from irqfwd.scenarios.builtin import get_scenario
from irqfwd.system.build import System, build_system


def _vsgis() -> tuple[System, Kvm, KvmVcpu]:
    """ipi-vsgi under gicv41-vsgi once the guest has set GICD_CTLR.nASSGIreq: every SGI of
    every vCPU is a vSGI of its vPE (``vgic_v4_enable_vsgis``)."""
    s = build_system(get_scenario("ipi-vsgi"), "gicv41-vsgi")
    s.machine.run(1_000_000)
    kvm = s.vms[0]
    assert kvm.vgic.nassgireq
    vcpu = kvm.vcpus[1]
    assert all(irq.hw for irq in vcpu.vgic_cpu.private_irqs[:16])
    return s, kvm, vcpu


def _vpe_pending(s: System, kvm: Kvm, vcpu: KvmVcpu, intid: int) -> bool:
    """The vSGI's pending bit in the vPE (``its_sgi_get_irqchip_state``: GICR_VSGIPENDR)."""
    vpe = vcpu.vgic_cpu.vgic_v3.its_vpe
    ret, pending = s.host.genirq.irq_get_irqchip_state(vpe.sgi_irqs[intid], IRQCHIP_STATE_PENDING,
                                                       kvm.current_pcpu())
    assert ret == 0
    return pending


def test_disable_vsgis_takes_the_pending_state_from_the_vpe() -> None:
    """``vgic_v4_disable_vsgis``: ``irq_get_irqchip_state(IRQCHIP_STATE_PENDING,
    &irq->pending_latch)`` overwrites the latch with the vPE's pending state (a latch set
    while the SGI was a vSGI is dropped, not merged), then ``irq_domain_deactivate_irq``
    (``its_sgi_irq_domain_deactivate``) disables the vSGI in the vPE and clears its
    pending state (two VSGI commands)."""
    s, kvm, vcpu = _vsgis()
    irqs = vcpu.vgic_cpu.private_irqs
    vpe = vcpu.vgic_cpu.vgic_v3.its_vpe
    s.host.genirq.irq_set_irqchip_state(irqs[9].host_irq, IRQCHIP_STATE_PENDING, True,
                                        kvm.current_pcpu())
    assert _vpe_pending(s, kvm, vcpu, 9)
    irqs[10].pending_latch = True
    kvm.vgic.nassgireq = False
    vgic_v4_configure_vsgis(kvm)
    assert not any(irq.hw for irq in irqs[:16])
    assert irqs[9].pending_latch and not irqs[10].pending_latch
    assert not any(_vpe_pending(s, kvm, vcpu, i) for i in range(16))
    assert all(cfg[2] == 0 for cfg in vpe.sgi_config)  # VSGI with the enable clear


def test_enable_vsgis_transfers_the_full_state() -> None:
    """``vgic_v4_enable_vsgis``: ``vgic_v4_sync_sgi_config`` (enable, group, priority) then
    ``irq_domain_activate_irq`` (``its_sgi_irq_domain_activate``: "Write out the initial SGI
    configuration"), then the latch into the vPE (``irq_set_irqchip_state``) and cleared:
    a vSGI enabled in the vgic is enabled in the vPE again after a round trip."""
    s, kvm, vcpu = _vsgis()
    irqs = vcpu.vgic_cpu.private_irqs
    vpe = vcpu.vgic_cpu.vgic_v3.its_vpe
    kvm.vgic.nassgireq = False
    vgic_v4_configure_vsgis(kvm)
    irqs[5].pending_latch = True
    irqs[6].enabled = False
    kvm.vgic.nassgireq = True
    vgic_v4_configure_vsgis(kvm)
    assert all(irq.hw and not irq.pending_latch for irq in irqs[:16])
    assert _vpe_pending(s, kvm, vcpu, 5) and not _vpe_pending(s, kvm, vcpu, 4)
    assert [cfg[2] for cfg in vpe.sgi_config] == [int(irq.enabled) for irq in irqs[:16]]
    assert vpe.sgi_config[6][2] == 0 and vpe.sgi_config[5][2] == 1
