"""Linux generic IRQ layer (kernel/irq/*): descriptors, flow handlers and the chip API.

What the rest of irqfwd uses (names as in Linux):

* :class:`IrqChip` (``struct irq_chip``): ``irq_mask``, ``irq_unmask``, ``irq_eoi``,
  optional ``irq_set_vcpu_affinity``, ``irq_get_irqchip_state``, ``irq_set_irqchip_state``
  (``None`` = not implemented), ``flags`` (``IRQCHIP_EOI_THREADED``...).
* :class:`IrqData` (``struct irq_data``): ``irq``, ``hwirq``, ``chip``, ``parent_data``,
  state bits ``IRQD_*`` (``irqd_is_forwarded_to_vcpu`` etc.).
* :class:`IrqDesc` (``struct irq_desc``): ``action``, ``depth``, ``istate``, the flow
  handler ``handle_irq`` (``handle_fasteoi_irq`` / ``handle_percpu_devid_irq``).
* :class:`Genirq` (one per host kernel): the irq number space and the API
  ``request_irq`` / ``request_percpu_irq`` / ``free_irq``, ``disable_irq_nosync`` /
  ``enable_irq`` (lazy disable unless ``IRQ_DISABLE_UNLAZY``), ``irq_set_vcpu_affinity``
  (-ENOSYS when no chip in the hierarchy implements it), ``irq_get_irqchip_state`` /
  ``irq_set_irqchip_state`` (-EINVAL when unsupported) for ``IRQCHIP_STATE_PENDING``,
  ``ACTIVE``, ``MASKED``, ``LINE_LEVEL``, and ``generic_handle_domain_irq``.

Handlers are ``handler(irq, dev_id) -> int``: the return value is the handler's cost in ns
(its irqreturn_t is not modelled).  Chip operations charge their own cost through
:meth:`irqfwd.hw.machine.Machine.charge`.  For per-CPU (PPI) interrupts the chip acts on
the *current* CPU's banked copy: callers pass ``cpu``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "EBUSY",
    "EINVAL",
    "ENOSYS",
    "IRQCHIP_EOI_THREADED",
    "IRQCHIP_STATE_ACTIVE",
    "IRQCHIP_STATE_LINE_LEVEL",
    "IRQCHIP_STATE_MASKED",
    "IRQCHIP_STATE_PENDING",
    "IRQD_ACTIVATED",
    "IRQD_FORWARDED_TO_VCPU",
    "IRQD_IRQ_DISABLED",
    "IRQD_IRQ_MASKED",
    "IRQF_NOAUTOEN",
    "IRQS_PENDING",
    "IRQ_DISABLE_UNLAZY",
    "Genirq",
    "IrqAction",
    "IrqChip",
    "IrqData",
    "IrqDesc",
]

ENOSYS: Final = -38
EINVAL: Final = -22
EBUSY: Final = -16
ENOENT: Final = -2

IRQCHIP_STATE_PENDING: Final = 0
IRQCHIP_STATE_ACTIVE: Final = 1
IRQCHIP_STATE_MASKED: Final = 2
IRQCHIP_STATE_LINE_LEVEL: Final = 3

IRQD_ACTIVATED: Final = 1 << 9
IRQD_IRQ_DISABLED: Final = 1 << 16
IRQD_IRQ_MASKED: Final = 1 << 17
IRQD_FORWARDED_TO_VCPU: Final = 1 << 24
IRQD_IRQ_STARTED: Final = 1 << 22
IRQD_LEVEL: Final = 1 << 13

IRQS_PENDING: Final = 1 << 9
IRQS_ONESHOT: Final = 1 << 5

IRQ_DISABLE_UNLAZY: Final = 1 << 19  # irq_settings flag
IRQ_PER_CPU_DEVID: Final = 1 << 17

IRQF_NOAUTOEN: Final = 1 << 19
IRQF_ONESHOT: Final = 1 << 13

IRQCHIP_EOI_THREADED: Final = 1 << 6
IRQCHIP_EOI_IF_HANDLED: Final = 1 << 1

Handler = Callable[[int, Any], int]


class IrqChip:
    """``struct irq_chip``; subclasses override what the hardware supports."""

    name = "none"
    flags = 0
    irq_set_vcpu_affinity: Callable[[IrqData, Any], int] | None = None
    irq_get_irqchip_state: Callable[[IrqData, int, int], bool | int] | None = None
    irq_set_irqchip_state: Callable[[IrqData, int, bool, int], int] | None = None
    irq_set_affinity: Callable[[IrqData, int], int] | None = None
    """Route the irq to one CPU (``irq_set_affinity``; None: not supported)."""
    irq_domain_activate: Callable[[IrqData, bool], int] | None = None
    """The ``activate`` op of the irq's domain (``irq_domain_ops``: a chip carries the ops of
    its domain here); None: nothing to do."""
    irq_domain_deactivate: Callable[[IrqData], None] | None = None
    """The ``deactivate`` op of the irq's domain."""

    def irq_mask(self, d: IrqData, cpu: int = 0) -> None:
        """Mask the interrupt at the controller."""

    def irq_unmask(self, d: IrqData, cpu: int = 0) -> None:
        """Unmask the interrupt at the controller."""

    def irq_eoi(self, d: IrqData, cpu: int = 0) -> None:
        """End of interrupt (fasteoi flow)."""


class IrqData:
    """``struct irq_data``: per-irq chip-level data and state bits."""

    __slots__ = ("chip", "chip_data", "hwirq", "irq", "parent_data", "state")

    def __init__(self, irq: int, hwirq: int, chip: IrqChip, parent: IrqData | None = None) -> None:
        self.irq = irq
        self.hwirq = hwirq
        self.chip = chip
        self.parent_data = parent
        self.chip_data: Any = None
        self.state = IRQD_IRQ_DISABLED | IRQD_IRQ_MASKED

    def irqd_is_forwarded_to_vcpu(self) -> bool:
        return bool(self.state & IRQD_FORWARDED_TO_VCPU)

    def irqd_set_forwarded_to_vcpu(self) -> None:
        self.state |= IRQD_FORWARDED_TO_VCPU

    def irqd_clr_forwarded_to_vcpu(self) -> None:
        self.state &= ~IRQD_FORWARDED_TO_VCPU

    def irqd_irq_disabled(self) -> bool:
        return bool(self.state & IRQD_IRQ_DISABLED)

    def irqd_irq_masked(self) -> bool:
        return bool(self.state & IRQD_IRQ_MASKED)

    def root(self) -> IrqData:
        """The last ``parent_data`` of the hierarchy (what kvm_vgic_map_phys_irq walks to)."""
        d = self
        while d.parent_data is not None:
            d = d.parent_data
        return d


class IrqAction:
    """``struct irqaction``."""

    __slots__ = ("dev_id", "flags", "handler", "name")

    def __init__(self, handler: Handler, flags: int, name: str, dev_id: Any) -> None:
        self.handler = handler
        self.flags = flags
        self.name = name
        self.dev_id = dev_id


class IrqDesc:
    """``struct irq_desc``."""

    __slots__ = ("action", "depth", "handle_irq", "irq_count", "irq_data", "istate", "settings")

    def __init__(self, irq_data: IrqData) -> None:
        self.irq_data = irq_data
        self.action: IrqAction | None = None
        self.depth = 1  # disabled until request_irq
        self.istate = 0
        self.settings = 0
        self.irq_count = 0
        self.handle_irq: Callable[[IrqDesc, int], int] = handle_bad_irq


def handle_bad_irq(desc: IrqDesc, cpu: int) -> int:
    """No flow handler installed: just EOI it."""
    desc.irq_data.chip.irq_eoi(desc.irq_data, cpu)
    return 0


def _mask_irq(desc: IrqDesc, cpu: int) -> None:
    d = desc.irq_data
    if not d.state & IRQD_IRQ_MASKED:
        d.chip.irq_mask(d, cpu)
        d.state |= IRQD_IRQ_MASKED


def _unmask_irq(desc: IrqDesc, cpu: int) -> None:
    d = desc.irq_data
    if d.state & IRQD_IRQ_MASKED:
        d.chip.irq_unmask(d, cpu)
        d.state &= ~IRQD_IRQ_MASKED


def handle_fasteoi_irq(desc: IrqDesc, cpu: int) -> int:
    """``handle_fasteoi_irq`` (kernel/irq/chip.c): run the action, then ``irq_eoi``.

    A disabled (lazily) or action-less irq is masked, marked ``IRQS_PENDING`` and EOI'd.
    Returns the handler's cost in ns.
    """
    d = desc.irq_data
    chip = d.chip
    action = desc.action
    if action is None or d.state & IRQD_IRQ_DISABLED:
        desc.istate |= IRQS_PENDING
        _mask_irq(desc, cpu)
        chip.irq_eoi(d, cpu)
        return 0
    desc.istate &= ~IRQS_PENDING
    desc.irq_count += 1
    cost = action.handler(d.irq, action.dev_id)
    chip.irq_eoi(d, cpu)
    return cost


def handle_percpu_devid_irq(desc: IrqDesc, cpu: int) -> int:
    """``handle_percpu_devid_irq``: per-CPU action, then ``irq_eoi``."""
    d = desc.irq_data
    action = desc.action
    cost = 0
    if action is not None:
        desc.irq_count += 1
        cost = action.handler(d.irq, action.dev_id)
    d.chip.irq_eoi(d, cpu)
    return cost


class Genirq:
    """The host kernel's irq number space and the genirq API (kernel/irq/manage.c)."""

    __slots__ = ("_last_desc", "_last_domain", "_last_hwirq", "_revmap", "descs", "next_irq")

    def __init__(self) -> None:
        self.descs: dict[int, IrqDesc] = {}
        self._revmap: dict[int, dict[int, IrqDesc]] = {}
        """Per irq domain, hwirq → descriptor (the ``irq_domain`` reverse map)."""
        self.next_irq = 1
        self._last_hwirq = -1
        self._last_domain = -1
        self._last_desc: IrqDesc | None = None
        """The last mapping found (an interrupt's handling looks its hwirq up several times;
        mappings are never removed, so it cannot go stale)."""

    def _find(self, hwirq: int, domain: int) -> IrqDesc | None:
        """``irq_resolve_mapping``: the descriptor of ``hwirq`` in ``domain`` (None: unmapped)."""
        if hwirq == self._last_hwirq and domain == self._last_domain:
            return self._last_desc
        revmap = self._revmap.get(domain)
        desc = None if revmap is None else revmap.get(hwirq)
        if desc is not None:
            self._last_hwirq = hwirq
            self._last_domain = domain
            self._last_desc = desc
        return desc

    # ---------------------------------------------------------------- domain
    def irq_create_mapping(self, chip: IrqChip, hwirq: int, domain: int = 0,
                           handler: Callable[[IrqDesc, int], int] = handle_fasteoi_irq) -> int:
        """``irq_create_mapping``: a Linux irq number for ``hwirq`` of ``domain`` (idempotent)."""
        found = self._find(hwirq, domain)
        if found is not None:
            return found.irq_data.irq
        irq = self.next_irq
        self.next_irq += 1
        desc = IrqDesc(IrqData(irq, hwirq, chip))
        desc.handle_irq = handler
        self.descs[irq] = desc
        self._revmap.setdefault(domain, {})[hwirq] = desc
        return irq

    def irq_find_mapping(self, hwirq: int, domain: int = 0) -> int:
        """Linux irq for ``hwirq`` (0 when unmapped)."""
        desc = self._find(hwirq, domain)
        return 0 if desc is None else desc.irq_data.irq

    def irq_to_desc(self, irq: int) -> IrqDesc:
        desc = self.descs.get(irq)
        if desc is None:
            raise KeyError(f"no irq descriptor for irq {irq}")
        return desc

    def irq_get_irq_data(self, irq: int) -> IrqData:
        return self.irq_to_desc(irq).irq_data

    def irq_action_name(self, hwirq: int, domain: int = 0) -> str:
        """The name ``request_irq`` gave ``hwirq``'s action ("" when none; for tracing)."""
        desc = self._find(hwirq, domain)
        action = None if desc is None else desc.action
        return "" if action is None else action.name

    def generic_handle_domain_irq(self, hwirq: int, cpu: int, domain: int = 0) -> int:
        """Run the flow handler of ``hwirq``; returns its cost (ns), or -1 if unmapped."""
        desc = self._find(hwirq, domain)
        if desc is None:
            return -1
        return desc.handle_irq(desc, cpu)

    # ---------------------------------------------------------------- request / free
    def request_irq(self, irq: int, handler: Handler, flags: int = 0, name: str = "",
                    dev_id: Any = None, cpu: int = 0) -> int:
        """``request_irq``: install the action and, unless ``IRQF_NOAUTOEN``, enable (unmask)."""
        desc = self.irq_to_desc(irq)
        if desc.action is not None:
            return EBUSY
        desc.action = IrqAction(handler, flags, name, dev_id)
        if flags & IRQF_ONESHOT:
            desc.istate |= IRQS_ONESHOT
        desc.irq_data.state |= IRQD_IRQ_STARTED
        if flags & IRQF_NOAUTOEN:
            desc.depth = 1
            desc.irq_data.state |= IRQD_IRQ_DISABLED
        else:
            desc.depth = 0
            desc.irq_data.state &= ~IRQD_IRQ_DISABLED
            _unmask_irq(desc, cpu)
        return 0

    def request_percpu_irq(self, irq: int, handler: Handler, name: str = "", dev_id: Any = None) -> int:
        """``request_percpu_irq``: install a per-CPU action (enable per CPU with enable_percpu_irq)."""
        desc = self.irq_to_desc(irq)
        if desc.action is not None:
            return EBUSY
        desc.settings |= IRQ_PER_CPU_DEVID
        desc.handle_irq = handle_percpu_devid_irq
        desc.action = IrqAction(handler, 0, name, dev_id)
        return 0

    def enable_percpu_irq(self, irq: int, cpu: int) -> None:
        """``enable_percpu_irq``: unmask the banked copy of ``cpu``."""
        d = self.irq_get_irq_data(irq)
        d.chip.irq_unmask(d, cpu)
        d.state &= ~(IRQD_IRQ_MASKED | IRQD_IRQ_DISABLED)

    def disable_percpu_irq(self, irq: int, cpu: int) -> None:
        """``disable_percpu_irq``: mask the banked copy of ``cpu``."""
        d = self.irq_get_irq_data(irq)
        d.chip.irq_mask(d, cpu)

    def free_irq(self, irq: int, dev_id: Any = None, cpu: int = 0) -> Any:
        """``free_irq``: remove the action and shut the irq down (``irq_shutdown`` masks it)."""
        desc = self.irq_to_desc(irq)
        action = desc.action
        if action is None:
            return None
        desc.action = None
        d = desc.irq_data
        d.chip.irq_mask(d, cpu)
        d.state |= IRQD_IRQ_MASKED | IRQD_IRQ_DISABLED
        d.state &= ~IRQD_IRQ_STARTED
        desc.depth = 1
        desc.istate &= ~(IRQS_PENDING | IRQS_ONESHOT)
        return action.dev_id

    # ---------------------------------------------------------------- disable / enable
    def irq_set_status_flags(self, irq: int, flags: int) -> None:
        """``irq_set_status_flags`` (e.g. ``IRQ_DISABLE_UNLAZY``)."""
        self.irq_to_desc(irq).settings |= flags

    def disable_irq_nosync(self, irq: int, cpu: int = 0) -> None:
        """``disable_irq_nosync``: depth += 1; on 0 → 1, mark disabled.

        Lazy disable (default): the chip is *not* masked; the next occurrence is masked by
        the flow handler (``IRQS_PENDING``).  With ``IRQ_DISABLE_UNLAZY`` the chip is
        masked at once (``__irq_disable``).
        """
        desc = self.irq_to_desc(irq)
        desc.depth += 1
        if desc.depth == 1:
            d = desc.irq_data
            d.state |= IRQD_IRQ_DISABLED
            if desc.settings & IRQ_DISABLE_UNLAZY:
                _mask_irq(desc, cpu)

    def disable_irq(self, irq: int, cpu: int = 0) -> None:
        """``disable_irq`` (synchronize_irq has nothing to wait for in the model)."""
        self.disable_irq_nosync(irq, cpu)

    def enable_irq(self, irq: int, cpu: int = 0) -> None:
        """``enable_irq``: depth -= 1; on 1 → 0 clear disabled and unmask.

        ``check_irq_resend`` does not replay level interrupts (the line re-asserts).
        """
        desc = self.irq_to_desc(irq)
        if desc.depth == 0:
            return  # "Unbalanced enable" WARN in Linux
        desc.depth -= 1
        if desc.depth == 0:
            d = desc.irq_data
            d.state &= ~IRQD_IRQ_DISABLED
            desc.istate &= ~IRQS_PENDING
            _unmask_irq(desc, cpu)

    # ---------------------------------------------------------------- domain activation
    def irq_domain_activate_irq(self, irq: int, reserve: bool = False) -> int:
        """``irq_domain_activate_irq``: the domains' ``activate`` ops, parent first, unless
        the irq is already activated (``IRQD_ACTIVATED``)."""
        d = self.irq_get_irq_data(irq)
        if d.state & IRQD_ACTIVATED:
            return 0
        chain: list[IrqData] = []
        p: IrqData | None = d
        while p is not None:
            chain.append(p)
            p = p.parent_data
        for x in reversed(chain):
            cb = x.chip.irq_domain_activate
            if cb is not None:
                ret = cb(x, reserve)
                if ret:
                    return ret
        d.state |= IRQD_ACTIVATED
        return 0

    def irq_domain_deactivate_irq(self, irq: int) -> None:
        """``irq_domain_deactivate_irq``: the domains' ``deactivate`` ops, child first, if
        the irq is activated."""
        d = self.irq_get_irq_data(irq)
        if not d.state & IRQD_ACTIVATED:
            return
        p: IrqData | None = d
        while p is not None:
            cb = p.chip.irq_domain_deactivate
            if cb is not None:
                cb(p)
            p = p.parent_data
        d.state &= ~IRQD_ACTIVATED

    # ---------------------------------------------------------------- vcpu affinity / state
    def irq_set_vcpu_affinity(self, irq: int, vcpu_info: Any) -> int:
        """``irq_set_vcpu_affinity``: the first chip of the hierarchy with the callback decides.

        Non-``None`` ``vcpu_info`` forwards (the GIC chip sets ``IRQD_FORWARDED_TO_VCPU``),
        ``None`` un-forwards.  Returns ``-ENOSYS`` when no chip implements it.
        """
        d: IrqData | None = self.irq_get_irq_data(irq)
        while d is not None:
            cb = d.chip.irq_set_vcpu_affinity
            if cb is not None:
                return cb(d, vcpu_info)
            d = d.parent_data
        return ENOSYS

    def irq_set_affinity(self, irq: int, cpu: int) -> int:
        """``irq_set_affinity`` to one CPU: the first chip of the hierarchy with
        ``irq_set_affinity`` decides; -EINVAL when none implements it."""
        d: IrqData | None = self.irq_get_irq_data(irq)
        while d is not None:
            cb = d.chip.irq_set_affinity
            if cb is not None:
                return cb(d, cpu)
            d = d.parent_data
        return EINVAL

    def irq_get_irqchip_state(self, irq: int, which: int, cpu: int = 0) -> tuple[int, bool]:
        """``irq_get_irqchip_state``: ``(0, state)`` or ``(-EINVAL, False)``."""
        d: IrqData | None = self.irq_to_desc(irq).irq_data
        while d is not None:
            cb = d.chip.irq_get_irqchip_state
            if cb is not None:
                return 0, bool(cb(d, which, cpu))
            d = d.parent_data
        return EINVAL, False

    def irq_set_irqchip_state(self, irq: int, which: int, val: bool, cpu: int = 0) -> int:
        """``irq_set_irqchip_state``: 0, or ``-EINVAL`` when no chip supports it."""
        d: IrqData | None = self.irq_to_desc(irq).irq_data
        while d is not None:
            cb = d.chip.irq_set_irqchip_state
            if cb is not None:
                return cb(d, which, val, cpu)
            d = d.parent_data
        return EINVAL
