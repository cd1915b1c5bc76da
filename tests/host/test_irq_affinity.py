"""The host GIC drivers' ``gic_set_affinity`` (``/proc/irq/N/smp_affinity``), GICv2 and GICv3.

Each test names the Linux function or the GIC specification section it checks: the driver
writes the SPI's routing register through MMIO, and the GIC model then signals the
interrupt to the chosen CPU interface only.
"""

from __future__ import annotations

import pytest

from irqfwd.config import DeviceConfig, ScenarioConfig, VMConfig
from irqfwd.host.genirq import EINVAL
from irqfwd.host.irqchip.arm_gic import GIC_DIST_TARGET
from irqfwd.host.irqchip.arm_gic_v3 import GICD_IROUTER, GICD_ISENABLER
from irqfwd.host.irqchip.irq_gic_v3 import _typer_to_irouter
from irqfwd.hw.gicv3.distributor import mpidr_affinity
from irqfwd.system.build import System, build_system

INTID = 48


def _sys(gic: str, pcpus: int = 2, host_at_el2: bool = True, design: str = "irqfd-resample") -> System:
    cfg = ScenarioConfig(name="affinity", gic=gic, pcpus=pcpus, host_at_el2=host_at_el2,  # type: ignore[arg-type]
                         vms=[VMConfig(vcpus=pcpus, pin=list(range(pcpus)))],
                         devices=[DeviceConfig(host_intid=INTID, guest_intid=INTID)])
    return build_system(cfg, design)


def _signalled(s: System) -> list[int]:
    """The CPUs whose CPU interface asserts its physical IRQ output."""
    return [c for c, out in enumerate(s.gic.outputs) if out.irq]


def _target_byte(s: System, intid: int, cpu: int = 0) -> int:
    return s.gic.read(s.gic.config.gicd_base + GIC_DIST_TARGET + intid, 1, cpu)


def _irouter(s: System, intid: int) -> int:
    return s.gic.read(s.gic.config.gicd_base + GICD_IROUTER + 8 * intid, 8, 0)


# ---------------------------------------------------------------------- GICv2
@pytest.mark.parametrize("host_at_el2", [True, False], ids=["eoimode1-chip", "eoimode0-chip"])
def test_gicv2_set_affinity_writes_itargetsr_and_routes_there(host_at_el2: bool) -> None:
    """irq-gic.c ``gic_set_affinity``: GICD_ITARGETSR<n> byte of the SPI = ``gic_cpu_map[cpu]``
    (one GICD access); IHI 0048B §4.3.12: the distributor forwards a pending SPI to the
    CPU interfaces its target byte names, and only to them."""
    s = _sys("v2", host_at_el2=host_at_el2)
    host_irq = s.devices[0].host_irq
    assert _target_byte(s, INTID) == 0b01  # gic_dist_init: every SPI on CPU 0
    s.gic.set_line(INTID, True)
    assert _signalled(s) == [0]
    s.gic.set_line(INTID, False)
    m = s.machine
    m.acc = 0
    assert s.host.genirq.irq_set_affinity(host_irq, 1) == 0
    assert m.acc == s.costs.gicd_access_ns  # one writeb_relaxed
    assert _target_byte(s, INTID) == 0b10
    s.gic.set_line(INTID, True)
    assert _signalled(s) == [1]
    assert s.gic.cpu_if[1].read_hppir() & 0x3FF == INTID
    assert s.gic.cpu_if[0].read_hppir() & 0x3FF == 1023


def test_gicv2_pending_spi_follows_its_new_target() -> None:
    """IHI 0048B §4.3.12: retargeting a pending SPI moves its signalling to the new CPU
    interface (the driver's write is an ordinary GICD_ITARGETSR write)."""
    s = _sys("v2", pcpus=4)
    s.gic.set_line(INTID, True)
    assert _signalled(s) == [0]
    assert s.host.genirq.irq_set_affinity(s.devices[0].host_irq, 3) == 0
    assert _target_byte(s, INTID) == 1 << 3
    assert _signalled(s) == [3]


def test_gicv2_cpu_map_comes_from_the_banked_target_registers() -> None:
    """irq-gic.c ``gic_cpu_init`` → ``gic_get_cpumask``: each CPU's ``gic_cpu_map`` entry is
    what its banked GICD_ITARGETSR0..7 read (IHI 0048B §4.3.12: the accessing CPU's bit);
    on a uniprocessor those are RAZ and the map entry is 0."""
    s = _sys("v2", pcpus=4)
    chip = s.host.irqchip.chip
    assert chip.cpu_map[:4] == [_target_byte(s, 0, c) for c in range(4)] == [1, 2, 4, 8]  # type: ignore[attr-defined]
    assert _sys("v2", pcpus=1).host.irqchip.chip.cpu_map[0] == 0  # type: ignore[attr-defined]


def test_gicv2_set_affinity_rejects_ppis_and_unknown_cpus() -> None:
    """``gic_set_affinity``: -EINVAL for ``cpu >= nr_cpu_ids``; SGIs and PPIs are per-CPU
    (genirq's ``irq_can_set_affinity`` refuses them), their banked target bytes read-only."""
    s = _sys("v2")
    genirq = s.host.genirq
    ppi = s.host.irqchip.kvm_info.maint_irq
    assert genirq.irq_get_irq_data(ppi).hwirq < 32
    before = _target_byte(s, genirq.irq_get_irq_data(ppi).hwirq)
    m = s.machine
    m.acc = 0
    assert genirq.irq_set_affinity(ppi, 1) == EINVAL
    assert genirq.irq_set_affinity(s.devices[0].host_irq, 2) == EINVAL
    assert genirq.irq_set_affinity(s.devices[0].host_irq, -1) == EINVAL
    assert m.acc == 0  # nothing written
    assert _target_byte(s, genirq.irq_get_irq_data(ppi).hwirq) == before
    assert _target_byte(s, INTID) == 0b01


# ---------------------------------------------------------------------- GICv3
def test_gicv3_set_affinity_writes_irouter_and_routes_there() -> None:
    """irq-gic-v3.c ``gic_set_affinity``: GICD_IROUTER<n> = ``gic_cpu_to_affinity(cpu)``
    (IHI 0069 §12.9.22, Interrupt_Routing_Mode 0: the PE whose affinity matches); the SPI
    is then signalled on that CPU's interface only."""
    s = _sys("v3", pcpus=4)
    host_irq = s.devices[0].host_irq
    assert _irouter(s, INTID) == mpidr_affinity(0)
    s.gic.set_line(INTID, True)
    assert _signalled(s) == [0]
    s.gic.set_line(INTID, False)
    assert s.host.genirq.irq_set_affinity(host_irq, 2) == 0
    assert _irouter(s, INTID) == mpidr_affinity(2)
    s.gic.set_line(INTID, True)
    assert _signalled(s) == [2]
    assert s.gic.cpu_if[2].read_hppir1() == INTID
    assert s.gic.cpu_if[0].read_hppir1() == 1023


@pytest.mark.parametrize("enabled", [True, False])
def test_gicv3_set_affinity_masks_an_enabled_spi_around_the_write(enabled: bool) -> None:
    """``gic_set_affinity``: ``gic_peek_irq(GICD_ISENABLER)``; if enabled, ``gic_mask_irq``
    (GICD_ICENABLER + ``gic_dist_wait_for_rwp``), the IROUTER write, ``gic_unmask_irq``;
    otherwise the IROUTER write alone.  The enable state is what it was, every access is
    charged as one GICD access."""
    s = _sys("v3")
    host_irq = s.devices[0].host_irq
    genirq = s.host.genirq
    if not enabled:
        genirq.irq_get_irq_data(host_irq).chip.irq_mask(genirq.irq_get_irq_data(host_irq), 0)
    isenabler = s.gic.config.gicd_base + GICD_ISENABLER + 4 * (INTID // 32)
    assert bool(s.gic.read(isenabler, 4, 0) >> (INTID % 32) & 1) == enabled
    m = s.machine
    m.acc = 0
    assert genirq.irq_set_affinity(host_irq, 1) == 0
    assert m.acc == (5 if enabled else 2) * s.costs.gicd_access_ns
    assert bool(s.gic.read(isenabler, 4, 0) >> (INTID % 32) & 1) == enabled
    assert _irouter(s, INTID) == mpidr_affinity(1)


def test_gicv3_set_affinity_rejects_ppis_and_unknown_cpus() -> None:
    """``gic_set_affinity``: -EINVAL when ``gic_irq_in_rdist`` (SGIs, PPIs: routed by their
    redistributor) and for ``cpu >= nr_cpu_ids``; GICD_IROUTER is left as it was."""
    s = _sys("v3")
    genirq = s.host.genirq
    ppi = s.host.irqchip.kvm_info.maint_irq
    assert 16 <= genirq.irq_get_irq_data(ppi).hwirq < 32
    assert genirq.irq_set_affinity(ppi, 1) == EINVAL
    assert genirq.irq_set_affinity(s.devices[0].host_irq, 2) == EINVAL
    assert _irouter(s, INTID) == mpidr_affinity(0)


def test_gicv3_cpu_affinity_from_gicr_typer() -> None:
    """``gic_cpu_to_affinity``: GICR_TYPER.Affinity_Value [63:32] = Aff3.Aff2.Aff1.Aff0
    (IHI 0069 §12.11.35) becomes GICD_IROUTER's Aff3 [39:32], Aff2 [23:16], Aff1 [15:8],
    Aff0 [7:0] (§12.9.22)."""
    typer = (0x12 << 56 | 0x34 << 48 | 0x56 << 40 | 0x78 << 32) | 0xFFFF_FFFF
    assert _typer_to_irouter(typer) == 0x12 << 32 | 0x34 << 16 | 0x56 << 8 | 0x78
    s = _sys("v3", pcpus=4)
    assert s.host.irqchip.chip.cpu_affinity == [mpidr_affinity(c) for c in range(4)]  # type: ignore[attr-defined]
