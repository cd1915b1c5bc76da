"""Fixtures of the QEMU differential tests.

The tests need ``qemu-system-aarch64`` (QEMU 7.2, Debian package qemu-system-arm) and
``aarch64-linux-gnu-gcc`` (gcc-aarch64-linux-gnu), installed by scripts/ensure-system-deps.sh
through ``make test``.  When they are missing the tests are skipped with the reason — except
under ``CI=true``, where a missing tool is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from irqfwd.regs.qemu import QemuTarget, build_probe, missing_tools


def _require_tools() -> None:
    missing = missing_tools()
    if not missing:
        return
    reason = ("QEMU differential tests need " + ", ".join(missing)
              + " (apt-get install qemu-system-arm gcc-aarch64-linux-gnu; "
                "see scripts/ensure-system-deps.sh)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " — mandatory under CI=true", pytrace=False)
    print(f"\nSKIP: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def qemu_tools() -> None:
    """Fail (CI=true) or skip when qemu-system-aarch64 / aarch64-linux-gnu-gcc are missing;
    otherwise build the probe once."""
    _require_tools()
    build_probe()


@pytest.fixture(scope="session")
def qemu(qemu_tools: None) -> Iterator[QemuTarget]:
    """One QEMU (virt, GICv2, 2 CPUs) for the whole session; every run() starts from reset."""
    with QemuTarget(num_cpus=2, timeout=60.0) as q:
        yield q


@pytest.fixture(scope="session")
def qemu_up(qemu_tools: None) -> Iterator[QemuTarget]:
    """A uniprocessor QEMU (-smp 1): the GIC then has one CPU interface (D8, D23 differ)."""
    with QemuTarget(num_cpus=1, timeout=60.0) as q:
        yield q


@pytest.fixture(scope="session")
def qemu_v3(qemu_tools: None) -> Iterator[QemuTarget]:
    """One QEMU (virt, gic-version=3, 2 CPUs) for the whole session."""
    with QemuTarget(num_cpus=2, timeout=60.0, gic_version=3) as q:
        yield q


@pytest.fixture(scope="session")
def qemu_v4(qemu_tools: None) -> Iterator[QemuTarget]:
    """One QEMU (virt, gic-version=4, 2 CPUs) for the whole session."""
    with QemuTarget(num_cpus=2, timeout=60.0, gic_version=4) as q:
        yield q
