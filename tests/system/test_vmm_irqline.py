"""``vmm-irqline``: QEMU's INTx path without KVM irqfd (hw/vfio/pci.c ``vfio_intx_interrupt``,
``vfio_intx_eoi``; arch/arm64/kvm/arm.c ``kvm_vm_ioctl_irq_line``)."""

from __future__ import annotations

import pytest

from irqfwd.errors import InputError
from irqfwd.scenarios.builtin import apply_overrides, get_scenario
from irqfwd.system.run import run_scenario


def _run(*sets: str, tracing: bool = False):  # type: ignore[no-untyped-def]
    cfg = apply_overrides(get_scenario("nic-level"), ["devices.0.bus=pci", *sets])
    return run_scenario(cfg, "vmm-irqline", tracing=tracing)


def test_counts_per_interrupt() -> None:
    """Per interrupt: one host interrupt (DisINTx), one main-loop wake-up, two
    ``KVM_IRQ_LINE`` (raise, and the lower in ``vfio_intx_eoi``), the guest's device ack a
    ``DABT_LOW`` exit to the VMM (the BAR unmapped at the first interrupt), the level SPI's
    EOI a maintenance exit with a ``kvm_ack_irq`` nobody listens to, the WFI exit; the
    return to user space is a vcpu_put/vcpu_load pair (the timer saved and restored)."""
    r = _run()
    c = r.recorder.counters
    n = c["guest_irqs_handled"]
    assert n > 150 and r.checker.by_rule() == {}
    assert c["kvm_irq_line"] == 2 * n
    assert c["vmm_main_loop_wakeups"] == n
    assert c["exit:DABT_LOW"] == c["kvm_userspace_exit"] == n
    # the last interrupt's EOI is cut by the teardown; the idle guest takes no tick exit
    assert c["exit:IRQ"] == c["maintenance_irqs"] == c["kvm_ack_irq"] >= n - 1
    assert c["host_irqs"] - c.get("host_ticks", 0) == n
    assert c["vfio_intx_eoi"] == n and c["vfio_mask"] == n
    assert c.get("eventfd_signals", 0) == n and c.get("resamplefd_signals", 0) == 0
    assert c["timer_save"] >= n  # one pair per return to user space, more when blocking
    assert c["vfio_mmap_toggles"] == 1  # the 1.1 s timer never maps the BAR again here


def test_the_bar_is_unmapped_at_the_first_interrupt() -> None:
    """VFIO mmaps the BAR (a stage-2 mapping: the driver's accesses do not exit) until the
    first INTx interrupt, when ``vfio_mmap_set_enabled(false)`` removes the slot so that
    the driver's acknowledgement reaches QEMU (``vfio_region_read`` → ``vfio_intx_eoi``)."""
    from irqfwd.system.build import build_system

    cfg = apply_overrides(get_scenario("nic-level"), ["devices.0.bus=pci", "duration=30us"])
    s = build_system(cfg, "vmm-irqline")
    w = s.devices[0]
    assert w.vmm is not None and w.vmm.mmap_enabled
    assert (w.bar_gpa >> 12) in s.vms[0].stage2_device_pages
    w.trigger.signal()  # as VFIO's handler would
    s.machine.run(5_000)
    assert not w.vmm.mmap_enabled and w.vmm.pending
    assert (w.bar_gpa >> 12) not in s.vms[0].stage2_device_pages
    assert s.recorder.counters["kvm_irq_line"] == 1


def test_slower_than_irqfd_resample() -> None:
    """The baseline a VMM falls back to costs more host CPU and latency than the in-kernel
    irqfd path: the main loop's wake-up and context switches, the ioctls, the BAR exit."""
    base = _run().recorder
    cfg = apply_overrides(get_scenario("nic-level"), ["devices.0.bus=pci"])
    irqfd = run_scenario(cfg, "irqfd-resample").recorder
    assert base.latencies["assert_to_guest_handler"].percentile(50) > irqfd.latencies[
        "assert_to_guest_handler"].percentile(50)
    assert base.counters["sched_switch"] > irqfd.counters["sched_switch"]


def test_edge_devices_are_refused() -> None:
    """QEMU's INTx path is for level interrupts."""
    cfg = apply_overrides(get_scenario("nic-edge"), [])
    with pytest.raises(InputError, match="level-triggered"):
        run_scenario(cfg, "vmm-irqline")


def test_compare_defaults_leave_it_out_for_edge_devices(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """``irqfwd compare`` without --designs runs the default designs the scenario allows
    (no vmm-irqline for an edge device); asking for it by name is an input error (exit 2)."""
    edge = irqfwd("compare", "nic-edge", "--set", "duration=2ms", "--json")
    assert edge.code == 0, edge.err
    assert '"vmm-irqline"' not in edge.out and '"forwarded"' in edge.out
    level = irqfwd("compare", "nic-level", "--set", "duration=2ms", "--json")
    assert level.code == 0 and '"vmm-irqline"' in level.out
    bad = irqfwd("compare", "nic-edge", "--designs", "vmm-irqline,forwarded")
    assert bad.code == 2 and "level-triggered" in bad.err and "Traceback" not in bad.err
