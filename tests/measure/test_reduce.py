"""Reduction of a real transcript to counts per interrupt (no QEMU).

The transcript (data/gicv3-vhe-n20.log) was recorded on Linux 6.12 under QEMU TCG; the
counts checked here are the structural ones a real kernel must show.
"""

from __future__ import annotations

import pytest

from irqfwd.measure.protocol import BootOutput, ProtocolError, RunOutput
from irqfwd.measure.reduce import reduce_experiment, run_counts


def test_level_resample(recorded: BootOutput) -> None:
    red = reduce_experiment(recorded, "level-resample")
    assert red.n == 20 and len(red.reps) == 1
    # KVM's ack notifier fires once per level interrupt, and signals the resamplefd once
    assert red.mean("eoi_notifications") == pytest.approx(1.0)
    assert red.mean("resamplefd_signals") == pytest.approx(1.0)
    assert red.mean("eventfd_signals") == pytest.approx(2.0)
    # the EOI of a level SPI exits through the maintenance interrupt: one IRQ exit each...
    assert red.mean("exits.IRQ") == pytest.approx(1.0, abs=0.15)
    # ...whose host handler never runs (the line drops when the LRs are folded)
    assert red.mean("maintenance_irqs") == 0.0
    assert red.mean("exits.WFx") == pytest.approx(1.0, abs=0.15)
    assert red.mean("injections_inatomic") == pytest.approx(1.0)


def test_edge_irqfd(recorded: BootOutput) -> None:
    red = reduce_experiment(recorded, "edge-irqfd")
    assert red.mean("eoi_notifications") == 0.0
    assert red.mean("exits.IRQ") == pytest.approx(0.0, abs=0.15)
    assert red.mean("exits.WFx") == pytest.approx(1.0, abs=0.15)


def test_vtimer(recorded: BootOutput) -> None:
    idle = reduce_experiment(recorded, "vtimer-idle")
    assert idle.mean("exits.WFx") == pytest.approx(1.0, abs=0.15)
    assert idle.mean("timer_irq_injected") == pytest.approx(1.0, abs=0.15)
    busy = reduce_experiment(recorded, "vtimer-busy")
    assert busy.mean("exits.WFx") == pytest.approx(0.0, abs=0.15)
    assert busy.mean("vtimer_host_irqs") == pytest.approx(1.0, abs=0.15)


def test_sgi_per_vcpu(recorded: BootOutput) -> None:
    red = reduce_experiment(recorded, "sgi")
    # GICv3: ICC_SGI1R_EL1 is trapped, one system-register exit per SGI on the sender
    assert red.mean("exits.SYS64@vcpu0") == pytest.approx(1.0, abs=0.15)
    assert red.mean("exits.WFx@vcpu1") == pytest.approx(1.0, abs=0.15)


def test_baseline_is_subtracted(recorded: BootOutput) -> None:
    red = reduce_experiment(recorded, "level-resample")
    rep = red.reps[0]
    assert rep.baseline["exits.DABT_LOW"] > 0  # the guest's GIC set-up, in both runs
    assert rep.per_irq("exits.DABT_LOW") == pytest.approx(0.0, abs=0.1)
    assert rep.raw_per_irq("exits.DABT_LOW") > rep.per_irq("exits.DABT_LOW")


def test_mailbox_exit_left_out() -> None:
    run = RunOutput("level-irqline", 0, "run", 1, 10, 1, stats={"vcpu0_tid": 7})
    run.hists = {
        "kvm:kvm_exit": [_e({"common_pid": "7", "ret": "2", "esr_ec": "36"}, 3)],
        "kvm:kvm_userspace_exit": [_e({"common_pid": "7", "reason": "6"}, 2)],
    }
    c = run_counts(run)  # the "done" write only: the device's register write stays
    assert c["exits.DABT_LOW"] == 2 and c["exits_total"] == 2


def test_level_irqline(recorded: BootOutput) -> None:
    red = reduce_experiment(recorded, "level-irqline")
    # the guest's ack of the device: an MMIO exit to the VMM, which lowers the line
    assert red.mean("exits.DABT_LOW") == pytest.approx(1.0, abs=0.1)
    assert red.mean("irq_line_calls") == pytest.approx(2.0)
    # a level SPI still gets the EOI maintenance interrupt without any resampler
    assert red.mean("eoi_notifications") == pytest.approx(1.0)


def test_incomplete_or_lost_interrupts(recorded: BootOutput) -> None:
    with pytest.raises(ProtocolError, match="no run"):
        reduce_experiment(recorded, "no-such")
    short = BootOutput(runs=[RunOutput("sgi", 0, "run", 5, 10, 2, stats={"guest_handled_1": 3},
                                       complete=True),
                             RunOutput("sgi", 0, "baseline", 5, 10, 2, complete=True)])
    with pytest.raises(ProtocolError, match="handled 3 of 5"):
        reduce_experiment(short, "sgi")


def _e(keys: dict[str, str], n: int):  # type: ignore[no-untyped-def]
    from irqfwd.measure.protocol import HistEntry

    return HistEntry(keys, n)
