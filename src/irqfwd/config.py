"""Scenario configuration: what machine, which VMs and devices, what traffic, for how long.

A scenario is a validated pydantic model.  Built-in scenarios live in
:mod:`irqfwd.scenarios.builtin`; users write the same structure as TOML.  The delivery
*design* (``irqfd-resample``, ``forwarded``, ...) is chosen separately, so one scenario can
be run under several designs side by side.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "KERNEL_PROFILES",
    "DeviceConfig",
    "GuestConfig",
    "HostConfig",
    "HostileBehaviour",
    "ScenarioConfig",
    "SchedulerConfig",
    "TimerConfig",
    "TrafficConfig",
    "VMConfig",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrafficConfig(_Strict):
    """When the device raises interrupts (one *event* = one packet/completion)."""

    pattern: Literal["periodic", "poisson", "burst", "trace"] = "periodic"
    rate_hz: float = Field(default=20_000.0, gt=0, le=1e9, allow_inf_nan=False)
    """Mean event rate (periodic, poisson; for burst: mean rate of bursts × burst_size).  A
    finite rate of at most 1 GHz (a period of at least 1 ns, the engine's time step)."""
    burst_size: int = Field(default=8, ge=1)
    burst_gap_ns: int = Field(default=500, ge=0)
    """Spacing of events inside one burst."""
    trace_csv: str | None = None
    """For ``trace``: CSV with a ``time_ns`` column (one event per row)."""
    start_ns: int = Field(default=10_000, ge=0)
    count: int | None = Field(default=None, ge=1)
    """At most this many events (None: every event the pattern gives until the run ends)."""

    @model_validator(mode="after")
    def _trace_needs_file(self) -> TrafficConfig:
        if self.pattern == "trace" and not self.trace_csv:
            raise ValueError("pattern 'trace' needs trace_csv")
        if self.pattern == "burst":
            span = (self.burst_size - 1) * self.burst_gap_ns
            period = self.burst_size * 1e9 / self.rate_hz
            if span >= period:
                raise ValueError(f"burst_gap_ns: a burst of {self.burst_size} events {self.burst_gap_ns} ns "
                                 f"apart lasts {span} ns, not shorter than the burst period "
                                 f"{period:.0f} ns at rate_hz={self.rate_hz:g}")
        return self


class DeviceConfig(_Strict):
    """A pass-through device (a NIC) assigned to a VM through VFIO."""

    name: str = "nic0"
    kind: Literal["nic", "msix-nic", "ipi"] = "nic"
    """``nic``: one interrupt line (an SPI, or INTx); ``msix-nic``: a multi-queue PCI NIC with
    one MSI-X vector per queue (needs a GICv3 ITS: ``gic`` = v3, v4 or v4.1); ``ipi``: guest
    IPIs, vCPU 0 sends SGI 1 to ``vcpu`` at the traffic's times."""
    queues: int = Field(default=1, ge=1, le=32)
    """``msix-nic``: receive queues, each with its own MSI-X vector and its own traffic."""
    queue_vcpus: list[int] | None = None
    """``msix-nic``: the vCPU each queue's vector targets (default: round-robin over the VM's
    vCPUs, starting at ``vcpu``)."""
    bus: Literal["platform", "pci"] = "platform"
    """How VFIO exposes its interrupt: a platform device's SPI (``vfio_platform_irq.c``,
    masked with ``disable_irq_nosync``) or a PCI device's INTx (``vfio_pci_intrs.c``, masked
    at the device with DisINTx)."""
    vm: int = Field(default=0, ge=0)
    """Index of the VM the device is assigned to."""
    vcpu: int = Field(default=0, ge=0)
    """Target vCPU of the virtual interrupt inside that VM."""
    trigger: Literal["level", "edge"] = "level"
    host_intid: int = Field(default=48, ge=32, le=1019)
    """Physical SPI the device is wired to."""
    host_cpu: int | None = Field(default=None, ge=0)
    """The pCPU the device's host interrupts are routed to (the ``smp_affinity_list`` of its
    host IRQs, set with ``irq_set_affinity``); None = Linux's default without irqbalance.

    * ``nic``: the host SPI, routed when the system is built (``gic_set_affinity``:
      GICD_ITARGETSR, GICD_IROUTER); None = the boot CPU.
    * ``msix-nic``: every vector's host LPI, routed as soon as VFIO has allocated the
      vectors (at the guest's MSI-X enable; ``its_set_affinity``: MOVI to the pCPU's
      collection); None = the CPU ``its_select_cpu`` gave each (the least loaded).  Applies
      under the designs where the host takes the LPIs and signals the irqfd
      (``its-emulated``, and the SPI designs, ``forwarded-direct`` included: they leave an
      MSI on that path).  Refused under GICv4 direct injection (``gicv4-direct``,
      ``gicv41-vsgi``; :func:`irqfwd.system.designs.unsupported`): the vectors are vLPIs,
      delivered to the redistributor of the target vCPU's vPE, and Linux's
      ``its_set_affinity`` refuses a forwarded LPI (-EINVAL).
    * ``ipi``: refused (no host interrupt)."""
    guest_intid: int = Field(default=48, ge=32, le=1019)
    """Virtual SPI the guest sees (GSI routed by irqfd)."""
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)
    handler_ns: int | None = Field(default=None, ge=0)
    """Guest handler work; None = the cost profile's guest_handler_ns."""
    threaded: bool = False
    """Guest driver uses a threaded (oneshot) handler."""
    napi: bool = False
    """NAPI-like polling: the guest masks device interrupts and polls while work remains."""
    napi_budget: int = Field(default=64, ge=1)
    coalesce_ns: int = Field(default=0, ge=0)
    """Interrupt moderation: at most one interrupt per coalesce_ns (0 = off)."""

    @model_validator(mode="after")
    def _intx_is_level(self) -> DeviceConfig:
        if self.bus == "pci" and self.trigger != "level":
            raise ValueError("bus = 'pci': a PCI INTx line is level-triggered (PCI 3.0 §2.2.6); "
                             "a PCI device's edge interrupts are MSIs")
        return self


class GuestConfig(_Strict):
    """Guest kernel behaviour."""

    eoimode: Literal[0, 1] = 0
    """Guest GIC driver EOImode (a Linux guest without EL2 runs EOImode 0)."""
    busy: bool = False
    """The guest computes instead of idling in WFI: its interrupts arrive while it runs
    (an IRQ exit each) rather than waking a halted vCPU."""


class TimerConfig(_Strict):
    """Guest use of the virtual timer (arch timer scenarios)."""

    enabled: bool = False
    mode: Literal["periodic", "oneshot"] = "periodic"
    hz: int = Field(default=250, ge=100, le=1000)
    """Tick rate for periodic mode (CONFIG_HZ)."""
    oneshot_min_ns: int = Field(default=50_000, ge=1)
    oneshot_max_ns: int = Field(default=2_000_000, ge=1)
    guest_busy: bool = False
    """The guest vCPU computes between interrupts instead of idling in WFI, so its timer
    fires while it runs (physical IRQ exit) and it can be preempted or migrated with the
    timer interrupt pending or active."""

    @model_validator(mode="after")
    def _oneshot_range(self) -> TimerConfig:
        if self.oneshot_min_ns > self.oneshot_max_ns:
            raise ValueError(f"oneshot_min_ns ({self.oneshot_min_ns}) is above oneshot_max_ns "
                             f"({self.oneshot_max_ns})")
        return self


HostileBehaviour = Literal["never-eoi", "bogus-eoi", "gicv-fuzz", "gicd-fuzz", "sgi-flood", "irq-toggle",
                          "timer-storm", "eoi-unserviced"]
"""What a hostile guest does (:mod:`irqfwd.guest.hostile`)."""


KERNEL_PROFILES = ("current", "6.12", "6.1", "5.8")
"""Host kernels whose behaviour the host model can follow (``docs/designs.md``, "Kernel
profiles"): ``current`` (upstream, with the 2025 vgic LR-overflow rework), ``6.12`` (what
``irqfwd measure`` boots), ``6.1`` (Debian 12's kernel) and ``5.8`` (before in-atomic SPI
injection)."""


class HostConfig(_Strict):
    """The host kernel: which Linux behaviour, its tick and KVM's halt polling."""

    kernel: Literal["current", "6.12", "6.1", "5.8"] = "current"
    hz: int = Field(default=250, ge=0, le=1000)
    """CONFIG_HZ of the host (Debian arm64: 250); the tick interrupts a busy CPU (NO_HZ_IDLE:
    not an idle one).  0 = no host tick."""
    halt_poll_ns: int | None = Field(default=None, ge=0, le=10_000_000)
    """``kvm.halt_poll_ns``; None = the arm64 default (``KVM_HALT_POLL_NS_DEFAULT``)."""
    wfi_trap_policy: Literal["default", "trap", "notrap"] = "default"
    """``kvm-arm.wfi_trap_policy``: ``default`` is KVM's heuristic (WFI traps unless the vCPU
    runs alone with directly injected interrupts, GICv4), ``trap`` / ``notrap`` force it."""


class VMConfig(_Strict):
    """One VM: vCPUs and optional pinning of vCPU i to pCPU pin[i]."""

    name: str | None = None
    vcpus: int = Field(default=1, ge=1, le=8)
    pin: list[Annotated[int, Field(ge=0)]] | None = None
    """pCPU of each vCPU (index = vCPU), each >= 0 and below ``pcpus``."""
    timer: TimerConfig = Field(default_factory=TimerConfig)
    hostile: HostileBehaviour | None = None
    """Run a hostile guest (:mod:`irqfwd.guest.hostile`) instead of the Linux-like kernel."""


class SchedulerConfig(_Strict):
    """How vCPU threads share physical CPUs."""

    policy: Literal["pinned", "round-robin"] = "pinned"
    timeslice_ns: int = Field(default=1_000_000, ge=1_000)
    migrate_every_ns: int = Field(default=0, ge=0)
    """Move vCPUs between pCPUs this often (0 = never)."""


class ScenarioConfig(_Strict):
    """A complete scenario."""

    name: str
    description: str = ""
    duration_ns: int = Field(default=10_000_000, gt=0)
    seed: int = 0
    pcpus: int = Field(default=1, ge=1, le=8)
    num_lrs: int = Field(default=4, ge=2, le=64)
    """List registers per CPU interface (GICH_VTR.ListRegs + 1).  At least 2: with one,
    the underflow maintenance interrupt KVM asks for on overflow (GICH_HCR.UIE: at most one
    LR valid) would hold as soon as that LR is written, and the vCPU would never run."""
    host_at_el2: bool = True
    """Host booted at EL2/HYP: GIC driver uses EOImode 1 (Linux gic_check_eoimode)."""
    vms: list[VMConfig] = Field(default_factory=lambda: [VMConfig()])
    devices: list[DeviceConfig] = Field(default_factory=lambda: [DeviceConfig()])
    guest: GuestConfig = Field(default_factory=GuestConfig)
    host: HostConfig = Field(default_factory=HostConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    cost_profile: str = Field(default="altra", min_length=1)
    gic: Literal["v2", "v3", "v4", "v4.1"] = "v2"
    """The interrupt controller: GICv2 with the virtualization extensions, GICv3 with an
    ITS, GICv4 (direct vLPI injection) or GICv4.1 (and direct vSGIs)."""
    designs: list[str] | None = None
    """The designs ``irqfwd compare`` runs by default for this scenario (None: the usual
    ones)."""

    @model_validator(mode="after")
    def _check_refs(self) -> ScenarioConfig:
        """Cross-field consistency; each message starts with the offending field's path."""
        names: dict[str, int] = {}
        hosts: dict[int, str] = {}
        vintids: dict[tuple[int, int], str] = {}
        for i, dev in enumerate(self.devices):
            where = f"devices.{i}"
            if dev.name in names:
                raise ValueError(f"{where}.name: device name {dev.name!r} is already used by devices.{names[dev.name]}")
            names[dev.name] = i
            if dev.vm >= len(self.vms):
                raise ValueError(f"{where}.vm: device {dev.name!r} is assigned to VM {dev.vm}, but there "
                                 f"{'is 1 VM' if len(self.vms) == 1 else f'are {len(self.vms)} VMs'}")
            if dev.vcpu >= self.vms[dev.vm].vcpus:
                raise ValueError(f"{where}.vcpu: device {dev.name!r} targets vCPU {dev.vcpu} of VM {dev.vm}, "
                                 f"which has {self.vms[dev.vm].vcpus} vCPU(s)")
            if dev.host_cpu is not None:
                if dev.kind == "ipi":
                    raise ValueError(f"{where}.host_cpu: applies to devices with host interrupts (kind "
                                     f"'nic' or 'msix-nic'); device {dev.name!r} is kind 'ipi'")
                if dev.host_cpu >= self.pcpus:
                    what = "interrupts" if dev.kind == "msix-nic" else "interrupt"
                    raise ValueError(f"{where}.host_cpu: device {dev.name!r} routes its host {what} to "
                                     f"pCPU {dev.host_cpu}, but there "
                                     f"{'is 1 pCPU' if self.pcpus == 1 else f'are {self.pcpus} pCPUs'}")
            if dev.kind != "nic":
                continue  # MSI-X queues and IPIs have no host SPI or vINTID of their own
            other = hosts.get(dev.host_intid)
            if other is not None:
                raise ValueError(f"{where}.host_intid: device {dev.name!r} is wired to host INTID "
                                 f"{dev.host_intid}, already used by device {other!r}")
            hosts[dev.host_intid] = dev.name
            other = vintids.get((dev.vm, dev.guest_intid))
            if other is not None:
                raise ValueError(f"{where}.guest_intid: VM {dev.vm} already has device {other!r} on "
                                 f"vINTID {dev.guest_intid}")
            vintids[(dev.vm, dev.guest_intid)] = dev.name
        for i, vm in enumerate(self.vms):
            if vm.pin is not None:
                if len(vm.pin) != vm.vcpus:
                    raise ValueError(f"vms.{i}.pin: lists {len(vm.pin)} pCPU(s) for {vm.vcpus} vCPU(s)")
                bad = [p for p in vm.pin if p >= self.pcpus]
                if bad:
                    raise ValueError(f"vms.{i}.pin: names pCPU {bad[0]}, but there "
                                     f"{'is 1 pCPU' if self.pcpus == 1 else f'are {self.pcpus} pCPUs'}")
        for i, dev in enumerate(self.devices):
            where = f"devices.{i}"
            if dev.kind == "ipi" and dev.vcpu == 0:
                raise ValueError(f"{where}.vcpu: IPIs are sent by vCPU 0 to another vCPU: set vcpu >= 1")
            if dev.kind == "msix-nic" and self.gic == "v2":
                raise ValueError(f"{where}.kind: device {dev.name!r} uses MSI-X, which needs an ITS: "
                                 "set gic to v3, v4 or v4.1")
            if dev.queue_vcpus is not None:
                if len(dev.queue_vcpus) != dev.queues:
                    raise ValueError(f"{where}.queue_vcpus: lists {len(dev.queue_vcpus)} vCPUs for "
                                     f"{dev.queues} queues")
                if any(not 0 <= v < self.vms[dev.vm].vcpus for v in dev.queue_vcpus):
                    raise ValueError(f"{where}.queue_vcpus: names a vCPU VM {dev.vm} does not have")
        return self
