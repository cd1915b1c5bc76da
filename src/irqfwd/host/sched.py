"""vCPU threads on pCPUs: placement, ``vcpu_load``/``vcpu_put``, blocking, time slices, migration.

Policies (``ScenarioConfig.scheduler``):

* ``pinned``: each vCPU thread stays on its pCPU (``VMConfig.pin`` or round-robin placement
  of all vCPUs over the pCPUs); threads sharing a pCPU run until they block (WFI).
* ``round-robin``: same placement, plus a host tick every ``timeslice_ns`` that preempts the
  running vCPU (an exit with reason ``IRQ``) when another thread on that pCPU is runnable.
* ``migrate_every_ns > 0``: every period each vCPU thread moves to the next pCPU
  (``home = (home + 1) % pcpus``); a running vCPU is kicked out with a reschedule IPI and
  re-placed at its next ``resched_point``.

``vcpu_load`` (sched-in, ``kvm_arch_vcpu_load``): ``vgic_v2_load`` (GICH_VMCR/APR), then the
vCPU's ``on_load`` hooks.  ``vcpu_put`` (sched-out, ``kvm_arch_vcpu_put``): the ``on_put``
hooks, then ``vgic_v2_put``.  A vCPU executing WFI with nothing pending blocks
(``kvm_vcpu_block``: ``on_block`` hooks, then put); ``kvm_vcpu_kick`` of a blocked vCPU
calls :meth:`Scheduler.wake` (``kvm_vcpu_wake_up``: ``on_unblock`` hooks, runnable again;
the load happens when it is scheduled in).  Hooks are ``fn(vcpu, pcpu_index) -> cost_ns``.

Costs: ``vcpu_wakeup_ns`` when an idle pCPU switches to a woken thread, ``sched_switch_ns``
for a switch between two threads.
"""

from __future__ import annotations

from collections import deque

from irqfwd.config import SchedulerConfig
from irqfwd.host.kvm import vgic_v2
from irqfwd.host.kvm.vcpu import Vcpu
from irqfwd.hw.machine import HOST, Machine, PhysCpu
from irqfwd.sim.engine import Handle

__all__ = ["Scheduler"]


class Scheduler:
    """Per-pCPU runqueues of vCPU threads."""

    def __init__(self, machine: Machine, config: SchedulerConfig, send_resched: object = None) -> None:
        self.m = machine
        self.config = config
        self.rr = config.policy == "round-robin"
        self.rq: list[deque[Vcpu]] = [deque() for _ in machine.pcpus]
        self.vcpus: list[Vcpu] = []
        self._slice: list[Handle | None] = [None for _ in machine.pcpus]
        self._last_was_idle = [True for _ in machine.pcpus]
        self.send_resched = send_resched
        c = machine.costs
        self.wakeup_ns = c.vcpu_wakeup_ns
        self.switch_ns = c.sched_switch_ns
        for cpu in machine.pcpus:
            cpu.idle_step = _IdleStep(self, cpu).step

    # ---------------------------------------------------------------- placement
    def add_vcpu(self, vcpu: Vcpu, pcpu: int) -> None:
        """Place a new, runnable vCPU thread on ``pcpu``."""
        vcpu.home = pcpu
        self.vcpus.append(vcpu)
        self.rq[pcpu].append(vcpu)
        self.m.pcpus[pcpu].poke()

    def start_migration(self) -> None:
        """Arm the periodic migration (``migrate_every_ns``) if configured."""
        every = self.config.migrate_every_ns
        if every and len(self.m.pcpus) > 1:
            self.m.engine.schedule(every, self._migrate)

    # ---------------------------------------------------------------- load / put
    def vcpu_load(self, vcpu: Vcpu, cpu: PhysCpu) -> int:
        """``kvm_arch_vcpu_load``: vgic VMCR/APR restore, then ``on_load`` hooks."""
        cpu.vcpu = vcpu
        vcpu.cpu = cpu
        vcpu.slice_start = self.m.engine.now
        cost = vgic_v2.vgic_v2_load(self.m, vcpu, cpu.index)
        for hook in vcpu.on_load:
            cost += hook(vcpu, cpu.index)
        rec = self.m.recorder
        if rec.wants("vcpu_load"):
            rec.emit("vcpu_load", vm=vcpu.kvm.index, vcpu=vcpu.vcpu_id, cpu=cpu.index)
        return cost

    def vcpu_put(self, vcpu: Vcpu, cpu: PhysCpu) -> int:
        """``kvm_arch_vcpu_put``: ``on_put`` hooks, then vgic VMCR/APR save."""
        cost = 0
        for hook in vcpu.on_put:
            cost += hook(vcpu, cpu.index)
        cost += vgic_v2.vgic_v2_put(self.m, vcpu, cpu.index)
        rec = self.m.recorder
        if rec.wants("vcpu_put"):
            rec.emit("vcpu_put", vm=vcpu.kvm.index, vcpu=vcpu.vcpu_id, cpu=cpu.index)
        cpu.vcpu = None
        vcpu.cpu = None
        return cost

    # ---------------------------------------------------------------- idle / switch
    def _idle(self, cpu: PhysCpu) -> int:
        """The pCPU's idle continuation: switch to the next runnable thread or stay idle."""
        rq = self.rq[cpu.index]
        cpu.need_resched = False
        while rq:
            vcpu = rq.popleft()
            if vcpu.blocked or vcpu.exited or vcpu.home != cpu.index:
                continue
            cost = self.wakeup_ns if self._last_was_idle[cpu.index] else self.switch_ns
            self._last_was_idle[cpu.index] = False
            cost += self.vcpu_load(vcpu, cpu)
            cpu.mode = HOST
            cpu.next = vcpu.loop_step
            self._arm_slice(cpu)
            return cost
        self._last_was_idle[cpu.index] = True
        cpu.next = None
        return 0

    def resched_point(self, vcpu: Vcpu, cpu: PhysCpu) -> int:
        """The run loop's ``cond_resched`` / exit check; -1 = keep running this vCPU."""
        cpu.need_resched = False
        if vcpu.kvm.dying:
            vcpu.exited = True
            cost = self.vcpu_put(vcpu, cpu)
            self._last_was_idle[cpu.index] = False
            cpu.next = cpu.idle_step
            return cost
        if vcpu.home != cpu.index:
            cost = self.vcpu_put(vcpu, cpu)
            self.rq[vcpu.home].append(vcpu)
            self.m.pcpus[vcpu.home].poke()
            self._last_was_idle[cpu.index] = False
            cpu.next = cpu.idle_step
            return cost
        rq = self.rq[cpu.index]
        if not any(not v.blocked and not v.exited for v in rq):
            return -1
        cost = self.vcpu_put(vcpu, cpu)
        rq.append(vcpu)
        self._last_was_idle[cpu.index] = False
        cpu.next = cpu.idle_step
        return cost

    def block(self, vcpu: Vcpu, cpu: PhysCpu) -> int:
        """``kvm_vcpu_block``: ``on_block`` hooks, sleep (vcpu_put), switch away."""
        cost = 0
        for hook in vcpu.on_block:
            cost += hook(vcpu, cpu.index)
        vcpu.blocked = True
        cost += self.vcpu_put(vcpu, cpu)
        cpu.next = cpu.idle_step
        return cost

    def wake(self, vcpu: Vcpu) -> None:
        """``kvm_vcpu_wake_up``: make a blocked vCPU thread runnable on its home pCPU."""
        if not vcpu.blocked or vcpu.exited:
            return
        vcpu.blocked = False
        for hook in vcpu.on_unblock:
            self.m.acc += hook(vcpu, vcpu.home)
        rec = self.m.recorder
        if rec.wants("kvm_vcpu_wakeup"):
            rec.emit("kvm_vcpu_wakeup", vm=vcpu.kvm.index, vcpu=vcpu.vcpu_id)
        self.rq[vcpu.home].append(vcpu)
        cpu = self.m.pcpus[vcpu.home]
        cpu.poke()
        if cpu.vcpu is not None:
            self._arm_slice(cpu)

    # ---------------------------------------------------------------- time slices
    def _arm_slice(self, cpu: PhysCpu) -> None:
        if not self.rr or self._slice[cpu.index] is not None:
            return
        cur = cpu.vcpu
        if cur is None or not self.rq[cpu.index]:
            return
        eng = self.m.engine
        when = max(eng.now, cur.slice_start + self.config.timeslice_ns)
        self._slice[cpu.index] = eng.at(when, self._slice_expired, cpu)

    def _slice_expired(self, cpu: PhysCpu) -> None:
        self._slice[cpu.index] = None
        if cpu.vcpu is None:
            return
        if any(not v.blocked and not v.exited for v in self.rq[cpu.index]):
            self.m.recorder.count("sched_tick_preempt")
            cpu.need_resched = True
            cpu.poke()
            cpu.interrupt()

    # ---------------------------------------------------------------- migration
    def _migrate(self) -> None:
        n = len(self.m.pcpus)
        for vcpu in self.vcpus:
            if vcpu.exited:
                continue
            old = vcpu.home
            vcpu.home = (old + 1) % n
            self.m.recorder.count("vcpu_migrations")
            if vcpu in self.rq[old]:
                self.rq[old].remove(vcpu)
                self.rq[vcpu.home].append(vcpu)
                self.m.pcpus[vcpu.home].poke()
            elif vcpu.cpu is not None:
                vcpu.exit_request = True
                vcpu.cpu.need_resched = True
                vcpu.cpu.poke()
                vcpu.cpu.interrupt()
        self.m.engine.schedule(self.config.migrate_every_ns, self._migrate)


class _IdleStep:
    """A pCPU's idle continuation bound to it (cheaper to call than a ``partial``)."""

    __slots__ = ("cpu", "sched")

    def __init__(self, sched: Scheduler, cpu: PhysCpu) -> None:
        self.sched = sched
        self.cpu = cpu

    def step(self) -> int:
        """:meth:`Scheduler._idle` on this pCPU."""
        return self.sched._idle(self.cpu)
