"""Per-interrupt counts of each delivery design, derived from the design's semantics.

Scenario: one level (or edge) NIC on SPI 48, 1 pCPU / 1 VM / 1 vCPU, periodic traffic slow
enough that interrupts never overlap (20 kHz, a handler of ~1 µs).  ``run_scenario`` kills
the VM inside the guest handler of the first interrupt after ``duration_ns`` (teardown with
an active interrupt), so that last interrupt gets no EOI: the formulas below account for
it with ``N - 1`` where the EOI matters.
"""

from __future__ import annotations

from collections import Counter

import pytest

from irqfwd.cli.errors import InputError
from irqfwd.config import DeviceConfig, ScenarioConfig, TrafficConfig
from irqfwd.scenarios.builtin import apply_overrides, get_scenario
from irqfwd.sim.costs import load_profile
from irqfwd.system.designs import DESIGNS
from irqfwd.system.run import run_scenario


def _cfg(trigger: str = "level", duration: int = 2_000_000, **dev: object) -> ScenarioConfig:
    return ScenarioConfig(
        name="t", duration_ns=duration,
        devices=[DeviceConfig(trigger=trigger, traffic=TrafficConfig(rate_hz=20_000), **dev)],  # type: ignore[arg-type]
    )


def _run(design: str, **kw: object) -> Counter[str]:
    r = run_scenario(_cfg(**kw), design)  # type: ignore[arg-type]
    return r.recorder.counters


def test_forwarded_level_one_exit_per_interrupt_no_maintenance_no_mask() -> None:
    """``vgic_v2_populate_lr`` (HW=1, no EOI bit): a HW-forwarded SPI costs one exit per
    interrupt, no EOI maintenance interrupt and no host mask/unmask; the guest's EOI
    deactivates the physical irq (HW=1 LR) for every interrupt but the one killed at
    teardown, which the host's teardown mask deactivates (gic_eoimode1_mask_irq)."""
    c = _run("forwarded")
    n = c["guest_irqs_handled"]
    assert n == c["device_irqs_raised"] > 30
    assert c["maintenance_irqs"] == 0
    assert c["vfio_mask"] == c["vfio_unmask"] == 0
    assert c["exits_total"] == n
    assert c["host_irqs"] == n
    assert c["eventfd_signals"] == n
    assert c["phys_deactivate_guest"] == n - 1
    assert c["phys_deactivate_host"] == 1
    assert c["lr_spills"] == 0


def test_irqfd_resample_level_counts() -> None:
    """vfio_platform_irq.c + virt/kvm/eventfd.c: VFIO automask + resamplefd: one mask per
    interrupt, one EOI maintenance exit + ack notifier + resamplefd + unmask per guest EOI;
    2 exits per interrupt.  VFIO's disable_irq_nosync is lazy on the GIC (no irq_disable
    callback), so the still-high line fires once more and is masked by handle_fasteoi_irq:
    2 host IRQs."""
    c = _run("irqfd-resample")
    n = c["guest_irqs_handled"]
    assert n == c["device_irqs_raised"] > 30
    assert c["vfio_mask"] == n
    assert c["maintenance_irqs"] == c["resamplefd_signals"] == n - 1
    assert c["vfio_unmask"] == n  # n - 1 resamplefd unmasks + the VMM's unmask at teardown
    assert c["exits_total"] == 2 * n - 1
    assert c["exit:IRQ"] == n and c["exit:WFx"] == n - 1
    assert c["host_irqs"] == 2 * n
    assert c["eventfd_signals"] == n + c["resamplefd_signals"]
    assert c["phys_deactivate_guest"] == 0
    assert c["phys_deactivate_host"] == c["host_irqs"]


def test_forwarded_direct_skips_eventfd() -> None:
    """Eric Auger's unmerged "KVM-VFIO IRQ forward control" series (2014–2015), "inject
    straight from the VFIO ISR": irqbypass producer → consumer, no eventfd signal, otherwise
    the forwarded counts."""
    c = _run("forwarded-direct")
    n = c["guest_irqs_handled"]
    assert n == c["device_irqs_raised"] > 30
    assert c["eventfd_signals"] == 0
    assert c["exits_total"] == n
    assert c["maintenance_irqs"] == 0
    assert c["phys_deactivate_guest"] == n - 1


@pytest.mark.parametrize("kernel", ["5.8", "current"])
def test_forwarded_direct_saves_the_eventfd_and_on_5_8_the_kworker(kernel: str) -> None:
    """Direct injection from the hard-irq handler skips the eventfd.  On a 5.8 host irqfd
    SPI injection is ``irqfd_inject`` on the signalling CPU's kworker, which must be switched
    in after the host IRQ (and the vCPU thread back): the saving on assert → guest handler
    latency is at least that kworker run and one context switch.  Since v5.9
    ``kvm_arch_set_irq_inatomic`` injects SPIs from ``irqfd_wakeup`` itself, so the saving
    shrinks to the eventfd signal and the injection call."""
    from irqfwd.config import HostConfig

    costs = load_profile("altra")
    lat = {}
    for d in ("forwarded", "forwarded-direct"):
        r = run_scenario(_cfg().model_copy(update={"host": HostConfig(kernel=kernel)}), d)
        lat[d] = r.recorder.latencies["assert_to_guest_handler"].percentile(50)
    saving = lat["forwarded"] - lat["forwarded-direct"]
    hop = costs.kworker_work_ns + costs.sched_switch_ns
    if kernel == "5.8":
        assert saving >= hop
    else:
        assert costs.eventfd_signal_ns <= saving < hop


def test_sw_deactivate_one_extra_exit_and_host_deactivation() -> None:
    """``VGIC_IRQ_SW_RESAMPLE`` (Apple M1, Linux 5.14): without HW deactivation the LR has
    no HW bit but the EOI bit, so each guest EOI costs a maintenance exit and KVM
    deactivates the physical irq at fold (irq_set_irqchip_state ACTIVE=false); no VFIO
    mask/unmask."""
    c = _run("sw-deactivate")
    n = c["guest_irqs_handled"]
    assert n == c["device_irqs_raised"] > 30
    assert c["maintenance_irqs"] == n - 1
    assert c["exits_total"] == 2 * n - 1
    assert c["vfio_mask"] == c["vfio_unmask"] == 0
    assert c["phys_deactivate_guest"] == 0
    assert c["phys_deactivate_host"] == c["host_irqs"] == n


def test_edge_irqfd_resample_design_uses_plain_irqfd() -> None:
    """``vfio_irq_handler``: edge VFIO IRQs only signal (no automask); a non-resample irqfd
    pulse is latched by an edge vgic irq; edge LRs have no EOI bit: one exit per interrupt."""
    c = _run("irqfd-resample", trigger="edge")
    n = c["guest_irqs_handled"]
    assert n == c["device_irqs_raised"] > 30
    assert c["vfio_mask"] == 0 and c["maintenance_irqs"] == 0
    assert c["exits_total"] == n
    assert c["host_irqs"] == n


def test_fault_level_no_eoi_bit() -> None:
    """Without LR.EOI there is no maintenance interrupt, no ack notifier, no resample: the
    VFIO line stays masked after the first interrupt (no host IRQ ever again) and the GSI
    stays asserted, so the vgic re-delivers it over and over."""
    c = _run("fault-level-no-eoi-bit")
    assert c["maintenance_irqs"] == 0
    assert c["resamplefd_signals"] == 0
    assert c["vfio_mask"] == 1
    assert c["host_irqs"] <= 2
    assert c["guest_irqs_handled"] > 5 * c["device_irqs_raised"]


def test_fault_early_unmask_refires_the_level_line() -> None:
    """VFIO unmasking (on a kworker) before the guest EOI lets the still-asserted line fire
    again on the host at once, and that IRQ queues the unmask again: the kworker and the
    host IRQ keep the pCPU until the scheduler tick preempts the kworker (its slice used up,
    ``task_tick_fair``) and the vCPU finally handles the device: an order of magnitude more
    host IRQs, and the guest serves about one interrupt per host tick."""
    cfg = _cfg(duration=20_000_000)
    good = run_scenario(cfg, "irqfd-resample").recorder.counters
    bad = run_scenario(cfg, "fault-early-unmask").recorder.counters
    assert bad["host_irqs"] > 10 * good["host_irqs"]
    assert bad["vfio_mask"] > 10 * bad["guest_irqs_handled"]
    assert bad["eventfd_signals"] - bad["resamplefd_signals"] > bad["guest_irqs_handled"]
    assert bad["guest_irqs_handled"] <= bad["host_ticks"] + 1 < good["guest_irqs_handled"]
    assert bad["sched_tick_preempt"] >= bad["guest_irqs_handled"] - 1


def test_fault_no_teardown_deactivate_leaves_the_irq_active() -> None:
    """``gic_eoimode1_mask_irq``: a forwarded irq active at teardown must be deactivated by
    the host's mask path; un-forwarding it first leaves it Active on the physical GIC."""
    good = run_scenario(_cfg(), "forwarded")
    bad = run_scenario(_cfg(), "fault-no-teardown-deactivate")
    assert good.system is not None and bad.system is not None
    assert not good.system.gic.dist.is_active(48)
    assert bad.system.gic.dist.is_active(48)
    assert bad.recorder.counters["teardown_stuck_active"] == 1
    assert good.recorder.counters["teardown_stuck_active"] == 0


def _hw_lrs(r, state: int) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    """(time, vINTID) of every GICH_LRn written with HW=1 and this State (``gic_lr_entry``)."""
    return [(t, f["value"] & 0x3FF) for t, name, f in r.recorder.trace
            if name == "gic_lr_entry" and f["value"] >> 31 and (f["value"] >> 28) & 3 == state]


def test_fault_hw_lr_pending_active_writes_pa_hw_lrs() -> None:
    """``vgic_v2_populate_lr`` ("Never set pending+active on a HW interrupt", 3d6e77ad1489):
    when ``kvm_timer_vcpu_load_gic`` raises the level of a vINTID 27 the guest holds active
    (a vCPU put between its GICV_IAR and its CNTV_CTL write), ``forwarded`` writes the LR
    Active only and keeps the level in the vgic; the fault writes it Pending+Active, and the
    guest's EOI then leaves a pending LR behind: the guest handler runs once more with
    ISTATUS clear (``guest_timer_spurious``)."""
    cfg = apply_overrides(get_scenario("vtimer-migrate"),
                          ["vms.0.timer.mode=oneshot", "vms.0.timer.oneshot_max_ns=100000"])
    good = run_scenario(cfg, "forwarded", tracing=True)
    bad = run_scenario(cfg, "fault-hw-lr-pending-active", tracing=True)
    assert _hw_lrs(good, 3) == []
    pa = _hw_lrs(bad, 3)
    assert pa and {v for _, v in pa} == {27}
    assert bad.recorder.counters["guest_timer_spurious"] == len(pa)
    assert good.recorder.counters["guest_timer_spurious"] == 0


def test_fault_hw_retained_level_reinjects_after_hw_deactivation() -> None:
    """``vgic_v2_populate_lr`` lowers a mapped level irq's ``line_level`` once it is queued
    (e40cc57bac79) and ``vgic_irq_handle_resampling`` re-samples it when the guest
    deactivates an irq that entered pending+active (3134cc8beb69).  Without both, the level
    the asserting-only irqfd raised stays set: after each guest EOI (a HW deactivation of
    the physical SPI) the vgic writes vINTID 48 into a HW=1 LR again, pending, over an
    inactive physical INTID, and the guest's handler runs for nothing (the NIC de-asserted)."""
    good = run_scenario(_cfg(), "forwarded", tracing=True)
    bad = run_scenario(_cfg(), "fault-hw-retained-level", tracing=True)
    g, b = good.recorder.counters, bad.recorder.counters
    assert g["guest_irqs_handled"] == g["device_irqs_raised"]
    assert b["guest_irqs_handled"] > 10 * b["device_irqs_raised"]
    assert len(_hw_lrs(bad, 1)) > 10 * len(_hw_lrs(good, 1))
    assert set(bad.checker.by_rule()) == {"hw-lr-phys-inactive", "level-storm"}


def test_fault_timer_clear_active_leaves_an_active_hw_lr_over_an_inactive_ppi() -> None:
    """``kvm_timer_vcpu_load_gic`` sets PPI 27 Active when the vINTID is active
    (``kvm_vgic_map_is_active``) or the output is asserted (0e3dfda91d9f); the fault uses the
    output alone, so a vCPU put inside its timer handler after masking the timer is loaded
    with an Active HW=1 LR over an inactive PPI."""
    cfg = get_scenario("vtimer-migrate")
    good = run_scenario(cfg, "forwarded", tracing=True)
    bad = run_scenario(cfg, "fault-timer-clear-active", tracing=True)
    assert good.recorder.counters["timer_put_active"] == bad.recorder.counters["timer_put_active"] > 0
    assert good.checker.violations == []
    assert {v.rule for v in bad.checker.violations} == {"hw-lr-phys-inactive"}
    assert all("State=active" in v.message and v.intid == 27 for v in bad.checker.violations)
    # The timer keeps working: every tick still reaches its guest.
    assert bad.recorder.counters["guest_timer_irqs"] == good.recorder.counters["guest_timer_irqs"]


def test_forwarding_needs_eoimode1() -> None:
    """``gic_check_eoimode``: without EL2 the GIC driver stays in EOImode 0 (gic_chip, no
    irq_set_vcpu_affinity): forwarded designs are refused with a clear input error."""
    cfg = _cfg().model_copy(update={"host_at_el2": False})
    with pytest.raises(InputError, match="EOImode 1"):
        run_scenario(cfg, "forwarded")
    r = run_scenario(cfg, "irqfd-resample")
    assert r.recorder.counters["guest_irqs_handled"] > 30


def test_unknown_design_is_an_input_error() -> None:
    """Bad user input names the problem and the choices."""
    with pytest.raises(InputError, match="forwarded-direct"):
        run_scenario(_cfg(), "no-such-design")


@pytest.mark.parametrize("design", list(DESIGNS))
def test_determinism_same_seed_same_results(design: str) -> None:
    """Same scenario + seed → identical counters and latency statistics (engine.rng only)."""
    cfg = ScenarioConfig(name="d", duration_ns=1_000_000, seed=7,
                         devices=[DeviceConfig(traffic=TrafficConfig(pattern="poisson", rate_hz=50_000))])
    a = run_scenario(cfg, design)
    b = run_scenario(cfg, design)
    assert a.recorder.counters == b.recorder.counters
    assert {k: (v.counts, v.summary()) for k, v in a.recorder.latencies.items()} == \
        {k: (v.counts, v.summary()) for k, v in b.recorder.latencies.items()}
    assert a.sim_time_ns == b.sim_time_ns


@pytest.mark.parametrize("design", ["irqfd-resample", "forwarded", "forwarded-direct", "sw-deactivate"])
def test_edge_device_every_main_design_delivers_everything(design: str) -> None:
    """An edge NIC is served under every main design: one guest handler per raise, no
    invariant violation (sw-deactivate deactivates the physical edge irq at fold)."""
    r = run_scenario(_cfg(trigger="edge"), design)
    c = r.recorder.counters
    assert c["guest_irqs_handled"] == c["device_irqs_raised"] > 30
    assert r.checker.by_rule() == {}


@pytest.mark.parametrize("eoimode", [0, 1])
@pytest.mark.parametrize("kernel", ["6.1", "current"])
def test_guest_eoimode_and_gicv_dir_trapping(eoimode: int, kernel: str) -> None:
    """Guest EOImode 1 (IHI 0048B §5.3.8, GICH_LR.HW): GICV_EOIR drops priority, GICV_DIR deactivates; with
    a HW LR the DIR deactivates the physical irq.  Up to 6.18 the GICV_DIR page is mapped
    into the guest, so the counts equal EOImode 0's; since "KVM: arm64: GICv2: Always trap
    GICV_DIR register" (2025) every DIR is a DABT_LOW exit emulated by KVM."""
    from irqfwd.config import GuestConfig, HostConfig

    cfg = _cfg().model_copy(update={"guest": GuestConfig(eoimode=eoimode),  # type: ignore[arg-type]
                                    "host": HostConfig(kernel=kernel)})
    r = run_scenario(cfg, "forwarded")
    c = r.recorder.counters
    n = c["guest_irqs_handled"]
    assert n > 30 and c["phys_deactivate_guest"] + c["phys_deactivate_host"] >= n - 1
    dirs = c.get("dir_trapped", 0)
    if eoimode == 1 and kernel == "current":
        assert dirs >= n - 1
        assert c["exits_total"] == n + dirs
    else:
        assert dirs == 0
        assert c["exits_total"] == n and c["phys_deactivate_guest"] == n - 1
    assert r.checker.by_rule() == {}


def test_threaded_oneshot_guest_handler_costs_two_trapped_mmio_exits() -> None:
    """A oneshot threaded guest handler masks its vINTID (GICD_ICENABLER) before the hard
    handler and unmasks it (GICD_ISENABLER) after the thread: both are trapped distributor
    writes, i.e. two DABT_LOW exits per interrupt on top of the design's own."""
    c = _run("forwarded", threaded=True)
    n = c["guest_irqs_handled"]
    assert c["exit:DABT_LOW"] == 2 * (n - 1) + 1  # the killed last one only masked
    assert c["exit:WFx"] == n - 1


def test_napi_polls_a_burst_with_one_interrupt() -> None:
    """NAPI: the handler disables device interrupts and polls; a burst of 16 events 200 ns
    apart is served by far fewer interrupts than events."""
    cfg = ScenarioConfig(name="napi", duration_ns=2_000_000, devices=[DeviceConfig(
        napi=True, traffic=TrafficConfig(pattern="burst", rate_hz=160_000, burst_size=16, burst_gap_ns=200))])
    r = run_scenario(cfg, "forwarded")
    assert r.system is not None
    nic = r.system.devices[0].nic
    c = r.recorder.counters
    assert nic.events_handled >= nic.events - 16
    assert c["guest_irqs_handled"] * 4 < nic.events
