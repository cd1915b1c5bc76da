"""Hostile guests: guest code that abuses its virtual GIC and its timer.

A VM whose :attr:`~irqfwd.config.VMConfig.hostile` names one of :data:`BEHAVIOURS` runs a
:class:`HostileGuest` on every vCPU instead of the Linux-like guest kernel.  It boots like
Linux (``gic_cpu_init`` on its GICV, then the trapped distributor set-up of its devices'
vINTIDs), then loops forever (never WFI: a CPU-bound guest) doing:

``never-eoi``
    nothing but take its interrupts: GICV_IAR, then return with interrupts unmasked and
    never write GICV_EOIR or GICV_DIR (its active priority stays, its interrupts stay active,
    its devices are never serviced).
``eoi-unserviced``
    take its interrupts and EOI them without ever servicing the device behind them: a
    level line stays asserted, so the host takes it again after every guest EOI.
``bogus-eoi``
    handle its interrupts properly, and in the loop write GICV_EOIR and (EOImode 1)
    GICV_DIR with INTIDs it never acknowledged: every SGI and PPI, its own and other VMs'
    vINTIDs, the host's physical INTIDs, spurious IDs.
``gicv-fuzz``
    read and write random values at every GICV register (CTLR, PMR, BPR, IAR, EOIR, RPR,
    HPPIR, ABPR, AIAR, AEOIR, AHPPIR, APR0, NSAPR0, IIDR, DIR) and at random offsets of the
    frame; a DIR page stage 2 does not map traps.
``gicd-fuzz``
    random reads and writes at every word of the (trapped, KVM-emulated) distributor:
    ISENABLER/ICENABLER, ISPENDR/ICPENDR, ISACTIVER/ICACTIVER, IPRIORITYR, ITARGETSR,
    ICFGR, SGIR, CTLR...
``sgi-flood``
    GICD_SGIR in a tight loop: every SGI ID, to all other vCPUs, to itself, to a list.
``irq-toggle``
    disable and re-enable its interrupts in a tight loop, in turn with PSTATE.I, with
    GICV_CTLR.EnableGrp1 and with GICD_ICENABLER/ISENABLER of its devices' vINTIDs.
``timer-storm``
    reprogram its virtual timer continuously (CNTV_CVAL in the past and the future,
    CNTV_TVAL, CNTV_CTL with ENABLE and IMASK toggled), taking its timer interrupts.

Except under ``never-eoi`` and ``eoi-unserviced``, the IRQ vector services the device behind a vINTID (reads and
clears its status through the pass-through mapping, as a driver would) before the EOI, so
that each behaviour is tested on its own rather than as a level-interrupt storm of a device
nobody services.  Every access goes where the real one would: GICV (and CNTV_*) straight to the hardware of
the pCPU the vCPU runs on, GICD through a ``DABT_LOW`` exit to KVM's emulation
(:meth:`~irqfwd.host.kvm.vcpu.Vcpu.trap_mmio`).  Random values come from the engine's
generator, so runs are reproducible.  Counter ``hostile_ops`` counts the loop's accesses.
"""

# mypyc: interpreted (test and scenario code, not a hot path)
from __future__ import annotations

from typing import TYPE_CHECKING, Final

from irqfwd.devices.nic import NIC_STATUS
from irqfwd.guest.gic_v2 import GicV2GuestDriver
from irqfwd.hw.machine import Step

if TYPE_CHECKING:
    from irqfwd.devices.nic import Nic
    from irqfwd.host.kvm.vcpu import Vcpu
    from irqfwd.host.kvm.vm import Vm
    from irqfwd.hw.timer import ArchTimers
    from irqfwd.sim.costs import CostProfile

__all__ = ["BEHAVIOURS", "GICV_REGISTER_OFFSETS", "HostileGuest"]

BEHAVIOURS: Final = ("never-eoi", "bogus-eoi", "gicv-fuzz", "gicd-fuzz", "sgi-flood", "irq-toggle",
                     "timer-storm", "eoi-unserviced")

GICV_REGISTER_OFFSETS: Final = (0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x18, 0x1C, 0x20, 0x24, 0x28,
                                0xD0, 0xE0, 0xFC, 0x1000)
"""GICV_CTLR, PMR, BPR, IAR, EOIR, RPR, HPPIR, ABPR, AIAR, AEOIR, AHPPIR, APR0, NSAPR0, IIDR,
DIR (IHI 0048B §5.6, Table 5-9)."""
_GICV_EOIR: Final = 0x10
_GICV_CTLR: Final = 0x00
_GICV_DIR: Final = 0x1000
_GICD_SGIR: Final = 0xF00
_GICD_SIZE: Final = 0x1000
_CTLR_EN_GRP1: Final = 1 << 1
_CTLR_EOIMODE: Final = 1 << 9
LOOP_NS: Final = 100
"""Cost of one iteration of a hostile loop besides its register access (a few instructions)."""
_TIMER_REGS: Final = ("CNTV_CTL_EL0", "CNTV_CVAL_EL0", "CNTV_TVAL_EL0")


class HostileGuest:
    """The hostile code of one VM: one :class:`HostileCpu` per vCPU."""

    def __init__(self, kvm: Vm, gic: GicV2GuestDriver, costs: CostProfile, behaviour: str,
                 vintids: list[tuple[int, bool, int]], timers: ArchTimers | None = None,
                 eoimode1: bool = True, devices: dict[int, Nic] | None = None,
                 bars: dict[int, int] | None = None) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown hostile behaviour {behaviour!r} (known: {', '.join(BEHAVIOURS)})")
        self.kvm = kvm
        self.gic = gic
        self.costs = costs
        self.behaviour = behaviour
        self.vintids = vintids
        """``(vintid, edge, vcpu)`` of the VM's devices (set up at boot like Linux would)."""
        self.timers = timers
        self.eoimode1 = eoimode1
        self.devices = devices or {}
        """vINTID → the pass-through device behind it (serviced by the IRQ vector)."""
        self.bars = bars or {}
        """vINTID → the guest-physical address of its device's BAR: a status read while the
        VMM has the BAR unmapped (``vmm-irqline``) exits to the VMM like any guest's."""
        self.rng = kvm.m.engine.rng
        self.c_ops = kvm.m.recorder.counter("hostile_ops")
        self.cpus = [HostileCpu(self, v) for v in kvm.vcpus]


class HostileCpu:
    """The hostile loop on one vCPU (steps as in :mod:`irqfwd.guest.kernel`)."""

    def __init__(self, guest: HostileGuest, vcpu: Vcpu) -> None:
        self.g = guest
        self.vcpu = vcpu
        self.gic = guest.gic
        self.rng = guest.rng
        self.c_gicv = guest.costs.gicv_access_ns
        self.c_entry = guest.costs.guest_irq_entry_ns
        self.c_exit = guest.costs.guest_irq_exit_ns
        self.c_ack = guest.costs.guest_mmio_ack_ns
        self.boot_ops = (self.gic.dist_init_ops(guest.vintids) if vcpu.vcpu_id == 0 else [])
        if guest.behaviour == "timer-storm":
            self.boot_ops += self.gic.percpu_irq_ops(27, 0xA0)
        self._boot_i = 0
        self._n = 0
        self._ret_after = 1023
        self._loop_step: Step = _LOOPS[guest.behaviour].__get__(self)
        self._resume_step: Step = self._resume
        vcpu.ctx.guest_next = self._boot
        vcpu.ctx.guest_irq_step = self._irq

    # ---------------------------------------------------------------- helpers
    def _cpu(self) -> int:
        cpu = self.vcpu.cpu
        assert cpu is not None
        return cpu.index

    def _set_next(self, step: Step) -> None:
        cpu = self.vcpu.cpu
        assert cpu is not None
        cpu.next = step

    def _gicv_write(self, offset: int, value: int, cont: Step) -> int:
        """A GICV write: direct, or a trap when stage 2 does not map its page (the DIR page)."""
        self.g.c_ops.n += 1
        addr = self.gic.cpu_base + offset
        if (addr >> 12) not in self.vcpu.ctx.stage2_device_pages:
            return self.vcpu.trap_mmio(addr, value, 4, True, cont)
        self.gic.vcpu_ifs[self._cpu()].regs.write(offset, value & 0xFFFF_FFFF, 4)
        self._set_next(cont)
        return self.c_gicv + LOOP_NS

    def _gicv_read(self, offset: int, cont: Step) -> int:
        self.g.c_ops.n += 1
        addr = self.gic.cpu_base + offset
        if (addr >> 12) not in self.vcpu.ctx.stage2_device_pages:
            return self.vcpu.trap_mmio(addr, 0, 4, False, cont)
        self.gic.vcpu_ifs[self._cpu()].regs.read(offset, 4)
        self._set_next(cont)
        return self.c_gicv + LOOP_NS

    def _gicd(self, offset: int, value: int, is_write: bool, cont: Step, size: int = 4) -> int:
        self.g.c_ops.n += 1
        return self.vcpu.trap_mmio(self.gic.dist_base + offset, value, size, is_write, cont)

    # ---------------------------------------------------------------- boot
    def _boot(self) -> int:
        cpu = self._cpu()
        n = self.gic.cpu_init(cpu)
        if self.g.eoimode1:
            vif = self.gic.vcpu_ifs[cpu]
            vif.write_ctlr(vif.read_ctlr() | _CTLR_EOIMODE)
        self._set_next(self._boot_mmio)
        return n * self.c_gicv

    def _boot_mmio(self) -> int:
        if self._boot_i < len(self.boot_ops):
            addr, val, size = self.boot_ops[self._boot_i]
            self._boot_i += 1
            return self.vcpu.trap_mmio(addr, val, size, True, self._boot_mmio)
        self.vcpu.booting = False
        self._set_next(self._loop_step)
        return 0

    def _resume(self) -> int:
        self._set_next(self._loop_step)
        return 0

    # ---------------------------------------------------------------- IRQ vector
    def _irq(self) -> int:
        """The guest's IRQ vector: IAR, then EOIR (+ DIR in EOImode 1), except ``never-eoi``."""
        cpu = self._cpu()
        vif = self.gic.vcpu_ifs[cpu]
        iar = vif.read_iar()
        cost = self.c_entry + self.c_gicv
        if (iar & 0x3FF) < 1020 and self.g.behaviour != "never-eoi":
            dev = self.g.devices.get(iar & 0x3FF)
            if dev is not None and self.g.behaviour != "eoi-unserviced":
                bar = self.g.bars.get(iar & 0x3FF, -1)
                if bar >= 0 and (bar >> 12) not in self.vcpu.ctx.stage2_device_pages:
                    # the BAR is not mapped at stage 2 (the VMM unmapped it at the interrupt):
                    # the status read exits to the VMM, which reads the device for the guest
                    self._ret_after = iar
                    return cost + self.vcpu.trap_mmio(bar + NIC_STATUS, 0, 4, False, self._irq_eoi_step)
                dev.ack()
                cost += self.c_ack
            return cost + self._irq_eoi(iar)
        return cost + self._irq_return()

    def _irq_eoi_step(self) -> int:
        return self._irq_eoi(self._ret_after)

    def _irq_eoi(self, iar: int) -> int:
        """GICV_EOIR of ``iar``, then GICV_DIR in EOImode 1, then return from the vector."""
        vif = self.gic.vcpu_ifs[self._cpu()]
        vif.write_eoir(iar)
        cost = self.c_gicv
        if vif.read_ctlr() & _CTLR_EOIMODE:
            self._ret_after = iar
            self._set_next(self._irq_dir)
            return cost
        return cost + self._irq_return()

    def _irq_dir(self) -> int:
        return self._gicv_write(_GICV_DIR, self._ret_after, self._irq_return_step)

    def _irq_return_step(self) -> int:
        return self._irq_return()

    def _irq_return(self) -> int:
        ctx = self.vcpu.ctx
        ctx.guest_irqs_masked = False
        self._set_next(ctx.guest_stack.pop() or self._loop_step)
        return self.c_exit

    # ---------------------------------------------------------------- the loops
    def _loop_never_eoi(self) -> int:
        self._set_next(self._loop_step)
        return LOOP_NS

    def _loop_bogus_eoi(self) -> int:
        intid = self._pick_intid()
        self._n += 1
        if self.g.eoimode1 and self._n % 2:
            return self._gicv_write(_GICV_DIR, intid, self._resume_step)
        return self._gicv_write(_GICV_EOIR, intid | (self.rng.randrange(8) << 10), self._resume_step)

    def _pick_intid(self) -> int:
        """An INTID this guest never acknowledged: SGIs, PPIs (25 maintenance, 26/27/30
        timers), other VMs' and the host's SPIs, its own vINTIDs, spurious IDs."""
        r = self.rng.randrange(4)
        if r == 0:
            return self.rng.randrange(32)
        if r == 1:
            return self.rng.choice((25, 26, 27, 30, 1020, 1021, 1022, 1023))
        if r == 2:
            return 32 + self.rng.randrange(64)
        return self.rng.randrange(1024)

    def _loop_gicv_fuzz(self) -> int:
        rng = self.rng
        off = rng.choice(GICV_REGISTER_OFFSETS) if rng.randrange(4) else rng.randrange(0x2000 // 4) * 4
        if rng.randrange(3) == 0:
            return self._gicv_read(off, self._resume_step)
        return self._gicv_write(off, rng.getrandbits(32), self._resume_step)

    def _loop_gicd_fuzz(self) -> int:
        rng = self.rng
        off = rng.randrange(_GICD_SIZE // 4) * 4
        if rng.randrange(3) == 0:
            return self._gicd(off, 0, False, self._resume_step)
        return self._gicd(off, rng.getrandbits(32), True, self._resume_step)

    def _loop_sgi_flood(self) -> int:
        rng = self.rng
        filt = rng.randrange(3)  # 0 target list, 1 all but self, 2 self
        targets = rng.randrange(256) if filt == 0 else 0
        value = (filt << 24) | (targets << 16) | rng.randrange(16)
        return self._gicd(_GICD_SGIR, value, True, self._resume_step)

    def _loop_irq_toggle(self) -> int:
        self._n += 1
        phase = self._n % 6
        ctx = self.vcpu.ctx
        if phase in (0, 1):  # PSTATE.I: msr daifset / daifclr
            ctx.guest_irqs_masked = phase == 0
            self._set_next(self._loop_step)
            return LOOP_NS
        ctx.guest_irqs_masked = False
        if phase in (2, 3):  # GICV_CTLR.EnableGrp1 off / on
            vif = self.gic.vcpu_ifs[self._cpu()]
            ctlr = vif.read_ctlr()
            ctlr = ctlr & ~_CTLR_EN_GRP1 if phase == 2 else ctlr | _CTLR_EN_GRP1
            return self._gicv_write(_GICV_CTLR, ctlr | 1, self._resume_step)
        if not self.g.vintids:
            self._set_next(self._loop_step)
            return LOOP_NS
        vintid = self.g.vintids[self._n // 6 % len(self.g.vintids)][0]
        addr, val, size = self.gic.mask_op(vintid) if phase == 4 else self.gic.unmask_op(vintid)
        return self._gicd(addr - self.gic.dist_base, val, True, self._resume_step, size)

    def _loop_timer_storm(self) -> int:
        timers = self.g.timers
        if timers is None:
            self._set_next(self._loop_step)
            return LOOP_NS
        rng = self.rng
        hw = timers[self._cpu()]
        reg = rng.choice(_TIMER_REGS)
        if reg == "CNTV_CTL_EL0":
            value = rng.randrange(8)  # ENABLE, IMASK (ISTATUS is read-only)
        elif reg == "CNTV_CVAL_EL0":
            now = hw.read_sysreg("CNTVCT_EL0")
            value = max(0, now + rng.randrange(-2_000, 2_000)) if rng.randrange(4) else rng.getrandbits(64)
        else:
            value = rng.getrandbits(32) if rng.randrange(4) == 0 else rng.randrange(0, 200)
        hw.write_sysreg(reg, value)
        self.g.c_ops.n += 1
        self._set_next(self._loop_step)
        return LOOP_NS


_LOOPS = {
    "never-eoi": HostileCpu._loop_never_eoi,
    "eoi-unserviced": HostileCpu._loop_never_eoi,
    "bogus-eoi": HostileCpu._loop_bogus_eoi,
    "gicv-fuzz": HostileCpu._loop_gicv_fuzz,
    "gicd-fuzz": HostileCpu._loop_gicd_fuzz,
    "sgi-flood": HostileCpu._loop_sgi_flood,
    "irq-toggle": HostileCpu._loop_irq_toggle,
    "timer-storm": HostileCpu._loop_timer_storm,
}
