"""``irqfwd measure``: run irqfwd's scenarios on a real Linux KVM and count what it does.

The harness is ``measure/`` at the repository root: a small VMM in C on the KVM API and a
bare-metal AArch64 guest.  This package builds it, packs it as an initramfs whose
``/init`` is the VMM, boots Debian's arm64 kernel under ``qemu-system-aarch64 -M
virt,virtualization=on`` (or runs the VMM directly on an arm64 host with /dev/kvm), parses
the counts the kernel's tracepoints gave, reduces them to counts per interrupt and writes
them with their provenance.  It imports only :mod:`irqfwd.errors` and the standard
library (never the CLI, never the model: model numbers come through ``irqfwd run --json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irqfwd.errors import InputError
from irqfwd.fileio import atomic_write_text
from irqfwd.measure.build import Harness, build_harness, missing_tools, native_arm64
from irqfwd.measure.experiments import (
    DEFAULT_EXPERIMENT,
    EXPERIMENTS,
    Experiment,
    HostSetting,
    get_experiment,
)
from irqfwd.measure.kernel import Kernel, find_kernel
from irqfwd.measure.record import make_record
from irqfwd.measure.reduce import reduce_experiment
from irqfwd.measure.runner import MeasureError, Progress, RunSpec, run_native, run_qemu

__all__ = ["DEFAULT_EXPERIMENT", "EXPERIMENTS", "HostSetting", "MeasureError", "RunSpec",
           "measure", "resolve_where"]


def resolve_where(where: str) -> str:
    """``auto`` → ``native`` on an arm64 host with /dev/kvm, else ``qemu``."""
    if where not in ("auto", "qemu", "native"):
        raise MeasureError(f"--where {where!r}: choose auto, qemu or native")
    if where == "auto":
        return "native" if native_arm64() else "qemu"
    if where == "native" and not native_arm64():
        raise MeasureError("--where native needs an arm64 host with /dev/kvm")
    return where


def measure(setting: HostSetting, experiments: list[Experiment], *, n: int | None = None,
            reps: int = 3, interval_us: int | None = None, where: str = "auto",
            boot_timeout: float = 180.0, smp: int = 2, progress: Progress | None = None,
            keep_log: bool = False, build_dir: Path | None = None,
            raw_trace: Path | None = None) -> dict[str, Any]:
    """Run ``experiments`` on one host setting; the measured record (record.py).

    ``raw_trace``: also record every traced event in the ring buffer and write them, run
    by run, to that file (for small N: it is all printed on the console)."""
    if not experiments:
        raise MeasureError("no experiment to run")
    specs = [RunSpec(e, n if n is not None else e.default_n, reps,
                     interval_us if interval_us is not None else e.interval_us)
             for e in experiments]
    place = resolve_where(where)
    kernel: Kernel | None = None
    if place == "qemu":
        kernel = find_kernel()
    missing = missing_tools(native=place == "native")
    if missing:  # before any progress line: the error is then the only output
        build_harness(build_dir, native=place == "native")
    if progress:
        progress("build", "building the VMM and the guest")
    harness: Harness = build_harness(build_dir, native=place == "native")
    if place == "qemu":
        assert kernel is not None
        boot = run_qemu(setting, specs, kernel=kernel, harness=harness, smp=smp,
                        boot_timeout=boot_timeout, progress=progress, keep_log=keep_log,
                        raw_trace=raw_trace is not None)
    else:
        boot = run_native(setting, specs, harness=harness, progress=progress, keep_log=keep_log,
                          raw_trace=raw_trace is not None)
    if raw_trace is not None:
        text = "".join(f"# {r.experiment} repetition {r.rep} {r.kind}\n"
                       + "".join(line + "\n" for line in r.trace) for r in boot.output.runs)
        try:
            raw_trace.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--raw-trace {raw_trace}: cannot create directory "
                             f"{raw_trace.parent}: {exc.strerror or exc}") from None
        atomic_write_text(raw_trace, [text], "--raw-trace")
    reduced = [reduce_experiment(boot.output, s.experiment.name) for s in specs]
    return make_record(setting, boot, reduced, kernel=kernel, harness=harness, smp=smp)


def experiments_from_names(names: list[str]) -> list[Experiment]:
    """``all`` or experiment names (comma-separated allowed) → experiments, in order."""
    out: list[Experiment] = []
    for item in names:
        for name in item.split(","):
            name = name.strip()
            if not name:
                continue
            if name == "all":
                out += [e for e in EXPERIMENTS.values() if e not in out]
            else:
                e = get_experiment(name)
                if e not in out:
                    out.append(e)
    return out
