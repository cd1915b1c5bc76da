"""The guest kernel's GICv2 driver (Linux ``drivers/irqchip/irq-gic.c`` inside the VM).

The guest sees a GICv2 at the addresses its device tree gives: the distributor (emulated
by KVM: every access traps, ``DABT_LOW``) and the CPU interface, which KVM maps to the
GICV frame of whichever pCPU runs the vCPU.  Whether the GICV_DIR page is mapped is the
stage-2 table's business (:attr:`~irqfwd.hw.machine.GuestContext.stage2_device_pages`):
a DIR write to an unmapped page traps like any other unmapped access.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from irqfwd.guest.gic import GuestGic
from irqfwd.host.irqchip.arm_gic import (
    GIC_CPU_CTRL_EOIMODENS,
    GIC_CPU_DEACTIVATE,
    GIC_DIST_CONFIG,
    GIC_DIST_CTRL,
    GIC_DIST_ENABLE_CLEAR,
    GIC_DIST_ENABLE_SET,
    GIC_DIST_PRI,
    GIC_DIST_TARGET,
    GICC_ENABLE,
    GICC_INT_PRI_THRESHOLD,
    GICD_ENABLE,
    GICD_INT_DEF_PRI,
)
from irqfwd.hw.gicv2.vcpu_interface import VcpuInterface
from irqfwd.hw.machine import Step

if TYPE_CHECKING:
    from irqfwd.host.kvm.vcpu import Vcpu

__all__ = ["GUEST_PRIO", "GicV2GuestDriver", "MmioOp"]

GUEST_PRIO: Final = GICD_INT_DEF_PRI
"""Priority the guest gives its interrupts (``GICD_INT_DEF_PRI``)."""

MmioOp = tuple[int, int, int]
"""A trapped distributor write: (guest physical address, value, size)."""


class GicV2GuestDriver(GuestGic):
    """The guest's GICv2 driver: its register accesses, direct (GICV) or trapped (GICD)."""

    def __init__(self, vcpu_ifs: list[VcpuInterface], dist_base: int, cpu_base: int,
                 eoimode1: bool) -> None:
        super().__init__(0x3FF)  # GICC_IAR.InterruptID [9:0]
        self.vcpu_ifs = vcpu_ifs
        """The GICV frame of each pCPU (the guest's GICC address maps to the running one)."""
        self.dist_base = dist_base
        self.cpu_base = cpu_base
        self.eoimode1 = eoimode1
        self.dir_addr = cpu_base + GIC_CPU_DEACTIVATE
        self._dir_page = self.dir_addr >> 12

    # ---------------------------------------------------------------- boot
    def cpu_init(self, cpu: int) -> int:
        """``gic_cpu_init`` on the GICV of ``cpu``: PMR, then GICC_CTLR with EOImode; the
        number of register accesses (no exit: the page is mapped)."""
        vif = self.vcpu_ifs[cpu]
        vif.write_pmr(GICC_INT_PRI_THRESHOLD)
        vif.write_ctlr(GICC_ENABLE | (GIC_CPU_CTRL_EOIMODENS if self.eoimode1 else 0))
        return 2

    def cpu_boot_ops(self, vcpu: int) -> list[MmioOp]:
        """Nothing per vCPU beyond :meth:`cpu_init`: the banked GICD registers are set up by
        the PPI requests."""
        return []

    def dist_init_ops(self, irqs: Iterable[tuple[int, bool, int]]) -> list[MmioOp]:
        """``gic_dist_init`` + ``request_irq`` for ``(vintid, edge, vcpu)`` each: GICD_CTLR off,
        GICD_ICFGR, GICD_IPRIORITYR, GICD_ITARGETSR, GICD_CTLR on, then GICD_ISENABLER."""
        irqs = list(irqs)
        d = self.dist_base
        ops: list[MmioOp] = [(d + GIC_DIST_CTRL, 0, 4)]
        by_word: dict[int, int] = {}
        for vintid, edge, _ in irqs:
            if edge:
                word = vintid // 16
                by_word[word] = by_word.get(word, 0) | (2 << (2 * (vintid % 16)))
            else:
                by_word.setdefault(vintid // 16, 0)
        for word, val in sorted(by_word.items()):
            ops.append((d + GIC_DIST_CONFIG + 4 * word, val, 4))
        for vintid, _, vcpu in irqs:
            ops.append((d + GIC_DIST_PRI + vintid, GUEST_PRIO, 1))
            ops.append((d + GIC_DIST_TARGET + vintid, 1 << vcpu, 1))
        ops.append((d + GIC_DIST_CTRL, GICD_ENABLE, 4))
        for vintid, _, _ in irqs:
            ops.append(self.unmask_op(vintid))
        return ops

    def percpu_irq_ops(self, vintid: int, prio: int, vcpu: int = 0) -> list[MmioOp]:
        """``request_percpu_irq`` + ``enable_percpu_irq`` of a PPI on the calling vCPU
        (banked: the same addresses for every ``vcpu``): its priority byte, then its
        GICD_ISENABLER0 bit."""
        d = self.dist_base
        return [(d + GIC_DIST_PRI + vintid, prio, 1), (d + GIC_DIST_ENABLE_SET, 1 << vintid, 4)]

    def mask_op(self, vintid: int) -> MmioOp:
        """``gic_mask_irq``: the GICD_ICENABLER write."""
        return (self.dist_base + GIC_DIST_ENABLE_CLEAR + 4 * (vintid // 32), 1 << (vintid % 32), 4)

    def unmask_op(self, vintid: int) -> MmioOp:
        """``gic_unmask_irq``: the GICD_ISENABLER write."""
        return (self.dist_base + GIC_DIST_ENABLE_SET + 4 * (vintid // 32), 1 << (vintid % 32), 4)

    # ---------------------------------------------------------------- IRQ path
    def read_iar(self, cpu: int) -> int:
        """GICC_IAR (the GICV_IAR of ``cpu``)."""
        return self.vcpu_ifs[cpu].read_iar()

    def write_eoir(self, cpu: int, iar: int) -> None:
        """GICC_EOIR: priority drop (and deactivation in EOImode 0)."""
        self.vcpu_ifs[cpu].write_eoir(iar)

    def dir_is_mapped(self, vcpu: Vcpu) -> bool:
        """Whether stage 2 maps the GICC_DIR page (else a DIR write traps)."""
        return self._dir_page in vcpu.ctx.stage2_device_pages

    def write_dir(self, cpu: int, iar: int) -> None:
        """GICC_DIR through the mapped page (the GICV_DIR of ``cpu``)."""
        self.vcpu_ifs[cpu].write_dir(iar)

    def trap_dir(self, vcpu: Vcpu, iar: int, cont: Step) -> int:
        """A GICC_DIR write to the unmapped page: a ``DABT_LOW`` exit."""
        return vcpu.trap_mmio(self.dir_addr, iar, 4, True, cont)
