"""The GICv3 back end of the vgic (arch/arm64/kvm/vgic/vgic-v3.c, hyp/vgic-v3-sr.c): each
test names the Linux function it checks."""

from __future__ import annotations

import pytest

from irqfwd.host.kvm.vgic_v3 import VgicV3Ops
from irqfwd.scenarios.builtin import get_scenario
from irqfwd.system.build import build_system


@pytest.mark.parametrize("lrenpie", [False, True])
def test_save_state_keeps_eoicount_only_with_lrenpie(lrenpie: bool) -> None:
    """``__vgic_v3_save_state``: ICH_HCR_EL2.EOIcount is kept for the fold
    (``vgic_v3_fold_lr_state``) only when KVM asked for LRENPIE (active irqs outside the
    LRs, ``vgic_v3_configure_hcr``)."""
    from irqfwd.host.irqchip.arm_gic_v3 import ICH_HCR_EL2_EN, ICH_HCR_EL2_LRENPIE

    s = build_system(get_scenario("msix-nic"), "its-emulated")
    s.machine.run(200_000)
    kvm = s.vms[0]
    ops = kvm.vgic.ops
    assert isinstance(ops, VgicV3Ops)
    vcpu = kvm.vcpus[0]
    cif = vcpu.vgic_cpu.vgic_v3
    assert cif is not None
    hcr = ICH_HCR_EL2_EN | (ICH_HCR_EL2_LRENPIE if lrenpie else 0)
    cif.vgic_hcr = hcr
    vcpu.vgic_cpu.used_lrs = 0
    ops.virt[0].write_hcr(hcr | 1 << 27)
    ops.save_state(vcpu, 0)
    assert vcpu.vgic_cpu.eoicount == int(lrenpie)


def test_vsgieoicount_counts_only_sgis_targeting_the_vcpu() -> None:
    """``summarize_ap_list`` counts in ``nr_sgi`` only the irqs whose
    ``vgic_target_oracle`` is this vCPU, and ``vgic_v3_configure_hcr`` sets
    ICH_HCR_EL2.vSGIEOICount when ``!als->nr_sgi``: an SGI left on the ap_list after the
    guest disabled it (pending, not active, no target until pruned) does not clear it; an
    enabled pending one does."""
    from irqfwd.host.irqchip.arm_gic_v3 import ICH_HCR_EL2_VSGIEOICOUNT
    from irqfwd.host.kvm.vgic import kvm_vgic_flush_hwstate

    s = build_system(get_scenario("msix-nic"), "its-emulated")
    s.machine.run(200_000)
    kvm = s.vms[0]
    assert kvm.vgic.options.lr_overflow == "configure_hcr"
    vcpu = kvm.vcpus[1]
    cif = vcpu.vgic_cpu.vgic_v3
    assert cif is not None
    irq = vcpu.vgic_cpu.private_irqs[3]
    irq.pending_latch = True
    irq.enabled = False
    irq.vcpu = vcpu
    vcpu.vgic_cpu.ap_list.append(irq)
    kvm_vgic_flush_hwstate(vcpu)
    assert cif.vgic_hcr & ICH_HCR_EL2_VSGIEOICOUNT
    irq.enabled = True
    kvm_vgic_flush_hwstate(vcpu)
    assert not cif.vgic_hcr & ICH_HCR_EL2_VSGIEOICOUNT
