"""KVM's use of GICv4/v4.1 direct injection (arch/arm64/kvm/vgic/vgic-v4.c).

* :func:`vgic_v4_init` (``kvm-arm.vgic_v4_enable=1`` and a GICv4 host): an ``its_vm``
  with one vPE per vCPU (``its_alloc_vcpu_irqs``), each vPE's doorbell requested with
  ``vgic_v4_doorbell_handler`` (GICv4.0: ``IRQ_NOAUTOEN | IRQ_DISABLE_UNLAZY``, enabled
  only while the vCPU blocks; GICv4.1: left enabled, the redistributor arms it).
* :func:`vgic_v4_load` / :func:`vgic_v4_put` (from ``vgic_v3_load`` / ``vgic_v3_put`` and
  ``kvm_vcpu_wfi``): ``irq_set_affinity(vpe->irq, this CPU)`` (VMOVP when the vCPU moved),
  ``its_make_vpe_resident``; GICv4.0 clears a stale doorbell; skipped while ``IN_WFI``.
  The put makes the vPE non-resident, asking for the doorbell when the vCPU is in WFI.
* :func:`vgic_v4_doorbell_handler`: GICv4.0 disables the doorbell (one per wake-up), sets
  ``pending_last`` and kicks the vCPU (``kvm_vcpu_kick``).
* :func:`kvm_vgic_v4_set_forwarding` (the irqbypass consumer's ``add_producer`` for an MSI
  route): resolve the route through the vITS (``vgic_its_resolve_lpi``), ``its_map_vlpi``
  with the LPI's priority and enable, ``irq.hw``/``host_irq``, the vPE's ``vlpi_count``,
  and the pending state moved into the hardware; :func:`kvm_vgic_v4_unset_forwarding`
  (``del_producer``) undoes it for the LPI forwarded from the producer's irq.
* GICv4.1 vSGIs: :func:`vgic_v4_configure_vsgis` when the guest changes
  GICD_CTLR.nASSGIreq: every SGI becomes a HW interrupt tied to its vPE's vSGI irq,
  configuration and pending state transferred (``vgic_v4_enable_vsgis``), or back, the
  latch taking the vPE's pending state (``vgic_v4_disable_vsgis``).
"""

from __future__ import annotations

from typing import Any, Final

from irqfwd.host.genirq import (
    IRQ_DISABLE_UNLAZY,
    IRQCHIP_STATE_PENDING,
    IRQF_NOAUTOEN,
)
from irqfwd.host.irqchip.arm_gic_v3 import (
    LPI_PROP_ENABLED,
    LPI_PROP_GROUP1,
)
from irqfwd.host.irqchip.irq_gic_v3_its import (
    ItsNode,
    ItsVlpiMap,
    ItsVm,
    ItsVpe,
    its_make_vpe_non_resident,
    its_make_vpe_resident,
    its_map_vlpi,
    its_unmap_vlpi,
)
from irqfwd.host.kvm.arm_vgic import VGIC_NR_SGIS
from irqfwd.host.kvm.kvm_host import Kvm, KvmVcpu, VgicIrq
from irqfwd.host.kvm.vgic import vgic_queue_irq_unlock
from irqfwd.host.kvm.vgic_its import KvmMsi, vgic_msi_to_its

__all__ = [
    "kvm_vgic_v4_set_forwarding",
    "kvm_vgic_v4_unset_forwarding",
    "vgic_supports_direct_msis",
    "vgic_v4_configure_vsgis",
    "vgic_v4_init",
    "vgic_v4_load",
    "vgic_v4_put",
]

_VPROP_STRIDE: Final = 0x10000


def _vpe(vcpu: KvmVcpu) -> ItsVpe | None:
    v3 = vcpu.vgic_cpu.vgic_v3
    if v3 is None:
        return None
    vpe: ItsVpe | None = v3.its_vpe
    return vpe


def vgic_supports_direct_msis(kvm: Kvm) -> bool:
    """``vgic_supports_direct_msis``: GICv4 enabled for this VM (an ``its_vm``)."""
    return kvm.its_vm is not None


class _Doorbell:
    """``vgic_v4_doorbell_handler`` bound to its vCPU (``request_irq`` dev_id)."""

    __slots__ = ("cost", "has_v4_1", "vcpu")

    def __init__(self, vcpu: KvmVcpu, has_v4_1: bool) -> None:
        self.vcpu = vcpu
        self.has_v4_1 = has_v4_1
        self.cost = vcpu.kvm.m.costs.vgic_inject_ns

    def handler(self, irq: int, dev_id: Any) -> int:
        """"We got the message, no need to fire again" (GICv4.0: disable); pending_last;
        ``kvm_make_request(KVM_REQ_IRQ_PENDING)`` + ``kvm_vcpu_kick``."""
        vcpu = self.vcpu
        kvm = vcpu.kvm
        genirq = kvm.host.genirq
        m = kvm.m
        if not self.has_v4_1 and not genirq.irq_get_irq_data(irq).irqd_irq_disabled():
            genirq.disable_irq_nosync(irq)
        vpe = _vpe(vcpu)
        if vpe is not None:
            vpe.pending_last = True
        m.recorder.count("gicv4_doorbells")
        rec = m.recorder
        if rec.wants("irqfwd_vgic_v4_doorbell"):
            rec.emit("irqfwd_vgic_v4_doorbell", vm=kvm.index, vcpu=vcpu.vcpu_id, irq=irq)
        saved = m.acc
        vcpu.kvm_vcpu_kick()
        cost = m.acc - saved
        m.acc = saved
        return self.cost + cost


def vgic_v4_init(kvm: Kvm, its: ItsNode, has_v4_1: bool) -> None:
    """``vgic_v4_init``: the VM's ``its_vm`` and one vPE per vCPU, doorbells requested."""
    genirq = kvm.host.genirq
    vm = ItsVm(0x4700_0000 + kvm.index * _VPROP_STRIDE)
    kvm.its_vm = vm
    its.its_alloc_vcpu_irqs(vm, len(kvm.vcpus), [0] * len(kvm.vcpus))
    for vcpu, vpe in zip(kvm.vcpus, vm.vpes, strict=True):
        v3 = vcpu.vgic_cpu.vgic_v3
        if v3 is None:
            raise ValueError("GICv4 needs the vgic-v3 back end")
        v3.its_vpe = vpe
        genirq.irq_set_status_flags(vpe.irq, IRQ_DISABLE_UNLAZY)
        flags = 0 if has_v4_1 else IRQF_NOAUTOEN
        genirq.request_irq(vpe.irq, _Doorbell(vcpu, has_v4_1).handler, flags, "vcpu", vcpu)


def vgic_v4_load(vcpu: KvmVcpu, cpu: int, has_v4_1: bool) -> int:
    """``vgic_v4_load``: not while ``IN_WFI``; route the vPE here (VMOVP if it moved), make
    it resident; GICv4.0 clears a doorbell left pending.  Returns the cost beyond what the
    ITS driver charged."""
    vpe = _vpe(vcpu)
    if vpe is None or vpe.resident or vcpu.in_wfi:
        return 0
    genirq = vcpu.kvm.host.genirq
    genirq.irq_set_affinity(vpe.irq, cpu)
    its_make_vpe_resident(genirq, vpe, False, vcpu.kvm.vgic.enabled, has_v4_1)
    if not has_v4_1:
        genirq.irq_set_irqchip_state(vpe.irq, IRQCHIP_STATE_PENDING, False, cpu)
    return 0


def vgic_v4_put(vcpu: KvmVcpu, has_v4_1: bool) -> int:
    """``vgic_v4_put``: make the resident vPE non-resident, with the doorbell when the vCPU
    is in WFI (``IN_WFI``)."""
    vpe = _vpe(vcpu)
    if vpe is None or not vpe.resident:
        return 0
    its_make_vpe_non_resident(vcpu.kvm.host.genirq, vpe, vcpu.in_wfi, has_v4_1)
    return 0


def kvm_vgic_v4_set_forwarding(kvm: Kvm, virq: int, msi: KvmMsi) -> int:
    """``kvm_vgic_v4_set_forwarding``: turn the LPI the MSI route resolves to into a vLPI
    of its target's vPE (``its_map_vlpi``, ``vlpi_count`` up), moving a pending latch into
    the hardware.  An MSI route to no vITS is not an error.  Since v6.16 (kernel profile
    switch ``vlpi_by_host_irq``) a route that does not translate returns 0 ("Silently exit
    if translation fails") and an LPI already forwarded is left alone; before, the
    translation error was returned and a forwarded LPI was mapped again."""
    vm = kvm.its_vm
    if not isinstance(vm, ItsVm):
        return 0
    its = vgic_msi_to_its(kvm, msi)
    if its is None:
        return 0
    v6_16 = kvm.host.profile.vlpi_by_host_irq
    ret, irq = its.vgic_its_resolve_lpi(msi.devid, msi.data)
    if ret or irq is None:
        return 0 if v6_16 else ret
    if v6_16 and irq.hw:
        return 0
    target = irq.target_vcpu
    vpe = _vpe(target) if target is not None else None
    if vpe is None:
        return 0
    props = (irq.priority & 0xFC) | (LPI_PROP_ENABLED if irq.enabled else 0) | LPI_PROP_GROUP1
    genirq = kvm.host.genirq
    ret = its_map_vlpi(genirq, virq, ItsVlpiMap(vm, vpe, irq.intid, props, True))
    if ret:
        return ret
    irq.hw = True
    irq.host_irq = virq
    vpe.vlpi_count += 1
    if irq.pending_latch:
        genirq.irq_set_irqchip_state(virq, IRQCHIP_STATE_PENDING, True, kvm.current_pcpu())
        irq.pending_latch = False
        vgic_queue_irq_unlock(kvm, irq)
    return 0


def _vgic_host_irq_get_vlpi(kvm: Kvm, host_irq: int) -> VgicIrq | None:
    """``__vgic_host_irq_get_vlpi``: the LPI forwarded from ``host_irq`` (``lpi_xa`` walk)."""
    for irq in kvm.vgic.lpis.values():
        if irq.hw and irq.host_irq == host_irq:
            return irq
    return None


def kvm_vgic_v4_unset_forwarding(kvm: Kvm, host_irq: int, msi: KvmMsi) -> None:
    """``kvm_vgic_v4_unset_forwarding``: the vLPI goes back to the host (``its_unmap_vlpi``,
    its target's ``vlpi_count`` down, ``irq.hw`` cleared).

    Since v6.16 (``vlpi_by_host_irq``; Linux's signature is then ``(kvm, host_irq)``) the
    LPI is the one forwarded from ``host_irq`` (``__vgic_host_irq_get_vlpi``), whatever the
    vITS's state; none, nothing to do.  Before, the route ``msi`` was translated through
    the vITS (``vgic_its_resolve_lpi``: nothing happens while it does not translate) and a
    forwarded LPI was unmapped even when its ``host_irq`` was another irq
    (``WARN_ON(!(irq->hw && irq->host_irq == virq))``, then ``its_unmap_vlpi(virq)``)."""
    if not vgic_supports_direct_msis(kvm):
        return
    irq: VgicIrq | None
    if kvm.host.profile.vlpi_by_host_irq:
        irq = _vgic_host_irq_get_vlpi(kvm, host_irq)
    else:
        its = vgic_msi_to_its(kvm, msi)
        if its is None:
            return
        ret, irq = its.vgic_its_resolve_lpi(msi.devid, msi.data)
        if ret:
            return
    if irq is None or not irq.hw:
        return
    target = irq.target_vcpu
    vpe = _vpe(target) if target is not None else None
    if vpe is not None:
        vpe.vlpi_count -= 1
    irq.hw = False
    its_unmap_vlpi(kvm.host.genirq, host_irq)


def vgic_v4_configure_vsgis(kvm: Kvm) -> None:
    """``vgic_v4_configure_vsgis``: with nASSGIreq every SGI of every vCPU is injected
    directly (``vgic_v4_enable_vsgis``), without it through the LRs again
    (``vgic_v4_disable_vsgis``)."""
    for vcpu in kvm.vcpus:
        if kvm.vgic.nassgireq:
            _enable_vsgis(kvm, vcpu)
        else:
            _disable_vsgis(kvm, vcpu)


def _enable_vsgis(kvm: Kvm, vcpu: KvmVcpu) -> None:
    """``vgic_v4_enable_vsgis``: ``hw``, ``host_irq`` = the vPE's vSGI irq, the full state
    transferred to the vPE: configuration (``vgic_v4_sync_sgi_config``: enable, group,
    priority) written by the activation (``irq_domain_activate_irq``: VSGI), then the
    pending state (``irq_set_irqchip_state``: GITS_SGIR when latched, VSGI Clear when not);
    the latch is cleared."""
    vpe = _vpe(vcpu)
    if vpe is None or not vpe.sgi_irqs:
        return
    genirq = kvm.host.genirq
    cpu = kvm.current_pcpu()
    for i in range(VGIC_NR_SGIS):
        irq = vcpu.vgic_cpu.private_irqs[i]
        if irq.hw:
            continue
        irq.hw = True
        irq.host_irq = vpe.sgi_irqs[i]
        vpe.sgi_config[i] = [irq.priority, irq.group, 1 if irq.enabled else 0]
        if genirq.irq_domain_activate_irq(irq.host_irq) == 0:
            genirq.irq_set_irqchip_state(irq.host_irq, IRQCHIP_STATE_PENDING, irq.pending_latch, cpu)
            irq.pending_latch = False


def _disable_vsgis(kvm: Kvm, vcpu: KvmVcpu) -> None:
    """``vgic_v4_disable_vsgis``: the SGIs go back to software injection: the latch takes the
    vPE's pending state (``irq_get_irqchip_state``, overwritten, not merged), then the
    deactivation (``irq_domain_deactivate_irq``) disables the vSGI and clears its pending
    state in the vPE."""
    vpe = _vpe(vcpu)
    if vpe is None:
        return
    genirq = kvm.host.genirq
    cpu = kvm.current_pcpu()
    for i in range(VGIC_NR_SGIS):
        irq = vcpu.vgic_cpu.private_irqs[i]
        if not irq.hw:
            continue
        irq.hw = False
        _, pending = genirq.irq_get_irqchip_state(irq.host_irq, IRQCHIP_STATE_PENDING, cpu)
        irq.pending_latch = pending
        genirq.irq_domain_deactivate_irq(irq.host_irq)
