"""The host kernel instance: genirq, the GIC driver, irqbypass, the workqueue and the
scheduler of vCPU threads.

KVM is a module on top of it (:mod:`irqfwd.host.kvm`): it finds the GIC through the
driver's :class:`~irqfwd.host.irqchip.arm_vgic_info.GicKvmInfo` and registers its own
handlers (the vgic maintenance interrupt, the arch timer) through genirq.
"""

from __future__ import annotations

from irqfwd.config import HostConfig, SchedulerConfig
from irqfwd.host.genirq import Genirq
from irqfwd.host.irqbypass import IrqBypassManager
from irqfwd.host.irqchip import IrqchipDriver, irqchip_init
from irqfwd.host.profile import kernel_profile
from irqfwd.host.sched import Scheduler
from irqfwd.host.workqueue import Workqueue
from irqfwd.hw.machine import Machine

__all__ = ["HostKernel"]


class HostKernel:
    """One host Linux kernel running on the machine."""

    def __init__(self, machine: Machine, host_at_el2: bool = True,
                 sched_config: SchedulerConfig | None = None,
                 config: HostConfig | None = None) -> None:
        self.m = machine
        self.config = config = config or HostConfig()
        self.profile = kernel_profile(config.kernel)
        """Which Linux the host follows (:mod:`irqfwd.host.profile`)."""
        self.halt_poll_ns = (self.profile.halt_poll_ns if config.halt_poll_ns is None
                             else config.halt_poll_ns)
        """``kvm.halt_poll_ns``."""
        self.genirq = Genirq()
        self.irqchip: IrqchipDriver = irqchip_init(machine, self.genirq, host_at_el2)
        self.irqbypass = IrqBypassManager()
        self.irqchip.init()
        self.sched = Scheduler(machine, sched_config or SchedulerConfig())
        self.sched.eevdf = self.profile.eevdf
        self.wq = Workqueue(machine, self.sched)
        """``system_wq``."""
