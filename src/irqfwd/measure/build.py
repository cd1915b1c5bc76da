"""Build the measurement harness (``measure/``: the VMM and its guest) with ``make``.

Cross-compiled with Debian's ``aarch64-linux-gnu-gcc`` on other machines; on an arm64
host the native compiler is used (``CROSS=``).  Same conventions as the probe build
(:func:`irqfwd.regs.qemu.build_probe`): incremental, a bounded time, make's output in the
error message.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from irqfwd.errors import InputError

__all__ = ["CROSS_GCC", "QEMU", "Harness", "MeasureToolError", "build_harness", "harness_source_dir",
           "missing_tools", "native_arm64"]

QEMU = "qemu-system-aarch64"
CROSS_GCC = "aarch64-linux-gnu-gcc"


class MeasureToolError(InputError):
    """A tool the measurements need is missing or failed."""


def native_arm64() -> bool:
    """True on an arm64 Linux host with /dev/kvm (the VMM can run directly)."""
    return platform.machine() in ("aarch64", "arm64") and os.path.exists("/dev/kvm")


def missing_tools(native: bool = False) -> list[str]:
    """Host tools the harness needs that are not on PATH."""
    need = ["make"] + (["gcc"] if native else [QEMU, CROSS_GCC])
    return [t for t in need if shutil.which(t) is None]


def harness_source_dir() -> Path:
    """The ``measure/`` directory (``$IRQFWD_MEASURE_DIR`` or the source checkout's)."""
    env = os.environ.get("IRQFWD_MEASURE_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[3] / "measure")
    for c in candidates:
        if (c / "vmm.c").is_file() and (c / "Makefile").is_file():
            return c
    raise MeasureToolError("measurement harness sources not found (looked in "
                           + ", ".join(str(c) for c in candidates)
                           + "); set IRQFWD_MEASURE_DIR to the measure/ directory of an irqfwd checkout")


@dataclass(frozen=True)
class Harness:
    vmm: Path
    guest: Path
    compiler: str


def _compiler_version(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30,
                             check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return cc
    return out.splitlines()[0].strip() if out else cc


def build_harness(build_dir: Path | None = None, native: bool = False) -> Harness:
    """Build ``irqfwd-vmm`` and ``guest.bin`` (incremental) into ``build_dir``."""
    missing = missing_tools(native)
    if missing:
        raise MeasureToolError(
            "irqfwd measure needs " + ", ".join(missing)
            + (" (Debian: apt-get install qemu-system-arm gcc-aarch64-linux-gnu make;"
               " or run scripts/ensure-system-deps.sh)" if not native else ""))
    src = harness_source_dir()
    out = (build_dir if build_dir is not None else src / "build").resolve()
    cmd = ["make", "-s", "-C", str(src), f"BUILD={out}"]
    if native:
        cmd.append("CROSS=")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        raise MeasureToolError("building the measurement harness timed out after 300 s") from None
    if proc.returncode != 0:
        text = (proc.stdout + proc.stderr).strip().splitlines()
        raise MeasureToolError(f"building the measurement harness failed (make exit {proc.returncode}): "
                               + " | ".join(text[-6:]))
    return Harness(out / "irqfwd-vmm", out / "guest.bin",
                   _compiler_version("gcc" if native else CROSS_GCC))
