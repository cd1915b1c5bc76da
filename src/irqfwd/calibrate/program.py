"""Bare-metal guest programs for the micro-benchmarks (the kvm-unit-tests way).

:class:`GuestProgram` is a step chain on one vCPU (steps as in :mod:`irqfwd.guest.kernel`)
that starts at :meth:`GuestProgram._setup` and takes its virtual IRQs at
:meth:`GuestProgram._irq`; it programs the GICv2 virtual CPU interface directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from irqfwd.host.irqchip.arm_gic import GICC_ENABLE, GICC_INT_PRI_THRESHOLD
from irqfwd.host.kvm.vcpu import Vcpu
from irqfwd.system.build import System

__all__ = ["GuestProgram"]

GICV_CTLR_ENABLE: Final = GICC_ENABLE
GUEST_PMR: Final = GICC_INT_PRI_THRESHOLD


class GuestProgram:
    """Base of the micro-benchmark guest programs: a step chain on one vCPU (steps as in
    :mod:`irqfwd.guest.kernel`) that starts at :meth:`_setup` and takes its virtual IRQs
    at :meth:`_irq`."""

    def __init__(self, system: System, vcpu: Vcpu) -> None:
        self.s = system
        self.vcpu = vcpu
        self.gic = system.gic
        self.costs = system.costs
        self.engine = system.engine
        vcpu.ctx.guest_next = self._setup
        vcpu.ctx.guest_irq_step = self._irq

    def _cpu(self) -> int:
        cpu = self.vcpu.cpu
        assert cpu is not None
        return cpu.index

    def _set_next(self, step: Callable[[], int] | None) -> None:
        cpu = self.vcpu.cpu
        assert cpu is not None
        cpu.next = step

    def _gicv_init(self) -> int:
        """Linux ``gic_cpu_init`` on GICV: GICV_PMR, then GICV_CTLR.Enable; returns the cost."""
        vif = self.gic.vcpu_if[self._cpu()]
        vif.write_pmr(GUEST_PMR)
        vif.write_ctlr(GICV_CTLR_ENABLE)
        return 2 * self.costs.gicv_access_ns

    def _setup(self) -> int:
        """The program's first step."""
        raise NotImplementedError

    def _irq(self) -> int:
        """The guest's IRQ vector."""
        raise NotImplementedError
