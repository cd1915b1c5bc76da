"""The physical machine: pCPUs executing costed steps, the GIC, and host deferred work.

Execution model
---------------
Every :class:`PhysCpu` executes a chain of *steps*.  A step is a zero-argument callable
that applies its effects at the current instant, sets ``cpu.next`` to the following step
(or leaves it ``None``) and returns its duration in ns; the CPU is then busy for that long
(plus anything charged with :meth:`Machine.charge` during the step, which is how deep code
such as a GIC distributor access adds its cost).  Interrupts are taken at *step
boundaries*, as a CPU takes them between instructions:

* host mode (EL2, VHE host kernel): if ``irqs_masked`` is clear and the GIC drives the
  CPU's IRQ output, the current continuation is pushed on ``cpu.stack`` and the host
  IRQ vector (:attr:`PhysCpu.host_irq_step`, the GIC driver's ``gic_handle_irq``) runs;
* guest mode (a vCPU is loaded and entered): a physical IRQ (or a pending host
  reschedule) makes the vCPU exit with reason ``IRQ``; otherwise a virtual IRQ with the
  guest's PSTATE.I clear enters the guest's IRQ vector.

A CPU with ``next is None`` is idle (host WFI) until :meth:`PhysCpu.poke` (a wake-up or a
rising IRQ output).  The idle continuation is :attr:`PhysCpu.idle_step` (installed by the
scheduler: pick a runnable vCPU thread or stay idle).

To keep the simulation fast, consecutive steps of one CPU run inside one engine callback
whenever no other engine entry is due before the step ends ("fast-forward"): the engine
clock is advanced directly, which is indistinguishable from scheduling an entry at that
time because nothing else could have run in between.  Fast-forward never passes
:attr:`Machine.horizon` (set by :meth:`Machine.run`).

Host deferred work (workqueues, virqfd) runs through :meth:`Machine.schedule_work`: the
work item runs ``workqueue_hop_ns`` later, off-CPU (a kworker on an otherwise idle
context); its own cost delays nothing else.  This is a simplification: the kworker does
not compete with vCPU threads for the pCPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from irqfwd.hw.gicv2.gic import GICv2
from irqfwd.sim.costs import CostProfile
from irqfwd.sim.engine import Engine
from irqfwd.sim.metrics import Recorder

if TYPE_CHECKING:
    from irqfwd.host.kvm.vcpu import Vcpu

__all__ = ["GUEST", "HOST", "Machine", "PhysCpu", "Step", "WorkItem"]

HOST: Final = 0
"""pCPU executes host code (EL2, VHE)."""
GUEST: Final = 1
"""pCPU executes a guest vCPU (EL1/EL0 of the VM)."""

Step = Callable[[], int]
"""A step: applies its effects, sets ``cpu.next``, returns its duration in ns."""

_MAX_BATCH: Final = 4096
_FOREVER: Final = 1 << 62


class PhysCpu:
    """One physical CPU: host or guest mode, a step chain, and an exception stack."""

    __slots__ = (
        "_active", "_handle", "engine", "host_irq_step", "idle_step", "index", "irqs_masked", "machine",
        "mode", "need_resched", "next", "out", "stack", "vcpu",
    )

    def __init__(self, machine: Machine, index: int) -> None:
        self.machine = machine
        self.engine = machine.engine
        self.index = index
        self.out = machine.gic.outputs[index]
        self.mode = HOST
        self.irqs_masked = False
        self.next: Step | None = None
        self.stack: list[Step | None] = []
        self.vcpu: Vcpu | None = None
        """The vCPU loaded on this pCPU (between vcpu_load and vcpu_put)."""
        self.need_resched = False
        """Set by a reschedule IPI or the scheduler tick; makes a running guest exit."""
        self.host_irq_step: Step = _nothing
        self.idle_step: Step = _nothing
        self._active = False
        self._handle: list[Any] | None = None

    def interrupt(self) -> None:
        """An interrupt (or reschedule) arrived while the CPU is in the middle of a step.

        A step that can take interrupts (guest mode, or host mode with IRQs unmasked) is
        cut short: the boundary happens now and the rest of the step's duration is
        executed after the interrupt, as a remainder step (the step's effects already
        happened at its start).
        """
        h = self._handle
        if h is None or h[3] is None:
            return
        eng = self.engine
        rem = h[0] - eng.now
        if rem <= 0 or (self.mode == HOST and self.irqs_masked):
            return
        Engine.cancel(h)
        self.next = _Remainder(self.machine, rem, self.next).step
        self._handle = eng.schedule(0, self._run)

    def poke(self) -> None:
        """Wake the CPU if it is idle (new runnable thread, or an interrupt line rose)."""
        if not self._active:
            self._active = True
            if self.next is None and self.mode == HOST:
                self.next = self.idle_step
            self.engine.schedule(0, self._run)

    def _run(self) -> None:
        self._handle = None
        eng = self.engine
        m = self.machine
        out = self.out
        stack = self.stack
        horizon = m.horizon
        batch = _MAX_BATCH
        m.cur = self.index  # the executing pCPU, for every step of this batch
        while True:
            # ---- step boundary: take interrupts
            if self.mode == HOST:
                if out.irq and not self.irqs_masked:
                    stack.append(self.next)
                    self.irqs_masked = True
                    self.next = self.host_irq_step
            else:
                v = self.vcpu
                assert v is not None
                if out.irq or self.need_resched or v.exit_request:
                    v.guest_next = self.next
                    self.next = v.exit_irq_step
                elif out.virq and not v.guest_irqs_masked:
                    v.guest_stack.append(self.next)
                    v.guest_irqs_masked = True
                    self.next = v.guest_irq_step
            fn = self.next
            if fn is None:
                m.cur = -1
                self._active = False
                return
            self.next = None
            m.acc = 0
            cost = fn() + m.acc
            t = eng.now + cost
            batch -= 1
            if batch and t <= horizon:
                due = eng.peek()  # another entry due before this step ends?
                if due is None or due > t:
                    eng.now = t
                    continue
            m.cur = -1
            self._handle = eng.schedule(cost, self._run)
            return


def _nothing() -> int:
    return 0


class _Remainder:
    """The rest of an interrupted step: ``rem`` more ns, then continue with ``cont``."""

    __slots__ = ("cont", "m", "rem")

    def __init__(self, m: Machine, rem: int, cont: Step | None) -> None:
        self.m = m
        self.rem = rem
        self.cont = cont

    def step(self) -> int:
        """Runs on whichever pCPU executes it (a guest step may resume on another pCPU
        after its vCPU migrated)."""
        m = self.m
        m.pcpus[m.cur].next = self.cont
        return self.rem


class WorkItem:
    """A ``struct work_struct``: queued at most once until it runs (schedule_work)."""

    __slots__ = ("fn", "name", "pending")

    def __init__(self, fn: Callable[[], Any], name: str = "") -> None:
        self.fn = fn
        self.name = name
        self.pending = False


class Machine:
    """The physical machine: engine, recorder, costs, the GIC and the pCPUs.

    The GIC's ``on_output`` wakes idle pCPUs; its ``on_event`` becomes the
    ``phys_activate`` / ``phys_deactivate`` trace events (``by`` = ``"guest"`` for a
    HW=1 list-register deactivation, else ``"host"``), the ``phys_deactivate_guest`` /
    ``phys_deactivate_host`` counters and the ``assert_to_phys_deactivate`` latency.
    """

    __slots__ = (
        "_assert_t", "_c_deact_guest", "_c_deact_host", "_ev_act", "_ev_deact", "acc", "costs", "cur", "engine", "gic", "horizon",
        "pcpus", "recorder", "work_hop",
    )

    def __init__(self, engine: Engine, recorder: Recorder, costs: CostProfile, gic: GICv2) -> None:
        self.engine = engine
        self.recorder = recorder
        self.costs = costs
        self.gic = gic
        self._ev_act = recorder.event("phys_activate", intid=0, cpu=0, source="")
        self._ev_deact = recorder.event("phys_deactivate", intid=0, cpu=0, source="", by="")
        self._c_deact_guest = recorder.counter("phys_deactivate_guest")
        self._c_deact_host = recorder.counter("phys_deactivate_host")
        self.acc = 0
        self.cur = -1
        """Index of the pCPU whose step is executing (-1: off-CPU work such as a workqueue)."""
        self.horizon = _FOREVER
        self.work_hop = costs.workqueue_hop_ns
        self._assert_t: dict[int, int] = {}
        self.pcpus = [PhysCpu(self, i) for i in range(gic.config.num_cpus)]
        gic.on_output = self._on_output
        gic.on_event = self._on_event

    # ------------------------------------------------------------------ costs
    def charge(self, ns: int) -> None:
        """Add ``ns`` to the duration of the step being executed."""
        self.acc += ns

    # ------------------------------------------------------------------ deferred work
    def schedule_work(self, work: WorkItem) -> bool:
        """``schedule_work``: run ``work.fn`` one workqueue hop from now; False if already queued."""
        if work.pending:
            return False
        work.pending = True
        self.engine.schedule(self.work_hop, self._run_work, work)
        return True

    def _run_work(self, work: WorkItem) -> None:
        work.pending = False
        saved, cur = self.acc, self.cur
        self.cur = -1
        work.fn()
        self.acc, self.cur = saved, cur

    # ------------------------------------------------------------------ GIC hooks
    def _on_output(self, cpu: int, signal: str, level: bool) -> None:
        if not level:
            return
        c = self.pcpus[cpu]
        if signal == "irq":
            c.poke()
            c.interrupt()
        elif signal == "virq" and c.mode == GUEST:
            v = c.vcpu
            if v is not None and not v.guest_irqs_masked:
                c.interrupt()

    def note_assert(self, intid: int) -> None:
        """A device asserted physical ``intid``: start its ``assert_to_phys_deactivate`` clock."""
        if intid not in self._assert_t:
            self._assert_t[intid] = self.engine.now

    def _on_event(self, kind: str, intid: int, cpu: int, source: str) -> None:
        rec = self.recorder
        if kind == "activate":
            ev = self._ev_act
            if ev.live:
                f = ev.fields
                f["intid"] = intid
                f["cpu"] = cpu
                f["source"] = source
                ev.emit()
            return
        by = "guest" if source == "hw_lr" else "host"
        if by == "guest":
            self._c_deact_guest.n += 1
        else:
            self._c_deact_host.n += 1
        at = self._assert_t
        t0 = at.get(intid)
        if t0 is not None:
            del at[intid]
            rec.latency("assert_to_phys_deactivate", self.engine.now - t0)
        ev = self._ev_deact
        if ev.live:
            f = ev.fields
            f["intid"] = intid
            f["cpu"] = cpu
            f["source"] = source
            f["by"] = by
            ev.emit()

    # ------------------------------------------------------------------ running
    def run(self, until: int) -> None:
        """Run the engine up to ``until`` ns (fast-forward never passes it)."""
        self.horizon = until
        self.engine.run(until=until)
