"""Parsing the VMM's output (no QEMU)."""

from __future__ import annotations

from irqfwd.measure.protocol import BootOutput, parse_hist_line, parse_interrupts, parse_output


def test_hist_line_plain_and_padded() -> None:
    e = parse_hist_line("{ common_pid:        133, ret:          2, esr_ec:         36 } hitcount:         13")
    assert e is not None
    assert e.keys == {"common_pid": "133", "ret": "2", "esr_ec": "36"}
    assert e.count == 13


def test_hist_line_strings_and_symbols() -> None:
    e = parse_hist_line("{ name: kvm guest vtimer                   , common_cpu:          0 } hitcount: 7")
    assert e is not None and e.keys["name"] == "kvm guest vtimer" and e.keys["common_cpu"] == "0"
    s = parse_hist_line("{ function: [ffffaaa9ae7aba20] tick_nohz_handler , common_cpu: 1 } hitcount: 70")
    assert s is not None and s.keys["function"] == "tick_nohz_handler" and s.count == 70
    assert parse_hist_line("Totals:") is None


def test_interrupts_table() -> None:
    lines = [
        "           CPU0       CPU1       ",
        "  9:          0          0     GICv2  25 Level     vgic",
        " 12:          3          4     GICv2  27 Level     kvm guest vtimer",
        "IPI0:        54         65       Rescheduling interrupts",
        "IPI1:       345        253       Function call interrupts",
        "Err:          0",
    ]
    t = parse_interrupts(lines)
    assert t["vgic"] == [0, 0]
    assert t["kvm guest vtimer"] == [3, 4]
    assert t["Rescheduling interrupts"] == [54, 65]
    assert t["Function call interrupts"] == [345, 253]


def test_recorded_transcript(recorded: BootOutput) -> None:
    assert recorded.began and recorded.ended and recorded.status == 0 and recorded.error is None
    assert recorded.info["kernel_release"].startswith("6.")
    assert recorded.info["gic"] == "3"
    assert [(r.experiment, r.kind) for r in recorded.runs][:2] == [
        ("level-resample", "run"), ("level-resample", "baseline")]
    assert {r.experiment for r in recorded.runs} == {
        "level-resample", "edge-irqfd", "vtimer-idle", "vtimer-busy", "sgi", "level-irqline"}
    assert all(r.complete for r in recorded.runs)
    level = recorded.runs[0]
    assert level.stats["guest_handled_0"] == 20
    assert "kvm:kvm_exit" in level.hists and level.irq_before and level.irq_after


def test_error_and_truncation() -> None:
    out = parse_output("noise\n@@irqfwd begin 1\n@@irqfwd error guest fault on vCPU0: ESR_EL1=0x96000007\n"
                       "@@irqfwd end 1\n")
    assert out.error is not None and out.error.startswith("guest fault") and out.status == 1
    cut = parse_output("@@irqfwd begin 1\n@@irqfwd run-begin sgi 0 run n=5 interval_us=10 vcpus=2\n"
                       "@@irqfwd stat elapsed_ns 5\n")
    assert cut.began and not cut.ended and not cut.runs[0].complete


def test_kernel_messages_are_ignored() -> None:
    text = "[    1.0] random kernel line\n\r@@irqfwd info kernel_release 6.1.0-57-arm64\r\n"
    assert parse_output(text).info == {"kernel_release": "6.1.0-57-arm64"}
