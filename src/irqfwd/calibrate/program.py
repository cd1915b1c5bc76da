"""Bare-metal guest programs for the micro-benchmarks (the kvm-unit-tests way).

:class:`GuestProgram` is a step chain on one vCPU (steps as in :mod:`irqfwd.guest.kernel`)
that starts at :meth:`GuestProgram._setup` and takes its virtual IRQs at
:meth:`GuestProgram._irq`; it programs the guest's CPU interface directly: the GICv2
virtual CPU interface (GICV), or on a GICv3 the ICV_*_EL1 system registers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from irqfwd.host.irqchip.arm_gic import GICC_ENABLE, GICC_INT_PRI_THRESHOLD
from irqfwd.host.kvm.vcpu import Vcpu
from irqfwd.hw.gicv3.gic import GICv3
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
        self.gic3: GICv3 | None = system.gic if isinstance(system.gic, GICv3) else None
        """The GICv3 (ICV_*_EL1), or None on a GICv2 (GICV)."""
        self.intid_mask = 0xFF_FFFF if self.gic3 is not None else 0x3FF
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
        """Linux ``gic_cpu_init`` on the virtual CPU interface: GICV_PMR then
        GICV_CTLR.Enable (GICv3: ICV_PMR_EL1 then ICV_IGRPEN1_EL1); returns the cost."""
        g3 = self.gic3
        if g3 is not None:
            v = g3.virt[self._cpu()]
            v.icv_write_pmr(GUEST_PMR)
            v.icv_write_igrpen(1, 1)
            return 2 * self.costs.gicv_access_ns
        vif = self.s.gic.vcpu_if[self._cpu()]  # type: ignore[union-attr]
        vif.write_pmr(GUEST_PMR)
        vif.write_ctlr(GICV_CTLR_ENABLE)
        return 2 * self.costs.gicv_access_ns

    def _iar(self) -> int:
        """GICV_IAR / ICV_IAR1_EL1 on the vCPU's pCPU."""
        g3 = self.gic3
        if g3 is not None:
            return g3.virt[self._cpu()].icv_acknowledge(1)
        return int(self.s.gic.vcpu_if[self._cpu()].read_iar())  # type: ignore[union-attr]

    def _eoir(self, iar: int) -> None:
        """GICV_EOIR / ICV_EOIR1_EL1."""
        g3 = self.gic3
        if g3 is not None:
            g3.virt[self._cpu()].icv_eoi(iar, 1)
            return
        self.s.gic.vcpu_if[self._cpu()].write_eoir(iar)  # type: ignore[union-attr]

    def _setup(self) -> int:
        """The program's first step."""
        raise NotImplementedError

    def _irq(self) -> int:
        """The guest's IRQ vector."""
        raise NotImplementedError
