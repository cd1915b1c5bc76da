"""One KVM vCPU: the ``kvm_arch_vcpu_ioctl_run`` loop as pCPU steps, exits and world switch.

Run loop (host mode, vCPU thread loaded on a pCPU)::

    loop:   need_resched / migration / VM dying → scheduler (vcpu_put, switch)
            kvm_vgic_flush_hwstate (LR shadow) → vgic restore (GICH_LRn, GICH_HCR)
            world switch in, kvm_entry → guest mode (continue the guest's step chain)
    exit:   trap to EL2, kvm_exit, world switch out, vgic save (LRs, MISR), fold
            (kvm_vgic_sync_hwstate), local_irq_enable (pending host IRQs are taken here)
    handle_exit(reason): IRQ → loop; WFx → kvm_vcpu_block unless a vgic irq is pending;
            DABT_LOW → an in-kernel device on KVM_MMIO_BUS (the vgic distributor), else
            the VMM (KVM_EXIT_MMIO, counter ``kvm_userspace_exit``); HVC → hypercall;
            SYS64 → a trapped GIC system register (the vgic back end's ``access_sysreg``)

Exit reasons use the KVM arm64 names (``IRQ``, ``WFx``, ``DABT_LOW``, ``HVC``, ``SYS64``).  Every exit
counts ``exits_total`` and ``exit:<REASON>`` and emits ``kvm_exit`` (``vcpu``, ``reason``,
``vm``); entries emit ``kvm_entry``.  While the guest is booting (``booting``), exits are
counted as ``boot_exits_total`` / ``boot_exit:<REASON>`` instead, so per-interrupt figures
exclude boot.

The vCPU thread is a :class:`~irqfwd.host.sched.Task`: the scheduler switches it in and
out through the preempt notifiers, here ``kvm_arch_vcpu_load`` (:meth:`Vcpu.sched_in`: the
guest context is loaded on the pCPU, the vgic back end's ``load``, then the ``hooks``
hooks) and ``kvm_arch_vcpu_put`` (:meth:`Vcpu.sched_out`: the ``on_put`` hooks, then the
back end's ``put``).  Hooks for other subsystems (e.g. the arch timer's
``kvm_timer_vcpu_load``/``put``) are lists of ``fn(vcpu, pcpu_index) -> int`` (cost in ns);
``on_block`` / ``on_unblock`` bracket the wait of ``kvm_vcpu_block`` (what
``kvm_vcpu_is_blocking`` reports: the timer's put arms ``bg_timer`` only then).  The guest runs in :attr:`Vcpu.ctx` (a
:class:`~irqfwd.hw.machine.GuestContext`), which the pCPU executes in guest mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from irqfwd.host.kvm.events import KvmEntry, KvmExit, KvmVcpuWakeup, VcpuLoad, VcpuPut
from irqfwd.host.kvm.kvm_host import Kvm, KvmVcpu
from irqfwd.host.kvm.vgic import (
    kvm_vgic_flush_hwstate,
    kvm_vgic_sync_hwstate,
    kvm_vgic_vcpu_pending_irq,
)
from irqfwd.hw.machine import CPU_HALT_POLL, CPU_KVM, GUEST, HOST, PhysCpu, Step
from irqfwd.sim.engine import Handle

__all__ = ["EXIT_REASONS", "Vcpu"]

EXIT_REASONS = ("IRQ", "WFx", "DABT_LOW", "HVC", "SYS64")
"""KVM arm64 exit reasons (``kvm_exit`` tracepoint, ESR_ELx exception classes)."""


class Vcpu(KvmVcpu):
    """A vCPU with its thread's run loop (``kvm_arch_vcpu_ioctl_run``)."""

    def __init__(self, kvm: Kvm, vcpu_id: int) -> None:
        super().__init__(kvm, vcpu_id)
        rec = kvm.m.recorder
        self._ev_entry = rec.site(KvmEntry(vcpu=vcpu_id, vm=kvm.index))
        self._ev_exit = rec.site(KvmExit(vcpu=vcpu_id, vm=kvm.index))
        self._ev_wakeup = rec.site(KvmVcpuWakeup(vm=kvm.index, vcpu=vcpu_id))
        self._ev_load = rec.site(VcpuLoad(vm=kvm.index, vcpu=vcpu_id))
        self._ev_put = rec.site(VcpuPut(vm=kvm.index, vcpu=vcpu_id))
        self.guest: Any = None
        self.booting = True
        """Exits are counted as ``boot_exit:*`` until the guest first idles."""
        self.exit_reason = "IRQ"
        self.mmio: tuple[int, int, int, bool] = (0, 0, 4, False)
        self.sysreg: tuple[str, int, bool] = ("", 0, False)
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
        self.cpu_category = CPU_KVM
        # kvm_vcpu_halt state
        self.halt_poll_ns = 0
        """The vCPU's current poll window (``vcpu->halt_poll_ns``), adapted per halt."""
        self._halting = False
        self._halt_start = 0
        self._halt_waited = False
        self._halt_polled = False
        self._polling = False
        self._poll_stop = 0
        self._poll_t0 = 0
        self._poll_busy0 = 0
        self._poll_timer: Handle | None = None
        self._poll_step: Step = self._poll_check
        self._poll_timeout_cb: Callable[[], None] = self._poll_timeout
        """Bound once: a compiled bound method is a new object per attribute read."""
        self._poll_check_ns = c.halt_poll_check_ns
        self._c_poll_success = rec.counter("halt_poll_success")
        self._c_poll_fail = rec.counter("halt_poll_fail")
        self._c_wakeups = rec.counter("vcpu_wakeups")
        """Halts ended (``kvm_vcpu_wakeup``), and of them: after sleeping (``waited``), by
        polling, or with nothing pending (``valid`` false)."""
        self._c_wakeups_waited = rec.counter("vcpu_wakeups_waited")
        self._c_wakeups_polled = rec.counter("vcpu_wakeups_polled")
        self._c_wakeups_invalid = rec.counter("vcpu_wakeups_invalid")
        self._c_sched_in = rec.counter("sched_in_vcpu")
        """Context switches to this vCPU's thread."""
        self._c_entries = rec.counter("kvm_entries")
        """Guest entries after boot (``kvm_entry``)."""
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
        self._c_sched_in.n += 1
        self.kvm.glob.running_vcpu[cpu.index] = self
        return self.kvm_arch_vcpu_load(cpu)

    def sched_out(self, cpu: PhysCpu) -> int:
        """``kvm_sched_out`` → ``kvm_arch_vcpu_put``; the guest context leaves the pCPU."""
        cost = self.kvm_arch_vcpu_put(cpu)
        cpu.ctx = None
        self.kvm.glob.running_vcpu[cpu.index] = None
        return cost

    def kvm_arch_vcpu_load(self, cpu: PhysCpu) -> int:
        """``kvm_arch_vcpu_load``: WFI trapping (``vcpu_set_wfx_traps`` /
        ``vcpu_clear_wfx_traps``), the vgic (``kvm_vgic_load``), then the ``on_load`` hooks
        (the arch timer's ``kvm_timer_vcpu_load``); returns the cost."""
        kvm = self.kvm
        policy = kvm.host.wfi_trap_policy
        if policy == "default":
            # no WFI trap when the vCPU runs alone with directly injected interrupts (vLPIs,
            # GICv4.1 vSGIs): kvm_vcpu_should_clear_twi
            ops = kvm.vgic.ops
            self.twi = not (ops.has_gicv4 and ops.has_direct_irqs(self)
                            and kvm.host.sched.single_task_running(cpu))
        else:
            self.twi = policy == "trap"
        cost = kvm.vgic.ops.load(self, cpu.index)
        for hook in self.hooks:
            cost += hook.on_load(self, cpu.index)
        ev = self._ev_load
        if ev.live:
            ev.cpu = cpu.index
            ev.emit()
        return cost

    def kvm_arch_vcpu_put(self, cpu: PhysCpu) -> int:
        """``kvm_arch_vcpu_put``: the ``on_put`` hooks, then the vgic (``kvm_vgic_put``)."""
        cost = 0
        for hook in self.hooks:
            cost += hook.on_put(self, cpu.index)
        cost += self.kvm.vgic.ops.put(self, cpu.index)
        ev = self._ev_put
        if ev.live:
            ev.cpu = cpu.index
            ev.emit()
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
        if self._halting:
            if self._halt_waited and not self._runnable():
                # kvm_vcpu_block's loop: woken (a kick for an irq the guest cannot take
                # yet), but kvm_vcpu_check_block still finds nothing to run: sleep again
                self.m.recorder.count("vcpu_block_spurious_wakeups")
                return self.kvm_vcpu_block(cpu)
            self._halt_finish()
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
        if not self.booting:
            self._c_entries.n += 1
        ev = self._ev_entry
        if ev.live:
            ev.cpu = cpu.index
            ev.emit()
        ctx = self.ctx
        cpu.next = ctx.guest_next
        ctx.guest_next = None
        return cost

    def exit(self, reason: str) -> int:
        """Leave guest mode with ``reason``: save, fold, unmask host IRQs; returns the cost."""
        cpu = self.cpu
        assert cpu is not None
        sites = self._c_reason[reason]
        if self.booting:
            self._c_boot_exits.n += 1
            sites[1].n += 1
        else:
            self._c_exits.n += 1
            sites[0].n += 1
        ev = self._ev_exit
        if ev.live:
            ev.reason = reason
            ev.cpu = cpu.index
            ev.emit()
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
        """The guest executes WFI: with HCR_EL2.TWI (the default) exit ``WFx`` and resume at
        ``cont``; without it the PE waits in guest mode until an interrupt is pending (a
        virtual IRQ is taken there, a physical one or a kick exits as usual) and the guest
        then continues in its idle loop."""
        if not self.twi:
            cpu = self.cpu
            assert cpu is not None
            cpu.next = None
            self.m.recorder.count("wfi_not_trapped")
            return 0
        self.ctx.guest_next = cont
        return self.exit("WFx")

    def trap_sysreg(self, name: str, value: int, is_write: bool, cont: Step) -> int:
        """A guest access to a trapped GIC system register (ICC_SGI1R_EL1; ICC_DIR_EL1 with
        ICH_HCR_EL2.TDIR): exit ``SYS64``; a read's result is in :attr:`mmio_result`."""
        self.sysreg = (name, value, is_write)
        self.ctx.guest_next = cont
        return self.exit("SYS64")

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
                # io_mem_abort → KVM_EXIT_MMIO: the VMM emulates it on this thread (its
                # memory region's handler, or unassigned memory reading 0) and re-enters
                # KVM_RUN returns: vcpu_put at the end of the ioctl, vcpu_load at the next.
                self._c_user_exits.n += 1
                cost = self.kvm_arch_vcpu_put(cpu)
                user = self.kvm.user_mmio_find(addr)
                self.mmio_result = 0 if user is None else user(self, addr, value, size, is_write)
                return cost + self._mmio_user_ns + self.kvm_arch_vcpu_load(cpu)
            self.mmio_result = handler(self, addr, value, size, is_write)
            return self._mmio_ns
        if reason == "SYS64":
            name, value, is_write = self.sysreg
            self.mmio_result = self.kvm.vgic.ops.access_sysreg(self, name, value, is_write)
            return 0
        return self._hvc_ns

    def _kvm_handle_wfx(self, cpu: PhysCpu) -> int:
        """``kvm_handle_wfx`` → ``kvm_vcpu_wfi``: sync the VMCR (``kvm_vgic_vmcr_sync``), set
        ``IN_WFI`` and make a GICv4 vPE non-resident with its doorbell (``vgic_v4_put``), then
        halt (``kvm_vcpu_halt``) unless the vCPU is already runnable; ``vgic_v4_load`` once
        the halt is over (:meth:`_halt_finish`)."""
        ops = self.kvm.vgic.ops
        ops.vmcr_sync(self, cpu.index)
        self.in_wfi = True
        has_gicv4 = ops.has_gicv4
        # vgic_v4_put: doorbell while the vCPU waits
        cost = ops.v4_put(self, cpu.index) if has_gicv4 else 0
        if self._runnable():
            self.in_wfi = False
            self.req_unblock = False
            return (cost + ops.v4_load(self, cpu.index)) if has_gicv4 else cost
        return self._block_ns + cost + self.kvm_vcpu_halt(cpu)

    def _runnable(self) -> bool:
        """``kvm_vcpu_check_block`` < 0: a vgic irq is pending (``kvm_arch_vcpu_runnable``;
        a timer that should fire is injected at the vCPU's load, before the check), a
        ``KVM_REQ_UNBLOCK`` request, or the VM is going away."""
        return kvm_vgic_vcpu_pending_irq(self) or self.req_unblock or self.kvm.dying

    # ---------------------------------------------------------------- halt polling
    def kvm_vcpu_halt(self, cpu: PhysCpu) -> int:
        """``kvm_vcpu_halt``: poll for up to ``halt_poll_ns`` (the CPU busy-waits, IRQs
        unmasked), then block; the window grows and shrinks with the halts it sees
        (:meth:`_halt_finish`)."""
        max_poll = self.kvm.max_halt_poll_ns
        if self.halt_poll_ns > max_poll:
            self.halt_poll_ns = max_poll
        now = self.m.engine.now
        self._halt_start = now
        self._halting = True
        self._halt_waited = False
        self._halt_polled = self.halt_poll_ns > 0
        if not self._halt_polled:
            return self._halt_block(cpu)
        if not self.kvm.host.sched.single_task_running(cpu):  # one look, then kvm_vcpu_block
            return self._halt_block(cpu)
        self._poll_stop = now + self.halt_poll_ns
        self._poll_timer = self.m.engine.at(self._poll_stop, self._poll_timeout_cb)
        self._park_poll(cpu)
        return 0

    def _park_poll(self, cpu: PhysCpu) -> None:
        """Busy-wait until an IRQ, a kick or the end of the window resumes :meth:`_poll_check`."""
        self._polling = True
        self._poll_t0 = self.m.engine.now
        self._poll_busy0 = cpu.accounted_ns()
        cpu.cat = CPU_HALT_POLL
        cpu.parked = self._poll_step
        cpu.next = None

    def _poll_timeout(self) -> None:
        cpu = self.cpu
        if self._polling and cpu is not None and cpu.parked is self._poll_step:
            cpu.poke()

    def _poll_check(self) -> int:
        """One look of the poll loop (``kvm_vcpu_check_block``, ``kvm_vcpu_can_poll``)."""
        cpu = self.cpu
        assert cpu is not None
        now = self.m.engine.now
        # the wait since the CPU parked, minus what IRQ handlers ran meanwhile
        cpu.account(CPU_HALT_POLL, (now - self._poll_t0) - (cpu.accounted_ns() - self._poll_busy0))
        if self._runnable():
            self._end_poll(cpu)
            cpu.next = self.run_step
            return self._poll_check_ns
        if now >= self._poll_stop or cpu.need_resched or not self.kvm.host.sched.single_task_running(cpu):
            # the window is over, or another thread wants this CPU (kvm_vcpu_can_poll:
            # need_resched, single_task_running)
            self._end_poll(cpu)
            return self._halt_block(cpu)
        self._park_poll(cpu)
        return 0

    def _end_poll(self, cpu: PhysCpu) -> None:
        self._polling = False
        cpu.cat = CPU_KVM
        t = self._poll_timer
        if t is not None:
            self.m.engine.cancel(t)
            self._poll_timer = None

    def _halt_block(self, cpu: PhysCpu) -> int:
        """``kvm_vcpu_block``: the vCPU sleeps until kicked (the halt ends at its next run)."""
        self._halt_waited = True
        return self.kvm_vcpu_block(cpu)

    def _halt_finish(self) -> None:
        """The end of ``kvm_vcpu_halt`` once the vCPU runs again: grow or shrink the poll
        window (``grow_halt_poll_ns`` / ``shrink_halt_poll_ns``), ``kvm_vcpu_wakeup``."""
        self._halting = False
        kvm = self.kvm
        if self.in_wfi:
            self.in_wfi = False
            cpu = self.cpu
            ops = kvm.vgic.ops
            if cpu is not None and ops.has_gicv4:
                self.m.acc += ops.v4_load(self, cpu.index)
        halt_ns = self.m.engine.now - self._halt_start
        valid = self._runnable()
        self.req_unblock = False
        max_poll = kvm.max_halt_poll_ns
        old = self.halt_poll_ns
        if not valid:
            self._shrink_halt_poll_ns()
        elif max_poll:
            if halt_ns <= self.halt_poll_ns:
                pass
            elif self.halt_poll_ns and halt_ns > max_poll:
                self._shrink_halt_poll_ns()
            elif self.halt_poll_ns < max_poll and halt_ns < max_poll:
                self._grow_halt_poll_ns(max_poll)
        else:
            self.halt_poll_ns = 0
        rec = self.m.recorder
        self._c_wakeups.n += 1
        if self._halt_waited:
            self._c_wakeups_waited.n += 1
        else:
            self._c_wakeups_polled.n += 1
        if not valid:
            self._c_wakeups_invalid.n += 1
        if self._halt_polled:
            if self._halt_waited:
                self._c_poll_fail.n += 1
            else:
                self._c_poll_success.n += 1
        if self.halt_poll_ns != old and rec.wants("kvm_halt_poll_ns"):
            rec.emit("kvm_halt_poll_ns", vcpu=self.vcpu_id, grow=self.halt_poll_ns > old,
                     new=self.halt_poll_ns, old=old)
        ev = self._ev_wakeup
        if ev.live:
            ev.ns = halt_ns
            ev.waited = self._halt_waited
            ev.valid = valid
            ev.emit()

    def _grow_halt_poll_ns(self, max_poll: int) -> None:
        """``grow_halt_poll_ns``: times ``halt_poll_ns_grow``, at least ``..._grow_start``."""
        prof = self.kvm.host.profile
        val = self.halt_poll_ns * prof.halt_poll_ns_grow
        if val < prof.halt_poll_ns_grow_start:
            val = prof.halt_poll_ns_grow_start
        self.halt_poll_ns = min(val, max_poll)

    def _shrink_halt_poll_ns(self) -> None:
        """``shrink_halt_poll_ns``: divide by ``halt_poll_ns_shrink``; 0 resets; below
        ``halt_poll_ns_grow_start`` means 0."""
        prof = self.kvm.host.profile
        shrink = prof.halt_poll_ns_shrink
        val = 0 if shrink == 0 else self.halt_poll_ns // shrink
        if val < prof.halt_poll_ns_grow_start:
            val = 0
        self.halt_poll_ns = val

    def kvm_vcpu_block(self, cpu: PhysCpu) -> int:
        """``kvm_vcpu_block``: ``prepare_to_rcuwait`` (``on_block`` hooks: the vCPU is now
        ``kvm_vcpu_is_blocking``), then sleep (``schedule``: the put arms ``bg_timer``)."""
        cost = 0
        for hook in self.hooks:
            cost += hook.on_block(self, cpu.index)
        return cost + self.kvm.host.sched.block(self, cpu)
