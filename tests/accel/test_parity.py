"""Compiled (mypyc) and pure-Python runs give byte-identical results.

Each command runs twice in fresh interpreters, ``IRQFWD_ACCEL=off`` (the ``.py`` sources)
and ``IRQFWD_ACCEL=require`` (every manifest module from its extension, or exit 2), and
the outputs are compared byte for byte: the determinism contract of docs/architecture.md
(same scenario + seed => identical results) must not depend on how the model is executed.
"""

from __future__ import annotations

import importlib.machinery
import json
from pathlib import Path

import pytest

from .conftest import ROOT, load_build_script, run_cli, status_and_files

COMMANDS = {
    "compare-nic-level": ("compare", "nic-level", "--json"),
    "compare-nic-edge": ("compare", "nic-edge", "--json"),
    "run-two-vms-one-pcpu": ("run", "two-vms-one-pcpu", "--json"),
    "run-vtimer-shared": ("run", "vtimer-shared", "--json"),
    "run-vtimer-migrate": ("run", "vtimer-migrate", "--json"),
    "run-overrides": (
        "run", "nic-level", "--design", "forwarded", "--set", "rate=45000",
        "--set", "duration=6ms", "--set", "trigger=edge", "--seed", "7", "--json",
    ),
    "run-fault": ("run", "nic-level", "--design", "fault-early-unmask", "--json"),
    "compare-nic-burst-faults": (
        "compare", "nic-burst", "--designs", "forwarded,fault-hw-retained-level", "--json",
    ),
}


@pytest.mark.parametrize("args", list(COMMANDS.values()), ids=list(COMMANDS))
def test_json_byte_identical_pure_vs_compiled(compiled_build: Path, args: tuple[str, ...]) -> None:
    """Determinism contract (architecture.md): the same scenario + seed prints the same JSON
    and exit status whether the hot modules run as CPython bytecode or mypyc C."""
    pure = run_cli("off", *args)
    compiled = run_cli("require", *args)
    assert "Traceback" not in pure.err and "Traceback" not in compiled.err, compiled.err
    assert pure.out.strip(), f"no output from {args}: {pure.err}"
    json.loads(pure.out)  # really the JSON document, not an error message
    assert compiled.code == pure.code, compiled.err
    assert compiled.out == pure.out


def test_trace_file_byte_identical(compiled_build: Path, tmp_path: Path) -> None:
    """``--trace`` (the ftrace-like event stream, every tracepoint with its timestamp) is the
    same file pure and compiled: equal JSON is not just a coincidence of aggregates."""
    outs = {}
    for mode in ("off", "require"):
        trace = tmp_path / f"{mode}.txt"
        p = run_cli(mode, "run", "nic-level", "--design", "irqfd-resample", "--json",
                    "--trace", str(trace))
        assert p.code == 0, p.err
        outs[mode] = trace.read_bytes()
    assert len(outs["off"]) > 1000
    assert outs["require"] == outs["off"]


def test_compiled_run_loads_the_extensions(compiled_build: Path) -> None:
    """IRQFWD_ACCEL=require serves every module of the build script's list from its .so in
    build/accel (importlib ExtensionFileLoader), and IRQFWD_ACCEL=off from src/*.py."""
    script = load_build_script()
    names = [script.module_name(src) for src in script.MODULES]
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    compiled = status_and_files("require", names)
    assert compiled["status"]["active"] is True
    assert sorted(compiled["status"]["modules"]) == sorted(names)
    for name, file in compiled["files"].items():
        assert file.endswith(suffix) and Path(file).is_relative_to(compiled_build), (name, file)
    pure = status_and_files("off", names)
    assert pure["status"]["active"] is False
    for name, file in pure["files"].items():
        assert Path(file).is_relative_to(ROOT / "src") and file.endswith(".py"), (name, file)


def test_manifest_matches_the_module_list(compiled_build: Path) -> None:
    """manifest.json lists exactly scripts/build_accel.py's MODULES with their current source
    sha256, the interpreter's cache tag, and one shared <hash>__mypyc extension."""
    import sys

    script = load_build_script()
    manifest = json.loads((compiled_build / "manifest.json").read_text())
    assert manifest["cache_tag"] == sys.implementation.cache_tag
    assert [m["name"] for m in manifest["modules"]] == [script.module_name(s) for s in script.MODULES]
    for m in manifest["modules"]:
        assert m["sha256"] == script.sha256_file(str(ROOT / m["source"]))
        assert (compiled_build / m["so"]).is_file()
    assert manifest["shared_lib"]["name"].endswith("__mypyc")
    assert (compiled_build / manifest["shared_lib"]["so"]).is_file()
    assert not list((ROOT / "src").rglob("*.so")), "a build wrote extensions into src/"
