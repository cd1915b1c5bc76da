"""Helpers for the accelerator tests: run ``irqfwd`` / Python in subprocesses with a chosen
``IRQFWD_ACCEL`` mode (the loader decides once per process, at ``import irqfwd``)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "build" / "accel"
IRQFWD = Path(sys.executable).with_name("irqfwd")


def load_build_script() -> ModuleType:
    """``scripts/build_accel.py`` as a module (the one place that lists the compiled modules)."""
    spec = importlib.util.spec_from_file_location("build_accel", ROOT / "scripts" / "build_accel.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Proc:
    code: int
    out: str
    err: str


def _env(mode: str, build_dir: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRQFWD_ACCEL")}
    env["IRQFWD_ACCEL"] = mode
    if build_dir is not None:
        env["IRQFWD_ACCEL_DIR"] = str(build_dir)
    return env


def run_cli(mode: str, *args: str, build_dir: Path | None = None, timeout: float = 300) -> Proc:
    """``irqfwd ARGS`` in a subprocess with ``IRQFWD_ACCEL=mode`` (and ``IRQFWD_ACCEL_DIR``)."""
    p = subprocess.run(
        [str(IRQFWD), *args], capture_output=True, text=True, env=_env(mode, build_dir),
        cwd=ROOT, timeout=timeout, check=False,
    )
    return Proc(p.returncode, p.stdout, p.stderr)


def run_py(mode: str, code: str, build_dir: Path | None = None) -> Proc:
    """``python -c CODE`` in a subprocess with ``IRQFWD_ACCEL=mode``."""
    p = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        env=_env(mode, build_dir), cwd=ROOT, timeout=120, check=False,
    )
    return Proc(p.returncode, p.stdout, p.stderr)


STATUS_AND_FILES = """
import importlib, json
import irqfwd._accel as accel
st = accel.status().as_dict()
files = {}
for name in %r:
    files[name] = importlib.import_module(name).__file__
print(json.dumps({"status": st, "files": files}))
"""


def status_and_files(mode: str, modules: list[str], build_dir: Path | None = None) -> dict[str, Any]:
    """Loader status and ``__file__`` of ``modules`` as seen by a fresh interpreter."""
    p = run_py(mode, STATUS_AND_FILES % (modules,), build_dir)
    assert p.code == 0, p.err
    result: dict[str, Any] = json.loads(p.out)
    return result


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def compiled_build() -> Path:
    """The real build in ``build/accel`` (``make compile``), usable for the current sources
    as the loader itself decides.

    Missing or stale: a failure under ``CI=true`` (the build is mandatory there), otherwise
    a skip whose reason ``pytest -ra`` prints.
    """
    status = status_and_files("auto", [], BUILD_DIR)["status"]
    if status["active"]:
        return BUILD_DIR
    reason = f"the compiled build cannot be used: {status['reason']}"
    if _ci():
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)
