"""Calibration targets from a measured file (``irqfwd calibrate --targets FILE``).

*Structural targets*: the counts per interrupt, from any measured file (counts under TCG
are the real kernel's).  Each is compared with the model's count for the matching
scenario, run through ``irqfwd run --json``; they check the model's structure, not its
costs.

*Cost targets*: times, only from a native arm64 run (``times_meaningful``).  They map
onto the kvm-unit-tests micro-benchmarks that ``irqfwd calibrate`` simulates:

``ipi``         the sgi experiment's send → handler-ran round trip (micro-bench ``ipi``:
                the same guest loop, vCPU1 idle in WFI on another CPU)
``timer_10ms``  the vtimer-idle experiment's expiry → guest handler latency (micro-bench
                ``timer_10ms`` measures it for a 10 ms timer, here a 1 ms one)

and replace the published Ampere Altra figures for those benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from irqfwd.measure.experiments import EXPERIMENTS
from irqfwd.measure.model import TOLERANCE, compare, run_model
from irqfwd.measure.record import load_record

__all__ = ["COST_TARGETS", "Targets", "load_targets"]

COST_TARGETS: dict[str, tuple[str, str]] = {
    "ipi": ("sgi", "sgi_roundtrip_ns"),
    "timer_10ms": ("vtimer-idle", "vtimer_late_ns"),
}
"""micro-benchmark → (experiment, native time) it is calibrated against."""


@dataclass
class Targets:
    """What a measured file offers as calibration targets."""

    source: str
    host: str
    times_meaningful: bool
    structural: list[dict[str, Any]]
    """Rows {experiment, quantity, label, measured, model, diff, ok}."""
    costs: dict[str, float]
    """micro-benchmark → measured ns (native files only)."""

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "host": self.host, "times_meaningful": self.times_meaningful,
                "tolerance_per_interrupt": TOLERANCE, "structural": self.structural,
                "cost_targets_ns": self.costs}


def load_targets(path: Path) -> Targets:
    """Read ``path`` and compute the structural comparison (runs the model through the CLI)."""
    record = load_record(path)
    rows: list[dict[str, Any]] = []
    for name, exp in record["experiments"].items():
        spec = EXPERIMENTS.get(name)
        if spec is None or spec.model is None:
            continue
        model = run_model(spec, int(exp["n"]), int(exp["interval_us"]))
        if model is None:
            continue
        for row in compare(exp["per_interrupt"], model):
            if row.model is None or "@" in row.key:
                continue
            rows.append({"experiment": name, "quantity": row.key, "label": row.label,
                         "measured": round(row.measured, 3), "model": round(row.model, 3),
                         "diff": round(row.measured - row.model, 3),
                         "ok": row.verdict == "agrees"})
    costs: dict[str, float] = {}
    if record.get("times_meaningful"):
        for bench, (exp_name, key) in COST_TARGETS.items():
            times = record["experiments"].get(exp_name, {}).get("times", {})
            if key in times:
                costs[bench] = float(times[key]["mean"])
    host = record["host"]
    return Targets(str(path), f"GICv{host['gic']}/{host.get('mode_detected') or host['mode']}, "
                   f"halt_poll_ns {host.get('halt_poll_ns_effective')}",
                   bool(record.get("times_meaningful")), rows, costs)
