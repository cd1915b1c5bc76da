"""vgic initialisation (arch/arm64/kvm/vgic/vgic-init.c): ``kvm_vgic_hyp_init``.

KVM learns about the host GIC only from the driver's ``gic_kvm_info``: its type selects
the back end (GICv2: ``vgic_v2_probe`` reads GICH_VTR for the number of list registers;
GICv3: ``vgic_v3_probe`` reads ICH_VTR_EL2),
and its maintenance interrupt is requested as a per-CPU irq whose handler does nothing
(``vgic_maintenance_handler``): the maintenance interrupt only makes the vCPU exit, and the
work is done at fold.
"""

from __future__ import annotations

from typing import Any

from irqfwd.host.irqchip.arm_vgic_info import GIC_V2, GIC_V3
from irqfwd.host.kernel import HostKernel
from irqfwd.host.kvm.kvm_host import VgicGlobalState, VgicOps
from irqfwd.host.kvm.vgic_v2 import VgicV2Ops, vgic_v2_probe
from irqfwd.host.kvm.vgic_v3 import VgicV3Ops, vgic_v3_probe
from irqfwd.hw.gicv3.gic import GICv3

__all__ = ["kvm_vgic_hyp_init"]


class _MaintenanceHandler:
    """``vgic_maintenance_handler``: counts the interrupt, costs ``maintenance_handler_ns``."""

    __slots__ = ("_c_maint", "_cost")

    def __init__(self, host: HostKernel) -> None:
        self._c_maint = host.m.recorder.counter("maintenance_irq_host")
        self._cost = host.m.costs.maintenance_handler_ns

    def handler(self, irq: int, dev_id: Any) -> int:
        self._c_maint.n += 1
        return self._cost


def kvm_vgic_hyp_init(host: HostKernel) -> VgicGlobalState:
    """``kvm_vgic_hyp_init``: probe the back end from ``gic_kvm_info`` and request the
    maintenance interrupt on every CPU (level-sensitive)."""
    info = host.irqchip.kvm_info
    ops: VgicOps
    if info.type == GIC_V2:
        nr_lr = vgic_v2_probe(info)
        ops = VgicV2Ops(host.m, info, nr_lr)
    elif info.type == GIC_V3 and isinstance(host.m.gic, GICv3):
        nr_lr, nr_apr = vgic_v3_probe(host.m.gic)
        ops = VgicV3Ops(host.m, info, nr_lr, nr_apr)
    else:
        raise ValueError(f"no vgic back end for {info.type}")
    glob = VgicGlobalState(info.type, nr_lr, info.maint_irq, ops, info.no_hw_deactivation)
    genirq = host.genirq
    maint = info.maint_irq
    genirq.request_percpu_irq(maint, _MaintenanceHandler(host).handler, "vgic")
    hwirq = genirq.irq_get_irq_data(maint).hwirq
    for cpu in range(len(host.m.pcpus)):
        genirq.enable_percpu_irq(maint, cpu)
        host.irqchip.set_ppi_type(hwirq, False, cpu)
    return glob
