"""The trace exporters, read back by independent readers (a trace-cmd text parser, a JSON
schema of the Chrome Trace Event format, vcdvcd), agree with the counters of the same run."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from irqfwd.scenarios.builtin import apply_overrides, get_scenario
from irqfwd.system.run import RunResult, run_scenario

from .readers import CHROME_TRACE_SCHEMA, parse_ftrace, read_vcd

DESIGNS = ("irqfd-resample", "forwarded", "forwarded-direct", "sw-deactivate")


def _run(tmp: Path, design: str, ext: str, scenario: str = "nic-level", duration: str = "3ms") -> tuple[RunResult, Path]:
    config = apply_overrides(get_scenario(scenario), [f"duration={duration}"])
    path = tmp / f"{scenario}-{design}{ext}"
    return run_scenario(config, design, trace=path), path


def _exits(c: Counter[str], reason: str | None = None) -> int:
    if reason is None:
        return c["exits_total"] + c["boot_exits_total"]
    return c[f"exit:{reason}"] + c[f"boot_exit:{reason}"]


def _agree(c: Counter[str], names: Counter[str]) -> None:
    """Event counts that each equal a counter of the run."""
    assert names["kvm_exit"] == _exits(c) > 0
    assert names["irqfwd_device_irq_raise"] == c["device_irqs_raised"] > 0
    assert names["irqfwd_guest_irq_handled"] == c["guest_irqs_handled"] > 0
    assert names["irqfwd_vgic_maintenance"] == c["maintenance_irqs"]
    assert names["irq_handler_entry"] == c["host_irqs"]
    assert names["irqfwd_vfio_mask"] == c["vfio_mask"]
    assert names["irqfwd_eventfd_signal"] == c["eventfd_signals"]
    assert names["irqfwd_phys_deactivate"] == c["phys_deactivate_guest"] + c["phys_deactivate_host"]


@pytest.mark.parametrize("design", DESIGNS)
def test_ftrace_text_parses_and_agrees_with_counters(tmp_path: Path, design: str) -> None:
    """Every line is a trace-cmd report line; times never go back; event counts (and
    kvm_exit per exit reason) equal the run's counters; irq_handler_entry/exit pair up."""
    result, path = _run(tmp_path, design, ".txt")
    header, lines = parse_ftrace(path)
    assert header[0] == "# tracer: nop" and f"design={design}" in header[1]
    times = [ln.time_ns for ln in lines]
    assert times == sorted(times)
    assert all(0 <= ln.cpu < result.config.pcpus for ln in lines)
    c = result.recorder.counters
    _agree(c, Counter(ln.event for ln in lines))
    reasons = Counter(re.search(r"\((\w+)\)", ln.fields)[1] for ln in lines if ln.event == "kvm_exit")  # type: ignore[index]
    assert reasons["WFx"] == _exits(c, "WFx") and reasons["DABT_LOW"] == _exits(c, "DABT_LOW")
    assert reasons.get("UNKNOWN", 0) == _exits(c, "IRQ")
    depth = {}
    for ln in lines:
        if ln.event == "irq_handler_entry":
            assert depth.get(ln.cpu, 0) == 0
            depth[ln.cpu] = 1
        elif ln.event == "irq_handler_exit":
            assert depth.get(ln.cpu) == 1
            depth[ln.cpu] = 0
    vcpu_lines = [ln for ln in lines if ln.event == "kvm_entry"]
    assert vcpu_lines and all(ln.task == "CPU 0/KVM" and ln.pid == 1000 for ln in vcpu_lines)


def _nested(slices: list[dict[str, Any]]) -> bool:
    """Slices (ts, dur in µs; whole ns) form a proper stack: each one ends within its parent."""
    stack: list[int] = []
    spans = sorted((round(s["ts"] * 1000), round(s["dur"] * 1000)) for s in slices)
    for start, dur in sorted(spans, key=lambda sd: (sd[0], -sd[1])):
        while stack and stack[-1] <= start and not (stack[-1] == start and dur == 0):
            stack.pop()
        if stack and start + dur > stack[-1]:
            return False
        stack.append(start + dur)
    return True


@pytest.mark.parametrize("design", DESIGNS)
def test_chrome_json_valid_and_agrees_with_counters(tmp_path: Path, design: str) -> None:
    """The JSON validates against the Trace Event schema; instants per event name equal the
    counters; ``exit`` slices per reason equal the exits; every flow ends at a guest handler
    that started after its device raise; slices nest on every track."""
    result, path = _run(tmp_path, design, ".json")
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, CHROME_TRACE_SCHEMA)
    evs = doc["traceEvents"]
    c = result.recorder.counters
    _agree(c, Counter(e["name"] for e in evs if e["ph"] == "i"))
    exits = Counter(e["args"]["reason"] for e in evs if e["ph"] == "X" and e["pid"] == 1 and e["name"].startswith("exit "))
    assert sum(exits.values()) == _exits(c) and exits["WFx"] == _exits(c, "WFx")
    irq_slices = [e for e in evs if e["ph"] == "X" and e["pid"] == 1 and e["name"].startswith("IRQ ")]
    assert len(irq_slices) == c["host_irqs"]
    handlers = [e for e in evs if e["ph"] == "X" and e["pid"] == 10 and e["tid"] == 2]
    assert len(handlers) == c["guest_irqs_handled"]
    starts = {e["id"]: e["ts"] for e in evs if e["ph"] == "s"}
    ends = [e for e in evs if e["ph"] == "f"]
    assert len(starts) == c["device_irqs_raised"]
    assert len(ends) >= c["device_irqs_raised"] - 2  # the last raises may be served after the end
    handler_starts = {(e["ts"]) for e in handlers}
    for e in ends:
        assert e["id"] in starts and e["ts"] >= starts[e["id"]] and e["ts"] in handler_starts
    tracks: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for e in evs:
        if e["ph"] == "X":
            tracks.setdefault((e["pid"], e["tid"]), []).append(e)
    assert all(_nested(s) for s in tracks.values())
    names = {e["args"]["name"] for e in evs if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {"pCPU 0", "vCPU 0", "vCPU 0 IRQs", "nic0 (SPI 48, level)"} <= names


def _rises(tv: list[tuple[int, str]]) -> int:
    return sum(1 for (_, a), (_, b) in itertools.pairwise(tv) if a == "0" and b == "1")


@pytest.mark.parametrize("design", DESIGNS)
def test_vcd_signals_agree_with_counters(tmp_path: Path, design: str) -> None:
    """vcdvcd reads the waveform: the device line rises once per raise, the vCPU enters
    the guest once per exit (plus the entry not yet left), the maintenance line rises at
    least once per maintenance interrupt KVM accounted."""
    result, path = _run(tmp_path, design, ".vcd")
    v = read_vcd(path)
    c = result.recorder.counters
    assert _rises(v["irqfwd.gic.spi.spi48_nic0"].tv) == c["device_irqs_raised"]
    entries = _rises(v["irqfwd.kvm.vm0.vcpu0.in_guest"].tv)
    assert entries - _exits(c) in (0, 1)
    assert _rises(v["irqfwd.gic.cpu0.maintenance"].tv) >= c["maintenance_irqs"]
    if c["maintenance_irqs"] == 0:
        assert _rises(v["irqfwd.gic.cpu0.maintenance"].tv) == 0
    assert _rises(v["irqfwd.gic.cpu0.virq"].tv) > 0
    assert int(v["irqfwd.gic.cpu0.lrs_in_use"].tv[-1][1], 2) == 0


# A fresh interpreter (vcdvcd not yet imported) loads readers.py and reads a VCD, then
# prints whether SIGPIPE is still ignored and whether the waveform was read.
_READ_VCD = """
import importlib.util, signal, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("readers", sys.argv[1])
readers = importlib.util.module_from_spec(spec)
sys.modules["readers"] = readers
spec.loader.exec_module(readers)
v = readers.read_vcd(Path(sys.argv[2]))
print(signal.getsignal(signal.SIGPIPE) is signal.SIG_IGN, len(v["irqfwd.gic.spi.spi48_nic0"].tv) > 1)
"""


def test_reading_a_vcd_leaves_sigpipe_ignored(tmp_path: Path) -> None:
    """vcdvcd sets SIGPIPE to its default action when imported; read_vcd puts back what
    was there (ignored, as Python starts), so a broken pipe or socket later in the same
    pytest worker is a BrokenPipeError, not the worker's silent death."""
    _result, path = _run(tmp_path, "forwarded", ".vcd")
    readers = Path(__file__).with_name("readers.py")
    res = subprocess.run([sys.executable, "-c", _READ_VCD, str(readers), str(path)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["True", "True"]


def test_vtimer_signals_and_events(tmp_path: Path) -> None:
    """With the arch timer, the timer PPI is a VCD signal and the kvm_timer events appear in
    the text trace with the kernel's fields."""
    result, path = _run(tmp_path, "forwarded", ".vcd", "vtimer-tick", "5ms")
    v = read_vcd(path)
    ticks = result.recorder.counters["guest_timer_irqs"]
    assert ticks > 0 and _rises(v["irqfwd.gic.cpu0.ppi27"].tv) >= ticks
    _result, text = _run(tmp_path, "forwarded", ".txt", "vtimer-tick", "5ms")
    _h, lines = parse_ftrace(text)
    upd = [ln for ln in lines if ln.event == "kvm_timer_update_irq"]
    assert upd and all(re.match(r"VCPU: \d+, IRQ 27, level [01]", ln.fields) for ln in upd)
    assert any(ln.event == "kvm_timer_save_state" and "arch_timer_ctx_index: 0" in ln.fields for ln in lines)


@pytest.mark.parametrize("ext", [".txt", ".json", ".vcd"])
def test_same_seed_same_bytes(tmp_path: Path, ext: str) -> None:
    """Deterministic: two runs of the same scenario and seed write identical files."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _r, a = _run(tmp_path / "a", "irqfd-resample", ext, duration="1ms")
    _r, b = _run(tmp_path / "b", "irqfd-resample", ext, duration="1ms")
    assert a.read_bytes() == b.read_bytes()


def test_failed_run_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that fails midway leaves neither the trace nor its temporary file."""
    import irqfwd.system.run as run_mod

    def boom(system: Any, *rest: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(run_mod, "_simulate", boom)
    with pytest.raises(RuntimeError):
        _run(tmp_path, "forwarded", ".json")
    assert list(tmp_path.iterdir()) == []


def test_dev_null_is_written_directly(tmp_path: Path) -> None:
    """--trace /dev/null: the exporter runs (events received) and nothing is created in
    /dev, neither a temporary file nor a per-design file for compare."""
    import os

    from irqfwd.system.run import run_designs

    before = set(os.listdir("/dev"))
    config = apply_overrides(get_scenario("nic-level"), ["duration=1ms"])
    runs = run_designs(config, ["forwarded", "irqfd-resample"], config.seed, trace=Path(os.devnull),
                       trace_format="ftrace")
    assert all(r.trace_path == Path(os.devnull) for r in runs.values())
    assert set(os.listdir("/dev")) - before == set()
    assert Path(os.devnull).exists() and not Path(os.devnull).is_file()


def test_fifo_receives_the_same_bytes_as_a_file(tmp_path: Path) -> None:
    """A FIFO is written directly (no temporary file beside it, nothing renamed over it)
    and its reader gets exactly the bytes the regular file gets."""
    import os
    import threading

    _r, regular = _run(tmp_path, "forwarded", ".txt", duration="2ms")
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def drain() -> None:
        with open(fifo, "rb") as f:
            got.append(f.read())

    reader = threading.Thread(target=drain)
    reader.start()
    config = apply_overrides(get_scenario("nic-level"), ["duration=2ms"])
    run_scenario(config, "forwarded", trace=fifo)
    reader.join(timeout=60)
    assert got and got[0] == regular.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nic-level-forwarded.txt", "pipe.txt"]
