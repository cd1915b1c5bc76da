"""Micro-benchmark of the GICv2 model: MMIO accesses/s and IAR/EOIR/DIR round trips/s.

``run_gic_benchmark(num_irqs, seconds)`` builds a :class:`~irqfwd.hw.gicv2.gic.GICv2` with
``num_irqs`` INTIDs (rounded up to a multiple of 32, e.g. 1020 → 1024 = 988 usable SPIs),
enables every SPI and measures, through the public ``GICv2.read``/``write`` API:

* ``mmio_per_s``: a representative mix of GICD/GICC accesses (ISENABLER/IPRIORITYR reads,
  ISPENDR/ICPENDR/IPRIORITYR writes, GICC_PMR write, GICC_RPR/HPPIR reads) spread over all
  SPIs;
* ``roundtrips_per_s``: one SPI made pending (GICD_ISPENDR write), GICC_IAR, GICC_EOIR,
  GICC_DIR (EOImode = 1, the Linux host configuration), cycling over all SPIs.

``run_hot_path_benchmark(seconds)`` measures the named methods the simulator calls
(``GICv2.set_line``, ``Distributor.set_enabled``/``set_active``/``is_active``,
``CpuInterface.read_iar``/``write_eoir``/``write_dir``, ``HypInterface.write_lr``/
``read_elrsr``/``read_eisr``/``read_misr``/``read_lr``, ``VcpuInterface.read_iar``/
``write_eoir``/``write_dir``), in ns per operation (an "operation" is the sequence named by
its key).

Each figure is the median of ``repeats`` timed repetitions, timed in CPU time of this
process.  Host-time results are the point of a benchmark; nothing here feeds a simulation
result.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.hw.gicv2.gic import GICv2
from irqfwd.hw.gicv2.hyp_interface import GICH_HCR_EN, make_lr

__all__ = ["compare_sizes", "paired_ratio", "run_gic_benchmark", "run_hot_path_benchmark"]


def _setup(num_irqs: int) -> tuple[GICv2, list[int]]:
    n = min(1024, max(64, -(-num_irqs // 32) * 32))
    gic = GICv2(GICv2Config(num_irqs=n))
    d, c = gic.config.gicd_base, gic.config.gicc_base
    gic.write(d + 0x000, 1)  # GICD_CTLR.EnableGrp0
    gic.write(c + 0x000, 0x201)  # GICC_CTLR: EnableGrp0 | EOImode
    gic.write(c + 0x004, 0xF0)  # GICC_PMR
    spis = list(range(32, min(n, 1020)))
    for i in spis:
        gic.write(d + 0x400 + i, 0xA0, size=1)
        gic.write(d + 0x800 + i, 0x01, size=1)
    for w in range(1, n // 32):
        gic.write(d + 0x100 + 4 * w, 0xFFFF_FFFF)
    return gic, spis


def _mmio_ops(gic: GICv2, spis: list[int], count: int) -> int:
    d, c = gic.config.gicd_base, gic.config.gicc_base
    rd, wr = gic.read, gic.write
    nspi = len(spis)
    k = 0
    done = 0
    while done < count:
        i = spis[k % nspi]
        k += 7
        w = 4 * (i >> 5)
        b = 1 << (i & 31)
        rd(d + 0x100 + w)  # GICD_ISENABLERn
        wr(d + 0x200 + w, b)  # GICD_ISPENDRn
        rd(c + 0x018)  # GICC_HPPIR
        wr(d + 0x400 + i, 0x90, 1)  # GICD_IPRIORITYR byte
        rd(d + 0x400 + (i & ~3))  # GICD_IPRIORITYRn
        wr(d + 0x280 + w, b)  # GICD_ICPENDRn
        wr(c + 0x004, 0xF0)  # GICC_PMR
        rd(c + 0x014)  # GICC_RPR
        wr(d + 0x400 + i, 0xA0, 1)
        rd(d + 0x200 + w)  # GICD_ISPENDRn
        done += 10
    return done


def _roundtrips(gic: GICv2, spis: list[int], count: int) -> int:
    d, c = gic.config.gicd_base, gic.config.gicc_base
    rd, wr = gic.read, gic.write
    nspi = len(spis)
    k = 0
    for _ in range(count):
        i = spis[k % nspi]
        k += 7
        wr(d + 0x200 + 4 * (i >> 5), 1 << (i & 31))  # GICD_ISPENDRn
        v = rd(c + 0x00C)  # GICC_IAR
        if v != i:
            raise RuntimeError(f"benchmark: IAR returned {v:#x}, expected {i:#x}")
        wr(c + 0x010, v)  # GICC_EOIR (priority drop)
        wr(c + 0x1000, v)  # GICC_DIR (deactivate)
    return count


def _rate(fn: Any, gic: GICv2, spis: list[int], seconds: float) -> float:
    """Operations per second of CPU time (``time.process_time``: the machine is shared, and
    CPU time is not inflated when other processes get the core)."""
    batch = 200
    total = 0
    start = time.process_time()
    end = start + seconds
    now = start
    while now < end or total == 0 or now == start:
        total += fn(gic, spis, batch)
        now = time.process_time()
    return total / (now - start)


def _summary(gic: GICv2, spis: list[int], mmio: list[float], rts: list[float]) -> dict[str, Any]:
    m, r = statistics.median(mmio), statistics.median(rts)
    return {
        "num_irqs": gic.config.num_irqs,
        "spis": len(spis),
        "repeats": len(mmio),
        "mmio_per_s": m,
        "roundtrips_per_s": r,
        "ns_per_access": 1e9 / m,
        "ns_per_roundtrip": 1e9 / r,
        "mmio_samples": mmio,
        "roundtrip_samples": rts,
    }


def _check_args(seconds: float, repeats: int) -> None:
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")


def run_gic_benchmark(num_irqs: int, seconds: float, repeats: int = 5) -> dict[str, Any]:
    """Measure MMIO accesses/s and IAR/EOIR/DIR round trips/s (medians of ``repeats``).

    ``seconds`` is the total time budget, split evenly over both measurements and all
    repetitions.  Returns ``num_irqs``, ``spis``, ``mmio_per_s``, ``roundtrips_per_s``,
    ``ns_per_access``, ``ns_per_roundtrip`` and the raw samples.
    """
    _check_args(seconds, repeats)
    gic, spis = _setup(num_irqs)
    slot = seconds / (2 * repeats)
    mmio: list[float] = []
    rts: list[float] = []
    for _ in range(repeats):
        mmio.append(_rate(_mmio_ops, gic, spis, slot))
        rts.append(_rate(_roundtrips, gic, spis, slot))
    return _summary(gic, spis, mmio, rts)


def compare_sizes(seconds: float = 4.0, repeats: int = 7) -> dict[str, Any]:
    """Benchmark 32 SPIs (num_irqs 64) against 988 SPIs (num_irqs 1020 → 1024).

    The repetitions of both sizes are interleaved so that load from other processes hits
    both alike, and each ``cost_ratio_*`` (per-operation cost at 988 SPIs / cost at 32
    SPIs, target ≤ 1.2) is the median of the ratios of each round's back-to-back pair: a
    change of machine speed between rounds cancels out, where a ratio of medians would
    keep it.  ``seconds`` is the budget of the whole comparison.
    """
    _check_args(seconds, repeats)
    setups = [_setup(64), _setup(1020)]
    slot = seconds / (4 * repeats)
    samples: list[tuple[list[float], list[float]]] = [([], []), ([], [])]
    for _ in range(repeats):
        for (gic, spis), (mmio, rts) in zip(setups, samples, strict=True):
            mmio.append(_rate(_mmio_ops, gic, spis, slot))
            rts.append(_rate(_roundtrips, gic, spis, slot))
    small = _summary(*setups[0], *samples[0])
    large = _summary(*setups[1], *samples[1])
    return {
        "small": small,
        "large": large,
        "cost_ratio_mmio": paired_ratio(samples[0][0], samples[1][0]),
        "cost_ratio_roundtrip": paired_ratio(samples[0][1], samples[1][1]),
    }


def paired_ratio(num: list[float], den: list[float]) -> float:
    """Median over rounds of ``num[k] / den[k]``, two figures measured back to back in
    round ``k`` (rates: the small size's over the large one's gives the cost ratio; costs:
    the large size's over the small one's): robust to the machine's speed drifting between
    rounds."""
    if len(num) != len(den) or not num:
        raise ValueError("paired_ratio needs two non-empty lists of the same length")
    return statistics.median(a / b for a, b in zip(num, den, strict=True))


def _hot_setup() -> GICv2:
    """2 CPUs (the default configuration), Linux-like host programming: both groups
    enabled, EOImode 1, PMR 0xF0, every INTID enabled at priority 0xA0 targeting CPU 0;
    GICH_HCR.En = 1 and GICV Group 0 enabled with PMR 0xF8 on CPU 0; callbacks installed
    (as the simulator does)."""
    gic = GICv2(GICv2Config())
    cfg = gic.config
    d, c = cfg.gicd_base, cfg.gicc_base
    gic.on_output = lambda cpu, signal, level: None
    gic.on_event = lambda kind, intid, cpu, source: None
    gic.write(d, 3)  # GICD_CTLR: EnableGrp0 | EnableGrp1
    for cpu in range(cfg.num_cpus):
        gic.write(c, 0x203, 4, cpu)  # GICC_CTLR: EnableGrp0 | EnableGrp1 | EOImode
        gic.write(c + 0x004, 0xF0, 4, cpu)
        gic.write(d + 0x100, 0xFFFF_FFFF, 4, cpu)
        for i in range(16, 32, 4):
            gic.write(d + 0x400 + i, 0xA0A0_A0A0, 4, cpu)
    for w in range(1, cfg.num_irqs // 32):
        gic.write(d + 0x100 + 4 * w, 0xFFFF_FFFF)
    for i in range(32, cfg.num_irqs, 4):
        gic.write(d + 0x400 + i, 0xA0A0_A0A0)
        gic.write(d + 0x800 + i, 0x0101_0101)
    hyp = gic.hyp[0]
    hyp.write_hcr(GICH_HCR_EN)
    hyp.write_vmcr(0xF800_0001)  # VMPriMask 0xF8, VMCCtlr.EnableGrp0
    return gic


def _hot_ops(gic: GICv2) -> dict[str, Any]:
    """One-iteration closures of each hot path, keyed by what they do."""
    dist = gic.dist
    ci = gic.cpu_if[0]
    hyp = gic.hyp[0]
    vif = gic.vcpu_if[0]
    cfg = gic.config
    rd, wr = gic.read, gic.write
    d, c, h, v = cfg.gicd_base, cfg.gicc_base, cfg.gich_base, cfg.gicv_base
    set_line = gic.set_line
    lr = make_lr(40, state=1, priority=0xA0)

    def spi_line() -> None:
        set_line(40, True)
        set_line(40, False)

    def ppi_line() -> None:
        set_line(27, True, 0)
        set_line(27, False, 0)

    def phys_rt() -> None:
        dist.set_pending(41, True)
        i = ci.read_iar()
        ci.write_eoir(i)
        ci.write_dir(i)

    def enable_pair() -> None:
        dist.set_enabled(42, False)
        dist.set_enabled(42, True)

    def active_pair() -> None:
        dist.set_active(43, True)
        dist.is_active(43)
        dist.set_active(43, False)

    def virt_rt() -> None:
        hyp.write_lr(0, lr)
        i = vif.read_iar()
        vif.write_eoir(i)
        hyp.read_elrsr()
        hyp.read_eisr()
        hyp.read_misr()
        hyp.read_lr(0)

    def mmio_rt() -> None:
        wr(d + 0x204, 1 << 12)  # GICD_ISPENDR1: INTID 44
        i = rd(c + 0x00C)
        wr(c + 0x010, i)
        wr(c + 0x1000, i)

    def mmio_virt() -> None:
        wr(h + 0x100, lr)  # GICH_LR0
        i = rd(v + 0x00C)  # GICV_IAR
        wr(v + 0x010, i)  # GICV_EOIR
        rd(h + 0x030)  # GICH_ELRSR0
        rd(h + 0x010)  # GICH_MISR

    return {
        "set_line SPI level up+down": spi_line,
        "set_line PPI level up+down": ppi_line,
        "set_pending+read_iar+write_eoir+write_dir": phys_rt,
        "set_enabled off+on": enable_pair,
        "set_active on+is_active+off": active_pair,
        "write_lr+GICV read_iar+write_eoir+ELRSR/EISR/MISR/LR reads": virt_rt,
        "MMIO ISPENDR+IAR+EOIR+DIR": mmio_rt,
        "MMIO GICH_LR+GICV_IAR+GICV_EOIR+ELRSR+MISR": mmio_virt,
    }


def run_hot_path_benchmark(seconds: float = 2.0, repeats: int = 5) -> dict[str, float]:
    """ns per operation of each hot path (median of ``repeats``; CPU time)."""
    _check_args(seconds, repeats)
    gic = _hot_setup()
    ops = _hot_ops(gic)
    slot = seconds / (repeats * len(ops))
    out: dict[str, float] = {}
    for name, fn in ops.items():
        samples = []
        for _ in range(repeats):
            n = 0
            start = time.process_time()
            end = start + slot
            now = start
            while now < end or n == 0 or now == start:
                for _ in range(100):
                    fn()
                n += 100
                now = time.process_time()
            samples.append((now - start) / n * 1e9)
        out[name] = statistics.median(samples)
    return out


def main() -> None:
    """Print the 32-vs-988-SPI comparison."""
    res = compare_sizes()
    for key in ("small", "large"):
        r = res[key]
        print(
            f"{r['spis']:4d} SPIs: {r['mmio_per_s']:10.0f} MMIO/s ({r['ns_per_access']:.0f} ns)  "
            f"{r['roundtrips_per_s']:9.0f} IAR/EOIR/DIR round trips/s ({r['ns_per_roundtrip']:.0f} ns)"
        )
    print(f"cost ratio 988/32: MMIO {res['cost_ratio_mmio']:.3f}, round trip {res['cost_ratio_roundtrip']:.3f}")
    print("hot paths (ns per operation):")
    for name, ns in run_hot_path_benchmark().items():
        print(f"  {ns:8.0f}  {name}")


if __name__ == "__main__":
    main()
