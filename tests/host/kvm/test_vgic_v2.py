"""The GICv2 back end of the vgic (arch/arm64/kvm/vgic/vgic-v2.c): each test names the
Linux function it checks."""

from __future__ import annotations

import pytest

from irqfwd.host.irqchip.arm_gic import GICH_VMCR_EOI_MODE_MASK
from irqfwd.host.kvm.kvm_host import Kvm, KvmVcpu
from irqfwd.host.kvm.vgic_v2 import VgicV2Ops
from irqfwd.scenarios.builtin import get_scenario
from irqfwd.system.build import build_system


def _vcpu(eoimode: int) -> tuple[Kvm, KvmVcpu, VgicV2Ops]:
    """nic-level under forwarded on the current kernel (GICV_DIR trapped), the guest's
    GICH_VMCR.VEM set to ``eoimode``."""
    s = build_system(get_scenario("nic-level"), "forwarded")
    s.machine.run(200_000)
    kvm = s.vms[0]
    ops = kvm.vgic.ops
    assert isinstance(ops, VgicV2Ops) and kvm.vgic.options.trap_dir
    vcpu = kvm.vcpus[0]
    cpuif = vcpu.vgic_cpu.vgic_v2
    assert cpuif is not None
    vmcr = (cpuif.vgic_vmcr & ~GICH_VMCR_EOI_MODE_MASK) | (GICH_VMCR_EOI_MODE_MASK if eoimode else 0)
    cpuif.vgic_vmcr = vmcr
    if vcpu.cpu is not None:
        ops.vctrl[vcpu.cpu.index].write_vmcr(vmcr)
    return kvm, vcpu, ops


@pytest.mark.parametrize("eoimode", [0, 1])
def test_trapped_dir_only_with_eoimode_1(eoimode: int) -> None:
    """``vgic_v2_deactivate``: "We only deal with DIR when EOIMode==1" -- with GICH_VMCR.VEM
    clear a trapped GICV_DIR write deactivates nothing."""
    _, vcpu, ops = _vcpu(eoimode)
    irq = vcpu.vgic_cpu.private_irqs[5]
    irq.active = True
    irq.active_source = 0
    ops.deactivate(vcpu, 5)
    assert irq.active is (eoimode == 0)


def test_trapped_dir_of_an_sgi_needs_its_source_cpuid() -> None:
    """``vgic_v2_deactivate``: "SGI: check that the cpuid matches" -- GICV_DIR's CPUID field
    (bits [12:10]) is taken out of the INTID and must be the source the SGI is active from
    (``active_source``); another source's DIR leaves it active."""
    _, vcpu, ops = _vcpu(1)
    irq = vcpu.vgic_cpu.private_irqs[3]
    irq.active = True
    irq.active_source = 1
    ops.deactivate(vcpu, 2 << 10 | 3)
    assert irq.active
    ops.deactivate(vcpu, 1 << 10 | 3)
    assert not irq.active


@pytest.mark.parametrize("lrenpie", [False, True])
def test_save_state_keeps_eoicount_only_with_lrenpie(lrenpie: bool) -> None:
    """``vgic_v2_save_state``: GICH_HCR.EOICount is kept for the fold
    (``vgic_v2_fold_lr_state``) only when KVM asked for LRENPIE, i.e. when active irqs
    stayed out of the LRs (``vgic_v2_configure_hcr``); otherwise an EOI that matched no LR
    deactivates nothing."""
    from irqfwd.host.irqchip.arm_gic import GICH_HCR_EN, GICH_HCR_EOICOUNT_SHIFT, GICH_HCR_LRENPIE

    _, vcpu, ops = _vcpu(0)
    cpuif = vcpu.vgic_cpu.vgic_v2
    assert cpuif is not None
    hcr = GICH_HCR_EN | (GICH_HCR_LRENPIE if lrenpie else 0)
    cpuif.vgic_hcr = hcr
    vcpu.vgic_cpu.used_lrs = 0
    ops.vctrl[0].write_hcr(hcr | 1 << GICH_HCR_EOICOUNT_SHIFT)
    ops.save_state(vcpu, 0)
    assert vcpu.vgic_cpu.eoicount == int(lrenpie)
