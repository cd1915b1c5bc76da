"""What the version-neutral guest kernel (:mod:`irqfwd.guest.kernel`) asks of its GIC
driver: :mod:`irqfwd.guest.gic_v2` (GICV frame, trapped GICD) or
:mod:`irqfwd.guest.gic_v3` (ICV system registers, trapped GICD/GICR/GITS).

:class:`GuestGic` is a base class the drivers derive from, not a ``Protocol``: in the
compiled build a call through it is a native method call (a protocol-typed call is a
generic Python call, with its arguments boxed and parsed, on every acknowledge and EOI)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from irqfwd._mypyc import mypyc_attr
from irqfwd.hw.machine import Step

if TYPE_CHECKING:
    from irqfwd.host.kvm.vcpu import Vcpu

__all__ = ["GuestGic", "MmioOp"]

MmioOp = tuple[int, int, int]
"""A boot write: (guest physical address, value, size); an address in guest RAM is a plain
store, any other a trapped MMIO write."""


@mypyc_attr(allow_interpreted_subclasses=True)
class GuestGic:
    """The guest's GIC driver (see the module docstring); every method is the driver's."""

    def __init__(self, intid_mask: int) -> None:
        self.intid_mask = intid_mask
        """The INTID field of an IAR value (GICv2: [9:0], GICv3: [23:0])."""

    def cpu_init(self, cpu: int) -> int:
        """The CPU interface set-up on pCPU ``cpu``; the number of (untrapped) accesses."""
        raise NotImplementedError

    def cpu_boot_ops(self, vcpu: int) -> list[MmioOp]:
        """Trapped writes vCPU ``vcpu`` makes for its own interface at boot."""
        raise NotImplementedError

    def dist_init_ops(self, irqs: Iterable[tuple[int, bool, int]]) -> list[MmioOp]:
        """vCPU 0's distributor (and ITS) set-up for ``(vintid, edge, vcpu)`` each."""
        raise NotImplementedError

    def percpu_irq_ops(self, vintid: int, prio: int, vcpu: int = 0) -> list[MmioOp]:
        """``request_percpu_irq`` + ``enable_percpu_irq`` of a PPI on ``vcpu``."""
        raise NotImplementedError

    def mask_op(self, vintid: int) -> MmioOp:
        """``irq_mask`` of an SPI."""
        raise NotImplementedError

    def unmask_op(self, vintid: int) -> MmioOp:
        """``irq_unmask`` of an SPI."""
        raise NotImplementedError

    def read_iar(self, cpu: int) -> int:
        """Acknowledge (GICV_IAR / ICV_IAR1_EL1) on pCPU ``cpu``."""
        raise NotImplementedError

    def write_eoir(self, cpu: int, iar: int) -> None:
        """End of interrupt (GICV_EOIR / ICV_EOIR1_EL1)."""
        raise NotImplementedError

    def dir_is_mapped(self, vcpu: Vcpu) -> bool:
        """A deactivation does not trap."""
        raise NotImplementedError

    def write_dir(self, cpu: int, iar: int) -> None:
        """Deactivation without a trap (GICV_DIR / ICV_DIR_EL1)."""
        raise NotImplementedError

    def trap_dir(self, vcpu: Vcpu, iar: int, cont: Step) -> int:
        """A trapped deactivation (an exit)."""
        raise NotImplementedError
