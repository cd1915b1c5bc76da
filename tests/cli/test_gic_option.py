"""``--gic`` on run/compare: the designs a GIC allows, and clear refusals."""

from __future__ import annotations

import json

import pytest


def test_compare_runs_the_designs_the_gic_allows(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """compare without --designs: an MSI-X scenario on a GICv3 runs its-emulated only
    (gicv4-direct needs the GICv4 its vPEs live in, IHI 0069H §5.4), on its own GICv4
    both; nic-level on a GICv3 runs the five GICv2-era designs."""
    v3 = json.loads(irqfwd("compare", "msix-nic", "--gic", "v3", "--json", "-q").out)
    assert set(v3["designs"]) == {"its-emulated"}
    v4 = json.loads(irqfwd("compare", "msix-nic", "--json", "-q").out)
    assert set(v4["designs"]) == {"its-emulated", "gicv4-direct"}
    nic = json.loads(irqfwd("compare", "nic-level", "--gic", "v3", "--json", "-q").out)
    assert set(nic["designs"]) == {"vmm-irqline", "irqfd-resample", "forwarded", "forwarded-direct",
                                   "sw-deactivate"}


@pytest.mark.parametrize(("args", "message"), [
    (("run", "msix-nic", "--design", "gicv4-direct", "--gic", "v3"), "needs a GICv4 (the scenario has GICv3)"),
    (("run", "ipi-vsgi", "--design", "gicv41-vsgi", "--gic", "v4"), "needs a GICv4.1"),
    (("run", "nic-level", "--design", "its-emulated"), "needs a GICv3"),
    (("run", "msix-nic", "--design", "vmm-irqline"), "has no INTx line"),
    (("run", "msix-nic", "--gic", "v2"), "--gic v2"),
    (("run", "nic-level", "--gic", "v5"), "unknown GIC"),
])
def test_bad_gic_input_exits_2(irqfwd, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    """A design its GIC cannot run, an MSI-X device without an ITS, an unknown GIC: one
    line naming the problem, exit 2, no traceback."""
    res = irqfwd(*args, "-q")
    assert res.code == 2, res.out
    assert message in res.err
    assert "Traceback" not in res.err + res.out
