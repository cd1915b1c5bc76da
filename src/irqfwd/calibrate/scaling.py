"""How the simulator's cost per interrupt and its memory grow with the modelled system.

``irqfwd bench --scaling``: wall-clock cost per simulated guest interrupt when one
dimension of the scenario grows and the **total interrupt rate stays the same**
(:data:`TOTAL_RATE_HZ`, Poisson, design ``forwarded``), medians of several runs in one
process, beside the first point of each axis:

* ``vms``: N VMs with one vCPU each on one pCPU, one level NIC each at rate/N;
* ``vcpus``: one VM with N vCPUs on one pCPU, N NICs, NIC i targeting vCPU i at rate/N;
* ``pcpus``: one VM with N vCPUs pinned one per pCPU on N pCPUs, N NICs as above, the
  host interrupt of NIC i routed to pCPU i, where its vCPU runs (``host_cpu``: the
  ``smp_affinity_list`` one sets for a pinned VM), so each is taken and injected locally;
* ``pcpus-cpu0``: the same with every host interrupt on pCPU 0 (Linux's default without
  irqbalance): NIC i's interrupts are taken on pCPU 0 and injected across pCPUs;
* ``spis``: one NIC wired to the highest of N SPIs (the GIC is sized to N SPIs);
* ``lrs``: one NIC, N list registers.

The cost is CPU µs of this process per guest interrupt handled, and a point's ratio the
median over rounds of its cost over the first point's cost in the same round (see
:func:`scaling_section`).

Every point runs twice, with two hosts:

* **fixed path** (the scaling target): ``kvm.halt_poll_ns=0``, so that every point models
  the same per-interrupt path: the halted vCPU blocks (``kvm_vcpu_block``), its thread is
  switched out (``kvm_arch_vcpu_put``: vgic and timer state saved) and, at its interrupt,
  woken and switched back in (``kvm_arch_vcpu_load``); about one ``sched_switch`` per
  interrupt at every point.  What grows with N is then only the size of the modelled
  system, which is what the ratio is meant to measure.
* **default host** (KVM's default halt polling): the work modelled per interrupt changes
  along the axis.  One VM at 50 kHz is almost always woken by halt polling (the poll
  window covers the 20 µs mean gap): no switch, no put/load (0.004 switches per
  interrupt); where VMs or vCPUs share a pCPU a halted vCPU has mostly given up polling
  when its next interrupt comes (0.8 switches per interrupt with 4 VMs, 1.0 with 64).  Its
  ratios therefore mix the simulator's scaling with the extra modelled work, and are given
  beside the fixed-path ones.

Each point gives the modelled system's thread switches and engine events per guest
interrupt for both hosts.  On ``pcpus-cpu0`` the modelled path grows even with the fixed
host: an interrupt taken on pCPU 0 for a vCPU on another pCPU wakes it across CPUs, and
the engine events per interrupt go from 2.3 to 5.0.

``irqfwd bench --memory-scaling``: peak RSS of a fresh process running ``nic-level`` under
``forwarded`` at 200 kHz for 100,000 and for 10,000,000 interrupts (invariant checker on,
tracing off), each in its own interpreter so that the peaks do not mix; with ``--trace
FORMAT`` each run streams its trace (to ``/dev/null``, or to a file in ``--trace-dir``).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from irqfwd.calibrate.gic_bench import paired_ratio
from irqfwd.config import DeviceConfig, HostConfig, ScenarioConfig, TrafficConfig, VMConfig
from irqfwd.sim.costs import load_profile
from irqfwd.system.run import run_scenario

__all__ = ["AXES", "FIXED_PATH_HOST", "TOTAL_RATE_HZ", "axis_config", "memory_scaling", "scaling_section"]

TOTAL_RATE_HZ: Final = 50_000
DESIGN: Final = "forwarded"

AXES: dict[str, tuple[int, ...]] = {
    "vms": (1, 4, 16, 64),
    "vcpus": (1, 2, 4, 8),
    "pcpus": (1, 2, 4, 8),
    "pcpus-cpu0": (1, 2, 4, 8),
    "spis": (32, 128, 512, 988),
    "lrs": (4, 16, 64),
}
"""The values of each axis; the first is the reference of its ratios."""

FIXED_PATH_HOST: Final = HostConfig(halt_poll_ns=0)
"""The host of the scaling target: no halt polling, so every point models one block,
switch-out and switch-in per interrupt (see the module docstring)."""


def _nic(i: int, rate: float, *, vm: int = 0, vcpu: int = 0, intid: int | None = None,
         host_cpu: int | None = None) -> DeviceConfig:
    n = 48 + i if intid is None else intid
    return DeviceConfig(name=f"nic{i}", vm=vm, vcpu=vcpu, host_intid=n, guest_intid=n, host_cpu=host_cpu,
                        traffic=TrafficConfig(pattern="poisson", rate_hz=rate))


def axis_config(axis: str, n: int, duration_ns: int, host: HostConfig | None = None) -> ScenarioConfig:
    """The scenario of point ``n`` of ``axis`` (total rate :data:`TOTAL_RATE_HZ`) with
    ``host`` (None: the default host)."""
    config = _axis_config(axis, n, duration_ns)
    return config if host is None else config.model_copy(update={"host": host})


def _axis_config(axis: str, n: int, duration_ns: int) -> ScenarioConfig:
    rate = float(TOTAL_RATE_HZ)
    name = f"scaling-{axis}-{n}"
    if axis == "vms":
        return ScenarioConfig(name=name, duration_ns=duration_ns, pcpus=1,
                              vms=[VMConfig(vcpus=1) for _ in range(n)],
                              devices=[_nic(i, rate / n, vm=i) for i in range(n)])
    if axis == "vcpus":
        return ScenarioConfig(name=name, duration_ns=duration_ns, pcpus=1,
                              vms=[VMConfig(vcpus=n, pin=[0] * n)],
                              devices=[_nic(i, rate / n, vcpu=i) for i in range(n)])
    if axis in ("pcpus", "pcpus-cpu0"):
        local = axis == "pcpus"
        return ScenarioConfig(name=name, duration_ns=duration_ns, pcpus=n,
                              vms=[VMConfig(vcpus=n, pin=list(range(n)))],
                              devices=[_nic(i, rate / n, vcpu=i, host_cpu=i if local else None)
                                       for i in range(n)])
    if axis == "spis":
        return ScenarioConfig(name=name, duration_ns=duration_ns,
                              devices=[_nic(0, rate, intid=32 + n - 1)])
    if axis == "lrs":
        return ScenarioConfig(name=name, duration_ns=duration_ns, num_lrs=n, devices=[_nic(0, rate)])
    raise ValueError(f"unknown scaling axis {axis!r} (known: {', '.join(AXES)})")


def _once(config: ScenarioConfig, costs: Any) -> tuple[float, float, int, int, int]:
    gc.collect()  # the previous run's garbage is not this run's cost
    c0, t0 = time.process_time(), time.perf_counter()
    r = run_scenario(config, DESIGN, costs=costs)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    counters = r.recorder.counters
    return cpu, wall, int(counters["guest_irqs_handled"]), int(r.events_run), int(counters["sched_switch"])


def _point(samples: list[tuple[float, float, int, int, int]]) -> dict[str, Any]:
    cpu = statistics.median(x[0] for x in samples)
    wall = statistics.median(x[1] for x in samples)
    irq, events, switches = samples[-1][2], samples[-1][3], samples[-1][4]
    return {"guest_irqs": irq, "engine_events": events, "sched_switches": switches,
            "switches_per_irq": switches / irq if irq else 0.0,
            "events_per_irq": events / irq if irq else 0.0, "cpu_s_median": cpu,
            "wall_s_median": wall, "us_per_irq": cpu / irq * 1e6 if irq else float("inf"),
            "wall_us_per_irq": wall / irq * 1e6 if irq else float("inf"),
            "guest_irqs_per_cpu_s": irq / cpu if cpu > 0 else float("inf"),
            "us_per_irq_samples": [x[0] / x[2] * 1e6 if x[2] else float("inf") for x in samples]}


def scaling_section(quick: bool = False, axes: dict[str, tuple[int, ...]] | None = None,
                    on_point: Callable[[str, int, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Cost per interrupt along every axis (``quick``: 5,000 instead of 20,000 interrupts
    per run, 3 instead of 5 repetitions), with the fixed-path host
    (:data:`FIXED_PATH_HOST`: the point's own figures, ``ratio`` and the axis's
    ``flat_within_25pct``) and with the default host (``default_host`` of each point,
    ``default_host_max_ratio`` of the axis).

    The repetitions are interleaved (every point with both hosts once, then again...) so
    that a change in the machine's load during the measurement hits every point alike; a
    point's ``ratio`` is the median of its rounds' paired ratios to the axis's first point
    (:func:`~irqfwd.calibrate.gic_bench.paired_ratio`), and the cost is the process CPU time (``time.process_time``), which other processes on a
    shared machine disturb far less than the wall time (also given).
    """
    irqs, repeats = (5_000, 3) if quick else (20_000, 5)
    duration = int(irqs / TOTAL_RATE_HZ * 1e9)
    chosen = axes or AXES
    run_scenario(axis_config("lrs", 4, 1_000_000), DESIGN)  # warm-up: imports, caches
    hosts: dict[str, HostConfig | None] = {"fixed": FIXED_PATH_HOST, "default": None}
    points = [(axis, n, kind, axis_config(axis, n, duration, host))
              for axis, values in chosen.items() for n in values for kind, host in hosts.items()]
    costs = load_profile(points[0][3].cost_profile)
    samples: dict[tuple[str, int, str], list[tuple[float, float, int, int, int]]] = {
        (a, n, k): [] for a, n, k, _ in points}
    for _ in range(repeats):
        for axis, n, kind, config in points:
            samples[(axis, n, kind)].append(_once(config, costs))
    out: dict[str, Any] = {"design": DESIGN, "total_rate_hz": TOTAL_RATE_HZ, "duration_ns": duration,
                           "repeats": repeats, "fixed_path_host": FIXED_PATH_HOST.model_dump(), "axes": {}}
    for axis, values in chosen.items():
        res: dict[str, Any] = {}
        for n in values:
            res[str(n)] = _point(samples[(axis, n, "fixed")])
            res[str(n)]["default_host"] = _point(samples[(axis, n, "default")])
            if on_point is not None:
                on_point(axis, n, res[str(n)])
        first = res[str(values[0])]
        for p in res.values():  # each round's pair was measured within seconds
            p["ratio"] = paired_ratio(p["us_per_irq_samples"], first["us_per_irq_samples"])
            p["default_host"]["ratio"] = paired_ratio(p["default_host"]["us_per_irq_samples"],
                                                      first["default_host"]["us_per_irq_samples"])
        worst = max(p["ratio"] for p in res.values())
        out["axes"][axis] = {"points": res, "max_ratio": worst, "flat_within_25pct": worst <= 1.25,
                             "default_host_max_ratio": max(p["default_host"]["ratio"] for p in res.values())}
    return out


_CHILD = """
import json, resource, sys, time
from pathlib import Path
from irqfwd import _accel
from irqfwd.scenarios.builtin import apply_overrides, get_scenario
from irqfwd.system.run import run_scenario, summarize_result
irqs, rate, design = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
trace, fmt = (Path(sys.argv[4]), sys.argv[5]) if len(sys.argv) > 5 else (None, None)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # after the imports
cfg = apply_overrides(get_scenario("nic-level"), [f"rate={rate}", f"duration={int(irqs / rate * 1e9)}ns"])
t0 = time.perf_counter()
r = run_scenario(cfg, design, trace=trace, trace_format=fmt)
wall = time.perf_counter() - t0
s = summarize_result(r)
with open("/proc/self/status") as f:
    end = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
size = trace.stat().st_size if trace is not None and trace.is_file() else 0
print(json.dumps({"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "start_rss_kib": before,
                  "end_rss_kib": end, "trace_bytes": size,
                  "guest_irqs": s["counters"]["guest_irqs_handled"], "wall_s": wall,
                  "build": "compiled" if _accel.status().active else "pure"}))
"""


def memory_scaling(counts: tuple[int, ...] = (100_000, 10_000_000), rate_hz: float = 200_000,
                   design: str = DESIGN, trace_format: str | None = None,
                   trace_dir: Path | None = None) -> dict[str, Any]:
    """Peak RSS of one run of ``counts[i]`` interrupts, each in a fresh interpreter.

    With ``trace_format`` every run streams its trace through that exporter: to
    ``/dev/null`` (the exporter's memory without the disk: a 10-million-interrupt ftrace
    text is about 12 GB), or with ``trace_dir`` to a real file there, whose size is
    reported and which is deleted after the run.
    """
    out: dict[str, Any] = {"design": design, "rate_hz": rate_hz, "trace_format": trace_format,
                           "trace_to": None if trace_format is None else str(trace_dir or os.devnull), "runs": {}}
    for n in counts:
        args = [sys.executable, "-c", _CHILD, str(n), str(rate_hz), design]
        path: Path | None = None
        if trace_format is not None:
            path = Path(os.devnull) if trace_dir is None else trace_dir / f"irqfwd-memory-{n}.{trace_format}"
            args += [str(path), trace_format]
        try:
            proc = subprocess.run(args, capture_output=True, text=True, env=dict(os.environ), check=False)
        finally:
            if path is not None and trace_dir is not None:
                path.unlink(missing_ok=True)
        if proc.returncode != 0:
            raise RuntimeError(f"memory run of {n} interrupts failed: {proc.stderr.strip()[-500:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        r["peak_rss_mib"] = r["maxrss_kib"] / 1024
        if r["guest_irqs"]:
            r["trace_bytes_per_irq"] = r["trace_bytes"] / r["guest_irqs"]
        out["runs"][str(n)] = r
    peaks = [out["runs"][str(n)]["peak_rss_mib"] for n in counts]
    out["ratio_last_to_first"] = peaks[-1] / peaks[0]
    out["flat_within_10pct"] = out["ratio_last_to_first"] <= 1.10
    out["under_300_mib"] = max(peaks) < 300
    return out
