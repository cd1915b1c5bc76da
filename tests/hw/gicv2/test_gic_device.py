"""The GICv2 device: memory map, inputs, outputs, events and the virtual-interface hooks
(docs/architecture.md contract; Arm IHI 0048B §1.4~/§3.2/§4.1; QEMU virt memory map)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irqfwd.calibrate.gic_bench import compare_sizes, paired_ratio, run_gic_benchmark
from irqfwd.hw.gic.device import GicSink
from irqfwd.hw.gicv2.config import GICv2Config, QemuQuirks
from irqfwd.hw.gicv2.gic import GICv2


class _Recording(GicSink):
    """A sink that records the output changes it is told of."""

    def __init__(self) -> None:
        self.emitted: list[tuple[int, str, bool]] = []

    def gic_output(self, cpu: int, signal: str, level: bool) -> None:
        self.emitted.append((cpu, signal, level))

D, C, H, V = 0x0800_0000, 0x0801_0000, 0x0803_0000, 0x0804_0000
ISENABLER, ISPENDR, ICPENDR, ISACTIVER, ICACTIVER = 0x100, 0x200, 0x280, 0x300, 0x380
IPRIORITYR, ITARGETSR = 0x400, 0x800
CTLR, PMR, IAR, EOIR, RPR, HPPIR, DIR = 0x00, 0x04, 0x0C, 0x10, 0x14, 0x18, 0x1000


def en(g: GICv2, cpu: int = 0, ctlr: int = 0x201) -> None:
    g.write(D, 1, cpu=cpu)
    g.write(C + CTLR, ctlr, cpu=cpu)
    g.write(C + PMR, 0xF0, cpu=cpu)


def spi(g: GICv2, n: int, prio: int, target: int = 1) -> None:
    g.write(D + IPRIORITYR + n, prio, size=1)
    g.write(D + ITARGETSR + n, target, size=1)
    g.write(D + ISENABLER + 4 * (n >> 5), 1 << (n & 31))


class Recorder:
    def __init__(self, g: GICv2) -> None:
        self.outputs: list[tuple[int, str, bool]] = []
        self.events: list[tuple[str, int, int, str]] = []
        g.on_output = lambda c, s, lvl: self.outputs.append((c, s, lvl))
        g.on_event = lambda k, i, c, src: self.events.append((k, i, c, src))


# --------------------------------------------------------------------------- memory map


def test_frames_decode_at_qemu_virt_addresses() -> None:
    """QEMU virt map: GICD 0x08000000, GICC 0x08010000 (8 KiB, DIR at +0x1000), GICH
    0x08030000, GICV 0x08040000 — each frame answers with its own ID/reset values."""
    g = GICv2()
    assert g.read(D + 0x8) == 0x43B
    assert g.read(C + 0xFC) == 0x0002043B
    assert g.read(H + 0x4) == 0x90000003  # GICH_VTR (TV1)
    assert g.read(V + 0x8) == 2  # GICV_BPR reset (TV1)
    en(g)
    spi(g, 40, 0xA0)
    g.write(D + ISPENDR + 4, 0x100)
    assert g.read(C + IAR) == 0x28
    g.write(C + EOIR, 0x28)
    g.write(C + DIR, 0x28)  # second page of the GICC frame
    assert g.read(D + ISACTIVER + 4) == 0


def test_tv1_tv2_virtual_frames_through_the_memory_map() -> None:
    """TV1/TV2 via GICv2.read/write: GICH_VMCR 0x004C0000, ELRSR0 0xF, GICV_ABPR 3, GICV_RPR
    0xFF; GICV_PMR ← 0xFF reads 0xF8, GICH_HCR ← ~0 reads 0xF80000FF, GICH_LR0 ← ~0 reads
    0xFF8FFFFF; each CPU reaches its own GICH/GICV at the same address."""
    g = GICv2()
    assert (g.read(H + 0x8), g.read(H + 0x30), g.read(V + 0x1C), g.read(V + RPR)) == (
        0x004C0000, 0xF, 3, 0xFF)
    g.write(V + PMR, 0xFF, cpu=1)
    g.write(H + 0x0, 0xFFFF_FFFF, cpu=1)
    g.write(H + 0x100, 0xFFFF_FFFF, cpu=1)
    assert (g.read(V + PMR, cpu=1), g.read(H + 0x0, cpu=1), g.read(H + 0x100, cpu=1)) == (
        0xF8, 0xF80000FF, 0xFF8FFFFF)
    assert (g.read(V + PMR, cpu=0), g.read(H + 0x0, cpu=0), g.read(H + 0x100, cpu=0)) == (0, 0, 0)


@pytest.mark.parametrize("addr", [0x0, D - 4, D + 0x1000, C + 0x2000, H + 0x1000, V + 0x2000,
                                  0x0900_0000])
def test_address_outside_frames_raises(addr: int) -> None:
    """Accesses outside GICD/GICC/GICH/GICV raise ValueError naming the address."""
    g = GICv2()
    with pytest.raises(ValueError, match="not in a GIC frame"):
        g.read(addr)
    with pytest.raises(ValueError, match="not in a GIC frame"):
        g.write(addr, 0)


def test_bad_cpu_raises() -> None:
    """The accessing CPU must exist (GICD_TYPER.CPUNumber)."""
    g = GICv2()
    with pytest.raises(ValueError, match="cpu 2"):
        g.read(C + CTLR, cpu=2)
    with pytest.raises(ValueError, match="cpu -1"):
        g.write(C + CTLR, 1, cpu=-1)


def test_gicc_frame_is_banked_per_cpu() -> None:
    """IHI 0048B §4.1.3: every CPU reaches its own CPU interface at the same address."""
    g = GICv2()
    g.write(C + PMR, 0xF0, cpu=1)
    assert g.read(C + PMR, cpu=0) == 0
    assert g.read(C + PMR, cpu=1) == 0xF0


def test_overlapping_frames_rejected() -> None:
    """A configuration whose frames overlap is rejected."""
    with pytest.raises(ValueError, match="overlaps"):
        GICv2(GICv2Config(gicc_base=0x0800_0000))


# --------------------------------------------------------------------------- inputs


@pytest.mark.parametrize(
    ("intid", "cpu", "match"),
    [(3, None, "SGI"), (27, None, "PPI 27 needs cpu"), (27, 5, "PPI 27 needs cpu"),
     (288, None, "not an implemented SPI"), (1020, None, "not an implemented SPI")],
)
def test_set_line_rejects_bad_inputs(intid: int, cpu: int | None, match: str) -> None:
    """SGIs have no line; PPIs need a valid CPU; INTIDs ≥ num_irqs are not implemented."""
    g = GICv2()
    with pytest.raises(ValueError, match=match):
        g.set_line(intid, True, cpu)


def test_ppi_lines_are_per_cpu() -> None:
    """IHI 0048B §1.4.2~: a PPI input belongs to one CPU interface."""
    g = GICv2()
    g.set_line(27, True, cpu=1)
    assert g.read(D + ISPENDR, cpu=1) & (1 << 27)
    assert not g.read(D + ISPENDR, cpu=0) & (1 << 27)


def test_tv19_ppi_pending_from_software_is_banked() -> None:
    """TV19 (architecture), §4.3.7: CPU1's ISPENDR0 write pends PPI 20 on CPU1 only."""
    g = GICv2()
    g.write(D + ISPENDR, 1 << 20, cpu=1)
    assert g.read(D + ISPENDR, cpu=1) & (1 << 20)
    assert not g.read(D + ISPENDR, cpu=0) & (1 << 20)


# --------------------------------------------------------------------------- outputs & events


def test_on_output_only_on_change() -> None:
    """Outputs are levels: on_output fires once per change, not per state update."""
    g = GICv2()
    rec = Recorder(g)
    en(g)
    spi(g, 40, 0xA0)
    g.set_line(40, True)
    g.write(D + ISPENDR + 4, 0x100)  # already pending: no new edge on IRQ
    assert rec.outputs == [(0, "irq", True)]
    assert g.read(C + IAR) == 0x28
    assert rec.outputs[-1] == (0, "irq", False)
    assert len(rec.outputs) == 2


def test_fiq_output_for_group0_with_fiqen() -> None:
    """§4.4.1: Group 0 with FIQEn → FIQ output and an "fiq" on_output event."""
    g = GICv2()
    rec = Recorder(g)
    en(g, ctlr=0x9)
    spi(g, 40, 0xA0)
    g.set_line(40, True)
    assert rec.outputs == [(0, "fiq", True)]
    assert g.outputs[0].fiq and not g.outputs[0].irq


def test_on_event_sources() -> None:
    """docs/architecture.md: activate/deactivate events name their cause (iar, eoir, dir,
    isactiver, icactiver, hw_lr) and the CPU."""
    g = GICv2()
    rec = Recorder(g)
    en(g, cpu=1, ctlr=0x1)  # EOImode 0 on CPU1
    spi(g, 40, 0xA0, target=2)
    g.write(D + ISPENDR + 4, 0x100)
    assert g.read(C + IAR, cpu=1) == 0x28
    g.write(C + EOIR, 0x28, cpu=1)
    g.write(D + ISACTIVER + 4, 0x200, cpu=0)
    g.write(D + ICACTIVER + 4, 0x200, cpu=0)
    g.write(C + CTLR, 0x201, cpu=1)
    g.write(D + ISPENDR + 4, 0x100)
    assert g.read(C + IAR, cpu=1) == 0x28
    g.write(C + EOIR, 0x28, cpu=1)
    g.write(C + DIR, 0x28, cpu=1)
    g.write(D + ISACTIVER + 4, 0x100, cpu=1)
    g.deactivate_physical(1, 40)
    assert rec.events == [
        ("activate", 40, 1, "iar"), ("deactivate", 40, 1, "eoir"),
        ("activate", 41, 0, "isactiver"), ("deactivate", 41, 0, "icactiver"),
        ("activate", 40, 1, "iar"), ("deactivate", 40, 1, "dir"),
        ("activate", 40, 1, "isactiver"), ("deactivate", 40, 1, "hw_lr"),
    ]


def test_deactivate_physical_is_dir_without_priority_drop() -> None:
    """Arm XML GICH_LR.HW: a HW=1 deactivation acts as GICC_DIR (no priority drop); SGIs
    and INTIDs ≥ 1020 are ignored."""
    g = GICv2()
    en(g)
    spi(g, 40, 0xA0)
    g.write(D + ISPENDR + 4, 0x100)
    assert g.read(C + IAR) == 0x28
    g.deactivate_physical(0, 40)
    assert g.read(D + ISACTIVER + 4) == 0
    assert g.read(C + RPR) == 0xA0
    g.write(D + ISACTIVER, 0x1)
    g.deactivate_physical(0, 0)
    g.deactivate_physical(0, 1023)
    assert g.read(D + ISACTIVER) == 0x1


def test_set_maintenance_drives_ppi25_of_that_cpu() -> None:
    """~§5.3.4 / QEMU hw/arm/virt.c: the maintenance interrupt is level PPI 25 of the CPU."""
    g = GICv2()
    g.set_maintenance(1, True)
    assert g.read(D + ISPENDR, cpu=1) & (1 << 25)
    assert not g.read(D + ISPENDR, cpu=0) & (1 << 25)
    g.set_maintenance(1, False)
    assert not g.read(D + ISPENDR, cpu=1) & (1 << 25)


def test_update_virtual_outputs_emits_changes_only() -> None:
    """vIRQ/vFIQ outputs follow the virtual interface; on_output fires on change only."""
    g = GICv2()
    rec = Recorder(g)
    g.update_virtual_outputs(1, True, False)
    g.update_virtual_outputs(1, True, False)
    g.update_virtual_outputs(1, False, True)
    assert rec.outputs == [(1, "virq", True), (1, "virq", False), (1, "vfiq", True)]
    assert g.outputs[1].vfiq and not g.outputs[1].virq


def test_reset_clears_state_and_lowers_outputs() -> None:
    """reset(): every block returns to its reset values; lowered outputs are reported."""
    g = GICv2()
    rec = Recorder(g)
    en(g)
    spi(g, 40, 0xA0)
    g.set_line(40, True)
    assert g.outputs[0].irq
    g.reset()
    assert not g.outputs[0].irq
    assert rec.outputs[-1] == (0, "irq", False)
    assert g.read(D) == 0 and g.read(C + PMR) == 0
    assert g.read(D + ISPENDR + 4) == 0
    assert g.read(D + ISENABLER) == 0xFFFF


# --------------------------------------------------------------------------- SMP behaviour


def test_tv25_one_of_n_spi() -> None:
    """TV25 (architecture), GICv2 1-N model: once CPU0 acknowledges SPI 40 (targets 0x03) it
    is no longer pending for CPU1."""
    g = GICv2()
    en(g, cpu=0)
    en(g, cpu=1)
    spi(g, 40, 0xA0, target=0x3)
    g.write(D + ISPENDR + 4, 0x100)
    assert g.outputs[0].irq and g.outputs[1].irq
    assert g.read(C + IAR, cpu=0) == 0x28
    assert g.read(D + ISPENDR + 4) == 0
    assert g.read(C + HPPIR, cpu=1) == 0x3FF
    assert g.read(C + IAR, cpu=1) == 0x3FF
    assert not g.outputs[1].irq


# --------------------------------------------------------------------------- HW=1 end to end


def test_tv39_hw_deactivation_with_level_still_asserted() -> None:
    """TV39 (architecture), ~§5.3.8: after the guest EOIs a HW=1 LR whose physical level PPI is
    still asserted, the physical interrupt is pending again and IRQ is raised at once."""
    g = GICv2()
    en(g)
    g.write(D + IPRIORITYR + 27, 0xA0, size=1)
    g.write(D + ISENABLER, 1 << 27)
    g.set_line(27, True, cpu=0)
    assert g.read(C + IAR) == 0x1B
    g.write(C + EOIR, 0x1B)
    assert g.read(C + HPPIR) == 0x3FF and not g.outputs[0].irq
    g.write(H + 0x0, 0x1)  # GICH_HCR.En
    g.write(V + 0x0, 0x1)  # GICV_CTLR
    g.write(V + 0x4, 0xF8)  # GICV_PMR
    g.write(H + 0x100, 0x9500_6C1B)  # HW | pending | prio 0x0A | PhysicalID 27 | VirtualID 27
    assert g.read(V + IAR) == 0x1B
    g.write(V + EOIR, 0x1B)
    assert not g.read(D + ISACTIVER) & (1 << 27)
    assert g.read(C + HPPIR) == 0x1B
    assert g.outputs[0].irq


# --------------------------------------------------------------------------- benchmark


def test_benchmark_function_reports_rates() -> None:
    """bench.run_gic_benchmark: 1020 INTIDs round up to 1024 (988 SPIs); rates are positive
    and every round trip acknowledged the SPI it made pending (else it raises)."""
    res = run_gic_benchmark(1020, 0.1, repeats=1)
    assert res["num_irqs"] == 1024 and res["spis"] == 988
    assert res["mmio_per_s"] > 0 and res["roundtrips_per_s"] > 0
    with pytest.raises(ValueError, match="seconds"):
        run_gic_benchmark(64, 0)


def test_cost_ratio_is_the_median_of_paired_rounds() -> None:
    """gic_bench.paired_ratio (the verdict of ``irqfwd bench``'s GIC sections): each round's
    back-to-back pair gives one ratio and the median of those is reported, so a machine
    that runs twice as fast in some rounds (both sizes alike) leaves the ratio unchanged,
    where the ratio of the two medians would not; compare_sizes reports it for both
    sizes, measured alternately."""
    small = [100.0, 200.0, 200.0, 100.0, 200.0]  # the machine's speed halves in rounds 1 and 4
    large = [90.0, 180.0, 180.0, 90.0, 180.0]
    assert paired_ratio(small, large) == pytest.approx(100 / 90)
    assert paired_ratio([200.0, 200.0, 100.0], [90.0, 180.0, 90.0]) == pytest.approx(200 / 180)
    with pytest.raises(ValueError, match="same length"):
        paired_ratio([1.0], [])
    res = compare_sizes(0.08, repeats=2)
    assert res["small"]["spis"] == 32 and res["large"]["spis"] == 988
    assert len(res["small"]["mmio_samples"]) == len(res["large"]["mmio_samples"]) == 2
    assert res["cost_ratio_mmio"] == pytest.approx(
        paired_ratio(res["small"]["mmio_samples"], res["large"]["mmio_samples"]))


# --------------------------------------------------------------------------- incremental outputs

_INTIDS = [3, 20, 27, 40, 41, 70]
_gic_ops = st.lists(
    st.tuples(
        st.sampled_from(["line", "isenable", "icenable", "ispend", "icpend", "isactive",
                         "icactive", "prio", "target", "group", "cfg", "gicd_ctlr", "gicc_ctlr",
                         "pmr", "bpr", "abpr", "iar", "eoir", "dir", "sgir", "hw"]),
        st.sampled_from(_INTIDS),
        st.integers(0, 1),
        st.integers(0, 0xFFFF),
    ),
    min_size=1,
    max_size=30,
)


@pytest.mark.parametrize("quirks", [QemuQuirks(), QemuQuirks.qemu_7_2()], ids=["spec", "qemu"])
@settings(max_examples=200, deadline=None)
@given(ops=_gic_ops)
def test_outputs_always_equal_from_scratch_evaluation(
    quirks: QemuQuirks, ops: list[tuple[str, int, int, int]]
) -> None:
    """After every input change or register access the IRQ/FIQ outputs equal a from-scratch
    evaluation of each CPU interface (IHI 0048B §3.3~/§4.4.1): the incremental notification never
    misses a CPU.  (The D16 stale state is left out: its staleness is the point.)"""
    g = GICv2(GICv2Config(num_cpus=2, num_irqs=96, quirks=replace(quirks,
                                                                   hw_deactivate_no_phys_update=False)))
    g.write(D, 0x3)
    for cpu in (0, 1):  # start from an enabled system so that short sequences interact
        g.write(C + CTLR, 0x207, cpu=cpu)
        g.write(C + PMR, 0xF0, cpu=cpu)
        for j in _INTIDS:
            g.write(D + ISENABLER + 4 * (j >> 5), 1 << (j & 31), cpu=cpu)
            g.write(D + IPRIORITYR + j, 0x80, size=1, cpu=cpu)
            g.write(D + ITARGETSR + j, 0x1, size=1, cpu=cpu)
    g.set_line(40, True)
    g.set_line(70, True)
    acked: list[list[int]] = [[], []]
    for op, i, c, v in ops:
        w, b = 4 * (i >> 5), 1 << (i & 31)
        if op == "line":
            if i >= 16:
                g.set_line(i, bool(v & 1), cpu=c if i < 32 else None)
        elif op in ("isenable", "icenable", "ispend", "icpend", "isactive", "icactive"):
            base = {"isenable": ISENABLER, "icenable": 0x180, "ispend": ISPENDR,
                    "icpend": ICPENDR, "isactive": ISACTIVER, "icactive": ICACTIVER}[op]
            g.write(D + base + w, b, cpu=c)
        elif op == "prio":
            g.write(D + IPRIORITYR + i, v & 0xFF, size=1, cpu=c)
        elif op == "target":
            g.write(D + ITARGETSR + i, v & 3, size=1, cpu=c)
        elif op == "group":
            g.write(D + 0x80 + w, g.read(D + 0x80 + w, cpu=c) ^ b, cpu=c)
        elif op == "cfg":
            g.write(D + 0xC00 + 4 * (i >> 4), (v & 1) << (2 * (i & 15) + 1), cpu=c)
        elif op == "gicd_ctlr":
            g.write(D, v & 3, cpu=c)
        elif op == "gicc_ctlr":
            g.write(C + CTLR, v & 0x21F, cpu=c)
        elif op == "pmr":
            g.write(C + PMR, v & 0xFF, cpu=c)
        elif op in ("bpr", "abpr"):
            g.write(C + (0x08 if op == "bpr" else 0x1C), v & 7, cpu=c)
        elif op == "iar":
            r = g.read(C + IAR, cpu=c)
            if r & 0x3FF < 1020:
                acked[c].append(r)
        elif op in ("eoir", "dir") and acked[c]:
            g.write(C + (EOIR if op == "eoir" else DIR), acked[c][-1], cpu=c)
            if op == "eoir":
                acked[c].pop()
        elif op == "sgir":
            g.write(D + 0xF00, ((v & 3) << 16) | (i & 15), cpu=c)
        elif op == "hw":
            g.deactivate_physical(c, i)
        for cpu in (0, 1):
            rec = _Recording()
            ci = g.cpu_if[cpu]
            saved, ci.sink = ci.sink, rec
            ci.update()
            ci.sink = saved
            assert rec.emitted == [], f"CPU{cpu} outputs stale after {op} {i}"
