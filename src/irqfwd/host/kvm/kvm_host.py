"""KVM's shared structures (``include/linux/kvm_host.h`` and the vgic parts of
``include/kvm/arm_vgic.h`` that point at them).

The structures that refer to each other live in this one module (Python has no forward
declarations), below every KVM subsystem that uses them; behaviour lives in the modules
above, as Linux keeps it in the ``.c`` files:

* :class:`Kvm` (``struct kvm``): the VM's vCPUs, its vgic distributor state, GSI ack
  notifiers, the ``KVM_MMIO_BUS`` of in-kernel devices and the stage-2 device mappings;
* :class:`KvmVcpu` (``struct kvm_vcpu``): a vCPU thread (a scheduler
  :class:`~irqfwd.host.sched.Task`), its guest context, its vgic state and the hooks other
  subsystems attach; ``kvm_vcpu_wake_up`` and ``kvm_vcpu_kick`` (kvm_main.c);
* :class:`VgicIrq` (``struct vgic_irq``), :class:`VgicCpu` (``struct vgic_cpu``),
  :class:`VgicDist` (``struct vgic_dist``), :class:`VgicGlobalState`
  (``kvm_vgic_global_state``) and :class:`VgicOps`, the interface of the per-version back
  end the vgic core calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from irqfwd._mypyc import mypyc_attr
from irqfwd.host.kernel import HostKernel
from irqfwd.host.kvm.arm_vgic import (
    VGIC_CONFIG_LEVEL,
    VGIC_IRQ_SW_RESAMPLE,
    VGIC_NR_PRIVATE_IRQS,
    VGIC_NR_SGIS,
    IrqOps,
    VgicOptions,
    VgicV2CpuIf,
    VgicV3CpuIf,
    VgicVmcr,
)
from irqfwd.host.kvm.events import (
    GicLrEntry,
    KvmAckIrq,
    KvmSetIrq,
    VgicMaintenance,
    VgicUpdateIrqPending,
)
from irqfwd.host.sched import Task
from irqfwd.hw.machine import GUEST, GuestContext, Machine, PhysCpu

__all__ = [
    "IoHandler",
    "Kvm",
    "KvmGlobals",
    "KvmVcpu",
    "VcpuHooks",
    "VgicCpu",
    "VgicDist",
    "VgicGlobalState",
    "VgicIrq",
    "VgicOps",
]

@mypyc_attr(allow_interpreted_subclasses=True)
class VcpuHooks:
    """What runs around a vCPU's load and put (``kvm_arch_vcpu_load`` /
    ``kvm_arch_vcpu_put``: the arch timer's ``kvm_timer_vcpu_load``... in KVM) and marks
    the span of ``kvm_vcpu_block`` during which ``kvm_vcpu_is_blocking`` is true (from
    ``prepare_to_rcuwait`` to the wake-up; arm64's ``kvm_arch_vcpu_blocking`` /
    ``unblocking`` are empty since the GICv4 WFI handling moved to ``kvm_vcpu_wfi``),
    registered in :attr:`KvmVcpu.hooks`: native calls in the compiled build.  Each returns
    the ns it costs."""

    def on_load(self, vcpu: KvmVcpu, cpu: int) -> int:
        """The vCPU is loaded on pCPU ``cpu``."""
        return 0

    def on_put(self, vcpu: KvmVcpu, cpu: int) -> int:
        """The vCPU is put from pCPU ``cpu``."""
        return 0

    def on_block(self, vcpu: KvmVcpu, cpu: int) -> int:
        """The vCPU blocks (WFI) on pCPU ``cpu``."""
        return 0

    def on_unblock(self, vcpu: KvmVcpu, cpu: int) -> int:
        """The blocked vCPU is woken (``cpu``: its home pCPU)."""
        return 0
"""A hook ``fn(vcpu, pcpu_index) -> cost_ns`` (vcpu load/put, blocking/unblocking)."""

IoHandler = Callable[["KvmVcpu", int, int, int, bool], int]
"""``handler(vcpu, addr, value, size, is_write) -> read value`` of a ``KVM_MMIO_BUS`` device."""

class VgicIrq:
    """``struct vgic_irq``."""

    __slots__ = (
        "active", "active_source", "config", "enabled", "group", "host_irq", "hw", "hwintid",
        "intid", "line_level", "on_lr", "ops", "owner", "pending_latch", "priority", "source",
        "target_vcpu", "targets", "vcpu",
    )

    def __init__(self, intid: int, target: KvmVcpu | None, config: int) -> None:
        self.intid = intid
        self.pending_latch = False
        self.line_level = False
        self.active = False
        self.enabled = intid < VGIC_NR_SGIS  # SGIs are always enabled on GICv2 (IMPDEF, as KVM)
        self.priority = 0
        self.group = 0
        self.config = config
        self.target_vcpu = target
        self.targets = 1 if intid >= VGIC_NR_PRIVATE_IRQS else 0
        self.vcpu: KvmVcpu | None = None
        """The vCPU whose ap_list holds the irq (None: on no ap_list)."""
        self.hw = False
        self.hwintid = 0
        self.host_irq = 0
        self.ops: IrqOps | None = None
        self.owner: Any = None
        self.source = 0
        """SGIs: bitmap of the vCPUs with this SGI pending from them."""
        self.active_source = 0
        """SGIs: the source vCPU of the active instance."""
        self.on_lr = False

    def irq_is_pending(self) -> bool:
        """``irq_is_pending``: the latch for edge, latch or line level for level irqs."""
        return self.pending_latch or (self.line_level and self.config == VGIC_CONFIG_LEVEL)

    def is_mapped_level(self) -> bool:
        """``vgic_irq_is_mapped_level``."""
        return self.config == VGIC_CONFIG_LEVEL and self.hw

    def needs_resampling(self) -> bool:
        """``vgic_irq_needs_resampling``: ``VGIC_IRQ_SW_RESAMPLE`` in ``ops.flags``."""
        ops = self.ops
        return ops is not None and bool(ops.flags & VGIC_IRQ_SW_RESAMPLE)

    def __repr__(self) -> str:
        return (f"VgicIrq({self.intid}, P={int(self.pending_latch)} L={int(self.line_level)} "
                f"A={int(self.active)} E={int(self.enabled)} HW={int(self.hw)}:{self.hwintid})")


class VgicCpu:
    """``struct vgic_cpu``: the vgic state of one vCPU."""

    __slots__ = ("ap_list", "eoicount", "lpis_enabled", "private_irqs", "used_lrs", "vgic_v2",
                 "vgic_v3", "vmcr")

    def __init__(self, private_irqs: list[VgicIrq]) -> None:
        self.private_irqs = private_irqs
        self.ap_list: list[VgicIrq] = []
        self.used_lrs = 0
        """List registers filled by the last flush (the back end saves and folds these)."""
        self.eoicount = 0
        """EOIs the guest made that found no list register (GICH_HCR.EOICount /
        ICH_HCR_EL2.EOIcount, read at the last exit)."""
        self.vgic_v2: VgicV2CpuIf | None = None
        """The GICv2 back end's saved interface (None on other back ends)."""
        self.vgic_v3: VgicV3CpuIf | None = None
        """The GICv3 back end's saved interface and GICv4 vPE (None on other back ends)."""
        self.lpis_enabled = False
        """The guest set its redistributor's GICR_CTLR.EnableLPIs (emulated ITS, GICv3)."""
        self.vmcr = VgicVmcr()
        """Scratch ``struct vgic_vmcr`` for :meth:`VgicOps.get_vmcr`."""


@mypyc_attr(allow_interpreted_subclasses=True)
class VgicOps:
    """The per-version back end of the vgic (``vgic_v2_*`` / ``vgic_v3_*`` in Linux).

    The core (:mod:`irqfwd.host.kvm.vgic`) calls only these.  Methods that access the
    hardware return the cost in ns of their register accesses where noted.  Back ends may
    be interpreted subclasses (a test's recording stand-in) even in the compiled build.
    """

    name = "none"
    """The irqchip model name (``KVM_DEV_TYPE_ARM_VGIC_V2`` → "GICv2")."""

    has_gicv4 = False
    """``kvm_vgic_global_state.has_gicv4`` (a static key in Linux): the back end may inject
    directly into a GICv4 vPE.  While False the core does not call :meth:`v4_put`,
    :meth:`v4_load`, :meth:`vcpu_pending_direct` or :meth:`has_direct_irqs` (their
    defaults: nothing to do)."""

    def vcpu_init(self, vcpu: KvmVcpu) -> None:
        """``vgic_v*_enable``: give ``vcpu`` its saved interface state."""
        raise NotImplementedError

    def map_resources(self, kvm: Kvm) -> None:
        """``vgic_v*_map_resources``: map the virtual CPU interface into the VM (stage 2)."""
        raise NotImplementedError

    def populate_lr(self, vcpu: KvmVcpu, irq: VgicIrq, lr: int) -> None:
        """``vgic_populate_lr``: encode ``irq`` into list register ``lr`` of the shadow."""
        raise NotImplementedError

    def clear_lr(self, vcpu: KvmVcpu, lr: int) -> None:
        """``vgic_clear_lr``."""
        raise NotImplementedError

    def set_underflow(self, vcpu: KvmVcpu) -> None:
        """``vgic_set_underflow``: ask for a maintenance interrupt when the LRs (nearly) empty."""
        raise NotImplementedError

    def configure_hcr(self, vcpu: KvmVcpu, pending_outside: bool, active_outside: bool,
                      nr_sgi: int) -> None:
        """``vgic_configure_hcr`` (2025): set the maintenance enables from a summary of the
        irqs left out of the LRs (pending ones, active ones) and the guest's group enables;
        ``nr_sgi``: the SGIs of the ap_list that target the vCPU (``ap_list_summary.nr_sgi``)."""
        raise NotImplementedError

    def fold_lr_state(self, vcpu: KvmVcpu) -> None:
        """``vgic_fold_lr_state``: fold the saved list registers back into the irqs."""
        raise NotImplementedError

    def fold_deactivated(self, vcpu: KvmVcpu, irq: VgicIrq) -> None:
        """A deactivation of the active ``irq`` that no list register saw (an EOI counted in
        EOIcount, a trapped DIR): as the 2025 ``vgic_v*_fold_lr_state`` and
        ``vgic_v*_deactivate`` do, fold the LR that ``vgic_v*_compute_lr`` gives ``irq``,
        with its Active bit cleared, through ``vgic_v*_fold_lr`` (ack notifiers, level
        latch, resampling), a HW irq's physical INTID deactivated first."""
        raise NotImplementedError

    def get_vmcr(self, vcpu: KvmVcpu, vmcr: VgicVmcr) -> None:
        """``vgic_get_vmcr``: decode the saved VMCR into ``vmcr``."""
        raise NotImplementedError

    def vmcr_sync(self, vcpu: KvmVcpu, cpu: int) -> None:
        """``kvm_vgic_vmcr_sync``: read the live VMCR of a loaded vCPU into its saved state."""
        raise NotImplementedError

    def save_state(self, vcpu: KvmVcpu, cpu: int) -> int:
        """World switch out (``vgic_save_state``): read back and clear the list registers."""
        raise NotImplementedError

    def restore_state(self, vcpu: KvmVcpu, cpu: int) -> int:
        """World switch in (``vgic_restore_state``): write the control register and LRs."""
        raise NotImplementedError

    def load(self, vcpu: KvmVcpu, cpu: int) -> int:
        """``vgic_load`` (vcpu_load): restore the VMCR and active priorities."""
        raise NotImplementedError

    def put(self, vcpu: KvmVcpu, cpu: int) -> int:
        """``vgic_put`` (vcpu_put): save the VMCR and active priorities."""
        raise NotImplementedError

    # The GICv3/v4 parts ``arch/arm64/kvm/arm.c`` calls; a back end without them keeps
    # these defaults (no direct injection, every trapped system register UNDEF).
    def v4_put(self, vcpu: KvmVcpu, cpu: int) -> int:
        """``vgic_v4_put`` from ``kvm_vcpu_wfi`` (IN_WFI set): make the vPE non-resident
        with its doorbell enabled.  Returns the cost in ns."""
        return 0

    def v4_load(self, vcpu: KvmVcpu, cpu: int) -> int:
        """``vgic_v4_load`` once ``kvm_vcpu_halt`` returned (IN_WFI cleared)."""
        return 0

    def vcpu_pending_direct(self, vcpu: KvmVcpu) -> bool:
        """``its_vpe.pending_last`` (``kvm_vgic_vcpu_pending_irq``): a directly injected
        interrupt is pending for the non-resident vPE."""
        return False

    def has_direct_irqs(self, vcpu: KvmVcpu) -> bool:
        """``vcpu_clear_wfx_traps``: the vCPU has vLPIs mapped (``its_vpe.vlpi_count``) or
        directly injected vSGIs (``nassgireq``): WFI need not trap when it runs alone."""
        return False

    def access_sysreg(self, vcpu: KvmVcpu, name: str, value: int, is_write: bool) -> int:
        """``kvm_handle_sys_reg`` for a trapped GIC system register (ICC_SGI1R_EL1,
        ICC_DIR_EL1 with ICH_HCR_EL2.TDIR); returns the value read."""
        raise ValueError(f"{self.name}: no trapped system register {name}")


class VgicGlobalState:
    """``struct vgic_global`` (``kvm_vgic_global_state``): set by ``kvm_vgic_hyp_init``."""

    __slots__ = ("maint_irq", "no_hw_deactivation", "nr_lr", "ops", "type")

    def __init__(self, type_: str, nr_lr: int, maint_irq: int, ops: VgicOps,
                 no_hw_deactivation: bool = False) -> None:
        self.type = type_
        self.nr_lr = nr_lr
        self.maint_irq = maint_irq
        self.ops = ops
        self.no_hw_deactivation = no_hw_deactivation


class KvmGlobals:
    """KVM's host-wide state: ``kvm_vgic_global_state``, ``vm_list`` and, per pCPU, the vCPU
    loaded on it (``kvm_get_running_vcpu``).  Set up by ``kvm_arch_init``
    (:func:`irqfwd.host.kvm.arm.kvm_arch_init`)."""

    __slots__ = ("host", "running_vcpu", "vgic", "vm_list")

    def __init__(self, host: HostKernel, vgic: VgicGlobalState) -> None:
        self.host = host
        self.vgic = vgic
        self.vm_list: list[Kvm] = []
        self.running_vcpu: list[KvmVcpu | None] = [None] * len(host.m.pcpus)


class VgicDist:
    """``struct vgic_dist``: the VM's distributor state and the back end it uses."""

    __slots__ = ("enabled", "inject_ns", "lpis", "nassgireq", "nr_lr", "nr_spis", "ops",
                 "options", "propbaser", "spis")

    def __init__(self, glob: VgicGlobalState, nr_spis: int, options: VgicOptions,
                 inject_ns: int) -> None:
        self.enabled = False
        """GICD_CTLR.EnableGrp0 as the guest wrote it."""
        self.nr_spis = nr_spis
        self.spis: list[VgicIrq] = []
        self.options = options
        self.ops = glob.ops
        """The back end (``kvm_vgic_global_state.type``)."""
        self.nr_lr = glob.nr_lr
        """List registers per CPU interface (``kvm_vgic_global_state.nr_lr``)."""
        self.inject_ns = inject_ns
        self.lpis: dict[int, VgicIrq] = {}
        """``lpi_xa``: the guest's LPIs by INTID (emulated ITS, GICv3)."""
        self.propbaser = 0
        """``dist->propbaser``: the guest's GICR_PROPBASER, shared by its redistributors."""
        self.nassgireq = False
        """``dist->nassgireq``: the guest set GICD_CTLR.nASSGIreq (GICv4.1 vSGIs)."""


class Kvm:
    """``struct kvm``: one VM (see the module docstring)."""

    def __init__(self, glob: KvmGlobals, index: int, name: str, nr_spis: int,
                 options: VgicOptions) -> None:
        self.glob = glob
        host = glob.host
        self.host = host
        self.m: Machine = host.m
        self.index = index
        self.name = name
        self.dying = False
        self.vcpus: list[KvmVcpu] = []
        self.vgic = VgicDist(glob.vgic, nr_spis, options, host.m.costs.vgic_inject_ns)
        self.io_bus: list[tuple[int, int, IoHandler]] = []
        """``KVM_MMIO_BUS``: (base, size, handler) of the in-kernel MMIO devices."""
        self.stage2_device_pages: set[int] = set()
        """Guest-physical 4 KiB page numbers mapped to a device (no exit on access)."""
        self.user_mmio: list[tuple[int, int, IoHandler]] = []
        """What the VMM emulates on ``KVM_EXIT_MMIO`` (base, size, handler); an address none
        covers reads 0 (the VMM's unassigned memory)."""
        self.ack_notifiers: dict[int, list[Callable[[int], None]]] = {}
        """``kvm->irq_ack_notifier_list`` by GSI."""
        self.c_ack_irq = host.m.recorder.counter("kvm_ack_irq")
        """``kvm_ack_irq``: EOIs of level SPIs notified (``kvm_notify_acked_irq``)."""
        self.c_spi_injections = host.m.recorder.counter("spi_injections")
        """``spi_injections``: SPIs raised (``vgic_update_irq_pending`` with level 1)."""
        self.ev_update_irq_pending = host.m.recorder.site(VgicUpdateIrqPending())
        """``vgic_update_irq_pending`` emission site (``kvm_vgic_inject_irq``)."""
        self.ev_ack_irq = host.m.recorder.site(KvmAckIrq(irqchip=glob.vgic.ops.name))
        """``kvm_ack_irq`` emission site (``kvm_notify_acked_irq``)."""
        self.ev_set_irq = host.m.recorder.site(KvmSetIrq(vm=index))
        """``kvm_set_irq`` emission site (``kvm_set_irq``, ``kvm_set_msi``)."""
        self.max_halt_poll_ns = host.halt_poll_ns
        """``kvm->max_halt_poll_ns`` (the ``halt_poll_ns`` module parameter at creation)."""
        self.msi_routes: dict[int, Any] = {}
        """``KVM_SET_GSI_ROUTING`` MSI entries by GSI (``kvm_kernel_irq_routing_entry``);
        other GSIs route to SPI 32 + GSI (the arm64 default)."""
        self.vgic_its: Any = None
        """The emulated ITS (``struct vgic_its``), if the VMM created one."""
        self.its_vm: Any = None
        """``kvm->arch.vgic.its_vm`` (GICv4: the ITS driver's ``struct its_vm``)."""
        self.guest_mem: Any = None
        """The guest's RAM (GICv3 guests keep their LPI and ITS tables there)."""
        glob.vm_list.append(self)

    # ---------------------------------------------------------------- MMIO bus
    def kvm_io_bus_register(self, base: int, size: int, handler: IoHandler) -> None:
        """``kvm_io_bus_register_dev`` on ``KVM_MMIO_BUS``."""
        self.io_bus.append((base, size, handler))

    def kvm_io_bus_find(self, addr: int) -> IoHandler | None:
        """The in-kernel device covering ``addr`` (``kvm_io_bus_get_first_dev``), or None:
        the access then goes to userspace (``KVM_EXIT_MMIO``)."""
        for base, length, handler in self.io_bus:
            if base <= addr < base + length:
                return handler
        return None

    def user_mmio_find(self, addr: int) -> IoHandler | None:
        """The VMM's handler of a ``KVM_EXIT_MMIO`` at ``addr`` (user space), or None."""
        for base, length, handler in self.user_mmio:
            if base <= addr < base + length:
                return handler
        return None

    # ---------------------------------------------------------------- ack notifiers
    def kvm_register_irq_ack_notifier(self, gsi: int, fn: Callable[[int], None]) -> None:
        """``kvm_register_irq_ack_notifier``."""
        self.ack_notifiers.setdefault(gsi, []).append(fn)

    def kvm_unregister_irq_ack_notifier(self, gsi: int, fn: Callable[[int], None]) -> None:
        """``kvm_unregister_irq_ack_notifier``."""
        lst = self.ack_notifiers.get(gsi)
        if lst and fn in lst:
            lst.remove(fn)

    def kvm_notify_acked_gsi(self, gsi: int) -> None:
        """``kvm_notify_acked_gsi``: run the ack notifiers of ``gsi``."""
        for fn in tuple(self.ack_notifiers.get(gsi, ())):
            fn(gsi)

    def current_pcpu(self) -> int:
        """The pCPU executing the current host code (0 for off-CPU work)."""
        return max(self.m.cur, 0)


class KvmVcpu(Task):
    """``struct kvm_vcpu`` (see the module docstring); :class:`irqfwd.host.kvm.vcpu.Vcpu`
    adds the run loop."""

    def __init__(self, kvm: Kvm, vcpu_id: int) -> None:
        super().__init__(f"{kvm.name}/vcpu{vcpu_id}")
        self.kvm = kvm
        self.m: Machine = kvm.m
        self.vcpu_id = vcpu_id
        rec = kvm.m.recorder
        self.vgic_cpu = VgicCpu([
            VgicIrq(i, self, 0 if i < VGIC_NR_SGIS else VGIC_CONFIG_LEVEL) for i in range(32)
        ])
        """``struct vgic_cpu`` (SGIs edge, PPIs level)."""
        kvm.vgic.ops.vcpu_init(self)  # kvm_vgic_vcpu_init → vgic_v*_enable
        self.ctx = GuestContext()
        """The guest's EL1 context, loaded on the pCPU between sched_in and sched_out."""
        self.ctx.stage2_device_pages = kvm.stage2_device_pages
        self.ev_lr_write = rec.site(GicLrEntry(vcpu=vcpu_id, vm=kvm.index))
        """``gic_lr_entry`` emission site (the back end's world-switch restore)."""
        self.c_maintenance_irqs = rec.counter("maintenance_irqs")
        self.ev_maintenance = rec.site(VgicMaintenance(vcpu=vcpu_id))
        """``irqfwd_vgic_maintenance`` emission site (:func:`~irqfwd.host.kvm.vgic.vgic_maintenance`)."""
        """``maintenance_irqs`` (a maintenance condition seen at exit by the back end's save)."""
        self.twi = True
        """HCR_EL2.TWI: the guest's WFI traps (``vcpu_set_wfx_traps``)."""
        self.in_wfi = False
        """``IN_WFI``: the vCPU is in ``kvm_vcpu_wfi`` (between its put and load of the vPE)."""
        self.req_unblock = False
        """``KVM_REQ_UNBLOCK``: end the halt even with no interrupt pending
        (``kvm_vcpu_check_block``); what a model of guest work that wakes its vCPU sets
        before :meth:`kvm_vcpu_wake_up`.  Consumed when the halt ends."""
        self.hooks: list[VcpuHooks] = []
        """Run at every load, put, block and unblock of this vCPU, in registration order."""
        self._kick_ns = kvm.m.costs.kick_ipi_ns

    def kvm_vcpu_wake_up(self) -> None:
        """``kvm_vcpu_wake_up``: a blocked vCPU becomes runnable (``on_unblock`` hooks, charged
        to the waker; ``kvm_vcpu_wakeup`` is traced when its halt ends)."""
        if not self.blocked or self.exited:
            return
        self.blocked = False
        m = self.m
        for hook in self.hooks:
            m.acc += hook.on_unblock(self, self.home)
        self.kvm.host.sched.try_to_wake_up(self)

    def kvm_vcpu_kick(self) -> None:
        """``kvm_vcpu_kick``: wake if blocked; a vCPU that halt-polls on another pCPU sees the
        event at once (its poll loop); else IPI its pCPU if it is in guest mode."""
        if self.blocked:
            self.kvm_vcpu_wake_up()
            return
        cpu: PhysCpu | None = self.cpu
        m = self.m
        if cpu is None or m.cur == cpu.index:
            return
        if cpu.mode == GUEST and cpu.ctx is self.ctx:
            self.kvm.host.irqchip.send_reschedule(cpu.index, max(m.cur, 0), self._kick_ns)
        elif cpu.parked is not None:
            cpu.poke()  # the halt-polling loop notices the pending interrupt

