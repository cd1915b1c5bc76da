"""Wiring of the arch timer into a built system: hardware, host irq, KVM hooks, guest tick.

:class:`VtimerSystem` assembles

* the Generic Timer hardware (:class:`~irqfwd.hw.timer.ArchTimers`, outputs on the GIC's
  PPIs 27/30/26 of each pCPU);
* the host side of ``kvm_timer_hyp_init``: the vtimer PPI mapped by the GIC driver,
  requested per CPU (``request_percpu_irq`` → ``kvm_arch_timer_handler``), enabled on every
  CPU, level-sensitive, and forwarded (``irq_set_vcpu_affinity``).  Under ``sw-deactivate``
  the "kvm-timer" irqchip (:class:`~irqfwd.host.kvm.arch_timer.KvmTimerChip`) is pushed on
  top of the GIC's irq_data;
* :class:`~irqfwd.host.kvm.arch_timer.KvmArchTimer` over the host's genirq and the vgic
  (:class:`~irqfwd.host.kvm.arch_timer.HostTimerPlatform`);
* per vCPU: the timer context, ``kvm_timer_enable`` (vgic mapping, owner = context), the
  vCPU's ``on_load``/``on_put``/``on_block``/``on_unblock`` hooks, and, when the VM's
  :class:`~irqfwd.config.TimerConfig` is enabled, the guest's clock event
  (:class:`~irqfwd.guest.timer.GuestTimer`) through the guest's arch timer driver
  (:class:`~irqfwd.guest.timer.GuestArchTimer`), its first deadline armed at creation.
"""

from __future__ import annotations

from typing import Any

from irqfwd.config import ScenarioConfig, TimerConfig
from irqfwd.guest.kernel import GuestCpu, GuestKernel
from irqfwd.guest.timer import SPIN_QUANTUM_NS, GuestArchTimer, GuestTimer
from irqfwd.host.genirq import IrqData
from irqfwd.host.kernel import HostKernel
from irqfwd.host.kvm.arch_timer import (
    ArchTimerContext,
    HostTimerPlatform,
    KvmArchTimer,
    KvmTimerChip,
    VcpuTimerHooks,
    timer_design_for,
)
from irqfwd.host.kvm.kvm_host import KvmVcpu
from irqfwd.host.kvm.vgic import kvm_vgic_set_owner
from irqfwd.host.kvm.vm import Vm
from irqfwd.hw.machine import Machine
from irqfwd.hw.timer import CTL_ENABLE, PPI_VTIMER, ArchTimers
from irqfwd.sim.engine import URGENT

__all__ = ["VtimerSystem", "install_vtimer"]


class VtimerSystem:
    """The arch timer of one simulated host (see the module docstring)."""

    def __init__(
        self,
        machine: Machine,
        timers: ArchTimers,
        host: HostKernel,
        design: str = "forwarded",
        preserve_active: bool = True,
    ) -> None:
        self.m = machine
        self.host = host
        ncpu = len(machine.pcpus)
        self.hw = timers
        self.mode = timer_design_for(design)
        genirq = host.genirq
        self.host_irq = host.irqchip.map_ppi(PPI_VTIMER)
        chip: KvmTimerChip | None = None
        if self.mode == "sw-deactivate":
            desc = genirq.irq_to_desc(self.host_irq)
            gic_data = desc.irq_data
            chip = KvmTimerChip(machine)
            desc.irq_data = IrqData(self.host_irq, gic_data.hwirq, chip, gic_data)
            desc.irq_data.state = gic_data.state
        self.kt = KvmArchTimer(
            machine.engine, machine.recorder, machine.costs, self.hw,
            HostTimerPlatform(host), design=self.mode, host_irq=self.host_irq,
            cache_inactive=host.profile.timer_cache_inactive, preserve_active=preserve_active,
        )
        if chip is not None:
            chip.kt = self.kt
        genirq.request_percpu_irq(self.host_irq, self._host_handler, "kvm guest vtimer")
        for cpu in range(ncpu):
            host.irqchip.set_ppi_type(PPI_VTIMER, False, cpu)
            genirq.enable_percpu_irq(self.host_irq, cpu)
        self.kt.kvm_timer_hyp_init()
        self.guest_timers: list[GuestTimer] = []
        self.guest_drivers: dict[GuestKernel, GuestArchTimer] = {}
        self._kvm_timer_irq_ns = machine.costs.kvm_timer_irq_ns

    # ------------------------------------------------------------------ host ISR
    def _host_handler(self, irq: int, dev_id: Any) -> int:
        cpu = max(self.m.cur, 0)
        return self._kvm_timer_irq_ns + self.kt.kvm_arch_timer_handler(cpu)

    # ------------------------------------------------------------------ vCPUs
    def add_vcpu(self, vcpu: KvmVcpu, gcpu: GuestCpu | None = None,
                 config: TimerConfig | None = None) -> ArchTimerContext:
        """Create and enable ``vcpu``'s timer, hook it into the vCPU and (optionally) its guest."""
        kt = self.kt
        cntvoff = self.hw.counter.count()  # the VM's virtual count starts at 0 (kvm_timer_vcpu_init)
        ctx = kt.kvm_timer_vcpu_init(vcpu, vm=vcpu.kvm.index, vcpu_id=vcpu.vcpu_id, cntvoff=cntvoff)
        kt.kvm_timer_enable(ctx)
        if kvm_vgic_set_owner(vcpu.kvm, vcpu, PPI_VTIMER, ctx):  # kvm_timer_enable: timer_irqs_are_valid
            raise RuntimeError("kvm_vgic_set_owner(vtimer) failed")

        vcpu.hooks.append(VcpuTimerHooks(kt, ctx))
        if config is not None and config.enabled and gcpu is not None:
            self._attach_guest(vcpu, gcpu, ctx, config)
        return ctx

    def _attach_guest(self, vcpu: KvmVcpu, gcpu: GuestCpu, ctx: ArchTimerContext,
                      config: TimerConfig) -> None:
        gt = GuestTimer(self.m.engine, self.m.recorder, self.m.costs, config, vm=vcpu.kvm.index,
                        vcpu=vcpu.vcpu_id, cntvoff=ctx.cntvoff)
        self.guest_timers.append(gt)
        driver = self.guest_drivers.get(gcpu.k)
        if driver is None:
            driver = self.guest_drivers[gcpu.k] = GuestArchTimer(self.m, self.hw)
        driver.attach(gcpu, gt, config.guest_busy)
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
            if rec.wants("irqfwd_guest_timer_program"):
                rec.emit("irqfwd_guest_timer_program", vm=gt.vm, vcpu=gt.vcpu, cval=gt.cval, deadline_ns=gt.deadline_ns)

        self.m.engine.schedule(0, announce, priority=URGENT)

    def spin_quantum(self) -> int:
        """One step of CPU-bound guest code (:meth:`~irqfwd.hw.machine.Machine.spin_quantum`)."""
        return self.m.spin_quantum(SPIN_QUANTUM_NS)


def install_vtimer(machine: Machine, timers: ArchTimers, host: HostKernel, vms: list[Vm],
                   guests: list[GuestKernel], config: ScenarioConfig,
                   hw_deactivation: bool = True, preserve_active: bool = True) -> VtimerSystem:
    """Build the arch timer of a system: every vCPU of every VM gets its KVM timer context;
    VMs whose ``TimerConfig`` is enabled also run the guest tick.

    ``hw_deactivation`` is the delivery design's flag (False: ``sw-deactivate``);
    ``preserve_active`` its ``timer_preserve_active`` (False: ``fault-timer-clear-active``).
    """
    import irqfwd.check.timer  # noqa: F401  (registers the timer invariant rules)

    vt = VtimerSystem(machine, timers, host, "forwarded" if hw_deactivation else "sw-deactivate",
                      preserve_active)
    for kvm, guest, vmc in zip(vms, guests, config.vms, strict=True):
        for vcpu, gcpu in zip(kvm.vcpus, guest.cpus, strict=True):
            vt.add_vcpu(vcpu, gcpu, vmc.timer)
    return vt
