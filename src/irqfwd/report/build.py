"""Running the designs of a comparison with a :class:`ReportObserver` and writing the
report directory (see :mod:`irqfwd.report`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from irqfwd.config import ScenarioConfig
from irqfwd.errors import InputError
from irqfwd.fileio import atomic_write_bytes, check_writable
from irqfwd.sim.costs import CostProfile
from irqfwd.sim.metrics import Event, Listener
from irqfwd.system.run import RunProgress, RunResult, report, run_scenario, summarize_result

__all__ = ["MISR_BITS", "REPORT_FILES", "ReportObserver", "check_report_dir", "write_report"]

MISR_BITS = ("EOI", "U", "LRENP", "NP", "VGrp0E", "VGrp0D", "VGrp1E", "VGrp1D")
"""GICH_MISR bits 0..7 (IHI 0048B §5.3.5)."""


_OBSERVED = frozenset(("kvm_exit", "kvm_entry", "irqfwd_vcpu_put", "irqfwd_vgic_maintenance"))


class ReportObserver(Listener):
    """Per exit reason: count and time from ``kvm_exit`` to the vCPU's next ``kvm_entry``
    or ``irqfwd_vcpu_put``; maintenance interrupts per MISR bit."""

    def __init__(self, window_ns: int) -> None:
        self.window_ns = window_ns
        self.exits: dict[str, list[int]] = {}  # reason -> [count, total, min, max]
        self.misr: dict[str, int] = {b: 0 for b in MISR_BITS}
        self._open: dict[tuple[int, int], tuple[str, int]] = {}

    def on_event(self, ev: Event, time_ns: int) -> None:
        name = ev.event
        if name not in _OBSERVED:
            return
        fields = ev.fields()
        if name == "kvm_exit":
            self._open[(fields["vm"], fields["vcpu"])] = (fields["reason"], time_ns)
        elif name in ("kvm_entry", "irqfwd_vcpu_put"):
            started = self._open.pop((fields["vm"], fields["vcpu"]), None)
            if started is not None:
                reason, t0 = started
                d = time_ns - t0
                s = self.exits.get(reason)
                if s is None:
                    self.exits[reason] = [1, d, d, d]
                else:
                    s[0] += 1
                    s[1] += d
                    s[2] = min(s[2], d)
                    s[3] = max(s[3], d)
        elif name == "irqfwd_vgic_maintenance":
            misr = fields["misr"]
            for i, b in enumerate(MISR_BITS):
                if misr >> i & 1:
                    self.misr[b] += 1


def _write_atomic(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data, "--report")


REPORT_FILES = ("config.json", "stats.json", "stats.txt", "exits.txt", "latency-cdf.png",
                "per-interrupt.png", "timeline.png", "report.html")
"""The files :func:`write_report` writes in its directory, besides ``trace-DESIGN.json``."""


def check_report_dir(out: Path, designs: list[str]) -> None:
    """:class:`InputError` naming ``--report`` unless ``out`` is (or can be made) a directory
    that takes every file of the report; makes it.  Before any run, so that a bad directory
    costs nothing and no file is half-written."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--report {out}: exists and is not a directory")
    if not out.parent.is_dir():
        raise InputError(f"--report {out}: parent directory does not exist")
    try:
        out.mkdir(exist_ok=True)
    except OSError as exc:
        raise InputError(f"--report {out}: cannot create the directory: {exc.strerror or exc}") from None
    for name in (*REPORT_FILES, *(f"trace-{d}.json" for d in designs)):
        if (out / name).is_dir():
            raise InputError(f"--report {out}: {name} in it is a directory, not a file")
    check_writable(out / "report.html", "--report")


def _stats_txt(summaries: dict[str, dict[str, Any]]) -> str:
    lines = ["", "---------- Begin Simulation Statistics ----------"]

    def stat(name: str, value: Any, desc: str) -> None:
        lines.append(f"{name:<60} {value:>14}  # {desc}")

    for design, s in summaries.items():
        c = s["counters"]
        stat(f"{design}.sim_ns", s["sim_time_ns"], "simulated time (ns)")
        for key in sorted(k for k in c if k != "exits"):
            stat(f"{design}.{key}", c[key], "counter")
        for reason, n in sorted(c["exits"].items()):
            stat(f"{design}.exits.{reason}", n, "KVM exits with this reason (after boot)")
        for path, lat in s["latency_ns"].items():
            for k in ("count", "p50", "p99", "max", "mean"):
                stat(f"{design}.latency.{path}.{k}", lat[k], "samples" if k == "count" else f"{k} (ns)")
        stat(f"{design}.invariants.violations", len(s["invariants"]["violations"]), "invariant violations")
    lines += ["", "---------- End Simulation Statistics   ----------", ""]
    return "\n".join(lines)


def _exit_table(design: str, obs: ReportObserver) -> str:
    total = sum(v[0] for v in obs.exits.values())
    total_t = sum(v[1] for v in obs.exits.values())
    out = [f"Analyze events for all VMs, all VCPUs ({design}):", "",
           f"{'VM-EXIT':>12} {'Samples':>9} {'Samples%':>9} {'Time%':>9} {'Min Time':>12} {'Max Time':>12} "
           f"{'Avg time':>18}", ""]
    for reason, (n, t, lo, hi) in sorted(obs.exits.items(), key=lambda kv: -kv[1][0]):
        out.append(f"{reason:>12} {n:>9} {100 * n / total:>8.2f}% {100 * t / total_t if total_t else 0:>8.2f}% "
                   f"{lo / 1000:>10.2f}us {hi / 1000:>10.2f}us {t / n / 1000:>10.2f}us ( +-  n/a )")
    out += ["", f"Total Samples:{total}, Total events handled time:{total_t / 1000:.2f}us.", "",
            "Maintenance interrupts by GICH_MISR bit:"]
    out += [f"{b:>12} {n:>9}" for b, n in obs.misr.items() if n] or ["        none"]
    return "\n".join(out) + "\n\n"


def write_report(out: Path, config: ScenarioConfig, seed: int, costs: CostProfile, designs: list[str],
                 *, timeline_ns: int = 1_000_000, results: dict[str, RunResult] | None = None,
                 progress: RunProgress | None = None) -> dict[str, RunResult]:
    """Run ``designs`` (observed) and write the report directory ``out`` (created; its
    files are written through temporary files).  Returns the runs."""
    check_report_dir(out, designs)
    runs: dict[str, RunResult] = {}
    observers: dict[str, ReportObserver] = {}
    for d in designs:
        obs = ReportObserver(timeline_ns)
        runs[d] = run_scenario(config, d, seed=seed, costs=costs, trace=out / f"trace-{d}.json", observer=obs,
                               progress=progress)
        observers[d] = obs
    summaries = {d: summarize_result(r) for d, r in runs.items()}
    cfg = {"scenario": config.model_dump(mode="json"), "seed": seed, "designs": designs,
           "cost_profile": costs.model_dump(mode="json"), "timeline_ns": timeline_ns}
    _write_atomic(out / "config.json", (json.dumps(cfg, sort_keys=True, indent=2) + "\n").encode())
    stats = report(config.name, seed, summaries)
    _write_atomic(out / "stats.json", (json.dumps(stats, sort_keys=True, indent=2) + "\n").encode())
    _write_atomic(out / "stats.txt", _stats_txt(summaries).encode())
    _write_atomic(out / "exits.txt", "".join(_exit_table(d, observers[d]) for d in designs).encode())
    from irqfwd.report.html import write_html
    from irqfwd.report.plots import write_plots

    write_plots(out, runs, summaries, observers, timeline_ns)
    write_html(out, config, seed, designs, summaries, timeline_ns)
    return runs
