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
:attr:`Machine.horizon` (set by :meth:`Machine.run`); :attr:`Machine.max_batch` = 1 turns
it off, so that every step is an engine entry of its own (the ordering explorer,
:mod:`irqfwd.system.explore`, needs every step boundary to be a point it can choose at).

Guest mode executes a :class:`GuestContext`: the EL1/EL0 state of one vCPU (its step
chain, exception stack, PSTATE.I and IRQ vector, and the hypervisor's IRQ exit vector),
which the hypervisor loads on the pCPU (:attr:`PhysCpu.ctx`).  Everything above the
hardware (host kernel, KVM, guests) builds on these two classes; nothing here knows them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from irqfwd.hw.events import GicUpdateSetIrq, PhysActivate, PhysDeactivate
from irqfwd.hw.gic.device import GicDevice, GicSink
from irqfwd.sim.costs import CostProfile
from irqfwd.sim.engine import Engine, Handle
from irqfwd.sim.metrics import Recorder

__all__ = [
    "CPU_GUEST",
    "CPU_GUEST_IRQ",
    "CPU_HALT_POLL",
    "CPU_HARDIRQ",
    "CPU_HOST",
    "CPU_KVM",
    "CPU_KWORKER",
    "CPU_SCHED",
    "CPU_TIME_CATEGORIES",
    "CPU_VMM",
    "GUEST",
    "HOST",
    "ExcStack",
    "GuestContext",
    "Machine",
    "PhysCpu",
    "Step",
]

HOST: Final = 0
"""pCPU executes host code (EL2, VHE)."""
GUEST: Final = 1
"""pCPU executes a guest vCPU (EL1/EL0 of the VM)."""

# CPU time accounting: every step's cost goes to one category of the pCPU that runs it;
# idle = wall time - the sum (Machine.cpu_time).
CPU_GUEST: Final = 0
"""Guest code outside its interrupt handling (the workload; a spinning guest)."""
CPU_GUEST_IRQ: Final = 1
"""Guest code with its IRQs masked: the guest's interrupt entry, handlers and EOI."""
CPU_KVM: Final = 2
"""KVM on the vCPU thread: exits and entries (world switch), exit handling, vgic flush/fold."""
CPU_HARDIRQ: Final = 3
"""Host hard-irq context: ``gic_handle_irq`` and the handlers it runs."""
CPU_KWORKER: Final = 4
"""Deferred work on a kworker thread (workqueues)."""
CPU_SCHED: Final = 5
"""The scheduler: context switches and wake-ups from idle."""
CPU_HALT_POLL: Final = 6
"""KVM halt polling (``kvm_vcpu_halt`` spinning before it blocks)."""
CPU_HOST: Final = 7
"""Other host code."""
CPU_VMM: Final = 8
"""The VMM's own threads in user space (QEMU's main loop)."""
CPU_TIME_CATEGORIES: tuple[str, ...] = (
    "guest", "guest_irq", "kvm", "hardirq", "kworker", "sched", "halt_poll", "host", "vmm",
)
"""Names of the categories, indexed by the ``CPU_*`` constants."""

Step = Callable[[], int]
"""A step: applies its effects, sets ``cpu.next``, returns its duration in ns."""

_MAX_BATCH: Final = 4096
_FOREVER: Final = (1 << 62) - 1


def _no_guest() -> int:
    raise RuntimeError("guest context entered with no guest code installed")


class ExcStack:
    """An exception stack: the continuations (and host CPU-time categories) of the contexts
    that nested exceptions interrupted, innermost on top (the ELR/SPSR pairs an exception
    return restores, Arm ARM D1.3).

    The entries stay allocated between exceptions (``depth`` counts the live ones): a list
    grown by ``append`` and shrunk by ``pop`` at each interrupt would be reallocated twice
    per interrupt.
    """

    __slots__ = ("cats", "depth", "steps")

    def __init__(self) -> None:
        self.steps: list[Step | None] = []
        self.cats: list[int] = []
        self.depth = 0

    def push(self, step: Step | None, cat: int = 0) -> None:
        """Save the interrupted continuation ``step`` (and its CPU-time category ``cat``)."""
        d = self.depth
        if d == len(self.steps):
            self.steps.append(step)
            self.cats.append(cat)
        else:
            self.steps[d] = step
            self.cats[d] = cat
        self.depth = d + 1

    def pop(self) -> Step | None:
        """Remove and return the innermost continuation (None when the stack is empty)."""
        d = self.depth - 1
        if d < 0:
            return None
        self.depth = d
        step = self.steps[d]
        self.steps[d] = None
        return step

    def top_cat(self, default: int) -> int:
        """The category of the innermost entry (``default`` when the stack is empty)."""
        d = self.depth
        return self.cats[d - 1] if d else default

    def __len__(self) -> int:
        return self.depth


class GuestContext:
    """The EL1/EL0 execution context of one vCPU, as a pCPU runs it in guest mode.

    ``guest_next`` is where the guest resumes, ``guest_stack`` its exception stack (the
    continuations its IRQ vector returns to), ``guest_irqs_masked`` its PSTATE.I and
    ``guest_irq_step`` its IRQ vector (VBAR_EL1 + 0x280).  ``exit_irq_step`` is the
    hypervisor's EL2 IRQ vector, taken when a physical IRQ arrives in guest mode
    (HCR_EL2.IMO) or when ``exit_request`` is set (a request to leave guest mode at the
    next step boundary).  ``stage2_device_pages`` holds the guest-physical page numbers that
    stage 2 maps straight to a device (an access to another device address faults to EL2).
    """

    __slots__ = ("exit_irq_step", "exit_request", "guest_irq_step", "guest_irqs_masked",
                 "guest_next", "guest_stack", "stage2_device_pages")

    def __init__(self) -> None:
        self.guest_next: Step | None = _no_guest
        self.guest_stack = ExcStack()
        self.guest_irqs_masked = False
        self.guest_irq_step: Step = _no_guest
        self.exit_irq_step: Step = _no_guest
        self.exit_request = False
        self.stage2_device_pages: set[int] = set()


class PhysCpu:
    """One physical CPU: host or guest mode, a step chain, and an exception stack."""

    __slots__ = (
        "_acct", "_active", "_handle", "_last_cat", "_pend", "_run_cb", "_total", "cat", "ctx", "engine",
        "host_irq_step", "idle_step", "index", "irqs_masked", "machine", "mode", "need_resched",
        "next", "out", "parked", "stack",
    )

    def __init__(self, machine: Machine, index: int) -> None:
        self.machine = machine
        self.engine = machine.engine
        self.index = index
        self.out = machine.gic.outputs[index]
        self.mode = HOST
        self.irqs_masked = False
        self.next: Step | None = None
        self.stack = ExcStack()
        self.ctx: GuestContext | None = None
        """The guest context loaded on this pCPU (set by the hypervisor; run in guest mode)."""
        self.need_resched = False
        """Set by a reschedule IPI or the scheduler tick; makes a running guest exit."""
        self.host_irq_step: Step = _nothing
        self.idle_step: Step = _nothing
        self._acct = [0] * len(CPU_TIME_CATEGORIES)
        """ns of this pCPU's time per ``CPU_*`` category, except the :attr:`_pend` ns of
        the category of the last step (:meth:`cpu_time_ns` adds them)."""
        self._pend = 0
        """ns of the last step's category not yet added to :attr:`_acct`: a run of steps of
        one category adds up in this native int, and the list (boxed ints) takes them when
        the category changes."""
        self._total = 0
        """All categories together (:meth:`accounted_ns`)."""
        self.cat = CPU_SCHED
        """Category of the host code this pCPU runs (set by the code that switches context)."""
        self.parked: Step | None = None
        """While code busy-waits for an event (KVM halt polling), where it continues: the CPU
        runs no step until :meth:`poke` resumes it there (an IRQ, a wake-up or a time-out);
        the waiting code accounts the time itself."""
        self._last_cat = CPU_SCHED
        self._active = False
        self._handle: Handle | None = None
        self._run_cb: Callable[[], None] = self._run
        """:meth:`_run` as the callback of this pCPU's engine entries (one bound method
        for the whole run instead of a new one per entry)."""

    def interrupt(self) -> None:
        """An interrupt (or reschedule) arrived while the CPU is in the middle of a step.

        A step that can take interrupts (guest mode, or host mode with IRQs unmasked) is
        cut short: the boundary happens now and the rest of the step's duration is
        executed after the interrupt, as a remainder step (the step's effects already
        happened at its start).
        """
        h = self._handle
        if h is None or h.callback is None:
            return
        eng = self.engine
        rem = h.time - eng.now
        if rem <= 0 or (self.mode == HOST and self.irqs_masked):
            return
        eng.cancel(h)
        self._pend -= rem  # accounted again when the remainder runs
        self._total -= rem
        self.next = _Remainder(self.machine, rem, self.next).step
        self._handle = eng.schedule(0, self._run_cb)

    def poke(self) -> None:
        """Wake the CPU if it is idle (new runnable thread, or an interrupt line rose)."""
        if self.next is None and self.mode == HOST and (
                not self._active or self.machine.cur != self.index):
            # Nothing to continue with: resume the busy-waiter, else run the idle loop (which
            # sees the new work).  Also when the CPU is active but not executing a step (a
            # poke from elsewhere): its last step left no continuation and it would go idle
            # at its next boundary (an entry already queued), losing a wake-up at that very
            # instant (found by the ordering explorer: a vCPU woken by an irqfd injection
            # never ran again; with a busy-waiter, resuming it, not the idle loop, or the
            # parked vCPU is lost).  A poke from the CPU's own step changes nothing: that
            # step sets its continuation itself.
            parked = self.parked
            if parked is not None:
                self.parked = None
                self.next = parked
            else:
                self.next = self.idle_step
                self.cat = CPU_SCHED
        if not self._active:
            self._active = True
            self.engine.schedule(0, self._run_cb)

    def accounted_ns(self) -> int:
        """ns accounted to this pCPU so far, all categories together."""
        return self._total

    def account(self, cat: int, ns: int) -> None:
        """Add ``ns`` to category ``cat`` (time a busy-waiter accounts itself)."""
        self._acct[cat] += ns
        self._total += ns

    def cpu_time_ns(self, now: int) -> list[int]:
        """ns per ``CPU_*`` category up to ``now`` (a new list): of the step in flight, only
        its part before ``now``."""
        acct = list(self._acct)
        pend = self._pend
        h = self._handle
        if h is not None and h.time > now:
            pend -= h.time - now
        acct[self._last_cat] += pend
        return acct

    @property
    def idle(self) -> bool:
        """No step runs and nothing busy-waits: the CPU sits in the idle loop (WFI)."""
        return not self._active and self.parked is None

    def irq_return(self) -> None:
        """Exception return from the host IRQ vector: resume the interrupted context (or
        the idle continuation) with IRQs unmasked."""
        self.irqs_masked = False
        stack = self.stack
        self.cat = stack.top_cat(CPU_SCHED)
        self.next = stack.pop()
        if self.next is None:
            parked = self.parked
            if parked is not None:  # the IRQ came while busy-waiting: resume the waiter
                self.parked = None
                self.next = parked
            else:
                self.next = self.idle_step

    def _run(self) -> None:
        self._handle = None
        eng = self.engine
        m = self.machine
        out = self.out
        stack = self.stack
        horizon = m.horizon
        batch = m.max_batch
        m.cur = self.index  # the executing pCPU, for every step of this batch
        while True:
            # ---- step boundary: take interrupts
            mode = self.mode
            if mode == HOST:
                if out.irq and not self.irqs_masked:
                    stack.push(self.next, self.cat)
                    self.cat = CPU_HARDIRQ
                    self.irqs_masked = True
                    self.next = self.host_irq_step
                cat = self.cat
            else:
                v = self.ctx
                assert v is not None
                if out.irq or self.need_resched or v.exit_request:
                    v.guest_next = self.next
                    self.next = v.exit_irq_step
                elif out.virq and not v.guest_irqs_masked:
                    v.guest_stack.push(self.next)
                    v.guest_irqs_masked = True
                    self.next = v.guest_irq_step
                cat = CPU_GUEST_IRQ if v.guest_irqs_masked else CPU_GUEST
            fn = self.next
            if fn is None:
                m.cur = -1
                self._active = False
                return
            self.next = None
            m.acc = 0
            cost = fn() + m.acc
            if self.mode != mode:
                cat = CPU_KVM  # a world switch (entry or exit) is KVM's time
            if cat == self._last_cat:
                self._pend += cost
            else:
                self._acct[self._last_cat] += self._pend
                self._pend = cost
                self._last_cat = cat
            self._total += cost
            t = eng.now + cost
            batch -= 1
            if batch and t <= horizon and eng.due() > t:  # nothing else due before it ends
                eng.now = t
                continue
            m.cur = -1
            self._handle = eng.schedule(cost, self._run_cb)
            return


def _nothing() -> int:
    return 0


def _is_cpu_step(callback: Any) -> bool:
    """True for a pCPU's step chain (``PhysCpu._run``), which CPU-bound code ignores."""
    # Compared by owner and name: a mypyc-compiled bound method has no ``__func__``.
    return isinstance(getattr(callback, "__self__", None), PhysCpu) and (
        getattr(callback, "__name__", "") == "_run"
    )


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


class Machine(GicSink):
    """The physical machine: engine, recorder, costs, the GIC and the pCPUs.

    The machine is the GIC's sink (:class:`~irqfwd.hw.gic.device.GicSink`, native calls):
    an output change wakes idle pCPUs and becomes the ``gic_update_set_irq`` event
    (QEMU's trace point: ``cpu``, ``signal`` = irq/fiq/virq/vfiq, ``level``); a physical
    (de)activation becomes the
    ``irqfwd_phys_activate`` / ``irqfwd_phys_deactivate`` trace events (``by`` = ``"guest"`` for a
    HW=1 list-register deactivation, else ``"host"``), the ``phys_deactivate_guest`` /
    ``phys_deactivate_host`` counters and the ``assert_to_phys_deactivate`` latency.
    """

    __slots__ = (
        "_assert_t", "_c_deact_guest", "_c_deact_host", "_ev_act", "_ev_deact", "_ev_out", "_lat_deact", "acc", "costs",
        "cur",
        "engine", "gic", "horizon", "max_batch", "pcpus", "recorder",
    )

    def __init__(self, engine: Engine, recorder: Recorder, costs: CostProfile, gic: GicDevice) -> None:
        self.engine = engine
        self.recorder = recorder
        self.costs = costs
        self.gic = gic
        self._ev_act = recorder.site(PhysActivate())
        self._ev_deact = recorder.site(PhysDeactivate())
        self._ev_out = recorder.site(GicUpdateSetIrq())
        self._c_deact_guest = recorder.counter("phys_deactivate_guest")
        self._c_deact_host = recorder.counter("phys_deactivate_host")
        self._lat_deact = recorder.latency_site("assert_to_phys_deactivate")
        self.acc = 0
        self.cur = -1
        """Index of the pCPU whose step is executing (-1: off-CPU work such as a workqueue)."""
        self.horizon = _FOREVER
        self.max_batch = _MAX_BATCH
        """Steps one pCPU may run inside one engine entry (fast-forward); 1 = none."""
        self._assert_t: dict[int, int] = {}
        self.pcpus = [PhysCpu(self, i) for i in range(gic.num_cpus)]
        for ev in gic.trace_events():
            recorder.site(ev)
        gic.attach(self)

    # ------------------------------------------------------------------ costs
    def charge(self, ns: int) -> None:
        """Add ``ns`` to the duration of the step being executed."""
        self.acc += ns

    # ------------------------------------------------------------------ GIC hooks
    def gic_output(self, cpu: int, signal: str, level: bool) -> None:
        ev = self._ev_out
        if ev.live:
            ev.cpu = cpu
            ev.signal = signal
            ev.level = int(level)
            ev.emit()
        if not level:
            return
        c = self.pcpus[cpu]
        if signal == "irq":
            c.poke()
            c.interrupt()
        elif signal == "virq" and c.mode == GUEST:
            v = c.ctx
            if v is not None and not v.guest_irqs_masked:
                c.interrupt()
                if not c._active and c.next is None:
                    c.poke()  # a guest waiting in an untrapped WFI wakes up

    def note_assert(self, intid: int) -> None:
        """A device asserted physical ``intid``: start its ``assert_to_phys_deactivate`` clock."""
        if intid not in self._assert_t:
            self._assert_t[intid] = self.engine.now

    def gic_event(self, kind: str, intid: int, cpu: int, source: str) -> None:
        if kind == "activate":
            ev = self._ev_act
            if ev.live:
                ev.intid = intid
                ev.cpu = cpu
                ev.source = source
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
            self._lat_deact.add(self.engine.now - t0)
        dv = self._ev_deact
        if dv.live:
            dv.intid = intid
            dv.cpu = cpu
            dv.source = source
            dv.by = by
            dv.emit()

    # ------------------------------------------------------------------ CPU time
    def cpu_time(self) -> list[dict[str, int]]:
        """Per pCPU: ns in each ``CPU_*`` category, ``idle`` and ``wall`` (= the engine time),
        so that the categories and idle add up to the wall time."""
        now = self.engine.now
        out: list[dict[str, int]] = []
        for cpu in self.pcpus:
            acct = cpu.cpu_time_ns(now)
            row = {name: acct[i] for i, name in enumerate(CPU_TIME_CATEGORIES)}
            row["idle"] = now - sum(acct)
            row["wall"] = now
            out.append(row)
        return out

    # ------------------------------------------------------------------ CPU-bound code
    def spin_quantum(self, max_ns: int) -> int:
        """Length of one step of CPU-bound code (a spinning guest): until something may
        interrupt it.

        Interrupts are taken at step boundaries, so the step ends at the next engine entry
        that is not merely another pCPU's step chain (timer and device events are exact),
        and at most ``max_ns`` later: an IPI or kick sent from another pCPU's step is seen
        within that quantum.  (Ending at *every* entry would make two spinning pCPUs
        leapfrog each other nanosecond by nanosecond.)  Never 0: a zero-length step at an
        instant with a LATE entry pending would re-run before it forever.
        """
        engine = self.engine
        now = engine.now
        limit = now + max_ns
        t = engine.next_time(limit, skip=_is_cpu_step)
        return max((limit if t is None else t) - now, 1)

    # ------------------------------------------------------------------ running
    def run(self, until: int) -> None:
        """Run the engine up to ``until`` ns (fast-forward never passes it)."""
        self.horizon = until
        self.engine.run(until=until)
