"""The upstream timer checks, run as guest programs on the simulated system.

Each test mirrors one check of kvm-unit-tests ``arm/timer.c`` or of the KVM selftests
``arch_timer.c`` / ``arch_timer_edge_cases.c`` (kvm-unit-tests arm/timer.c, tools/testing/selftests/kvm/arm64) and
asserts what its counterpart asserts.  The guest program runs on a vCPU of a system built by
``build_system`` with the arch timer of ``VtimerSystem`` (design ``forwarded``: HW-mapped
vtimer, host GIC in EOImode 1): its CNTV_* accesses go to the pCPU's Generic Timer, its GICD
accesses trap to the vgic MMIO emulation, its IRQs arrive through the GICV interface.
docs/timer.md maps every test to its upstream counterpart.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import pytest

from irqfwd.config import ScenarioConfig, VMConfig
from irqfwd.hw.timer import CTL_ENABLE, CTL_IMASK, CTL_ISTATUS, PPI_VTIMER, GenericTimer
from irqfwd.scenarios.builtin import get_scenario
from irqfwd.sim.costs import load_profile
from irqfwd.system.build import System, build_system
from irqfwd.system.run import run_scenario
from irqfwd.system.vtimer import VtimerSystem

GICD_CTLR = 0x000
GICD_ISENABLER0, GICD_ICENABLER0 = 0x100, 0x180
GICD_ISPENDR0, GICD_ISACTIVER0 = 0x200, 0x300
GICD_IPRIORITYR = 0x400
BIT27 = 1 << PPI_VTIMER
US = 1_000
MS = 1_000_000
MARGIN_NS = 100 * US
"""arch_timer.c's default margin (-e 100 µs)."""

Req = tuple[Any, ...]


@dataclass
class IrqRecord:
    """What the guest handler saw (arch_timer.c guest_irq_handler's checks)."""

    time: int
    intid: int
    ctl: int
    cnt: int
    cval: int


class TimerGuest:
    """A guest program (a generator of requests) on vCPU 0 plus a recording IRQ handler.

    Requests: ``("spin", ns)`` busy-wait, ``("spin_until_irq", max_ns)``, ``("wfi",)``,
    ``("read", gicd_offset)`` (result sent back), ``("write", gicd_offset, value[, size])``.
    CNTV_* registers are accessed directly through :meth:`hw` (no trap, VHE host).
    """

    def __init__(self, system: System, vt: VtimerSystem, program: Callable[[TimerGuest], Generator[Req, Any, None]]) -> None:
        self.s = system
        self.vt = vt
        self.vcpu = system.vms[0].vcpus[0]
        self.engine = system.engine
        self.gic = system.gic
        self.costs = system.costs
        self.gicd = self.gic.config.gicd_base
        self.irqs: list[IrqRecord] = []
        self.on_irq: Callable[[TimerGuest], None] = lambda g: g.hw().write_sysreg("CNTV_CTL_EL0", CTL_IMASK)
        self.done = False
        self._gen = program(self)
        self._result: Any = None
        self._until = 0
        self._irq_seen = 0
        self.vcpu.ctx.guest_next = self._boot
        self.vcpu.ctx.guest_irq_step = self._irq

    def hw(self) -> GenericTimer:
        cpu = self.vcpu.cpu
        assert cpu is not None
        return self.vt.hw[cpu.index]

    def _set_next(self, step: Any) -> None:
        cpu = self.vcpu.cpu
        assert cpu is not None
        cpu.next = step

    def _boot(self) -> int:
        """The GIC set-up both upstream tests make first (kvm-unit-tests
        ``gic_enable_defaults``, the selftests' ``gic_init``): CPU interface PMR and enable,
        GICD_CTLR.Enable (KVM forwards nothing while the distributor is disabled,
        ``vgic_target_oracle``), then the vtimer PPI's priority."""
        vif = self.gic.vcpu_if[self.vcpu.cpu.index]  # type: ignore[union-attr]
        vif.write_pmr(0xF0)
        vif.write_ctlr(1)
        self.vcpu.booting = False

        def priority() -> int:
            return self.vcpu.trap_mmio(self.gicd + GICD_IPRIORITYR + PPI_VTIMER, 0xA0, 1, True, self._step)

        return self.vcpu.trap_mmio(self.gicd + GICD_CTLR, 1, 4, True, priority)

    def _step(self) -> int:
        try:
            req = self._gen.send(self._result)
        except StopIteration:
            self.done = True
            self.engine.stop()
            self._set_next(None)
            return 0
        self._result = None
        kind = req[0]
        if kind == "spin":
            self._until = self.engine.now + req[1]
            self._set_next(self._spin)
            return 0
        if kind == "spin_until_irq":
            self._until = self.engine.now + req[1]
            self._irq_seen = len(self.irqs)
            self._set_next(self._spin_irq)
            return 0
        if kind == "wfi":
            return self.vcpu.trap_wfi(self._step)
        if kind == "read":
            return self.vcpu.trap_mmio(self.gicd + req[1], 0, 4, False, self._after_read)
        if kind == "write":
            size = req[3] if len(req) > 3 else 4
            return self.vcpu.trap_mmio(self.gicd + req[1], req[2], size, True, self._step)
        raise ValueError(req)

    def _after_read(self) -> int:
        self._result = self.vcpu.mmio_result
        return self._step()

    def _spin(self) -> int:
        now = self.engine.now
        if now >= self._until:
            return self._step()
        self._set_next(self._spin)
        return min(self._until - now, self.vt.spin_quantum())

    def _spin_irq(self) -> int:
        now = self.engine.now
        if len(self.irqs) > self._irq_seen or now >= self._until:
            return self._step()
        self._set_next(self._spin_irq)
        return min(self._until - now, self.vt.spin_quantum())

    def _irq(self) -> int:
        c = self.costs
        cpu = self.vcpu.cpu
        assert cpu is not None
        vif = self.gic.vcpu_if[cpu.index]
        iar = vif.read_iar()
        intid = iar & 0x3FF
        if intid < 1020:
            hw = self.hw()
            self.irqs.append(IrqRecord(self.engine.now, intid, hw.read_sysreg("CNTV_CTL_EL0"),
                                       hw.read_sysreg("CNTVCT_EL0"), hw.read_sysreg("CNTV_CVAL_EL0")))
            if intid == PPI_VTIMER:
                self.on_irq(self)
            vif.write_eoir(iar)
        self.vcpu.ctx.guest_irqs_masked = False
        self._set_next(self.vcpu.ctx.guest_stack.pop() or self._step)
        return c.guest_irq_entry_ns + 2 * c.gicv_access_ns + c.guest_irq_exit_ns


def run_guest(program: Callable[[TimerGuest], Generator[Req, Any, None]], limit_ns: int = 200 * MS,
              setup: Callable[[TimerGuest], None] | None = None) -> TimerGuest:
    config = ScenarioConfig(name="timer-upstream", pcpus=1, vms=[VMConfig(vcpus=1, pin=[0])], devices=[])
    system = build_system(config, "forwarded", seed=0, costs=load_profile())
    vt = system.vtimer  # KVM's timer context of every vCPU; the guest program drives it
    assert vt is not None
    g = TimerGuest(system, vt, program)
    if setup is not None:
        setup(g)
    system.machine.run(limit_ns)
    assert g.done, "guest program did not finish"
    return g


def enable_irq() -> Generator[Req, Any, None]:
    yield ("write", GICD_ISENABLER0, BIT27)


def timer_state(g: TimerGuest) -> Generator[Req, Any, tuple[bool, bool]]:
    """kvm-unit-tests gic_timer_state: (pending, active) of PPI 27 through GICD reads."""
    pend = yield ("read", GICD_ISPENDR0)
    act = yield ("read", GICD_ISACTIVER0)
    return bool(pend & BIT27), bool(act & BIT27)


# --------------------------------------------------------------------------- kvm-unit-tests arm/timer.c


def test_kut_cval_irq_received_within_margin() -> None:
    """arm/timer.c test_timer_cval: ISTATUS not set early; "interrupt signal received"; not pending afterwards."""
    state: dict[str, Any] = {}

    def prog(g: TimerGuest) -> Generator[Req, Any, None]:
        yield from enable_irq()
        hw = g.hw()
        cval = hw.read_sysreg("CNTVCT_EL0") + hw.read_sysreg("CNTFRQ_EL0") // 1000  # 1 ms
        hw.write_sysreg("CNTV_CVAL_EL0", cval)
        hw.write_sysreg("CNTV_CTL_EL0", CTL_ENABLE)
        state["deadline"] = g.engine.now + 1 * MS
        yield ("spin", 500 * US)
        state["istatus_early"] = bool(hw.read_sysreg("CNTV_CTL_EL0") & CTL_ISTATUS)
        state["pending_early"] = (yield from timer_state(g))[0]
        yield ("spin_until_irq", 10 * MS)
        state["after"] = yield from timer_state(g)

    g = run_guest(prog)
    assert state["istatus_early"] is False and state["pending_early"] is False
    assert len(g.irqs) == 1 and g.irqs[0].intid == PPI_VTIMER
    lat = g.irqs[0].time - state["deadline"]
    assert 0 <= lat < MARGIN_NS
    assert state["after"] == (False, False)  # IMASK in the handler + EOI: neither pending nor active


def test_kut_tval_wfi_wakes_and_tval_nonpositive() -> None:
    """arm/timer.c test_timer_tval: TVAL + WFI — the IRQ wakes the blocked vCPU (bg_timer); TVAL ≤ 0 after."""
    state: dict[str, Any] = {}

    def prog(g: TimerGuest) -> Generator[Req, Any, None]:
        yield from enable_irq()
        hw = g.hw()
        hw.write_sysreg("CNTV_TVAL_EL0", hw.read_sysreg("CNTFRQ_EL0") // 1000)  # 1 ms
        hw.write_sysreg("CNTV_CTL_EL0", CTL_ENABLE)
        start = g.engine.now
        yield ("wfi",)
        state["woke_after"] = g.engine.now - start
        tval = g.hw().read_sysreg("CNTV_TVAL_EL0")
        state["tval"] = tval - (1 << 32) if tval & 0x8000_0000 else tval

    g = run_guest(prog)
    assert len(g.irqs) == 1
    assert 1 * MS <= state["woke_after"] < 1 * MS + MARGIN_NS
    assert state["tval"] <= 0
    assert g.s.recorder.counters["timer_wakeups"] == 1  # woken by the background hrtimer


def test_kut_pending_while_gic_irq_disabled() -> None:
    """arm/timer.c: with the PPI disabled at the GIC, no IRQ; not pending before expiry, pending after (CVAL in the past)."""
    state: dict[str, Any] = {}

    def prog(g: TimerGuest) -> Generator[Req, Any, None]:
        yield ("write", GICD_ICENABLER0, BIT27)
        hw = g.hw()
        hw.write_sysreg("CNTV_CVAL_EL0", hw.read_sysreg("CNTVCT_EL0") + 10_000)
        hw.write_sysreg("CNTV_CTL_EL0", CTL_ENABLE)
        state["before"] = yield from timer_state(g)
        hw.write_sysreg("CNTV_CVAL_EL0", hw.read_sysreg("CNTVCT_EL0") - 1)  # in the past
        yield ("spin", 50 * US)
        state["past"] = yield from timer_state(g)
        state["irqs_while_disabled"] = len(g.irqs)
        yield from enable_irq()
        yield ("spin_until_irq", 1 * MS)

    g = run_guest(prog)
    assert state["before"] == (False, False)
    assert state["past"][0] is True
    assert state["irqs_while_disabled"] == 0
    assert len(g.irqs) == 1 and g.irqs[0].intid == PPI_VTIMER  # delivered once enabled


def test_kut_imask_istatus_set_not_pending() -> None:
    """arm/timer.c: IMASK=1 with an expired timer → ISTATUS set, GIC state not pending, no IRQ."""
    state: dict[str, Any] = {}

    def prog(g: TimerGuest) -> Generator[Req, Any, None]:
        yield from enable_irq()
        hw = g.hw()
        hw.write_sysreg("CNTV_CVAL_EL0", hw.read_sysreg("CNTVCT_EL0") - 1)
        hw.write_sysreg("CNTV_CTL_EL0", CTL_ENABLE | CTL_IMASK)
        yield ("spin", 100 * US)
        state["ctl"] = hw.read_sysreg("CNTV_CTL_EL0")
        state["gic"] = yield from timer_state(g)

    g = run_guest(prog)
    assert state["ctl"] & CTL_ISTATUS
    assert state["gic"] == (False, False)
    assert g.irqs == []


def test_kut_disabled_timer_inactive() -> None:
    """arm/timer.c: ENABLE=0 → the GIC state is inactive and no IRQ arrives."""
    state: dict[str, Any] = {}

    def prog(g: TimerGuest) -> Generator[Req, Any, None]:
        yield from enable_irq()
        hw = g.hw()
        hw.write_sysreg("CNTV_CVAL_EL0", hw.read_sysreg("CNTVCT_EL0") - 1)
        hw.write_sysreg("CNTV_CTL_EL0", 0)
        yield ("spin", 100 * US)
        state["gic"] = yield from timer_state(g)

    g = run_guest(prog)
    assert state["gic"] == (False, False)
    assert g.irqs == []


# --------------------------------------------------------------------------- selftests arch_timer_edge_cases.c


def _arm_and_wait(g: TimerGuest, cval: int, wait_ns: int) -> Generator[Req, Any, None]:
    hw = g.hw()
    hw.write_sysreg("CNTV_CVAL_EL0", cval)
    hw.write_sysreg("CNTV_CTL_EL0", CTL_ENABLE)
    yield ("spin_until_irq", wait_ns)


def test_edge_timer_in_the_past_fires_at_once() -> None:
    """arch_timer_edge_cases test_timers_in_the_past: CVAL < cnt fires immediately (one injection latency)."""
    state: dict[str, int] = {}

    def prog(g: TimerGuest) -> Generator[Req, Any, None]:
        yield from enable_irq()
        yield ("spin", 1 * MS)  # let the VM's counter pass 1000 ticks (CVAL must not wrap)
        state["start"] = g.engine.now
        yield from _arm_and_wait(g, g.hw().read_sysreg("CNTVCT_EL0") - 1000, 1 * MS)

    g = run_guest(prog)
    assert len(g.irqs) == 1
    assert g.irqs[0].time - state["start"] < 5 * US


def test_edge_negative_tval_with_small_counter_no_irq() -> None:
    """arch_timer_edge_cases: tval = -wait with counter < wait gives CVAL wrapping to a huge value: no IRQ."""
    state: dict[str, Any] = {}

    def prog(g: TimerGuest) -> Generator[Req, Any, None]:
        yield from enable_irq()
        hw = g.hw()
        cnt = hw.read_sysreg("CNTVCT_EL0")
        wait = cnt + 1_000_000  # larger than the counter
        hw.write_sysreg("CNTV_TVAL_EL0", (-wait) & 0xFFFF_FFFF)
        hw.write_sysreg("CNTV_CTL_EL0", CTL_ENABLE)
        state["cval"] = hw.read_sysreg("CNTV_CVAL_EL0")
        yield ("spin_until_irq", 2 * MS)

    g = run_guest(prog)
    assert state["cval"] > (1 << 63)  # wrapped: CVAL = cnt - wait (mod 2^64)
    assert g.irqs == []


def test_edge_reprogram_long_short_and_short_long() -> None:
    """arch_timer_edge_cases test_reprogram_timers: only the second deadline fires, once."""
    state: dict[str, Any] = {}

    def prog(g: TimerGuest) -> Generator[Req, Any, None]:
        yield from enable_irq()
        hw = g.hw()
        f = hw.read_sysreg("CNTFRQ_EL0")
        cnt = hw.read_sysreg("CNTVCT_EL0")
        hw.write_sysreg("CNTV_CVAL_EL0", cnt + f // 100)  # 10 ms ...
        hw.write_sysreg("CNTV_CTL_EL0", CTL_ENABLE)
        hw.write_sysreg("CNTV_CVAL_EL0", cnt + f // 1000)  # ... reprogrammed to 1 ms
        state["t0"] = g.engine.now
        yield ("spin_until_irq", 20 * MS)
        cnt = hw.read_sysreg("CNTVCT_EL0")
        hw.write_sysreg("CNTV_CVAL_EL0", cnt + f // 1000)  # 1 ms ...
        hw.write_sysreg("CNTV_CTL_EL0", CTL_ENABLE)
        hw.write_sysreg("CNTV_CVAL_EL0", cnt + 3 * f // 1000)  # ... reprogrammed to 3 ms
        state["t1"] = g.engine.now
        yield ("spin", 10 * MS)

    g = run_guest(prog)
    assert len(g.irqs) == 2
    assert 1 * MS <= g.irqs[0].time - state["t0"] < 1 * MS + MARGIN_NS
    assert 3 * MS <= g.irqs[1].time - state["t1"] < 3 * MS + MARGIN_NS


def test_edge_imask_then_unmask_fires() -> None:
    """arch_timer_edge_cases test_timer_control_masks: a masked expired timer does not fire; unmasking fires it."""
    state: dict[str, Any] = {}

    def prog(g: TimerGuest) -> Generator[Req, Any, None]:
        yield from enable_irq()
        hw = g.hw()
        hw.write_sysreg("CNTV_CVAL_EL0", hw.read_sysreg("CNTVCT_EL0") + 100)
        hw.write_sysreg("CNTV_CTL_EL0", CTL_ENABLE | CTL_IMASK)
        yield ("spin", 1 * MS)
        state["masked_irqs"] = len(g.irqs)
        hw.write_sysreg("CNTV_CTL_EL0", CTL_ENABLE)
        state["t"] = g.engine.now
        yield ("spin_until_irq", 1 * MS)

    g = run_guest(prog)
    assert state["masked_irqs"] == 0
    assert len(g.irqs) == 1 and g.irqs[0].time - state["t"] < 5 * US


def test_edge_fire_ten_times_handler_checks() -> None:
    """arch_timer_edge_cases test_fire_a_timer_multiple_times + the handler check ISTATUS == (cnt >= cval)."""

    def prog(g: TimerGuest) -> Generator[Req, Any, None]:
        yield from enable_irq()
        for _ in range(10):
            yield from _arm_and_wait(g, g.hw().read_sysreg("CNTVCT_EL0") + 2_500, 1 * MS)  # 100 µs

    g = run_guest(prog)
    assert len(g.irqs) == 10
    for r in g.irqs:
        assert r.intid == PPI_VTIMER
        assert bool(r.ctl & CTL_ISTATUS) == (r.cnt >= r.cval) is True


def test_edge_above_tval_max_does_not_fire_early() -> None:
    """arch_timer_edge_cases test_timers_above_tval_max: CVAL beyond TVAL_MAX (TVAL view wraps) does not fire early."""
    state: dict[str, Any] = {}

    def prog(g: TimerGuest) -> Generator[Req, Any, None]:
        yield from enable_irq()
        hw = g.hw()
        cval = hw.read_sysreg("CNTVCT_EL0") + (1 << 32) + 100  # TVAL reads as a small positive value
        hw.write_sysreg("CNTV_CVAL_EL0", cval)
        hw.write_sysreg("CNTV_CTL_EL0", CTL_ENABLE)
        state["tval"] = hw.read_sysreg("CNTV_TVAL_EL0")
        yield ("spin", 5 * MS)

    g = run_guest(prog)
    assert state["tval"] < 0x8000_0000  # the 32-bit view looks like "soon"
    assert g.irqs == []


# --------------------------------------------------------------------------- selftests arch_timer.c


@pytest.mark.parametrize("name", ["vtimer-tick", "vtimer-migrate"])
def test_selftest_every_vcpu_gets_its_timer_irqs(name: str) -> None:
    """arch_timer.c (with -m migration for vtimer-migrate): every vCPU receives its periodic timer
    interrupts, each handled with ISTATUS set (INTID 27), none lost, none delivered to the wrong vCPU."""
    cfg = get_scenario(name)
    r = run_scenario(cfg, "forwarded", tracing=True)
    assert r.violations == []
    irqs: dict[tuple[int, int], list[bool]] = {}
    for _t, ev, f in r.recorder.trace:
        if ev == "irqfwd_guest_timer_irq":
            irqs.setdefault((f["vm"], f["vcpu"]), []).append(f["istatus"])
    expected_vcpus = {(i, v) for i, vm in enumerate(cfg.vms) for v in range(vm.vcpus)}
    assert set(irqs) == expected_vcpus
    per_period = cfg.duration_ns // (1_000_000_000 // cfg.vms[0].timer.hz)
    for got in irqs.values():
        assert all(got)
        assert per_period - 2 <= len(got) <= per_period + 2
