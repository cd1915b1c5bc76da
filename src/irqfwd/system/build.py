"""Build a whole system (machine, host, VMs, guests, devices) for one design.

:func:`build_system` wires, for every device of the scenario, the path its design asks for
(:mod:`irqfwd.system.designs`): host SPI + VFIO platform irq + trigger eventfd + KVM irqfd
(resample, pulse or mapped), optionally forwarding (``irq_set_vcpu_affinity`` +
``kvm_vgic_map_phys_irq``) and an irqbypass producer/consumer pair; a device with
``host_cpu`` gets its host irq routed there (``irq_set_affinity``) once it is requested
(an MSI-X device's vectors, once VFIO allocates them: :mod:`irqfwd.system.msi`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from irqfwd.config import DeviceConfig, ScenarioConfig
from irqfwd.devices.nic import BAR_SIZE, Nic
from irqfwd.errors import InputError
from irqfwd.guest.gic_v2 import GicV2GuestDriver
from irqfwd.guest.hostile import HostileGuest
from irqfwd.guest.kernel import GuestDriver, GuestKernel
from irqfwd.host.eventfd import EventFd
from irqfwd.host.irqbypass import IrqBypassProducer
from irqfwd.host.kernel import HostKernel
from irqfwd.host.kvm.arm import kvm_arch_init
from irqfwd.host.kvm.arm_vgic import VGIC_IRQ_SW_RESAMPLE, IrqOps, VgicOptions
from irqfwd.host.kvm.irqfd import KvmIrqfd
from irqfwd.host.kvm.kvm_host import KvmGlobals
from irqfwd.host.kvm.vgic import kvm_vgic_map_phys_irq
from irqfwd.host.kvm.vm import Vm
from irqfwd.host.tick import HostTick
from irqfwd.host.vfio import VfioIrq, VfioPciIntx, VfioPlatformIrq
from irqfwd.hw.gicv2.gic import GICv2
from irqfwd.hw.gicv3.gic import GICv3
from irqfwd.hw.machine import Machine
from irqfwd.hw.timer import ArchTimers
from irqfwd.sim.costs import CostProfile, load_profile
from irqfwd.sim.engine import Engine
from irqfwd.sim.metrics import Recorder
from irqfwd.system.designs import Design, get_design, unsupported
from irqfwd.system.gic import make_gic, make_guest_gic
from irqfwd.system.ipi import IPI_SGI, IpiChannel, IpiSender
from irqfwd.system.msi import MsixWiring, wire_msix_device
from irqfwd.system.vtimer import VtimerSystem, install_vtimer
from irqfwd.vmm.main_loop import MainLoop
from irqfwd.vmm.vfio import VfioIrqVmm

BAR_BASE = 0x1000_0000
"""Guest-physical base of the devices' BARs (QEMU virt's PCIe MMIO window), one
:data:`~irqfwd.devices.nic.BAR_SIZE` per device in configuration order."""

__all__ = ["DeviceWiring", "System", "build_system"]



@dataclass
class DeviceWiring:
    """Everything built for one device."""

    cfg: DeviceConfig
    nic: Nic
    kvm: Vm
    host_irq: int
    vfio: VfioIrq
    trigger: EventFd
    irqfd: KvmIrqfd | None
    """None when the VMM injects (``vmm-irqline``)."""
    resamplefd: EventFd | None = None
    forwarded: bool = False
    bar_gpa: int = -1
    vmm: VfioIrqVmm | None = None


@dataclass
class System:
    """A built system, ready to run."""

    config: ScenarioConfig
    design: Design
    engine: Engine
    recorder: Recorder
    costs: CostProfile
    machine: Machine
    gic: GICv2 | GICv3
    timers: ArchTimers
    host: HostKernel
    kvm: KvmGlobals
    vms: list[Vm]
    guests: list[GuestKernel]
    devices: list[DeviceWiring]
    torn_down: list[int] = field(default_factory=list)
    tick: HostTick | None = None
    """The host tick."""
    vtimer: VtimerSystem | None = None
    """The arch timer (KVM's side for every vCPU, the guest tick where enabled)."""
    msi_devices: list[MsixWiring] = field(default_factory=list)
    """The MSI-X devices (GICv3/v4 systems, :mod:`irqfwd.system.msi`)."""
    ipis: list[tuple[DeviceConfig, IpiSender]] = field(default_factory=list)
    """The guest IPI streams (:mod:`irqfwd.system.ipi`)."""
    hostile: dict[int, HostileGuest] = field(default_factory=dict)
    """VM index → its hostile guest (``VMConfig.hostile``)."""


def _num_irqs(config: ScenarioConfig) -> int:
    spi_devs = [d for d in config.devices if d.kind == "nic"]
    top = max([d.host_intid for d in spi_devs] + [d.guest_intid for d in spi_devs] + [63])
    return min(1024, ((top + 1 + 31) // 32) * 32)


def build_system(config: ScenarioConfig, design: str | Design, *, seed: int | None = None,
                 costs: CostProfile | None = None, tracing: bool = False,
                 ) -> System:
    """Build machine, host kernel, VMs, guests and devices for ``config`` under ``design``.
    """
    d = design if isinstance(design, Design) else get_design(design)
    reason = unsupported(d, config)
    if reason is not None:
        raise InputError(reason)
    if costs is None:
        try:
            costs = load_profile(config.cost_profile)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    engine = Engine(config.seed if seed is None else seed)
    rec = Recorder(engine, tracing=tracing)
    num_irqs = _num_irqs(config)
    gic = make_gic(config, num_irqs)
    machine = Machine(engine, rec, costs, gic)
    timers = ArchTimers(engine, config.pcpus, gic)
    host = HostKernel(machine, config.host_at_el2, config.scheduler, config.host)
    prof = host.profile
    sched = host.sched
    kvm_arch = kvm_arch_init(host)
    tick = HostTick(host, timers, config.host.hz)
    if d.forward and not host.irqchip.eoimode1:
        raise InputError(
            f"design {d.name!r} forwards interrupts, which needs the host GIC driver in EOImode 1 "
            "(split EOI/deactivate): set host_at_el2 = true")
    opts = VgicOptions(level_eoi_bit=d.level_eoi_bit, hw_lr_pending_active=d.hw_lr_pending_active,
                       mapped_level_lower_line=not d.hw_retained_level,
                       resample_on_deactivation=not d.hw_retained_level,
                       ap_list_order=prof.ap_list_order, trap_dir=prof.trap_gicv_dir,
                       lr_overflow=prof.lr_overflow, vgic_v4_enable=d.vgic_v4_enable)
    vms: list[Vm] = []
    for i, vmc in enumerate(config.vms):
        kvm = Vm(kvm_arch, i, vmc.name or f"vm{i}", vmc.vcpus, num_irqs - 32, opts,
                 dist_base=gic.config.gicd_base)
        vms.append(kvm)
    guest_vintids: dict[int, set[int]] = {}
    wirings: list[DeviceWiring] = []
    loop: MainLoop | None = None
    if d.injection == "irq-line":
        loop = MainLoop(machine, sched, 0)
    for i, dev in enumerate(config.devices):
        if dev.kind != "nic":
            continue
        used = guest_vintids.setdefault(dev.vm, set())
        if dev.guest_intid in used:
            raise InputError(f"device {dev.name!r}: VM {dev.vm} already has a device on vINTID {dev.guest_intid}")
        used.add(dev.guest_intid)
        wirings.append(_wire_device(machine, host, vms[dev.vm], dev, d, BAR_BASE + i * BAR_SIZE, loop))
    guests: list[GuestKernel] = []
    msi_wirings: list[MsixWiring] = []
    ipis: list[tuple[DeviceConfig, IpiSender]] = []
    for kvm in vms:
        drivers = [
            GuestDriver(w.nic, w.cfg.guest_intid, w.cfg.vcpu,
                        w.cfg.handler_ns if w.cfg.handler_ns is not None else costs.guest_handler_ns,
                        threaded=w.cfg.threaded, napi=w.cfg.napi, napi_budget=w.cfg.napi_budget,
                        edge=w.cfg.trigger == "edge", bar_gpa=w.bar_gpa)
            for w in wirings if w.kvm is kvm
        ]
        guest_gic = make_guest_gic(config, gic, d)
        vm_msi: list[MsixWiring] = []
        for dev in config.devices:
            if dev.kind == "msix-nic" and dev.vm == kvm.index:
                mw, mdrivers = wire_msix_device(machine, host, kvm, dev, guest_gic, costs,
                                                len(msi_wirings) + len(vm_msi))
                vm_msi.append(mw)
                drivers += mdrivers
        vm_ipis = [(dev, IpiChannel(machine, dev)) for dev in config.devices
                   if dev.kind == "ipi" and dev.vm == kvm.index]
        for dev, ch in vm_ipis:
            drivers.append(GuestDriver(ch, IPI_SGI, dev.vcpu, dev.handler_ns if dev.handler_ns
                                       is not None else costs.guest_handler_ns, edge=True))
        guest = GuestKernel(kvm, costs, config.guest.eoimode, drivers, guest_gic, config.guest.busy)
        for dev, ch in vm_ipis:
            ipis.append((dev, IpiSender(guest.cpus[0], ch, guest_gic, dev.vcpu)))
        for mw in vm_msi:  # the driver enables MSI-X last: an exit to the VMM
            guest.cpus[0].boot_ops.append((mw.enable_addr, 0x8000, 2))
        msi_wirings += vm_msi
        guests.append(guest)
    # Every vCPU has its KVM arch timer (kvm_timer_vcpu_init): saved and restored at every
    # vcpu_put/vcpu_load whether or not the guest programs it; the guest tick only runs
    # where the VM's TimerConfig enables it.
    # Without EOImode 1 the GIC driver cannot forward (gic_chip has no irq_set_vcpu_affinity):
    # the timer then goes through KVM's "kvm-timer" irqchip as on hosts without deactivation.
    vtimer = install_vtimer(machine, timers, host, vms, guests, config,
                            d.hw_deactivation and host.irqchip.eoimode1, d.timer_preserve_active)
    hostile: dict[int, HostileGuest] = {}
    for i, vmc in enumerate(config.vms):
        if vmc.hostile is not None:
            gic_driver = guests[i].gic
            if not isinstance(gic_driver, GicV2GuestDriver):
                raise InputError(f"vms.{i}.hostile: hostile guests are modelled on GICv2 only (gic = {config.gic!r})")
            vintids = [(w.cfg.guest_intid, w.cfg.trigger == "edge", w.cfg.vcpu) for w in wirings if w.kvm is vms[i]]
            hostile[i] = HostileGuest(vms[i], gic_driver, costs, vmc.hostile, vintids, timers,
                                      eoimode1=config.guest.eoimode == 1 or vmc.hostile == "bogus-eoi",
                                      devices={w.cfg.guest_intid: w.nic for w in wirings if w.kvm is vms[i]},
                                      bars={w.cfg.guest_intid: w.bar_gpa for w in wirings if w.kvm is vms[i]})
    g = 0
    for i, vmc in enumerate(config.vms):
        for v, vcpu in enumerate(vms[i].vcpus):
            pcpu = vmc.pin[v] if vmc.pin is not None else g % config.pcpus
            sched.add_task(vcpu, pcpu)
            g += 1
    return System(config, d, engine, rec, costs, machine, gic, timers, host, kvm_arch, vms, guests,
                  wirings, tick=tick, vtimer=vtimer, msi_devices=msi_wirings, ipis=ipis, hostile=hostile)


def _wire_device(machine: Machine, host: HostKernel, kvm: Vm, dev: DeviceConfig, d: Design,
                 bar_gpa: int, loop: MainLoop | None) -> DeviceWiring:
    nic = Nic(machine, dev)
    level = dev.trigger == "level"
    host_irq = host.irqchip.map_spi(dev.host_intid, edge=not level)
    vfio: VfioIrq
    if dev.bus == "pci":
        vfio = VfioPciIntx(machine, host.genirq, host.wq, host_irq, dev.host_intid, nic,
                           f"vfio-{dev.name}", automask=d.vfio_automask, early_unmask=d.early_unmask)
    else:
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
    if dev.host_cpu is not None:
        # echo CPU > /proc/irq/N/smp_affinity_list, before any traffic
        ret = host.genirq.irq_set_affinity(host_irq, dev.host_cpu)
        if ret:
            raise InputError(f"device {dev.name!r}: irq_set_affinity to pCPU {dev.host_cpu} failed ({ret})")
    for page in range(bar_gpa >> 12, (bar_gpa + BAR_SIZE + 0xFFF) >> 12):
        kvm.stage2_device_pages.add(page)  # VFIO mmaps the BAR: guest accesses do not exit
    if loop is not None:
        vmm = VfioIrqVmm(machine, kvm, loop, vfio, trigger, nic, bar_gpa, BAR_SIZE, dev.guest_intid)
        return DeviceWiring(dev, nic, kvm, host_irq, vfio, trigger, None, None, d.forward, bar_gpa, vmm)
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
    return DeviceWiring(dev, nic, kvm, host_irq, vfio, trigger, irqfd, resamplefd, d.forward, bar_gpa)


def _connect_bypass(host: HostKernel, vfio: VfioIrq, irqfd: KvmIrqfd) -> None:
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
