"""KVM arch timer backend against the behaviour of arch/arm64/kvm/arch_timer.c (Linux 6.x), one test per statement."""

from __future__ import annotations

from typing import Any

import pytest

from irqfwd.host.kvm.arch_timer import (
    IRQCHIP_STATE_ACTIVE,
    ArchTimerContext,
    KvmArchTimer,
    TimerPlatform,
)
from irqfwd.host.kvm.arm_vgic import VGIC_IRQ_SW_RESAMPLE, IrqOps
from irqfwd.hw.timer import CTL_ENABLE, CTL_IMASK, PPI_VTIMER, ArchTimers
from irqfwd.sim.costs import load_profile
from irqfwd.sim.engine import Engine
from irqfwd.sim.metrics import Recorder


class FakePlatform(TimerPlatform):
    """genirq + vgic as arch_timer.c sees them; records every call."""

    def __init__(self) -> None:
        self.phys_active: dict[int, bool] = {}
        self.virt_active: dict[int, bool] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.injected: list[tuple[int, bool, object]] = []
        self.maps: list[tuple[int, int, IrqOps]] = []
        self.kicked: list[Any] = []
        self.percpu_enabled: dict[int, bool] = {}

    def irq_get_irqchip_state(self, irq: int, which: int, cpu: int) -> bool:
        return self.phys_active.get(cpu, False)

    def irq_set_irqchip_state(self, irq: int, which: int, value: bool, cpu: int) -> None:
        self.calls.append(("set_state", irq, which, value, cpu))
        self.phys_active[cpu] = value

    def irq_set_vcpu_affinity(self, irq: int, vcpu_info: Any) -> int:
        self.calls.append(("vcpu_affinity", irq, vcpu_info is not None))
        return 0

    def disable_percpu_irq(self, irq: int, cpu: int) -> None:
        self.calls.append(("disable_percpu", irq, cpu))
        self.percpu_enabled[cpu] = False

    def enable_percpu_irq(self, irq: int, cpu: int) -> None:
        self.calls.append(("enable_percpu", irq, cpu))
        self.percpu_enabled[cpu] = True

    def kvm_vgic_map_phys_irq(self, vcpu: Any, host_irq: int, vintid: int, ops: IrqOps) -> int:
        self.maps.append((host_irq, vintid, ops))
        return 0

    def kvm_vgic_inject_irq(self, vcpu: Any, intid: int, level: bool, owner: object) -> int:
        self.injected.append((intid, level, owner))
        return 0

    def kvm_vgic_map_is_active(self, vcpu: Any, vintid: int) -> bool:
        return self.virt_active.get(id(vcpu), False)

    def kvm_vgic_reset_mapped_irq(self, vcpu: Any, vintid: int) -> None:
        self.calls.append(("reset_mapped", vintid))
        self.virt_active[id(vcpu)] = False

    def kvm_vcpu_wake_up(self, vcpu: Any) -> None:
        self.kicked.append(vcpu)


class Vcpu:
    pass


def setup(design: str = "forwarded", cache_inactive: bool = False) -> tuple[Engine, Recorder, ArchTimers, FakePlatform, KvmArchTimer, ArchTimerContext, Vcpu]:
    eng = Engine()
    rec = Recorder(eng)
    hw = ArchTimers(eng, 2, None, freq_hz=100_000_000)  # 10 ns per tick
    plat = FakePlatform()
    kt = KvmArchTimer(eng, rec, load_profile(), hw, plat, design=design, cache_inactive=cache_inactive)
    vcpu = Vcpu()
    ctx = kt.kvm_timer_vcpu_init(vcpu, vm=0, vcpu_id=0)
    kt.kvm_timer_enable(ctx)
    return eng, rec, hw, plat, kt, ctx, vcpu


def _block_with_deadline_20us(kt: KvmArchTimer, hw: ArchTimers, ctx: ArchTimerContext) -> None:
    """The guest arms its vtimer for 20 µs and blocks: the put inside kvm_vcpu_block."""
    kt.kvm_timer_vcpu_load(ctx, 0)
    hw[0].virt.write_cval(2_000)  # 20 µs
    hw[0].virt.write_ctl(CTL_ENABLE)
    ctx.blocking = True
    kt.kvm_timer_vcpu_put(ctx)


def sets(plat: FakePlatform) -> list[tuple[Any, ...]]:
    return [c for c in plat.calls if c[0] == "set_state"]


@pytest.mark.parametrize(
    ("virt_active", "asserted", "expected"),
    [(False, False, False), (True, False, True), (False, True, True), (True, True, True)],
)
def test_load_sets_phys_active_to_virtual_active_or_output(virt_active: bool, asserted: bool, expected: bool) -> None:
    """"On timer vcpu_load, the physical timer PPI Active state is set to (virtual active || timer output asserted), else cleared." """
    eng, rec, hw, plat, kt, ctx, vcpu = setup()
    plat.virt_active[id(vcpu)] = virt_active
    plat.phys_active[1] = not expected  # the opposite, so the write is observable
    ctx.cnt_ctl = CTL_ENABLE
    ctx.cnt_cval = 0 if asserted else 10**9
    eng.run(until=1_000)
    kt.kvm_timer_vcpu_load(ctx, 1)
    assert plat.phys_active[1] is expected
    assert sets(plat)[-1] == ("set_state", PPI_VTIMER, IRQCHIP_STATE_ACTIVE, expected, 1)
    # the level is given to the vgic with the timer context as owner (kvm_timer_vcpu_load_gic)
    assert plat.injected[-1] == (PPI_VTIMER, asserted, ctx)
    # registers restored into the hardware of CPU 1
    assert hw[1].virt.read_cval() == ctx.cnt_cval and hw[1].virt.output is asserted
    assert rec.counters["timer_restore"] == 1 and rec.counters["irqchip_state_set"] >= 1


def test_put_saves_and_disables_the_timer_hardware() -> None:
    """"On timer vcpu_put, the timer hardware is disabled" (timer_save_state writes CTL=0 after saving)."""
    eng, rec, hw, plat, kt, ctx, _vcpu = setup()
    ctx.cnt_ctl = CTL_ENABLE
    ctx.cnt_cval = 500
    kt.kvm_timer_vcpu_load(ctx, 0)
    hw[0].virt.write_ctl(CTL_ENABLE | CTL_IMASK)  # the guest masks it meanwhile
    eng.run(until=10_000)  # count 1000 > CVAL
    kt.kvm_timer_vcpu_put(ctx)
    assert ctx.cnt_ctl & 0b111 == 0b111  # ENABLE | IMASK | ISTATUS saved
    assert ctx.cnt_cval == 500
    assert hw[0].virt.read_ctl() == 0 and not hw[0].virt.output
    assert kt.running[0] is None and not ctx.loaded
    assert rec.counters["timer_save"] == 1
    # the physical Active state is not touched by put (recomputed at the next load)
    assert sets(plat)[-1][3] is False and len(sets(plat)) == 1


def test_timer_ppi_with_no_loaded_vcpu_is_ignored() -> None:
    """"a timer PPI arriving with no loaded vcpu is ignored" — no injection, PPI left Active (kvm_arch_timer_handler)."""
    _eng, rec, _hw, plat, kt, _ctx, _vcpu = setup()
    plat.phys_active[0] = True  # the host acked it (IAR) and, forwarded, will not DIR it
    n_inj = len(plat.injected)
    kt.kvm_arch_timer_handler(0)
    assert len(plat.injected) == n_inj
    assert plat.phys_active[0] is True
    assert rec.counters["timer_spurious"] == 1


def test_handler_with_condition_injects_level_with_owner() -> None:
    """kvm_arch_timer_handler: with a loaded vCPU and the condition true, the handler raises the level into the vgic (owner = timer context)."""
    eng, rec, hw, plat, kt, ctx, _vcpu = setup()
    ctx.cnt_ctl = CTL_ENABLE
    ctx.cnt_cval = 100
    kt.kvm_timer_vcpu_load(ctx, 0)
    eng.run(until=1_000)
    kt.kvm_arch_timer_handler(0)
    assert plat.injected[-1] == (PPI_VTIMER, True, ctx)
    assert ctx.irq_level and rec.counters["timer_spurious"] == 0
    # a handler run after the guest masked the timer sees the condition false: spurious
    hw[0].virt.write_ctl(CTL_ENABLE | CTL_IMASK)
    kt.kvm_arch_timer_handler(0)
    assert rec.counters["timer_spurious"] == 1


def test_only_inactive_is_cached() -> None:
    """"Only 'inactive' may be cached for the physical timer Active state" (9b4a3004439d,
    the 5.8 kernel profile)."""
    _eng, _rec, _hw, plat, kt, ctx, vcpu = setup(cache_inactive=True)
    kt.kvm_timer_vcpu_load(ctx, 0)  # timer off → writes inactive, caches it
    kt.kvm_timer_vcpu_put(ctx)
    kt.kvm_timer_vcpu_load(ctx, 0)  # inactive again → served from the cache, no GIC write
    assert len(sets(plat)) == 1
    kt.kvm_timer_vcpu_put(ctx)
    # now the vCPU's virtual irq is active: "active" must be written...
    plat.virt_active[id(vcpu)] = True
    kt.kvm_timer_vcpu_load(ctx, 0)
    assert sets(plat)[-1][3] is True and len(sets(plat)) == 2
    # ...the guest EOIs through the HW bit behind KVM's back (physical → inactive)
    plat.phys_active[0] = False
    plat.virt_active[id(vcpu)] = True  # still virtually active at the next load
    kt.kvm_timer_vcpu_put(ctx)
    kt.kvm_timer_vcpu_load(ctx, 0)
    # a cached "active" would have skipped this write and left the LR's HW irq inactive
    assert sets(plat)[-1][3] is True and len(sets(plat)) == 3
    assert plat.phys_active[0] is True


def test_host_ack_invalidates_inactive_cache() -> None:
    """The inactive cache (9b4a3004439d) holds only while nothing activated the PPI; a host ack
    (IAR) on that CPU invalidates it."""
    _eng, _rec, _hw, plat, kt, ctx, _vcpu = setup(cache_inactive=True)
    kt.kvm_timer_vcpu_load(ctx, 0)
    kt.kvm_timer_vcpu_put(ctx)
    plat.phys_active[0] = True  # PPI acked on CPU 0 with nobody loaded
    kt.kvm_arch_timer_handler(0)
    kt.kvm_timer_vcpu_load(ctx, 0)
    assert plat.phys_active[0] is False and len(sets(plat)) == 2


def test_forwarded_at_init_and_mapped_with_input_level() -> None:
    """kvm_timer_hyp_init / kvm_timer_enable: the vtimer PPI is forwarded once (irq_set_vcpu_affinity non-NULL) and mapped with get_input_level."""
    eng, _rec, hw, plat, kt, ctx, _vcpu = setup()
    assert plat.calls[0] == ("vcpu_affinity", PPI_VTIMER, True)
    assert [c for c in plat.calls if c[0] == "vcpu_affinity"] == [plat.calls[0]]
    host_irq, vintid, ops = plat.maps[0]
    assert (host_irq, vintid, bool(ops.flags & VGIC_IRQ_SW_RESAMPLE)) == (PPI_VTIMER, PPI_VTIMER, False)
    # get_input_level reads the saved context when not loaded...
    ctx.cnt_ctl = CTL_ENABLE
    ctx.cnt_cval = 50
    assert ops.get_input_level(PPI_VTIMER) is False
    eng.run(until=500)
    assert ops.get_input_level(PPI_VTIMER) is True
    # ...and the hardware when loaded
    kt.kvm_timer_vcpu_load(ctx, 0)
    hw[0].virt.write_ctl(CTL_ENABLE | CTL_IMASK)
    assert ops.get_input_level(PPI_VTIMER) is False


def test_bg_timer_wakes_blocked_vcpu_at_deadline() -> None:
    """kvm_timer_vcpu_put: put while blocking arms bg_timer at the guest deadline; expiry wakes the vCPU (kvm_vcpu_wake_up)."""
    eng, rec, hw, plat, kt, ctx, vcpu = setup()
    _block_with_deadline_20us(kt, hw, ctx)
    eng.run(until=19_999)
    assert plat.kicked == []
    eng.run(until=20_000)
    assert plat.kicked == [vcpu] and rec.counters["timer_wakeups"] == 1
    # the next load injects the level and sets the physical Active state
    ctx.blocking = False
    kt.kvm_timer_vcpu_load(ctx, 0)
    assert plat.injected[-1] == (PPI_VTIMER, True, ctx) and plat.phys_active[0] is True


def test_bg_timer_expiring_early_is_restarted() -> None:
    """kvm_bg_timer_expire: "Check that the timer has really expired from the guest's PoV
    (NTP on the host may have forced it to expire early). If we should have slept longer,
    restart it" -- no wake-up (nor ``timer_wakeups``) until the deadline (here moved while
    the vCPU sleeps)."""
    eng, rec, hw, plat, kt, ctx, vcpu = setup()
    _block_with_deadline_20us(kt, hw, ctx)
    ctx.cnt_cval = 5_000  # the deadline is now 50 µs
    eng.run(until=49_999)
    assert plat.kicked == [] and rec.counters.get("timer_wakeups", 0) == 0
    assert ctx.bg_timer is not None
    eng.run(until=50_000)
    assert plat.kicked == [vcpu] and rec.counters["timer_wakeups"] == 1


def test_bg_timer_expiry_traces_as_the_host_hrtimer_not_kvm_timer_hrtimer_expire() -> None:
    """kvm_bg_timer_expire has no KVM tracepoint: what a host trace shows of it is the timer
    subsystem's ``timer:hrtimer_expire_entry`` with ``function=kvm_bg_timer_expire``, once
    per expiry (the early one that restarts the hrtimer too); ``kvm_timer_hrtimer_expire``
    is traced by kvm_hrtimer_expire, the emulated timers' handler, only."""
    eng, rec, hw, plat, kt, ctx, vcpu = setup()
    seen: list[tuple[str, int, dict[str, Any]]] = []
    for name in ("hrtimer_expire_entry", "kvm_timer_hrtimer_expire"):
        rec.subscribe(name, lambda t, f, name=name: seen.append((name, t, dict(f))))
    _block_with_deadline_20us(kt, hw, ctx)
    ctx.cnt_cval = 5_000  # moved to 50 µs: the first expiry is early
    eng.run(until=60_000)
    assert [(n, t, f["function"]) for n, t, f in seen] == [
        ("hrtimer_expire_entry", 20_000, "kvm_bg_timer_expire"),
        ("hrtimer_expire_entry", 50_000, "kvm_bg_timer_expire")]
    assert plat.kicked == [vcpu]


def test_masked_timer_arms_no_bg_timer() -> None:
    """kvm_timer_blocking: a disabled or masked timer cannot raise an interrupt, so no bg_timer."""
    eng, _rec, hw, plat, kt, ctx, _vcpu = setup()
    kt.kvm_timer_vcpu_load(ctx, 0)
    hw[0].virt.write_cval(2_000)
    hw[0].virt.write_ctl(CTL_ENABLE | CTL_IMASK)
    ctx.blocking = True
    kt.kvm_timer_vcpu_put(ctx)
    assert ctx.bg_timer is None
    eng.run(until=1_000_000)
    assert plat.kicked == []


def test_no_vgic_masking_fallback() -> None:
    """"With no vgic/active-state support on the host, the timer PPI is masked with disable_percpu_irq while its output is asserted." """
    _eng, _rec, _hw, plat, kt, ctx, _vcpu = setup("timer-no-vgic")
    assert not [c for c in plat.calls if c[0] == "vcpu_affinity"] and plat.maps == []
    ctx.cnt_ctl = CTL_ENABLE
    ctx.cnt_cval = 0  # asserted
    kt.kvm_timer_vcpu_load(ctx, 0)
    assert plat.percpu_enabled[0] is False
    kt.kvm_timer_vcpu_put(ctx)
    assert plat.percpu_enabled[0] is True
    ctx.cnt_cval = 10**9  # not asserted → stays enabled at load
    kt.kvm_timer_vcpu_load(ctx, 0)
    assert plat.percpu_enabled[0] is True
    assert not sets(plat) and plat.injected == []  # no vgic: nothing injected through it


def test_m1_style_no_hw_deactivation() -> None:
    """"Without hardware deactivation (M1), the timer LR has no HW bit and has the EOI bit; ... the host unmasks the timer irq once it is neither active nor latched." """
    eng, _rec, _hw, plat, kt, ctx, _vcpu = setup("sw-deactivate")
    # forwarded once, like the HW design (the kvm-timer chip keeps the flag to itself)
    assert [c for c in plat.calls if c[0] == "vcpu_affinity"] == [("vcpu_affinity", PPI_VTIMER, True)]
    assert plat.maps[0][2].flags & VGIC_IRQ_SW_RESAMPLE  # VGIC_IRQ_SW_RESAMPLE → LR: HW=0, EOI=1
    ctx.cnt_ctl = CTL_ENABLE
    ctx.cnt_cval = 100
    kt.kvm_timer_vcpu_load(ctx, 0)
    assert ("disable_percpu", PPI_VTIMER, 0) not in plat.calls  # emulated Active clear: unmasked
    eng.run(until=1_000)
    kt.kvm_arch_timer_handler(0)  # kvm-timer chip: ack masks the PPI (Active emulated as a mask)
    assert plat.percpu_enabled[0] is False
    assert plat.injected[-1] == (PPI_VTIMER, True, ctx)
    assert not sets(plat)  # the GIC's own Active state is never used
    # guest EOI → maintenance exit → fold: neither active nor latched → vgic_irq_set_phys_active(false) → unmask
    kt.kvm_timer_set_phys_active_sw(0, False)
    assert plat.percpu_enabled[0] is True


def test_reset_clears_mapped_irq_state() -> None:
    """kvm_timer_vcpu_reset calls kvm_vgic_reset_mapped_irq for the mapped timer."""
    _eng, _rec, _hw, plat, kt, ctx, vcpu = setup()
    plat.virt_active[id(vcpu)] = True
    ctx.cnt_ctl = CTL_ENABLE
    kt.kvm_timer_vcpu_reset(ctx)
    assert ("reset_mapped", PPI_VTIMER) in plat.calls and plat.virt_active[id(vcpu)] is False
    assert ctx.cnt_ctl == 0


def test_unknown_design_rejected() -> None:
    """The backend implements exactly the documented designs; anything else is an error naming it."""
    eng = Engine()
    with pytest.raises(ValueError, match="vlpi"):
        KvmArchTimer(eng, Recorder(eng), load_profile(), ArchTimers(eng, 1), FakePlatform(), design="vlpi")


def test_without_the_cache_every_load_writes_active() -> None:
    """6.x ``kvm_timer_vcpu_load_gic``: ``irq_set_irqchip_state(IRQCHIP_STATE_ACTIVE)`` on every
    load, even when the PPI is already known to be inactive (no cache)."""
    _eng, _rec, _hw, plat, kt, ctx, _vcpu = setup()
    for _ in range(3):
        kt.kvm_timer_vcpu_load(ctx, 0)
        kt.kvm_timer_vcpu_put(ctx)
    assert len(sets(plat)) == 3
