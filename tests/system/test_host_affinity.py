"""``DeviceConfig.host_cpu``: a NIC's host SPI routed to a chosen pCPU at set-up time, an
MSI-X NIC's host LPIs once its vectors exist (``irq_set_affinity``, what
``echo N > /proc/irq/IRQ/smp_affinity_list`` does), end to end.

Where the host takes an interrupt is read from the ``irq_handler_entry`` events the host
GIC driver records (its ``cpu`` field), as ``trace-cmd`` would show it.
"""

from __future__ import annotations

from collections import Counter

import pytest

from irqfwd.config import DeviceConfig, ScenarioConfig, TrafficConfig, VMConfig
from irqfwd.errors import InputError
from irqfwd.host.genirq import EINVAL
from irqfwd.system.build import build_system
from irqfwd.system.designs import MSI_DESIGNS, default_designs
from irqfwd.system.run import RunResult, run_scenario

INTID = 48


def _cfg(host_cpu: int | None, gic: str = "v2", pcpus: int = 2) -> ScenarioConfig:
    """One VM with a vCPU pinned on each pCPU; the NIC targets the vCPU on the last pCPU."""
    return ScenarioConfig(name="host-affinity", gic=gic, pcpus=pcpus, duration_ns=3_000_000,  # type: ignore[arg-type]
                          vms=[VMConfig(vcpus=pcpus, pin=list(range(pcpus)))],
                          devices=[DeviceConfig(vcpu=pcpus - 1, host_cpu=host_cpu, host_intid=INTID,
                                                guest_intid=INTID,
                                                traffic=TrafficConfig(pattern="poisson", rate_hz=20_000))])


def _host_cpus(r: RunResult) -> Counter[int]:
    """pCPU → how many times the host's handler of the NIC's SPI started there."""
    return Counter(f["cpu"] for _t, name, f in r.recorder.trace
                   if name == "irq_handler_entry" and f["intid"] == INTID)


@pytest.mark.parametrize("gic", ["v2", "v3"])
@pytest.mark.parametrize("design", ["forwarded", "irqfd-resample"])
def test_host_cpu_takes_the_host_interrupts_there(gic: str, design: str) -> None:
    """host_cpu = 1 with the target vCPU pinned on pCPU 1: every host interrupt of the NIC is
    taken on pCPU 1 (none on the boot CPU), every one reaches the guest, and the invariant
    checker finds nothing."""
    r = run_scenario(_cfg(1, gic), design, tracing=True)
    where = _host_cpus(r)
    raised = r.counters["device_irqs_raised"]
    assert raised > 20
    assert set(where) == {1}
    assert where[1] >= raised
    assert r.counters["guest_irqs_handled"] == raised
    assert r.violations == []


@pytest.mark.parametrize("gic", ["v2", "v3"])
def test_default_is_the_boot_cpu(gic: str) -> None:
    """host_cpu None: Linux's default without irqbalance, every SPI on the boot CPU (so the
    test above would see pCPU 0 if the setting were ignored)."""
    r = run_scenario(_cfg(None, gic), "forwarded", tracing=True)
    assert set(_host_cpus(r)) == {0}
    assert r.counters["guest_irqs_handled"] == r.counters["device_irqs_raised"]


def test_host_cpu_is_set_before_traffic() -> None:
    """The routing is in the GIC once the system is built (before any traffic runs), and
    only for the device that asks for it."""
    cfg = _cfg(2, pcpus=4)
    cfg.devices.append(DeviceConfig(name="nic1", vcpu=0, host_intid=INTID + 1, guest_intid=INTID + 1))
    s = build_system(cfg, "forwarded")
    gicd = s.gic.config.gicd_base
    assert s.gic.read(gicd + 0x800 + INTID, 1, 0) == 1 << 2
    assert s.gic.read(gicd + 0x800 + INTID + 1, 1, 0) == 1 << 0
    assert s.engine.now == 0


def test_failed_irq_set_affinity_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused ``irq_set_affinity`` stops the build with the model's InputError (as a
    refused ``irq_set_vcpu_affinity`` does), naming the device."""
    from irqfwd.host.genirq import Genirq

    monkeypatch.setattr(Genirq, "irq_set_affinity", lambda self, irq, cpu: EINVAL)
    with pytest.raises(InputError, match=r"device 'nic0': irq_set_affinity to pCPU 1 failed \(-22\)"):
        build_system(_cfg(1), "forwarded")
    build_system(_cfg(None), "forwarded")  # not called without host_cpu


# ---------------------------------------------------------------------- MSI-X (its_set_affinity)
def _msix_cfg(host_cpu: int | None, gic: str = "v3") -> ScenarioConfig:
    """2 pCPUs, one VM with a vCPU pinned on each, a 4-queue MSI-X NIC whose vectors target
    vCPUs 0, 1, 0, 1, 20 packets per queue (all handled before the run ends): without
    ``host_cpu`` ``its_select_cpu`` spreads the host LPIs over both pCPUs (the least
    loaded CPU for each)."""
    return ScenarioConfig(name="msix-host-affinity", gic=gic, pcpus=2, duration_ns=3_000_000,  # type: ignore[arg-type]
                          vms=[VMConfig(vcpus=2, pin=[0, 1])],
                          devices=[DeviceConfig(name="mq0", kind="msix-nic", queues=4, queue_vcpus=[0, 1, 0, 1],
                                                host_cpu=host_cpu,
                                                traffic=TrafficConfig(rate_hz=10_000, count=20))])


def _lpi_host_cpus(r: RunResult) -> Counter[int]:
    """pCPU → how many times the host's handler of an LPI (INTID 8192 and up) started there."""
    return Counter(f["cpu"] for _t, name, f in r.recorder.trace
                   if name == "irq_handler_entry" and f["intid"] >= 8192)


@pytest.mark.parametrize("design", ["its-emulated", "forwarded-direct"])
@pytest.mark.parametrize("host_cpu", [0, 1])
def test_msix_host_cpu_takes_every_vector_there(design: str, host_cpu: int) -> None:
    """``host_cpu`` on an MSI-X NIC: once VFIO has allocated the vectors, each vector's host
    LPI is routed to that pCPU (``irq_set_affinity`` → ``its_set_affinity``: MOVI), so the
    host takes every MSI there, vectors of both vCPUs alike; every MSI reaches the guest
    and the invariant checker finds nothing.  ``forwarded-direct`` forwards SPIs only: the
    MSIs take the host path as under ``its-emulated``."""
    r = run_scenario(_msix_cfg(host_cpu), design, tracing=True)
    where = _lpi_host_cpus(r)
    msis = r.counters["msi_writes"]
    assert msis == 4 * 20
    assert set(where) == {host_cpu}
    assert where[host_cpu] == msis
    assert r.counters["guest_irqs_handled"] == msis
    assert r.violations == []


def test_msix_default_spreads_the_vectors() -> None:
    """host_cpu None: ``its_irq_domain_activate`` → ``its_select_cpu`` maps each vector to
    the least loaded CPU, so the host LPIs are taken on both pCPUs (the test above would
    see that if the setting were ignored)."""
    r = run_scenario(_msix_cfg(None), "its-emulated", tracing=True)
    assert set(_lpi_host_cpus(r)) == {0, 1}
    assert r.counters["guest_irqs_handled"] == r.counters["msi_writes"]


def test_msix_host_cpu_is_routed_when_the_vectors_exist() -> None:
    """The vectors' host LPIs exist from the guest's MSI-X enable on (VFIO_DEVICE_SET_IRQS
    in the VMM's exit): the system is built without them; after the run every event's
    ``col_map`` entry and its ITE in the ITS name pCPU 1's collection, and the ITS found no
    command error."""
    s = build_system(_msix_cfg(1), "its-emulated")
    w = s.msi_devices[0]
    assert w.lpis == []
    run = run_scenario(_msix_cfg(1), "its-emulated")
    w = run.system.msi_devices[0]
    its = run.system.host.irqchip.its  # type: ignore[attr-defined]
    dev = its.devices[w.nic.requester_id]
    assert dev.collection == [1, 1, 1, 1]
    hw = run.system.gic.its  # type: ignore[union-attr]
    assert [hw.ites[(dev.device_id, e)].icid for e in range(4)] == [1, 1, 1, 1]
    assert hw.errors == 0


@pytest.mark.parametrize(("design", "gic"), [("gicv4-direct", "v4"), ("gicv41-vsgi", "v4.1")])
def test_msix_host_cpu_is_refused_under_gicv4_direct_injection(design: str, gic: str) -> None:
    """GICv4 direct injection maps every vector to a vLPI of the target vCPU's vPE
    (``kvm_vgic_v4_set_forwarding`` → ``its_map_vlpi``): the ITS delivers it to the vPE's
    redistributor, and ``its_set_affinity`` refuses a forwarded LPI (-EINVAL).  Such a
    scenario is refused before it runs (an InputError naming the field), and ``compare``'s
    default designs leave the design out."""
    cfg = _msix_cfg(1, gic)
    with pytest.raises(InputError, match=rf"^devices\.0\.host_cpu: design '{design}' maps the MSI-X vectors "
                                         r"of device 'mq0' to vLPIs.*-EINVAL"):
        build_system(cfg, design)
    assert default_designs(cfg, MSI_DESIGNS) == ["its-emulated"]
    assert default_designs(_msix_cfg(None, gic), MSI_DESIGNS) == list(MSI_DESIGNS)
    build_system(_msix_cfg(None, gic), design)


def test_failed_msix_irq_set_affinity_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused ``irq_set_affinity`` of a vector stops the run with the model's InputError
    naming the device and the vector (as the SPI case does)."""
    from irqfwd.host.genirq import Genirq

    monkeypatch.setattr(Genirq, "irq_set_affinity", lambda self, irq, cpu: EINVAL)
    with pytest.raises(InputError, match=r"device 'mq0': irq_set_affinity of vector 0 to pCPU 1 failed \(-22\)"):
        run_scenario(_msix_cfg(1), "its-emulated")
    run_scenario(_msix_cfg(None), "its-emulated")  # not called without host_cpu
