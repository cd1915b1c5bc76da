"""The host GICv2 driver, after Linux ``drivers/irqchip/irq-gic.c``.

* :func:`gic_check_eoimode`: split EOI/deactivate (EOImode 1, ``supports_deactivate_key``)
  only when the host booted at EL2/HYP and the CPU interface is at least 8 KiB.
* :class:`GicChip` (``gic_chip``, EOImode 0): ``irq_eoi`` writes GICC_EOIR; no
  ``irq_set_vcpu_affinity`` (forwarding then fails with -ENOSYS); ``irq_set_affinity``
  (``gic_set_affinity``) writes the SPI's GICD_ITARGETSR byte, as every chip below.
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

The driver reaches the GIC only through its registers: distributor registers as MMIO
(``readl``/``writel`` at ``GICD + offset``, offsets from :mod:`irqfwd.host.irqchip.arm_gic`),
the CPU interface through its named register accessors (GICC_IAR, GICC_EOIR, GICC_DIR);
each access charges ``gicd_access_ns`` / ``gicc_access_ns``.  Like ``gic_set_kvm_info`` it
fills :attr:`GicDriver.kvm_info` (type GIC_V2, the maintenance PPI, the GICH frames and
the GICV base) for ``kvm_vgic_hyp_init``.  Counters: ``host_irqs`` (every acknowledged
INTID < 1020), ``host_irqs_spurious``; trace ``irq_handler_entry`` (intid, cpu, name: the
action's, ``IPI`` for SGIs) after the
IAR read and ``irq_handler_exit`` (intid, cpu, ret ``handled``/``unhandled``) when the
handler's step is over (at the start of the next step of ``gic_handle_irq`` on that CPU:
the deferred ``irq_eoi`` or the next IAR read), so that the pair brackets the handler's
simulated time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from irqfwd.host.events import IrqHandlerEntry, IrqHandlerExit
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
from irqfwd.host.irqchip.arm_gic import (
    GIC_CPU_CTRL,
    GIC_CPU_CTRL_EOIMODENS,
    GIC_CPU_PRIMASK,
    GIC_CPU_SIZE,
    GIC_DIST_ACTIVE_CLEAR,
    GIC_DIST_ACTIVE_SET,
    GIC_DIST_CONFIG,
    GIC_DIST_CTRL,
    GIC_DIST_ENABLE_CLEAR,
    GIC_DIST_ENABLE_SET,
    GIC_DIST_PENDING_CLEAR,
    GIC_DIST_PENDING_SET,
    GIC_DIST_PRI,
    GIC_DIST_SOFTINT,
    GIC_DIST_TARGET,
    GICC_ENABLE,
    GICC_INT_PRI_THRESHOLD,
    GICD_ENABLE,
    GICD_INT_DEF_PRI,
)
from irqfwd.host.irqchip.arm_vgic_info import GIC_V2, GicKvmInfo
from irqfwd.hw.gicv2.gic import GICv2
from irqfwd.hw.machine import Machine, PhysCpu, Step

__all__ = [
    "IPI_RESCHEDULE",
    "NR_GIC_CPU_IF",
    "GicChip",
    "GicDriver",
    "GicEoimode1Chip",
    "gic_check_eoimode",
]

IPI_RESCHEDULE: Final = 0
"""SGI used for ``smp_send_reschedule`` (arm64 ``IPI_RESCHEDULE``)."""
NR_GIC_CPU_IF: Final = 8
"""CPU interfaces a GICv2 distributor can target (one GICD_ITARGETSR bit each)."""


def gic_check_eoimode(host_at_el2: bool, gicc_size: int = GIC_CPU_SIZE) -> bool:
    """``gic_check_eoimode``: EOImode 1 only when booted at HYP with an 8 KiB GICC."""
    return host_at_el2 and gicc_size >= GIC_CPU_SIZE


def _bit_reg(offset: int, hwirq: int) -> int:
    """Offset of the one-bit-per-irq register word holding ``hwirq`` (``gic_poke_irq``)."""
    return offset + (hwirq >> 5) * 4


class GicChip(IrqChip):
    """``gic_chip`` (EOImode 0): mask/unmask via GICD_I[CS]ENABLER, EOI via GICC_EOIR."""

    name = "GIC"

    def __init__(self, machine: Machine, gic: GICv2, cascaded: bool = False) -> None:
        self.m = machine
        self.gic = gic
        self.dist_base = gic.config.gicd_base
        self.cascaded = cascaded
        self.gicd = machine.costs.gicd_access_ns
        self.gicc = machine.costs.gicc_access_ns
        self.irq_get_irqchip_state = self._get_state
        self.irq_set_irqchip_state = self._set_state
        self.irq_set_affinity = self._set_affinity
        self.deferred_eoi: list[tuple[IrqData, int]] | None = None
        """While ``gic_handle_irq`` runs a flow handler: the ``irq_eoi`` calls it made, to be
        executed as the next step (after the handler's cost) by :class:`GicDriver`."""
        self.cpu_map: list[int] = [0xFF] * NR_GIC_CPU_IF
        """``gic_cpu_map``: the CPU interface mask of each CPU (0xff until ``gic_cpu_init``
        reads it from the banked GICD_ITARGETSR0..7, :meth:`GicDriver.init`)."""

    def poke_irq(self, d: IrqData, offset: int, cpu: int) -> None:
        """``gic_poke_irq``: write the irq's bit to a set/clear register (one GICD access)."""
        self.m.acc += self.gicd
        hwirq = d.hwirq
        self.gic.write(self.dist_base + _bit_reg(offset, hwirq), 1 << (hwirq & 31), 4, cpu)

    def peek_irq(self, d: IrqData, offset: int, cpu: int) -> bool:
        """``gic_peek_irq``: the irq's bit of a one-bit-per-irq register (one GICD access)."""
        self.m.acc += self.gicd
        hwirq = d.hwirq
        return bool(self.gic.read(self.dist_base + _bit_reg(offset, hwirq), 4, cpu) >> (hwirq & 31) & 1)

    def irq_mask(self, d: IrqData, cpu: int = 0) -> None:
        """``gic_mask_irq``: GICD_ICENABLER."""
        self.poke_irq(d, GIC_DIST_ENABLE_CLEAR, cpu)

    def irq_unmask(self, d: IrqData, cpu: int = 0) -> None:
        """``gic_unmask_irq``: GICD_ISENABLER."""
        self.poke_irq(d, GIC_DIST_ENABLE_SET, cpu)

    def irq_eoi(self, d: IrqData, cpu: int = 0) -> None:
        """``gic_eoi_irq``: GICC_EOIR (drop + deactivate in EOImode 0)."""
        q = self.deferred_eoi
        if q is not None:
            q.append((d, cpu))
            return
        self.m.acc += self.gicc
        self.gic.cpu_if[cpu].write_eoir(d.hwirq)

    def _set_affinity(self, d: IrqData, cpu: int) -> int:
        """``gic_set_affinity``: route SPI ``d`` to ``cpu`` by writing its GICD_ITARGETSR byte
        (``writeb_relaxed(gic_cpu_map[cpu], GIC_DIST_TARGET + irq)``, one GICD access,
        IHI 0048B §4.3.12); the distributor then signals it to that CPU interface only.

        -EINVAL for a cascaded GIC (``gic != &gic_data[0]``), for ``cpu`` beyond
        ``NR_GIC_CPU_IF`` or the CPUs there are, and for SGIs and PPIs: their target bytes
        are read-only (Linux never gets that far: genirq's ``irq_can_set_affinity``
        refuses per-CPU interrupts).  The write is made by the CPU that runs the code
        (the boot CPU at set-up time).
        """
        if self.cascaded or d.hwirq < 32 or not 0 <= cpu < min(NR_GIC_CPU_IF, self.gic.num_cpus):
            return EINVAL
        self.m.acc += self.gicd
        me = self.m.cur if self.m.cur >= 0 else 0
        self.gic.write(self.dist_base + GIC_DIST_TARGET + d.hwirq, self.cpu_map[cpu], 1, me)
        return 0

    def _get_state(self, d: IrqData, which: int, cpu: int) -> bool | int:
        """``gic_irq_get_irqchip_state``: PENDING / ACTIVE / MASKED from the distributor."""
        if which == IRQCHIP_STATE_PENDING:
            return self.peek_irq(d, GIC_DIST_PENDING_SET, cpu)
        if which == IRQCHIP_STATE_ACTIVE:
            return self.peek_irq(d, GIC_DIST_ACTIVE_SET, cpu)
        if which == IRQCHIP_STATE_MASKED:
            return not self.peek_irq(d, GIC_DIST_ENABLE_SET, cpu)
        return EINVAL

    def _set_state(self, d: IrqData, which: int, val: bool, cpu: int) -> int:
        """``gic_irq_set_irqchip_state``: GICD_I[SC]PENDR / I[SC]ACTIVER / I[SC]ENABLER."""
        if which == IRQCHIP_STATE_PENDING:
            reg = GIC_DIST_PENDING_SET if val else GIC_DIST_PENDING_CLEAR
        elif which == IRQCHIP_STATE_ACTIVE:
            reg = GIC_DIST_ACTIVE_SET if val else GIC_DIST_ACTIVE_CLEAR
        elif which == IRQCHIP_STATE_MASKED:
            reg = GIC_DIST_ENABLE_CLEAR if val else GIC_DIST_ENABLE_SET
        else:
            return EINVAL
        self.poke_irq(d, reg, cpu)
        return 0


class GicEoimode1Chip(GicChip):
    """``gic_eoimode1_chip``: split priority drop / deactivation, vCPU forwarding."""

    name = "GICv2"

    def __init__(self, machine: Machine, gic: GICv2, cascaded: bool = False) -> None:
        super().__init__(machine, gic, cascaded)
        self.irq_set_vcpu_affinity = self._set_vcpu_affinity

    def irq_mask(self, d: IrqData, cpu: int = 0) -> None:
        """``gic_eoimode1_mask_irq``: mask; a forwarded irq also loses its active state
        (GICD_ICACTIVER) so that a dead guest cannot leave it stuck Active."""
        self.poke_irq(d, GIC_DIST_ENABLE_CLEAR, cpu)
        if d.state & IRQD_FORWARDED_TO_VCPU:
            self.poke_irq(d, GIC_DIST_ACTIVE_CLEAR, cpu)

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
        """``gic_irq_set_vcpu_affinity``: only non-SGI irqs of the primary GIC."""
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
        gic = machine.gic
        if not isinstance(gic, GICv2):
            raise TypeError(f"the GICv2 driver needs a GICv2, got {type(gic).__name__}")
        self.m = machine
        self.gic = gic
        self.dist_base = gic.config.gicd_base
        self.cpu_base = gic.config.gicc_base
        self.genirq = genirq
        self.eoimode1 = gic_check_eoimode(host_at_el2)
        self.chip: GicChip = GicEoimode1Chip(machine, gic) if self.eoimode1 else GicChip(machine, gic)
        self.kvm_info = GicKvmInfo(GIC_V2, 0)
        """Filled by :meth:`init` (``gic_set_kvm_info``)."""
        c = machine.costs
        self.gicc = c.gicc_access_ns
        self.gicd = c.gicd_access_ns
        self.entry_ns = c.exception_entry_ns
        self.return_ns = c.exception_return_ns
        self.flow_ns = c.host_irq_handler_ns
        self.ipi_handlers: dict[int, Callable[[PhysCpu], int]] = {IPI_RESCHEDULE: self._ipi_resched}
        self._ev_entry = machine.recorder.site(IrqHandlerEntry())
        self._ev_exit = machine.recorder.site(IrqHandlerExit())
        self._in_handler: list[int] = [-1 for _ in machine.pcpus]
        """Per pCPU, kept only while traced: the INTID whose handler step runs, times 2, plus
        1 if it was unhandled (-1: none)."""
        self._c_host_irqs = machine.recorder.counter("host_irqs")
        steps = [_CpuSteps(self, cpu) for cpu in machine.pcpus]
        self._iter_steps: list[Step] = [s.iter for s in steps]
        self._eoi_steps: list[Step] = [s.deferred_eoi for s in steps]
        self._eoi_q: list[list[tuple[IrqData, int]]] = [[] for _ in machine.pcpus]
        for s in steps:
            s.cpu.host_irq_step = s.entry

    # ---------------------------------------------------------------- init
    def init(self) -> None:
        """``gic_dist_init`` (SPIs disabled, default priority, routed to CPU 0), then
        ``gic_cpu_init`` on every CPU (its ``gic_cpu_map`` entry, banked priorities, the
        reschedule IPI, PMR, GICC_CTLR with EOImodeNS when split), then GICD_CTLR.Enable;
        fills :attr:`kvm_info`."""
        gic = self.gic
        cfg = gic.config
        end = min(cfg.num_irqs, 1020)
        for intid in range(32, end):
            self._dist_byte(GIC_DIST_PRI + intid, GICD_INT_DEF_PRI, 0)
            self._dist_byte(GIC_DIST_TARGET + intid, 1, 0)
            self._dist_write(_bit_reg(GIC_DIST_ENABLE_CLEAR, intid), 1 << (intid & 31), 0)
        for cpu in range(cfg.num_cpus):
            if cpu < NR_GIC_CPU_IF:
                cpu_map = self.chip.cpu_map
                cpu_mask = cpu_map[cpu] = self._get_cpumask(cpu)
                for i in range(NR_GIC_CPU_IF):
                    if i != cpu:
                        cpu_map[i] &= ~cpu_mask
            for intid in range(32):
                self._dist_byte(GIC_DIST_PRI + intid, GICD_INT_DEF_PRI, cpu)
            self._dist_write(GIC_DIST_ENABLE_SET, 1 << IPI_RESCHEDULE, cpu)
            gic.write(self.cpu_base + GIC_CPU_PRIMASK, GICC_INT_PRI_THRESHOLD, 4, cpu)
            ctlr = GICC_ENABLE | (GIC_CPU_CTRL_EOIMODENS if self.eoimode1 else 0)
            gic.write(self.cpu_base + GIC_CPU_CTRL, ctlr, 4, cpu)
        self._dist_write(GIC_DIST_CTRL, GICD_ENABLE, 0)
        maint = self.map_ppi(cfg.maintenance_intid)
        self.kvm_info = GicKvmInfo(GIC_V2, maint, vctrl=list(gic.hyp),
                                   vcpu_base=cfg.gicv_base)

    def _get_cpumask(self, cpu: int) -> int:
        """``gic_get_cpumask`` on ``cpu`` (``gic_cpu_init``: its ``gic_cpu_map`` entry): the
        first non-zero banked GICD_ITARGETSR0..7 word folded to a byte (0 on a uniprocessor,
        where they are RAZ, IHI 0048B §4.3.12)."""
        for off in range(0, 32, 4):
            mask = self.gic.read(self.dist_base + GIC_DIST_TARGET + off, 4, cpu)
            mask |= mask >> 16
            mask |= mask >> 8
            if mask & 0xFF:
                return mask & 0xFF
        return 0

    def _dist_write(self, offset: int, value: int, cpu: int) -> None:
        self.gic.write(self.dist_base + offset, value, 4, cpu)

    def _dist_byte(self, offset: int, value: int, cpu: int) -> None:
        self.gic.write(self.dist_base + offset, value, 1, cpu)

    def _set_type(self, intid: int, edge: bool, cpu: int) -> None:
        """``gic_set_type`` → ``gic_configure_irq``: Int_config[1] of GICD_ICFGR (read-modify-write)."""
        off = GIC_DIST_CONFIG + (intid >> 4) * 4
        bit = 2 << ((intid & 15) * 2)
        old = self.gic.read(self.dist_base + off, 4, cpu)
        new = (old | bit) if edge else (old & ~bit)
        if new != old:
            self._dist_write(off, new, cpu)

    def map_spi(self, intid: int, edge: bool) -> int:
        """Create the Linux irq for SPI ``intid`` (``gic_irq_domain_map`` + ``gic_set_type``)."""
        irq = self.genirq.irq_create_mapping(self.chip, intid)
        self._set_type(intid, edge, 0)
        return irq

    def map_ppi(self, intid: int) -> int:
        """Create the Linux irq for PPI ``intid`` (per-CPU devid flow)."""
        return self.genirq.irq_create_mapping(self.chip, intid)

    def set_ppi_type(self, intid: int, edge: bool, cpu: int) -> None:
        """``gic_set_type`` for the banked PPI ``intid`` of ``cpu``."""
        self._set_type(intid, edge, cpu)

    # ---------------------------------------------------------------- IPIs
    def send_reschedule(self, target: int, source: int, delay: int = 0) -> None:
        """``smp_send_reschedule``: GICD_SGIR write of SGI ``IPI_RESCHEDULE`` to ``target``;
        the write reaches the distributor ``delay`` ns later (a posted write crossing the
        interconnect), the sender pays only the access."""
        self.m.acc += self.gicd
        value = (1 << (16 + target)) | IPI_RESCHEDULE
        if delay > 0:
            self.m.engine.schedule(delay, self._dist_write, GIC_DIST_SOFTINT, value, source)
        else:
            self._dist_write(GIC_DIST_SOFTINT, value, source)

    def _ipi_resched(self, cpu: PhysCpu) -> int:
        cpu.need_resched = True
        return 0

    # ---------------------------------------------------------------- gic_handle_irq
    def _deferred_eoi_step(self, cpu: PhysCpu) -> int:
        """The flow handler's ``irq_eoi`` (GICC_DIR / GICC_EOIR), after the handler's cost."""
        if self._in_handler[cpu.index] >= 0:
            self._handler_exit(cpu.index)
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

    def _handler_exit(self, c: int) -> None:
        """``irq_handler_exit`` of the handler that ran on pCPU ``c`` (traced runs only)."""
        ev = self._ev_exit
        v = self._in_handler[c]
        ev.intid = v >> 1
        ev.cpu = c
        ev.ret = "unhandled" if v & 1 else "handled"
        self._in_handler[c] = -1
        if ev.live:
            ev.emit()

    def _iter(self, cpu: PhysCpu, first: bool = False) -> int:
        c = cpu.index
        if self._in_handler[c] >= 0:
            self._handler_exit(c)
        ci = self.gic.cpu_if[c]
        irqstat = ci.read_iar()
        irqnr = irqstat & 0x3FF
        rec = self.m.recorder
        if irqnr >= 1020:
            # Spurious/special: end of the loop, never EOI'd (``gic_handle_irq``); exception return.
            if first:
                rec.count("host_irqs_spurious")
            cpu.irq_return()
            return self.gicc + self.return_ns
        self._c_host_irqs.n += 1
        ev = self._ev_entry
        if ev.live:
            ev.intid = irqnr
            ev.cpu = c
            ev.name = "IPI" if irqnr < 16 else self.genirq.irq_action_name(irqnr)
            ev.emit()
            self._in_handler[c] = irqnr << 1
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
                if self._in_handler[c] >= 0:
                    self._in_handler[c] |= 1
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
        drv = self.drv
        return drv.entry_ns + drv._iter(self.cpu, True)

    def iter(self) -> int:
        """The next pass of the ``gic_handle_irq`` loop."""
        return self.drv._iter(self.cpu)

    def deferred_eoi(self) -> int:
        """The flow handler's ``irq_eoi`` after the handler's cost."""
        return self.drv._deferred_eoi_step(self.cpu)
