"""The host's interrupt-controller drivers (``drivers/irqchip/``), one per GIC version.

Every driver offers the :class:`~irqfwd.host.irqchip.driver.IrqchipDriver` interface to the
rest of the host kernel and, like Linux's ``gic_set_kvm_info``, fills a
:class:`~irqfwd.host.irqchip.arm_vgic_info.GicKvmInfo` record from which KVM picks its vgic
back end (``kvm_vgic_hyp_init``).  :func:`irqchip_init` probes the machine's GIC
(``IRQCHIP_DECLARE`` matching) and returns its driver.
"""

from __future__ import annotations

from irqfwd.host.genirq import Genirq
from irqfwd.host.irqchip.driver import IrqchipDriver
from irqfwd.host.irqchip.irq_gic import GicDriver
from irqfwd.host.irqchip.irq_gic_v3 import GicV3Driver
from irqfwd.hw.machine import Machine

__all__ = ["IrqchipDriver", "irqchip_init"]


def irqchip_init(machine: Machine, genirq: Genirq, host_at_el2: bool) -> IrqchipDriver:
    """Probe the machine's GIC and return its driver (``irqchip_init`` → ``gic_of_init``)."""
    version = machine.gic.version
    if version == 2:
        return GicDriver(machine, genirq, host_at_el2)
    if version == 3:
        return GicV3Driver(machine, genirq, host_at_el2)
    raise ValueError(f"no host driver for a GICv{version}")
