"""The host GICv3 driver, after Linux ``drivers/irqchip/irq-gic-v3.c``.

* ``supports_deactivate_key`` (EOImode 1) is on when the host booted at EL2
  (``gic_init_bases``: ``!is_hyp_mode_available()`` turns it off);
  ``gic_cpu_sys_reg_init`` writes ICC_CTLR_EL1.EOImode to match.
* :class:`GicV3Chip` (``gic_chip``, EOImode 0): mask/unmask through GICD_I[CS]ENABLER for
  SPIs and the redistributor's GICR_I[CS]ENABLER0 for SGIs/PPIs (``gic_poke_irq``);
  ``irq_eoi`` writes ICC_EOIR1_EL1 (``gic_eoi_irq``); ``irq_set_affinity`` writes an
  SPI's GICD_IROUTER (``gic_set_affinity``), as every chip below.
* :class:`GicV3Eoimode1Chip` (``gic_eoimode1_chip``): ``irq_eoi`` writes ICC_DIR_EL1
  unless the irq is an LPI (no active state) or forwarded to a vCPU
  (``gic_eoimode1_eoi_irq``); ``irq_mask`` also clears the active state of a forwarded
  irq (``gic_eoimode1_mask_irq``); ``irq_set_vcpu_affinity`` refuses SGIs
  (``gic_irq_set_vcpu_affinity``).
* :class:`GicV3Driver`: ``gic_dist_init`` / ``gic_cpu_init`` (GICR_WAKER, SGI/PPI
  configuration, ICC_PMR_EL1, ICC_CTLR_EL1, ICC_IGRPEN1_EL1) and ``gic_handle_irq`` as pCPU
  steps: ICC_IAR1_EL1; 1020..1023 end the loop; ``gic_complete_ack`` writes ICC_EOIR1_EL1
  (priority drop) in EOImode 1 before the flow handler, whose ``irq_eoi`` (ICC_DIR_EL1)
  runs as the next step, after the handler's cost (``docs/designs.md``, modelling notes).
  LPIs (the ITS driver's, :mod:`irqfwd.host.irqchip.irq_gic_v3_its`) need no
  deactivation.  IPIs are ICC_SGI1R_EL1 writes (``gic_ipi_send_mask``).

The driver reaches the distributor and redistributors through MMIO (``readl``/``writel``
at GICD/GICR + offsets of :mod:`irqfwd.host.irqchip.arm_gic_v3`, each runtime access
charging ``gicd_access_ns``) and the CPU interface through its system registers (each
charging ``gicc_access_ns``).  ``gic_of_setup_kvm_info`` fills :attr:`GicV3Driver.kvm_info`
(type GIC_V3, the maintenance PPI, ``has_v4`` from GICR_TYPER.VLPIS, ``has_v4_1`` from
GICR_TYPER.RVPEID).  Counters and trace events are the GICv2 driver's: ``host_irqs``,
``host_irqs_spurious``, ``irq_handler_entry`` / ``irq_handler_exit``.
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
from irqfwd.host.irqchip.arm_gic_v3 import (
    DEFAULT_PMR_VALUE,
    GICD_CTLR,
    GICD_CTLR_ARE_NS,
    GICD_CTLR_ENABLE_G1A,
    GICD_CTLR_RWP,
    GICD_ICACTIVER,
    GICD_ICENABLER,
    GICD_ICFGR,
    GICD_ICPENDR,
    GICD_IGROUPR,
    GICD_INT_DEF_PRI,
    GICD_IPRIORITYR,
    GICD_IROUTER,
    GICD_ISACTIVER,
    GICD_ISENABLER,
    GICD_ISPENDR,
    GICR_SGI_BASE,
    GICR_TYPER,
    GICR_WAKER,
    ICC_CTLR_EL1_EOIMODE_DROP,
    ICC_SGI1R_SGI_ID_SHIFT,
)
from irqfwd.host.irqchip.arm_vgic_info import GIC_V3, GicKvmInfo
from irqfwd.host.irqchip.irq_gic_v3_its import ItsNode
from irqfwd.hw.gicv3.gic import GICv3
from irqfwd.hw.machine import Machine, PhysCpu, Step

__all__ = ["IPI_RESCHEDULE", "LPI_BASE", "GicV3Chip", "GicV3Driver", "GicV3Eoimode1Chip"]

IPI_RESCHEDULE: Final = 0
"""SGI used for ``smp_send_reschedule`` (arm64 ``IPI_RESCHEDULE``)."""
LPI_BASE: Final = 8192
_GICR_TYPER_VLPIS: Final = 1 << 1
_GICR_TYPER_RVPEID: Final = 1 << 7


def _typer_to_irouter(typer: int) -> int:
    """``gic_cpu_to_affinity`` of the CPU whose redistributor has GICR_TYPER ``typer``:
    Affinity_Value [63:32] is Aff3.Aff2.Aff1.Aff0 (IHI 0069 §12.11.35), GICD_IROUTER wants
    Aff3 at [39:32] and Aff2.Aff1.Aff0 at [23:0] (§12.9.22)."""
    aff = typer >> 32 & 0xFFFF_FFFF
    return (aff >> 24) << 32 | aff & 0xFF_FFFF


def _bit_reg(offset: int, hwirq: int) -> int:
    """Offset of the one-bit-per-irq register word holding ``hwirq`` (``gic_poke_irq``)."""
    return offset + (hwirq >> 5) * 4


class GicV3Chip(IrqChip):
    """``gic_chip`` (EOImode 0): GICD/GICR enables, EOI through ICC_EOIR1_EL1."""

    name = "GICv3"

    def __init__(self, machine: Machine, gic: GICv3) -> None:
        self.m = machine
        self.gic = gic
        self.dist_base = gic.config.gicd_base
        self.rdist_base = gic.config.gicr_base
        self.rdist_stride = gic.config.gicr_stride
        self.gicd = machine.costs.gicd_access_ns
        self.gicc = machine.costs.gicc_access_ns
        self.irq_get_irqchip_state = self._get_state
        self.irq_set_irqchip_state = self._set_state
        self.irq_set_affinity = self._set_affinity
        self.deferred_eoi: list[tuple[IrqData, int]] | None = None
        """While ``gic_handle_irq`` runs a flow handler: the ``irq_eoi`` calls it made, to be
        executed as the next step (after the handler's cost) by :class:`GicV3Driver`."""
        self.cpu_affinity: list[int] = []
        """Per CPU, ``gic_cpu_to_affinity(cpu_logical_map(cpu))``: its MPIDR affinity as
        GICD_IROUTER encodes it, filled by :meth:`GicV3Driver.init` from the GICR_TYPER of the
        CPU's redistributor (whose Affinity_Value is the CPU's MPIDR: ``gic_populate_rdist``)."""

    def _base(self, hwirq: int, cpu: int) -> int:
        """``gic_dist_base``: GICD for SPIs, the SGI_base frame of ``cpu``'s redistributor
        for SGIs and PPIs."""
        if hwirq < 32:
            return self.rdist_base + cpu * self.rdist_stride + GICR_SGI_BASE
        return self.dist_base

    def poke_irq(self, d: IrqData, offset: int, cpu: int) -> None:
        """``gic_poke_irq``: write the irq's bit to a set/clear register (one access)."""
        self.m.acc += self.gicd
        hwirq = d.hwirq
        self.gic.write(self._base(hwirq, cpu) + _bit_reg(offset, hwirq), 1 << (hwirq & 31), 4, cpu)

    def peek_irq(self, d: IrqData, offset: int, cpu: int) -> bool:
        """``gic_peek_irq``: the irq's bit of a one-bit-per-irq register (one access)."""
        self.m.acc += self.gicd
        hwirq = d.hwirq
        v = self.gic.read(self._base(hwirq, cpu) + _bit_reg(offset, hwirq), 4, cpu)
        return bool(v >> (hwirq & 31) & 1)

    def irq_mask(self, d: IrqData, cpu: int = 0) -> None:
        """``gic_mask_irq``: GICD_ICENABLER / GICR_ICENABLER0."""
        self.poke_irq(d, GICD_ICENABLER, cpu)

    def irq_unmask(self, d: IrqData, cpu: int = 0) -> None:
        """``gic_unmask_irq``: GICD_ISENABLER / GICR_ISENABLER0."""
        self.poke_irq(d, GICD_ISENABLER, cpu)

    def irq_eoi(self, d: IrqData, cpu: int = 0) -> None:
        """``gic_eoi_irq``: ICC_EOIR1_EL1 (drop and deactivate in EOImode 0)."""
        q = self.deferred_eoi
        if q is not None:
            q.append((d, cpu))
            return
        self.m.acc += self.gicc
        self.gic.cpu_if[cpu].write_eoir1(d.hwirq)

    def _set_affinity(self, d: IrqData, cpu: int) -> int:
        """``gic_set_affinity``: route SPI ``d`` to ``cpu`` through GICD_IROUTER<n> = the
        CPU's affinity (``gic_cpu_to_affinity``, Interrupt_Routing_Mode 0; IHI 0069
        §12.9.22).  An enabled SPI is masked around the write, as Linux does
        (``gic_peek_irq(GICD_ISENABLER)``; ``gic_mask_irq``: GICD_ICENABLER and
        ``gic_dist_wait_for_rwp``, one GICD_CTLR read as the model's distributor never
        holds RWP; the IROUTER write; ``gic_unmask_irq``: GICD_ISENABLER), so that it is
        never delivered half-moved.  Each access is one GICD access.  The accesses are
        made by the CPU that runs the code (the boot CPU at set-up time).

        -EINVAL for SGIs and PPIs (``gic_irq_in_rdist``: they live in a redistributor) and
        for a ``cpu`` the system does not have.
        """
        if d.hwirq < 32 or not 0 <= cpu < len(self.cpu_affinity):
            return EINVAL
        m = self.m
        me = m.cur if m.cur >= 0 else 0
        enabled = self.peek_irq(d, GICD_ISENABLER, me)
        if enabled:
            self.poke_irq(d, GICD_ICENABLER, me)
            self._dist_wait_for_rwp(me)
        m.acc += self.gicd
        self.gic.write(self.dist_base + GICD_IROUTER + 8 * d.hwirq, self.cpu_affinity[cpu], 8, me)
        if enabled:
            self.poke_irq(d, GICD_ISENABLER, me)
        return 0

    def _dist_wait_for_rwp(self, cpu: int) -> None:
        """``gic_dist_wait_for_rwp``: read GICD_CTLR until RWP is clear (one GICD access
        per read; the 1 s timeout of Linux is a bound on the reads here)."""
        for _ in range(1_000_000):
            self.m.acc += self.gicd
            if not self.gic.read(self.dist_base + GICD_CTLR, 4, cpu) & GICD_CTLR_RWP:
                return

    def _get_state(self, d: IrqData, which: int, cpu: int) -> bool | int:
        """``gic_irq_get_irqchip_state``: GICD/GICR ISPENDR, ISACTIVER, ISENABLER."""
        if which == IRQCHIP_STATE_PENDING:
            return self.peek_irq(d, GICD_ISPENDR, cpu)
        if which == IRQCHIP_STATE_ACTIVE:
            return self.peek_irq(d, GICD_ISACTIVER, cpu)
        if which == IRQCHIP_STATE_MASKED:
            return not self.peek_irq(d, GICD_ISENABLER, cpu)
        return EINVAL

    def _set_state(self, d: IrqData, which: int, val: bool, cpu: int) -> int:
        """``gic_irq_set_irqchip_state``: I[SC]PENDR / I[SC]ACTIVER / I[SC]ENABLER."""
        if which == IRQCHIP_STATE_PENDING:
            reg = GICD_ISPENDR if val else GICD_ICPENDR
        elif which == IRQCHIP_STATE_ACTIVE:
            reg = GICD_ISACTIVER if val else GICD_ICACTIVER
        elif which == IRQCHIP_STATE_MASKED:
            reg = GICD_ICENABLER if val else GICD_ISENABLER
        else:
            return EINVAL
        self.poke_irq(d, reg, cpu)
        return 0


class GicV3Eoimode1Chip(GicV3Chip):
    """``gic_eoimode1_chip``: split priority drop / deactivation, vCPU forwarding."""

    name = "GICv3"

    def __init__(self, machine: Machine, gic: GICv3) -> None:
        super().__init__(machine, gic)
        self.irq_set_vcpu_affinity = self._set_vcpu_affinity

    def irq_mask(self, d: IrqData, cpu: int = 0) -> None:
        """``gic_eoimode1_mask_irq``: mask; a forwarded irq also loses its active state."""
        self.poke_irq(d, GICD_ICENABLER, cpu)
        if d.state & IRQD_FORWARDED_TO_VCPU:
            self.poke_irq(d, GICD_ICACTIVER, cpu)

    def irq_eoi(self, d: IrqData, cpu: int = 0) -> None:
        """``gic_eoimode1_eoi_irq``: ICC_DIR_EL1, skipped for LPIs and forwarded irqs."""
        if d.hwirq >= LPI_BASE or d.state & IRQD_FORWARDED_TO_VCPU:
            return
        q = self.deferred_eoi
        if q is not None:
            q.append((d, cpu))
            return
        self.m.acc += self.gicc
        self.gic.cpu_if[cpu].write_dir(d.hwirq)

    def _set_vcpu_affinity(self, d: IrqData, vcpu: Any) -> int:
        """``gic_irq_set_vcpu_affinity``: SGIs cannot be forwarded."""
        if d.hwirq < 16:
            return EINVAL
        if vcpu is not None:
            d.state |= IRQD_FORWARDED_TO_VCPU
        else:
            d.state &= ~IRQD_FORWARDED_TO_VCPU
        return 0


class GicV3Driver:
    """The host's GICv3 driver instance: init, chips, IPIs and ``gic_handle_irq``."""

    def __init__(self, machine: Machine, genirq: Genirq, host_at_el2: bool) -> None:
        gic = machine.gic
        if not isinstance(gic, GICv3):
            raise TypeError(f"the GICv3 driver needs a GICv3, got {type(gic).__name__}")
        self.m = machine
        self.gic = gic
        cfg = gic.config
        self.dist_base = cfg.gicd_base
        self.rdist_base = cfg.gicr_base
        self.rdist_stride = cfg.gicr_stride
        self.genirq = genirq
        self.eoimode1 = host_at_el2
        """``supports_deactivate_key``: only when booted at EL2 (``is_hyp_mode_available``)."""
        self.chip: GicV3Chip = GicV3Eoimode1Chip(machine, gic) if self.eoimode1 else GicV3Chip(machine, gic)
        self.kvm_info = GicKvmInfo(GIC_V3, 0)
        """Filled by :meth:`init` (``gic_of_setup_kvm_info``)."""
        self.its: ItsNode | None = None
        """The ITS driver, set by :meth:`init` when the GIC has an ITS (``its_init``)."""
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
        self._c_host_irqs = machine.recorder.counter("host_irqs")
        steps = [_CpuSteps(self, cpu) for cpu in machine.pcpus]
        self._iter_steps: list[Step] = [s.iter for s in steps]
        self._eoi_steps: list[Step] = [s.deferred_eoi for s in steps]
        self._eoi_q: list[list[tuple[IrqData, int]]] = [[] for _ in machine.pcpus]
        for s in steps:
            s.cpu.host_irq_step = s.entry

    # ---------------------------------------------------------------- init
    def _rd(self, cpu: int) -> int:
        return self.rdist_base + cpu * self.rdist_stride

    def init(self) -> None:
        """``gic_init_bases``: ``gic_dist_init`` (GICD_CTLR off, SPIs Group 1, level, default
        priority, disabled, routed to CPU 0 by GICD_IROUTER, then ARE_NS | EnableGrp1),
        ``gic_cpu_init`` on every CPU (GICR_WAKER.ProcessorSleep = 0, SGIs/PPIs Group 1 at
        the default priority, PPIs disabled, the reschedule SGI enabled;
        ``gic_cpu_sys_reg_init``: ICC_PMR_EL1, ICC_CTLR_EL1.EOImode, ICC_IGRPEN1_EL1), the
        ITS (``its_init``, when present) and ``gic_of_setup_kvm_info``."""
        gic = self.gic
        cfg = gic.config
        d = self.dist_base
        gic.write(d + GICD_CTLR, 0, 4, 0)
        end = min(cfg.num_irqs, 1020)
        for word in range(1, end // 32):
            gic.write(d + GICD_IGROUPR + 4 * word, 0xFFFFFFFF, 4, 0)
            gic.write(d + GICD_ICACTIVER + 4 * word, 0xFFFFFFFF, 4, 0)
            gic.write(d + GICD_ICENABLER + 4 * word, 0xFFFFFFFF, 4, 0)
        for intid in range(32, end):
            gic.write(d + GICD_IPRIORITYR + intid, GICD_INT_DEF_PRI, 1, 0)
            gic.write(d + GICD_IROUTER + 8 * intid, 0, 8, 0)  # MPIDR of the boot CPU
        for word in range(2, end // 16):
            gic.write(d + GICD_ICFGR + 4 * word, 0, 4, 0)
        gic.write(d + GICD_CTLR, GICD_CTLR_ARE_NS | GICD_CTLR_ENABLE_G1A, 4, 0)
        typer = 0
        for cpu in range(cfg.num_cpus):
            rd = self._rd(cpu)
            gic.write(rd + GICR_WAKER, 0, 4, cpu)  # gic_enable_redist
            sgi = rd + GICR_SGI_BASE
            gic.write(sgi + GICD_IGROUPR, 0xFFFFFFFF, 4, cpu)
            gic.write(sgi + GICD_ICACTIVER, 0xFFFFFFFF, 4, cpu)
            gic.write(sgi + GICD_ICENABLER, 0xFFFF0000, 4, cpu)
            for intid in range(32):
                gic.write(sgi + GICD_IPRIORITYR + intid, GICD_INT_DEF_PRI, 1, cpu)
            gic.write(sgi + GICD_ISENABLER, 1 << IPI_RESCHEDULE, 4, cpu)
            ci = gic.cpu_if[cpu]
            ci.write_pmr(DEFAULT_PMR_VALUE)
            ci.write_bpr1(0)
            ci.write_ctlr(ICC_CTLR_EL1_EOIMODE_DROP if self.eoimode1 else 0)
            ci.write_igrpen1(1)
            typer = gic.read(rd + GICR_TYPER, 8, cpu)
            self.chip.cpu_affinity.append(_typer_to_irouter(typer))
        if cfg.its:
            its = self.its = ItsNode(self.m, gic, self.genirq, self)
            its.init()
        maint = self.map_ppi(cfg.maintenance_intid)
        self.kvm_info = GicKvmInfo(GIC_V3, maint, has_v4=bool(typer & _GICR_TYPER_VLPIS),
                                   has_v4_1=bool(typer & _GICR_TYPER_RVPEID))

    def _set_type(self, intid: int, edge: bool, cpu: int) -> None:
        """``gic_set_type`` → ``gic_configure_irq``: Int_config[1] of GICD_ICFGR (SPIs) or
        GICR_ICFGR1 (PPIs), read-modify-write."""
        base = self.chip._base(intid, cpu)
        off = base + GICD_ICFGR + (intid >> 4) * 4
        bit = 2 << ((intid & 15) * 2)
        old = self.gic.read(off, 4, cpu)
        new = (old | bit) if edge else (old & ~bit)
        if new != old:
            self.gic.write(off, new, 4, cpu)

    def map_spi(self, intid: int, edge: bool) -> int:
        """Create the Linux irq for SPI ``intid`` (``gic_irq_domain_map`` + ``gic_set_type``)."""
        irq = self.genirq.irq_create_mapping(self.chip, intid)
        self._set_type(intid, edge, 0)
        return irq

    def map_ppi(self, intid: int) -> int:
        """Create the Linux irq for PPI ``intid`` (per-CPU devid flow)."""
        return self.genirq.irq_create_mapping(self.chip, intid)

    def set_ppi_type(self, intid: int, edge: bool, cpu: int) -> None:
        """``gic_set_type`` for the banked PPI ``intid`` of ``cpu`` (GICR_ICFGR1)."""
        self._set_type(intid, edge, cpu)

    # ---------------------------------------------------------------- IPIs
    def send_reschedule(self, target: int, source: int, delay: int = 0) -> None:
        """``smp_send_reschedule`` → ``gic_ipi_send_mask``: an ICC_SGI1R_EL1 write of SGI
        ``IPI_RESCHEDULE`` to Aff0 = ``target``; the SGI reaches the target's redistributor
        ``delay`` ns later, the sender pays only the access."""
        self.m.acc += self.gicc
        value = IPI_RESCHEDULE << ICC_SGI1R_SGI_ID_SHIFT | (target >> 4) << 16 | 1 << (target & 15)
        if delay > 0:
            self.m.engine.schedule(delay, self.gic.cpu_if[source].write_sgi1r, value)
        else:
            self.gic.cpu_if[source].write_sgi1r(value)

    def _ipi_resched(self, cpu: PhysCpu) -> int:
        cpu.need_resched = True
        return 0

    # ---------------------------------------------------------------- gic_handle_irq
    def _deferred_eoi_step(self, cpu: PhysCpu) -> int:
        """The flow handler's ``irq_eoi`` (ICC_DIR_EL1 / ICC_EOIR1_EL1) after its cost."""
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
        """One iteration of the ``gic_handle_irq`` loop on ``cpu``."""
        return self._iter(cpu)

    def _handler_exit(self, c: int) -> None:
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
        irqnr = ci.read_iar1() & 0xFFFFFF
        rec = self.m.recorder
        if 1020 <= irqnr <= 1023:
            # gic_irqnr_is_special: end of the loop, never EOI'd; exception return
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
            # IPIs: EOIR, and DIR in EOImode 1 (never forwarded)
            ci.write_eoir1(irqnr)
            cost += self.gicc
            if self.eoimode1:
                ci.write_dir(irqnr)
                cost += self.gicc
            h = self.ipi_handlers.get(irqnr)
            if h is not None:
                cost += h(cpu)
            cpu.next = self._iter_steps[c]
            return cost
        lpi = irqnr >= LPI_BASE
        if self.eoimode1 or lpi:
            # gic_complete_ack (EOImode 1); an LPI's EOI is its whole story in either mode
            ci.write_eoir1(irqnr)
            cost += self.gicc
        chip = self.chip
        q = self._eoi_q[c]
        chip.deferred_eoi = q
        try:
            r = self.genirq.generic_handle_domain_irq(irqnr, c)
        finally:
            chip.deferred_eoi = None
        if q:
            cpu.next = self._eoi_steps[c]
            return cost + self.flow_ns + r
        if r < 0:
            # gic_deactivate_unhandled
            rec.count("host_irqs_unhandled")
            if self._in_handler[c] >= 0:
                self._in_handler[c] |= 1
            if not lpi:
                if self.eoimode1:
                    ci.write_dir(irqnr)
                else:
                    ci.write_eoir1(irqnr)
                cost += self.gicc
        else:
            cost += self.flow_ns + r
        cpu.next = self._iter_steps[c]
        return cost


class _CpuSteps:
    """``gic_handle_irq``'s steps bound to one pCPU."""

    __slots__ = ("cpu", "drv")

    def __init__(self, drv: GicV3Driver, cpu: PhysCpu) -> None:
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
