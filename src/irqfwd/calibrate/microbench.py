"""kvm-unit-tests ``arm/micro-bench`` equivalents, run inside the simulator.

Each benchmark builds a small system with :func:`irqfwd.system.build.build_system` (the real
machine, host kernel, KVM run loop and vgic, GICv2 model and scheduler), replaces the guest
kernel of the VM by a tiny guest program, lets it repeat one operation ``iterations`` times
and returns the simulated average ns per operation, as ``micro-bench.c`` prints it:

``hvc``
    the guest executes HVC #0 (KVM: ``kvm_exit`` HVC, ``handle_hvc``, re-entry).
``mmio_read_vgic``
    the guest reads GICD_IIDR: a trapped ``DABT_LOW`` exit emulated in the kernel
    (``vgic_mmio``).
``mmio_read_user``
    the guest reads a register of a device emulated by the VMM (kvm-unit-tests uses the
    QEMU test device): ``DABT_LOW`` outside the vgic frame → ``KVM_EXIT_MMIO`` to user
    space (no in-kernel device on ``KVM_MMIO_BUS`` covers the address) → the VMM
    completes the access (``mmio_emul_user_ns``) → ``KVM_RUN``.
``eoi``
    the guest writes GICV_EOIR with the spurious INTID 1023 (no trap, GICv2 §5.4).
``ipi``
    vCPU 0 (pCPU 0) writes GICD_SGIR for SGI 1 to vCPU 1 (pCPU 1) and spins until vCPU 1's
    IRQ handler (GICV_IAR, flag, GICV_EOIR) has run. As in ``micro-bench.c``
    (``ipi_secondary_entry``: ``while (true) cpu_relax();``) the receiver spins in guest
    mode: trapped SGIR write, ``vgic_queue_irq_unlock``, ``kvm_vcpu_kick`` (an IPI to the
    running vCPU's pCPU), IRQ exit, flush, entry, the virtual IRQ.
``timer_10ms``
    provided by the timer model (:func:`irqfwd.calibrate.microbench_timer.timer_10ms`), when
    present: the extra latency beyond a 10 ms virtual timer until the guest handler runs.

Reference figures: Ampere Altra, Linux 6.12-rc1, kvm-unit-tests ``arm/micro-bench`` (``docs/calibration.md``).
"""

from __future__ import annotations

from collections.abc import Callable

from irqfwd.calibrate.microbench_timer import timer_10ms
from irqfwd.calibrate.program import GuestProgram
from irqfwd.config import ScenarioConfig, VMConfig
from irqfwd.host.kvm.vcpu import Vcpu
from irqfwd.sim.costs import CostProfile
from irqfwd.system.build import System, build_system

__all__ = ["BENCHMARKS", "MEASURED_ALTRA", "run_microbenchmarks"]

MEASURED_ALTRA: dict[str, int] = {
    "hvc": 306,
    "mmio_read_user": 1683,
    "mmio_read_vgic": 451,
    "eoi": 14,
    "ipi": 1926,
    "timer_10ms": 902,
}
"""kvm-unit-tests arm/micro-bench on Ampere Altra (R. Ananta, LKML 2024-10-29), ns/op."""

ITERATIONS = 64
GICD_IIDR = 0x008
GICD_CTLR = 0x000
GICD_SGIR = 0xF00
SPURIOUS = 1023
USER_MMIO_ADDR = 0x0A00_0000
"""A guest-physical address outside the vgic frame (a VMM-emulated device)."""
SPIN_NS = 10
"""One ``cpu_relax()`` iteration of the IPI sender's wait loop."""
IPI_SGI = 1
IPI_GAP_NS = 20_000
"""Pause of the IPI sender between two timed iterations."""


def _build(costs: CostProfile, vcpus: int) -> System:
    config = ScenarioConfig(
        name="micro-bench",
        duration_ns=1_000_000,
        pcpus=vcpus,
        vms=[VMConfig(vcpus=vcpus, pin=list(range(vcpus)))],
        devices=[],
    )
    system: System = build_system(config, "irqfd-resample", seed=0, costs=costs)
    return system


class _Guest(GuestProgram):
    """A minimal guest program on one vCPU: optional set-up, then ``op`` ``n`` times."""

    def __init__(self, system: System, vcpu: Vcpu, op: Callable[[], int] | None, n: int,
                 enable_dist: bool = False, start_after: int = 0, spin: bool = False) -> None:
        super().__init__(system, vcpu)
        self.op = op
        self.n = n
        self.i = 0
        self.t0 = -1
        self.t1 = -1
        self.flag = False
        self.enable_dist = enable_dist
        self.start_after = start_after
        self.spin = spin

    def _setup(self) -> int:
        """gic_cpu_init on GICV (PMR, CTLR), optionally GICD_CTLR.Enable (trapped)."""
        cost = self._gicv_init()
        self.vcpu.booting = False
        if self.enable_dist:
            gicd = self.gic.config.gicd_base
            return cost + self.vcpu.trap_mmio(gicd + GICD_CTLR, 1, 4, True, self._start)
        self._set_next(self._start)
        return cost

    def _start(self) -> int:
        if self.op is None:
            self._set_next(self._idle)
            return 0
        now = self.engine.now
        if now < self.start_after:  # busy-wait until the other vCPUs are set up
            self._set_next(self._start)
            return self.start_after - now
        self.t0 = self.engine.now
        self._set_next(self.op)
        return 0

    def done(self) -> int:
        """One operation finished (the guest resumed): loop or stop the engine."""
        self.i += 1
        if self.i < self.n:
            self._set_next(self.op)
        else:
            self.t1 = self.engine.now
            self.engine.stop()
            self._set_next(None)
        return 0

    def _idle(self) -> int:
        """``while (true) wfi();``, or ``while (true) cpu_relax();`` for a spinning guest."""
        if self.spin:
            self._set_next(self._idle)
            return SPIN_NS
        return self.vcpu.trap_wfi(self._idle)

    def _irq(self) -> int:
        """IRQ vector: GICV_IAR, set the flag, GICV_EOIR, exception return."""
        vif = self.gic.vcpu_if[self._cpu()]
        iar = vif.read_iar()
        c = self.costs
        cost = c.guest_irq_entry_ns + c.gicv_access_ns
        if (iar & 0x3FF) < 1020:
            self.flag = True
            vif.write_eoir(iar)
            cost += c.gicv_access_ns
        vcpu = self.vcpu
        vcpu.ctx.guest_irqs_masked = False
        self._set_next(vcpu.ctx.guest_stack.pop() or self._idle)
        return cost + c.guest_irq_exit_ns

    def per_op(self) -> float:
        if self.t1 < 0:
            raise RuntimeError("micro-benchmark did not finish")
        return (self.t1 - self.t0) / self.n


def _run(system: System, guest: _Guest) -> float:
    system.machine.run(system.engine.now + 1_000_000_000)
    return guest.per_op()


def bench_hvc(costs: CostProfile, n: int = ITERATIONS) -> float:
    """Null hypercall round trip (ns)."""
    s = _build(costs, 1)
    vcpu = s.vms[0].vcpus[0]
    g = _Guest(s, vcpu, None, n)
    g.op = lambda: vcpu.trap_hvc(g.done)
    return _run(s, g)


def bench_mmio_read_vgic(costs: CostProfile, n: int = ITERATIONS) -> float:
    """Guest read of GICD_IIDR, emulated by the in-kernel vgic (ns)."""
    s = _build(costs, 1)
    vcpu = s.vms[0].vcpus[0]
    addr = s.gic.config.gicd_base + GICD_IIDR
    g = _Guest(s, vcpu, None, n)
    g.op = lambda: vcpu.trap_mmio(addr, 0, 4, False, g.done)
    return _run(s, g)


def bench_mmio_read_user(costs: CostProfile, n: int = ITERATIONS) -> float:
    """Guest read of a VMM-emulated device register (exit to user space) (ns)."""
    s = _build(costs, 1)
    vcpu = s.vms[0].vcpus[0]
    g = _Guest(s, vcpu, None, n)
    g.op = lambda: vcpu.trap_mmio(USER_MMIO_ADDR, 0, 4, False, g.done)
    return _run(s, g)


def bench_eoi(costs: CostProfile, n: int = ITERATIONS) -> float:
    """Guest GICV_EOIR write of INTID 1023 (no trap) (ns)."""
    s = _build(costs, 1)
    vcpu = s.vms[0].vcpus[0]
    g = _Guest(s, vcpu, None, n)

    def op() -> int:
        s.gic.vcpu_if[g._cpu()].write_eoir(SPURIOUS)
        g._set_next(g.done)
        return costs.gicv_access_ns

    g.op = op
    return _run(s, g)


def bench_ipi(costs: CostProfile, n: int = ITERATIONS) -> float:
    """SGI from vCPU 0 to vCPU 1 (spinning in guest mode on another pCPU) until its
    handler ran (ns).

    As ``micro-bench.c``, only the send → "handler has run" interval of each iteration is
    timed; between iterations the sender pauses ``IPI_GAP_NS``.
    """
    s = _build(costs, 2)
    v0, v1 = s.vms[0].vcpus
    receiver = _Guest(s, v1, None, 0, spin=True)
    sender = _Guest(s, v0, None, n, enable_dist=True, start_after=100_000)
    sgir = s.gic.config.gicd_base + GICD_SGIR
    value = (1 << (16 + v1.vcpu_id)) | IPI_SGI
    eng = s.engine
    state = {"sent": 0, "total": 0, "count": 0}

    def wait() -> int:
        if not receiver.flag:
            sender._set_next(wait)
            return SPIN_NS
        receiver.flag = False
        state["total"] += eng.now - state["sent"]
        state["count"] += 1
        if state["count"] >= n:
            sender.t1 = eng.now
            eng.stop()
            sender._set_next(None)
            return 0
        sender._set_next(send)
        return IPI_GAP_NS

    def send() -> int:
        state["sent"] = eng.now
        return v0.trap_mmio(sgir, value, 4, True, wait)

    sender.op = send
    s.machine.run(eng.now + 1_000_000_000)
    if state["count"] < n:
        raise RuntimeError("ipi micro-benchmark did not finish")
    return state["total"] / n


def bench_timer_10ms(costs: CostProfile) -> float:
    """The timer model's ``timer_10ms`` (:func:`irqfwd.calibrate.microbench_timer.timer_10ms`)."""

    return float(timer_10ms(costs))


BENCHMARKS: dict[str, Callable[[CostProfile], float | None]] = {
    "hvc": bench_hvc,
    "mmio_read_user": bench_mmio_read_user,
    "mmio_read_vgic": bench_mmio_read_vgic,
    "eoi": bench_eoi,
    "ipi": bench_ipi,
    "timer_10ms": bench_timer_10ms,
}


def run_microbenchmarks(costs: CostProfile, names: list[str] | None = None) -> dict[str, float | None]:
    """Simulated ns/op of each benchmark (None: not available in this build)."""
    chosen = names if names is not None else list(BENCHMARKS)
    return {name: BENCHMARKS[name](costs) for name in chosen}
