"""VFIO PCI INTx (drivers/vfio/pci/vfio_pci_intrs.c) beside VFIO platform IRQs, and the PCI
core's DisINTx masking (drivers/pci/pci.c ``pci_check_and_set_intx_mask``)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from irqfwd.config import DeviceConfig
from irqfwd.devices.nic import PCI_COMMAND, PCI_COMMAND_INTX_DISABLE
from irqfwd.host.pci import pci_check_and_mask_intx, pci_check_and_unmask_intx
from irqfwd.host.vfio import VfioPciIntx
from irqfwd.scenarios.builtin import apply_overrides, get_scenario
from irqfwd.system.build import build_system
from irqfwd.system.run import run_scenario


def _counters(design: str, bus: str) -> dict[str, int]:
    cfg = apply_overrides(get_scenario("nic-level"), [f"devices.0.bus={bus}"])
    r = run_scenario(cfg, design)
    assert r.checker.by_rule() == {}
    return dict(r.recorder.counters)


def test_disintx_masks_at_the_device_so_the_line_does_not_refire() -> None:
    """``vfio_intx_handler`` → ``pci_check_and_mask_intx``: the device's pin drops at once,
    one host interrupt per device interrupt; VFIO platform's ``disable_irq_nosync`` is lazy,
    so its still-asserted line fires once more before the flow handler masks it."""
    pci = _counters("irqfd-resample", "pci")
    plat = _counters("irqfd-resample", "platform")
    n = pci["guest_irqs_handled"]
    assert n > 150 and plat["guest_irqs_handled"] == n
    assert pci["host_irqs"] - pci.get("host_ticks", 0) == n
    assert plat["host_irqs"] - plat.get("host_ticks", 0) == 2 * n
    assert pci["vfio_mask"] == pci["vfio_unmask"] == n  # the last unmask at teardown


def test_pci_check_and_set_intx_mask_follows_the_status_bit() -> None:
    """Mask only an interrupting device, unmask only a quiet one (else the caller learns
    the interrupt is still pending); each configuration access is charged."""
    s = build_system(apply_overrides(get_scenario("nic-level"), ["devices.0.bus=pci"]), "irqfd-resample")
    nic = s.devices[0].nic
    m = s.machine
    m.acc = 0
    assert not pci_check_and_mask_intx(m, nic)  # not interrupting: IRQ_NONE
    assert m.acc == m.costs.pci_cfg_access_ns
    nic.pending = 1
    nic._maybe_raise()
    assert nic.line
    assert pci_check_and_mask_intx(m, nic)
    assert not nic.line and nic.asserted
    assert nic.config_read(PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE
    assert not pci_check_and_unmask_intx(m, nic)  # still pending: stays masked
    nic.ack()
    assert pci_check_and_unmask_intx(m, nic)
    assert not nic.config_read(PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE


def test_unmask_with_the_device_still_asserting_sends_the_interrupt_again() -> None:
    """``vfio_pci_intx_unmask_handler`` returns 1 when ``pci_check_and_unmask_intx`` finds
    the interrupt pending: INTx stays masked and ``vfio_send_intx_eventfd`` signals the
    trigger again (from the ioctl at once, from the virqfd through its work)."""
    s = build_system(apply_overrides(get_scenario("nic-level"), ["devices.0.bus=pci"]), "irqfd-resample")
    w = s.devices[0]
    vfio = w.vfio
    assert isinstance(vfio, VfioPciIntx)
    nic = w.nic
    nic.pending = 1
    nic._maybe_raise()
    assert pci_check_and_mask_intx(s.machine, nic)
    vfio.masked = True
    signals = s.recorder.counters.get("eventfd_signals", 0)
    vfio.ioctl_unmask()
    assert vfio.masked and s.recorder.counters["eventfd_signals"] == signals + 1
    assert s.recorder.counters["vfio_intx_resend"] == 1


def test_pci_intx_is_level_only() -> None:
    """A PCI device's edge interrupts are MSIs: ``bus = "pci"`` with an edge trigger is
    refused, naming the field."""
    with pytest.raises(ValidationError, match="level-triggered"):
        DeviceConfig(bus="pci", trigger="edge")


@pytest.mark.parametrize("design", ["forwarded", "forwarded-direct", "sw-deactivate"])
def test_forwarded_designs_never_mask_pci_intx(design: str) -> None:
    """Forwarded, the GIC's active state masks the line: VFIO leaves DisINTx alone."""
    c = _counters(design, "pci")
    assert c["guest_irqs_handled"] > 150 and c.get("vfio_mask", 0) == 0
