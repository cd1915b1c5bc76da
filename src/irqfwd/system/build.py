"""Build a whole system (machine, host, VMs, guests, devices) for one design and run it.

:func:`build_system` wires, for every device of the scenario, the path its design asks for
(:mod:`irqfwd.system.designs`): host SPI + VFIO platform irq + trigger eventfd + KVM irqfd
(resample, pulse or mapped), optionally forwarding (``irq_set_vcpu_affinity`` +
``kvm_vgic_map_phys_irq``) and an irqbypass producer/consumer pair.

:func:`run_scenario` runs the scenario for ``duration_ns`` and then tears the VMs down the
way a VMM killing a guest would: at the next guest handler entry (the guest holds an
active interrupt; at most ``TEARDOWN_WINDOW_NS`` later) the VM is marked dying, its vCPUs
leave, and the host resets the device, stops irqfd injection, unmasks the VFIO line (as
QEMU does when it stops KVM injection), frees the host irq and un-forwards/unmaps it.  A
design whose teardown leaves a physical interrupt active shows it in the counter
``teardown_stuck_active`` and in the invariant checker.  Trace: ``vm_teardown`` (``vm``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from irqfwd.check.invariants import InvariantChecker, Violation
from irqfwd.config import DeviceConfig, ScenarioConfig
from irqfwd.devices.nic import Nic
from irqfwd.errors import InputError
from irqfwd.guest.gic_v2 import GicV2GuestDriver
from irqfwd.guest.kernel import GuestDriver, GuestKernel
from irqfwd.host.eventfd import EventFd
from irqfwd.host.irqbypass import IrqBypassProducer
from irqfwd.host.kernel import HostKernel
from irqfwd.host.kvm.arm import kvm_arch_init
from irqfwd.host.kvm.arm_vgic import VGIC_IRQ_SW_RESAMPLE, IrqOps, VgicOptions
from irqfwd.host.kvm.irqfd import KvmIrqfd
from irqfwd.host.kvm.kvm_host import KvmGlobals
from irqfwd.host.kvm.vgic import kvm_vgic_map_phys_irq, kvm_vgic_unmap_phys_irq
from irqfwd.host.kvm.vm import Vm
from irqfwd.host.vfio import VfioPlatformIrq
from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.hw.gicv2.gic import GICv2
from irqfwd.hw.machine import HOST, Machine
from irqfwd.sim.costs import CostProfile, load_profile
from irqfwd.sim.engine import LATE, Engine
from irqfwd.sim.metrics import Recorder
from irqfwd.system.designs import Design, get_design
from irqfwd.system.vtimer import VtimerSystem, install_vtimer

__all__ = ["TEARDOWN_WINDOW_NS", "DeviceWiring", "RunResult", "System", "build_system", "run_scenario"]

TEARDOWN_WINDOW_NS = 1_000_000
"""After ``duration_ns``, wait at most this long for a guest handler entry to kill the VM in."""


@dataclass
class DeviceWiring:
    """Everything built for one device."""

    cfg: DeviceConfig
    nic: Nic
    kvm: Vm
    host_irq: int
    vfio: VfioPlatformIrq
    trigger: EventFd
    irqfd: KvmIrqfd
    resamplefd: EventFd | None = None
    forwarded: bool = False


@dataclass
class System:
    """A built system, ready to run."""

    config: ScenarioConfig
    design: Design
    engine: Engine
    recorder: Recorder
    costs: CostProfile
    machine: Machine
    gic: GICv2
    host: HostKernel
    kvm: KvmGlobals
    vms: list[Vm]
    guests: list[GuestKernel]
    devices: list[DeviceWiring]
    torn_down: list[int] = field(default_factory=list)
    vtimer: VtimerSystem | None = None
    """The arch timer when a VM uses it."""


@dataclass
class RunResult:
    """Outcome of one :func:`run_scenario`."""

    config: ScenarioConfig
    design: str
    seed: int
    recorder: Recorder
    checker: InvariantChecker
    sim_time_ns: int
    events_run: int
    system: System | None = field(default=None, repr=False)

    @property
    def counters(self) -> dict[str, int]:
        return dict(self.recorder.counters)

    @property
    def violations(self) -> list[Violation]:
        """The invariant violations of the run."""
        return list(self.checker.violations)


def _num_irqs(config: ScenarioConfig) -> int:
    top = max([d.host_intid for d in config.devices] + [d.guest_intid for d in config.devices] + [63])
    return min(1024, ((top + 1 + 31) // 32) * 32)


def build_system(config: ScenarioConfig, design: str | Design, *, seed: int | None = None,
                 costs: CostProfile | None = None, tracing: bool = False,
                 vgic_2025: bool = False) -> System:
    """Build machine, host kernel, VMs, guests and devices for ``config`` under ``design``.

    ``vgic_2025``: the 2025 LR-overflow vgic (ap_list order pending-first, GICV_DIR always
    trapped and emulated) instead of the classic one (active irqs first, DIR not trapped).
    """
    d = design if isinstance(design, Design) else get_design(design)
    if costs is None:
        try:
            costs = load_profile(config.cost_profile)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    engine = Engine(config.seed if seed is None else seed)
    rec = Recorder(engine, tracing=tracing)
    num_irqs = _num_irqs(config)
    gic = GICv2(GICv2Config(num_cpus=config.pcpus, num_irqs=num_irqs, num_lrs=config.num_lrs))
    machine = Machine(engine, rec, costs, gic)
    host = HostKernel(machine, config.host_at_el2, config.scheduler)
    sched = host.sched
    kvm_arch = kvm_arch_init(host)
    if d.forward and not host.irqchip.eoimode1:
        raise InputError(
            f"design {d.name!r} forwards interrupts, which needs the host GIC driver in EOImode 1 "
            "(split EOI/deactivate): set host_at_el2 = true")
    opts = VgicOptions(level_eoi_bit=d.level_eoi_bit, hw_lr_pending_active=d.hw_lr_pending_active,
                       mapped_level_lower_line=not d.hw_lr_pending_active,
                       ap_list_order="2025" if vgic_2025 else "legacy", trap_dir=vgic_2025)
    vms: list[Vm] = []
    for i, vmc in enumerate(config.vms):
        kvm = Vm(kvm_arch, i, vmc.name or f"vm{i}", vmc.vcpus, num_irqs - 32, opts,
                 dist_base=gic.config.gicd_base)
        vms.append(kvm)
    guest_vintids: dict[int, set[int]] = {}
    wirings: list[DeviceWiring] = []
    for dev in config.devices:
        used = guest_vintids.setdefault(dev.vm, set())
        if dev.guest_intid in used:
            raise InputError(f"device {dev.name!r}: VM {dev.vm} already has a device on vINTID {dev.guest_intid}")
        used.add(dev.guest_intid)
        wirings.append(_wire_device(machine, host, vms[dev.vm], dev, d))
    guests: list[GuestKernel] = []
    for kvm in vms:
        drivers = [
            GuestDriver(w.nic, w.cfg.guest_intid, w.cfg.vcpu,
                        w.cfg.handler_ns if w.cfg.handler_ns is not None else costs.guest_handler_ns,
                        threaded=w.cfg.threaded, napi=w.cfg.napi, napi_budget=w.cfg.napi_budget,
                        edge=w.cfg.trigger == "edge")
            for w in wirings if w.kvm is kvm
        ]
        guest_gic = GicV2GuestDriver(gic.vcpu_if, gic.config.gicd_base, gic.config.gicv_base,
                                     config.guest.eoimode == 1)
        guests.append(GuestKernel(kvm, costs, config.guest.eoimode, drivers, guest_gic))
    vtimer: VtimerSystem | None = None
    if any(vmc.timer.enabled for vmc in config.vms):
        vtimer = install_vtimer(machine, gic, host, vms, guests, config, d.hw_deactivation)
    g = 0
    for i, vmc in enumerate(config.vms):
        for v, vcpu in enumerate(vms[i].vcpus):
            pcpu = vmc.pin[v] if vmc.pin is not None else g % config.pcpus
            sched.add_task(vcpu, pcpu)
            g += 1
    return System(config, d, engine, rec, costs, machine, gic, host, kvm_arch, vms, guests, wirings,
                  vtimer=vtimer)


def _wire_device(machine: Machine, host: HostKernel, kvm: Vm, dev: DeviceConfig, d: Design) -> DeviceWiring:
    nic = Nic(machine, dev)
    level = dev.trigger == "level"
    host_irq = host.irqchip.map_spi(dev.host_intid, edge=not level)
    vfio = VfioPlatformIrq(machine, host.genirq, host.wq, host_irq, dev.host_intid, level,
                           f"vfio-{dev.name}", automask=d.vfio_automask, early_unmask=d.early_unmask)
    trigger = EventFd(machine, f"{dev.name}-trigger")
    gsi = dev.guest_intid - 32
    vcpu = kvm.vcpus[dev.vcpu]
    if d.forward:
        ret = host.genirq.irq_set_vcpu_affinity(host_irq, vcpu)
        if ret:
            raise InputError(f"design {d.name!r}: irq_set_vcpu_affinity failed ({ret})")
        ops = None if d.hw_deactivation else IrqOps(VGIC_IRQ_SW_RESAMPLE)
        kvm_vgic_map_phys_irq(kvm, vcpu, host_irq, dev.guest_intid, ops)
    ret = vfio.set_trigger(trigger)
    if ret:
        raise InputError(f"device {dev.name!r}: request_irq failed ({ret})")
    resamplefd: EventFd | None = None
    if level and not d.forward and d.irqfd_mode == "resample":
        resamplefd = EventFd(machine, f"{dev.name}-resample")
        irqfd = kvm.irqfds.kvm_irqfd_assign(trigger, gsi, resamplefd)
        vfio.set_unmask_eventfd(resamplefd)
    else:
        irqfd = kvm.irqfds.kvm_irqfd_assign(trigger, gsi, None, "mapped" if d.forward else "pulse")
    if not isinstance(irqfd, KvmIrqfd):
        raise InputError(f"device {dev.name!r}: KVM_IRQFD failed ({irqfd})")
    if d.direct_inject:
        _connect_bypass(host, vfio, irqfd)
    return DeviceWiring(dev, nic, kvm, host_irq, vfio, trigger, irqfd, resamplefd, d.forward)


def _connect_bypass(host: HostKernel, vfio: VfioPlatformIrq, irqfd: KvmIrqfd) -> None:
    """Pair the VFIO producer with the irqfd consumer (token = trigger eventfd)."""
    genirq = host.genirq

    def add_producer(fd: KvmIrqfd, prod: IrqBypassProducer) -> int:
        vfio.bypass_inject = fd.direct_inject
        return 0

    def del_producer(fd: KvmIrqfd, prod: IrqBypassProducer) -> None:
        vfio.bypass_inject = None

    irqfd.on_add_producer = add_producer
    irqfd.on_del_producer = del_producer
    prod = vfio.producer
    prod.token = vfio.trigger
    prod.stop = lambda p: genirq.disable_irq(p.irq)
    prod.start = lambda p: genirq.enable_irq(p.irq)
    ret = host.irqbypass.register_consumer(irqfd.consumer)
    if not ret:
        ret = host.irqbypass.register_producer(prod)
    if ret:
        raise InputError(f"irqbypass registration failed ({ret})")


# ---------------------------------------------------------------------- teardown
class _Teardown:
    """Kill the VMs at the next guest handler entry after the end, then tear them down."""

    def __init__(self, system: System) -> None:
        self.s = system
        self.killed = False

    def arm(self) -> None:
        for g in self.s.guests:
            g.on_handler_entry = self._on_handler
        self.s.engine.schedule(TEARDOWN_WINDOW_NS, self.kill, priority=LATE)

    def _on_handler(self, gcpu: Any, driver: Any) -> None:
        if not self.killed:
            self.kill()

    def kill(self) -> None:
        if self.killed:
            return
        self.killed = True
        s = self.s
        for nic in (w.nic for w in s.devices):
            nic._arrivals = iter(())
        for kvm in s.vms:
            kvm.dying = True
            for vcpu in kvm.vcpus:
                if vcpu.blocked or vcpu.cpu is None:
                    vcpu.exited = True
                else:
                    vcpu.request_exit()
                    vcpu.cpu.poke()
                    vcpu.cpu.interrupt()
        s.engine.schedule(0, self._wait, priority=LATE)

    def _wait(self) -> None:
        s = self.s
        # Also wait for host IRQ handlers in flight: the host tears down from task context,
        # after a handler's deferred GICC_DIR (gic_handle_irq's irq_eoi) has executed.
        if all(v.exited for kvm in s.vms for v in kvm.vcpus) and not any(
                c.mode == HOST and c.irqs_masked for c in s.machine.pcpus):
            self.teardown()
            s.engine.stop()
        else:
            s.engine.schedule(100, self._wait, priority=LATE)

    def teardown(self) -> None:
        s = self.s
        genirq = s.host.genirq
        rec = s.recorder
        for kvm in s.vms:
            if rec.wants("vm_teardown"):
                rec.emit("vm_teardown", vm=kvm.index)
        for w in s.devices:
            w.nic.pending = 0
            w.nic.set_irq_enabled(False)  # device reset: line low
            if s.design.direct_inject:
                s.host.irqbypass.unregister_producer(w.vfio.producer)
                s.host.irqbypass.unregister_consumer(w.irqfd.consumer)
            w.kvm.irqfds.kvm_irqfd_deassign(w.irqfd)
            vcpu = w.kvm.vcpus[w.cfg.vcpu]
            if w.forwarded and not s.design.teardown_deactivate:
                genirq.irq_set_vcpu_affinity(w.host_irq, None)
                kvm_vgic_unmap_phys_irq(w.kvm, vcpu, w.cfg.guest_intid)
            w.vfio.unmask()
            w.vfio.release()
            if w.forwarded and s.design.teardown_deactivate:
                genirq.irq_set_vcpu_affinity(w.host_irq, None)
                kvm_vgic_unmap_phys_irq(w.kvm, vcpu, w.cfg.guest_intid)
            if s.gic.dist.is_active(w.cfg.host_intid):
                rec.count("teardown_stuck_active")
        s.torn_down = [kvm.index for kvm in s.vms]


def run_scenario(config: ScenarioConfig, design: str, *, seed: int | None = None,
                 costs: CostProfile | None = None, tracing: bool = False,
                 vgic_2025: bool = False) -> RunResult:
    """Run ``config`` under ``design``; deterministic for a given seed (``vgic_2025``: see
    :func:`build_system`)."""
    from irqfwd.devices.traffic import arrivals

    system = build_system(config, design, seed=seed, costs=costs, tracing=tracing, vgic_2025=vgic_2025)
    checker = InvariantChecker(system.recorder, design)
    engine = system.engine
    end = config.duration_ns
    for w in system.devices:
        w.nic.start(arrivals(w.cfg.traffic, engine.rng, 0, end + TEARDOWN_WINDOW_NS))
    system.host.sched.start_migration()
    system.machine.run(end)
    td = _Teardown(system)
    td.arm()
    system.machine.run(end + 2 * TEARDOWN_WINDOW_NS)
    if not td.killed:
        td.kill()
        system.machine.run(end + 3 * TEARDOWN_WINDOW_NS)
    if not system.torn_down:
        td.teardown()
    checker.finish(engine.now)
    return RunResult(config, design, engine.seed, system.recorder, checker, engine.now,
                     engine.events_run, system)
