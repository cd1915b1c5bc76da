"""kvm-unit-tests micro-bench timer_10ms in the simulator (performance-anchors.md §1.1: 902 ns on Altra)."""

from __future__ import annotations

from irqfwd.calibrate.microbench_timer import run_timer_bench, timer_10ms
from irqfwd.sim.costs import load_profile


def test_timer_10ms_within_10_percent_of_altra() -> None:
    """timer_10ms with the default profile sits within 10% of the 902 ns measured on Ampere Altra."""
    v = timer_10ms(load_profile())
    assert abs(v - 902) <= 90.2


def test_timer_10ms_is_the_irq_exit_path() -> None:
    """The figure is the busy-vCPU path: one IRQ exit and one host vtimer interrupt per iteration,
    no WFI, no maintenance interrupt; the HW=1 LR deactivates the PPI on the guest's EOI."""
    b = run_timer_bench(load_profile(), iterations=8)
    c = b.s.recorder.counters
    assert len(b.samples) == 8 and b.spurious == 0
    assert c["exit:IRQ"] == 8 and c["host_irqs"] == 8
    assert c.get("exit:WFx", 0) == 0 and c.get("maintenance_irqs", 0) == 0
    assert c["phys_deactivate_guest"] == 8


def test_timer_10ms_follows_the_cost_model() -> None:
    """Each modelled step on the path adds its cost: +100 ns of host vtimer handling, +100 ns of
    world switch out and in (+200), change the result by exactly that."""
    base = load_profile()
    v0 = timer_10ms(base)
    assert timer_10ms(base.model_copy(update={"kvm_timer_irq_ns": base.kvm_timer_irq_ns + 100})) == v0 + 100
    ws = {"world_switch_out_ns": base.world_switch_out_ns + 100, "world_switch_in_ns": base.world_switch_in_ns + 100}
    assert timer_10ms(base.model_copy(update=ws)) == v0 + 200
