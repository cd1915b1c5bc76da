#!/usr/bin/env python3
"""Golden outputs of the ``irqfwd`` command, to prove a change behaviour-neutral.

``scripts/golden.py --out DIR`` runs, through the command-line interface only (so it works
on any internal layout), every command whose output must not change when the code is
reorganised, and writes one file per invocation into DIR:

* ``compare nic-level`` (table and ``--json``);
* ``run SCENARIO --design D --json`` for every built-in scenario and every design, and
  for the example scenario files;
* ``run ... --trace`` (a 2 ms ftrace-text trace, ``trace-cmd report`` layout, of
  ``nic-level`` per design, 5 ms of ``vtimer-tick`` and ``vtimer-migrate``);
* the GICv3/v4 runs (:data:`GICV3_RUNS`);
* ``calibrate`` (table and ``--json``), ``calibrate --gic v3`` and its ``--check --json``;
* ``regs run`` of every register script on the model (architectural and QEMU quirks).

Outputs over 128 KiB (the JSON of fault designs, which lists every violation) are kept as
``NAME.sha256`` (digest and byte count) rather than verbatim.

``scripts/golden.py --check DIR`` regenerates into a temporary directory and diffs against
DIR (exit 1 on any difference).  ``tests/test_golden.py`` does the same in the test suite
against ``tests/golden/``.  After an *intended* behaviour change, regenerate with
``--out tests/golden`` and say so in the commit.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("nic-burst", "nic-edge", "nic-level", "two-vms-one-pcpu", "vtimer-migrate",
             "vtimer-shared", "vtimer-tick")
DESIGNS = ("irqfd-resample", "forwarded", "forwarded-direct", "sw-deactivate",
           "fault-level-no-eoi-bit", "fault-early-unmask", "fault-no-teardown-deactivate",
           "fault-hw-lr-pending-active", "fault-hw-retained-level", "fault-timer-clear-active")
EXAMPLES = ("nic-poisson-4vcpu.toml", "nic-trace.toml", "two-nics-lr-pressure.toml")
GICV3_RUNS = (("msix-nic", "its-emulated", None), ("msix-nic", "gicv4-direct", None),
              ("msix-blocked", "its-emulated", None), ("msix-blocked", "gicv4-direct", None),
              ("msix-migrate", "its-emulated", None), ("msix-migrate", "gicv4-direct", None),
              ("ipi-vsgi", "gicv4-direct", None), ("ipi-vsgi", "gicv41-vsgi", None),
              ("nic-level", "forwarded", "v3"), ("nic-level", "irqfd-resample", "v3"))
"""GICv3/v4 runs: the GICv3 scenarios with their designs, and GICv2-era designs on a GICv3."""


def invocations(tmp: Path) -> Iterator[tuple[str, list[str], Path | None]]:
    """(output file name, argv, trace file or None) for every golden invocation."""
    yield "compare-nic-level.txt", ["compare", "nic-level"], None
    yield "compare-nic-level.json", ["compare", "nic-level", "--json"], None
    for s in SCENARIOS:
        for d in DESIGNS:
            yield f"run-{s}-{d}.json", ["run", s, "--design", d, "--json"], None
    examples = ROOT / "src" / "irqfwd" / "scenarios" / "examples"
    for ex in EXAMPLES:
        path = examples / ex
        if path.exists():
            yield f"run-example-{ex}.json", ["run", str(path), "--design", "forwarded", "--json"], None
    for d in DESIGNS:
        tr = tmp / f"trace-nic-level-{d}.txt"
        yield tr.name, ["run", "nic-level", "--design", d, "--set", "duration=2ms", "--json",
                        "--trace", str(tr)], tr
    for s in ("vtimer-tick", "vtimer-migrate"):
        tr = tmp / f"trace-{s}.txt"
        yield tr.name, ["run", s, "--design", "forwarded", "--set", "duration=5ms", "--json",
                        "--trace", str(tr)], tr
    for s, d, gic in GICV3_RUNS:
        extra = ["--gic", gic] if gic else []
        tag = f"-gic{gic}" if gic else ""
        yield f"run-{s}{tag}-{d}.json", ["run", s, "--design", d, *extra, "--json"], None
    yield "calibrate.txt", ["calibrate"], None
    yield "calibrate.json", ["calibrate", "--json"], None
    yield "calibrate-gicv3.txt", ["calibrate", "--gic", "v3"], None
    yield "calibrate-gicv3-check.json", ["calibrate", "--gic", "v3", "--check", "--json"], None
    for script in sorted((ROOT / "scripts" / "regs").glob("*.regs")):
        yield f"regs-{script.stem}.txt", ["regs", "run", str(script)], None
        yield f"regs-{script.stem}.qemu-quirks.txt", ["regs", "run", str(script), "--quirks", "qemu"], None


def _in_shard(k: int, shard: tuple[int, int] | None) -> bool:
    return shard is None or k % shard[1] == shard[0]


def invocation_names(shard: tuple[int, int] | None = None) -> set[str]:
    """Names of the invocations (of shard ``(i, n)``: every n-th from the i-th)."""
    return {name for k, (name, _argv, _trace) in enumerate(invocations(Path("/nonexistent")))
            if _in_shard(k, shard)}


def invocation_of(file_name: str) -> str:
    """The invocation a stored file belongs to (``NAME``, ``NAME.sha256``, ``NAME.stdout``...)."""
    name = file_name.removesuffix(".sha256")
    return name.removesuffix(".stdout")


def generate(out: Path, shard: tuple[int, int] | None = None) -> None:
    """Run every invocation (of ``shard``, see :func:`invocation_names`) in this process
    and write its output into ``out``."""
    os.environ["COLUMNS"] = "160"
    from typer.testing import CliRunner

    from irqfwd.cli.main import app

    runner = CliRunner()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        for k, (name, argv, trace) in enumerate(invocations(tmp)):
            if not _in_shard(k, shard):
                continue
            res = runner.invoke(app, argv, catch_exceptions=False)
            text = f"$ irqfwd {' '.join(_rel(a) for a in argv)}\n# exit {res.exit_code}\n{res.output}"
            if trace is not None:
                _store(out, name, trace.read_text())
                name = name + ".stdout"
            _store(out, name, text)


MAX_INLINE = 128 * 1024
"""Outputs larger than this are stored as ``NAME.sha256`` (digest and size), not verbatim."""
MAX_INLINE_TRACE = 256 * 1024
"""The same for the ftrace-text traces (``trace-*.txt``: kept readable and diffable)."""


def _store(out: Path, name: str, text: str) -> None:
    data = text.encode()
    limit = MAX_INLINE_TRACE if name.startswith("trace-") and name.endswith(".txt") else MAX_INLINE
    if len(data) <= limit:
        (out / name).write_bytes(data)
    else:
        (out / f"{name}.sha256").write_text(f"{hashlib.sha256(data).hexdigest()} {len(data)}\n")


def _rel(arg: str) -> str:
    """Arguments that are paths are written relative to the checkout (or the temp dir)."""
    p = Path(arg)
    if p.is_absolute():
        try:
            return str(p.relative_to(ROOT))
        except ValueError:
            return p.name
    return arg


def compare(expected: Path, actual: Path, only: set[str] | None = None) -> list[str]:
    """Unified diffs of every file that differs (or is missing on either side); ``only``:
    the files of these invocations alone (:func:`invocation_of`)."""
    problems: list[str] = []
    names = sorted({p.name for p in expected.iterdir()} | {p.name for p in actual.iterdir()})
    if only is not None:
        names = [n for n in names if invocation_of(n) in only]
    for name in names:
        e, a = expected / name, actual / name
        if name.endswith(".sha256") and e.exists() and a.exists():
            if e.read_text() != a.read_text():
                problems.append(f"{name[:-7]}: output differs (sha256 and size {a.read_text().strip()}, "
                                f"expected {e.read_text().strip()})")
            continue
        if not e.exists() or not a.exists():
            problems.append(f"{name}: only in {'actual' if a.exists() else 'expected'}")
            continue
        et, at = e.read_text(), a.read_text()
        if et != at:
            diff = difflib.unified_diff(et.splitlines(), at.splitlines(), f"expected/{name}",
                                        f"actual/{name}", lineterm="", n=1)
            problems.append("\n".join(list(diff)[:40]))
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--out", type=Path, help="write the golden files into this directory")
    g.add_argument("--check", type=Path, help="regenerate and diff against this directory")
    args = ap.parse_args()
    if args.out is not None:
        generate(args.out)
        print(f"golden: {len(list(args.out.iterdir()))} files in {args.out}")
        return 0
    with tempfile.TemporaryDirectory() as td:
        generate(Path(td))
        problems = compare(args.check, Path(td))
    for p in problems:
        print(p)
    print(f"golden: {len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
