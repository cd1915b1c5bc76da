"""The measurement experiments and host settings, as typed definitions.

An *experiment* is one guest behaviour the VMM (``measure/vmm.c``) knows, with the
defaults ``irqfwd measure`` uses for it; a *host setting* is how the host kernel runs
(GIC version of the QEMU board, KVM mode, halt polling).  Both are validated here, so
bad input is an :class:`~irqfwd.errors.InputError` naming the value and the choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from irqfwd.errors import InputError

__all__ = ["DEFAULT_EXPERIMENT", "EXPERIMENTS", "GUEST_FAULT", "MODES", "Experiment", "HostSetting",
           "ModelScenario", "all_host_settings", "get_experiment", "parse_gic", "parse_mode"]

Mode = Literal["nvhe", "vhe", "protected"]
MODES: tuple[Mode, ...] = ("nvhe", "vhe", "protected")


@dataclass(frozen=True)
class ModelScenario:
    """The irqfwd model scenario an experiment corresponds to (run through the CLI)."""

    scenario: str
    design: str
    overrides: tuple[str, ...] = ()
    rate_from_interval: bool = True
    """Set the device rate (``--set rate=``) to 1 / the experiment's interval."""
    baseline: tuple[str, ...] | None = ("devices.0.traffic.start_ns=10000000000",)
    """Overrides that remove the interrupt source: the model's baseline run, subtracted
    as the measurement subtracts its own (the device's first event after the run).  None:
    no baseline run; the host tick's exits are taken out instead (:attr:`busy_guest`)."""
    busy_guest: bool = False
    """The guest spins: each host tick is an IRQ exit and an entry, which the measurement's
    baseline (the same guest spinning without interrupts) removes; the model's run takes
    ``host_ticks`` off those counts instead of running a baseline it has no scenario for."""


_TIMER_NEVER = ("vms.0.timer.mode=oneshot", "vms.0.timer.oneshot_min_ns=10000000000",
                "vms.0.timer.oneshot_max_ns=10000000000")
"""The vtimer scenarios' baseline: the guest arms its timer 10 s ahead (it never fires)."""


@dataclass(frozen=True)
class Experiment:
    """One experiment of the VMM."""

    name: str
    description: str
    vcpus: int
    interval_us: int
    """Spacing of the interrupts: device request interval, vtimer period, SGI spacing.

    5 ms for the device and SGI experiments: under TCG one interrupt's round trip takes a
    few ms, and the guest must be back in WFI before the next one for the counts to be
    those of an idle guest."""
    default_n: int
    model: ModelScenario | None
    model_note: str = ""


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "level-resample",
            "level SPI through irqfd + resamplefd, re-asserted by the VMM as VFIO INTx does; "
            "guest idle in WFI",
            1, 5000, 50,
            ModelScenario("nic-level", "irqfd-resample", ("devices.0.bus=pci", "host.kernel=6.12"))),
        Experiment(
            "edge-irqfd", "edge SPI through a plain irqfd; guest idle in WFI",
            1, 5000, 50,
            ModelScenario("nic-edge", "irqfd-resample", ("host.kernel=6.12",))),
        Experiment(
            "vtimer-idle", "virtual timer at 1 kHz, guest idle in WFI between ticks",
            1, 1000, 50,
            ModelScenario("vtimer-tick", "irqfd-resample", ("host.kernel=6.12",), rate_from_interval=False,
                          baseline=_TIMER_NEVER)),
        Experiment(
            "vtimer-busy", "virtual timer at 1 kHz, guest spinning between ticks",
            1, 1000, 50,
            ModelScenario("vtimer-tick", "irqfd-resample", ("vms.0.timer.guest_busy=true", "host.kernel=6.12"),
                          rate_from_interval=False, baseline=None, busy_guest=True)),
        Experiment(
            "sgi", "SGI from vCPU0 (spinning) to vCPU1 waiting in WFI, on another host CPU",
            2, 5000, 50, None,
            "the model has no guest-SGI scenario yet (the host-as-today's-Linux work adds one)"),
        Experiment(
            "level-irqline",
            "level SPI of a device emulated in the VMM: raised and lowered with KVM_IRQ_LINE, "
            "the guest acks it through a device register (an MMIO exit); guest idle in WFI",
            1, 5000, 50,
            ModelScenario("nic-level", "vmm-irqline", ("devices.0.bus=pci", "host.kernel=6.12"))),
    )
}
DEFAULT_EXPERIMENT = "level-resample"

GUEST_FAULT = Experiment("guest-fault", "the guest reads an unmapped address (tests the error path)",
                         1, 1000, 1, None)
"""Not a measurement: the test of a faulting guest (tests/measure), kept out of EXPERIMENTS."""


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``, or an InputError listing the known ones."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise InputError(f"unknown experiment {name!r} (known: {', '.join(EXPERIMENTS)})") from None


def parse_gic(value: str | int) -> Literal[2, 3]:
    """``v2``/``2`` → 2, ``v3``/``3`` → 3."""
    text = str(value).strip().lower().removeprefix("v").removeprefix("gicv")
    if text == "2":
        return 2
    if text == "3":
        return 3
    raise InputError(f"unknown host GIC {value!r} (choose v2 or v3)")


def parse_mode(value: str) -> Mode:
    """``nvhe``, ``vhe`` or ``protected``."""
    text = value.strip().lower()
    for m in MODES:
        if text == m:
            return m
    raise InputError(f"unknown KVM mode {value!r} (choose {', '.join(MODES)})")


@dataclass(frozen=True)
class HostSetting:
    """How the host kernel runs KVM: the board's GIC, the KVM mode, halt polling."""

    gic: Literal[2, 3] = 2
    mode: Mode = "nvhe"
    halt_poll_ns: int | None = None
    """``kvm.halt_poll_ns``: None keeps the kernel's default (500000 on arm64)."""

    def __post_init__(self) -> None:
        if self.gic not in (2, 3):
            raise InputError(f"unknown host GIC {self.gic!r} (choose v2 or v3)")
        if self.mode not in MODES:
            raise InputError(f"unknown KVM mode {self.mode!r} (choose {', '.join(MODES)})")
        if self.halt_poll_ns is not None and not 0 <= self.halt_poll_ns <= 1_000_000_000:
            raise InputError(f"--halt-poll-ns {self.halt_poll_ns}: must be 0..1000000000")

    @property
    def key(self) -> str:
        """A file-name-safe name, e.g. ``gicv2-nvhe-poll_default``."""
        poll = "default" if self.halt_poll_ns is None else str(self.halt_poll_ns)
        return f"gicv{self.gic}-{self.mode}-poll_{poll}"

    def kernel_args(self) -> list[str]:
        """Host kernel command-line parameters for this setting.

        VHE is what arm64 Linux picks on a CPU with FEAT_VHE booted at EL2 (QEMU ``-cpu
        max``); nVHE and protected mode are chosen with ``kvm-arm.mode``.
        """
        args = []
        if self.mode != "vhe":
            args.append(f"kvm-arm.mode={self.mode}")
        if self.halt_poll_ns is not None:
            args.append(f"kvm.halt_poll_ns={self.halt_poll_ns}")
        return args

    def describe(self) -> str:
        poll = "default" if self.halt_poll_ns is None else f"{self.halt_poll_ns} ns"
        return f"GICv{self.gic}, {self.mode}, halt_poll_ns {poll}"


def all_host_settings(modes: tuple[Mode, ...] = ("nvhe", "vhe", "protected")) -> list[HostSetting]:
    """Every GIC × mode × halt-polling (default, 0) combination."""
    return [HostSetting(g, m, p) for g in (2, 3) for m in modes for p in (None, 0)]
