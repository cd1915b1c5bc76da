"""Online invariant checker: watches the trace-event bus and reports broken rules.

The checker subscribes to the events listed in ``docs/architecture.md`` (plus
``irq_handler_entry`` and ``irqfwd_guest_deactivate``) through :meth:`Recorder.subscribe`, so it costs
nothing for events no rule listens to.  Each rule is a small object with a name; every
violation carries the simulated time, the (host) INTID concerned, the rule name and a
message that starts with the rule name.

Rules shipped here (the hazards of the Linux forwarding code, each named with the function or commit it guards):

``lost-interrupt``
    every ``irqfwd_device_irq_raise`` is covered by a ``irqfwd_guest_irq_handled`` of the same device by
    the end of the run, except raises within :attr:`InvariantChecker.grace_ns` of the end
    and raises a level device withdrew (``irqfwd_device_irq_withdraw``: its line went low
    before any driver served it, so GICv2 no longer holds it pending, IHI 0048B §3.2.4).
``edge-exactly-once``
    an edge device's raises are delivered to the guest handler at most once each (never
    more handler runs than raises); at least once is ``lost-interrupt``.
``deactivate-exactly-once``
    every physical activation (``irqfwd_phys_activate``) of a device INTID (one that a
    ``irqfwd_device_irq_raise`` named; the timer PPI has its own rules in
    :mod:`irqfwd.check.timer`) is followed by exactly one
    ``irqfwd_phys_deactivate`` (by the guest through a HW=1 LR, or by the host), never two, and
    never none by the end (GICv2/v3: an active interrupt blocks its INTID).
``hw-lr-pending-active``
    no ``gic_lr_entry`` with GICH_LR.HW=1 and GICH_LR.State=pending+active (Linux
    ``vgic_v2_populate_lr``: "Never set pending+active on a HW interrupt, as the pending
    state is kept at the physical distributor level"; 3d6e77ad1489 in the lineage notes,
    id not re-checked).  Broken by ``fault-hw-lr-pending-active``.
``hw-lr-phys-inactive``
    no ``gic_lr_entry`` with GICH_LR.HW=1 and State pending or active whose physical INTID
    (banked per CPU for PPIs) is not active (0e3dfda91d9f: "when an LR has the HW bit set
    and the pending or active bits set, then the physical interrupt must also have the
    corresponding bits set").  Broken by ``fault-hw-retained-level`` (a stale
    ``line_level`` re-injected, 3134cc8beb69) and ``fault-timer-clear-active``.
``stale-active``
    once the guest deactivated the virtual interrupt of a forwarded physical INTID, the
    physical activation it deactivated is over by that vCPU's (``(vm, vcpu)``) next
    ``kvm_entry`` (the host had its fold; a *new* activation since is another instance),
    and no physical interrupt is left active at the end (in particular after a
    ``irqfwd_vm_teardown``: nothing can deactivate it once the VM is gone).
``vfio-masked-at-end``
    every VFIO automasked line (``irqfwd_vfio_mask``) is unmasked again by the end (``vfio_platform_unmask``).
``level-storm``
    a level line re-fires on the host (``irq_handler_entry``) while its device is
    de-asserted, or fires again for the same assertion after VFIO unmasked it but before
    the guest handled it (the early-unmask bug), or the guest handler runs again with no
    new raise while the device is de-asserted and with no host interrupt of that line
    since its previous run (a virtual level line never resampled; one empty run per host
    interrupt taken while asserted is the faithful threaded-handler race, docs/designs.md).

**Device sequence numbers.** ``device_irq_raise.seq`` numbers a device's raises 1, 2, 3...
``guest_irq_handled.seq`` names a raise the handler serves (``Nic.handler_entry``), or is
None when nothing was raised since the previous handler run.  The driver drains the
device's status register, so a handler run with a ``seq`` serves every raise of that
device so far; one with ``seq`` None serves nothing.

**Adding rules from another module** (the timer engineer's rules): subclass :class:`Rule`,
set ``name``, implement ``handlers()`` (event name → ``fn(time_ns, fields)``) and optionally
``finish(end_ns)``, then call :func:`register_rule` with the class at import time::

    class TimerRule(Rule):
        name = "vtimer-..."
        def handlers(self): return {"kvm_timer_update_irq": self._on_update}
        ...
    register_rule(TimerRule)

and list the module in :data:`PLUGIN_MODULES` (``irqfwd.check.timer`` is listed):
the first checker imports them, so every run in every process checks the same rules.
:class:`InvariantChecker` instantiates every registered rule whose ``applies(design)`` is
true.  A rule reports through ``self.violation(time_ns, intid, message)`` and counts each
check with ``self.check()``.

**Cost.** Bookkeeping several rules need is kept once per checker and updated by one
subscription per event (:meth:`InvariantChecker.shared`: :class:`DeviceTracker` for raises
and handler coverage, :class:`PhysTracker` for physical Active states); per-event work is
O(1) dictionary updates keyed by INTID or device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from irqfwd._mypyc import mypyc_attr
from irqfwd._plugins import import_plugins
from irqfwd.devices.events import DeviceIrqLower, DeviceIrqRaise, DeviceIrqWithdraw
from irqfwd.guest.events import GuestDeactivate, GuestIrqHandled
from irqfwd.host.events import IrqHandlerEntry, IrqHandlerExit, VfioMask, VfioUnmask
from irqfwd.host.kvm.events import GicLrEntry, KvmEntry
from irqfwd.hw.events import PhysActivate, PhysDeactivate
from irqfwd.sim.metrics import Event, Listener, Recorder

__all__ = [
    "DEFAULT_GRACE_NS",
    "PLUGIN_MODULES",
    "InvariantChecker",
    "Rule",
    "Violation",
    "register_rule",
    "registered_rules",
]

DEFAULT_GRACE_NS: Final = 2_000_000
"""Raises, masks and activations this close to the end of the run are not yet expected to
be complete (2 ms: longer than one round-robin timeslice of the default scheduler, 1 ms)."""

Handler = Callable[[int, dict[str, Any]], None]

PLUGIN_MODULES: list[str] = ["irqfwd.check.timer"]
"""Modules that register rules; imported when the first checker is created."""
def _load_plugins() -> None:
    import_plugins(PLUGIN_MODULES)

# GICv2 GICH_LRn fields (IHI 0048B §5.3.9)
_LR_HW: Final = 1 << 31
_LR_STATE_SHIFT: Final = 28
_LR_STATE_PENDING_ACTIVE: Final = 3
_LR_PHYSID_SHIFT: Final = 10
_LR_ID_MASK: Final = 0x3FF


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: when, which (host) INTID, which rule, and why."""

    time_ns: int
    rule: str
    intid: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``time_ns``, ``rule``, ``intid``, ``message``)."""
        return {"time_ns": self.time_ns, "rule": self.rule, "intid": self.intid, "message": self.message}


@mypyc_attr(allow_interpreted_subclasses=True)
class Rule(Listener):
    """Base class of an invariant; one instance per checker (per run).

    A rule routes its events once: either it lists them in
    :attr:`~irqfwd.sim.metrics.Listener.events` and routes them in
    :meth:`~irqfwd.sim.metrics.Listener.on_event` (the built-in rules: one method call per
    event), or it returns callables from :meth:`handlers` (rules registered from other
    modules).
    """

    name: ClassVar[str] = ""

    def __init__(self, checker: InvariantChecker) -> None:
        self.checker = checker

    @classmethod
    def applies(cls, design: str) -> bool:
        """Whether this rule is checked under delivery design ``design`` (default: always)."""
        return True

    def handlers(self) -> dict[str, Handler]:
        """Event name → callback ``fn(time_ns, fields)``."""
        return {}

    def finish(self, end_ns: int) -> None:
        """End-of-run checks (``end_ns`` = simulated end time)."""

    def check(self, n: int = 1) -> None:
        """Count ``n`` performed checks."""
        self.checker.checked += n

    def violation(self, time_ns: int, intid: int, message: str) -> None:
        """Report a violation of this rule; the message is prefixed with the rule name."""
        self.checker.violations.append(Violation(time_ns, self.name, intid, f"{self.name}: {message}"))


_RULES: list[type[Rule]] = []


def register_rule(rule: type[Rule]) -> type[Rule]:
    """Add a rule class to every checker created from now on (usable as a decorator)."""
    if not rule.name:
        raise ValueError(f"rule {rule.__qualname__} has no name")
    if any(r.name == rule.name for r in _RULES if r is not rule):
        raise ValueError(f"a rule named {rule.name!r} is already registered")
    if rule not in _RULES:
        _RULES.append(rule)
    return rule


def registered_rules() -> list[str]:
    """Names of the registered rules, in registration order."""
    return [r.name for r in _RULES]


def _subscribe(recorder: Recorder, obj: object) -> None:
    """Subscribe ``obj``: as a listener to its :attr:`Listener.events` when it routes them
    itself, else each callable of its ``handlers()``."""
    if isinstance(obj, Listener) and obj.events:
        for event in obj.events:
            recorder.listen(event, obj)
        return
    handlers = getattr(obj, "handlers", None)
    if handlers is not None:
        for event, fn in handlers().items():
            recorder.subscribe(event, fn)


class InvariantChecker:
    """Subscribe every registered rule to ``recorder`` for a run of design ``design``.

    ``grace_ns``: work started within this many ns of the end is exempt from end-of-run
    checks, except physical Active states older than a ``irqfwd_vm_teardown`` (nothing can
    deactivate them once the VM is gone).  ``rules``: restrict to these rule names (default: all registered).
    """

    def __init__(
        self,
        recorder: Recorder,
        design: str = "",
        *,
        grace_ns: int = DEFAULT_GRACE_NS,
        rules: Iterable[str] | None = None,
    ) -> None:
        self.recorder = recorder
        self.design = design
        self.grace_ns = grace_ns
        self.checked = 0
        self.violations: list[Violation] = []
        self.finished = False
        self._shared: dict[str, Any] = {}
        _load_plugins()
        wanted = set(rules) if rules is not None else None
        if wanted is not None:
            unknown = wanted - set(registered_rules())
            if unknown:
                raise ValueError(f"unknown invariant rule(s): {', '.join(sorted(unknown))}")
        self.rules: list[Rule] = [
            cls(self) for cls in _RULES if (wanted is None or cls.name in wanted) and cls.applies(design)
        ]
        self.teardown_ns: int | None = None
        """Time of the first ``irqfwd_vm_teardown`` event (VM killed: nobody deactivates after it)."""
        recorder.subscribe("irqfwd_vm_teardown", self._on_teardown)
        for rule in self.rules:
            _subscribe(recorder, rule)

    def shared(self, key: str, factory: Callable[[], Any]) -> Any:
        """The per-checker bookkeeping object ``key`` shared by several rules, created by
        ``factory()`` on first use and subscribed then (before the rule asking for it), so
        each event updates it once."""
        obj = self._shared.get(key)
        if obj is None:
            obj = self._shared[key] = factory()
            _subscribe(self.recorder, obj)
        return obj

    def _on_teardown(self, time: int, fields: dict[str, Any]) -> None:
        if self.teardown_ns is None:
            self.teardown_ns = time

    def overdue(self, since: int, end_ns: int) -> bool:
        """Whether state entered at ``since`` should have been resolved by ``end_ns``: older
        than the grace window, or older than a VM teardown (after which nothing resolves it)."""
        if since < end_ns - self.grace_ns:
            return True
        return self.teardown_ns is not None and since <= self.teardown_ns

    def finish(self, end_ns: int | None = None) -> list[Violation]:
        """Run the end-of-run checks once (``end_ns`` defaults to the engine's time)."""
        if not self.finished:
            self.finished = True
            end = end_ns if end_ns is not None else self.recorder._engine.now
            for rule in self.rules:
                rule.finish(end)
        return self.violations

    @property
    def ok(self) -> bool:
        """True when no violation was reported."""
        return not self.violations

    def by_rule(self) -> dict[str, int]:
        """Number of violations per rule name."""
        counts: dict[str, int] = {}
        for v in self.violations:
            counts[v.rule] = counts.get(v.rule, 0) + 1
        return counts


# --------------------------------------------------------------------------- rules


class DeviceRaises:
    """One device's raises as :class:`DeviceTracker` keeps them."""

    __slots__ = ("covered", "deliveries", "edge", "head", "intid", "last_seq", "n_raised", "unserved")

    def __init__(self, intid: int) -> None:
        self.intid = intid
        """Host INTID of the device's latest raise."""
        self.edge = False
        """The latest raise was an edge."""
        self.n_raised = 0
        self.last_seq = 0
        """``seq`` of the newest raise (its INTID is :attr:`intid`)."""
        self.covered = 0
        """Highest ``seq`` served by a handler run (or withdrawn) so far."""
        self.unserved: list[tuple[int, int, int]] = []
        """The raises not yet covered, ``(seq, time, intid)``, from index :attr:`head` on
        (a list with a head index: a deque's methods are generic calls when compiled)."""
        self.head = 0
        self.deliveries = 0
        """Handler runs while the device is edge-triggered (``edge-exactly-once``)."""

    def pending(self) -> list[tuple[int, int, int]]:
        """The raises not yet covered, oldest first."""
        return self.unserved[self.head:]


class DeviceTracker(Listener):
    """Device raises and their coverage by guest handler runs, shared by the device rules.

    One subscription per event whatever the number of rules using it; O(1) per event: one
    :class:`DeviceRaises` per device, of which only the raises not yet covered by a handler
    run are kept (``unserved``).

    The per-event check of ``edge-exactly-once`` runs here (``edge`` is that rule when it
    is checked), as :class:`PhysTracker` runs ``deactivate-exactly-once``'s: a handler run
    costs one call.
    """

    events = ("irqfwd_device_irq_raise", "irqfwd_guest_irq_handled", "irqfwd_device_irq_withdraw")

    def __init__(self) -> None:
        self.devs: dict[str, DeviceRaises] = {}
        """Per device that raised at least once."""
        self.device_intids: set[int] = set()
        self.vint_to_phys: dict[int, int] = {}  # vint_key(vm, vintid) -> host INTID
        self.edge: EdgeExactlyOnce | None = None

    def on_event(self, ev: Event, time_ns: int) -> None:
        if isinstance(ev, DeviceIrqRaise):
            self._on_raise(time_ns, ev)
        elif isinstance(ev, GuestIrqHandled):
            self._on_handled(time_ns, ev)
        elif isinstance(ev, DeviceIrqWithdraw):
            self._on_withdraw(ev.dev)

    def _on_withdraw(self, dev: str) -> None:
        """A level device withdrew its raises (``Nic.withdraw``): none is owed a handler."""
        d = self.devs.get(dev)
        if d is None:
            return
        if d.last_seq > d.covered:
            d.covered = d.last_seq
        d.unserved.clear()
        d.head = 0

    def _on_raise(self, time: int, ev: DeviceIrqRaise) -> None:
        dev = ev.dev
        intid = ev.intid
        seq = ev.seq
        d = self.devs.get(dev)
        if d is None:
            d = self.devs[dev] = DeviceRaises(intid)
        d.edge = ev.trigger == "edge"
        if d.intid != intid or d.n_raised == 0:
            self.device_intids.add(intid)
        d.intid = intid
        d.unserved.append((seq, time, intid))
        d.n_raised += 1
        d.last_seq = seq

    def _on_handled(self, time: int, ev: GuestIrqHandled) -> None:
        d = self.devs.get(ev.dev)
        if d is None:
            return
        self.vint_to_phys[vint_key(ev.vm, ev.vintid)] = d.intid
        edge = self.edge
        if edge is not None and d.edge:
            edge.checker.checked += 1
            d.deliveries += 1
            n = d.deliveries
            raised = d.n_raised
            if n > raised:
                edge.violation(
                    time,
                    d.intid,
                    f"{ev.dev} handler run #{n} but the device raised only {raised} edge(s): delivered twice",
                )
        seq = ev.seq
        if seq is None:
            return
        # The handler serves every raise not served yet (the driver drains the status
        # register), so it covers up to the newest raise so far; seq None = nothing new.
        before = d.covered
        after = before
        if seq > after:
            after = seq
        if d.last_seq > after:
            after = d.last_seq
        if after != before:
            d.covered = after
            q = d.unserved
            h = d.head
            n = len(q)
            while h < n and q[h][0] <= after:
                h += 1
            if h > 32 and 2 * h > n:  # drop the covered prefix now and then
                del q[:h]
                h = 0
            d.head = h


def vint_key(vm: int, vintid: int) -> int:
    """Key of a guest's vINTID in :attr:`DeviceTracker.vint_to_phys` (vINTIDs < 1024)."""
    return (vm << 10) | vintid


def vcpu_key(vm: int, vcpu: int) -> int:
    """Key of a vCPU (vCPU ids repeat across VMs): one int, no tuple to build and hash."""
    return (vm << 16) | vcpu


def _devices(checker: InvariantChecker) -> DeviceTracker:
    return checker.shared("devices", DeviceTracker)


def phys_key(intid: int, cpu: int) -> int:
    """Key of a physical interrupt's Active state: the INTID for SPIs, INTID + (cpu << 10)
    for the banked INTIDs < 32 (SGIs, PPIs)."""
    return intid if intid >= 32 else intid + (cpu << 10)


class PhysState:
    """One physical interrupt's Active state as :class:`PhysTracker` follows it."""

    __slots__ = ("device", "gen", "since")

    def __init__(self) -> None:
        self.since = -1
        """Time of the activation in progress (-1: not active)."""
        self.gen = 0
        """Activations so far (numbers the *instances*)."""
        self.device = False
        """The INTID is a device's (once true, it stays: devices never give an INTID back)."""


class PhysTracker(Listener):
    """The physical Active states (``irqfwd_phys_activate`` / ``irqfwd_phys_deactivate``), shared by
    ``deactivate-exactly-once``, ``hw-lr-phys-inactive``, ``stale-active`` and
    ``timer-stale-active``: one subscription per event, one :class:`PhysState` per
    :func:`phys_key` (one dict look-up per event; the times stay native ints).

    The per-event checks of ``deactivate-exactly-once`` run here (``deact`` is that rule
    when it is checked) so that an event costs one call.
    """

    events = ("irqfwd_phys_activate", "irqfwd_phys_deactivate")

    def __init__(self, checker: InvariantChecker) -> None:
        self.checker = checker
        self.states: dict[int, PhysState] = {}
        self.deact: DeactivateExactlyOnce | None = None
        self.device_intids = _devices(checker).device_intids

    def since(self, key: int) -> int:
        """Activation time of the interrupt of :func:`phys_key` ``key``, -1 when not active."""
        st = self.states.get(key)
        return -1 if st is None else st.since

    def instance(self, key: int) -> int:
        """Number of activations of ``key`` so far (the current or last one's number)."""
        st = self.states.get(key)
        return 0 if st is None else st.gen

    def active_items(self) -> list[tuple[int, int]]:
        """``(phys_key, activation time)`` of every active interrupt, by key."""
        return sorted((k, st.since) for k, st in self.states.items() if st.since >= 0)

    def _state(self, key: int, intid: int) -> PhysState:
        st = self.states.get(key)
        if st is None:
            st = self.states[key] = PhysState()
        if not st.device:
            st.device = intid in self.device_intids
        return st

    def on_event(self, ev: Event, time_ns: int) -> None:
        if isinstance(ev, PhysActivate):
            self._on_activate(time_ns, ev.intid, ev.cpu)
        elif isinstance(ev, PhysDeactivate):
            self._on_deactivate(time_ns, ev.intid, ev.cpu, ev.by)

    def _on_activate(self, time: int, intid: int, cpu: int) -> None:
        st = self._state(intid if intid >= 32 else intid + (cpu << 10), intid)
        d = self.deact
        if d is not None and st.device:
            self.checker.checked += 1
            if st.since >= 0:
                d.violation(time, intid, f"INTID {intid} activated again while still active since {st.since} ns")
        st.since = time
        st.gen += 1

    def _on_deactivate(self, time: int, intid: int, cpu: int, by: str) -> None:
        st = self._state(intid if intid >= 32 else intid + (cpu << 10), intid)
        was_active = st.since >= 0
        st.since = -1
        d = self.deact
        if d is not None and st.device:
            self.checker.checked += 1
            if not was_active:
                d.violation(time, intid, f"INTID {intid} deactivated (by {by}) while not active: double deactivation")


def phys_tracker(checker: InvariantChecker) -> PhysTracker:
    """The checker's shared :class:`PhysTracker`."""
    tracker: PhysTracker = checker.shared("phys", lambda: PhysTracker(checker))
    return tracker


class LostInterrupt(Rule):
    """Every device assertion reaches the guest handler (no lost interrupt)."""

    name = "lost-interrupt"

    def __init__(self, checker: InvariantChecker) -> None:
        super().__init__(checker)
        self.dev = _devices(checker)

    def finish(self, end_ns: int) -> None:
        devs = self.dev.devs
        for dev in sorted(devs):
            d = devs[dev]
            covered = d.covered
            lost = [
                (seq, t, intid)
                for seq, t, intid in d.pending()
                if seq > covered and t < end_ns - self.checker.grace_ns
            ]
            self.check(d.n_raised)
            if lost:
                seq, t, intid = lost[0]
                self.violation(
                    end_ns,
                    intid,
                    f"{len(lost)} raise(s) of {dev} never handled by the guest "
                    f"(first: seq {seq} at {t} ns; handled up to seq {covered})",
                )


class EdgeExactlyOnce(Rule):
    """An edge interrupt is delivered to the guest at most once per raise (IHI 0048B §3.2.4: edges merged while pending).

    Counts deliveries, not work: a second edge that arrives while the first is active is
    held pending (physical or virtual) and delivered after deactivation, even when the
    driver already consumed its work (a harmless empty handler run).  A delivery is a
    duplicate when the guest has run the handler more often than the device raised.
    Edges merged while pending reduce deliveries; no delivery at all is ``lost-interrupt``.

    The per-event check runs in :class:`DeviceTracker` (one call per handler run).
    """

    name = "edge-exactly-once"

    def __init__(self, checker: InvariantChecker) -> None:
        super().__init__(checker)
        self.dev = _devices(checker)
        self.dev.edge = self


class DeactivateExactlyOnce(Rule):
    """Each physical activation is deactivated exactly once (IHI 0048B §4.4.5, §4.4.15).

    The per-event checks run in :class:`PhysTracker` (one call per event).
    """

    name = "deactivate-exactly-once"

    def __init__(self, checker: InvariantChecker) -> None:
        super().__init__(checker)
        self.device_intids = _devices(checker).device_intids
        self.phys = phys_tracker(checker)
        self.phys.deact = self

    def finish(self, end_ns: int) -> None:
        for key, since in self.phys.active_items():
            intid = key & 0x3FF
            if intid not in self.device_intids:
                continue
            self.check()
            if self.checker.overdue(since, end_ns):
                self.violation(end_ns, intid, f"INTID {intid} activated at {since} ns never deactivated")


class HwLrPendingActive(Rule):
    """No GICH_LRn with HW=1 in the pending+active state (IHI 0048B §5.3.9; §13.9)."""

    name = "hw-lr-pending-active"
    events = ("gic_lr_entry",)

    def on_event(self, ev: Event, time_ns: int) -> None:
        if isinstance(ev, GicLrEntry):
            self._on_lr_write(time_ns, ev)

    def _on_lr_write(self, time: int, ev: GicLrEntry) -> None:
        value = ev.value
        self.check()
        if value & _LR_HW and (value >> _LR_STATE_SHIFT) & 3 == _LR_STATE_PENDING_ACTIVE:
            pintid = (value >> _LR_PHYSID_SHIFT) & _LR_ID_MASK
            self.violation(
                time,
                pintid,
                f"GICH_LR{ev.lr} on CPU {ev.cpu} written with HW=1 and "
                f"State=pending+active (value {value:#010x}, vINTID {value & _LR_ID_MASK}, pINTID {pintid})",
            )


class HwLrPhysInactive(Rule):
    """No GICH_LRn with HW=1 and State pending or active for a physical INTID that is not
    active (the rule KVM states in 0e3dfda91d9f and "Support VGIC dist pend/active changes for
    mapped IRQs": the guest must never deactivate a HW=1 virtual interrupt whose physical
    interrupt is not active).

    The LR of a HW-mapped interrupt carries no state of its own: its pending and active
    states stand for the physical interrupt's, which the host acknowledged (and left active,
    EOImode 1) or which KVM made active (``vgic_hw_irq_spending``, the timer's
    ``kvm_timer_vcpu_load_gic``).  A valid HW=1 LR whose physical INTID is inactive delivers
    an interrupt nothing asserted, and the guest's deactivation then hits an inactive
    physical INTID: the stale ``line_level`` of a mapped level interrupt that the vgic did
    not re-sample after the guest deactivated it (before 3134cc8beb69,
    ``vgic_irq_handle_resampling``), or a physical Active state cleared while the LR is still
    active (before 0e3dfda91d9f).  Checked when the LR is written into the hardware
    (``gic_lr_entry``), against the physical Active states of :class:`PhysTracker` (banked
    per CPU for PPIs).
    """

    name = "hw-lr-phys-inactive"
    events = ("gic_lr_entry",)

    def __init__(self, checker: InvariantChecker) -> None:
        super().__init__(checker)
        self.phys = phys_tracker(checker)

    def on_event(self, ev: Event, time_ns: int) -> None:
        if isinstance(ev, GicLrEntry):
            self._on_lr_write(time_ns, ev)

    def _on_lr_write(self, time_ns: int, ev: GicLrEntry) -> None:
        value = ev.value
        if not value & _LR_HW or not (value >> _LR_STATE_SHIFT) & 3:
            return
        self.check()
        pintid = (value >> _LR_PHYSID_SHIFT) & _LR_ID_MASK
        cpu = ev.cpu
        if self.phys.since(phys_key(pintid, cpu)) < 0:
            state = ("pending", "active", "pending+active")[((value >> _LR_STATE_SHIFT) & 3) - 1]
            self.violation(
                time_ns,
                pintid,
                f"GICH_LR{ev.lr} on CPU {cpu} written with HW=1 and State={state} "
                f"(value {value:#010x}, vINTID {value & _LR_ID_MASK}) while physical INTID {pintid} is not active",
            )


class StaleActive(Rule):
    """A physical INTID does not stay active after its guest deactivated it (``irqd_is_forwarded_to_vcpu``: the host never deactivates it).

    Each physical activation of an SPI is one *instance* (a generation number per INTID).
    A guest deactivation of the vINTID mapped to it records the instance active at that
    moment, keyed by the deactivating vCPU (``(vm, vcpu)``: vCPU ids repeat across VMs),
    unless a host handler of that INTID is running (between ``irq_handler_entry`` and
    ``irq_handler_exit``): that activation is a new interrupt the host takes for itself
    (a non-forwarded design deactivates after its handler; the guest may EOI the previous
    injection meanwhile);
    at that vCPU's next ``kvm_entry`` the violation is that *same* instance still being
    active.  A new activation in between (e.g. sw-deactivate: the fold deactivates, then a
    new edge held pending in the GIC fires at once) is a different instance, whatever the
    timestamps.
    """

    name = "stale-active"
    events = ("irqfwd_guest_deactivate", "kvm_entry", "irq_handler_entry", "irq_handler_exit")

    def __init__(self, checker: InvariantChecker) -> None:
        super().__init__(checker)
        self.phys = phys_tracker(checker)  # SPI keys are their INTIDs
        self.vint_to_phys = _devices(checker).vint_to_phys  # vint_key(vm, vintid) -> host intid
        self.waiting: dict[int, list[tuple[int, int, int]]] = {}
        # vcpu_key(vm, vcpu) -> [(intid, generation, guest deactivation time)]
        self.in_host_handler: dict[int, int] = {}  # intid -> host handlers of it running

    def on_event(self, ev: Event, time_ns: int) -> None:
        if isinstance(ev, GuestDeactivate):
            self._on_guest_deactivate(time_ns, ev.vm, ev.vcpu, ev.vintid)
        elif isinstance(ev, KvmEntry):
            self._on_entry(time_ns, ev.vm, ev.vcpu)
        elif isinstance(ev, IrqHandlerEntry):
            intid = ev.intid
            self.in_host_handler[intid] = self.in_host_handler.get(intid, 0) + 1
        elif isinstance(ev, IrqHandlerExit):
            intid = ev.intid
            n = self.in_host_handler.get(intid, 0)
            if n > 1:
                self.in_host_handler[intid] = n - 1
            elif n == 1:
                del self.in_host_handler[intid]


    def _on_guest_deactivate(self, time: int, vm: int, vcpu: int, vintid: int) -> None:
        intid = self.vint_to_phys.get(vint_key(vm, vintid))
        if intid is not None and self.phys.since(intid) >= 0 and intid not in self.in_host_handler:
            key = vcpu_key(vm, vcpu)
            w = self.waiting.get(key)
            if w is None:
                self.waiting[key] = [(intid, self.phys.instance(intid), time)]
            else:
                w.append((intid, self.phys.instance(intid), time))

    def _on_entry(self, time: int, vm: int, vcpu: int) -> None:
        if not self.waiting:
            return
        pending = self.waiting.pop(vcpu_key(vm, vcpu), None)
        if not pending:
            return
        for intid, gen, since in pending:
            self.check()
            if self.phys.since(intid) >= 0 and self.phys.instance(intid) == gen:
                self.violation(
                    time,
                    intid,
                    f"physical INTID {intid} still active at kvm_entry although the guest "
                    f"deactivated it at {since} ns",
                )

    def finish(self, end_ns: int) -> None:
        for intid, since in self.phys.active_items():
            if not 32 <= intid < 1024:
                continue  # banked SGI/PPI keys
            self.check()
            if self.checker.overdue(since, end_ns):
                after = " and the VM teardown" if self.checker.teardown_ns is not None else ""
                self.violation(
                    end_ns, intid, f"physical INTID {intid} left active at the end{after} (active since {since} ns)"
                )


class VfioMaskedAtEnd(Rule):
    """Every VFIO automasked line is unmasked again (vfio_platform_irq.c)."""

    name = "vfio-masked-at-end"
    events = ("irqfwd_vfio_mask", "irqfwd_vfio_unmask")

    def __init__(self, checker: InvariantChecker) -> None:
        super().__init__(checker)
        self.masked: dict[int, int] = {}

    def on_event(self, ev: Event, time_ns: int) -> None:
        if isinstance(ev, VfioMask):
            self.masked.setdefault(ev.intid, time_ns)
        elif isinstance(ev, VfioUnmask):
            self.masked.pop(ev.intid, None)

    def finish(self, end_ns: int) -> None:
        for intid, since in sorted(self.masked.items()):
            self.check()
            if since < end_ns - self.checker.grace_ns:
                self.violation(end_ns, intid, f"INTID {intid} VFIO-masked since {since} ns, never unmasked")


class LevelStorm(Rule):
    """A level line does not re-fire while de-asserted, nor after an early VFIO unmask.

    (a) ``irq_handler_entry`` for a level device's INTID while the device is de-asserted (a
    stale line or a missing resample); (b) for the same assertion, a host entry after VFIO
    unmasked the line that had already fired, before the guest handled it (the
    early-unmask storm); (c) the guest handler runs with no new raise (``seq`` None) while
    the device is de-asserted *and the host took no interrupt of that line since the
    previous handler run*: the *virtual* line re-fired on its own (no EOI bit, so no
    resample).  The second entry of a *lazy* ``disable_irq_nosync`` (the line fires once
    more while disabled, then the flow handler masks it) is legitimate.

    Also legitimate (docs/designs.md, "Threaded guest handlers"): one empty handler run
    that delivers a host interrupt taken while the device was still asserted, but after
    the guest handler had started and before the driver acknowledged the device (a
    threaded handler's thread acks late: under ``irqfd-resample`` VFIO's unmask can come
    first, under the forwarding designs the guest's EOI deactivates the still-high line
    and the asynchronous irqfd injection of that second host interrupt can land after the
    thread's GICD_ISENABLER).  Each such host interrupt excuses one empty run.
    """

    name = "level-storm"
    events = ("irqfwd_device_irq_raise", "irqfwd_device_irq_lower", "irqfwd_guest_irq_handled", "irq_handler_entry", "irqfwd_vfio_unmask")

    def __init__(self, checker: InvariantChecker) -> None:
        super().__init__(checker)
        self.lines: dict[int, LevelLine] = {}  # intid -> its state (created by a level raise)
        self.dev_level: dict[str, LevelLine] = {}  # level device -> the line of its INTID
        # One-entry caches of the two look-ups (an interrupt's events name the same INTID
        # and device several times): lines are never removed; dev_level drops the cache
        # whenever it changes.
        self._c_intid = -1
        self._c_line: LevelLine | None = None
        self._c_dev: str | None = None
        self._c_dev_line: LevelLine | None = None

    def _line(self, intid: int) -> LevelLine | None:
        if intid == self._c_intid:
            return self._c_line
        line = self.lines.get(intid)
        if line is not None:
            self._c_intid = intid
            self._c_line = line
        return line

    def _dev_line(self, dev: str) -> LevelLine | None:
        if dev is self._c_dev:
            return self._c_dev_line
        line = self.dev_level.get(dev)
        self._c_dev = dev
        self._c_dev_line = line
        return line

    def on_event(self, ev: Event, time_ns: int) -> None:
        if isinstance(ev, DeviceIrqRaise):
            self._on_raise(time_ns, ev)
        elif isinstance(ev, DeviceIrqLower):
            self._on_lower(time_ns, ev.intid)
        elif isinstance(ev, GuestIrqHandled):
            self._on_handled(time_ns, ev)
        elif isinstance(ev, IrqHandlerEntry):
            self._on_host_entry(time_ns, ev.intid, ev.cpu)
        elif isinstance(ev, VfioUnmask):
            self._on_unmask(time_ns, ev.intid)

    def _on_raise(self, time: int, ev: DeviceIrqRaise) -> None:
        intid = ev.intid
        dev = ev.dev
        line = self._line(intid)
        if ev.trigger != "level":
            if line is not None and line.dev == dev:
                line.dev = None
                if dev in self.dev_level:
                    del self.dev_level[dev]
                self._c_dev = None
            return
        if line is None:
            line = self.lines[intid] = LevelLine(intid)
        line.dev = dev
        if self._dev_line(dev) is not line:
            self.dev_level[dev] = line
            self._c_dev = None
        line.asserted = True
        line.fired = False
        line.unmasked = False

    def _on_lower(self, time: int, intid: int) -> None:
        line = self._line(intid)
        if line is not None and line.dev is not None:
            line.asserted = False

    def _on_handled(self, time: int, ev: GuestIrqHandled) -> None:
        dev = ev.dev
        line = self._dev_line(dev)
        if line is None:
            return
        self.checker.checked += 1
        if ev.seq is None and not line.asserted and not line.taken:
            self.violation(
                time,
                line.intid,
                f"guest handler of {dev} (vINTID {ev.vintid}) ran again while {dev} "
                "is de-asserted: the virtual level line was left asserted",
            )
        line.fired = False
        line.unmasked = False
        line.taken = False

    def _on_unmask(self, time: int, intid: int) -> None:
        line = self._line(intid)
        if line is not None and line.fired:
            line.unmasked = True

    def _on_host_entry(self, time: int, intid: int, cpu: int) -> None:
        line = self._line(intid)
        if line is None or line.dev is None:
            return
        dev = line.dev
        self.checker.checked += 1
        if not line.asserted:
            self.violation(time, intid, f"INTID {intid} fired on CPU {cpu} while {dev} is de-asserted")
        elif line.fired and line.unmasked:
            self.violation(
                time,
                intid,
                f"INTID {intid} fired again on CPU {cpu} for the same assertion of {dev}: "
                "VFIO unmasked it before the guest handled it",
            )
        line.fired = True
        line.unmasked = False
        line.taken = True


class LevelLine:
    """One INTID's state as :class:`LevelStorm` follows it."""

    __slots__ = ("asserted", "dev", "fired", "intid", "taken", "unmasked")

    def __init__(self, intid: int) -> None:
        self.intid = intid
        self.dev: str | None = None
        """The level device on this INTID (None: none now)."""
        self.asserted = False
        self.fired = False
        """A host entry since the last raise or handler run."""
        self.unmasked = False
        """A VFIO unmask since that host entry."""
        self.taken = False
        """A host entry since the last handler run (rule c)."""


for _rule in (
    LostInterrupt,
    EdgeExactlyOnce,
    DeactivateExactlyOnce,
    HwLrPendingActive,
    HwLrPhysInactive,
    StaleActive,
    VfioMaskedAtEnd,
    LevelStorm,
):
    register_rule(_rule)
