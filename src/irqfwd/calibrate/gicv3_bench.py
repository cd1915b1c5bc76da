"""Benchmark of the GICv3/v4 model (:mod:`irqfwd.hw.gicv3`): MMIO and system-register
accesses per second, and LPI delivery per second with 8,192 and 65,536 LPIs mapped.

LPI delivery is measured two ways, both through the architectural paths (an MSI into
:meth:`GICv3.msi`, then ``ICC_IAR1_EL1`` and ``ICC_EOIR1_EL1``):

* *cycle*: one LPI at a time, round-robin over every mapped event (the MSI → acknowledge →
  EOI latency path);
* *burst*: every mapped LPI made pending, then all acknowledged and EOIed (thousands of
  pending LPIs: the HPPI search must not scan them, IHI 0069H §5.1 is silent on how).

The per-LPI cost ratio 64k/8k of both must stay flat (:data:`LPI_TARGET_RATIO`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any, Final

from irqfwd.calibrate.gic_bench import paired_ratio
from irqfwd.hw.gicv3 import GICv3, GICv3Config

__all__ = ["LPI_TARGET_RATIO", "run_gicv3_benchmark", "setup_lpis"]

LPI_TARGET_RATIO: Final = 1.5
"""Per-LPI cost with 65,536 LPIs over the cost with 8,192 must stay below this."""
_PROP: Final = 0x4100_0000
_PEND: Final = 0x4200_0000


def setup_lpis(num_lpis: int) -> GICv3:
    """A GICv3 with ``num_lpis`` LPIs (8192 ..) mapped 1:1 from events of DeviceID 0 to
    collection 0 (CPU0), all enabled with priorities cycling over 0x10 .. 0xF0, CPU0 awake
    with Group 1 enabled.  Programmed through the registers; the ITS commands go through
    :meth:`ITS.execute` (no queue memory needed for 65k mappings)."""
    id_bits = max(16, (8192 + num_lpis - 1).bit_length())
    ev_bits = max(1, (num_lpis - 1).bit_length())
    cfg = GICv3Config(lpi_id_bits=id_bits, its_id_bits=max(16, ev_bits))
    g = GICv3(cfg)
    g.write(cfg.gicd_base, 2)
    rd = cfg.gicr_base
    g.write(rd + 0x14, 0)
    g.write(rd + 0x70, _PROP | (id_bits - 1), 8)
    g.write(rd + 0x78, _PEND, 8)
    for i in range(num_lpis):
        g.mem.write_u8(_PROP + i, (0x10 + 0x10 * (i % 15)) | 1)
    g.write(rd, 1)
    g.write_sysreg(0, "ICC_PMR_EL1", 0xFF)
    g.write_sysreg(0, "ICC_IGRPEN1_EL1", 1)
    its = cfg.gits_base
    g.write(its + 0x100, (1 << 63) | 0x4300_0000 | 2 << 8, 8)
    g.write(its + 0x108, (1 << 63) | 0x4400_0000 | 2 << 8, 8)
    g.write(its, 1)
    ok = g.its.execute(0x08, ev_bits - 1, (1 << 63) | 0x4500_0000, 0)
    ok &= g.its.execute(0x09, 0, 1 << 63, 0)
    for e in range(num_lpis):
        ok &= g.its.execute(0x0A, (8192 + e) << 32 | e, 0, 0)
    if not ok:
        raise RuntimeError("ITS setup failed")
    return g


def _rate(fn: Callable[[int], int], budget: float) -> float:
    """Operations per second of ``fn(n) -> operations`` run for about ``budget`` seconds."""
    n = 64
    while True:
        t0 = time.perf_counter()
        ops = fn(n)
        dt = time.perf_counter() - t0
        if dt >= budget or n >= 1 << 24:
            return ops / dt
        n = max(n * 2, int(n * budget / max(dt, 1e-6) * 1.1))


def _mmio(g: GICv3) -> Callable[[int], int]:
    d = g.config.gicd_base
    sgi = g.config.gicr_base + 0x10000

    def run(n: int) -> int:
        read, write = g.read, g.write
        for i in range(n):
            write(d + 0x420, i & 0xFFFF_FFFF)
            read(d + 0x420)
            read(sgi + 0x200)
            write(d + 0x6100, i & 1, 8)
        return 4 * n

    return run


def _sysregs(g: GICv3) -> Callable[[int], int]:
    def run(n: int) -> int:
        rd, wr = g.read_sysreg, g.write_sysreg
        for i in range(n):
            wr(0, "ICC_PMR_EL1", 0xF0 | (i & 8))
            rd(0, "ICC_RPR_EL1")
            wr(0, "ICH_LR0_EL2", (i & 0xFF) << 48 | 0x20)
            rd(0, "ICH_ELRSR_EL2")
        return 4 * n

    return run


def _lpi_cycle(g: GICv3, num: int) -> Callable[[int], int]:
    state = [0]

    def run(n: int) -> int:
        msi, rd, wr = g.msi, g.read_sysreg, g.write_sysreg
        e = state[0]
        for _ in range(n):
            msi(0, e)
            intid = rd(0, "ICC_IAR1_EL1")
            wr(0, "ICC_EOIR1_EL1", intid)
            e += 1
            if e == num:
                e = 0
        state[0] = e
        return n

    return run


def _lpi_burst(g: GICv3, num: int) -> Callable[[int], int]:
    def run(n: int) -> int:
        msi, rd, wr = g.msi, g.read_sysreg, g.write_sysreg
        done = 0
        while done < n:
            for e in range(num):
                msi(0, e)
            for _ in range(num):
                intid = rd(0, "ICC_IAR1_EL1")
                wr(0, "ICC_EOIR1_EL1", intid)
            done += num
        if rd(0, "ICC_IAR1_EL1") != 1023:
            raise RuntimeError("LPIs left pending after a burst")
        return done

    return run


def run_gicv3_benchmark(quick: bool = False) -> dict[str, Any]:
    """Median rates of ``repeats`` rounds (interleaved so load hits all alike); each cost
    ratio 64k/8k is the median of the rounds' paired ratios (:func:`paired_ratio`)."""
    budget, repeats = (0.15, 3) if quick else (0.6, 5)
    small, large = setup_lpis(8192), setup_lpis(65536)
    access = GICv3(GICv3Config())
    samples: dict[str, list[float]] = {k: [] for k in (
        "mmio", "sysreg", "cycle_8k", "cycle_64k", "burst_8k", "burst_64k")}
    for _ in range(repeats):
        samples["mmio"].append(_rate(_mmio(access), budget))
        samples["sysreg"].append(_rate(_sysregs(access), budget))
        samples["cycle_8k"].append(_rate(_lpi_cycle(small, 8192), budget))
        samples["cycle_64k"].append(_rate(_lpi_cycle(large, 65536), budget))
        samples["burst_8k"].append(_rate(_lpi_burst(small, 8192), budget))
        samples["burst_64k"].append(_rate(_lpi_burst(large, 65536), budget))
    med = {k: statistics.median(v) for k, v in samples.items()}
    ratio_cycle = paired_ratio(samples["cycle_8k"], samples["cycle_64k"])
    ratio_burst = paired_ratio(samples["burst_8k"], samples["burst_64k"])
    return {
        "repeats": repeats,
        "mmio_per_s": med["mmio"],
        "sysreg_per_s": med["sysreg"],
        "lpi_cycle_per_s": {"8k": med["cycle_8k"], "64k": med["cycle_64k"]},
        "lpi_burst_per_s": {"8k": med["burst_8k"], "64k": med["burst_64k"]},
        "cost_ratio_cycle": ratio_cycle,
        "cost_ratio_burst": ratio_burst,
        "target_ratio": LPI_TARGET_RATIO,
        "ok": max(ratio_cycle, ratio_burst) <= LPI_TARGET_RATIO,
    }


def format_report(r: dict[str, Any]) -> list[str]:
    """Plain-text lines of a :func:`run_gicv3_benchmark` report."""
    return [
        f"GICv3 model (medians of {r['repeats']}): MMIO {r['mmio_per_s']:,.0f} accesses/s, "
        f"system registers {r['sysreg_per_s']:,.0f} accesses/s",
        f"LPI delivery (MSI + ICC_IAR1 + ICC_EOIR1) one at a time: "
        f"{r['lpi_cycle_per_s']['8k']:,.0f}/s with 8k LPIs, "
        f"{r['lpi_cycle_per_s']['64k']:,.0f}/s with 64k (cost ratio {r['cost_ratio_cycle']:.3f})",
        f"LPI delivery, all pending at once: {r['lpi_burst_per_s']['8k']:,.0f}/s with 8k, "
        f"{r['lpi_burst_per_s']['64k']:,.0f}/s with 64k (cost ratio {r['cost_ratio_burst']:.3f}, "
        f"target ≤ {r['target_ratio']}): {'ok' if r['ok'] else 'ABOVE TARGET'}",
    ]
