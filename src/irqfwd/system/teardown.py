"""Tearing the VMs down at the end of a run, the way a VMM killing its guests would.

At the next guest handler entry after the end (the guest then holds an active interrupt;
at most :data:`TEARDOWN_WINDOW_NS` later) every VM is marked dying, its vCPUs leave, and
the host resets each device, stops irqfd injection, unmasks the VFIO line (as QEMU does
when it stops KVM injection), frees the host irq and un-forwards/unmaps it.  A design
whose teardown leaves a physical interrupt active shows it in the counter
``teardown_stuck_active`` and in the invariant checker.  Trace: ``irqfwd_vm_teardown`` (``vm``).
"""

from __future__ import annotations

from typing import Any

from irqfwd.host.kvm.vgic import kvm_vgic_unmap_phys_irq
from irqfwd.hw.machine import HOST
from irqfwd.sim.engine import LATE
from irqfwd.system.build import System
from irqfwd.system.gic import gic_is_active
from irqfwd.system.msi import teardown_msix

__all__ = ["TEARDOWN_WINDOW_NS", "Teardown"]

TEARDOWN_WINDOW_NS = 1_000_000
"""After ``duration_ns``, wait at most this long for a guest handler entry to kill the VM in."""


class Teardown:
    """Kill the VMs at the next guest handler entry after the end, then tear them down.

    ``vms``: only these VM indices (default: every VM not torn down yet; the others keep
    running, and ``stop`` False leaves the engine running after the teardown, as when one VM
    is destroyed while others run)."""

    def __init__(self, system: System, vms: list[int] | None = None, *, stop: bool = True) -> None:
        self.s = system
        self.killed = False
        self.done = False
        self.vms = [kvm for kvm in system.vms
                    if (kvm.index in vms if vms is not None else kvm.index not in system.torn_down)]
        self.devices = [w for w in system.devices if w.kvm in self.vms]
        self.stop = stop

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
        for nic in (w.nic for w in self.devices):
            nic.stop()
        for mw in s.msi_devices:
            if mw.kvm in self.vms:
                for q in mw.nic.queues:
                    q.stop()
        for dev, sender in s.ipis:
            if s.vms[dev.vm] in self.vms:
                sender.stop()
        for kvm in self.vms:
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
        if all(v.exited for kvm in self.vms for v in kvm.vcpus) and not any(
                c.mode == HOST and c.irqs_masked for c in s.machine.pcpus):
            self.teardown()
            if self.stop:
                s.engine.stop()
        else:
            s.engine.schedule(100, self._wait, priority=LATE)

    def teardown(self) -> None:
        s = self.s
        genirq = s.host.genirq
        rec = s.recorder
        for kvm in self.vms:
            if rec.wants("irqfwd_vm_teardown"):
                rec.emit("irqfwd_vm_teardown", vm=kvm.index)
        for w in self.devices:
            w.nic.pending = 0
            w.nic.set_irq_enabled(False)  # device reset: line low
            if w.irqfd is not None:
                if s.design.direct_inject:
                    s.host.irqbypass.unregister_producer(w.vfio.producer)
                    s.host.irqbypass.unregister_consumer(w.irqfd.consumer)
                w.kvm.irqfds.kvm_irqfd_deassign(w.irqfd)
            if w.vmm is not None:
                w.vmm.loop.set_fd_handler(w.trigger, None)  # vfio_intx_disable
            vcpu = w.kvm.vcpus[w.cfg.vcpu]
            if w.forwarded and not s.design.teardown_deactivate:
                genirq.irq_set_vcpu_affinity(w.host_irq, None)
                kvm_vgic_unmap_phys_irq(w.kvm, vcpu, w.cfg.guest_intid)
            w.vfio.unmask()
            w.vfio.release()
            if w.forwarded and s.design.teardown_deactivate:
                genirq.irq_set_vcpu_affinity(w.host_irq, None)
                kvm_vgic_unmap_phys_irq(w.kvm, vcpu, w.cfg.guest_intid)
            if gic_is_active(s.gic, w.cfg.host_intid):
                rec.count("teardown_stuck_active")
        for mw in s.msi_devices:
            if mw.kvm in self.vms:
                teardown_msix(mw)
        s.torn_down = sorted({*s.torn_down, *(kvm.index for kvm in self.vms)})
        self.done = True
