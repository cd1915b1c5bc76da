"""Wiring of an MSI-X device (``kind = "msix-nic"``) into a GICv3/v4 system, as QEMU's
``vfio-pci`` and the guest's PCI driver do it.

At build time the guest's ITS driver gets the device (DeviceID = its guest Requester ID,
one LPI per vector, each vector to the vCPU of ``queue_vcpus``: the MAPD/MAPTI commands
are part of vCPU 0's boot) and one :class:`~irqfwd.guest.kernel.GuestDriver` per queue.
vCPU 0's boot ends with the driver's MSI-X enable, a write to the device's config space
that exits to the VMM (``KVM_EXIT_MMIO``); the VMM then (:meth:`MsixWiring.vmm_enable`,
``vfio_msix_vector_do_use``) for each vector: adds an MSI route (``KVM_SET_GSI_ROUTING``:
GITS_TRANSLATER of the vITS, the EventID, the DeviceID), a trigger eventfd and its irqfd
(``KVM_IRQFD``, whose irqbypass consumer registers), then ``VFIO_DEVICE_SET_IRQS``: VFIO
allocates the host LPIs, programs the device's MSI-X table, requests
``vfio_msihandler`` and registers the vector's irqbypass producer.  Producer and consumer
meet: ``kvm_arch_irq_bypass_add_producer`` → ``kvm_vgic_v4_set_forwarding``, which maps the
vector to a vLPI when the design enables GICv4 and does nothing otherwise.  A device with
``host_cpu`` then has every vector's host LPI routed there (``irq_set_affinity``, as
``echo CPU > /proc/irq/N/smp_affinity_list`` once the vectors exist: ``its_set_affinity``,
MOVI).

Teardown (:func:`teardown_msix`): the device stops, the producers and irqfds go (the vLPIs
are unmapped), VFIO frees the vectors.
"""

from __future__ import annotations

from typing import Any, Final

from irqfwd.config import DeviceConfig
from irqfwd.devices.msix_nic import MsixNic, MsixQueue
from irqfwd.devices.traffic import arrivals
from irqfwd.errors import InputError
from irqfwd.guest.gic_v3 import GicV3GuestDriver
from irqfwd.guest.kernel import GuestDriver
from irqfwd.host.eventfd import EventFd
from irqfwd.host.kernel import HostKernel
from irqfwd.host.kvm.irq_routing import kvm_set_routing_msi
from irqfwd.host.kvm.irqfd import KvmIrqfd
from irqfwd.host.kvm.vgic_its import KvmMsi
from irqfwd.host.kvm.vm import Vm
from irqfwd.host.vfio_msi import VfioPciMsix
from irqfwd.hw.machine import Machine
from irqfwd.sim.costs import CostProfile

__all__ = ["MSIX_ENABLE_BASE", "PCIE_ECAM_BASE", "MsixWiring", "start_msix", "teardown_msix", "wire_msix_device"]

PCIE_ECAM_BASE: Final = 0x3F00_0000
"""QEMU virt's PCIe ECAM window (``VIRT_PCIE_ECAM``): configuration space, which the VMM
emulates (every access exits to it)."""
MSIX_CAP_MSGCTL: Final = 0x42
"""Offset of the MSI-X capability's Message Control in the function's configuration space
(capability at 0x40)."""
MSIX_ENABLE_BASE: Final = PCIE_ECAM_BASE + MSIX_CAP_MSGCTL
"""Message Control of the function at Requester ID 0 (ECAM: Requester ID << 12); a device's
is at ``MSIX_ENABLE_BASE + (requester_id << 12)``, away from the BARs (0x1000_0000 on)."""
_GSI_BASE: Final = 4096
"""The VMM's GSIs for MSI routes start above every irqchip pin."""


class MsixWiring:
    """Everything built for one MSI-X device."""

    def __init__(self, cfg: DeviceConfig, nic: MsixNic, kvm: Vm, vfio: VfioPciMsix,
                 guest_devid: int, targets: list[int], index: int) -> None:
        self.cfg = cfg
        self.nic = nic
        self.kvm = kvm
        self.vfio = vfio
        self.guest_devid = guest_devid
        self.targets = targets
        self.index = index
        self.enable_addr = MSIX_ENABLE_BASE + (nic.requester_id << 12)
        """The function's MSI-X Message Control (ECAM; the driver's enable exits to the VMM)."""
        self.gsis: list[int] = []
        self.triggers: list[EventFd] = []
        self.irqfds: list[KvmIrqfd] = []
        self.lpis: list[int] = []
        self.enabled = False

    def vmm_enable(self) -> None:
        """``vfio_msix_vector_do_use`` for every vector (see the module docstring)."""
        if self.enabled:
            return
        self.enabled = True
        kvm = self.kvm
        its = kvm.vgic_its
        if its is None:
            raise InputError(f"device {self.cfg.name!r}: the VM has no ITS")
        m = kvm.m
        saved = m.acc
        self.lpis = self.vfio.enable(self.cfg.queues)
        for q, lpi in zip(self.nic.queues, self.lpis, strict=True):
            q.intid = lpi
        for v in range(self.cfg.queues):
            gsi = _GSI_BASE + 64 * self.index + v
            kvm_set_routing_msi(kvm, gsi, KvmMsi(its.doorbell, v, self.guest_devid))
            trigger = EventFd(m, f"{self.cfg.name}-msix{v}")
            irqfd = kvm.irqfds.kvm_irqfd_assign(trigger, gsi)
            if not isinstance(irqfd, KvmIrqfd):
                raise InputError(f"device {self.cfg.name!r}: KVM_IRQFD failed ({irqfd})")
            ret = self.vfio.set_vector_signal(v, trigger)
            if ret:
                raise InputError(f"device {self.cfg.name!r}: request_irq failed ({ret})")
            self.gsis.append(gsi)
            self.triggers.append(trigger)
            self.irqfds.append(irqfd)
        cpu = self.cfg.host_cpu
        if cpu is not None:
            # smp_affinity_list of each vector's host irq; the host has taken none of them yet
            # (an MSI sent at the enable is still pending: MOVI moves it along)
            genirq = self.vfio.genirq
            for v, irq in enumerate(self.vfio.irqs):
                ret = genirq.irq_set_affinity(irq, cpu)
                if ret:
                    raise InputError(f"device {self.cfg.name!r}: irq_set_affinity of vector {v} "
                                     f"to pCPU {cpu} failed ({ret})")
        m.acc = saved  # the VMM's ioctls run in user space, not in the exit's cost

    def user_mmio(self, vcpu: Any, addr: int, value: int, size: int, is_write: bool) -> int:
        """The VMM's emulation of the MSI-X Message Control write (Enable = bit 15)."""
        if is_write and addr == self.enable_addr and value & 0x8000:
            self.vmm_enable()
        return 0


def wire_msix_device(machine: Machine, host: HostKernel, kvm: Vm, dev: DeviceConfig,
                     guest_gic: Any, costs: CostProfile, index: int) -> tuple[MsixWiring, list[GuestDriver]]:
    """Build one MSI-X device: the PCI function, its VFIO MSI-X index, the guest's ITS
    mapping and drivers; returns the wiring and the guest drivers of its queues."""
    if not isinstance(guest_gic, GicV3GuestDriver):
        raise InputError(f"device {dev.name!r} uses MSI-X, which needs a GICv3 with an ITS")
    its = getattr(host.irqchip, "its", None)
    if its is None:
        raise InputError(f"device {dev.name!r}: the host GIC has no ITS")
    nvcpu = len(kvm.vcpus)
    targets = list(dev.queue_vcpus) if dev.queue_vcpus is not None else [
        (dev.vcpu + q) % nvcpu for q in range(dev.queues)]
    requester_id = 0x0100 + 8 * index  # bus 1, device index, function 0
    nic = MsixNic(machine, dev, requester_id)
    vfio = VfioPciMsix(machine, host.genirq, its, host.irqbypass, nic, f"vfio-msix-{dev.name}")
    guest_devid = 0x0008 * (index + 1)
    gdev = guest_gic.add_msi_device(guest_devid, targets)
    w = MsixWiring(dev, nic, kvm, vfio, guest_devid, targets, index)
    handler_ns = dev.handler_ns if dev.handler_ns is not None else costs.guest_handler_ns
    drivers = [GuestDriver(q, gdev.lpi_base + i, targets[i], handler_ns, napi=dev.napi,
                           napi_budget=dev.napi_budget, edge=True)
               for i, q in enumerate(nic.queues)]
    kvm.user_mmio.append((w.enable_addr, 2, w.user_mmio))
    return w, drivers


def queues_of(wirings: list[MsixWiring]) -> list[MsixQueue]:
    """Every queue of every MSI-X device."""
    return [q for w in wirings for q in w.nic.queues]


def teardown_msix(w: MsixWiring) -> None:
    """The device stops; irqfds (and with them the irqbypass consumers: the vLPIs go back
    to the host) are deassigned; VFIO disables MSI-X and frees the vectors."""
    for q in w.nic.queues:
        q.stop()
        q.pending = 0
    for irqfd in w.irqfds:
        w.kvm.irqfds.kvm_irqfd_deassign(irqfd)
    w.vfio.disable()


def start_msix(w: MsixWiring, rng: Any, end_ns: int) -> None:
    """Start every queue's traffic: the device's traffic pattern per queue, queue ``i``
    shifted by ``i / queues`` of the mean period (the queues' packets interleave)."""
    cfg = w.cfg.traffic
    n = len(w.nic.queues)
    period = 1e9 / cfg.rate_hz
    for i, q in enumerate(w.nic.queues):
        shift = round(i * period / n)
        q.start(t + shift for t in arrivals(cfg, rng, 0, end_ns - shift))
