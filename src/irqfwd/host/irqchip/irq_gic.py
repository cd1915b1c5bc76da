"""The host GICv2 driver, after Linux ``drivers/irqchip/irq-gic.c`` (lineage §4.2).

* :func:`gic_check_eoimode`: split EOI/deactivate (EOImode 1, ``supports_deactivate_key``)
  only when the host booted at EL2/HYP and the CPU interface is at least 8 KiB.
* :class:`GicChip` (``gic_chip``, EOImode 0): ``irq_eoi`` writes GICC_EOIR; no
  ``irq_set_vcpu_affinity`` (forwarding then fails with -ENOSYS).
* :class:`GicEoimode1Chip` (``gic_eoimode1_chip``): ``irq_eoi`` writes GICC_DIR unless the
  irq is forwarded to a vCPU; ``irq_mask`` masks and, if forwarded, also clears the active
  state; ``irq_set_vcpu_affinity`` sets/clears ``IRQD_FORWARDED_TO_VCPU`` and rejects SGIs
  and interrupts of a cascaded GIC.
* :class:`GicDriver`: distributor/CPU-interface init and ``gic_handle_irq`` as a pCPU step
  (:meth:`GicDriver.handle_irq_step`): read GICC_IAR; INTID ≥ 1020 ends the loop and is never
  EOI'd; SGIs get EOIR (+ DIR in EOImode 1) at once; INTIDs 16..1019 in EOImode 1 get EOIR
  (priority drop) *before* the flow handler, whose ``irq_eoi`` then deactivates.  That
  ``irq_eoi`` is executed as the following step, i.e. after the cost of the IAR, EOIR and
  flow handler (a step's effects happen at its start; ``docs/designs.md``, modelling notes).

Every GIC access goes through the real :class:`irqfwd.hw.gicv2.GICv2` model and charges
``gicc_access_ns`` / ``gicd_access_ns``.  Counters: ``host_irqs`` (every acknowledged
INTID < 1020), ``host_irqs_spurious``; trace ``host_irq_entry`` (intid, cpu).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from irqfwd.host.genirq import (
    EINVAL,
    IRQCHIP_STATE_ACTIVE,
    IRQCHIP_STATE_MASKED,
    IRQCHIP_STATE_PENDING,
    IRQD_FORWARDED_TO_VCPU,
    Genirq,
    IrqChip,
    IrqData,
)
from irqfwd.hw.machine import Machine, PhysCpu, Step

__all__ = [
    "GICC_CTLR_EOIMODENS",
    "GIC_DIST_SOFTINT",
    "IPI_RESCHEDULE",
    "GicChip",
    "GicDriver",
    "GicEoimode1Chip",
    "gic_check_eoimode",
]

GIC_DIST_CTRL: Final = 0x000
GIC_DIST_SOFTINT: Final = 0xF00
GIC_CPU_CTRL: Final = 0x00
GIC_CPU_PRIMASK: Final = 0x04
GICC_CTLR_ENABLE: Final = 1 << 0
GICC_CTLR_EOIMODENS: Final = 1 << 9
"""``GIC_CPU_CTRL_EOImodeNS``: bit 9 of the (Non-secure view of) GICC_CTLR."""
GICC_INT_PRI_THRESHOLD: Final = 0xF0
GICD_INT_DEF_PRI: Final = 0xA0
IPI_RESCHEDULE: Final = 0
"""SGI used for ``smp_send_reschedule`` (arm64 ``IPI_RESCHEDULE``)."""


def gic_check_eoimode(host_at_el2: bool, gicc_size: int = 0x2000) -> bool:
    """``gic_check_eoimode``: EOImode 1 only when booted at HYP with an 8 KiB GICC (§4.2)."""
    return host_at_el2 and gicc_size >= 0x2000


class GicChip(IrqChip):
    """``gic_chip`` (EOImode 0): mask/unmask via GICD_I[CS]ENABLER, EOI via GICC_EOIR."""

    name = "GIC"

    def __init__(self, machine: Machine, cascaded: bool = False) -> None:
        self.m = machine
        self.gic = machine.gic
        self.cascaded = cascaded
        self.gicd = machine.costs.gicd_access_ns
        self.gicc = machine.costs.gicc_access_ns
        self.irq_get_irqchip_state = self._get_state
        self.irq_set_irqchip_state = self._set_state
        self.deferred_eoi: list[tuple[IrqData, int]] | None = None
        """While ``gic_handle_irq`` runs a flow handler: the ``irq_eoi`` calls it made, to be
        executed as the next step (after the handler's cost) by :class:`GicDriver`."""

    def irq_mask(self, d: IrqData, cpu: int = 0) -> None:
        """``gic_mask_irq``: GICD_ICENABLER."""
        self.m.acc += self.gicd
        self.gic.dist.set_enabled(d.hwirq, False, cpu)

    def irq_unmask(self, d: IrqData, cpu: int = 0) -> None:
        """``gic_unmask_irq``: GICD_ISENABLER."""
        self.m.acc += self.gicd
        self.gic.dist.set_enabled(d.hwirq, True, cpu)

    def irq_eoi(self, d: IrqData, cpu: int = 0) -> None:
        """``gic_eoi_irq``: GICC_EOIR (drop + deactivate in EOImode 0)."""
        q = self.deferred_eoi
        if q is not None:
            q.append((d, cpu))
            return
        self.m.acc += self.gicc
        self.gic.cpu_if[cpu].write_eoir(d.hwirq)

    def _get_state(self, d: IrqData, which: int, cpu: int) -> bool | int:
        """``gic_irq_get_irqchip_state``: PENDING / ACTIVE / MASKED from the distributor."""
        self.m.acc += self.gicd
        dist = self.gic.dist
        if which == IRQCHIP_STATE_PENDING:
            return dist.is_pending(d.hwirq, cpu)
        if which == IRQCHIP_STATE_ACTIVE:
            return dist.is_active(d.hwirq, cpu)
        if which == IRQCHIP_STATE_MASKED:
            return not dist.is_enabled(d.hwirq, cpu)
        return EINVAL

    def _set_state(self, d: IrqData, which: int, val: bool, cpu: int) -> int:
        """``gic_irq_set_irqchip_state``: GICD_I[SC]PENDR / I[SC]ACTIVER / I[SC]ENABLER."""
        self.m.acc += self.gicd
        dist = self.gic.dist
        if which == IRQCHIP_STATE_PENDING:
            dist.set_pending(d.hwirq, val, cpu)
        elif which == IRQCHIP_STATE_ACTIVE:
            dist.set_active(d.hwirq, val, cpu)
        elif which == IRQCHIP_STATE_MASKED:
            dist.set_enabled(d.hwirq, not val, cpu)
        else:
            return EINVAL
        return 0


class GicEoimode1Chip(GicChip):
    """``gic_eoimode1_chip``: split priority drop / deactivation, vCPU forwarding."""

    name = "GICv2"

    def __init__(self, machine: Machine, cascaded: bool = False) -> None:
        super().__init__(machine, cascaded)
        self.irq_set_vcpu_affinity = self._set_vcpu_affinity

    def irq_mask(self, d: IrqData, cpu: int = 0) -> None:
        """``gic_eoimode1_mask_irq``: mask; a forwarded irq also loses its active state
        so that a dead guest cannot leave it stuck Active (§4.2)."""
        self.m.acc += self.gicd
        self.gic.dist.set_enabled(d.hwirq, False, cpu)
        if d.state & IRQD_FORWARDED_TO_VCPU:
            self.m.acc += self.gicd
            self.gic.dist.set_active(d.hwirq, False, cpu)

    def irq_eoi(self, d: IrqData, cpu: int = 0) -> None:
        """``gic_eoimode1_eoi_irq``: GICC_DIR, skipped for forwarded irqs."""
        if d.state & IRQD_FORWARDED_TO_VCPU:
            return
        q = self.deferred_eoi
        if q is not None:
            q.append((d, cpu))
            return
        self.m.acc += self.gicc
        self.gic.cpu_if[cpu].write_dir(d.hwirq)

    def _set_vcpu_affinity(self, d: IrqData, vcpu: Any) -> int:
        """``gic_irq_set_vcpu_affinity``: only non-SGI irqs of the primary GIC (§4.2)."""
        if self.cascaded or d.hwirq < 16:
            return EINVAL
        if vcpu is not None:
            d.state |= IRQD_FORWARDED_TO_VCPU
        else:
            d.state &= ~IRQD_FORWARDED_TO_VCPU
        return 0


class GicDriver:
    """The host's GIC driver instance: init, chips, IPIs and ``gic_handle_irq``."""

    def __init__(self, machine: Machine, genirq: Genirq, host_at_el2: bool) -> None:
        self.m = machine
        self.gic = machine.gic
        self.genirq = genirq
        self.eoimode1 = gic_check_eoimode(host_at_el2, 0x2000)
        self.chip: GicChip = GicEoimode1Chip(machine) if self.eoimode1 else GicChip(machine)
        c = machine.costs
        self.gicc = c.gicc_access_ns
        self.gicd = c.gicd_access_ns
        self.entry_ns = c.exception_entry_ns
        self.return_ns = c.exception_return_ns
        self.flow_ns = c.host_irq_handler_ns
        self.ipi_handlers: dict[int, Callable[[PhysCpu], int]] = {IPI_RESCHEDULE: self._ipi_resched}
        self._ev_entry = machine.recorder.event("host_irq_entry", intid=0, cpu=0)
        self._c_host_irqs = machine.recorder.counter("host_irqs")
        steps = [_CpuSteps(self, cpu) for cpu in machine.pcpus]
        self._iter_steps: list[Step] = [s.iter for s in steps]
        self._eoi_steps: list[Step] = [s.deferred_eoi for s in steps]
        self._eoi_q: list[list[tuple[IrqData, int]]] = [[] for _ in machine.pcpus]
        for s in steps:
            s.cpu.host_irq_step = s.entry

    # ---------------------------------------------------------------- init
    def init(self) -> None:
        """``gic_dist_init`` + ``gic_cpu_init`` on every CPU (priorities, targets, enables)."""
        gic = self.gic
        cfg = gic.config
        dist = gic.dist
        for intid in range(32, min(cfg.num_irqs, 1020)):
            dist.set_enabled(intid, False)
            dist.set_priority(intid, GICD_INT_DEF_PRI)
            dist.set_targets(intid, 1)
        for cpu in range(cfg.num_cpus):
            for intid in range(32):
                dist.set_priority(intid, GICD_INT_DEF_PRI, cpu)
            dist.set_enabled(IPI_RESCHEDULE, True, cpu)
            gic.write(cfg.gicc_base + GIC_CPU_PRIMASK, GICC_INT_PRI_THRESHOLD, 4, cpu)
            ctlr = GICC_CTLR_ENABLE | (GICC_CTLR_EOIMODENS if self.eoimode1 else 0)
            gic.write(cfg.gicc_base + GIC_CPU_CTRL, ctlr, 4, cpu)
        gic.write(cfg.gicd_base + GIC_DIST_CTRL, 1, 4, 0)

    def map_spi(self, intid: int, edge: bool) -> int:
        """Create the Linux irq for SPI ``intid`` (``gic_irq_domain_map`` + ``gic_set_type``)."""
        irq = self.genirq.irq_create_mapping(self.chip, intid)
        self.gic.dist.set_edge(intid, edge)
        return irq

    def map_ppi(self, intid: int) -> int:
        """Create the Linux irq for PPI ``intid`` (per-CPU devid flow)."""
        return self.genirq.irq_create_mapping(self.chip, intid)

    # ---------------------------------------------------------------- IPIs
    def send_reschedule(self, target: int, source: int) -> None:
        """``smp_send_reschedule``: GICD_SGIR write of SGI ``IPI_RESCHEDULE`` to ``target``."""
        self.m.acc += self.gicd
        self.gic.write(self.gic.config.gicd_base + GIC_DIST_SOFTINT,
                       (1 << (16 + target)) | IPI_RESCHEDULE, 4, source)

    def _ipi_resched(self, cpu: PhysCpu) -> int:
        cpu.need_resched = True
        return 0

    # ---------------------------------------------------------------- gic_handle_irq
    def _deferred_eoi_step(self, cpu: PhysCpu) -> int:
        """The flow handler's ``irq_eoi`` (GICC_DIR / GICC_EOIR), after the handler's cost."""
        q = self._eoi_q[cpu.index]
        chip = self.chip
        for d, c in q:
            chip.irq_eoi(d, c)
        q.clear()
        cpu.next = self._iter_steps[cpu.index]
        return 0

    def handle_irq_step(self, cpu: PhysCpu) -> int:
        """One iteration of the ``gic_handle_irq`` loop on ``cpu`` (see module docstring)."""
        return self._iter(cpu)

    def _entry(self, cpu: PhysCpu) -> int:
        return self.entry_ns + self._iter(cpu, True)

    def _iter(self, cpu: PhysCpu, first: bool = False) -> int:
        c = cpu.index
        ci = self.gic.cpu_if[c]
        irqstat = ci.read_iar()
        irqnr = irqstat & 0x3FF
        rec = self.m.recorder
        if irqnr >= 1020:
            # Spurious/special: end of the loop, never EOI'd (§4.2); exception return.
            if first:
                rec.count("host_irqs_spurious")
            cpu.irqs_masked = False
            cpu.next = cpu.stack.pop() if cpu.stack else None
            if cpu.next is None:
                cpu.next = cpu.idle_step
            return self.gicc + self.return_ns
        self._c_host_irqs.n += 1
        ev = self._ev_entry
        if ev.live:
            f = ev.fields
            f["intid"] = irqnr
            f["cpu"] = c
            ev.emit()
        cost = self.gicc
        if irqnr < 16:
            ci.write_eoir(irqstat)
            cost += self.gicc
            if self.eoimode1:
                ci.write_dir(irqstat)
                cost += self.gicc
            h = self.ipi_handlers.get(irqnr)
            if h is not None:
                cost += h(cpu)
        else:
            if self.eoimode1:
                ci.write_eoir(irqstat)
                cost += self.gicc
            chip = self.chip
            q = self._eoi_q[c]
            chip.deferred_eoi = q
            try:
                r = self.genirq.generic_handle_domain_irq(irqnr, c)
            finally:
                chip.deferred_eoi = None
            if q:
                # The flow handler's irq_eoi (GICC_DIR in EOImode 1) is a register write
                # executed after the handler: it takes effect at the end of this step.
                cpu.next = self._eoi_steps[c]
                return cost + self.flow_ns + r
            if r < 0:
                # gic_deactivate_unhandled
                rec.count("host_irqs_unhandled")
                if self.eoimode1:
                    ci.write_dir(irqstat)
                else:
                    ci.write_eoir(irqstat)
                cost += self.gicc
            else:
                cost += self.flow_ns + r
        cpu.next = self._iter_steps[c]
        return cost


class _CpuSteps:
    """``gic_handle_irq``'s steps bound to one pCPU (bound methods: cheaper to call than
    ``functools.partial`` objects, interpreted or compiled)."""

    __slots__ = ("cpu", "drv")

    def __init__(self, drv: GicDriver, cpu: PhysCpu) -> None:
        self.drv = drv
        self.cpu = cpu

    def entry(self) -> int:
        """The IRQ exception vector: entry cost, then the first ``gic_handle_irq`` pass."""
        return self.drv._entry(self.cpu)

    def iter(self) -> int:
        """The next pass of the ``gic_handle_irq`` loop."""
        return self.drv._iter(self.cpu)

    def deferred_eoi(self) -> int:
        """The flow handler's ``irq_eoi`` after the handler's cost."""
        return self.drv._deferred_eoi_step(self.cpu)
