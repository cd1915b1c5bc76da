"""Generic Timer model (Arm ARM D11/D12): counter, CTL bits, CVAL/TVAL views, PPI outputs."""

from __future__ import annotations

import pytest

from irqfwd.hw.gic.device import GicDevice
from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.hw.gicv2.gic import GICv2
from irqfwd.hw.timer import (
    CTL_ENABLE,
    CTL_IMASK,
    CTL_ISTATUS,
    PPI_HYP_PTIMER,
    PPI_PTIMER,
    PPI_VTIMER,
    ArchTimers,
    SystemCounter,
)
from irqfwd.sim.engine import Engine


class FakeGic(GicDevice):
    """Records set_line calls as the GICv2 contract names them (intid, level, cpu)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, int, bool, int | None]] = []
        self.engine: Engine | None = None
        self.levels: dict[tuple[int, int | None], bool] = {}

    def set_line(self, intid: int, level: bool, cpu: int | None = None) -> None:
        now = self.engine.now if self.engine else -1
        self.calls.append((now, intid, level, cpu))
        self.levels[(intid, cpu)] = level


def make(freq: int = 100_000_000, cpus: int = 2, start: int = 0) -> tuple[Engine, FakeGic, ArchTimers]:
    eng = Engine()
    gic = FakeGic()
    gic.engine = eng
    return eng, gic, ArchTimers(eng, cpus, gic, freq_hz=freq, start_count=start)


def test_counter_is_integer_function_of_time() -> None:
    """D11.1.2: CNTPCT increments at CNTFRQ; 25 MHz → one tick per 40 ns, floor semantics."""
    eng = Engine()
    c = SystemCounter(eng, 25_000_000)
    assert c.count() == 0
    eng.run(until=39)
    assert c.count() == 0
    eng.run(until=40)
    assert c.count() == 1
    eng.run(until=10_000_000)
    assert c.count() == 250_000
    assert c.time_of(250_001) == 10_000_040


def test_counter_rejects_bad_frequency() -> None:
    """CNTFRQ must be a positive rate the ns engine can represent."""
    with pytest.raises(ValueError, match="frequency"):
        SystemCounter(Engine(), 0)


def test_istatus_ignores_imask_output_needs_all_three() -> None:
    """CNTV_CTL: ISTATUS = condition met regardless of IMASK; output = ENABLE && ISTATUS && !IMASK."""
    eng, gic, t = make()
    v = t[0].virt
    eng.run(until=1_000)  # count 100
    v.write_cval(50)
    assert v.read_ctl() == 0  # disabled: ISTATUS reads 0 (QEMU behaviour), no output
    assert not v.output
    v.write_ctl(CTL_ENABLE | CTL_IMASK)
    assert v.read_ctl() == CTL_ENABLE | CTL_IMASK | CTL_ISTATUS
    assert not v.output and gic.calls == []
    v.write_ctl(CTL_ENABLE)
    assert v.read_ctl() == CTL_ENABLE | CTL_ISTATUS
    assert v.output and gic.calls == [(1_000, PPI_VTIMER, True, 0)]
    v.write_ctl(0)
    assert not v.output and gic.calls[-1] == (1_000, PPI_VTIMER, False, 0)


def test_ctl_istatus_is_read_only() -> None:
    """CNTV_CTL.ISTATUS is RO: writing it does not make the condition true."""
    _eng, _gic, t = make()
    v = t[0].virt
    v.write_cval(1_000_000)
    v.write_ctl(CTL_ENABLE | CTL_ISTATUS)
    assert v.read_ctl() == CTL_ENABLE
    assert not v.output


def test_tval_signed_32bit_view() -> None:
    """TVAL reads (CVAL - count)[31:0] sign-extended; past CVAL → negative; writes set CVAL = count + SExt(TVAL)."""
    eng, _gic, t = make()
    g = t[0]
    eng.run(until=10_000)  # count 1000
    g.write_sysreg("CNTV_CVAL_EL0", 400)
    assert g.read_sysreg("CNTV_TVAL_EL0") == (-600) & 0xFFFF_FFFF
    assert g.virt.read_tval() == -600
    g.write_sysreg("CNTV_TVAL_EL0", 0xFFFF_FFFF)  # TVAL = -1 → CVAL = count - 1 < count
    assert g.read_sysreg("CNTV_CVAL_EL0") == 999
    g.write_sysreg("CNTV_TVAL_EL0", 500)
    assert g.read_sysreg("CNTV_CVAL_EL0") == 1_500
    eng.run(until=12_000)
    assert g.virt.read_tval() == 300  # TVAL counts down
    g.write_sysreg("CNTV_CVAL_EL0", 1_000 + (1 << 33))  # beyond TVAL_MAX: view truncates
    assert g.virt.read_tval() == 0 - 200


def test_output_rises_exactly_when_counter_reaches_cval() -> None:
    """The output changes at the instant CNTVCT reaches CVAL (not before: ISTATUS not set too early)."""
    eng, gic, t = make(freq=25_000_000)
    v = t[1].virt
    v.write_cval(250_000)  # 10 ms at 25 MHz
    v.write_ctl(CTL_ENABLE)
    eng.run(until=9_999_999)
    assert not v.output and not v.read_ctl() & CTL_ISTATUS
    eng.run(until=10_000_000)
    assert v.output
    assert gic.calls == [(10_000_000, PPI_VTIMER, True, 1)]


def test_rewrite_reschedules() -> None:
    """Reprogramming long→short fires at the short deadline only; short→long only at the long one."""
    eng, gic, t = make()
    v = t[0].virt
    v.write_cval(10_000)
    v.write_ctl(CTL_ENABLE)
    v.write_cval(100)  # long → short: only the short deadline counts
    eng.run(until=999)
    assert gic.calls == []
    eng.run(until=1_000)
    assert gic.calls == [(1_000, PPI_VTIMER, True, 0)]
    v.write_cval(200_000)  # back in the future: output falls at once
    v.write_cval(300_000)  # short → long
    eng.run(until=2_999_999)
    assert gic.calls == [(1_000, PPI_VTIMER, True, 0), (1_000, PPI_VTIMER, False, 0)]
    eng.run(until=3_000_000)
    assert gic.calls[-1] == (3_000_000, PPI_VTIMER, True, 0)
    assert len(gic.calls) == 3


def test_cval_in_past_fires_at_once() -> None:
    """A timer programmed in the past asserts immediately (arch_timer_edge_cases: timers in the past)."""
    eng, gic, t = make(start=1 << 40)
    eng.run(until=5_000)
    v = t[0].virt
    v.write_tval(-(2**31))  # TVAL_MIN: CVAL = count - 2^31
    v.write_ctl(CTL_ENABLE)
    assert v.output and gic.calls == [(5_000, PPI_VTIMER, True, 0)]


def test_disabled_and_masked_timers_never_fire() -> None:
    """ENABLE=0 or IMASK=1: no output edge ever, though ISTATUS tracks the condition when enabled."""
    eng, gic, t = make()
    t[0].virt.write_cval(100)
    t[0].phys.write_cval(100)
    t[0].phys.write_ctl(CTL_ENABLE | CTL_IMASK)
    eng.run(until=1_000_000)
    assert gic.calls == []
    assert t[0].phys.read_ctl() & CTL_ISTATUS
    t[0].phys.write_ctl(CTL_ENABLE)  # unmask → fires
    assert gic.calls == [(1_000_000, PPI_PTIMER, True, 0)]


def test_three_timers_drive_their_ppis_per_cpu() -> None:
    """Virtual → PPI 27, EL1 physical → PPI 30, EL2 physical → PPI 26, each on its own CPU."""
    eng, gic, t = make()
    t[0].write_sysreg("CNTV_CVAL_EL0", 10)
    t[0].write_sysreg("CNTV_CTL_EL0", CTL_ENABLE)
    t[1].write_sysreg("CNTP_CVAL_EL0", 20)
    t[1].write_sysreg("CNTP_CTL_EL0", CTL_ENABLE)
    t[1].write_sysreg("CNTHP_CVAL_EL2", 30)
    t[1].write_sysreg("CNTHP_CTL_EL2", CTL_ENABLE)
    eng.run(until=1_000)
    assert gic.calls == [(100, PPI_VTIMER, True, 0), (200, PPI_PTIMER, True, 1), (300, PPI_HYP_PTIMER, True, 1)]
    assert (PPI_VTIMER, 1) not in gic.levels


def test_cntvoff_moves_virtual_count_only() -> None:
    """CNTVCT = CNTPCT - CNTVOFF_EL2; changing CNTVOFF moves the virtual timer's deadline, not CNTP's."""
    eng, gic, t = make()
    g = t[0]
    eng.run(until=10_000)  # 1000 ticks
    g.write_sysreg("CNTVOFF_EL2", 600)
    assert g.read_sysreg("CNTVCT_EL0") == 400
    assert g.read_sysreg("CNTPCT_EL0") == 1_000
    g.write_sysreg("CNTV_CVAL_EL0", 500)
    g.write_sysreg("CNTV_CTL_EL0", CTL_ENABLE)
    assert not g.virt.output
    g.write_sysreg("CNTVOFF_EL2", 400)  # counter moved ahead of the timer → fires now
    assert g.virt.output
    g.write_sysreg("CNTVOFF_EL2", 600)  # moved back → output drops, fires 100 ticks later
    assert not g.virt.output
    eng.run(until=11_000)
    assert g.virt.output and gic.calls[-1] == (11_000, PPI_VTIMER, True, 0)


def test_counter_wrap_unsigned_compare() -> None:
    """Condition is UInt(count) >= UInt(CVAL): when the 64-bit virtual count wraps, a met condition ends."""
    eng, _gic, t = make(start=(1 << 64) - 100)
    v = t[0].virt
    v.write_cval((1 << 64) - 50)
    v.write_ctl(CTL_ENABLE)
    eng.run(until=499)
    assert not v.output
    eng.run(until=500)
    assert v.output  # count reached CVAL
    eng.run(until=1_000)  # count wrapped to 0 → 0 < CVAL
    assert v.count() == 0 and not v.output
    assert v.read_ctl() == CTL_ENABLE


def test_unknown_register_name_rejected() -> None:
    """Register names follow the Arm ARM; a typo is an error, not a silent no-op."""
    _eng, _gic, t = make()
    with pytest.raises(ValueError, match="CNTV_CTL_EL2"):
        t[0].read_sysreg("CNTV_CTL_EL2")
    with pytest.raises(ValueError, match="read-only"):
        t[0].write_sysreg("CNTPCT_EL0", 5)


def test_deterministic_schedule() -> None:
    """Same programming → identical output-change times (integer arithmetic only)."""

    def run() -> list[tuple[int, int, bool, int | None]]:
        eng, gic, t = make(freq=62_500_000)
        for cpu in range(2):
            t[cpu].virt.write_tval(12_345 + cpu)
            t[cpu].virt.write_ctl(CTL_ENABLE)
        eng.run(until=10_000_000)
        return gic.calls

    assert run() == run() == [(197_520, PPI_VTIMER, True, 0), (197_536, PPI_VTIMER, True, 1)]


# --------------------------------------------------------------------------- on the real GICv2 model


GICD, GICC = 0x0800_0000, 0x0801_0000
GICD_CTLR, ISENABLER0, ICENABLER0, ISPENDR0, ISACTIVER0, IPRIORITYR = 0x0, 0x100, 0x180, 0x200, 0x300, 0x400
GICC_CTLR, GICC_PMR, GICC_IAR, GICC_EOIR = 0x00, 0x04, 0x0C, 0x10


def gic_with_timers(enable_ppi: bool = True) -> tuple[Engine, GICv2, ArchTimers]:
    eng = Engine()
    gic = GICv2(GICv2Config(num_cpus=2))
    for cpu in range(2):
        gic.write(GICD + GICD_CTLR, 1, cpu=cpu)
        gic.write(GICC + GICC_CTLR, 1, cpu=cpu)
        gic.write(GICC + GICC_PMR, 0xF0, cpu=cpu)
        gic.write(GICD + IPRIORITYR + PPI_VTIMER, 0xA0, size=1, cpu=cpu)
        if enable_ppi:
            gic.write(GICD + ISENABLER0, 1 << PPI_VTIMER, cpu=cpu)
    return eng, gic, ArchTimers(eng, 2, gic, freq_hz=100_000_000)


def test_gic_ppi27_pending_follows_timer_output() -> None:
    """kvm-unit-tests arm/timer.c: not pending before expiry; pending at the GIC once CVAL is reached; IAR returns 27."""
    eng, gic, t = gic_with_timers()
    v = t[1].virt
    v.write_cval(1_000)  # 10 µs
    v.write_ctl(CTL_ENABLE)
    eng.run(until=9_999)
    assert not gic.read(GICD + ISPENDR0, cpu=1) & (1 << PPI_VTIMER)
    assert not gic.outputs[1].irq
    eng.run(until=10_000)
    assert gic.read(GICD + ISPENDR0, cpu=1) & (1 << PPI_VTIMER)
    assert gic.outputs[1].irq and not gic.outputs[0].irq
    assert gic.read(GICC + GICC_IAR, cpu=1) & 0x3FF == PPI_VTIMER
    assert gic.read(GICD + ISACTIVER0, cpu=1) & (1 << PPI_VTIMER)


def test_gic_imask_clears_pending_but_not_istatus() -> None:
    """kvm-unit-tests arm/timer.c: IMASK=1 → ISTATUS still set, the GIC state is not pending (level PPI)."""
    eng, gic, t = gic_with_timers()
    v = t[0].virt
    v.write_cval(10)
    v.write_ctl(CTL_ENABLE)
    eng.run(until=1_000)
    assert gic.read(GICD + ISPENDR0, cpu=0) & (1 << PPI_VTIMER)
    v.write_ctl(CTL_ENABLE | CTL_IMASK)
    assert v.read_ctl() & CTL_ISTATUS
    assert not gic.read(GICD + ISPENDR0, cpu=0) & (1 << PPI_VTIMER)
    assert not gic.outputs[0].irq


def test_gic_disabled_timer_leaves_ppi_inactive() -> None:
    """kvm-unit-tests arm/timer.c: ENABLE=0 → the GIC state is inactive (neither pending nor active), no IRQ."""
    eng, gic, t = gic_with_timers()
    t[0].virt.write_cval(10)
    eng.run(until=1_000_000)
    assert not gic.read(GICD + ISPENDR0, cpu=0) & (1 << PPI_VTIMER)
    assert not gic.read(GICD + ISACTIVER0, cpu=0) & (1 << PPI_VTIMER)
    assert not gic.outputs[0].irq


def test_gic_ppi_disabled_pending_but_no_irq() -> None:
    """kvm-unit-tests arm/timer.c: with the GIC IRQ disabled an expired timer is pending but not signalled."""
    eng, gic, t = gic_with_timers(enable_ppi=False)
    t[0].virt.write_cval(10)
    t[0].virt.write_ctl(CTL_ENABLE)
    eng.run(until=1_000)
    assert gic.read(GICD + ISPENDR0, cpu=0) & (1 << PPI_VTIMER)
    assert not gic.outputs[0].irq
    gic.write(GICD + ISENABLER0, 1 << PPI_VTIMER, cpu=0)
    assert gic.outputs[0].irq


def test_gic_active_ppi_not_resignalled_until_eoi() -> None:
    """IHI 0048B §3.2.4: an Active level PPI whose line stays high is Active+Pending, signalled again only after EOI."""
    eng, gic, t = gic_with_timers()
    t[0].virt.write_cval(10)
    t[0].virt.write_ctl(CTL_ENABLE)
    eng.run(until=1_000)
    assert gic.read(GICC + GICC_IAR, cpu=0) == PPI_VTIMER
    assert not gic.outputs[0].irq  # active: not signalled although the line is high
    gic.write(GICC + GICC_EOIR, PPI_VTIMER, cpu=0)
    assert gic.outputs[0].irq  # line still high → fires again at once (IHI 0048B §3.2.4, E2)
