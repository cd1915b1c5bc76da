"""Delivery designs: how a pass-through device interrupt reaches the guest.

Each design is one declarative :class:`Design` record of flags; the layers read the flags
they care about (VFIO: ``vfio_automask``, ``early_unmask``; irqfd: ``irqfd_mode``; forwarding
set-up: ``forward``, ``hw_deactivation``, ``direct_inject``; vgic: ``level_eoi_bit``,
``hw_lr_pending_active``; teardown: ``teardown_deactivate``).  ``docs/designs.md`` describes
each design and the per-interrupt counts it implies.

``irqfd-resample``
    Upstream KVM/QEMU for VFIO platform level IRQs (``vfio_platform_irq.c``, ``virt/kvm/eventfd.c``): VFIO automask
    (``disable_irq_nosync``) + trigger eventfd → irqfd (resample) → vgic SPI, LR with the EOI
    bit; guest EOI → maintenance interrupt → fold → ``kvm_notify_acked_irq`` → resampler
    de-asserts and signals the resamplefd → VFIO virqfd unmask (``enable_irq``).
``forwarded``
    Eric Auger's forwarding (the 2015 "KVM-VFIO IRQ forward control" series, unmerged): ``irq_set_vcpu_affinity`` + ``kvm_vgic_map_phys_irq``;
    host EOImode 1 (priority drop only, no DIR for the forwarded irq); no VFIO mask/unmask
    (the GIC active state masks the line); LR with HW=1 and pINTID; the guest's EOI
    deactivates the physical irq.  Injection still eventfd → irqfd (asserting only: a
    mapped level irq is re-sampled from the physical line at fold).
``forwarded-direct``
    ``forwarded`` plus injection straight from the VFIO hard-irq handler through an
    irqbypass producer/consumer pair (token = trigger eventfd): no eventfd signal, no
    workqueue hop.  (Upstream's arm64 ``kvm_arch_irq_bypass_add_producer`` refuses non-MSI routes.)
``sw-deactivate``
    Hosts without hardware deactivation (Apple M1-like, ``gic_kvm_info.no_hw_deactivation``, Linux 5.14): the irq is forwarded
    (so the host never deactivates it in ``irq_eoi``) and mapped with
    ``VGIC_IRQ_SW_RESAMPLE``: the LR has no HW bit and has the EOI bit; the guest's EOI
    causes a maintenance interrupt and KVM deactivates the physical irq at fold
    (``vgic_irq_set_phys_active(false)``); a still-high line fires again.

GICv3/v4 designs (``docs/designs.md``, "GICv3 and GICv4"):

``its-emulated``
    MSI-X devices: VFIO's ``vfio_msihandler`` signals the vector's trigger eventfd, whose
    irqfd is routed to an MSI (``KVM_IRQ_ROUTING_MSI``): ``kvm_arch_set_irq_inatomic``
    injects through the emulated ITS's translation cache (``vgic_its_inject_cached_translation``),
    a miss goes through ``irqfd_inject`` → ``vgic_its_inject_msi``; the LPI reaches the
    guest through a list register (edge: no EOI maintenance).  Needs a GICv3.
``gicv4-direct``
    ``kvm-arm.vgic_v4_enable=1``: the irqbypass consumer of an MSI irqfd maps the vector's
    host LPI to a vLPI of the target vCPU's vPE (``kvm_vgic_v4_set_forwarding`` →
    ``its_map_vlpi``, VMAPTI): the device's MSI is delivered by the ITS and redistributor
    to the resident vPE with no host interrupt and no exit, or rings the vPE's doorbell
    when the vCPU blocks.  Needs a GICv4.
``gicv41-vsgi``
    ``gicv4-direct`` with the guest setting GICD_CTLR.nASSGIreq: SGIs become vSGIs of the
    vPEs (``vgic_v4_enable_vsgis``); a guest IPI still traps (ICC_SGI1R_EL1) but is
    forwarded with a GITS_SGIR write, not queued in an LR.  Needs a GICv4.1.

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

__all__ = ["DESIGNS", "GIC_ORDER", "Design", "check_design_gic", "get_design"]


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
    level_eoi_bit: bool = True
    hw_lr_pending_active: bool = False
    teardown_deactivate: bool = True
    """Teardown frees (masks) the irq while still forwarded, which clears its active state."""
    fault: bool = False
    gic: str = "v2"
    """The oldest GIC the design needs: ``v2`` (any), ``v3``, ``v4`` or ``v4.1``."""
    vgic_v4_enable: bool = False
    """``kvm-arm.vgic_v4_enable=1``: KVM uses GICv4 direct injection (MSIs become vLPIs)."""
    nassgireq: bool = False
    """The guest sets GICD_CTLR.nASSGIreq (GICv4.1: SGIs injected directly as vSGIs)."""


DESIGNS: dict[str, Design] = {
    d.name: d
    for d in (
        Design("irqfd-resample", "VFIO automask + eventfd + irqfd resamplefd + EOI maintenance"),
        Design("forwarded", "HW-bit forwarding, eventfd → irqfd injection",
               forward=True, vfio_automask=False, irqfd_mode="mapped"),
        Design("forwarded-direct", "HW-bit forwarding, injection from the VFIO handler via irqbypass",
               forward=True, vfio_automask=False, irqfd_mode="mapped", direct_inject=True),
        Design("sw-deactivate", "no HW deactivation: EOI maintenance + software deactivation",
               forward=True, hw_deactivation=False, vfio_automask=False, irqfd_mode="mapped"),
        Design("its-emulated", "MSI → eventfd → irqfd → KVM's emulated ITS (vgic_its_inject_msi)",
               gic="v3"),
        Design("gicv4-direct", "GICv4: VFIO MSI mapped to a vLPI through irqbypass, no exit",
               gic="v4", vgic_v4_enable=True),
        Design("gicv41-vsgi", "GICv4.1: gicv4-direct, and SGIs injected directly as vSGIs",
               gic="v4.1", vgic_v4_enable=True, nassgireq=True),
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


GIC_ORDER = ("v2", "v3", "v4", "v4.1")
"""GIC versions from the oldest; a design runs on its ``gic`` and every later one."""


def check_design_gic(d: Design, gic: str) -> None:
    """:class:`InputError` when design ``d`` needs a newer GIC than ``gic``."""
    if GIC_ORDER.index(gic) < GIC_ORDER.index(d.gic):
        raise InputError(f"design {d.name!r} needs a GIC{d.gic} (the scenario has GIC{gic}): "
                         f"run it with --gic {d.gic}" + (" or later" if d.gic != "v4.1" else ""))


def get_design(name: str) -> Design:
    """The design called ``name``; :class:`InputError` naming the choices otherwise."""
    d = DESIGNS.get(name)
    if d is None:
        raise InputError(f"unknown design {name!r}; choose one of: {', '.join(DESIGNS)}")
    return d
