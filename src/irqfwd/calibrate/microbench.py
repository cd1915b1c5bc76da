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

On a GICv3 (:data:`BENCHMARKS_V3`, ``irqfwd calibrate --gic v3``) the same programs use the
guest's ICV_*_EL1 registers: ``mmio_read_vgic`` reads GICD_IIDR through the vgic-v3
distributor emulation, ``eoi`` is an ICV_EOIR1_EL1 write (no trap), ``ipi`` an
ICC_SGI1R_EL1 write (always trapped: a ``SYS64`` exit, ``vgic_v3_dispatch_sgi``), and two
benchmarks are added:

``lpi``
    micro-bench.c ``lpi_prep`` / ``lpi_exec``: vCPU 0 maps DeviceID 2, EventID 20 to LPI
    8199 on collection 1 (vCPU 1) through the emulated ITS, then times ITS INT commands
    (the command in guest memory, the trapped GITS_CWRITER write, ``vgic_its_process_commands``)
    until vCPU 1's handler ran.
``ipi_hw``
    micro-bench.c ``ipi_hw_prep``: ``ipi`` with GICD_CTLR.nASSGIreq on a GICv4.1 with
    ``kvm-arm.vgic_v4_enable`` (design ``gicv41-vsgi``): the trapped ICC_SGI1R_EL1 is
    forwarded with GITS_SGIR to the receiver's resident vPE, which takes the vSGI without
    an exit.

Reference figures: Ampere Altra, Linux 6.12-rc1, kvm-unit-tests ``arm/micro-bench`` (``docs/calibration.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from irqfwd.calibrate.microbench_timer import timer_10ms
from irqfwd.calibrate.program import GuestProgram
from irqfwd.config import ScenarioConfig, VMConfig
from irqfwd.errors import InputError, SimulationError
from irqfwd.guest.gic_v3 import GicV3GuestDriver
from irqfwd.host.irqchip.arm_gic_v3 import (
    GICD_CTLR_ARE_NS,
    GICD_CTLR_ENABLE_G1A,
    GICD_CTLR_NASSGIREQ,
    GICR_CTLR,
    GICR_CTLR_ENABLE_LPIS,
    GICR_PENDBASER,
    GICR_PROPBASER,
    GITS_BASER,
    GITS_CBASER,
    GITS_CBASER_VALID,
    GITS_CMD_INT,
    GITS_CMD_INVALL,
    GITS_CMD_MAPC,
    GITS_CMD_MAPD,
    GITS_CMD_MAPTI,
    GITS_CTLR,
    GITS_CTLR_ENABLE,
    GITS_CWRITER,
    LPI_PROP_DEFAULT_PRIO,
    LPI_PROP_ENABLED,
    LPI_PROP_GROUP1,
)
from irqfwd.host.kvm.vcpu import Vcpu
from irqfwd.host.kvm.vm import GICR_BASE, GITS_BASE
from irqfwd.sim.costs import CostProfile
from irqfwd.system.build import System, build_system

__all__ = ["BENCHMARKS", "BENCHMARKS_V3", "GICS", "MEASURED_ALTRA", "benchmarks_for", "run_microbenchmarks"]

GICS: Final = ("v2", "v3")
"""The GIC models the micro-benchmarks run on (``irqfwd calibrate --gic``)."""

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


def _build(costs: CostProfile, vcpus: int, gic: str = "v2", design: str = "irqfd-resample") -> System:
    config = ScenarioConfig(
        name="micro-bench",
        duration_ns=1_000_000,
        pcpus=vcpus,
        vms=[VMConfig(vcpus=vcpus, pin=list(range(vcpus)))],
        devices=[],
        gic=gic,  # type: ignore[arg-type]
    )
    system: System = build_system(config, design, seed=0, costs=costs)
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
        self.prep: list[tuple[int, int, int]] = []
        """GICv3: writes before the distributor is enabled (GICD_CTLR, GICR, ITS)."""
        self.prep_i = 0
        self.ctlr = GICD_CTLR_ARE_NS
        """GICv3: GICD_CTLR bits besides EnableGrp1A (nASSGIreq for ``ipi_hw``)."""

    def _setup(self) -> int:
        """gic_cpu_init on GICV (PMR, CTLR), optionally GICD_CTLR.Enable (trapped; GICv3:
        EnableGrp1A, with ``prep`` writes before it)."""
        cost = self._gicv_init()
        self.vcpu.booting = False
        if self.enable_dist:
            gicd = self.gic.config.gicd_base
            if self.gic3 is not None:
                self.prep.append((gicd + GICD_CTLR, self.ctlr | GICD_CTLR_ENABLE_G1A, 4))
                return cost + self._prep()
            return cost + self.vcpu.trap_mmio(gicd + GICD_CTLR, 1, 4, True, self._start)
        self._set_next(self._start)
        return cost

    def _prep(self) -> int:
        """The trapped set-up writes of ``prep`` in order (guest RAM: plain stores), then
        :meth:`_start`."""
        ops = self.prep
        mem = self.vcpu.kvm.guest_mem
        while self.prep_i < len(ops) and ops[self.prep_i][0] >= 0x4000_0000:
            addr, val, size = ops[self.prep_i]
            self.prep_i += 1
            mem.write(addr, val, size)
        if self.prep_i < len(ops):
            addr, val, size = ops[self.prep_i]
            self.prep_i += 1
            return self.vcpu.trap_mmio(addr, val, size, True, self._prep)
        self._set_next(self._start)
        return 0

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
        """IRQ vector: GICV_IAR (ICV_IAR1_EL1), set the flag, GICV_EOIR (ICV_EOIR1_EL1),
        exception return."""
        iar = self._iar()
        c = self.costs
        cost = c.guest_irq_entry_ns + c.gicv_access_ns
        intid = iar & self.intid_mask
        if not 1020 <= intid <= 1023:
            self.flag = True
            self._eoir(iar)
            cost += c.gicv_access_ns
        vcpu = self.vcpu
        vcpu.ctx.guest_irqs_masked = False
        self._set_next(vcpu.ctx.guest_stack.pop() or self._idle)
        return cost + c.guest_irq_exit_ns

    def per_op(self) -> float:
        if self.t1 < 0:
            raise InputError("a micro-benchmark did not finish in 1 s of simulated "
                             "time: the cost parameters are too large")
        return (self.t1 - self.t0) / self.n


def _run(system: System, guest: _Guest) -> float:
    system.machine.run(system.engine.now + 1_000_000_000)
    return guest.per_op()


def bench_hvc(costs: CostProfile, n: int = ITERATIONS, gic: str = "v2") -> float:
    """Null hypercall round trip (ns)."""
    s = _build(costs, 1, gic)
    vcpu = s.vms[0].vcpus[0]
    g = _Guest(s, vcpu, None, n)
    g.op = lambda: vcpu.trap_hvc(g.done)
    return _run(s, g)


def bench_mmio_read_vgic(costs: CostProfile, n: int = ITERATIONS, gic: str = "v2") -> float:
    """Guest read of GICD_IIDR, emulated by the in-kernel vgic (ns)."""
    s = _build(costs, 1, gic)
    vcpu = s.vms[0].vcpus[0]
    addr = s.gic.config.gicd_base + GICD_IIDR
    g = _Guest(s, vcpu, None, n)
    g.op = lambda: vcpu.trap_mmio(addr, 0, 4, False, g.done)
    return _run(s, g)


def bench_mmio_read_user(costs: CostProfile, n: int = ITERATIONS, gic: str = "v2") -> float:
    """Guest read of a VMM-emulated device register (exit to user space) (ns)."""
    s = _build(costs, 1, gic)
    vcpu = s.vms[0].vcpus[0]
    g = _Guest(s, vcpu, None, n)
    g.op = lambda: vcpu.trap_mmio(USER_MMIO_ADDR, 0, 4, False, g.done)
    return _run(s, g)


def bench_eoi(costs: CostProfile, n: int = ITERATIONS, gic: str = "v2") -> float:
    """Guest GICV_EOIR (GICv3: ICV_EOIR1_EL1) write of INTID 1023 (no trap) (ns)."""
    s = _build(costs, 1, gic)
    vcpu = s.vms[0].vcpus[0]
    g = _Guest(s, vcpu, None, n)

    def op() -> int:
        g._eoir(SPURIOUS)
        g._set_next(g.done)
        return costs.gicv_access_ns

    g.op = op
    return _run(s, g)


def bench_ipi(costs: CostProfile, n: int = ITERATIONS, gic: str = "v2", design: str = "irqfd-resample",
              nassgireq: bool = False) -> float:
    """SGI from vCPU 0 to vCPU 1 (spinning in guest mode on another pCPU) until its
    handler ran (ns): a trapped GICD_SGIR write (GICv3: ICC_SGI1R_EL1, ``SYS64``).

    As ``micro-bench.c``, only the send → "handler has run" interval of each iteration is
    timed; between iterations the sender pauses ``IPI_GAP_NS``.  ``nassgireq`` (GICv4.1,
    ``ipi_hw``): the guest sets GICD_CTLR.nASSGIreq before enabling the distributor.
    """
    s = _build(costs, 2, gic, design)
    v0, v1 = s.vms[0].vcpus
    receiver = _Guest(s, v1, None, 0, spin=True)
    sender = _Guest(s, v0, None, n, enable_dist=True, start_after=100_000)
    if nassgireq:
        gicd = s.gic.config.gicd_base
        sender.ctlr = GICD_CTLR_ARE_NS | GICD_CTLR_NASSGIREQ
        sender.prep.append((gicd + GICD_CTLR, sender.ctlr, 4))
    sgir = s.gic.config.gicd_base + GICD_SGIR
    value = (1 << (16 + v1.vcpu_id)) | IPI_SGI
    sgi1r = GicV3GuestDriver.sgi1r(IPI_SGI, v1.vcpu_id)
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
        if sender.gic3 is not None:
            return v0.trap_sysreg("ICC_SGI1R_EL1", sgi1r, True, wait)
        return v0.trap_mmio(sgir, value, 4, True, wait)

    sender.op = send
    s.machine.run(eng.now + 1_000_000_000)
    if state["count"] < n:
        raise InputError(f"ipi micro-benchmark did not finish in 1 s of simulated time "
                         f"({state['count']} of {n} IPIs): the cost parameters are too large")
    return state["total"] / n


def bench_timer_10ms(costs: CostProfile, gic: str = "v2") -> float:
    """The timer model's ``timer_10ms`` (:func:`irqfwd.calibrate.microbench_timer.timer_10ms`)."""

    return float(timer_10ms(costs, gic))


LPI_DEVICE: Final = 2
LPI_EVENT: Final = 20
LPI_INTID: Final = 8199
_PROP: Final = 0x4100_0000
_PEND: Final = 0x4200_0000
_CMDQ: Final = 0x4400_0000


def bench_lpi(costs: CostProfile, n: int = ITERATIONS, gic: str = "v3") -> float:
    """micro-bench.c ``lpi``: ITS INT of DeviceID 2 EventID 20 (LPI 8199, collection 1 =
    vCPU 1, spinning) until vCPU 1's handler ran (ns), through the emulated ITS.

    ``lpi_prep`` (timed out): vCPU 1's redistributor gets GICR_PROPBASER, GICR_PENDBASER and
    EnableLPIs, the LPI its configuration byte, the ITS its tables, command queue and
    enable, then MAPD, MAPC, INVALL, MAPTI.  ``lpi_exec``: the INT command written into the
    queue and GITS_CWRITER advanced (``its_send_int_nv``: no wait for GITS_CREADR), then the
    spin on the flag."""
    s = _build(costs, 2, gic)
    v0, v1 = s.vms[0].vcpus
    receiver = _Guest(s, v1, None, 0, spin=True)
    sender = _Guest(s, v0, None, n, enable_dist=True, start_after=100_000)
    rd1 = GICR_BASE + 2 * 0x10000 * v1.vcpu_id
    cmds = [(GITS_CMD_MAPD | LPI_DEVICE << 32, 4, 1 << 63 | 0x4500_0000, 0),  # Size: 5 EventID bits
            (GITS_CMD_MAPC, 0, 1 << 63 | 1 << 16 | 1, 0),
            (GITS_CMD_INVALL, 0, 1, 0),
            (GITS_CMD_MAPTI | LPI_DEVICE << 32, LPI_INTID << 32 | LPI_EVENT, 1, 0)]
    prep = [(rd1 + GICR_PROPBASER, _PROP | 15, 8), (rd1 + GICR_PENDBASER, _PEND, 8),
            (rd1 + GICR_CTLR, GICR_CTLR_ENABLE_LPIS, 4),
            (_PROP + LPI_INTID - 8192, LPI_PROP_DEFAULT_PRIO | LPI_PROP_GROUP1 | LPI_PROP_ENABLED, 1),
            (GITS_BASE + GITS_BASER, 1 << 63 | 0x4300_0000 | 2 << 8 | 7, 8),
            (GITS_BASE + GITS_BASER + 8, 1 << 63 | 0x4310_0000 | 2 << 8, 8),
            (GITS_BASE + GITS_CBASER, GITS_CBASER_VALID | _CMDQ | 15, 8),
            (GITS_BASE + GITS_CTLR, GITS_CTLR_ENABLE, 4)]
    for i, c in enumerate(cmds):
        prep += [(_CMDQ + 32 * i + 8 * k, c[k], 8) for k in range(4)]
    prep.append((GITS_BASE + GITS_CWRITER, 32 * len(cmds), 8))
    sender.prep = prep
    mem = v0.kvm.guest_mem
    eng = s.engine
    state = {"sent": 0, "total": 0, "count": 0, "wr": 32 * len(cmds)}

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
        wr = state["wr"]
        for k, dw in enumerate((GITS_CMD_INT | LPI_DEVICE << 32, LPI_EVENT, 0, 0)):
            mem.write(_CMDQ + wr + 8 * k, dw, 8)
        state["wr"] = (wr + 32) % 0x10000
        return v0.trap_mmio(GITS_BASE + GITS_CWRITER, state["wr"], 8, True, wait)

    sender.op = send
    s.machine.run(eng.now + 1_000_000_000)
    if state["count"] < n:
        raise SimulationError("lpi micro-benchmark did not finish: the LPI never reached vCPU 1")
    return state["total"] / n


def bench_ipi_hw(costs: CostProfile, n: int = ITERATIONS) -> float:
    """micro-bench.c ``ipi_hw``: ``ipi`` with GICv4.1 vSGIs (GICD_CTLR.nASSGIreq, design
    ``gicv41-vsgi``) (ns)."""
    return bench_ipi(costs, n, "v4.1", "gicv41-vsgi", nassgireq=True)


BENCHMARKS: dict[str, Callable[[CostProfile], float | None]] = {
    "hvc": bench_hvc,
    "mmio_read_user": bench_mmio_read_user,
    "mmio_read_vgic": bench_mmio_read_vgic,
    "eoi": bench_eoi,
    "ipi": bench_ipi,
    "timer_10ms": bench_timer_10ms,
}


BENCHMARKS_V3: dict[str, Callable[[CostProfile], float | None]] = {
    "hvc": lambda c: bench_hvc(c, gic="v3"),
    "mmio_read_user": lambda c: bench_mmio_read_user(c, gic="v3"),
    "mmio_read_vgic": lambda c: bench_mmio_read_vgic(c, gic="v3"),
    "eoi": lambda c: bench_eoi(c, gic="v3"),
    "ipi": lambda c: bench_ipi(c, gic="v3"),
    "timer_10ms": lambda c: bench_timer_10ms(c, gic="v3"),
    "lpi": bench_lpi,
    "ipi_hw": bench_ipi_hw,
}
"""The benchmarks on a GICv3 host and guest (``ipi_hw`` on a GICv4.1)."""


def benchmarks_for(gic: str) -> dict[str, Callable[[CostProfile], float | None]]:
    """The micro-benchmarks of the GIC ``gic`` (``v2`` or ``v3``)."""
    if gic not in GICS:
        raise InputError(f"--gic: unknown GIC {gic!r} (known: {', '.join(GICS)})")
    return BENCHMARKS_V3 if gic == "v3" else BENCHMARKS


def run_microbenchmarks(costs: CostProfile, names: list[str] | None = None,
                        gic: str = "v2") -> dict[str, float | None]:
    """Simulated ns/op of each benchmark (None: not available in this build)."""
    benches = benchmarks_for(gic)
    chosen = names if names is not None else list(benches)
    return {name: benches[name](costs) for name in chosen}
