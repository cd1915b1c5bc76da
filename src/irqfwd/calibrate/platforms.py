"""Measured kvm-unit-tests ``arm/micro-bench`` figures per platform, and how each is fitted.

A :class:`Platform` holds one published row of micro-bench figures (ns per operation),
its source, the benchmarks the fit uses by default (the rest are *predicted*), the free
knobs of the fit (:mod:`irqfwd.calibrate.fit`) and the cost parameters it sets to values
that no held-out figure influenced (:class:`Setting`).  ``docs/calibration.md`` says
where every figure and every parameter comes from.

Figures the simulator cannot run are kept as ``unmodelled`` (``lpi``: an LPI through the
emulated ITS; the model is GICv2 and has no ITS).

GICv2 figures (Dall et al., ASPLOS'14 Table 3 and ISCA'16 Table III, cycle counts) are not
here: they could not be checked against the papers (``docs/calibration.md`` §6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from irqfwd.calibrate.microbench import MEASURED_ALTRA

__all__ = ["DEFAULT_FIT", "PLATFORMS", "Platform", "Setting"]

DEFAULT_FIT: tuple[str, ...] = ("hvc", "mmio_read_vgic", "mmio_read_user", "eoi")
"""The benchmarks the fit uses unless told otherwise: the exit/entry path and the virtual
CPU interface.  ``ipi`` and ``timer_10ms`` are held out and predicted."""


@dataclass(frozen=True)
class Setting:
    """A cost parameter pinned to ``value`` ns before the fit, and why."""

    param: str
    value: int
    role: Literal["measured", "assumed"]
    source: str


@dataclass(frozen=True)
class Platform:
    """One published row of micro-bench figures and its default fit."""

    name: str
    title: str
    source: str
    measured: dict[str, float]
    """benchmark → ns/op, for the benchmarks the simulator runs."""
    free: tuple[str, ...]
    """Default free knobs of the fit (:func:`irqfwd.calibrate.fit.resolve_knob`)."""
    fit: tuple[str, ...] = DEFAULT_FIT
    settings: tuple[Setting, ...] = ()
    unmodelled: dict[str, float] = field(default_factory=dict)
    """Measured figures of benchmarks the simulator does not run."""
    note: str = ""


_HELD_OUT_RESET = (
    "reset to its value before it was fitted to a held-out figure: the first Altra "
    "profile (commit 7d8a9d0) had {value} ns; commit {commit} refitted it to micro-bench "
    "{bench}, so the shipped value cannot be used to predict {bench}.  No independent "
    "measurement of it was found (docs/calibration.md §3)"
)

PLATFORMS: dict[str, Platform] = {
    "altra": Platform(
        name="altra",
        title="Ampere Altra (Neoverse-N1, GICv3), Linux 6.12-rc1",
        source="R. Ananta, LKML, 'Re: [PATCH v2] KVM: arm64: Get rid of "
               "userspace_irqchip_in_use', 2024-10-29",
        measured=dict(MEASURED_ALTRA),
        free=("world_switch", "mmio_emul_kernel_ns", "mmio_emul_user_ns", "gicv_access_ns"),
        settings=(
            Setting("kick_ipi_ns", 400, "assumed",
                    _HELD_OUT_RESET.format(value=400, commit="327ac25", bench="ipi")),
            Setting("kvm_timer_irq_ns", 0, "assumed",
                    "reset to its value before it was fitted to a held-out figure: 0 ns "
                    "(the field's default before commit ba581be, which introduced 310 ns "
                    "fitted to micro-bench timer_10ms).  No independent measurement of it "
                    "was found (docs/calibration.md §3)"),
        ),
        unmodelled={"lpi": 2179},
        note="hypercall_ns (36 ns) is assumed: the fit gives the rest of hvc to the world switch",
    ),
    "kunpeng920": Platform(
        name="kunpeng920",
        title="HiSilicon Kunpeng 920 (TaiShan v110, GICv3), qemu-kvm -smp 2, pinned",
        source="heqiong (Phytium), kvm-unit-tests arm/micro-bench patch thread, 2023-11",
        measured={"hvc": 408, "mmio_read_user": 2306, "mmio_read_vgic": 638, "eoi": 26,
                  "ipi": 1697, "timer_10ms": 1822},
        free=("cpu_scale", "mmio_emul_user_ns", "gicv_access_ns"),
        unmodelled={"lpi": 2168},
        note="prior: the Altra profile; one speed factor for every other cost, fitted on "
             "hvc and mmio_read_vgic together (over-determined by one)",
    ),
    "phytium-s2500": Platform(
        name="phytium-s2500",
        title="Phytium S2500 (FTC663, GICv3), qemu-kvm",
        source="heqiong (Phytium), kvm-unit-tests arm/micro-bench patch thread, 2023-11",
        measured={"hvc": 1536, "mmio_read_user": 7214, "mmio_read_vgic": 2150, "eoi": 45,
                  "ipi": 4979, "timer_10ms": 4968},
        free=("cpu_scale", "mmio_emul_user_ns", "gicv_access_ns"),
        unmodelled={"lpi": 5481},
        note="prior: the Altra profile; one speed factor for every other cost, fitted on "
             "hvc and mmio_read_vgic together (over-determined by one)",
    ),
}
"""The platforms ``irqfwd calibrate --platform`` knows."""
