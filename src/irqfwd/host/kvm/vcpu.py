"""One KVM vCPU: the ``kvm_arch_vcpu_ioctl_run`` loop as pCPU steps, exits and world switch.

Run loop (host mode, vCPU thread loaded on a pCPU)::

    loop:   need_resched / migration / VM dying → scheduler (vcpu_put, switch)
            kvm_vgic_flush_hwstate (LR shadow) → vgic restore (GICH_LRn, GICH_HCR)
            world switch in, kvm_entry → guest mode (continue the guest's step chain)
    exit:   trap to EL2, kvm_exit, world switch out, vgic save (LRs, MISR), fold
            (kvm_vgic_sync_hwstate), local_irq_enable (pending host IRQs are taken here)
    handle_exit(reason): IRQ → loop; WFx → kvm_vcpu_block unless a vgic irq is pending;
            DABT_LOW → in-kernel distributor emulation (vgic_mmio); HVC → hypercall

Exit reasons use the KVM arm64 names (``IRQ``, ``WFx``, ``DABT_LOW``, ``HVC``).  Every exit
counts ``exits_total`` and ``exit:<REASON>`` and emits ``kvm_exit`` (``vcpu``, ``reason``,
``vm``); entries emit ``kvm_entry``.  While the guest is booting (``booting``), exits are
counted as ``boot_exits_total`` / ``boot_exit:<REASON>`` instead, so per-interrupt figures
exclude boot.

Hooks for other subsystems (e.g. the arch timer's ``kvm_timer_vcpu_load``/``put``):
``vcpu.on_load`` and ``vcpu.on_put`` are lists of ``fn(vcpu, pcpu_index) -> int`` (cost in
ns) called by the scheduler on ``vcpu_load`` (after the vgic's VMCR/APR restore) and
``vcpu_put`` (before the vgic's save); ``vcpu.on_block`` / ``vcpu.on_unblock`` likewise
around ``kvm_vcpu_block`` (``kvm_arch_vcpu_blocking`` / ``unblocking``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from irqfwd.host.kvm import vgic_v2
from irqfwd.host.kvm.vgic import VGIC_CONFIG_LEVEL, VgicIrq
from irqfwd.host.kvm.vgic_v2 import GICH_VMCR_PRIMASK_SHIFT, VgicV2CpuIf
from irqfwd.hw.machine import GUEST, HOST, PhysCpu, Step

if TYPE_CHECKING:
    from irqfwd.host.kvm.vm import Kvm

__all__ = ["EXIT_REASONS", "Vcpu", "VcpuHook"]

EXIT_REASONS = ("IRQ", "WFx", "DABT_LOW", "HVC", "SYS64")

VcpuHook = Callable[["Vcpu", int], int]


def _no_guest() -> int:
    raise RuntimeError("vCPU entered with no guest code installed")


class Vcpu:
    """``struct kvm_vcpu`` + its vgic per-CPU state + the vCPU thread's run loop."""

    def __init__(self, kvm: Kvm, vcpu_id: int) -> None:
        self.kvm = kvm
        self.m = kvm.m
        self.vcpu_id = vcpu_id
        self.name = f"{kvm.name}/vcpu{vcpu_id}"
        rec = kvm.m.recorder
        self._ev_entry = rec.event("kvm_entry", vcpu=vcpu_id, vm=kvm.index, cpu=0)
        self.ev_lr_write = rec.event("lr_write", cpu=0, lr=0, value=0, vcpu=vcpu_id, vm=kvm.index)
        """``lr_write`` emission site (``__vgic_v2_restore_state``, :mod:`.vgic_v2`)."""
        # vgic per-vCPU state (struct vgic_cpu)
        self.private_irqs = [
            VgicIrq(i, self, 0 if i < 16 else VGIC_CONFIG_LEVEL) for i in range(32)
        ]
        for irq in self.private_irqs[:16]:
            irq.config = 0  # SGIs are edge
        self.ap_list: list[VgicIrq] = []
        self.v2 = VgicV2CpuIf(kvm.m.gic.config.num_lrs)
        # scheduling state
        self.cpu: PhysCpu | None = None
        """pCPU this vCPU is loaded on (between vcpu_load and vcpu_put)."""
        self.home = 0
        """pCPU whose runqueue the vCPU thread belongs to."""
        self.blocked = False
        self.runnable = True
        self.exited = False
        self.exit_request = False
        self.slice_start = 0
        # guest execution context
        self.guest_next: Step | None = _no_guest
        self.guest_stack: list[Step | None] = []
        self.guest_irqs_masked = False
        self.guest_irq_step: Step = _no_guest
        self.guest: Any = None
        self.booting = True
        # exits
        self.exit_reason = "IRQ"
        self.mmio: tuple[int, int, int, bool] = (0, 0, 4, False)
        self.mmio_result = 0
        self.on_load: list[VcpuHook] = []
        self.on_put: list[VcpuHook] = []
        self.on_block: list[VcpuHook] = []
        self.on_unblock: list[VcpuHook] = []
        c = kvm.m.costs
        self._enter_fixed = c.vgic_flush_ns + c.world_switch_in_ns + c.guest_entry_ns
        self._exit_fixed = c.trap_to_el2_ns + c.world_switch_out_ns + c.vgic_fold_ns
        self._mmio_ns = c.mmio_emul_kernel_ns
        self._hvc_ns = c.hypercall_ns
        self._block_ns = c.wfi_block_ns
        self._gicv_dir = kvm.m.gic.config.gicv_base + 0x1000
        self.exit_irq_step: Step = self._exit_irq
        self.loop_step: Step = self._loop
        self._handle_exit_step: Step = self._handle_exit
        self._c_exits = rec.counter("exits_total")
        self._c_boot_exits = rec.counter("boot_exits_total")
        self._c_reason = {r: (rec.counter(f"exit:{r}"), rec.counter(f"boot_exit:{r}")) for r in EXIT_REASONS}
        self.c_maintenance_irqs = rec.counter("maintenance_irqs")
        """``maintenance_irqs`` (a non-zero GICH_MISR at exit, :func:`.vgic_v2.vgic_v2_save_state`)."""

    def vgic_pmr(self) -> int:
        """The guest's virtual priority mask (GICH_VMCR.VMPriMask, live when loaded)."""
        cpu = self.cpu
        if cpu is not None:
            return self.m.gic.hyp[cpu.index].v_pmr  # == VMPriMask << 3; no whole-VMCR build
        return ((self.v2.vgic_vmcr >> GICH_VMCR_PRIMASK_SHIFT) & 0x1F) << 3

    # ---------------------------------------------------------------- run loop
    def _loop(self) -> int:
        cpu = self.cpu
        assert cpu is not None
        if cpu.need_resched or self.home != cpu.index or self.kvm.dying:
            cost = self.kvm.host.sched().resched_point(self, cpu)
            if cost >= 0:
                return cost
        return self._enter(cpu)

    def _enter(self, cpu: PhysCpu) -> int:
        """Flush, restore GICH state, world switch in, ``kvm_entry``."""
        m = self.m
        self.kvm.vgic.kvm_vgic_flush_hwstate(self)
        cost = self._enter_fixed + vgic_v2.vgic_v2_restore_state(m, self, cpu.index)
        cpu.mode = GUEST
        cpu.irqs_masked = True
        ev = self._ev_entry
        if ev.live:
            ev.fields["cpu"] = cpu.index
            ev.emit()
        cpu.next = self.guest_next
        self.guest_next = None
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
        cost = self._exit_fixed + vgic_v2.vgic_v2_save_state(m, self, cpu.index)
        self.kvm.vgic.kvm_vgic_sync_hwstate(self)
        cpu.irqs_masked = False
        self.exit_reason = reason
        cpu.next = self._handle_exit_step
        return cost

    def _exit_irq(self) -> int:
        self.exit_request = False
        return self.exit("IRQ")

    # ---------------------------------------------------------------- guest-initiated traps
    def trap_wfi(self, cont: Step) -> int:
        """The guest executes WFI (trapped, HCR_EL2.TWI): exit ``WFx``; resume at ``cont``."""
        self.guest_next = cont
        return self.exit("WFx")

    def trap_hvc(self, cont: Step) -> int:
        """The guest executes HVC: exit ``HVC``."""
        self.guest_next = cont
        return self.exit("HVC")

    def trap_mmio(self, addr: int, value: int, size: int, is_write: bool, cont: Step) -> int:
        """A guest access to the (trapped) distributor: exit ``DABT_LOW``; the result of a
        read is in :attr:`mmio_result` when ``cont`` runs."""
        self.mmio = (addr, value, size, is_write)
        self.guest_next = cont
        return self.exit("DABT_LOW")

    # ---------------------------------------------------------------- handle_exit
    def _handle_exit(self) -> int:
        cpu = self.cpu
        assert cpu is not None
        reason = self.exit_reason
        cpu.next = self.loop_step
        if reason == "IRQ":
            return 0
        if reason == "WFx":
            return self._kvm_handle_wfx(cpu)
        if reason == "DABT_LOW":
            addr, value, size, is_write = self.mmio
            if addr == self._gicv_dir:
                self.kvm.vgic.vgic_v2_deactivate(self, value)
            else:
                self.mmio_result = self.kvm.vgic_mmio.access(self, addr, value, size, is_write)
            return self._mmio_ns
        return self._hvc_ns

    def _kvm_handle_wfx(self, cpu: PhysCpu) -> int:
        """``kvm_handle_wfx`` → ``kvm_vcpu_wfi``: block unless a vgic irq is pending."""
        if self.kvm.vgic.kvm_vgic_vcpu_pending_irq(self) or self.kvm.dying:
            return 0
        return self._block_ns + self.kvm.host.sched().block(self, cpu)
