"""Guest clock event on the virtual timer (Linux arm_arch_timer.c timer_handler / set_next_event)."""

from __future__ import annotations

from irqfwd.config import TimerConfig
from irqfwd.guest.timer import GuestTimer
from irqfwd.hw.timer import CTL_ENABLE, CTL_IMASK, ArchTimers
from irqfwd.sim.costs import load_profile
from irqfwd.sim.engine import Engine
from irqfwd.sim.metrics import Recorder


def make(mode: str = "periodic", hz: int = 1000) -> tuple[Engine, Recorder, ArchTimers, GuestTimer]:
    eng = Engine(seed=3)
    rec = Recorder(eng)
    hw = ArchTimers(eng, 1, None, freq_hz=25_000_000)
    cfg = TimerConfig(enabled=True, mode=mode, hz=hz, oneshot_min_ns=50_000, oneshot_max_ns=60_000)  # type: ignore[arg-type]
    return eng, rec, hw, GuestTimer(eng, rec, load_profile(), cfg, vm=0, vcpu=0)


def test_start_programs_cval_then_enable() -> None:
    """set_next_event: CVAL = CNTVCT + delta, CTL = ENABLE with IMASK clear; deadline one period (HZ=1000 → 1 ms)."""
    eng, _rec, hw, gt = make()
    eng.run(until=4_000)
    gt.start(hw[0])
    assert hw[0].virt.read_ctl() & 3 == CTL_ENABLE
    assert hw[0].virt.read_cval() == 100 + 25_000
    assert gt.deadline_ns == 1_004_000


def test_handler_masks_before_eoi_and_reprograms_next_period() -> None:
    """timer_handler: ISTATUS set → CTL |= IMASK (output drops before EOI), then the next tick at expected + period."""
    eng, rec, hw, gt = make()
    gt.start(hw[0])
    eng.run(until=1_000_300)
    assert hw[0].virt.output
    gt.handle_irq(hw[0])
    assert not hw[0].virt.output  # condition false for the new CVAL, and the line is low
    assert hw[0].virt.read_cval() == 50_000  # expected deadline + period, not now + period
    lat = rec.latencies["timer_expiry_to_guest_handler"]
    assert (lat.count, lat.min, lat.max) == (1, 300, 300)
    assert rec.counters["guest_timer_irqs"] == 1 and gt.ticks == 1


def test_missed_ticks_are_caught_up_without_interrupts() -> None:
    """tick_handle_periodic on a one-shot device: deadlines already past are accounted, the next is in the future."""
    eng, rec, hw, gt = make()
    gt.start(hw[0])
    eng.run(until=3_500_000)  # 2.5 periods late (the vCPU was descheduled)
    gt.handle_irq(hw[0])
    assert gt.ticks == 3 and rec.counters["guest_timer_ticks_caught_up"] == 2
    assert hw[0].virt.read_cval() == 100_000 and gt.deadline_ns == 4_000_000


def test_spurious_when_istatus_clear() -> None:
    """timer_handler returns IRQ_NONE when ISTATUS is clear: no reprogramming, counted as spurious."""
    _eng, rec, hw, gt = make()
    gt.start(hw[0])
    hw[0].virt.write_ctl(CTL_ENABLE | CTL_IMASK)
    gt.handle_irq(hw[0])
    assert rec.counters["guest_timer_spurious"] == 1 and gt.irqs == 0
    assert hw[0].virt.read_cval() == 25_000


def test_oneshot_delays_drawn_from_engine_rng() -> None:
    """One-shot hrtimers: each next expiry is within [min, max] and the sequence is reproducible from the seed."""

    def run() -> list[int]:
        eng, _rec, hw, gt = make("oneshot")
        gt.start(hw[0])
        out = []
        for _ in range(5):
            eng.run(until=gt.deadline_ns)
            start = eng.now
            gt.handle_irq(hw[0])
            out.append(gt.deadline_ns - start)
        return out

    a = run()
    assert a == run()
    assert all(50_000 - 40 <= d <= 60_000 for d in a) and len(set(a)) > 1
