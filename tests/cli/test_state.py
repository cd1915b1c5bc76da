"""``irqfwd state SCENARIO --at TIME``: the vgic-state dump, the list registers and the
distributor at a simulated instant."""

from __future__ import annotations


def test_state_while_the_guest_handles_a_forwarded_irq(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """12.56 µs into nic-level (forwarded) the guest has acknowledged the irq (GICV_IAR) and
    not yet acked the device: KVM's row of SPI 48 is enabled + hw with its owner vCPU, LR0
    holds it active with HW=1 and pINTID 48, and the physical SPI is active with its line
    high."""
    res = irqfwd("state", "nic-level", "--design", "forwarded", "--at", "12560ns")
    assert res.code == 0, res.err
    out = res.out
    assert "TYP   ID TGT_ID PLAEHCG     HWID   TARGET SRC PRI VCPU_ID" in out
    row = next(ln for ln in out.splitlines() if ln.startswith("SPI   48"))
    assert row.split()[3] == "0001110" and row.split()[4] == "48" and row.split()[-1] == "0"
    lr0 = next(ln for ln in out.splitlines() if ln.strip().startswith("LR0:"))
    assert "active" in lr0 and "HW 1" in lr0 and "vINTID   48 pINTID 48" in lr0
    gicd = next(ln for ln in out.splitlines() if ln.strip().startswith("48 ") and ln.rstrip().endswith("nic0"))
    assert gicd.split()[2:6] == ["1", "1", "1", "1"]  # enabled, pending (line high), active, line


def test_state_before_any_interrupt_and_deterministic(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """Before the first raise every LR is empty; the same arguments give the same text."""
    a = irqfwd("state", "nic-level", "--at", "5us")
    b = irqfwd("state", "nic-level", "--at", "5us")
    assert a.code == 0 and a.out == b.out
    assert all("invalid" in ln for ln in a.out.splitlines() if ln.strip().startswith("LR"))


def test_state_bad_time_exits_2(irqfwd) -> None:  # type: ignore[no-untyped-def]
    res = irqfwd("state", "nic-level", "--at", "soon")
    assert res.code == 2 and "irqfwd: error: --at: 'soon' is not a duration" in res.err


def test_state_past_the_scenario_duration_names_the_duration(irqfwd_error) -> None:  # type: ignore[no-untyped-def]
    """--at after the scenario's end (nic-level runs 10 ms) is refused with exit 2, naming
    the duration: the run stops there, so a later snapshot would show a state no run has
    (it printed the state 'at 100000000000 ns')."""
    err = irqfwd_error("state", "nic-level", "--at", "100s")
    assert "--at 100s: past the end of scenario 'nic-level'" in err
    assert "10.00 ms (10000000 ns)" in err


def test_state_past_an_overridden_duration(irqfwd_error) -> None:  # type: ignore[no-untyped-def]
    """The limit is the duration after --set: 60us is past duration=50us."""
    err = irqfwd_error("state", "nic-level", "--set", "duration=50us", "--at", "60us")
    assert "(50000 ns)" in err


def test_state_at_exactly_the_duration_is_accepted(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """The scenario's last instant is a valid snapshot time."""
    res = irqfwd("state", "nic-level", "--set", "duration=50us", "--at", "50us")
    assert res.code == 0, res.err
    assert "at 50000 ns" in res.out
