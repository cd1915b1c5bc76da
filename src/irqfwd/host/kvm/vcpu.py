"""One KVM vCPU: the ``kvm_arch_vcpu_ioctl_run`` loop as pCPU steps, exits and world switch.

Run loop (host mode, vCPU thread loaded on a pCPU)::

    loop:   need_resched / migration / VM dying → scheduler (vcpu_put, switch)
            kvm_vgic_flush_hwstate (LR shadow) → vgic restore (GICH_LRn, GICH_HCR)
            world switch in, kvm_entry → guest mode (continue the guest's step chain)
    exit:   trap to EL2, kvm_exit, world switch out, vgic save (LRs, MISR), fold
            (kvm_vgic_sync_hwstate), local_irq_enable (pending host IRQs are taken here)
    handle_exit(reason): IRQ → loop; WFx → kvm_vcpu_block unless a vgic irq is pending;
            DABT_LOW → an in-kernel device on KVM_MMIO_BUS (the vgic distributor), else
            the VMM (KVM_EXIT_MMIO, counter ``kvm_userspace_exit``); HVC → hypercall

Exit reasons use the KVM arm64 names (``IRQ``, ``WFx``, ``DABT_LOW``, ``HVC``).  Every exit
counts ``exits_total`` and ``exit:<REASON>`` and emits ``kvm_exit`` (``vcpu``, ``reason``,
``vm``); entries emit ``kvm_entry``.  While the guest is booting (``booting``), exits are
counted as ``boot_exits_total`` / ``boot_exit:<REASON>`` instead, so per-interrupt figures
exclude boot.

The vCPU thread is a :class:`~irqfwd.host.sched.Task`: the scheduler switches it in and
out through the preempt notifiers, here ``kvm_arch_vcpu_load`` (:meth:`Vcpu.sched_in`: the
guest context is loaded on the pCPU, the vgic back end's ``load``, then the ``on_load``
hooks) and ``kvm_arch_vcpu_put`` (:meth:`Vcpu.sched_out`: the ``on_put`` hooks, then the
back end's ``put``).  Hooks for other subsystems (e.g. the arch timer's
``kvm_timer_vcpu_load``/``put``) are lists of ``fn(vcpu, pcpu_index) -> int`` (cost in ns);
``on_block`` / ``on_unblock`` run around ``kvm_vcpu_block`` (``kvm_arch_vcpu_blocking`` /
``unblocking``).  The guest runs in :attr:`Vcpu.ctx` (a
:class:`~irqfwd.hw.machine.GuestContext`), which the pCPU executes in guest mode.
"""

from __future__ import annotations

from typing import Any

from irqfwd.host.kvm.kvm_host import Kvm, KvmVcpu
from irqfwd.host.kvm.vgic import (
    kvm_vgic_flush_hwstate,
    kvm_vgic_sync_hwstate,
    kvm_vgic_vcpu_pending_irq,
)
from irqfwd.hw.machine import GUEST, HOST, PhysCpu, Step

__all__ = ["EXIT_REASONS", "Vcpu"]

EXIT_REASONS = ("IRQ", "WFx", "DABT_LOW", "HVC", "SYS64")
"""KVM arm64 exit reasons (``kvm_exit`` tracepoint, ESR_ELx exception classes)."""


class Vcpu(KvmVcpu):
    """A vCPU with its thread's run loop (``kvm_arch_vcpu_ioctl_run``)."""

    def __init__(self, kvm: Kvm, vcpu_id: int) -> None:
        super().__init__(kvm, vcpu_id)
        rec = kvm.m.recorder
        self._ev_entry = rec.event("kvm_entry", vcpu=vcpu_id, vm=kvm.index, cpu=0)
        self._ev_load = rec.event("vcpu_load", vm=kvm.index, vcpu=vcpu_id, cpu=0)
        self._ev_put = rec.event("vcpu_put", vm=kvm.index, vcpu=vcpu_id, cpu=0)
        self.guest: Any = None
        self.booting = True
        """Exits are counted as ``boot_exit:*`` until the guest first idles."""
        self.exit_reason = "IRQ"
        self.mmio: tuple[int, int, int, bool] = (0, 0, 4, False)
        self.mmio_result = 0
        c = kvm.m.costs
        self._enter_fixed = c.vgic_flush_ns + c.world_switch_in_ns + c.guest_entry_ns
        self._exit_fixed = c.trap_to_el2_ns + c.world_switch_out_ns + c.vgic_fold_ns
        self._mmio_ns = c.mmio_emul_kernel_ns
        self._mmio_user_ns = c.mmio_emul_user_ns
        self._hvc_ns = c.hypercall_ns
        self._block_ns = c.wfi_block_ns
        self.ctx.exit_irq_step = self._exit_irq
        self.run_step = self._loop
        self._handle_exit_step: Step = self._handle_exit
        self._c_exits = rec.counter("exits_total")
        self._c_boot_exits = rec.counter("boot_exits_total")
        self._c_user_exits = rec.counter("kvm_userspace_exit")
        self._c_reason = {r: (rec.counter(f"exit:{r}"), rec.counter(f"boot_exit:{r}")) for r in EXIT_REASONS}

    # ---------------------------------------------------------------- preempt notifiers
    def sched_in(self, cpu: PhysCpu) -> int:
        """``kvm_sched_in`` → ``kvm_arch_vcpu_load``: load the guest context, the vgic
        (``kvm_vgic_load``), then the ``on_load`` hooks."""
        cpu.ctx = self.ctx
        self.kvm.glob.running_vcpu[cpu.index] = self
        cost = self.kvm.vgic.ops.load(self, cpu.index)
        for hook in self.on_load:
            cost += hook(self, cpu.index)
        ev = self._ev_load
        if ev.live:
            ev.fields["cpu"] = cpu.index
            ev.emit()
        return cost

    def sched_out(self, cpu: PhysCpu) -> int:
        """``kvm_sched_out`` → ``kvm_arch_vcpu_put``: the ``on_put`` hooks, then the vgic
        (``kvm_vgic_put``); the guest context leaves the pCPU."""
        cost = 0
        for hook in self.on_put:
            cost += hook(self, cpu.index)
        cost += self.kvm.vgic.ops.put(self, cpu.index)
        ev = self._ev_put
        if ev.live:
            ev.fields["cpu"] = cpu.index
            ev.emit()
        cpu.ctx = None
        self.kvm.glob.running_vcpu[cpu.index] = None
        return cost

    def should_exit(self) -> bool:
        """The VM is being destroyed: the vCPU thread leaves ``KVM_RUN`` and exits."""
        return self.kvm.dying

    def request_exit(self) -> None:
        """Leave guest mode at the next step boundary (a kick, ``kvm_vcpu_kick``)."""
        self.ctx.exit_request = True

    # ---------------------------------------------------------------- run loop
    def _loop(self) -> int:
        cpu = self.cpu
        assert cpu is not None
        if cpu.need_resched or self.home != cpu.index or self.kvm.dying:
            cost = self.kvm.host.sched.resched_point(self, cpu)
            if cost >= 0:
                return cost
        return self._enter(cpu)

    def _enter(self, cpu: PhysCpu) -> int:
        """Flush, restore the virtual interface, world switch in, ``kvm_entry``."""
        kvm_vgic_flush_hwstate(self)
        cost = self._enter_fixed + self.kvm.vgic.ops.restore_state(self, cpu.index)
        cpu.mode = GUEST
        cpu.irqs_masked = True
        ev = self._ev_entry
        if ev.live:
            ev.fields["cpu"] = cpu.index
            ev.emit()
        ctx = self.ctx
        cpu.next = ctx.guest_next
        ctx.guest_next = None
        return cost

    def exit(self, reason: str) -> int:
        """Leave guest mode with ``reason``: save, fold, unmask host IRQs; returns the cost."""
        cpu = self.cpu
        assert cpu is not None
        m = self.m
        rec = m.recorder
        sites = self._c_reason[reason]
        if self.booting:
            self._c_boot_exits.n += 1
            sites[1].n += 1
        else:
            self._c_exits.n += 1
            sites[0].n += 1
        if rec.wants("kvm_exit"):
            rec.emit("kvm_exit", vcpu=self.vcpu_id, vm=self.kvm.index, reason=reason, cpu=cpu.index)
        cpu.mode = HOST
        cost = self._exit_fixed + self.kvm.vgic.ops.save_state(self, cpu.index)
        kvm_vgic_sync_hwstate(self)
        cpu.irqs_masked = False
        self.exit_reason = reason
        cpu.next = self._handle_exit_step
        return cost

    def _exit_irq(self) -> int:
        self.ctx.exit_request = False
        return self.exit("IRQ")

    # ---------------------------------------------------------------- guest-initiated traps
    def trap_wfi(self, cont: Step) -> int:
        """The guest executes WFI (trapped, HCR_EL2.TWI): exit ``WFx``; resume at ``cont``."""
        self.ctx.guest_next = cont
        return self.exit("WFx")

    def trap_hvc(self, cont: Step) -> int:
        """The guest executes HVC: exit ``HVC``."""
        self.ctx.guest_next = cont
        return self.exit("HVC")

    def trap_mmio(self, addr: int, value: int, size: int, is_write: bool, cont: Step) -> int:
        """A guest access to the (trapped) distributor: exit ``DABT_LOW``; the result of a
        read is in :attr:`mmio_result` when ``cont`` runs."""
        self.mmio = (addr, value, size, is_write)
        self.ctx.guest_next = cont
        return self.exit("DABT_LOW")

    # ---------------------------------------------------------------- handle_exit
    def _handle_exit(self) -> int:
        cpu = self.cpu
        assert cpu is not None
        reason = self.exit_reason
        cpu.next = self.run_step
        if reason == "IRQ":
            return 0
        if reason == "WFx":
            return self._kvm_handle_wfx(cpu)
        if reason == "DABT_LOW":
            addr, value, size, is_write = self.mmio
            handler = self.kvm.kvm_io_bus_find(addr)
            if handler is None:
                # io_mem_abort → KVM_EXIT_MMIO: the VMM emulates it (reads 0) and re-enters
                self.mmio_result = 0
                self._c_user_exits.n += 1
                return self._mmio_user_ns
            self.mmio_result = handler(self, addr, value, size, is_write)
            return self._mmio_ns
        return self._hvc_ns

    def _kvm_handle_wfx(self, cpu: PhysCpu) -> int:
        """``kvm_handle_wfx`` → ``kvm_vcpu_wfi``: sync the VMCR (``kvm_vgic_vmcr_sync``), then
        block unless a vgic irq is pending."""
        self.kvm.vgic.ops.vmcr_sync(self, cpu.index)
        if kvm_vgic_vcpu_pending_irq(self) or self.kvm.dying:
            return 0
        return self._block_ns + self.kvm_vcpu_block(cpu)

    def kvm_vcpu_block(self, cpu: PhysCpu) -> int:
        """``kvm_vcpu_block``: ``kvm_arch_vcpu_blocking`` (``on_block`` hooks), then sleep."""
        cost = 0
        for hook in self.on_block:
            cost += hook(self, cpu.index)
        return cost + self.kvm.host.sched.block(self, cpu)
