"""Fixtures of the measurement tests.

Most tests here parse, reduce, pack and validate without QEMU.  The boot tests (marker
``kvm_boot``) boot Debian's arm64 kernel under QEMU with the VMM as /init; they need
``qemu-system-aarch64``, ``aarch64-linux-gnu-gcc`` and the kernel fetched by
scripts/ensure-system-deps.sh.  Missing, they are skipped with the reason, except under
``CI=true`` where that is a failure: a harness that stops measuring must fail the tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from irqfwd.measure.build import Harness, build_harness, missing_tools
from irqfwd.measure.kernel import Kernel, KernelMissing, find_kernel
from irqfwd.measure.protocol import BootOutput, parse_output

DATA = Path(__file__).parent / "data"


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " — mandatory under CI=true", pytrace=False)
    print(f"\nSKIP: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def boot_kernel() -> Kernel:
    """The arm64 kernel (fail under CI=true, else skip, when it or the tools are missing)."""
    missing = missing_tools()
    if missing:
        _skip_or_fail("the KVM boot tests need " + ", ".join(missing)
                      + " (apt-get install qemu-system-arm gcc-aarch64-linux-gnu; "
                        "see scripts/ensure-system-deps.sh)")
    try:
        return find_kernel()
    except KernelMissing as exc:
        _skip_or_fail(str(exc))
        raise


@pytest.fixture(scope="session")
def harness(boot_kernel: Kernel, tmp_path_factory: pytest.TempPathFactory) -> Harness:
    return build_harness(tmp_path_factory.mktemp("measure-build"))


@pytest.fixture(scope="session")
def recorded() -> BootOutput:
    """A real transcript: GICv3/VHE, Linux 6.12, all five experiments, N=20, one repetition."""
    return parse_output((DATA / "gicv3-vhe-n20.log").read_text())
