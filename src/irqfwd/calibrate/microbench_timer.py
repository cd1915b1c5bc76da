"""kvm-unit-tests ``arm/micro-bench`` ``timer_10ms`` inside the simulator.

The upstream test (``test_init``'s ``gic_enable_defaults``, then ``timer_prep`` /
``timer_exec`` / ``timer_post``) enables the distributor and the virtual timer PPI at the GIC, then per iteration reads ``CNTVCT``, programs
``CNTV_CVAL = CNTVCT + CNTFRQ/100`` with ``CNTV_CTL = ENABLE`` and spins (``cpu_relax``)
until its IRQ handler (``GICC_IAR``, ``CNTV_CTL = IMASK``, ``GICC_EOIR``, flag) has run;
``timer_post`` subtracts the 10 ms from the total, so the figure is the virtual-timer
injection latency of a *busy* vCPU (902 ns on Ampere Altra: kvm-unit-tests ``arm/micro-bench`` ``timer_10ms``, Linux 6.12-rc1; ``docs/calibration.md``).

Here the same guest program runs on one vCPU pinned to one pCPU of a system built by
:func:`irqfwd.system.build.build_system`, with the arch timer of
:class:`irqfwd.system.vtimer.VtimerSystem` (design ``forwarded``: HW-mapped vtimer),
the real GICv2 model, host GIC driver in EOImode 1, KVM run loop and vgic.  The path
measured is the model's: timer output → PPI 27 → IRQ exit (``kvm_exit`` IRQ, vgic save and
fold) → host ``gic_handle_irq`` → ``kvm_arch_timer_handler`` → ``kvm_vgic_inject_irq`` →
re-entry (flush, HW=1 LR) → guest IRQ vector → the loop sees the flag.
"""

from __future__ import annotations

from typing import Any

from irqfwd.calibrate.program import GuestProgram
from irqfwd.config import ScenarioConfig, VMConfig
from irqfwd.host.irqchip.arm_gic_v3 import GICD_CTLR_ARE_NS, GICD_CTLR_ENABLE_G1A, GICR_SGI_BASE
from irqfwd.host.kvm.vcpu import Vcpu
from irqfwd.host.kvm.vm import GICR_BASE
from irqfwd.hw.machine import Step
from irqfwd.hw.timer import CTL_ENABLE, CTL_IMASK, PPI_VTIMER
from irqfwd.sim.costs import CostProfile
from irqfwd.system.build import System, build_system
from irqfwd.system.vtimer import VtimerSystem

__all__ = ["ITERATIONS", "TimerBench", "timer_10ms"]

ITERATIONS = 16
"""Timed iterations (upstream runs more; every simulated iteration is identical up to phase)."""
WAIT_NS = 10_000_000
GICD_CTLR = 0x000
GICD_CTLR_ENABLE = 1
GICD_ISENABLER = 0x100
GICD_IPRIORITYR = 0x400
TIMER_PRIO = 0xA0


class TimerBench(GuestProgram):
    """The guest side of ``timer_10ms`` on one vCPU (steps as :mod:`irqfwd.guest.kernel`)."""

    def __init__(self, system: System, vt: VtimerSystem, vcpu: Vcpu, iterations: int) -> None:
        super().__init__(system, vcpu)
        self.vt = vt
        self.n = iterations
        self.i = 0
        self.flag = False
        self.deadline = 0
        self.samples: list[int] = []
        """Per iteration: ns from the 10 ms deadline until the spinning loop saw the flag."""
        self.spurious = 0
        self._spin: Step = self._wait

    # ---------------------------------------------------------------- timer_prep
    def _setup(self) -> int:
        """gic_cpu_init on GICV; the distributor enabled as ``test_init``'s
        ``gic_enable_defaults`` does (GICD_CTLR.Enable; GICv3: ARE_NS | EnableGrp1A: KVM
        forwards no interrupt while it is disabled, ``vgic_target_oracle``); then the PPI's
        priority and enable (trapped GICD writes; GICv3: GICR_IPRIORITYR and GICR_ISENABLER0
        in the vCPU's SGI_base frame)."""
        cost = self._gicv_init()
        gicd = self.gic.config.gicd_base
        ctlr = GICD_CTLR_ENABLE
        ppi_frame = gicd
        if self.gic3 is not None:
            ctlr = GICD_CTLR_ARE_NS | GICD_CTLR_ENABLE_G1A
            ppi_frame = GICR_BASE + 2 * 0x10000 * self.vcpu.vcpu_id + GICR_SGI_BASE

        def enable() -> int:
            return self.vcpu.trap_mmio(ppi_frame + GICD_ISENABLER, 1 << PPI_VTIMER, 4, True, self._boot_done)

        def priority() -> int:
            return self.vcpu.trap_mmio(ppi_frame + GICD_IPRIORITYR + PPI_VTIMER, TIMER_PRIO, 1, True, enable)

        return cost + self.vcpu.trap_mmio(gicd + GICD_CTLR, ctlr, 4, True, priority)

    def _boot_done(self) -> int:
        self.vcpu.booting = False
        self._set_next(self._exec)
        return 0

    # ---------------------------------------------------------------- timer_exec
    def _hw(self) -> Any:
        return self.vt.hw[self._cpu()]

    def _exec(self) -> int:
        """Read CNTVCT, CVAL = CNTVCT + CNTFRQ/100, CTL = ENABLE, then spin on the flag."""
        hw = self._hw()
        self.flag = False
        ticks = hw.read_sysreg("CNTFRQ_EL0") // 100
        hw.write_sysreg("CNTV_CVAL_EL0", hw.read_sysreg("CNTVCT_EL0") + ticks)
        hw.write_sysreg("CNTV_CTL_EL0", CTL_ENABLE)
        # the instant the counter reaches CVAL: upstream's (after - before) - CNTFRQ/100 in
        # ticks is, on average over the counter phase, the time from there to the flag
        counter = hw.counter
        self.deadline = counter.time_of(counter.unwrapped_at(self.engine.now) + ticks)
        self._set_next(self._wait)
        return 0

    def _wait(self) -> int:
        """``while (!irq_received) cpu_relax();`` — one step lasts until something happens."""
        if self.flag:
            self.samples.append(self.engine.now - self.deadline)
            self.i += 1
            if self.i >= self.n:
                self.engine.stop()
                self._set_next(None)
                return 0
            self._set_next(self._exec)
            return 0
        self._set_next(self._wait)
        return self.vt.spin_quantum()

    # ---------------------------------------------------------------- IRQ handler
    def _irq(self) -> int:
        """Guest IRQ vector: GICV_IAR (ICV_IAR1_EL1); for the vtimer CNTV_CTL = IMASK;
        GICV_EOIR (ICV_EOIR1_EL1); flag; ERET."""
        c = self.costs
        iar = self._iar()
        intid = iar & self.intid_mask
        cost = c.guest_irq_entry_ns + c.gicv_access_ns
        if intid == PPI_VTIMER:
            self._hw().write_sysreg("CNTV_CTL_EL0", CTL_IMASK)
            self._eoir(iar)
            cost += c.gicv_access_ns
            self.flag = True
        elif not 1020 <= intid <= 1023:
            self.spurious += 1
            self._eoir(iar)
            cost += c.gicv_access_ns
        vcpu = self.vcpu
        vcpu.ctx.guest_irqs_masked = False
        self._set_next(vcpu.ctx.guest_stack.pop() or self._wait)
        return cost + c.guest_irq_exit_ns


def run_timer_bench(costs: CostProfile, iterations: int = ITERATIONS, design: str = "forwarded",
                    gic: str = "v2") -> TimerBench:
    """Build the one-vCPU system, run ``iterations`` timed rounds, return the guest program."""
    config = ScenarioConfig(
        name="micro-bench-timer",
        duration_ns=1_000_000,
        pcpus=1,
        vms=[VMConfig(vcpus=1, pin=[0])],
        devices=[],
        gic=gic,  # type: ignore[arg-type]
    )
    system = build_system(config, design, seed=0, costs=costs)
    vt = system.vtimer  # every vCPU has its KVM timer context; the guest program drives it
    assert vt is not None
    vcpu = system.vms[0].vcpus[0]
    bench = TimerBench(system, vt, vcpu, iterations)
    system.machine.run(system.engine.now + (iterations + 2) * 2 * WAIT_NS)
    if len(bench.samples) < iterations:
        raise RuntimeError(f"timer_10ms: only {len(bench.samples)} of {iterations} timer interrupts arrived")
    return bench


def timer_10ms(costs: CostProfile, gic: str = "v2") -> int:
    """kvm-unit-tests ``timer_10ms``: mean ns beyond the 10 ms deadline until the guest saw its IRQ."""
    bench = run_timer_bench(costs, gic=gic)
    return round(sum(bench.samples) / len(bench.samples))
