"""Per-interrupt counts of the GICv3/v4 designs (issue #10): what each delivery costs in
exits, host interrupts, doorbells and maintenance interrupts, counted in full systems
(host GICv3 driver and ITS driver, KVM's vgic-v3/vITS/vgic-v4, VFIO MSI-X, irqfd,
irqbypass, the guest's GICv3 and ITS driver).

The counts per interrupt are taken as differences between two runs of different length
(the same boot, twice the traffic), so the boot's exits and mappings cancel out."""

from __future__ import annotations

from itertools import pairwise

import pytest

from irqfwd.check.invariants import InvariantChecker
from irqfwd.config import ScenarioConfig
from irqfwd.scenarios.builtin import get_scenario
from irqfwd.system.build import System, build_system
from irqfwd.system.msi import start_msix
from irqfwd.system.run import run_scenario, with_gic

MS = 1_000_000


def _counters(scenario: str | ScenarioConfig, design: str, duration_ns: int) -> dict[str, int]:
    config = get_scenario(scenario) if isinstance(scenario, str) else scenario
    config = config.model_copy(update={"duration_ns": duration_ns})
    result = run_scenario(config, design)
    assert result.checker.violations == []
    return dict(result.recorder.counters)


def _per_irq(scenario: str | ScenarioConfig, design: str) -> dict[str, float]:
    """Counters per guest interrupt handled between a 10 ms and a 20 ms run."""
    a = _counters(scenario, design, 10 * MS)
    b = _counters(scenario, design, 20 * MS)
    handled = b["guest_irqs_handled"] - a["guest_irqs_handled"]
    assert handled >= 150, handled
    keys = set(a) | set(b)
    return {k: (b[k] - a[k]) / handled for k in keys} | {"handled": float(handled)}


def test_gicv4_direct_resident_vpe_has_no_exit_and_no_host_interrupt() -> None:
    """GICv4 direct injection to a resident vPE (IHI 0069H §5.4.1: the redistributor
    delivers the vLPI to the vPE scheduled with GICR_VPENDBASER.Valid = 1; Linux
    ``kvm_vgic_v4_set_forwarding`` → ``its_map_vlpi`` through irqbypass): per interrupt
    0 exits, 0 host interrupts, 0 doorbells, 0 eventfd signals.  The vCPUs run alone on
    their pCPUs, so KVM leaves WFI untrapped (``kvm_vcpu_should_clear_twi``, ef2e78ddadbb)
    and the vPE stays resident through the guest's idle."""
    per = _per_irq("msix-nic", "gicv4-direct")
    for key in ("exits_total", "host_irqs", "gicv4_doorbells", "eventfd_signals",
                "maintenance_irqs", "irqfd_inject_inatomic", "irqfd_inject_work"):
        assert per.get(key, 0.0) == 0.0, (key, per.get(key))
    assert per["msi_writes"] >= 1.0  # every handled interrupt was a device MSI


def test_gicv4_blocked_vpe_gets_one_doorbell_per_wakeup() -> None:
    """A vCPU blocked in WFI (WFI trapped: ``wfi_trap_policy = trap``) is descheduled, its
    vPE not resident; the vLPI rings the vPE's doorbell (IHI 0069H §5.4.2 GICR_VPENDBASER
    PendingLast, the default doorbell of GICv4.0: ``vgic_v4_put(need_db)``), whose host
    handler ``vgic_v4_doorbell_handler`` kicks the vCPU: exactly one doorbell, one host
    interrupt and one wake-up per interrupt, no maintenance interrupt and no eventfd."""
    per = _per_irq("msix-blocked", "gicv4-direct")
    assert per["gicv4_doorbells"] == pytest.approx(1.0)
    assert per["vcpu_wakeups"] == pytest.approx(per["gicv4_doorbells"])
    assert per["host_irqs"] == pytest.approx(per["gicv4_doorbells"])
    assert per.get("eventfd_signals", 0.0) == 0.0
    assert per.get("maintenance_irqs", 0.0) == 0.0
    assert per["exit:WFx"] == pytest.approx(1.0)  # the WFI that blocked it, once per wake-up


def test_its_emulated_takes_the_irqfd_path_without_maintenance() -> None:
    """Without GICv4 an MSI goes VFIO → eventfd → irqfd → KVM's emulated ITS: ``irqfd_wakeup``
    → ``kvm_arch_set_irq_inatomic`` → ``vgic_its_inject_cached_translation`` (a hit injects
    in the signaller's context), the LPI in a list register.  An LPI is edge: the LR has no
    EOI bit (``vgic_v3_populate_lr`` sets ICH_LR_EOI only for a level irq), so no
    maintenance interrupt.  Per interrupt: one host interrupt, one eventfd signal, one
    in-atomic injection from the translation cache, no maintenance interrupt."""
    per = _per_irq("msix-nic", "its-emulated")
    assert per["host_irqs"] == pytest.approx(per["msi_writes"])
    assert per["eventfd_signals"] == pytest.approx(per["msi_writes"])
    injections = per["irqfd_inject_inatomic"] + per.get("irqfd_inject_work", 0.0)
    assert injections == pytest.approx(per["eventfd_signals"])
    assert per["its_cache_hit"] == pytest.approx(per["irqfd_inject_inatomic"])
    assert per.get("its_cache_miss", 0.0) == 0.0  # the boot's misses filled the cache
    assert per.get("maintenance_irqs", 0.0) == 0.0
    assert per.get("gicv4_doorbells", 0.0) == 0.0
    assert per["host_irqs"] >= 1.0


def test_forwarded_on_gicv3_counts_as_on_gicv2() -> None:
    """The GICv2-era ``forwarded`` design on a GICv3 host (EOImode 1: ICC_EOIR1_EL1 drops
    the priority, the guest's ICV_EOIR1_EL1 deactivates the physical SPI through the
    ICH_LR<n>_EL2.HW bit, IHI 0069H §8.4.5): per interrupt one host interrupt and one
    guest deactivation of the physical SPI, no maintenance interrupt, no VFIO unmask:
    the same counts as on the GICv2 (GICH_LR.HW, IHI 0048B §5.3.8)."""
    v3 = _per_irq(with_gic(get_scenario("nic-level"), "v3"), "forwarded")
    v2 = _per_irq("nic-level", "forwarded")
    assert v3["phys_deactivate_guest"] == pytest.approx(1.0, abs=0.02)
    assert v3.get("maintenance_irqs", 0.0) == 0.0
    assert v3.get("vfio_unmask", 0.0) == 0.0
    for key in ("host_irqs", "exits_total", "phys_deactivate_guest", "phys_deactivate_host",
                "maintenance_irqs", "vfio_unmask", "eventfd_signals"):
        assert v3.get(key, 0.0) == pytest.approx(v2.get(key, 0.0), abs=0.02), key


def _vpe_cpus(system: System) -> list[int]:
    vm = system.vms[0].its_vm
    assert vm is not None
    return [vpe.col_idx for vpe in vm.vpes]


def test_no_vlpi_lost_while_the_vpe_moves_between_redistributors() -> None:
    """msix-migrate under gicv4-direct: the vCPU migrates between two pCPUs every 97 µs, so
    KVM moves its vPE with VMOVP (``its_vpe_set_affinity``, IHI 0069H §6.3 VMOVP) and makes it
    resident on the new redistributor (``its_make_vpe_resident``) while MSIs keep coming.
    After the traffic stops and the system drains (the vCPU still migrating), no device
    event is left waiting: every
    vLPI made pending on either redistributor was delivered (vLPIs coalesce while
    pending, the handler reads all the queue's events)."""
    config = get_scenario("msix-migrate").model_copy(update={"duration_ns": 5 * MS})
    system = build_system(config, "gicv4-direct")
    checker = InvariantChecker(system.recorder, "gicv4-direct")
    engine = system.engine
    end = config.duration_ns
    for mw in system.msi_devices:
        start_msix(mw, engine.rng, end)
    system.host.sched.start_migration()
    seen: list[tuple[int, ...]] = []

    def sample() -> None:
        seen.append(tuple(_vpe_cpus(system)))
        if engine.now < end:
            engine.schedule(10_000, sample)

    engine.schedule(10_000, sample)
    system.machine.run(end)
    system.machine.run(end + 2 * MS)
    moves = sum(1 for x, y in pairwise(seen) if x != y)
    assert moves >= 20, moves
    c = system.recorder.counters
    queues = [q for mw in system.msi_devices for q in mw.nic.queues]
    assert c["msi_writes"] > 300
    assert [q.pending for q in queues] == [0] * len(queues), "device events left without a vLPI"
    assert c["guest_irqs_handled"] >= c["msi_writes"] * 0.9  # coalesced ones are served in bulk
    assert c.get("host_irqs", 0) <= 4  # the boot's; no vLPI fell back to the host
    assert checker.finish(engine.now) == []


def test_gicv41_vsgi_is_not_queued_in_a_list_register() -> None:
    """GICv4.1 vSGIs (``gicv41-vsgi``, the guest sets GICD_CTLR.nASSGIreq,
    ``vgic_v4_enable_vsgis``): the sender's ICC_SGI1R_EL1 still traps (one SYS64 exit per
    IPI, ``vgic_v3_dispatch_sgi``) but KVM forwards it with a GITS_SGIR write
    (``its_sgi_set_irqchip_state``, IHI 0069H §12.19.9): the receiver takes it with no
    exit; against ``gicv4-direct`` on the same GICv4.1, where the SGI goes through the
    receiver's list registers (its idle WFI exit included)."""
    direct = _per_irq("ipi-vsgi", "gicv41-vsgi")
    emulated = _per_irq("ipi-vsgi", "gicv4-direct")
    assert direct["exit:SYS64"] == pytest.approx(1.0)
    assert direct["exits_total"] == pytest.approx(1.0)
    assert emulated["exit:SYS64"] == pytest.approx(1.0)
    assert emulated["exits_total"] > 1.5
    for per in (direct, emulated):
        assert per.get("host_irqs", 0.0) == 0.0
        assert per.get("maintenance_irqs", 0.0) == 0.0

