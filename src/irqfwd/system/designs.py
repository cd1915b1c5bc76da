"""Delivery designs: how a pass-through device interrupt reaches the guest.

Each design is one declarative :class:`Design` record of flags; the layers read the flags
they care about (VFIO: ``vfio_automask``, ``early_unmask``; irqfd: ``irqfd_mode``; forwarding
set-up: ``forward``, ``hw_deactivation``, ``direct_inject``; vgic: ``level_eoi_bit``,
``hw_lr_pending_active``; teardown: ``teardown_deactivate``).  ``docs/designs.md`` describes
each design and the per-interrupt counts it implies.

``irqfd-resample``
    Upstream KVM/QEMU for VFIO level IRQs (``vfio_platform_irq.c`` / ``vfio_pci_intrs.c``,
    ``virt/kvm/eventfd.c``): VFIO automask + trigger eventfd → irqfd (resample) → vgic SPI,
    LR with the EOI bit; guest EOI → maintenance interrupt → fold → ``kvm_notify_acked_irq``
    → resampler de-asserts and signals the resamplefd → VFIO's virqfd unmask (synchronous).
``forwarded``
    Eric Auger's forwarding (the 2015 "KVM-VFIO IRQ forward control" series, unmerged): ``irq_set_vcpu_affinity`` + ``kvm_vgic_map_phys_irq``;
    host EOImode 1 (priority drop only, no DIR for the forwarded irq); no VFIO mask/unmask
    (the GIC active state masks the line); LR with HW=1 and pINTID; the guest's EOI
    deactivates the physical irq.  Injection still eventfd → irqfd (asserting only: a
    mapped level irq is re-sampled from the physical line at fold).
``forwarded-direct``
    ``forwarded`` plus injection straight from the VFIO hard-irq handler through an
    irqbypass producer/consumer pair (token = trigger eventfd): no eventfd signal (and on a
    5.8 host no kworker hop).  (Upstream's arm64 ``kvm_arch_irq_bypass_add_producer``
    refuses non-MSI routes.)
``vmm-irqline``
    No KVM irqfd: the VMM's main loop reads the VFIO trigger eventfd and raises the guest's
    SPI with ``KVM_IRQ_LINE``; the guest's acknowledgement of its device (a BAR access,
    trapped since QEMU unmapped the BARs at the interrupt) makes QEMU lower the line and
    unmask INTx with ``VFIO_DEVICE_SET_IRQS`` (``vfio_intx_eoi``, hw/vfio/pci.c).  The path a
    VMM falls back to without in-kernel acceleration; level devices.
``sw-deactivate``
    Hosts without hardware deactivation (Apple M1-like, ``gic_kvm_info.no_hw_deactivation``, Linux 5.14): the irq is forwarded
    (so the host never deactivates it in ``irq_eoi``) and mapped with
    ``VGIC_IRQ_SW_RESAMPLE``: the LR has no HW bit and has the EOI bit; the guest's EOI
    causes a maintenance interrupt and KVM deactivates the physical irq at fold
    (``vgic_irq_set_phys_active(false)``); a still-high line fires again.

Fault variants reproduce known bugs:

``fault-level-no-eoi-bit``
    ``irqfd-resample`` whose level LRs lack the EOI bit: no maintenance interrupt, no ack
    notifier, no resample; the GSI stays asserted (the guest is re-interrupted by a
    virtual irq the device no longer asserts) and the VFIO line stays masked, so later
    device interrupts are lost.
``fault-early-unmask``
    ``irqfd-resample`` where VFIO unmasks right after signalling the trigger instead of on
    the resamplefd: the still-asserted level line fires again before the guest acknowledged
    the device → spurious host interrupts (a storm while the guest is slow).
``fault-no-teardown-deactivate``
    ``forwarded`` whose teardown un-forwards the irq *before* freeing it, so the mask path
    (``gic_eoimode1_mask_irq``) no longer clears the active state: an irq the guest held
    active at VM teardown stays Active on the host forever (``gic_eoimode1_mask_irq`` clears Active only while forwarded).
``fault-hw-lr-pending-active``
    ``forwarded`` with the pre-3d6e77ad1489 vgic: a HW LR may be written Pending+Active and
    a mapped level irq keeps ``line_level`` after queueing (the pre-v4.16 behaviour), so the
    guest is re-delivered an interrupt whose physical side is already deactivated (a second
    deactivation of the physical INTID).
"""

from __future__ import annotations

from dataclasses import dataclass

from irqfwd.errors import InputError

__all__ = ["DESIGNS", "Design", "get_design"]


@dataclass(frozen=True)
class Design:
    """One delivery design (see the module docstring)."""

    name: str
    summary: str
    forward: bool = False
    """irq_set_vcpu_affinity(host irq, vcpu) + kvm_vgic_map_phys_irq."""
    hw_deactivation: bool = True
    """Mapped irqs use the LR HW bit (False: VGIC_IRQ_SW_RESAMPLE, EOI maintenance)."""
    vfio_automask: bool = True
    """VFIO masks level IRQs in its handler (disable_irq_nosync)."""
    irqfd_mode: str = "resample"
    """Level devices: "resample" (resamplefd → VFIO unmask), "mapped" (assert only)."""
    direct_inject: bool = False
    """Inject from the VFIO hard-irq handler through irqbypass (no eventfd signal)."""
    early_unmask: bool = False
    injection: str = "irqfd"
    """"irqfd" (KVM_IRQFD on the trigger eventfd) or "irq-line" (the VMM's main loop and
    KVM_IRQ_LINE, :mod:`irqfwd.vmm`)."""
    level_eoi_bit: bool = True
    hw_lr_pending_active: bool = False
    teardown_deactivate: bool = True
    """Teardown frees (masks) the irq while still forwarded, which clears its active state."""
    fault: bool = False


DESIGNS: dict[str, Design] = {
    d.name: d
    for d in (
        Design("irqfd-resample", "VFIO automask + eventfd + irqfd resamplefd + EOI maintenance"),
        Design("forwarded", "HW-bit forwarding, eventfd → irqfd injection",
               forward=True, vfio_automask=False, irqfd_mode="mapped"),
        Design("forwarded-direct", "HW-bit forwarding, injection from the VFIO handler via irqbypass",
               forward=True, vfio_automask=False, irqfd_mode="mapped", direct_inject=True),
        Design("vmm-irqline", "no irqfd: the VMM's main loop, KVM_IRQ_LINE, EOI on the trapped BAR access",
               injection="irq-line"),
        Design("sw-deactivate", "no HW deactivation: EOI maintenance + software deactivation",
               forward=True, hw_deactivation=False, vfio_automask=False, irqfd_mode="mapped"),
        Design("fault-level-no-eoi-bit", "irqfd-resample without the LR EOI bit (lost interrupts)",
               level_eoi_bit=False, fault=True),
        Design("fault-early-unmask", "irqfd-resample with VFIO unmask before the guest EOI (storm)",
               early_unmask=True, fault=True),
        Design("fault-no-teardown-deactivate", "forwarded, un-forwarded before free at teardown",
               forward=True, vfio_automask=False, irqfd_mode="mapped", teardown_deactivate=False,
               fault=True),
        Design("fault-hw-lr-pending-active", "forwarded with Pending+Active HW LRs (pre-3d6e77ad1489)",
               forward=True, vfio_automask=False, irqfd_mode="mapped", hw_lr_pending_active=True,
               fault=True),
    )
}

NAMES = tuple(DESIGNS)
"""Design names in presentation order."""


def get_design(name: str) -> Design:
    """The design called ``name``; :class:`InputError` naming the choices otherwise."""
    d = DESIGNS.get(name)
    if d is None:
        raise InputError(f"unknown design {name!r}; choose one of: {', '.join(DESIGNS)}")
    return d
