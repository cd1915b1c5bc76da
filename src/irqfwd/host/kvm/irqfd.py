"""KVM irqfd and the resampler (virt/kvm/eventfd.c, arch/arm64/kvm/vgic/vgic-irqfd.c).

* :meth:`IrqfdLayer.kvm_irqfd_assign` registers a wait-queue entry on the eventfd
  (``irqfd_wakeup``); an eventfd that is already signalled injects at once.
* ``irqfd_wakeup`` consumes the counter and injects in the signaller's context
  (``kvm_arch_set_irq_inatomic``, v5.9+), or, under the ``5.8`` kernel profile, queues
  ``irqfd_inject`` on the signalling CPU's kworker.
* ``irqfd_inject`` (the work item; trace event ``irqfwd_irqfd_inject``): a non-resample irqfd *pulses* the GSI (level 1 then 0; an edge SPI
  latches it, a level SPI effectively loses it); a resample irqfd asserts the GSI through
  its resampler and keeps it asserted; mode ``"mapped"`` (forwarded designs) asserts only,
  because a HW-mapped level irq observes rising edges and is re-sampled from the physical
  line at fold (``vgic_v2_populate_lr`` lowers ``line_level``).
* :class:`IrqfdResampler`: one per GSI, shared by every resample irqfd on it; its ack
  notifier (``irqfd_resampler_ack``, run by ``kvm_notify_acked_irq``) de-asserts the GSI
  *once*, then signals *every* resamplefd (counter ``resamplefd_signals``).
* Routing is the flat arm64 default, GSI n → SPI 32 + n; PPIs cannot be irqfd targets.
* Each irqfd is also an irqbypass *consumer* (token = its eventfd);
  ``kvm_arch_irq_bypass_add_producer`` accepts only MSI routes upstream (returns 0 and
  does nothing for SPIs); a design may accept SPI routes (``bypass_spi``) and then injects
  straight from the producer's hard-irq handler.
* A GSI routed to an MSI (``KVM_IRQ_ROUTING_MSI``): ``irqfd_wakeup`` tries
  ``kvm_arch_set_irq_inatomic`` (the vITS translation cache, whatever the kernel profile)
  and queues ``irqfd_inject`` (``kvm_set_msi``) on a miss; the irqfd registers its
  consumer at assignment, and its ``add_producer`` is ``kvm_vgic_v4_set_forwarding``
  (GICv4: the MSI becomes a vLPI, the eventfd is never signalled again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from irqfwd.host.eventfd import EventFd
from irqfwd.host.irqbypass import IrqBypassConsumer, IrqBypassProducer
from irqfwd.host.kvm.events import IrqfdInject, IrqfdResample
from irqfwd.host.kvm.irq_routing import (
    KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID,
    KVM_USERSPACE_IRQ_SOURCE_ID,
    kvm_arch_set_irq_inatomic_msi,
    kvm_set_irq,
    kvm_set_msi,
)
from irqfwd.host.kvm.kvm_host import Kvm
from irqfwd.host.kvm.vgic_its import EWOULDBLOCK, KvmMsi
from irqfwd.host.kvm.vgic_v4 import kvm_vgic_v4_set_forwarding, kvm_vgic_v4_unset_forwarding
from irqfwd.host.workqueue import WorkItem

__all__ = ["KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID", "KVM_USERSPACE_IRQ_SOURCE_ID", "IrqfdResampler",
           "KvmIrqfd"]

EINVAL: Final = -22
EBUSY: Final = -16
KVM_IRQ_ROUTING_IRQCHIP: Final = 1
KVM_IRQ_ROUTING_MSI: Final = 2


class IrqfdResampler:
    """``struct kvm_kernel_irqfd_resampler``: one per GSI."""

    def __init__(self, kvm: Kvm, gsi: int) -> None:
        self.kvm = kvm
        self.gsi = gsi
        self.list: list[KvmIrqfd] = []
        self._resample_ns = kvm.m.costs.resample_ns
        self._c_resamplefd = kvm.m.recorder.counter("resamplefd_signals")
        self._ev_resample = kvm.m.recorder.site(IrqfdResample(vm=kvm.index, gsi=gsi))

    def ack(self, gsi: int) -> None:
        """``irqfd_resampler_ack``: de-assert the GSI once, then signal every resamplefd."""
        kvm = self.kvm
        m = kvm.m
        m.acc += self._resample_ns
        kvm_set_irq(kvm, KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID, self.gsi, False)
        ev = self._ev_resample
        if ev.live:
            ev.gsi = self.gsi
            ev.emit()
        for irqfd in self.list:
            fd = irqfd.resamplefd
            if fd is not None:
                self._c_resamplefd.n += 1
                fd.signal()


class KvmIrqfd:
    """``struct kvm_kernel_irqfd``."""

    def __init__(self, kvm: Kvm, eventfd: EventFd, gsi: int, resamplefd: EventFd | None,
                 mode: str) -> None:
        self.kvm = kvm
        self.eventfd = eventfd
        self.gsi = gsi
        self.resamplefd = resamplefd
        self.mode = mode  # "pulse" | "resample" | "mapped"
        self.resampler: IrqfdResampler | None = None
        self.inject = WorkItem(self.irqfd_inject, f"irqfd-{gsi}")
        self._inject_ns = kvm.m.costs.irqfd_inject_ns
        self._inatomic = kvm.host.profile.irqfd_inject_inatomic
        self._c_inatomic = kvm.m.recorder.counter("irqfd_inject_inatomic")
        self._c_work = kvm.m.recorder.counter("irqfd_inject_work")
        self._ev_inject = kvm.m.recorder.site(IrqfdInject(vm=kvm.index, gsi=gsi))
        msi = kvm.msi_routes.get(gsi)
        self.msi: KvmMsi | None = msi
        """The MSI route of the GSI (``irq_entry.msi``), None for an irqchip route."""
        self.route_type = KVM_IRQ_ROUTING_MSI if msi is not None else KVM_IRQ_ROUTING_IRQCHIP
        self.consumer = IrqBypassConsumer(eventfd, self._add_producer, self._del_producer)
        self.producer: IrqBypassProducer | None = None
        self.on_add_producer: Callable[[KvmIrqfd, IrqBypassProducer], int] | None = None
        """Design hook: accept an SPI route for direct injection (forwarded-direct)."""
        self.on_del_producer: Callable[[KvmIrqfd, IrqBypassProducer], None] | None = None

    def _trace_inject(self, inatomic: bool) -> None:
        """Trace ``irqfwd_irqfd_inject`` (``vm``, ``gsi``, ``inatomic``); callers check ``live``."""
        ev = self._ev_inject
        ev.gsi = self.gsi
        ev.inatomic = inatomic
        ev.emit()

    def irqfd_wakeup(self, fd: EventFd) -> None:
        """``irqfd_wakeup`` (EPOLLIN): consume the count, then inject.

        Since "KVM: arm64: Allow in-atomic injection of SPIs" (v5.9)
        ``kvm_arch_set_irq_inatomic`` injects the SPI (level 1, as ``vgic_irqfd_set_irq``)
        in the context that signalled the eventfd, charged to it; before it (kernel profile
        ``5.8``) every injection is queued as ``irqfd_inject`` on the signalling CPU's kworker.
        """
        fd.ctx_do_read()
        msi = self.msi
        if msi is not None:
            kvm = self.kvm
            if kvm_arch_set_irq_inatomic_msi(kvm, msi) != EWOULDBLOCK:
                self._c_inatomic.n += 1
                kvm.m.acc += self._inject_ns
                if self._ev_inject.live:
                    self._trace_inject(True)
                return
            self.kvm.host.wq.schedule_work(self.inject)
            return
        if self._inatomic:
            self._c_inatomic.n += 1
            kvm = self.kvm
            kvm.m.acc += self._inject_ns
            if self._ev_inject.live:
                self._trace_inject(True)
            kvm_set_irq(kvm, KVM_USERSPACE_IRQ_SOURCE_ID, self.gsi, True)
            return
        self.kvm.host.wq.schedule_work(self.inject)

    def irqfd_inject(self) -> None:
        """``irqfd_inject`` (workqueue): pulse, assert via resampler, or assert (mapped)."""
        self._c_work.n += 1
        kvm = self.kvm
        m = kvm.m
        m.acc += self._inject_ns
        if self._ev_inject.live:
            self._trace_inject(False)
        if self.msi is not None:
            kvm_set_msi(kvm, self.msi)
        elif self.mode == "resample":
            kvm_set_irq(kvm, KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID, self.gsi, True)
        elif self.mode == "mapped":
            kvm_set_irq(kvm, KVM_USERSPACE_IRQ_SOURCE_ID, self.gsi, True)
        else:
            kvm_set_irq(kvm, KVM_USERSPACE_IRQ_SOURCE_ID, self.gsi, True)
            kvm_set_irq(kvm, KVM_USERSPACE_IRQ_SOURCE_ID, self.gsi, False)

    def direct_inject(self) -> int:
        """Injection from the producer's hard-irq handler (bypass): no eventfd, no workqueue."""
        kvm = self.kvm
        m = kvm.m
        saved = m.acc
        level_only = self.mode != "pulse"
        kvm_set_irq(kvm, KVM_USERSPACE_IRQ_SOURCE_ID, self.gsi, True)
        if not level_only:
            kvm_set_irq(kvm, KVM_USERSPACE_IRQ_SOURCE_ID, self.gsi, False)
        cost = m.acc - saved
        m.acc = saved
        return cost

    # -------------------------------------------------------------- irqbypass consumer
    def _add_producer(self, cons: IrqBypassConsumer, prod: IrqBypassProducer) -> int:
        """``kvm_arch_irq_bypass_add_producer``: upstream only MSI routes are bypassed
        (``kvm_vgic_v4_set_forwarding``)."""
        if self.route_type != KVM_IRQ_ROUTING_MSI and self.on_add_producer is None:
            return 0
        self.producer = prod
        if self.msi is not None and self.on_add_producer is None:
            return kvm_vgic_v4_set_forwarding(self.kvm, prod.irq, self.msi)
        if self.on_add_producer is not None:
            return self.on_add_producer(self, prod)
        return 0

    def _del_producer(self, cons: IrqBypassConsumer, prod: IrqBypassProducer) -> None:
        """``kvm_arch_irq_bypass_del_producer`` (``kvm_vgic_v4_unset_forwarding`` for MSI)."""
        if self.producer is prod and self.on_del_producer is not None:
            self.on_del_producer(self, prod)
        elif self.producer is prod and self.msi is not None:
            kvm_vgic_v4_unset_forwarding(self.kvm, prod.irq, self.msi)
        self.producer = None


class IrqfdLayer:
    """The irqfd list and resamplers of one VM (``kvm->irqfds``)."""

    def __init__(self, kvm: Kvm) -> None:
        self.kvm = kvm
        self.items: list[KvmIrqfd] = []
        self.resamplers: dict[int, IrqfdResampler] = {}

    def kvm_irqfd_assign(self, eventfd: EventFd, gsi: int, resamplefd: EventFd | None = None,
                         mode: str | None = None) -> KvmIrqfd | int:
        """``kvm_irqfd_assign``: -EINVAL for a GSI that does not route to an SPI, -EBUSY if the
        eventfd is already an irqfd; an eventfd already signalled queues ``irqfd_inject`` on
        the kworker (whatever the kernel profile: assignment is not the wake-up path)."""
        kvm = self.kvm
        if not 0 <= gsi < kvm.vgic.nr_spis and gsi not in kvm.msi_routes:
            return EINVAL
        if any(i.eventfd is eventfd for i in self.items):
            return EBUSY
        if mode is None:
            mode = "resample" if resamplefd is not None else "pulse"
        irqfd = KvmIrqfd(kvm, eventfd, gsi, resamplefd, mode)
        if resamplefd is not None:
            res = self.resamplers.get(gsi)
            if res is None:
                res = self.resamplers[gsi] = IrqfdResampler(kvm, gsi)
                kvm.kvm_register_irq_ack_notifier(gsi, res.ack)
            res.list.append(irqfd)
            irqfd.resampler = res
        self.items.append(irqfd)
        eventfd.add_waiter(irqfd.irqfd_wakeup)
        if irqfd.msi is not None:  # irq_bypass_register_consumer (upstream: every irqfd)
            kvm.host.irqbypass.register_consumer(irqfd.consumer)
        if eventfd.count:  # vfs_poll() saw EPOLLIN: schedule_work(&irqfd->inject), count kept
            kvm.host.wq.schedule_work(irqfd.inject)
        return irqfd

    def kvm_irqfd_deassign(self, irqfd: KvmIrqfd) -> None:
        """``irqfd_shutdown``: unhook; the last irqfd of a resampler de-asserts the GSI."""
        irqfd.eventfd.remove_waiter(irqfd.irqfd_wakeup)
        if irqfd.msi is not None:
            self.kvm.host.irqbypass.unregister_consumer(irqfd.consumer)
        if irqfd in self.items:
            self.items.remove(irqfd)
        res = irqfd.resampler
        if res is not None:
            res.list.remove(irqfd)
            if not res.list:
                self.kvm.kvm_unregister_irq_ack_notifier(res.gsi, res.ack)
                del self.resamplers[res.gsi]
                kvm_set_irq(self.kvm, KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID, res.gsi, False)
