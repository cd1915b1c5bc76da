"""KVM's arch timer backend: the guest virtual timer as a forwarded (HW-mapped) PPI.

Models ``arch/arm64/kvm/arch_timer.c`` (Linux 6.x):

* **Init** (``kvm_timer_hyp_init``): the host vtimer PPI (27) is forwarded to vCPUs
  *once and permanently* with ``irq_set_vcpu_affinity`` when the host GIC has an active
  state, so the host's ``irq_eoi`` never deactivates it (EOImode 1: priority drop only).
* **Enable** (``kvm_timer_enable``): ``kvm_vgic_map_phys_irq(vcpu, host_irq, 27, ops)``
  with ``ops.get_input_level = kvm_arch_timer_get_input_level``.
* **Load** (``kvm_timer_vcpu_load`` → ``kvm_timer_vcpu_load_gic``): recompute the level
  (``kvm_timer_should_fire``) and update the vgic (``kvm_timer_update_irq`` with the timer
  context as owner); set the physical PPI's Active state to
  ``kvm_vgic_map_is_active(vcpu, 27) or level`` with ``irq_set_irqchip_state(ACTIVE)``;
  cancel the background timer; restore ``CNTVOFF_EL2``, ``CNTV_CVAL``, ``CNTV_CTL``.
  Only "inactive" is cached (commit 9b4a3004439d): a cached "active" could be
  stale because the guest's EOI through the HW bit clears it behind KVM's back.
* **Put** (``kvm_timer_vcpu_put``): save ``CNTV_CTL``/``CNTV_CVAL``, disable the hardware
  timer so it cannot fire for the next context, and if the vCPU blocks in WFI arm the
  background hrtimer (``bg_timer``) at the guest's deadline.  The physical Active state is
  not saved: the next load recomputes it.
* **Host ISR** (``kvm_arch_timer_handler``): with no vCPU loaded on this CPU the
  interrupt is ignored (it stays Active: forwarded, no DIR); otherwise, if the timer
  condition holds, the level is raised into the vgic.

Designs (``irqfwd.system.designs``): ``forwarded`` (HW-mapped vtimer, the Linux default),
``sw-deactivate`` (a host without hardware deactivation, Apple M1 style, Linux 5.14: the timer
LR gets no HW bit and gets the EOI bit, the guest's EOI exits, the "kvm-timer" irqchip
emulates Active as a *mask* of the host PPI, unmasked at fold once the virtual interrupt
is neither active nor latched) and ``timer-no-vgic`` (no active-state support: the PPI is
``disable_percpu_irq``-masked while the output is asserted, ``kvm_timer_vcpu_load_nogic``).

Counters: ``timer_save``, ``timer_restore``, ``irqchip_state_get``, ``irqchip_state_set``,
``timer_spurious``, ``timer_wakeups`` (bg_timer expiries that reach ``kvm_vcpu_wake_up``
in ``kvm_bg_timer_expire``, which wakes whether or not another event already woke the vCPU
before its load cancelled the timer: the hrtimer expiries the host's
``timer:hrtimer_expire_entry`` counts for ``kvm_bg_timer_expire``, not only the wake-ups the
timer caused; those are in ``vcpu_wakeups``), ``timer_irq_injected`` (level=1 updates given to
the vgic), ``timer_put_active`` / ``timer_put_pending`` (vCPU put while its timer
interrupt is virtually active / its output asserted but not active: the switch or
migration cases); the latency path ``timer_expiry_to_guest_handler`` is recorded by the guest
handler (:mod:`irqfwd.guest.timer`).  Trace events: ``kvm_timer_update_irq``
(``vcpu``, ``vm``, ``intid``, ``level``, ``cpu``), ``kvm_timer_save_state`` / ``kvm_timer_restore_state``
(``vcpu``, ``vm``, ``cpu``, ``ctl``, ``cval``), ``irqfwd_kvm_timer_phys_active`` (``cpu``, ``active``,
``cached``), ``hrtimer_expire_entry`` (``function`` = ``kvm_bg_timer_expire``, ``vcpu``,
``vm``: the host's ``timer:hrtimer_expire_entry`` for the bg_timer; KVM's own
``kvm_timer_hrtimer_expire`` belongs to ``kvm_hrtimer_expire``, the emulated timers',
which this model does not run), ``irqfwd_timer_host_irq``
(``cpu``, ``vcpu``, ``vm``, ``condition``).

Every public operation returns the simulated time it costs in ns *beyond* what its callees
charge themselves (the vgic, genirq and the GIC chip charge through
``Machine.charge``); the caller adds it to the step that runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from irqfwd._mypyc import mypyc_attr
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
from irqfwd.host.kernel import HostKernel
from irqfwd.host.kvm.arm_vgic import VGIC_IRQ_SW_RESAMPLE, IrqOps
from irqfwd.host.kvm.events import (
    KvmTimerPhysActive,
    KvmTimerRestoreState,
    KvmTimerSaveState,
    KvmTimerUpdateIrq,
)
from irqfwd.host.kvm.kvm_host import KvmVcpu, VcpuHooks
from irqfwd.host.kvm.vgic import (
    kvm_vgic_inject_irq,
    kvm_vgic_map_is_active,
    kvm_vgic_map_phys_irq,
    kvm_vgic_reset_mapped_irq,
)
from irqfwd.hw.machine import Machine
from irqfwd.hw.timer import CTL_ENABLE, CTL_IMASK, CTL_ISTATUS, PPI_VTIMER, ArchTimers, u64
from irqfwd.sim.costs import CostProfile
from irqfwd.sim.engine import Engine, Handle
from irqfwd.sim.metrics import Recorder

__all__ = [
    "IRQCHIP_STATE_ACTIVE",
    "IRQCHIP_STATE_MASKED",
    "IRQCHIP_STATE_PENDING",
    "SCENARIO_DESIGNS",
    "TIMER_DESIGNS",
    "ArchTimerContext",
    "HostTimerPlatform",
    "KvmArchTimer",
    "KvmTimerChip",
    "TimerDesign",
    "TimerPlatform",
    "VcpuTimerHooks",
    "timer_design_for",
]


TimerDesign = Literal["forwarded", "sw-deactivate", "timer-no-vgic"]
TIMER_DESIGNS: tuple[str, ...] = ("forwarded", "sw-deactivate", "timer-no-vgic")
"""Timer delivery designs this backend implements."""

SCENARIO_DESIGNS: tuple[str, ...] = ("forwarded", "sw-deactivate")
"""Delivery designs under which the ``vtimer-*`` scenarios run (``timer-no-vgic`` needs a
userspace irqchip, which the simulator does not model: unit-tested only)."""

_MASK64: Final = (1 << 64) - 1


def timer_design_for(design: str) -> str:
    """The timer backend mode under system delivery design ``design``.

    The vtimer is HW-mapped whatever path pass-through devices take (``irqfd-resample``,
    ``forwarded``, ...), as in Linux; only ``sw-deactivate`` (a host without hardware
    deactivation) and ``timer-no-vgic`` change it.
    """
    return design if design in ("sw-deactivate", "timer-no-vgic") else "forwarded"


@mypyc_attr(allow_interpreted_subclasses=True)
class TimerPlatform:
    """Host services arch_timer.c calls, for the physical CPU ``cpu`` it runs on.

    Implemented by :class:`HostTimerPlatform` over ``irqfwd.host.genirq`` and
    ``irqfwd.host.kvm.vgic`` (see :mod:`irqfwd.system.vtimer`) or by a test fake; a base
    class rather than a protocol, so that each call is a native one in the compiled build
    (several per vCPU switch).
    """

    def irq_get_irqchip_state(self, irq: int, which: int, cpu: int) -> bool:
        """``irq_get_irqchip_state`` of the host timer PPI on ``cpu``."""
        raise NotImplementedError

    def irq_set_irqchip_state(self, irq: int, which: int, value: bool, cpu: int) -> None:
        """``irq_set_irqchip_state``."""
        raise NotImplementedError

    def irq_set_vcpu_affinity(self, irq: int, vcpu_info: Any) -> int:
        """``irq_set_vcpu_affinity``: forward (or, with None, un-forward) ``irq``."""
        raise NotImplementedError

    def disable_percpu_irq(self, irq: int, cpu: int) -> None:
        """``disable_percpu_irq``."""
        raise NotImplementedError

    def enable_percpu_irq(self, irq: int, cpu: int) -> None:
        """``enable_percpu_irq``."""
        raise NotImplementedError

    def kvm_vgic_map_phys_irq(self, vcpu: Any, host_irq: int, vintid: int, ops: IrqOps) -> int:
        """``kvm_vgic_map_phys_irq``."""
        raise NotImplementedError

    def kvm_vgic_inject_irq(self, vcpu: Any, intid: int, level: bool, owner: object) -> int:
        """``kvm_vgic_inject_irq``."""
        raise NotImplementedError

    def kvm_vgic_map_is_active(self, vcpu: Any, vintid: int) -> bool:
        """``kvm_vgic_map_is_active``."""
        raise NotImplementedError

    def kvm_vgic_reset_mapped_irq(self, vcpu: Any, vintid: int) -> None:
        """``kvm_vgic_reset_mapped_irq``."""
        raise NotImplementedError

    def kvm_vcpu_wake_up(self, vcpu: Any) -> None:
        """``kvm_vcpu_wake_up``: make a blocked vCPU runnable (nothing if it is not blocked)."""
        raise NotImplementedError


@dataclass
class ArchTimerContext:
    """``struct arch_timer_context`` of a vCPU's virtual timer (plus the KVM bookkeeping)."""

    vcpu: Any
    vm: int
    vcpu_id: int
    cnt_ctl: int = 0
    """Saved CNTV_CTL_EL0 (ENABLE/IMASK/ISTATUS as last read)."""
    cnt_cval: int = 0
    """Saved CNTV_CVAL_EL0."""
    cntvoff: int = 0
    """The VM's CNTVOFF_EL2."""
    irq_level: bool = False
    """``ctx->irq.level``: the level last given to the vgic."""
    loaded: bool = False
    """The registers live in the hardware of ``cpu``."""
    cpu: int | None = None
    intid: int = PPI_VTIMER
    host_irq: int = PPI_VTIMER
    enabled: bool = False
    """``kvm_timer_enable`` done (vgic mapping in place)."""
    blocking: bool = False
    """The vCPU is blocked in WFI (``kvm_vcpu_is_blocking``)."""
    bg_timer: Handle | None = None
    """The background hrtimer armed at put while blocking."""


def _ctl_fires(ctl: int) -> bool:
    """A CNTV_CTL value as read (ISTATUS included) asserts the output: ENABLE, ISTATUS, not IMASK."""
    return bool(ctl & CTL_ENABLE) and bool(ctl & CTL_ISTATUS) and not ctl & CTL_IMASK


class _InputLevel:
    """``arch_timer_irq_ops.get_input_level`` bound to one vCPU."""

    __slots__ = ("kt", "vcpu")

    def __init__(self, kt: KvmArchTimer, vcpu: Any) -> None:
        self.kt = kt
        self.vcpu = vcpu

    def get_input_level(self, vintid: int) -> bool:
        """``kvm_arch_timer_get_input_level``."""
        return self.kt.kvm_arch_timer_get_input_level(self.vcpu, vintid)


class VcpuTimerHooks(VcpuHooks):
    """The vCPU load/put/block/unblock hooks of one timer context (``KvmVcpu.hooks``):
    ``kvm_timer_vcpu_load``/``put`` and ``kvm_vcpu_is_blocking`` as ``ctx.blocking``.  A
    class of this compiled module so that a vCPU switch calls no interpreted code."""

    __slots__ = ("ctx", "kt")

    def __init__(self, kt: KvmArchTimer, ctx: ArchTimerContext) -> None:
        self.kt = kt
        self.ctx = ctx

    def on_load(self, v: KvmVcpu, cpu: int) -> int:
        return self.kt.kvm_timer_vcpu_load(self.ctx, cpu)

    def on_put(self, v: KvmVcpu, cpu: int) -> int:
        return self.kt.kvm_timer_vcpu_put(self.ctx)

    def on_block(self, v: KvmVcpu, cpu: int) -> int:
        self.ctx.blocking = True
        return 0

    def on_unblock(self, v: KvmVcpu, cpu: int) -> int:
        self.ctx.blocking = False
        return 0


# Tests inject faults with interpreted subclasses that override a method (system.vtimer
# builds the class it names), so native instances keep native calls.
@mypyc_attr(allow_interpreted_subclasses=True)
class KvmArchTimer:
    """The KVM arch timer of one host: per-vCPU contexts, per-pCPU loaded vCPU."""

    def __init__(
        self,
        engine: Engine,
        recorder: Recorder,
        costs: CostProfile,
        timers: ArchTimers,
        platform: TimerPlatform,
        design: str = "forwarded",
        host_irq: int = PPI_VTIMER,
        cache_inactive: bool = False,
        preserve_active: bool = True,
    ) -> None:
        if design not in TIMER_DESIGNS:
            raise ValueError(f"timer design {design!r} is not one of {', '.join(TIMER_DESIGNS)}")
        self.engine = engine
        self.rec = recorder
        self.costs = costs
        self.timers = timers
        self.platform = platform
        self.design = design
        self.host_irq = host_irq
        self.has_gic_active_state = design != "timer-no-vgic"
        """Static key ``has_gic_active_state`` (``kvm_timer_hyp_init``)."""
        self.no_hw_deactivation = design == "sw-deactivate"
        """``gic_kvm_info.no_hw_deactivation`` (Apple M1, Linux 5.14)."""
        self.running: list[ArchTimerContext | None] = [None] * len(timers)
        """``kvm_get_running_vcpu()`` per physical CPU (the loaded timer context)."""
        self.cache_inactive = cache_inactive
        """Skip the Active write when the PPI is known inactive (9b4a3004439d; kernel profile
        ``5.8``); Linux 6.x writes it on every ``kvm_timer_vcpu_load_gic``."""
        self.preserve_active = preserve_active
        """At load, keep the PPI Active while the virtual interrupt is active (0e3dfda91d9f
        "arch_timer: Preserve physical dist. active state on LR.active"); False: the Active
        state follows the output level only (the fault-timer-clear-active design)."""
        self._inactive_cached: list[bool] = [False] * len(timers)
        """Per pCPU: the PPI's Active state is known to be clear (9b4a3004439d)."""
        self._masked: list[bool] = [False] * len(timers)
        """sw-deactivate / no-vgic: the host PPI is masked on this CPU."""
        self.contexts: list[ArchTimerContext] = []
        self._initialised = False
        # hot counters and emission sites of the vCPU switch path (load/put at every switch)
        self._c_timer_save = recorder.counter("timer_save")
        self._c_timer_restore = recorder.counter("timer_restore")
        self._c_irqchip_state_set = recorder.counter("irqchip_state_set")
        self._c_irq_injected = recorder.counter("timer_irq_injected")
        self._c_put_active = recorder.counter("timer_put_active")
        self._c_put_pending = recorder.counter("timer_put_pending")
        self._ev_update_irq = recorder.site(KvmTimerUpdateIrq())
        self._ev_save = recorder.site(KvmTimerSaveState())
        self._ev_restore = recorder.site(KvmTimerRestoreState())
        self._ev_phys_active = recorder.site(KvmTimerPhysActive())

    # ------------------------------------------------------------------ setup
    def kvm_timer_hyp_init(self) -> int:
        """Forward the host vtimer PPI permanently (``irq_set_vcpu_affinity``, ``kvm_timer_hyp_init``).

        Under ``sw-deactivate`` the call lands on the "kvm-timer" irqchip, which only
        records the forwarding (it never reaches the GIC, which keeps deactivating the PPI
        itself) and from then on turns ``irq_set_irqchip_state(ACTIVE)`` into mask/unmask;
        under ``timer-no-vgic`` (no active state) nothing is forwarded.
        """
        self._initialised = True
        if self.has_gic_active_state:
            ret = self.platform.irq_set_vcpu_affinity(self.host_irq, self)
            if ret:
                raise RuntimeError(f"irq_set_vcpu_affinity(vtimer) failed: {ret}")
        return 0

    def kvm_timer_vcpu_init(self, vcpu: Any, vm: int, vcpu_id: int, cntvoff: int = 0) -> ArchTimerContext:
        """Create the vCPU's virtual timer context (``kvm_timer_vcpu_init``)."""
        ctx = ArchTimerContext(vcpu=vcpu, vm=vm, vcpu_id=vcpu_id, cntvoff=cntvoff & _MASK64, host_irq=self.host_irq)
        self.contexts.append(ctx)
        return ctx

    def kvm_timer_enable(self, ctx: ArchTimerContext) -> int:
        """Map the vtimer vINTID onto the host PPI (``kvm_timer_enable``)."""
        if not self._initialised:
            self.kvm_timer_hyp_init()
        if self.has_gic_active_state:
            get_input_level = _InputLevel(self, ctx.vcpu).get_input_level
            ops = IrqOps(VGIC_IRQ_SW_RESAMPLE if self.no_hw_deactivation else 0, get_input_level)
            ret = self.platform.kvm_vgic_map_phys_irq(ctx.vcpu, ctx.host_irq, ctx.intid, ops)
            if ret:
                raise RuntimeError(f"kvm_vgic_map_phys_irq failed: {ret}")
        ctx.enabled = True
        return 0

    def kvm_timer_vcpu_reset(self, ctx: ArchTimerContext) -> int:
        """Reset the timer (CTL=0) and the mapped irq's stale state (``kvm_vgic_reset_mapped_irq``)."""
        ctx.cnt_ctl = 0
        ctx.cnt_cval = 0
        ctx.irq_level = False
        if ctx.loaded and ctx.cpu is not None:
            self.timers[ctx.cpu].virt.write_ctl(0)
        if self.has_gic_active_state and ctx.enabled:
            self.platform.kvm_vgic_reset_mapped_irq(ctx.vcpu, ctx.intid)
        return 0

    # ------------------------------------------------------------------ level logic
    def kvm_timer_irq_can_fire(self, ctx: ArchTimerContext) -> bool:
        """``kvm_timer_irq_can_fire``: ENABLE set and IMASK clear (saved context)."""
        return bool(ctx.cnt_ctl & CTL_ENABLE) and not ctx.cnt_ctl & CTL_IMASK

    def _virtual_count(self, ctx: ArchTimerContext) -> int:
        v = self.timers.counter.count() - ctx.cntvoff
        return u64(v)

    def kvm_timer_should_fire(self, ctx: ArchTimerContext) -> bool:
        """``kvm_timer_should_fire``: from the hardware CTL when loaded, else from the saved context."""
        if ctx.loaded:
            assert ctx.cpu is not None
            return _ctl_fires(self.timers.cpus[ctx.cpu].virt.read_ctl())
        return self.kvm_timer_irq_can_fire(ctx) and self._virtual_count(ctx) >= ctx.cnt_cval

    def kvm_arch_timer_get_input_level(self, vcpu: Any, vintid: int) -> bool:
        """``get_input_level`` op of the mapping: the timer output as the vgic samples it."""
        for ctx in self.contexts:
            if ctx.vcpu is vcpu and ctx.intid == vintid:
                return self.kvm_timer_should_fire(ctx)
        return False

    def kvm_timer_update_irq(self, ctx: ArchTimerContext, new_level: bool) -> int:
        """Set ``ctx->irq.level`` and inject it with the timer context as owner."""
        if new_level:
            self._c_irq_injected.n += 1
        ctx.irq_level = new_level
        ev = self._ev_update_irq
        if ev.live:
            ev.vcpu = ctx.vcpu_id
            ev.vm = ctx.vm
            ev.intid = ctx.intid
            ev.level = new_level
            ev.cpu = ctx.cpu
            ev.emit()
        if self.has_gic_active_state:
            ret = self.platform.kvm_vgic_inject_irq(ctx.vcpu, ctx.intid, new_level, ctx)
            if ret:
                raise RuntimeError(f"kvm_vgic_inject_irq refused the timer: {ret}")
        return 0

    # ------------------------------------------------------------------ physical active state
    def _set_phys_active(self, cpu: int, active: bool) -> int:
        """``set_timer_irq_phys_active`` with the "inactive only" cache (9b4a3004439d)."""
        ev = self._ev_phys_active
        if not active and self.cache_inactive and self._inactive_cached[cpu]:
            if ev.live:
                self._emit_phys_active(cpu, False, True)
            return 0
        if self.no_hw_deactivation:
            # kvm-timer irqchip: Active is emulated as a mask of the parent (``timer_chip``)
            self._mask(cpu, active)
        else:
            self.platform.irq_set_irqchip_state(self.host_irq, IRQCHIP_STATE_ACTIVE, active, cpu)
        self._c_irqchip_state_set.n += 1
        self._inactive_cached[cpu] = not active
        if ev.live:
            self._emit_phys_active(cpu, active, False)
        return 0

    def _emit_phys_active(self, cpu: int, active: bool, cached: bool) -> None:
        """Trace ``irqfwd_kvm_timer_phys_active``."""
        ev = self._ev_phys_active
        ev.cpu = cpu
        ev.active = active
        ev.cached = cached
        ev.emit()

    def _mask(self, cpu: int, masked: bool) -> None:
        if masked == self._masked[cpu]:
            return
        self._masked[cpu] = masked
        if masked:
            self.platform.disable_percpu_irq(self.host_irq, cpu)
        else:
            self.platform.enable_percpu_irq(self.host_irq, cpu)

    def masked(self, cpu: int) -> bool:
        """sw-deactivate / no-vgic: the host vtimer PPI is masked on ``cpu`` (emulated Active)."""
        return self._masked[cpu]

    def phys_active(self, cpu: int) -> bool:
        """Read the PPI's physical Active state on ``cpu`` (``irq_get_irqchip_state``; counted)."""
        self.rec.count("irqchip_state_get")
        return self.platform.irq_get_irqchip_state(self.host_irq, IRQCHIP_STATE_ACTIVE, cpu)

    def kvm_timer_set_phys_active_sw(self, cpu: int, active: bool) -> int:
        """sw-deactivate: the vgic fold's ``vgic_irq_set_phys_active(irq, false)`` → unmask (``vgic_irq_handle_resampling``)."""
        return self._set_phys_active(cpu, active)

    # ------------------------------------------------------------------ load / put
    def kvm_timer_vcpu_load(self, ctx: ArchTimerContext, cpu: int) -> int:
        """``kvm_timer_vcpu_load``: level → vgic, physical Active, unblock, restore registers."""
        if not ctx.enabled:
            return 0
        cost = 0
        ctx.cpu = cpu
        self.running[cpu] = ctx
        if self.has_gic_active_state:
            cost += self._load_gic(ctx, cpu)
        else:
            cost += self._load_nogic(ctx, cpu)
        cost += self._unblocking(ctx)
        cost += self._restore_state(ctx, cpu)
        return cost

    def _load_gic(self, ctx: ArchTimerContext, cpu: int) -> int:
        """``kvm_timer_vcpu_load_gic``."""
        cost = self.kvm_timer_update_irq(ctx, self.kvm_timer_should_fire(ctx))
        virtual_active = self.platform.kvm_vgic_map_is_active(ctx.vcpu, ctx.intid)
        phys_active = (virtual_active and self.preserve_active) or ctx.irq_level
        return cost + self._set_phys_active(cpu, phys_active)

    def _load_nogic(self, ctx: ArchTimerContext, cpu: int) -> int:
        """``kvm_timer_vcpu_load_nogic``: mask the PPI while the output is asserted."""
        level = self.kvm_timer_should_fire(ctx)
        cost = self.kvm_timer_update_irq(ctx, level) if level != ctx.irq_level else 0
        self._mask(cpu, ctx.irq_level)
        return cost

    def _restore_state(self, ctx: ArchTimerContext, cpu: int) -> int:
        """``timer_restore_state``: CNTVOFF_EL2, CNTV_CVAL_EL0, then CNTV_CTL_EL0."""
        hw = self.timers.cpus[cpu]
        hw.write_cntvoff(ctx.cntvoff)
        virt = hw.virt
        virt.write_cval(ctx.cnt_cval)
        virt.write_ctl(ctx.cnt_ctl)
        ctx.loaded = True
        self._c_timer_restore.n += 1
        ev = self._ev_restore
        if ev.live:
            self._emit_state(ev, ctx, cpu)
        return 0

    @staticmethod
    def _emit_state(ev: KvmTimerSaveState, ctx: ArchTimerContext, cpu: int) -> None:
        """Trace ``kvm_timer_save_state`` / ``kvm_timer_restore_state``."""
        ev.vcpu = ctx.vcpu_id
        ev.vm = ctx.vm
        ev.cpu = cpu
        ev.ctl = ctx.cnt_ctl
        ev.cval = ctx.cnt_cval
        ev.emit()

    def kvm_timer_vcpu_put(self, ctx: ArchTimerContext) -> int:
        """``kvm_timer_vcpu_put``: save, disable the hardware timer, arm bg_timer if blocking."""
        if not ctx.enabled or not ctx.loaded:
            return 0
        cpu = ctx.cpu
        assert cpu is not None
        # kvm_vgic_map_is_active, read once: saving the timer and arming bg_timer below do
        # not touch the vgic (the hardware timer's output change only drives the GIC line)
        virtual_active = self.has_gic_active_state and self.platform.kvm_vgic_map_is_active(ctx.vcpu, ctx.intid)
        cost = self._save_state(ctx, cpu)
        if virtual_active:
            self._c_put_active.n += 1
        elif _ctl_fires(ctx.cnt_ctl):  # the output was asserted: the CTL just saved says so
            self._c_put_pending.n += 1
        if ctx.blocking:
            cost += self._blocking(ctx)
        if self.running[cpu] is ctx:
            self.running[cpu] = None
        if virtual_active:
            # the guest may have set the mapped irq active (ISACTIVER mirror): stop trusting the cache
            self._inactive_cached[cpu] = False
        if not self.has_gic_active_state:
            self._mask(cpu, False)
        return cost

    def _save_state(self, ctx: ArchTimerContext, cpu: int) -> int:
        """``timer_save_state``: read CTL/CVAL, then write CTL=0 so it cannot fire for the next context."""
        virt = self.timers.cpus[cpu].virt
        ctx.cnt_ctl = virt.read_ctl()
        ctx.cnt_cval = virt.read_cval()
        virt.write_ctl(0)
        ctx.loaded = False
        self._c_timer_save.n += 1
        ev = self._ev_save
        if ev.live:
            self._emit_state(ev, ctx, cpu)
        return 0

    # ------------------------------------------------------------------ blocking (WFI)
    def kvm_timer_earliest_exp_ns(self, ctx: ArchTimerContext) -> int | None:
        """ns from now until the guest's deadline (0 if passed), None if it cannot fire."""
        if not self.kvm_timer_irq_can_fire(ctx):
            return None
        count = self._virtual_count(ctx)
        if count >= ctx.cnt_cval:
            return 0
        counter = self.timers.counter
        now_unwrapped = counter.unwrapped_at(self.engine.now)
        return counter.time_of(now_unwrapped + (ctx.cnt_cval - count)) - self.engine.now

    def _blocking(self, ctx: ArchTimerContext) -> int:
        """``kvm_timer_blocking``: arm bg_timer at the earliest deadline if the timer can fire."""
        delay = self.kvm_timer_earliest_exp_ns(ctx)
        if delay is None:
            return 0
        self.engine.cancel(ctx.bg_timer)
        ctx.bg_timer = self.engine.schedule(delay, self._bg_timer_expire, ctx)
        return 0

    def _unblocking(self, ctx: ArchTimerContext) -> int:
        """``kvm_timer_unblocking``: cancel bg_timer."""
        if ctx.bg_timer is not None:
            self.engine.cancel(ctx.bg_timer)
            ctx.bg_timer = None
        return 0

    def _bg_timer_expire(self, ctx: ArchTimerContext) -> None:
        """``kvm_bg_timer_expire``: if the guest's deadline is still ahead
        (``kvm_timer_earliest_exp``: "NTP on the host may have forced it to expire early")
        the hrtimer is restarted for the rest; otherwise ``kvm_vcpu_wake_up``, whether the
        vCPU still sleeps or another event woke it before its load cancelled this timer
        (counter ``timer_wakeups``); its load will inject the level."""
        ctx.bg_timer = None
        if self.rec.wants("hrtimer_expire_entry"):
            self.rec.emit("hrtimer_expire_entry", function="kvm_bg_timer_expire", vcpu=ctx.vcpu_id, vm=ctx.vm)
        delay = self.kvm_timer_earliest_exp_ns(ctx)
        if delay:
            ctx.bg_timer = self.engine.schedule(delay, self._bg_timer_expire, ctx)
            return
        self.rec.count("timer_wakeups")
        self.platform.kvm_vcpu_wake_up(ctx.vcpu)

    def kvm_cpu_has_pending_timer(self, ctx: ArchTimerContext) -> bool:
        """``kvm_cpu_has_pending_timer``: the vCPU should not (stay) blocked because of its timer."""
        return self.kvm_timer_should_fire(ctx)

    # ------------------------------------------------------------------ host ISR
    def kvm_arch_timer_handler(self, cpu: int) -> int:
        """Host handler of the forwarded vtimer PPI on ``cpu`` (``kvm_arch_timer_handler``).

        The GIC driver already dropped the priority (EOImode 1) and, the irq being
        forwarded, will not deactivate it; under ``sw-deactivate`` the kvm-timer irqchip
        masks the PPI at ack (Active emulated as a mask) and the GIC deactivates it.
        """
        self._inactive_cached[cpu] = False  # the PPI was just acknowledged (activated) here
        cost = 0
        if self.no_hw_deactivation:
            self._mask(cpu, True)
        ctx = self.running[cpu]
        condition = ctx is not None and self.kvm_timer_should_fire(ctx)
        if self.rec.wants("irqfwd_timer_host_irq"):
            self.rec.emit(
                "irqfwd_timer_host_irq",
                cpu=cpu,
                vcpu=None if ctx is None else ctx.vcpu_id,
                vm=None if ctx is None else ctx.vm,
                condition=condition,
            )
        if ctx is None or not condition:
            self.rec.count("timer_spurious")
            return cost
        assert ctx is not None
        cost += self.kvm_timer_update_irq(ctx, True)
        if not self.has_gic_active_state:
            self._mask(cpu, True)
        return cost

    # ------------------------------------------------------------------ helpers
    def deadline_ns(self, ctx: ArchTimerContext) -> int:
        """Engine time at which the context's CVAL was (or will be) reached (saved or live registers)."""
        cval = self.timers[ctx.cpu].virt.cval if ctx.loaded and ctx.cpu is not None else ctx.cnt_cval
        counter = self.timers.counter
        count = self._virtual_count(ctx)
        now_unwrapped = counter.unwrapped_at(self.engine.now)
        delta = cval - count
        if delta >> 63 not in (0, -1):  # outside the signed 64-bit range: wrap it
            delta = ((delta + (1 << 63)) & _MASK64) - (1 << 63)
        return counter.time_of(now_unwrapped + delta)

    def context_of(self, vcpu: Any) -> ArchTimerContext | None:
        """The virtual timer context of ``vcpu``."""
        for ctx in self.contexts:
            if ctx.vcpu is vcpu:
                return ctx
        return None


# ---------------------------------------------------------------------- the host side
class KvmTimerChip(IrqChip):
    """The "kvm-timer" irqchip of hosts without hardware deactivation (arch_timer.c
    ``timer_chip``, pushed on the vtimer PPI's irq_data by ``kvm_irq_init``).

    Sits on top of the GIC's irq_data of the vtimer PPI.  ``irq_set_vcpu_affinity`` only
    marks *this* level forwarded; ``irq_set_irqchip_state(ACTIVE)`` on a forwarded irq is a
    mask (active) / unmask (inactive) of the parent, routed through
    :meth:`KvmArchTimer.kvm_timer_set_phys_active_sw` so KVM's bookkeeping stays exact;
    ``irq_eoi`` always reaches the parent (on a GIC the PPI must still be deactivated).
    """

    name = "KVM"

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        self.kt: KvmArchTimer | None = None
        """The arch timer it emulates Active for (set once it exists)."""
        self.irq_set_vcpu_affinity = self._set_vcpu_affinity
        self.irq_get_irqchip_state = self._get_state
        self.irq_set_irqchip_state = self._set_state

    @staticmethod
    def _parent(d: IrqData) -> IrqData:
        assert d.parent_data is not None
        return d.parent_data

    def _timer(self) -> KvmArchTimer:
        kt = self.kt
        assert kt is not None
        return kt

    def irq_mask(self, d: IrqData, cpu: int = 0) -> None:
        """``irq_chip_mask_parent``."""
        p = self._parent(d)
        p.chip.irq_mask(p, cpu)

    def irq_unmask(self, d: IrqData, cpu: int = 0) -> None:
        """``irq_chip_unmask_parent``."""
        p = self._parent(d)
        p.chip.irq_unmask(p, cpu)

    def irq_eoi(self, d: IrqData, cpu: int = 0) -> None:
        """``irq_chip_eoi_parent``."""
        p = self._parent(d)
        p.chip.irq_eoi(p, cpu)

    def _set_vcpu_affinity(self, d: IrqData, vcpu: Any) -> int:
        if vcpu is not None:
            d.state |= IRQD_FORWARDED_TO_VCPU
        else:
            d.state &= ~IRQD_FORWARDED_TO_VCPU
        return 0

    def _get_state(self, d: IrqData, which: int, cpu: int) -> bool | int:
        if which == IRQCHIP_STATE_ACTIVE and d.state & IRQD_FORWARDED_TO_VCPU:
            return self._timer().masked(cpu)
        p = self._parent(d)
        cb = p.chip.irq_get_irqchip_state
        return cb(p, which, cpu) if cb is not None else False

    def _set_state(self, d: IrqData, which: int, val: bool, cpu: int) -> int:
        if which == IRQCHIP_STATE_ACTIVE and d.state & IRQD_FORWARDED_TO_VCPU:
            self.m.acc += self._timer().kvm_timer_set_phys_active_sw(cpu, val)
            return 0
        p = self._parent(d)
        cb = p.chip.irq_set_irqchip_state
        return cb(p, which, val, cpu) if cb is not None else EINVAL


class HostTimerPlatform(TimerPlatform):
    """:class:`TimerPlatform` over the host's genirq and the vgic of each vCPU's VM."""

    def __init__(self, host: HostKernel) -> None:
        self.m = host.m
        self.genirq: Genirq = host.genirq
        c = host.m.costs
        self._lock_ns = max(0, c.irqchip_state_ns - c.gicd_access_ns)
        """genirq locking around a state access (the GIC chip charges the distributor access)."""

    def irq_get_irqchip_state(self, irq: int, which: int, cpu: int) -> bool:
        """``irq_get_irqchip_state`` (an error is a bug of the set-up: raised)."""
        self.m.acc += self._lock_ns
        err, state = self.genirq.irq_get_irqchip_state(irq, which, cpu)
        if err:
            raise RuntimeError(f"irq_get_irqchip_state({irq}) failed: {err}")
        return state

    def irq_set_irqchip_state(self, irq: int, which: int, value: bool, cpu: int) -> None:
        """``irq_set_irqchip_state`` (an error is a bug of the set-up: raised)."""
        self.m.acc += self._lock_ns
        err = self.genirq.irq_set_irqchip_state(irq, which, value, cpu)
        if err:
            raise RuntimeError(f"irq_set_irqchip_state({irq}) failed: {err}")

    def irq_set_vcpu_affinity(self, irq: int, vcpu_info: Any) -> int:
        return self.genirq.irq_set_vcpu_affinity(irq, vcpu_info)

    def disable_percpu_irq(self, irq: int, cpu: int) -> None:
        self.genirq.disable_percpu_irq(irq, cpu)

    def enable_percpu_irq(self, irq: int, cpu: int) -> None:
        self.genirq.enable_percpu_irq(irq, cpu)

    def kvm_vgic_map_phys_irq(self, vcpu: KvmVcpu, host_irq: int, vintid: int, ops: IrqOps) -> int:
        return kvm_vgic_map_phys_irq(vcpu.kvm, vcpu, host_irq, vintid, ops)

    def kvm_vgic_inject_irq(self, vcpu: KvmVcpu, intid: int, level: bool, owner: object) -> int:
        return kvm_vgic_inject_irq(vcpu.kvm, vcpu, intid, level, owner)

    def kvm_vgic_map_is_active(self, vcpu: KvmVcpu, vintid: int) -> bool:
        return kvm_vgic_map_is_active(vcpu.kvm, vcpu, vintid)

    def kvm_vgic_reset_mapped_irq(self, vcpu: KvmVcpu, vintid: int) -> None:
        kvm_vgic_reset_mapped_irq(vcpu.kvm, vcpu, vintid)

    def kvm_vcpu_wake_up(self, vcpu: KvmVcpu) -> None:
        vcpu.kvm_vcpu_wake_up()
