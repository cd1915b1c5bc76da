"""The host ITS driver's ``its_set_affinity`` (``/proc/irq/N/smp_affinity`` of a host LPI).

Each test names the Linux function (drivers/irqchip/irq-gic-v3-its.c) or the GIC
specification section (IHI 0069H) it checks: the driver writes MOVI and SYNC into the
command queue in memory and advances GITS_CWRITER; the ITS model executes them.
"""

from __future__ import annotations

import pytest

from irqfwd.config import DeviceConfig, ScenarioConfig, VMConfig
from irqfwd.host.genirq import EINVAL, IRQCHIP_STATE_PENDING
from irqfwd.host.irqchip.arm_gic_v3 import GITS_CMD_MOVI, GITS_CMD_SYNC, ITS_CMD_QUEUE_SZ
from irqfwd.host.irqchip.irq_gic_v3_its import (
    _CMD_QUEUE,
    ItsDevice,
    ItsNode,
    ItsVlpiMap,
    ItsVm,
    its_map_vlpi,
    its_unmap_vlpi,
)
from irqfwd.system.build import System, build_system

DEVID = 0x0300
NVEC = 4


def _sys(gic: str = "v3", pcpus: int = 2) -> tuple[System, ItsNode, ItsDevice, list[int]]:
    """A host with an ITS and one MSI-X device of NVEC vectors (``its_msi_prepare`` +
    ``its_irq_domain_alloc``/``activate``, as ``pci_alloc_irq_vectors`` does)."""
    cfg = ScenarioConfig(name="its-affinity", gic=gic, pcpus=pcpus,  # type: ignore[arg-type]
                         vms=[VMConfig(vcpus=pcpus, pin=list(range(pcpus)))],
                         devices=[DeviceConfig()])
    s = build_system(cfg, "irqfd-resample")
    its = s.host.irqchip.its  # type: ignore[attr-defined]
    assert isinstance(its, ItsNode)
    dev = its.its_create_device(DEVID, NVEC)
    irqs = its.msi_alloc(dev)
    for irq in irqs:  # request_irq: unmasked (LPI enabled, INV)
        d = s.host.genirq.irq_get_irq_data(irq)
        d.chip.irq_unmask(d)
    return s, its, dev, irqs


def _last_commands(its: ItsNode, n: int) -> list[list[int]]:
    """The last ``n`` commands the driver wrote into the queue, four doublewords each."""
    mem = its.gic.mem
    out = []
    for k in range(n, 0, -1):
        off = (its.cwriter - 32 * k) % ITS_CMD_QUEUE_SZ
        out.append([mem.read(_CMD_QUEUE + off + 8 * i, 8) for i in range(4)])
    return out


def test_its_set_affinity_sends_movi_and_updates_col_map() -> None:
    """``its_set_affinity``: the target CPU's collection differs from ``col_map[event]``,
    so ``its_send_movi`` writes MOVI (DeviceID DW0 [63:32], EventID DW1 [31:0], ICID DW2
    [15:0]) and a SYNC to the collection the event had (``its_build_movi_cmd`` returns
    ``dev_event_to_col`` before ``col_map`` changes), one queue post (GITS_CWRITER write,
    GITS_CREADR read); ``col_map`` and the per-CPU LPI counts follow; the ITS's ITE has
    the new ICID (IHI 0069H §6.3 MOVI)."""
    s, its, dev, irqs = _sys()
    assert dev.collection == [0, 1, 0, 1]  # its_select_cpu: the least loaded CPU
    assert its.cpu_load == [2, 2]
    sent = its.commands
    m = s.machine
    m.acc = 0
    assert s.host.genirq.irq_set_affinity(irqs[0], 1) == 0
    assert its.commands == sent + 2
    assert m.acc == 2 * s.costs.gicd_access_ns
    movi, sync = _last_commands(its, 2)
    assert movi == [DEVID << 32 | GITS_CMD_MOVI, 0, 1, 0]
    assert sync == [GITS_CMD_SYNC, 0, 0 << 16, 0]
    assert dev.collection == [1, 1, 0, 1]
    assert its.cpu_load == [1, 3]
    hw = s.gic.its  # type: ignore[union-attr]
    assert hw.ites[(DEVID, 0)].icid == 1
    assert hw.errors == 0


def test_its_set_affinity_to_the_current_cpu_sends_nothing() -> None:
    """``its_set_affinity``: "don't set the affinity when the target cpu is same as current
    one": no command, no ITS access; the LPI counts are unchanged."""
    s, its, dev, irqs = _sys()
    sent = its.commands
    s.machine.acc = 0
    assert s.host.genirq.irq_set_affinity(irqs[1], 1) == 0
    assert its.commands == sent and s.machine.acc == 0
    assert dev.collection == [0, 1, 0, 1] and its.cpu_load == [2, 2]


def test_msis_after_its_set_affinity_reach_the_new_cpu() -> None:
    """After ``its_set_affinity`` every MSI of the event is translated to the new
    collection's redistributor (IHI 0069H §6.1): the LPI is pending there and the new
    CPU's interface signals it (ICC_IAR1_EL1 returns it), the old CPU sees nothing."""
    s, _its, dev, irqs = _sys(pcpus=4)
    genirq = s.host.genirq
    lpi = genirq.irq_get_irq_data(irqs[0]).hwirq
    assert dev.collection[0] == 0
    assert genirq.irq_set_affinity(irqs[0], 3) == 0
    assert s.gic.msi(DEVID, 0)  # type: ignore[union-attr]
    assert [c for c, out in enumerate(s.gic.outputs) if out.irq] == [3]
    assert lpi in s.gic.redist[3].lpi_pend  # type: ignore[union-attr]
    assert genirq.irq_get_irqchip_state(irqs[0], IRQCHIP_STATE_PENDING) == (0, True)
    assert s.gic.cpu_if[3].read_iar1() == lpi  # type: ignore[union-attr]


def test_pending_lpi_moves_with_its_set_affinity() -> None:
    """A host LPI pending on its old CPU when ``its_set_affinity`` runs: the ITS's MOVI
    moves the pending state to the new redistributor (IHI 0069H §6.3 MOVI): the new CPU
    signals the interrupt, the old one no longer does, and it is still pending once
    (``its_irq_get_irqchip_state`` reads the new redistributor)."""
    s, _its, dev, irqs = _sys()
    genirq = s.host.genirq
    lpi = genirq.irq_get_irq_data(irqs[2]).hwirq
    assert dev.collection[2] == 0
    assert s.gic.msi(DEVID, 2)  # type: ignore[union-attr]
    assert [c for c, out in enumerate(s.gic.outputs) if out.irq] == [0]
    assert genirq.irq_set_affinity(irqs[2], 1) == 0
    assert [c for c, out in enumerate(s.gic.outputs) if out.irq] == [1]
    redist = s.gic.redist  # type: ignore[union-attr]
    assert lpi not in redist[0].lpi_pend and lpi in redist[1].lpi_pend
    assert genirq.irq_get_irqchip_state(irqs[2], IRQCHIP_STATE_PENDING) == (0, True)


@pytest.mark.parametrize("cpu", [2, -1])
def test_its_set_affinity_rejects_a_cpu_the_system_lacks(cpu: int) -> None:
    """``its_set_affinity``: -EINVAL when no CPU of the mask is online (``cpu >=
    nr_cpu_ids``); nothing is sent, ``col_map`` and the LPI counts stay."""
    s, its, dev, irqs = _sys()
    sent = its.commands
    assert s.host.genirq.irq_set_affinity(irqs[0], cpu) == EINVAL
    assert its.commands == sent
    assert dev.collection == [0, 1, 0, 1] and its.cpu_load == [2, 2]


def test_its_set_affinity_refuses_a_forwarded_lpi() -> None:
    """``its_set_affinity``: "A forwarded interrupt should use irq_set_vcpu_affinity" –
    -EINVAL for an LPI mapped to a vLPI (GICv4, ``its_map_vlpi``:
    ``irqd_is_forwarded_to_vcpu``), no MOVI (the ITE is a vLPI's: MOVI would be a command
    error, IHI 0069H §6.3 MOVI).  Unmapped again (``its_unmap_vlpi``: MAPTI back to
    ``col_map[event]``), it moves as any host LPI."""
    s, its, dev, irqs = _sys(gic="v4")
    genirq = s.host.genirq
    vm = ItsVm(0x4780_0000)
    its.its_alloc_vcpu_irqs(vm, 1, [0])
    lpi = genirq.irq_get_irq_data(irqs[0]).hwirq
    assert its_map_vlpi(genirq, irqs[0], ItsVlpiMap(vm, vm.vpes[0], lpi, 0xA0, True)) == 0
    assert genirq.irq_get_irq_data(irqs[0]).irqd_is_forwarded_to_vcpu()
    sent = its.commands
    assert genirq.irq_set_affinity(irqs[0], 1) == EINVAL
    assert its.commands == sent
    assert dev.collection[0] == 0
    hw = s.gic.its  # type: ignore[union-attr]
    assert hw.ites[(DEVID, 0)].vpe == vm.vpes[0].vpe_id
    assert its_unmap_vlpi(genirq, irqs[0]) == 0
    assert hw.ites[(DEVID, 0)].icid == 0
    assert genirq.irq_set_affinity(irqs[0], 1) == 0
    assert hw.ites[(DEVID, 0)].icid == 1 and dev.collection[0] == 1
    assert hw.errors == 0
