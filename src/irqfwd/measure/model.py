"""The model's side of a comparison, obtained through the ``irqfwd run --json`` CLI.

The CLI is the model's stable interface (the package layout below it moves); this module
runs it in a subprocess and never imports model internals.  A quantity *agrees* when the
model and the measurement differ by at most :data:`TOLERANCE` per interrupt.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from irqfwd.errors import InputError
from irqfwd.measure.experiments import Experiment
from irqfwd.measure.reduce import QUANTITIES, quantity_label

__all__ = ["KNOWN_DIFFERENCES", "TOLERANCE", "Comparison", "compare", "explanation",
           "model_command", "model_per_interrupt", "run_model", "run_model_cli"]

TOLERANCE = 0.15
"""Agreement threshold, in events per interrupt."""

_CLI = "import sys; from irqfwd.cli.main import main; sys.argv[0] = 'irqfwd'; main()"


def model_command(exp: Experiment, n: int, interval_us: int, baseline: bool = False) -> list[str] | None:
    """The ``irqfwd run`` arguments of the model scenario matching ``exp`` (None if none);
    ``baseline``: the same run without its interrupt source."""
    m = exp.model
    if m is None:
        return None
    if baseline and m.baseline is None:
        return None
    sets = list(m.overrides) + (list(m.baseline) if baseline and m.baseline is not None else [])
    if m.rate_from_interval:
        sets.append(f"rate={1e6 / interval_us:g}")
        duration_us = (n + 1) * interval_us
    else:
        duration_us = (n + 1) * 1000  # the vtimer scenarios tick at HZ=1000
    sets.append(f"duration={duration_us}us")
    args = ["run", m.scenario, "--design", m.design, "--json"]
    for s in sets:
        args += ["--set", s]
    return args


def run_model_cli(args: list[str], timeout: float = 300.0) -> dict[str, Any]:
    """Run ``irqfwd ARGS`` (this interpreter, the installed package) and parse its JSON."""
    try:
        proc = subprocess.run([sys.executable, "-c", _CLI, *args], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise InputError(f"the model run `irqfwd {' '.join(args)}` timed out") from None
    if proc.returncode != 0:
        msg = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise InputError(f"the model run `irqfwd {' '.join(args)}` failed: {msg}")
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise InputError(f"the model run `irqfwd {' '.join(args)}` printed no JSON") from None
    if not isinstance(data, dict):
        raise InputError("the model's JSON is not an object")
    return data


def _flat_counts(data: dict[str, Any], design: str) -> dict[str, float]:
    try:
        counters = data["designs"][design]["counters"]
    except (KeyError, TypeError):
        raise InputError(f"the model's JSON has no counters for design {design!r}") from None
    flat: dict[str, float] = {}
    for key, value in counters.items():
        if key == "exits" and isinstance(value, dict):
            for reason, count in value.items():
                flat[f"exits.{reason}"] = float(count)
        elif isinstance(value, int | float) and not key.startswith("boot_"):
            flat[key] = float(value)
    # the host interrupts that serve the guest: every host interrupt but the host's own tick
    flat["host_irqs_guest"] = flat.get("host_irqs", 0.0) - flat.get("host_ticks", 0.0)
    return flat


def model_per_interrupt(data: dict[str, Any], design: str,
                        baseline: dict[str, Any] | None = None, busy_guest: bool = False) -> dict[str, float]:
    """One design's counters (``exits`` by reason → ``exits.R``) per handled interrupt;
    with ``baseline`` (the JSON of the run without interrupts) net of it, as the
    measurement is (``(run - baseline) / N``); ``busy_guest``: the host tick's IRQ exits
    and entries taken out instead."""
    counts = _flat_counts(data, design)
    handled = counts.get("guest_irqs_handled", 0.0) + counts.get("guest_timer_irqs", 0.0)
    if handled <= 0:
        raise InputError("the model run handled no interrupt")
    base = _flat_counts(baseline, design) if baseline is not None else {}
    if busy_guest:
        ticks = counts.get("host_ticks", 0.0)
        for key in ("exits_total", "exits.IRQ", "kvm_entries"):
            base[key] = base.get(key, 0.0) + ticks
    return {k: (v - base.get(k, 0.0)) / handled for k, v in counts.items()}


def run_model(exp: Experiment, n: int, interval_us: int) -> dict[str, float] | None:
    """The model's per-interrupt counts for ``exp``, net of its baseline (None when the
    model has no scenario for it)."""
    m = exp.model
    args = model_command(exp, n, interval_us)
    if args is None or m is None:
        return None
    base_args = model_command(exp, n, interval_us, baseline=True)
    base = run_model_cli(base_args) if base_args is not None else None
    return model_per_interrupt(run_model_cli(args), m.design, base, m.busy_guest)


KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    **{("vtimer-idle", k): "D4" for k in ("exits_total", "exits.IRQ", "exits.WFx", "entries",
                                          "host_irqs", "wakeups", "wakeups.slept",
                                          "wakeups.polled", "timer_hrtimer_wakeups", "timer_save",
                                          "timer_restore", "sched_in_vcpu")},
    ("vtimer-busy", "exits_total"): "D5",
    ("vtimer-busy", "exits.IRQ"): "D5",
    ("vtimer-busy", "entries"): "D5",
    ("level-irqline", "eventfd_signals"): "D6",
}
"""(experiment, quantity) → the paragraph of docs/fidelity.md that explains its difference."""


def explanation(experiment: str, key: str) -> str | None:
    """``docs/fidelity.md D1`` etc. for a known difference, else None."""
    d = KNOWN_DIFFERENCES.get((experiment, key))
    return f"docs/fidelity.md {d}" if d else None


@dataclass(frozen=True)
class Comparison:
    """One row of the side-by-side table."""

    key: str
    label: str
    measured: float
    model: float | None
    model_counter: str | None

    @property
    def diff(self) -> float | None:
        return None if self.model is None else self.measured - self.model

    @property
    def verdict(self) -> str:
        if self.model is None:
            return "not modelled"
        return "agrees" if abs(self.measured - self.model) <= TOLERANCE else "differs"


def compare(measured: dict[str, Any], model: dict[str, float] | None) -> list[Comparison]:
    """Rows for every quantity that was measured or that the model has.

    ``measured`` is an experiment's ``per_interrupt`` table (record.py).  Quantities the
    model has no counter for are listed as "not modelled"; a model counter with no
    measured events is compared against 0.
    """
    rows: list[Comparison] = []
    seen: set[str] = set()
    for q in QUANTITIES:
        entry = measured.get(q.key)
        value = float(entry["mean"]) if isinstance(entry, dict) else 0.0
        mval = None
        if q.model is not None and model is not None:
            mval = model.get(q.model, 0.0)
        if entry is None and not mval:
            continue
        rows.append(Comparison(q.key, q.label.strip(), value, mval,
                               q.model if model is not None else None))
        seen.add(q.key)
    for key, entry in measured.items():
        if key in seen or not isinstance(entry, dict):
            continue
        mval = None
        if model is not None and key.startswith("exits.") and "@" not in key:
            mval = model.get(key, 0.0)
        if abs(float(entry["mean"])) < 0.005 and not mval:
            continue  # an exit reason seen only outside the interrupts (set-up), both 0
        rows.append(Comparison(key, quantity_label(key).strip(), float(entry["mean"]), mval,
                               key if mval is not None else None))
    if model is not None:  # exit reasons the model has and the kernel never showed
        for key, mval in sorted(model.items()):
            if key.startswith("exits.") and key not in seen and key not in measured and mval:
                rows.append(Comparison(key, quantity_label(key).strip(), 0.0, mval, key))
    return rows
