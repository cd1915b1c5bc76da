"""A Linux-like guest kernel running on the vCPUs of one VM, version-neutral; its GIC
driver (:mod:`irqfwd.guest.gic_v2`) does the register accesses.

* Boot (each vCPU): ``gic_cpu_init`` on its CPU interface (priority mask, EOImode from
  ``ScenarioConfig.guest.eoimode``: no exit).  vCPU 0 then sets up the distributor, whose
  accesses trap (``DABT_LOW`` exits emulated by KVM).  Boot exits (including the first
  idle WFI) are counted separately (``boot_exit:*``).
* Idle: WFI (trapped: exit ``WFx``).
* IRQ vector (guest ``gic_handle_irq``): read IAR; 1020..1023 end the loop; EOImode 0:
  handler then EOIR; EOImode 1: EOIR (priority drop) before the handler and DIR after it
  (a trapped access when stage 2 does not map the DIR page).  Each deactivation emits
  ``irqfwd_guest_deactivate``.
* Drivers (:class:`GuestDriver`): handler entry emits ``irqfwd_guest_irq_handled`` (``vm``,
  ``vcpu``, ``vintid``, ``dev``, ``seq``: the newest device raise it serves, or None) and
  counts ``guest_irqs_handled``; the handler acknowledges the device through its BAR
  (``NIC_STATUS`` read; ``guest_mmio_ack_ns`` when stage 2 maps the BAR, a ``DABT_LOW``
  exit to the VMM when it does not) and works ``handler_ns``.  Options:
  ``napi`` (disable device interrupts, poll ``napi_budget`` events per softirq round,
  re-enable when done) and ``threaded`` (oneshot: the flow masks the vINTID with a trapped
  GICD_ICENABLER write before the hard handler, the thread does the work and unmasks it
  with GICD_ISENABLER; with EOImode 1 the GICV_DIR is deferred to the thread end,
  ``IRQCHIP_EOI_THREADED``).
* Handler dispatch (the guest's irq domain): the IAR loop calls the handler registered for
  the acknowledged vINTID with :meth:`GuestKernel.register_irq_handler`; every driver
  registers its handler through it at construction, other guest code (the arch-timer
  tick, :mod:`irqfwd.system.vtimer`) the same way.  A vINTID without a handler is
  just deactivated (a spurious interrupt for Linux).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Final

from irqfwd.devices.base import GuestDevice
from irqfwd.devices.nic import NIC_IRQ_ENABLE, NIC_STATUS
from irqfwd.guest.events import GuestDeactivate, GuestIrqHandled
from irqfwd.guest.gic import GuestGic, MmioOp
from irqfwd.hw.gic.memory import RAM_BASE
from irqfwd.hw.machine import Step

if TYPE_CHECKING:
    from irqfwd.host.kvm.vcpu import Vcpu
    from irqfwd.host.kvm.vm import Vm
    from irqfwd.sim.costs import CostProfile

__all__ = ["SPIN_QUANTUM_NS", "GuestCpu", "GuestDevice", "GuestDriver", "GuestKernel", "IrqHandler"]

SPECIAL_INTID: Final = 1020
"""1020..1023: special INTIDs (1023: spurious) end the IAR loop."""
SPIN_QUANTUM_NS: Final = 2_000
"""Longest step of a spinning (CPU-bound) guest: an IPI or kick from another pCPU's step is
seen within it (timer and device events end a step exactly, :meth:`Machine.spin_quantum`)."""

IrqHandler = Callable[["GuestCpu"], int]
"""A guest interrupt handler: called as one guest step on the vCPU that acknowledged the
vINTID (``GuestCpu.iar`` holds the GICV_IAR value), returns its cost in ns.  Unless it
chains a continuation of its own (which must end in the end-of-interrupt), the flow goes on
with GICV_EOIR / GICV_DIR."""


class GuestDriver:
    """A guest device driver bound to one vINTID."""

    def __init__(self, dev: GuestDevice, vintid: int, vcpu: int, handler_ns: int, *, threaded: bool = False,
                 napi: bool = False, napi_budget: int = 64, edge: bool = False, bar_gpa: int = -1) -> None:
        self.dev = dev
        self.bar_gpa = bar_gpa
        """Guest-physical address of the device's BAR (-1: always reached directly)."""
        self.vintid = vintid
        self.vcpu = vcpu
        self.handler_ns = handler_ns
        self.threaded = threaded
        self.napi = napi
        self.napi_budget = napi_budget
        self.edge = edge
        self.napi_scheduled = False


class GuestKernel:
    """The guest OS of one VM: one :class:`GuestCpu` per vCPU."""

    def __init__(self, kvm: Vm, costs: CostProfile, eoimode: int, drivers: list[GuestDriver],
                 gic: GuestGic, busy: bool = False) -> None:
        self.kvm = kvm
        self.costs = costs
        self.eoimode = eoimode
        self.drivers = {d.vintid: d for d in drivers}
        self.gic = gic
        """The guest's GIC driver."""
        self.on_handler_entry: Callable[[GuestCpu, GuestDriver], None] | None = None
        """Hook run at every driver handler entry (the system uses it to kill the VM at teardown)."""
        self.irq_handlers: dict[int, IrqHandler] = {}
        """vINTID → handler (read-only; use :meth:`register_irq_handler`)."""
        for d in drivers:
            self.register_irq_handler(d.vintid, GuestCpu.driver_handler)
        self.cpus = [GuestCpu(self, v) for v in kvm.vcpus]
        if busy:
            for gcpu in self.cpus:
                gcpu.make_busy()

    def register_irq_handler(self, vintid: int, handler: IrqHandler) -> None:
        """Install ``handler`` for ``vintid`` on every vCPU of this guest (Linux
        ``request_irq``/``request_percpu_irq`` through the GIC irq domain: ``gic_handle_irq``
        → ``generic_handle_domain_irq``).  One handler per vINTID (no IRQF_SHARED): a second
        registration raises :class:`ValueError`, as ``request_irq`` fails with -EBUSY.
        """
        if not (0 <= vintid < SPECIAL_INTID or vintid >= 8192):
            raise ValueError(f"vINTID {vintid} is not an interrupt ID (0..1019, LPIs from 8192)")
        if vintid in self.irq_handlers:
            raise ValueError(f"vINTID {vintid} already has a handler")
        self.irq_handlers[vintid] = handler


class GuestCpu:
    """The guest kernel's execution context on one vCPU (steps run on ``vcpu.cpu``)."""

    def __init__(self, kernel: GuestKernel, vcpu: Vcpu) -> None:
        self.k = kernel
        self.vcpu = vcpu
        self.gic = kernel.gic
        self.vm_index = kernel.kvm.index
        self.rec = rec = kernel.kvm.m.recorder
        self._ev_handled = rec.site(GuestIrqHandled(vm=self.vm_index, vcpu=vcpu.vcpu_id))
        self._ev_deact = rec.site(GuestDeactivate(vm=self.vm_index, vcpu=vcpu.vcpu_id))
        self._c_handled = rec.counter("guest_irqs_handled")
        c = kernel.costs
        self.c_entry = c.guest_irq_entry_ns
        self.c_exit = c.guest_irq_exit_ns
        self.c_gicv = c.gicv_access_ns
        self.c_ack = c.guest_mmio_ack_ns
        self.eoimode1 = kernel.eoimode == 1
        self.intid_mask = kernel.gic.intid_mask
        self.bh: deque[Step] = deque()
        self.iar = 1023
        self.driver: GuestDriver | None = None
        self._irq_handler: IrqHandler | None = None
        self.boot_ops: list[MmioOp] = []
        """Trapped distributor writes this vCPU makes at boot (address, value, size)."""
        self._boot_i = 0
        self.idle_step: Step = self._idle
        self._wfi_resume: Step = self._idle
        self._iar_step: Step = self._irq_iar
        self._handler_step: Step = self._handler
        self._eoi_step: Step = self._eoi
        self._bh_step: Step = self._run_bh
        vcpu.guest = self
        ctx = vcpu.ctx
        ctx.guest_next = self._boot
        ctx.guest_irq_step = self._irq_entry
        self.boot_ops = self.gic.cpu_boot_ops(vcpu.vcpu_id)
        if vcpu.vcpu_id == 0:
            self.boot_ops += self.gic.dist_init_ops(
                (d.vintid, d.edge, d.vcpu) for d in self.k.drivers.values())

    # ---------------------------------------------------------------- boot
    def _cpu_index(self) -> int:
        cpu = self.vcpu.cpu
        assert cpu is not None
        return cpu.index

    def _set_next(self, step: Step) -> None:
        cpu = self.vcpu.cpu
        assert cpu is not None
        cpu.next = step

    def _boot(self) -> int:
        """``gic_cpu_init`` on the CPU interface (no exit), then the distributor writes."""
        n = self.gic.cpu_init(self._cpu_index())
        self._set_next(self._boot_mmio)
        return n * self.c_gicv

    def _boot_mmio(self) -> int:
        ops = self.boot_ops
        while self._boot_i < len(ops) and ops[self._boot_i][0] >= RAM_BASE:
            # a store to guest RAM (LPI and ITS tables): no exit
            addr, val, size = ops[self._boot_i]
            self._boot_i += 1
            self.vcpu.kvm.guest_mem.write(addr, val, size)
        if self._boot_i < len(ops):
            addr, val, size = ops[self._boot_i]
            self._boot_i += 1
            return self.vcpu.trap_mmio(addr, val, size, True, self._boot_mmio)
        self._set_next(self._idle)
        return 0

    # ---------------------------------------------------------------- idle
    def make_busy(self) -> None:
        """A CPU-bound guest: after boot its idle loop spins instead of executing WFI, so
        its interrupts arrive while it runs (``GuestConfig.busy``, ``TimerConfig.guest_busy``)."""
        self.idle_step = self._spin
        self._wfi_resume = self._spin

    def _spin(self) -> int:
        """One quantum of guest computation (until something may interrupt it)."""
        self._set_next(self._spin)
        return self.vcpu.m.spin_quantum(SPIN_QUANTUM_NS)

    def _idle(self) -> int:
        """The idle loop: WFI (trapped by KVM)."""
        vcpu = self.vcpu
        if vcpu.booting:
            cost = vcpu.trap_wfi(self._wfi_resume)
            vcpu.booting = False
            return cost
        return vcpu.trap_wfi(self._wfi_resume)

    # ---------------------------------------------------------------- IRQ vector
    def _irq_entry(self) -> int:
        return self.c_entry + self._irq_iar()

    def _irq_iar(self) -> int:
        vcpu = self.vcpu
        cpu = vcpu.cpu
        assert cpu is not None
        gic = self.gic
        iar = gic.read_iar(cpu.index)
        intid = iar & self.intid_mask
        cost = self.c_gicv
        if SPECIAL_INTID <= intid <= 1023:
            ctx = vcpu.ctx
            ctx.guest_irqs_masked = False
            if self.bh:
                cpu.next = self._bh_step
            else:
                cpu.next = ctx.guest_stack.pop() or self.idle_step
            return cost + self.c_exit
        self.iar = iar
        if self.eoimode1:
            gic.write_eoir(cpu.index, iar)
            cost += self.c_gicv
        self.driver = self.k.drivers.get(intid)
        self._irq_handler = self.k.irq_handlers.get(intid)
        cpu.next = self._handler_step
        return cost

    def _handler(self) -> int:
        """``generic_handle_domain_irq``: run the vINTID's handler, then the EOI step."""
        h = self._irq_handler
        if h is None:
            self._set_next(self._eoi_step)
            return 0
        cpu = self.vcpu.cpu
        assert cpu is not None
        cost = h(self)
        if cpu.next is None:
            cpu.next = self._eoi_step
        return cost

    def driver_handler(self) -> int:
        """The :data:`IrqHandler` of a :class:`GuestDriver`'s vINTID (the driver's ISR and
        its flow: oneshot masking, NAPI, or device ack + work)."""
        d = self.driver
        assert d is not None
        intid = self.iar & self.intid_mask
        dev = d.dev
        seq = dev.handler_entry()
        self._c_handled.n += 1
        ev = self._ev_handled
        if ev.live:
            ev.vintid = intid
            ev.dev = dev.name
            ev.seq = seq
            ev.emit()
        hook = self.k.on_handler_entry
        if hook is not None:
            hook(self, d)
        if d.threaded:
            # handle_fasteoi_irq with IRQS_ONESHOT: mask_irq first (trapped GICD_ICENABLER).
            self.bh.append(partial(self._thread, d, self.iar))
            addr, val, size = self.gic.mask_op(intid)
            return self.vcpu.trap_mmio(addr, val, size, True, self._eoi_step)
        if d.napi:
            if not d.napi_scheduled:
                d.napi_scheduled = True
                self.bh.append(partial(self._napi_poll, d))
            if not self._bar_mapped(d):
                return self.vcpu.trap_mmio(d.bar_gpa + NIC_IRQ_ENABLE, 0, 4, True, self._eoi_step)
            dev.set_irq_enabled(False)
            self._set_next(self._eoi_step)
            return self.c_ack
        if not self._bar_mapped(d):
            return self.vcpu.trap_mmio(d.bar_gpa + NIC_STATUS, 0, 4, False, partial(self._work, d, self._eoi_step))
        dev.ack()
        cpu = self.vcpu.cpu
        assert cpu is not None
        cpu.next = self._eoi_step
        return self.c_ack + d.handler_ns

    def _bar_mapped(self, d: GuestDriver) -> bool:
        """Stage 2 maps the device's BAR (VFIO's mmap): its registers are reached with no exit."""
        return d.bar_gpa < 0 or (d.bar_gpa >> 12) in self.vcpu.ctx.stage2_device_pages

    def _work(self, d: GuestDriver, cont: Step) -> int:
        """The handler's work after a trapped acknowledgement (the VMM read the status)."""
        self._set_next(cont)
        return d.handler_ns

    def _eoi(self) -> int:
        cpu = self.vcpu.cpu
        assert cpu is not None
        iar = self.iar
        d = self.driver
        cost = self.c_gicv
        deferred = d is not None and d.threaded and self.eoimode1
        if self.eoimode1:
            if not deferred:
                return cost + self._write_dir(cpu.index, iar, self._iar_step)
        else:
            self.gic.write_eoir(cpu.index, iar)
        if not deferred:
            self._emit_deactivate(iar & self.intid_mask)
        cpu.next = self._iar_step
        return cost

    def _write_dir(self, cpu: int, iar: int, cont: Step) -> int:
        """The deactivation (+ ``irqfwd_guest_deactivate``): through the mapped DIR page, or a
        trapped access when stage 2 does not map it."""
        gic = self.gic
        if not gic.dir_is_mapped(self.vcpu):
            self._emit_deactivate(iar & self.intid_mask)
            return gic.trap_dir(self.vcpu, iar, cont)
        gic.write_dir(cpu, iar)
        self._emit_deactivate(iar & self.intid_mask)
        self._set_next(cont)
        return 0

    def _emit_deactivate(self, vintid: int) -> None:
        ev = self._ev_deact
        if ev.live:
            ev.vintid = vintid
            ev.emit()

    # ---------------------------------------------------------------- bottom halves
    def _run_bh(self) -> int:
        if not self.bh:  # already drained by a nested interrupt's exit path
            self._bh_done()
            return 0
        step = self.bh.popleft()
        return step()

    def _bh_done(self) -> None:
        if self.bh:
            self._set_next(self._bh_step)
        else:
            self._set_next(self.vcpu.ctx.guest_stack.pop() or self.idle_step)

    def _napi_poll(self, d: GuestDriver) -> int:
        """One NAPI poll round: up to ``napi_budget`` events, re-enable when done."""
        n = d.dev.poll(d.napi_budget)
        cost = self.c_ack + (d.handler_ns if n else 0)
        if d.dev.pending:
            self.bh.append(partial(self._napi_poll, d))
            self._bh_done()
        else:
            # napi_complete_done + re-enable: after this round's work (next step).
            self._set_next(partial(self._napi_complete, d))
        return cost

    def _napi_complete(self, d: GuestDriver) -> int:
        """``napi_complete_done``: re-enable the device interrupt (MMIO write)."""
        d.napi_scheduled = False
        if not self._bar_mapped(d):
            cost = self.vcpu.trap_mmio(d.bar_gpa + NIC_IRQ_ENABLE, 1, 4, True, self._bh_done_step)
            return cost
        d.dev.set_irq_enabled(True)
        self._bh_done()
        return self.c_ack

    def _bh_done_step(self) -> int:
        self._bh_done()
        return 0

    def _thread(self, d: GuestDriver, iar: int) -> int:
        """The irq thread: device work; then (next step, after the work) EOImode 1: GICV_DIR,
        and the unmask (trapped ISENABLER)."""
        if not self._bar_mapped(d):
            return self.vcpu.trap_mmio(d.bar_gpa + NIC_STATUS, 0, 4, False,
                                       partial(self._work, d, partial(self._thread_end, iar)))
        d.dev.ack()
        self._set_next(partial(self._thread_end, iar))
        return self.c_ack + d.handler_ns

    def _thread_end(self, iar: int) -> int:
        """End of the irq thread (``irq_finalize_oneshot``): GICV_DIR (EOImode 1,
        ``IRQCHIP_EOI_THREADED``), then the unmask."""
        unmask = partial(self._unmask_after_thread, iar & self.intid_mask)
        if self.eoimode1:
            cpu = self.vcpu.cpu
            assert cpu is not None
            return self.c_gicv + self._write_dir(cpu.index, iar, unmask)
        return unmask()

    def _unmask_after_thread(self, intid: int) -> int:
        """``irq_finalize_oneshot`` → unmask (a trapped distributor write)."""
        addr, val, size = self.gic.unmask_op(intid)
        return self.vcpu.trap_mmio(addr, val, size, True, self._after_thread)

    def _after_thread(self) -> int:
        self._bh_done()
        return 0
