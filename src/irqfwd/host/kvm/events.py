"""KVM's trace events: records of :class:`~irqfwd.sim.metrics.Event`, named and laid out
as KVM's tracepoints (``arch/arm64/kvm/trace_arm.h``, ``trace_handle_exit.h``,
``vgic/trace.h``, ``include/trace/events/kvm.h``) or under irqfwd's ``irqfwd_`` prefix
where KVM has none."""

from __future__ import annotations

from typing import ClassVar

from irqfwd.sim.metrics import Event, register_events

__all__ = [
    "GicLrEntry",
    "GicV3IchLrWrite",
    "IrqfdInject",
    "IrqfdResample",
    "KvmAckIrq",
    "KvmEntry",
    "KvmExit",
    "KvmSetIrq",
    "KvmTimerPhysActive",
    "KvmTimerRestoreState",
    "KvmTimerSaveState",
    "KvmTimerUpdateIrq",
    "KvmVcpuWakeup",
    "VcpuLoad",
    "VcpuPut",
    "VgicMaintenance",
    "VgicUpdateIrqPending",
]


class KvmEntry(Event):
    """``kvm_entry`` (``trace_arm.h``): vCPU ``vcpu`` of VM ``vm`` enters the guest on ``cpu``."""

    __slots__ = ("cpu", "vcpu", "vm")
    NAME: ClassVar[str] = "kvm_entry"
    FIELDS: ClassVar[tuple[str, ...]] = ("vcpu", "vm", "cpu")

    def __init__(self, vcpu: int = 0, vm: int = 0, cpu: int = 0) -> None:
        super().__init__()
        self.vcpu = vcpu
        self.vm = vm
        self.cpu = cpu


class KvmExit(Event):
    """``kvm_exit`` (``trace_arm.h``): the vCPU leaves the guest on ``cpu`` for ``reason``
    (``IRQ``, ``WFx``, ``DABT_LOW``, ``HVC``, ...)."""

    __slots__ = ("cpu", "reason", "vcpu", "vm")
    NAME: ClassVar[str] = "kvm_exit"
    FIELDS: ClassVar[tuple[str, ...]] = ("vcpu", "vm", "reason", "cpu")

    def __init__(self, vcpu: int = 0, vm: int = 0, reason: str = "IRQ", cpu: int = 0) -> None:
        super().__init__()
        self.vcpu = vcpu
        self.vm = vm
        self.reason = reason
        self.cpu = cpu


class KvmVcpuWakeup(Event):
    """``kvm_vcpu_wakeup`` (``include/trace/events/kvm.h``): a halted vCPU goes on after
    ``ns``, having ``waited`` (slept) or polled; ``valid``: the wake-up was for a pending
    interrupt."""

    __slots__ = ("ns", "valid", "vcpu", "vm", "waited")
    NAME: ClassVar[str] = "kvm_vcpu_wakeup"
    FIELDS: ClassVar[tuple[str, ...]] = ("vm", "vcpu", "ns", "waited", "valid")

    def __init__(self, vm: int = 0, vcpu: int = 0, ns: int = 0, waited: bool = False, valid: bool = False) -> None:
        super().__init__()
        self.vm = vm
        self.vcpu = vcpu
        self.ns = ns
        self.waited = waited
        self.valid = valid


class VcpuLoad(Event):
    """``irqfwd_vcpu_load``: ``kvm_arch_vcpu_load`` of the vCPU on ``cpu``."""

    __slots__ = ("cpu", "vcpu", "vm")
    NAME: ClassVar[str] = "irqfwd_vcpu_load"
    FIELDS: ClassVar[tuple[str, ...]] = ("vm", "vcpu", "cpu")

    def __init__(self, vm: int = 0, vcpu: int = 0, cpu: int = 0) -> None:
        super().__init__()
        self.vm = vm
        self.vcpu = vcpu
        self.cpu = cpu


class VcpuPut(VcpuLoad):
    """``irqfwd_vcpu_put``: ``kvm_arch_vcpu_put`` of the vCPU on ``cpu``."""

    __slots__ = ()
    NAME: ClassVar[str] = "irqfwd_vcpu_put"


class IrqfdResample(Event):
    """``irqfwd_irqfd_resample``: ``irqfd_resampler_ack`` of GSI ``gsi`` (the guest's EOI
    of a resampled level interrupt)."""

    __slots__ = ("gsi", "vm")
    NAME: ClassVar[str] = "irqfwd_irqfd_resample"
    FIELDS: ClassVar[tuple[str, ...]] = ("vm", "gsi")

    def __init__(self, vm: int = 0, gsi: int = 0) -> None:
        super().__init__()
        self.vm = vm
        self.gsi = gsi


class IrqfdInject(Event):
    """``irqfwd_irqfd_inject``: an irqfd injects GSI ``gsi``, from the wake-up callback
    (``inatomic``, ``kvm_arch_set_irq_inatomic``) or the ``irqfd_inject`` work."""

    __slots__ = ("gsi", "inatomic", "vm")
    NAME: ClassVar[str] = "irqfwd_irqfd_inject"
    FIELDS: ClassVar[tuple[str, ...]] = ("vm", "gsi", "inatomic")

    def __init__(self, vm: int = 0, gsi: int = 0, inatomic: bool = True) -> None:
        super().__init__()
        self.vm = vm
        self.gsi = gsi
        self.inatomic = inatomic


class VgicMaintenance(Event):
    """``irqfwd_vgic_maintenance``: the maintenance interrupt of ``cpu`` taken for vCPU
    ``vcpu`` with GICH_MISR / ICH_MISR_EL2 ``misr``."""

    __slots__ = ("cpu", "misr", "vcpu")
    NAME: ClassVar[str] = "irqfwd_vgic_maintenance"
    FIELDS: ClassVar[tuple[str, ...]] = ("cpu", "misr", "vcpu")

    def __init__(self, cpu: int = 0, misr: int = 0, vcpu: int = 0) -> None:
        super().__init__()
        self.cpu = cpu
        self.misr = misr
        self.vcpu = vcpu


class VgicUpdateIrqPending(Event):
    """``vgic_update_irq_pending`` (``vgic/trace.h``): ``kvm_vgic_inject_irq`` sets the line
    of ``intid`` (of vCPU ``vcpu`` for a private one) to ``level``."""

    __slots__ = ("intid", "level", "vcpu")
    NAME: ClassVar[str] = "vgic_update_irq_pending"
    FIELDS: ClassVar[tuple[str, ...]] = ("vcpu", "intid", "level")

    def __init__(self, vcpu: int = 0, intid: int = 0, level: bool = False) -> None:
        super().__init__()
        self.vcpu = vcpu
        self.intid = intid
        self.level = level


class KvmAckIrq(Event):
    """``kvm_ack_irq`` (``include/trace/events/kvm.h``): ``kvm_notify_acked_irq`` of
    ``pin`` of ``irqchip``."""

    __slots__ = ("irqchip", "pin")
    NAME: ClassVar[str] = "kvm_ack_irq"
    FIELDS: ClassVar[tuple[str, ...]] = ("irqchip", "pin")

    def __init__(self, irqchip: str = "", pin: int = 0) -> None:
        super().__init__()
        self.irqchip = irqchip
        self.pin = pin


class KvmSetIrq(Event):
    """``kvm_set_irq`` (``include/trace/events/kvm.h``): GSI ``gsi`` of VM ``vm`` set to
    ``level`` by IRQ source ``source`` (``gsi`` -1: an MSI, ``kvm_set_msi``)."""

    __slots__ = ("gsi", "level", "source", "vm")
    NAME: ClassVar[str] = "kvm_set_irq"
    FIELDS: ClassVar[tuple[str, ...]] = ("vm", "gsi", "level", "source")

    def __init__(self, vm: int = 0, gsi: int = 0, level: int = 0, source: int = 0) -> None:
        super().__init__()
        self.vm = vm
        self.gsi = gsi
        self.level = level
        self.source = source


class GicLrEntry(Event):
    """``gic_lr_entry`` (QEMU's name): GICH_LR<``lr``> of ``cpu`` written with ``value``
    when the vgic restores vCPU ``vcpu`` of VM ``vm``."""

    __slots__ = ("cpu", "lr", "value", "vcpu", "vm")
    NAME: ClassVar[str] = "gic_lr_entry"
    FIELDS: ClassVar[tuple[str, ...]] = ("cpu", "lr", "value", "vcpu", "vm")

    def __init__(self, cpu: int = 0, lr: int = 0, value: int = 0, vcpu: int = 0, vm: int = 0) -> None:
        super().__init__()
        self.cpu = cpu
        self.lr = lr
        self.value = value
        self.vcpu = vcpu
        self.vm = vm


class GicV3IchLrWrite(GicLrEntry):
    """``gicv3_ich_lr_write`` (QEMU's name): ICH_LR<``lr``>_EL2 of ``cpu`` written with
    ``value`` (64-bit) when the vgic restores vCPU ``vcpu`` of VM ``vm``."""

    __slots__ = ()
    NAME: ClassVar[str] = "gicv3_ich_lr_write"


class KvmTimerUpdateIrq(Event):
    """``kvm_timer_update_irq`` (``trace_arm.h``): the timer's level ``level`` for
    ``intid`` given to the vgic (``cpu``: where the context is loaded, None if not)."""

    __slots__ = ("cpu", "intid", "level", "vcpu", "vm")
    NAME: ClassVar[str] = "kvm_timer_update_irq"
    FIELDS: ClassVar[tuple[str, ...]] = ("vcpu", "vm", "intid", "level", "cpu")

    def __init__(self, vcpu: int = 0, vm: int = 0, intid: int = 0, level: bool = False,
                 cpu: int | None = None) -> None:
        super().__init__()
        self.vcpu = vcpu
        self.vm = vm
        self.intid = intid
        self.level = level
        self.cpu = cpu


class KvmTimerSaveState(Event):
    """``kvm_timer_save_state`` (``trace_arm.h``): CNTV_CTL_EL0 ``ctl`` and CNTV_CVAL_EL0
    ``cval`` saved from ``cpu``."""

    __slots__ = ("cpu", "ctl", "cval", "vcpu", "vm")
    NAME: ClassVar[str] = "kvm_timer_save_state"
    FIELDS: ClassVar[tuple[str, ...]] = ("vcpu", "vm", "cpu", "ctl", "cval")

    def __init__(self, vcpu: int = 0, vm: int = 0, cpu: int = 0, ctl: int = 0, cval: int = 0) -> None:
        super().__init__()
        self.vcpu = vcpu
        self.vm = vm
        self.cpu = cpu
        self.ctl = ctl
        self.cval = cval


class KvmTimerRestoreState(KvmTimerSaveState):
    """``kvm_timer_restore_state`` (``trace_arm.h``): ``ctl`` and ``cval`` restored on ``cpu``."""

    __slots__ = ()
    NAME: ClassVar[str] = "kvm_timer_restore_state"


class KvmTimerPhysActive(Event):
    """``irqfwd_kvm_timer_phys_active``: the timer PPI's physical Active state on ``cpu``
    set to ``active`` (``cached``: unchanged, the write skipped)."""

    __slots__ = ("active", "cached", "cpu")
    NAME: ClassVar[str] = "irqfwd_kvm_timer_phys_active"
    FIELDS: ClassVar[tuple[str, ...]] = ("cpu", "active", "cached")

    def __init__(self, cpu: int = 0, active: bool = False, cached: bool = False) -> None:
        super().__init__()
        self.cpu = cpu
        self.active = active
        self.cached = cached


register_events(GicLrEntry, GicV3IchLrWrite, IrqfdInject, IrqfdResample, KvmAckIrq, KvmEntry, KvmExit, KvmSetIrq, KvmTimerPhysActive, KvmTimerRestoreState, KvmTimerSaveState, KvmTimerUpdateIrq, KvmVcpuWakeup, VcpuLoad, VcpuPut, VgicMaintenance, VgicUpdateIrqPending)
