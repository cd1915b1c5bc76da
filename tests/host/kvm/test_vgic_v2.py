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
