"""The measured record: per-interrupt counts with their provenance, as JSON.

Schema ``irqfwd.measured/1``::

    {"schema": "irqfwd.measured/1",
     "host": {"gic", "mode", "halt_poll_ns", "key", "mode_detected", "halt_poll_ns_effective"},
     "where": "qemu-tcg" | "native", "times_meaningful": bool,
     "provenance": {kernel release/version/package/sha256, config, qemu version and command,
                    kernel command line, compiler, harness hashes, events, date, ...},
     "experiments": {NAME: {"description", "n", "reps", "interval_us", "vcpus",
                            "per_interrupt": {KEY: {"label", "mean", "reps": [...],
                                                    "raw_mean"}},
                            "runs": [{"rep", "elapsed_ns", "run": {...}, "baseline": {...},
                                      "source": [run, baseline as the VMM reported them]}],
                            "times": {"elapsed_per_interrupt_ns", "vtimer_late_ns",
                                      "irqfd_resample_roundtrip_ns", "sgi_roundtrip_ns"}
                                     (native only, each {"mean", "reps"})}}}

Written atomically (temporary file in the same directory, then rename), so a reader never
sees half a file and an interrupted write leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from irqfwd.errors import InputError
from irqfwd.fileio import atomic_write_text
from irqfwd.measure.build import Harness
from irqfwd.measure.experiments import EXPERIMENTS, HostSetting
from irqfwd.measure.kernel import Kernel
from irqfwd.measure.protocol import BootOutput, HistEntry, RunOutput
from irqfwd.measure.reduce import QUANTITIES, Reduced, quantity_label, reduce_experiment
from irqfwd.measure.runner import BootResult, detect_mode

__all__ = ["SCHEMA", "load_record", "make_record", "merge_records", "rereduce", "run_from_json",
           "run_to_json", "write_json_atomic"]

SCHEMA = "irqfwd.measured/1"


def _r(x: float) -> float:
    return round(float(x), 4)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parents[3]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


_TIMEBASED = {q.key for q in QUANTITIES if q.timebased}
_TIME_STATS = ("elapsed_ns", "stop_ns", "guest_late_ticks_sum", "guest_late_ticks_max",
               "vmm_roundtrip_ns_sum", "guest_sgi_rtt_ticks_sum")


def run_to_json(run: RunOutput, times_meaningful: bool) -> dict[str, Any]:
    """What the VMM reported for one run (hist entries, /proc/interrupts, stats), so the
    record can be reduced again (:func:`rereduce`) without measuring again.  Under TCG
    the time statistics are left out (not meaningful)."""
    return {
        "kind": run.kind,
        "hists": {ev: [[e.keys, e.count] for e in entries] for ev, entries in sorted(run.hists.items())},
        "irq_before": run.irq_before, "irq_after": run.irq_after,
        "stats": {k: v for k, v in sorted(run.stats.items())
                  if times_meaningful or k not in _TIME_STATS},
    }


def run_from_json(exp: str, rep: int, n: int, interval_us: int, vcpus: int,
                  data: dict[str, Any]) -> RunOutput:
    out = RunOutput(exp, rep, str(data["kind"]), n, interval_us, vcpus, complete=True)
    out.hists = {ev: [HistEntry(dict(k), int(c)) for k, c in entries]
                 for ev, entries in data.get("hists", {}).items()}
    out.irq_before = list(data.get("irq_before", []))
    out.irq_after = list(data.get("irq_after", []))
    out.stats = {k: int(v) for k, v in data.get("stats", {}).items()}
    return out


def rereduce(record: dict[str, Any]) -> dict[str, Any]:
    """The record with every experiment's counts computed again from its stored sources
    (after a change of :mod:`irqfwd.measure.reduce`)."""
    times = bool(record.get("times_meaningful"))
    new = dict(record)
    new["experiments"] = {}
    for name, exp in record["experiments"].items():
        boot = BootOutput()
        for r in exp["runs"]:
            if "source" not in r:
                raise InputError(f"experiment {name}: the record keeps no source counts")
            for src in r["source"]:
                boot.runs.append(run_from_json(name, int(r["rep"]), int(exp["n"]),
                                               int(exp["interval_us"]), int(exp["vcpus"]), src))
        new["experiments"][name] = experiment_record(reduce_experiment(boot, name), times)
    return new


def experiment_record(red: Reduced, times_meaningful: bool) -> dict[str, Any]:
    exp = EXPERIMENTS.get(red.experiment)
    per: dict[str, Any] = {}
    for key in red.quantity_keys():
        vals = red.per_irq(key)
        raw = [r.raw_per_irq(key) for r in red.reps]
        if not any(vals) and not any(raw):
            continue
        per[key] = {"label": quantity_label(key).strip(), "mean": _r(statistics.fmean(vals)),
                    "reps": [_r(v) for v in vals], "raw_mean": _r(statistics.fmean(raw))}
        if key in _TIMEBASED:
            per[key]["timebased"] = True
    out: dict[str, Any] = {
        "description": exp.description if exp else "",
        "n": red.n, "reps": len(red.reps), "interval_us": red.interval_us, "vcpus": red.vcpus,
        "per_interrupt": per,
        "runs": [{"rep": r.rep, "elapsed_ns": r.elapsed_ns if times_meaningful else None,
                  "dropped_events": r.dropped,
                  "run": {k: int(v) for k, v in sorted(r.run.items()) if v},
                  "baseline": {k: int(v) for k, v in sorted(r.baseline.items()) if v},
                  **({"source": [run_to_json(src, times_meaningful) for src in r.sources]}
                     if r.sources else {})}
                 for r in red.reps],
    }
    if times_meaningful:
        out["times"] = {
            "elapsed_per_interrupt_ns": {
                "mean": _r(statistics.fmean(r.elapsed_ns / r.n for r in red.reps)),
                "reps": [_r(r.elapsed_ns / r.n) for r in red.reps]},
        }
        series: tuple[tuple[str, list[float | None]], ...] = (
                ("vtimer_late_ns", [r.late_ticks_mean for r in red.reps]),
                ("irqfd_resample_roundtrip_ns", [r.roundtrip_ns for r in red.reps]),
                ("sgi_roundtrip_ns", [r.sgi_rtt_ns for r in red.reps]))
        for name, maybe in series:
            got = [v for v in maybe if v is not None]
            if got:
                out["times"][name] = {"mean": _r(statistics.fmean(got)), "reps": [_r(x) for x in got]}
    return out


def make_record(setting: HostSetting, boot: BootResult, reduced: list[Reduced], *,
                kernel: Kernel | None, harness: Harness, smp: int) -> dict[str, Any]:
    """The JSON-ready record of one boot's experiments."""
    out = boot.output
    times_meaningful = boot.where == "native"
    hp = out.info.get("halt_poll_ns")
    prov: dict[str, Any] = {
        "kernel_release": out.info.get("kernel_release"),
        "kernel_version": out.info.get("kernel_version"),
        "kernel_cmdline": out.info.get("cmdline", boot.kernel_cmdline),
        "where": boot.where,
        "qemu_version": boot.qemu_version,
        "qemu_command": [Path(a).name if a.startswith("/") else a for a in boot.command]
        if boot.where == "qemu-tcg" else None,
        "host_cpus": int(out.info.get("ncpus", "0") or 0),
        "cntfrq_hz": int(out.info.get("cntfrq", "0") or 0),
        "pinning": "vCPU i on CPU i, the VMM's device thread on the last CPU"
        if out.info.get("pin") == "1" else "none",
        "halt_poll_params": {k: out.info[k] for k in ("halt_poll_ns", "halt_poll_ns_grow",
                                                      "halt_poll_ns_grow_start",
                                                      "halt_poll_ns_shrink") if k in out.info},
        "kvm_exit_fields": out.kvm_exit_fields,
        "events": out.events,
        "missing_events": out.missing_events,
        "warnings": out.warnings,
        "kvm_dmesg": [line for line in out.dmesg if "kvm" in line.lower()],
        "kvm_mode_line": next((line.split("]: ", 1)[-1] for line in out.dmesg
                               if "mode initialized" in line), None),
        "compiler": harness.compiler,
        "vmm_sha256": _sha256(harness.vmm),
        "guest_sha256": _sha256(harness.guest),
        "irqfwd_commit": _git_commit(),
        "measured_at": boot.started_at,
        "boot_seconds": round(boot.boot_seconds, 1),
        "total_seconds": round(boot.total_seconds, 1),
        "smp": smp,
    }
    if kernel is not None:
        prov["kernel_package"] = kernel.package
        prov["kernel_image_sha256"] = kernel.sha256()
        prov["kernel_config"] = {k: kernel.config_value(k) for k in
                                 ("HZ", "NO_HZ_IDLE", "NO_HZ_FULL", "PREEMPT_VOLUNTARY",
                                  "PREEMPT_DYNAMIC", "KVM", "HIST_TRIGGERS")}
    return {
        "schema": SCHEMA,
        "host": {"gic": setting.gic, "mode": setting.mode, "halt_poll_ns": setting.halt_poll_ns,
                 "key": setting.key, "mode_detected": detect_mode(out.dmesg),
                 "halt_poll_ns_effective": int(hp) if hp and hp.isdigit() else None},
        "where": boot.where,
        "times_meaningful": times_meaningful,
        "provenance": prov,
        "experiments": {r.experiment: experiment_record(r, times_meaningful) for r in reduced},
    }


def merge_records(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` with the experiments of ``old`` it does not have (same host setting)."""
    if old.get("host", {}).get("key") != new["host"]["key"]:
        return new
    merged = dict(new)
    merged["experiments"] = {**old.get("experiments", {}), **new["experiments"]}
    merged["experiments"] = {k: merged["experiments"][k] for k in sorted(merged["experiments"])}
    return merged


def write_json_atomic(path: Path, data: dict[str, Any], what: str = "--out") -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename
    (:func:`irqfwd.fileio.atomic_write_text`); InputError naming ``what`` if it cannot."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot create directory {path.parent}: "
                         f"{exc.strerror or exc}") from None
    atomic_write_text(path, [json.dumps(data, indent=1, sort_keys=False), "\n"], what)


def load_record(path: Path) -> dict[str, Any]:
    """Read and check a measured file; InputError naming the problem otherwise."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such measured file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise InputError(f"{path}: not an irqfwd measured file (schema {SCHEMA!r} expected)")
    exps = data.get("experiments")
    if not isinstance(exps, dict) or not exps:
        raise InputError(f"{path}: has no experiments")
    for name, exp in exps.items():
        if not isinstance(exp, dict) or not isinstance(exp.get("per_interrupt"), dict):
            raise InputError(f"{path}: experiment {name!r} has no per_interrupt table")
    _check_record(path, data)
    return data


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_series(path: Path, where: str, q: object) -> None:
    """``q`` must be {"mean": number, "reps": [numbers]}."""
    if not isinstance(q, dict):
        raise InputError(f"{path}: {where}: must be a table with mean and reps")
    if not _is_num(q.get("mean")):
        raise InputError(f"{path}: {where}.mean: must be a number, not {q.get('mean')!r}")
    reps = q.get("reps")
    if not isinstance(reps, list) or not all(_is_num(v) for v in reps):
        raise InputError(f"{path}: {where}.reps: must be a list of numbers")


def _check_record(path: Path, data: dict[str, Any]) -> None:
    """The structure every reader of a measured record relies on; InputError naming the
    file and the field otherwise."""
    host = data.get("host")
    if not isinstance(host, dict):
        raise InputError(f"{path}: host: missing or not a table")
    if host.get("gic") not in (2, 3):
        raise InputError(f"{path}: host.gic: must be 2 or 3, not {host.get('gic')!r}")
    for key in ("mode", "key"):
        if not isinstance(host.get(key), str):
            raise InputError(f"{path}: host.{key}: must be a string, not {host.get(key)!r}")
    for key in ("mode_detected",):
        if host.get(key) is not None and not isinstance(host[key], str):
            raise InputError(f"{path}: host.{key}: must be a string, not {host[key]!r}")
    for key in ("halt_poll_ns", "halt_poll_ns_effective"):
        if host.get(key) is not None and not (_is_int(host[key]) and host[key] >= 0):
            raise InputError(f"{path}: host.{key}: must be a whole number >= 0, not {host[key]!r}")
    if not isinstance(data.get("provenance", {}), dict):
        raise InputError(f"{path}: provenance: must be a table")
    times_meaningful = data.get("times_meaningful", False)
    if not isinstance(times_meaningful, bool):
        raise InputError(f"{path}: times_meaningful: must be true or false, "
                         f"not {times_meaningful!r}")
    for name, exp in data["experiments"].items():
        where = f"experiments.{name}"
        if name not in EXPERIMENTS:
            raise InputError(f"{path}: {where}: unknown experiment {name!r} "
                             f"(known: {', '.join(EXPERIMENTS)})")
        for key in ("n", "reps", "interval_us", "vcpus"):
            if key == "vcpus" and key not in exp:
                continue
            if not (_is_int(exp.get(key)) and exp[key] >= 1):
                got = "missing" if key not in exp else f"not {exp[key]!r}"
                raise InputError(f"{path}: {where}.{key}: must be a whole number >= 1, {got}")
        for key, q in exp["per_interrupt"].items():
            _check_series(path, f"{where}.per_interrupt.{key}", q)
            if not isinstance(q.get("label", ""), str):
                raise InputError(f"{path}: {where}.per_interrupt.{key}.label: must be a string")
            if "raw_mean" in q and not _is_num(q["raw_mean"]):
                raise InputError(f"{path}: {where}.per_interrupt.{key}.raw_mean: must be a number")
        if "runs" in exp and not (isinstance(exp["runs"], list)
                                  and all(isinstance(r, dict) for r in exp["runs"])):
            raise InputError(f"{path}: {where}.runs: must be a list of tables")
        times = exp.get("times")
        if times is None:
            continue
        if not isinstance(times, dict):
            raise InputError(f"{path}: {where}.times: must be a table, not {times!r}")
        if times and "elapsed_per_interrupt_ns" not in times:
            raise InputError(f"{path}: {where}.times.elapsed_per_interrupt_ns: missing")
        for key, q in times.items():
            _check_series(path, f"{where}.times.{key}", q)


def main(argv: list[str]) -> int:
    """``python -m irqfwd.measure.record FILE...``: reduce measured files again, in place."""
    if not argv:
        print("usage: python -m irqfwd.measure.record MEASURED.json...", file=sys.stderr)
        return 2
    for arg in argv:
        write_json_atomic(Path(arg), rereduce(load_record(Path(arg))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
