"""The host kernel instance: genirq, the GIC driver, irqbypass, the scheduler and KVM's
per-CPU set-up (the vgic maintenance PPI).

KVM requests the maintenance interrupt (GICv2 PPI ``maintenance_intid``, 25 on GIC-400 and
QEMU ``virt``) as a per-CPU irq whose handler does nothing (``vgic_maintenance_handler``):
the maintenance interrupt is only an exit trigger and all work is done at fold (§5.7).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from irqfwd.host.genirq import Genirq
from irqfwd.host.irqbypass import IrqBypassManager
from irqfwd.host.irqchip.irq_gic import GicDriver
from irqfwd.hw.machine import Machine

if TYPE_CHECKING:
    from irqfwd.host.kvm.vm import Kvm
    from irqfwd.host.sched import Scheduler

__all__ = ["HostKernel"]


class HostKernel:
    """One host Linux kernel running on the machine."""

    def __init__(self, machine: Machine, host_at_el2: bool = True) -> None:
        self.m = machine
        self._c_maint = machine.recorder.counter("maintenance_irq_host")
        self.genirq = Genirq()
        self.gic_driver = GicDriver(machine, self.genirq, host_at_el2)
        self.irqbypass = IrqBypassManager()
        self.scheduler: Scheduler | None = None
        self.vms: list[Kvm] = []
        self.gic_driver.init()
        mi = machine.gic.config.maintenance_intid
        self.maint_irq = self.gic_driver.map_ppi(mi)
        self.genirq.request_percpu_irq(self.maint_irq, self._vgic_maintenance_handler, "vgic")
        for cpu in range(machine.gic.config.num_cpus):
            self.genirq.enable_percpu_irq(self.maint_irq, cpu)
            machine.gic.dist.set_edge(mi, False, cpu)

    def _vgic_maintenance_handler(self, irq: int, dev_id: Any) -> int:
        """``vgic_maintenance_handler``: nothing to do, fold does the work."""
        self._c_maint.n += 1
        return self.m.costs.maintenance_handler_ns

    def sched(self) -> Scheduler:
        """The scheduler (set by :func:`irqfwd.system.build.build_system`)."""
        assert self.scheduler is not None
        return self.scheduler
