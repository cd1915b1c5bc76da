"""``irqfwd run`` / ``irqfwd compare``: exit statuses, messages, the JSON report and determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SHORT = ["--set", "duration=2ms"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
        (["run", "nic-level", "--design", "psychic"], "unknown design 'psychic'"),
        (["run", "nic-level", "--set", "rate=fast"], "--set rate: 'fast' is not a rate"),
        (["run", "nic-level", "--set", "nope=1"], "--set nope: unknown key 'nope'"),
        (["compare", "nic-level", "--designs", "forwarded,forwarded"], "--designs: a design is listed twice"),
        (["compare", "nic-level", "--designs", "forwarded,bogus"], "--designs: unknown design 'bogus'"),
        (["run", "missing.toml"], "missing.toml: no such scenario file"),
        (["run", "nic-level", "--trace", "/no/such/dir/t.txt"], "--trace /no/such/dir/t.txt: not a writable file path"),
    ],
)
def test_bad_input_exits_2_with_message(irqfwd, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    """Bad user input: one 'irqfwd: error:' line naming the problem, exit 2, no traceback."""
    res = irqfwd(*args)
    assert res.code == 2
    assert f"irqfwd: error: {message}" in res.err
    assert "Traceback" not in res.err + res.out


def test_bad_toml_exits_2_naming_file_and_key(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A scenario file with an unknown key is rejected naming the file and the key path."""
    f = tmp_path / "bad.toml"
    f.write_text("[[devices]]\n[devices.traffic]\nrat_hz = 5\n")
    res = irqfwd("run", str(f))
    assert res.code == 2
    assert "bad.toml: devices.0.traffic.rat_hz: Extra inputs are not permitted" in res.err


def test_list_names_builtins_and_designs(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """'irqfwd list' shows the built-in scenarios and the delivery designs."""
    res = irqfwd("list")
    assert res.code == 0
    for name in ("nic-level", "nic-edge", "nic-burst", "two-vms-one-pcpu", "irqfd-resample", "forwarded"):
        assert name in res.out


def test_compare_json_shape(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """--json: scenario, seed and per-design counters / latency_ns / invariants with the documented keys."""
    res = irqfwd("compare", "nic-level", *SHORT, "--seed", "5", "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["scenario"] == "nic-level" and report["seed"] == 5
    assert list(report["designs"]) == sorted(["vmm-irqline", "irqfd-resample", "forwarded", "forwarded-direct",
                                              "sw-deactivate"])
    for design, d in report["designs"].items():
        c = d["counters"]
        for key in ("device_irqs_raised", "guest_irqs_handled", "exits_total", "maintenance_irqs", "vfio_mask",
                    "vfio_unmask", "eventfd_signals", "resamplefd_signals", "lr_spills"):
            assert isinstance(c[key], int), (design, key)
        assert isinstance(c["exits"], dict)
        assert sum(c["exits"].values()) == c["exits_total"], design
        # 20 kHz for 2 ms, first event at 10 µs: 40 raises, plus at most one more before the
        # VM is killed at the next handler entry (system.TEARDOWN); every raise handled.
        assert c["device_irqs_raised"] in (40, 41), design
        assert c["guest_irqs_handled"] == c["device_irqs_raised"], design
        lat = d["latency_ns"]["assert_to_guest_handler"]
        assert set(lat) >= {"p50", "p99", "max", "mean"}
        assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]
        assert d["invariants"]["checked"] > 0 and d["invariants"]["violations"] == []


def test_resample_costs_more_exits_than_forwarding(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """vfio_platform_irq.c + virt/kvm/eventfd.c: irqfd-resample takes a maintenance exit and
    VFIO mask/unmask per level IRQ; forwarding (``vgic_v2_populate_lr``, HW=1) none."""
    res = irqfwd("compare", "nic-level", *SHORT, "--designs", "irqfd-resample,forwarded", "--json")
    d = json.loads(res.out)["designs"]
    resample, fwd = d["irqfd-resample"]["counters"], d["forwarded"]["counters"]
    # (the last handler entry is where the VM is killed: its EOI never happens)
    assert resample["maintenance_irqs"] >= resample["guest_irqs_handled"] - 1 > 0
    assert resample["vfio_mask"] == resample["vfio_unmask"] >= resample["guest_irqs_handled"]
    assert fwd["maintenance_irqs"] == 0 and fwd["vfio_mask"] == 0
    assert fwd["exits_total"] < resample["exits_total"]


def test_same_seed_gives_byte_identical_json(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """Determinism: same scenario + seed → byte-identical JSON (Poisson traffic uses engine.rng)."""
    args = ("compare", "nic-level", *SHORT, "--set", "pattern=poisson", "--seed", "11", "--json")
    first = irqfwd(*args)
    second = irqfwd(*args)
    assert first.code == 0 and first.out == second.out
    other = irqfwd("compare", "nic-level", *SHORT, "--set", "pattern=poisson", "--seed", "12", "--json")
    assert other.out != first.out


def test_run_table_and_trace_file(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """'run' prints the metric table; --trace PATH.txt writes the trace-cmd report text."""
    trace = tmp_path / "t.txt"
    res = irqfwd("run", "nic-level", *SHORT, "--design", "forwarded", "--trace", str(trace))
    assert res.code == 0, res.err
    assert "guest device interrupts handled" in res.out and "forwarded" in res.out
    lines = [ln for ln in trace.read_text().splitlines() if not ln.startswith("#")]
    names = {ln.split(": ")[1].strip() for ln in lines}
    assert {"irqfwd_device_irq_raise", "irqfwd_guest_irq_handled", "kvm_exit"} <= names
    raise_line = next(ln for ln in lines if "irqfwd_device_irq_raise:" in ln)
    assert "intid=48" in raise_line and "trigger=level" in raise_line


def test_host_cpu_set_from_the_command_line(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``--set devices.0.host_cpu=1`` (the host IRQ's smp_affinity_list): the host takes the
    NIC's interrupts on pCPU 1, as the trace's irq_handler_entry lines show; naming a pCPU
    the scenario does not have is bad input (exit 2, the message names host_cpu)."""
    trace = tmp_path / "t.txt"
    pinned = ["--set", "pcpus=2", "--set", "vcpus=2", "--set", "vms.0.pin=[0,1]", "--set", "devices.0.vcpu=1"]
    res = irqfwd("run", "nic-level", *SHORT, *pinned, "--set", "devices.0.host_cpu=1", "--design", "forwarded",
                 "--trace", str(trace))
    assert res.code == 0, res.err
    entries = [ln for ln in trace.read_text().splitlines() if "irq_handler_entry:" in ln and "irq=48 " in ln]
    assert len(entries) > 20
    assert all("[001]" in ln and ln.endswith("cpu=1") for ln in entries)
    res = irqfwd("run", "nic-level", *SHORT, *pinned, "--set", "devices.0.host_cpu=2")
    assert res.code == 2 and "Traceback" not in res.err + res.out
    assert "devices.0.host_cpu: device 'nic0' routes its host interrupt to pCPU 2, but there are 2 pCPUs" in res.err


def test_msix_host_cpu_set_from_the_command_line(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``--set devices.0.host_cpu=1`` on an MSI-X NIC (the smp_affinity_list of its vectors'
    host irqs, ``its_set_affinity``): the host takes every vector's LPI on pCPU 1, as the
    trace's irq_handler_entry lines of the vfio-msix handlers show."""
    trace = tmp_path / "t.txt"
    res = irqfwd("run", "msix-nic", *SHORT, "--set", "devices.0.host_cpu=1", "--design", "its-emulated",
                 "--trace", str(trace))
    assert res.code == 0, res.err
    entries = [ln for ln in trace.read_text().splitlines() if "irq_handler_entry:" in ln and "name=vfio-msix" in ln]
    assert {ln.split("irq=")[1].split()[0] for ln in entries} == {"8192", "8193", "8194", "8195"}
    assert all("[001]" in ln and ln.endswith("cpu=1") for ln in entries)


def test_trace_format_by_option_and_per_design_files(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--trace-format overrides the extension; compare --trace writes STEM.DESIGN.EXT per design."""
    out = tmp_path / "trace.data"
    res = irqfwd("run", "nic-level", "--set", "duration=1ms", "--trace", str(out), "--trace-format", "json")
    assert res.code == 0, res.err
    assert json.loads(out.read_text())["traceEvents"]
    res = irqfwd("compare", "nic-level", "--set", "duration=1ms", "--designs", "forwarded,irqfd-resample",
                 "--trace", str(tmp_path / "c.vcd"))
    assert res.code == 0, res.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.forwarded.vcd", "c.irqfd-resample.vcd", "trace.data"]
    assert (tmp_path / "c.forwarded.vcd").read_text().startswith("$comment")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trace", "t.bin"], "--trace t.bin: cannot tell the format from the extension '.bin'"),
        (["--trace", "t.txt", "--trace-format", "pdf"], "--trace-format pdf: unknown format (known: ftrace, json, vcd)"),
        (["--trace-format", "vcd"], "--trace-format: needs --trace PATH"),
    ],
)
def test_bad_trace_options_exit_2(irqfwd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                  args: list[str], message: str) -> None:
    """Bad --trace/--trace-format: exit 2 naming the problem, and no file written."""
    monkeypatch.chdir(tmp_path)
    res = irqfwd("run", "nic-level", *args)
    assert res.code == 2 and f"irqfwd: error: {message}" in res.err
    assert list(tmp_path.iterdir()) == []


def test_violation_exits_1_after_printing(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """A design that breaks an invariant: the report is printed, then exit status 1."""
    res = irqfwd("run", "nic-level", *SHORT, "--design", "fault-hw-retained-level", "--json")
    assert res.code == 1
    report = json.loads(res.out)
    rules = {v["rule"] for v in report["designs"]["fault-hw-retained-level"]["invariants"]["violations"]}
    assert "hw-lr-phys-inactive" in rules
