"""Guest IPIs between vCPUs (``kind = "ipi"``): vCPU 0 sends SGI :data:`IPI_SGI` to the
device's ``vcpu`` at the times of its traffic pattern.

The sender is a CPU-bound guest thread on vCPU 0 (its idle loop spins, so it sends as soon
as a send is due; the first send wakes vCPU 0 from its boot-time WFI): ``gic_ipi_send_mask`` is an ICC_SGI1R_EL1 write on a GICv3 (always
trapped: a ``SYS64`` exit, ``vgic_v3_dispatch_sgi``) and a GICD_SGIR write on a GICv2 (a
``DABT_LOW`` exit).  KVM then queues the SGI in the receiver's vgic and kicks it, or, with
GICv4.1 vSGIs (``nassgireq``), makes it pending in the receiver's vPE through GITS_SGIR:
a resident vPE takes it without an exit.

The receiver's handler is a :class:`~irqfwd.guest.kernel.GuestDriver` of vINTID
:data:`IPI_SGI` whose device is the :class:`IpiChannel`: each send is a raise
(``irqfwd_device_irq_raise``, ``trigger`` edge), the handler entry records
``assert_to_guest_handler`` from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from irqfwd.config import DeviceConfig
from irqfwd.devices.base import GuestDevice
from irqfwd.devices.events import DeviceIrqRaise
from irqfwd.devices.traffic import ArrivalSource, as_source
from irqfwd.guest.gic_v2 import GicV2GuestDriver
from irqfwd.guest.gic_v3 import GicV3GuestDriver
from irqfwd.guest.kernel import GuestCpu
from irqfwd.guest.timer import SPIN_QUANTUM_NS
from irqfwd.host.irqchip.arm_gic import GIC_DIST_SOFTINT
from irqfwd.hw.machine import Machine

__all__ = ["IPI_SGI", "IpiChannel", "IpiSender"]

IPI_SGI: Final = 1
"""The SGI the sender uses (arm64 ``IPI_CALL_FUNC``)."""


class IpiChannel(GuestDevice):
    """The receiver's side of the IPI stream, as a guest driver's device."""

    def __init__(self, machine: Machine, cfg: DeviceConfig) -> None:
        self.m = machine
        self.cfg = cfg
        super().__init__(cfg.name)
        self.seq = 0
        self.unserved: list[tuple[int, int]] = []
        rec = machine.recorder
        self._ev_raise = rec.site(DeviceIrqRaise(dev=self.name, intid=IPI_SGI, trigger="edge"))
        self._c_raised = rec.counter("device_irqs_raised")

    def raised(self) -> None:
        """The sender issued an IPI (its ICC_SGI1R_EL1 / GICD_SGIR write)."""
        self.seq += 1
        self.pending += 1
        self.unserved.append((self.seq, self.m.engine.now))
        self._c_raised.n += 1
        ev = self._ev_raise
        if ev.live:
            ev.seq = self.seq
            ev.emit()

    def handler_entry(self) -> int | None:
        """Handler entry: ``assert_to_guest_handler`` of the oldest IPI not yet served."""
        u = self.unserved
        if not u:
            return None
        m = self.m
        m.recorder.latency("assert_to_guest_handler", m.engine.now - u[0][1])
        seq = u[-1][0]
        u.clear()
        return seq

    def ack(self) -> int:
        """The handler consumes the IPIs it was sent (``generic_smp_call_function_interrupt``)."""
        n = self.pending
        self.pending = 0
        return n

    def poll(self, budget: int) -> int:
        n = min(self.pending, budget)
        self.pending -= n
        return n

    def set_irq_enabled(self, on: bool) -> None:
        return None


class IpiSender:
    """vCPU 0's sending thread: spins, and sends an IPI whenever one is due."""

    def __init__(self, gcpu: GuestCpu, channel: IpiChannel, gic: Any, target: int) -> None:
        self.gcpu = gcpu
        self.channel = channel
        self.gic = gic
        self.target = target
        self.due = 0
        self.m = gcpu.vcpu.m
        self._arrivals: ArrivalSource | None = None
        self._spin_step = self.spin
        gcpu.idle_step = self._spin_step
        gcpu._wfi_resume = self._spin_step

    def start(self, times: Iterable[int]) -> None:
        """Feed send times (absolute ns, non-decreasing)."""
        self._arrivals = as_source(times)
        self._next()

    def stop(self) -> None:
        """No more sends (teardown)."""
        self._arrivals = as_source(())

    def _next(self) -> None:
        assert self._arrivals is not None
        t = self._arrivals.next_time()
        if t >= 0:
            eng = self.m.engine
            eng.schedule(max(t - eng.now, 0), self._arrival)

    def _arrival(self) -> None:
        self.due += 1
        vcpu = self.gcpu.vcpu
        if vcpu.blocked:
            # the sending thread's first wake-up ends the boot WFI (KVM_REQ_UNBLOCK: no
            # interrupt makes the vCPU runnable, the guest's own work does)
            vcpu.req_unblock = True
            vcpu.kvm_vcpu_wake_up()
        self._next()

    def spin(self) -> int:
        """The sender's loop: send a due IPI (a trapped access), else spin one quantum."""
        gcpu = self.gcpu
        vcpu = gcpu.vcpu
        if self.due and not vcpu.kvm.dying:
            self.due -= 1
            self.channel.raised()
            gic = self.gic
            if isinstance(gic, GicV3GuestDriver):
                return gic.send_sgi(vcpu, IPI_SGI, self.target, self._spin_step)
            if isinstance(gic, GicV2GuestDriver):
                value = (1 << (16 + self.target)) | IPI_SGI
                return vcpu.trap_mmio(gic.dist_base + GIC_DIST_SOFTINT, value, 4, True, self._spin_step)
        gcpu._set_next(self._spin_step)
        return self.m.spin_quantum(SPIN_QUANTUM_NS)
