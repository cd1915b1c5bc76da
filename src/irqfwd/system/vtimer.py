"""Wiring of the arch timer into a built system: hardware, host irq, KVM hooks, guest tick.

:class:`VtimerSystem` owns

* the Generic Timer hardware (:class:`~irqfwd.hw.timer.ArchTimers`, outputs on the GIC's
  PPIs 27/30/26 of each pCPU);
* the host side of ``kvm_timer_hyp_init``: the vtimer PPI mapped by the GIC driver
  (``map_ppi``), requested per CPU (``request_percpu_irq`` → ``kvm_arch_timer_handler``),
  enabled on every CPU, level-sensitive, and forwarded (``irq_set_vcpu_affinity``).  Under
  ``sw-deactivate`` the "kvm-timer" irqchip (:class:`KvmTimerChip`, §6.5) is pushed on top
  of the GIC's irq_data: it keeps the forwarding to itself (the GIC still deactivates the
  PPI with DIR), masks the PPI at ack and turns ``irq_set_irqchip_state(ACTIVE)`` into a
  mask/unmask of the parent;
* :class:`~irqfwd.host.kvm.arch_timer.KvmArchTimer` with a :class:`HostTimerPlatform`
  adapter over genirq and the VM's vgic;
* per vCPU: the timer context, ``kvm_timer_enable`` (vgic mapping, owner = context), the
  scheduler hooks ``on_load``/``on_put``/``on_block``/``on_unblock``, and — when the
  VM's :class:`~irqfwd.config.TimerConfig` is enabled — the guest's clock event
  (:class:`~irqfwd.guest.timer.GuestTimer`): PPI 27 enabled through trapped GICD writes
  appended to the vCPU's boot MMIO, the first deadline armed at creation, and the timer
  handler registered for vINTID 27 with
  :meth:`~irqfwd.guest.kernel.GuestKernel.register_irq_handler` (one handler per guest,
  dispatching to the vCPU's own clock event, as ``request_percpu_irq`` does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from irqfwd.config import TimerConfig
from irqfwd.guest.timer import GuestTimer
from irqfwd.host.genirq import (
    IRQCHIP_STATE_ACTIVE as GENIRQ_ACTIVE,
)
from irqfwd.host.genirq import (
    IRQCHIP_STATE_MASKED as GENIRQ_MASKED,
)
from irqfwd.host.genirq import (
    IRQCHIP_STATE_PENDING as GENIRQ_PENDING,
)
from irqfwd.host.genirq import (
    IRQD_FORWARDED_TO_VCPU,
    IrqChip,
    IrqData,
)
from irqfwd.host.kvm.arch_timer import (
    IRQCHIP_STATE_ACTIVE,
    IRQCHIP_STATE_MASKED,
    IRQCHIP_STATE_PENDING,
    ArchTimerContext,
    KvmArchTimer,
    TimerIrqOps,
    timer_design_for,
)
from irqfwd.host.kvm.arm_vgic import VGIC_IRQ_SW_RESAMPLE, IrqOps
from irqfwd.hw.machine import PhysCpu
from irqfwd.hw.timer import CTL_ENABLE, DEFAULT_FREQ_HZ, PPI_VTIMER, ArchTimers
from irqfwd.sim.engine import URGENT

if TYPE_CHECKING:
    from irqfwd.guest.kernel import GuestCpu
    from irqfwd.host.kernel import HostKernel
    from irqfwd.host.kvm.vcpu import Vcpu
    from irqfwd.hw.machine import Machine, Step

__all__ = ["GUEST_TIMER_PRIO", "HostTimerPlatform", "KvmTimerChip", "VtimerSystem", "install_vtimer"]

SPIN_QUANTUM_NS: Final = 2_000
"""Longest single step of a CPU-bound guest (it ends earlier at the next non-CPU engine entry)."""
GUEST_TIMER_PRIO: Final = 0xA0
"""Priority the guest gives its timer PPI (Linux: GICD_INT_DEF_PRI)."""

_STATE = {IRQCHIP_STATE_ACTIVE: GENIRQ_ACTIVE, IRQCHIP_STATE_PENDING: GENIRQ_PENDING, IRQCHIP_STATE_MASKED: GENIRQ_MASKED}


class KvmTimerChip(IrqChip):
    """The "kvm-timer" irqchip of hosts without hardware deactivation (arch_timer.c ``timer_chip``, §6.5).

    Sits on top of the GIC's irq_data of the vtimer PPI.  ``irq_set_vcpu_affinity`` only
    marks *this* level forwarded; ``irq_set_irqchip_state(ACTIVE)`` on a forwarded irq is a
    mask (active) / unmask (inactive) of the parent, routed through
    :meth:`KvmArchTimer.kvm_timer_set_phys_active_sw` so KVM's bookkeeping stays exact;
    ``irq_eoi`` always reaches the parent (on a GIC the PPI must still be deactivated).
    """

    name = "KVM"

    def __init__(self, vt: VtimerSystem) -> None:
        self.vt = vt
        self.irq_set_vcpu_affinity = self._set_vcpu_affinity
        self.irq_get_irqchip_state = self._get_state
        self.irq_set_irqchip_state = self._set_state

    @staticmethod
    def _parent(d: IrqData) -> IrqData:
        assert d.parent_data is not None
        return d.parent_data

    def irq_mask(self, d: IrqData, cpu: int = 0) -> None:
        p = self._parent(d)
        p.chip.irq_mask(p, cpu)

    def irq_unmask(self, d: IrqData, cpu: int = 0) -> None:
        p = self._parent(d)
        p.chip.irq_unmask(p, cpu)

    def irq_eoi(self, d: IrqData, cpu: int = 0) -> None:
        p = self._parent(d)
        p.chip.irq_eoi(p, cpu)

    def _set_vcpu_affinity(self, d: IrqData, vcpu: Any) -> int:
        if vcpu is not None:
            d.state |= IRQD_FORWARDED_TO_VCPU
        else:
            d.state &= ~IRQD_FORWARDED_TO_VCPU
        return 0

    def _get_state(self, d: IrqData, which: int, cpu: int) -> bool | int:
        if which == GENIRQ_ACTIVE and d.state & IRQD_FORWARDED_TO_VCPU:
            return self.vt.kt.masked(cpu)
        p = self._parent(d)
        cb = p.chip.irq_get_irqchip_state
        return cb(p, which, cpu) if cb is not None else False

    def _set_state(self, d: IrqData, which: int, val: bool, cpu: int) -> int:
        if which == GENIRQ_ACTIVE and d.state & IRQD_FORWARDED_TO_VCPU:
            self.vt.m.acc += self.vt.kt.kvm_timer_set_phys_active_sw(cpu, val)
            return 0
        p = self._parent(d)
        cb = p.chip.irq_set_irqchip_state
        return cb(p, which, val, cpu) if cb is not None else -22


class HostTimerPlatform:
    """:class:`~irqfwd.host.kvm.arch_timer.TimerPlatform` over the host's genirq and each VM's vgic."""

    def __init__(self, machine: Machine, host: HostKernel) -> None:
        self.m = machine
        self.host = host
        c = machine.costs
        self._lock_ns = max(0, c.irqchip_state_ns - c.gicd_access_ns)
        """genirq locking around a state access (the GIC chip charges the distributor access)."""

    def irq_get_irqchip_state(self, irq: int, which: str, cpu: int) -> bool:
        self.m.acc += self._lock_ns
        err, state = self.host.genirq.irq_get_irqchip_state(irq, _STATE[which], cpu)
        if err:
            raise RuntimeError(f"irq_get_irqchip_state({irq}) failed: {err}")
        return state

    def irq_set_irqchip_state(self, irq: int, which: str, value: bool, cpu: int) -> None:
        self.m.acc += self._lock_ns
        err = self.host.genirq.irq_set_irqchip_state(irq, _STATE[which], value, cpu)
        if err:
            raise RuntimeError(f"irq_set_irqchip_state({irq}) failed: {err}")

    def irq_set_vcpu_affinity(self, irq: int, vcpu_info: Any) -> int:
        return self.host.genirq.irq_set_vcpu_affinity(irq, vcpu_info)

    def disable_percpu_irq(self, irq: int, cpu: int) -> None:
        self.host.genirq.disable_percpu_irq(irq, cpu)

    def enable_percpu_irq(self, irq: int, cpu: int) -> None:
        self.host.genirq.enable_percpu_irq(irq, cpu)

    def kvm_vgic_map_phys_irq(self, vcpu: Any, host_irq: int, vintid: int, ops: TimerIrqOps) -> int:
        def get_input_level(intid: int) -> bool:
            return ops.get_input_level(vcpu, intid)

        vops = IrqOps(VGIC_IRQ_SW_RESAMPLE if ops.sw_resample else 0, get_input_level)
        return int(vcpu.kvm.vgic.kvm_vgic_map_phys_irq(vcpu, host_irq, vintid, vops))

    def kvm_vgic_inject_irq(self, vcpu: Any, intid: int, level: bool, owner: object) -> int:
        return int(vcpu.kvm.vgic.kvm_vgic_inject_irq(vcpu, intid, level, owner))

    def kvm_vgic_map_is_active(self, vcpu: Any, vintid: int) -> bool:
        return bool(vcpu.kvm.vgic.kvm_vgic_map_is_active(vcpu, vintid))

    def kvm_vgic_reset_mapped_irq(self, vcpu: Any, vintid: int) -> None:
        vcpu.kvm.vgic.kvm_vgic_reset_mapped_irq(vcpu, vintid)

    def kvm_vcpu_kick(self, vcpu: Any) -> None:
        vcpu.kvm.kvm_vcpu_kick(vcpu)


class VtimerSystem:
    """The arch timer of one simulated host (see the module docstring)."""

    def __init__(
        self,
        machine: Machine,
        host: HostKernel,
        design: str = "forwarded",
        freq_hz: int = DEFAULT_FREQ_HZ,
    ) -> None:
        self.m = machine
        self.host = host
        ncpu = len(machine.pcpus)
        self.hw = ArchTimers(machine.engine, ncpu, machine.gic, freq_hz=freq_hz)
        self.mode = timer_design_for(design)
        genirq = host.genirq
        self.host_irq = host.irqchip.map_ppi(PPI_VTIMER)
        if self.mode == "sw-deactivate":
            desc = genirq.irq_to_desc(self.host_irq)
            gic_data = desc.irq_data
            desc.irq_data = IrqData(self.host_irq, gic_data.hwirq, KvmTimerChip(self), gic_data)
            desc.irq_data.state = gic_data.state
        self.kt = KvmArchTimer(
            machine.engine, machine.recorder, machine.costs, self.hw,
            HostTimerPlatform(machine, host), design=self.mode, host_irq=self.host_irq,
        )
        genirq.request_percpu_irq(self.host_irq, self._host_handler, "kvm guest vtimer")
        for cpu in range(ncpu):
            host.irqchip.set_ppi_type(PPI_VTIMER, False, cpu)
            genirq.enable_percpu_irq(self.host_irq, cpu)
        self.kt.kvm_timer_hyp_init()
        self.guest_timers: list[GuestTimer] = []
        self._guest_timer_of: dict[GuestCpu, GuestTimer] = {}
        self._kvm_timer_irq_ns = machine.costs.kvm_timer_irq_ns

    # ------------------------------------------------------------------ host ISR
    def _host_handler(self, irq: int, dev_id: Any) -> int:
        cpu = max(self.m.cur, 0)
        return self._kvm_timer_irq_ns + self.kt.kvm_arch_timer_handler(cpu)

    # ------------------------------------------------------------------ vCPUs
    def add_vcpu(self, vcpu: Vcpu, gcpu: GuestCpu | None = None, config: TimerConfig | None = None) -> ArchTimerContext:
        """Create and enable ``vcpu``'s timer, hook it into the scheduler and (optionally) its guest."""
        kt = self.kt
        cntvoff = self.hw.counter.count()  # the VM's virtual count starts at 0 (kvm_timer_vcpu_init)
        ctx = kt.kvm_timer_vcpu_init(vcpu, vm=vcpu.kvm.index, vcpu_id=vcpu.vcpu_id, cntvoff=cntvoff)
        kt.kvm_timer_enable(ctx)
        irq = vcpu.kvm.vgic.get_irq(vcpu, PPI_VTIMER)
        if irq is not None:
            irq.owner = ctx  # kvm_vgic_set_owner(vcpu, vtimer_irq, ctx)

        def on_load(v: Vcpu, cpu: int) -> int:
            return kt.kvm_timer_vcpu_load(ctx, cpu)

        def on_put(v: Vcpu, cpu: int) -> int:
            return kt.kvm_timer_vcpu_put(ctx)

        def on_block(v: Vcpu, cpu: int) -> int:
            ctx.blocking = True
            return 0

        def on_unblock(v: Vcpu, cpu: int) -> int:
            ctx.blocking = False
            return 0

        vcpu.on_load.append(on_load)
        vcpu.on_put.append(on_put)
        vcpu.on_block.append(on_block)
        vcpu.on_unblock.append(on_unblock)
        if config is not None and config.enabled and gcpu is not None:
            self._attach_guest(vcpu, gcpu, ctx, config)
        return ctx

    def _attach_guest(self, vcpu: Vcpu, gcpu: GuestCpu, ctx: ArchTimerContext, config: TimerConfig) -> None:
        gt = GuestTimer(self.m.engine, self.m.recorder, self.m.costs, config, vm=vcpu.kvm.index,
                        vcpu=vcpu.vcpu_id, cntvoff=ctx.cntvoff)
        self.guest_timers.append(gt)
        # gic_cpu_init/request_percpu_irq on this vCPU: priority and enable of the banked PPI (trapped)
        gcpu.boot_ops.extend(gcpu.gic.percpu_irq_ops(PPI_VTIMER, GUEST_TIMER_PRIO))
        # the first clock event, programmed before the vCPU first runs (saved context); guests
        # boot at different times, so the first periodic deadline has a random phase
        first_ns = gt.next_delay_ns()
        if config.mode == "periodic":
            first_ns = first_ns // 2 + self.m.engine.rng.randrange(first_ns)
        period_ticks = self.hw.counter.ns_to_ticks(first_ns)
        ctx.cnt_cval = period_ticks
        ctx.cnt_ctl = CTL_ENABLE
        gt.cval = period_ticks
        gt.deadline_ns = self.hw.counter.time_of(ctx.cntvoff + period_ticks)
        gt.started = True
        rec = self.m.recorder

        def announce() -> None:  # once the run starts, so checkers attached after the build see it
            if rec.wants("guest_timer_program"):
                rec.emit("guest_timer_program", vm=gt.vm, vcpu=gt.vcpu, cval=gt.cval, deadline_ns=gt.deadline_ns)

        self.m.engine.schedule(0, announce, priority=URGENT)
        # request_percpu_irq(arch_timer_handler_virt): one handler per guest, per-vCPU data
        self._guest_timer_of[gcpu] = gt
        if PPI_VTIMER not in gcpu.k.irq_handlers:
            gcpu.k.register_irq_handler(PPI_VTIMER, self._guest_timer_handler)
        if config.guest_busy:
            spin = self._spin_step(gcpu)
            gcpu.idle_step = spin
            gcpu._wfi_resume = spin

    def _guest_timer_handler(self, gcpu: GuestCpu) -> int:
        """The guest's ``arch_timer_handler_virt`` for vINTID 27 on ``gcpu`` (its clock event)."""
        gt = self._guest_timer_of.get(gcpu)
        if gt is None:  # this vCPU has no guest tick: a spurious interrupt
            return 0
        cpu = gcpu.vcpu.cpu
        assert cpu is not None
        return gt.handle_irq(self.hw[cpu.index])

    def spin_quantum(self) -> int:
        """Length of one step of a CPU-bound guest: until something may interrupt it.

        Interrupts are taken at step boundaries, so the step ends at the next engine entry
        that is not merely another pCPU's step chain (timer and device events are exact),
        and at most :data:`SPIN_QUANTUM_NS` later: an IPI or kick sent from another pCPU's
        step is seen within that quantum.  (Ending at *every* entry would make two spinning
        pCPUs leapfrog each other nanosecond by nanosecond.)  Never 0: a zero-length step at
        an instant with a LATE entry pending would re-run before it forever.
        """
        engine = self.m.engine
        now = engine.now
        limit = now + SPIN_QUANTUM_NS
        t = engine.next_time(limit, skip=_is_cpu_step)
        return max((limit if t is None else t) - now, 1)

    def _spin_step(self, gcpu: GuestCpu) -> Step:
        """The idle loop of a CPU-bound guest (``TimerConfig.guest_busy``)."""

        def spin() -> int:
            gcpu._set_next(spin)
            return self.spin_quantum()

        return spin


def _is_cpu_step(callback: Any) -> bool:
    """True for a pCPU's step chain (``PhysCpu._run``), which a spinning guest step ignores."""
    # Compared by owner and name: a mypyc-compiled bound method has no ``__func__``.
    return isinstance(getattr(callback, "__self__", None), PhysCpu) and (
        getattr(callback, "__name__", "") == "_run"
    )


def install_vtimer(machine: Machine, host: HostKernel, vms: list[Any], guests: list[Any],
                   config: Any, hw_deactivation: bool = True) -> VtimerSystem:
    """Build the arch timer of a system (``build_system`` hook): every vCPU of every VM gets
    its KVM timer context; VMs whose ``TimerConfig`` is enabled also run the guest tick.

    ``hw_deactivation`` is the delivery design's flag (False: ``sw-deactivate``, §6.5).
    """
    import irqfwd.check.timer  # noqa: F401  (registers the timer invariant rules)

    vt = VtimerSystem(machine, host, "forwarded" if hw_deactivation else "sw-deactivate")
    for kvm, guest, vmc in zip(vms, guests, config.vms, strict=True):
        for vcpu, gcpu in zip(kvm.vcpus, guest.cpus, strict=True):
            vt.add_vcpu(vcpu, gcpu, vmc.timer)
    return vt
