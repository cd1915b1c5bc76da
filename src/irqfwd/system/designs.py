"""Delivery designs: how a pass-through device interrupt reaches the guest.

Each design is one declarative :class:`Design` record of flags; the layers read the flags
they care about (VFIO: ``vfio_automask``, ``early_unmask``; irqfd: ``irqfd_mode``; forwarding
set-up: ``forward``, ``hw_deactivation``, ``direct_inject``; vgic: ``level_eoi_bit``,
``hw_lr_pending_active``, ``hw_retained_level``; teardown: ``teardown_deactivate``; arch
timer: ``timer_preserve_active``).  ``docs/designs.md`` describes
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

Fault variants reproduce a known bug or hazard of the Linux code each names (the commit
or thread, ``docs/designs.md`` "Fault variants", says which ids were checked); each breaks
the invariant rule of :mod:`irqfwd.check.invariants` named after it, and no clean design
breaks any rule:

``fault-level-no-eoi-bit``
    ``irqfd-resample`` whose level LRs lack GICH_LR.EOI (``vgic_v2_populate_lr``): no
    maintenance interrupt, so ``vgic_v2_fold_lr_state`` never calls
    ``kvm_notify_acked_irq`` and the resampler never runs (the contract of 7a84428af7ca
    "KVM: Add resampling irqfds for level triggered interrupts" and 174178fed338 "KVM:
    arm/arm64: add irqfd support"); the GSI stays asserted (the guest is re-interrupted by
    a virtual irq the device no longer asserts) and the VFIO line stays masked, so later
    device interrupts are lost.  Rule ``level-storm``.
``fault-early-unmask``
    ``irqfd-resample`` where VFIO unmasks right after signalling the trigger instead of on
    the resamplefd: the automasking of 06211b40ce6b ("vfio/platform: support for level
    sensitive interrupts", ``vfio_automasked_irq_handler`` / ``vfio_platform_unmask``) is
    undone before the guest acknowledged the device, so the still-asserted level line fires
    again → spurious host interrupts (a storm while the guest is slow).  Rule ``level-storm``.
``fault-no-teardown-deactivate``
    ``forwarded`` whose teardown un-forwards the irq *before* freeing it, so the mask path
    (``gic_eoimode1_mask_irq``: "When masking a forwarded interrupt, make sure it is
    deactivated as well ... there is noone to deactivate it (guest is being terminated)")
    no longer clears the active state: an irq the guest held active at VM teardown stays
    Active on the host forever.  Rule ``stale-active`` (and ``deactivate-exactly-once``).
``fault-hw-lr-pending-active``
    ``forwarded`` whose ``vgic_v2_populate_lr`` writes a HW=1 LR Pending+Active when the vgic
    holds a mapped irq pending while active (the code says "Never set pending+active on a
    HW interrupt, as the pending state is kept at the physical distributor level"; the
    lineage notes give 3d6e77ad1489 "vgic-v2/v3: Do not use Active+Pending state for a HW
    interrupt", id not re-checked): the guest's EOI deactivates the physical interrupt and
    leaves the LR pending, so the guest takes the interrupt a second time with nothing
    behind it.  Only the timer gets there (``kvm_timer_vcpu_load_gic`` raising the level of
    an active vINTID 27 when a vCPU was preempted between its GICV_IAR and its CNTV_CTL
    write).  Rule ``hw-lr-pending-active``.
``fault-hw-retained-level``
    ``forwarded`` whose vgic keeps a mapped level interrupt's ``line_level`` across the
    guest's deactivation through the HW bit: ``vgic_v2_populate_lr`` does not lower it
    once queued (e40cc57bac79 "vgic: Support level-triggered mapped interrupts") and
    ``vgic_irq_handle_resampling`` does not re-sample it when the guest deactivates an irq
    that entered pending+active (3134cc8beb69 "vgic: Resample HW pending state on
    deactivation", Fixes: e40cc57bac79); the vgic re-injects the interrupt though the
    device de-asserted, in a HW=1 LR whose physical INTID is inactive.  Rule
    ``hw-lr-phys-inactive`` (and ``level-storm``).
``fault-timer-clear-active``
    ``forwarded`` whose arch timer, at ``kvm_timer_vcpu_load_gic``, sets the vtimer PPI's
    physical Active state from the timer output alone, ignoring the virtual interrupt's
    active state (before 0e3dfda91d9f "arch_timer: Preserve physical dist. active state on
    LR.active": "the architecture requires that when an LR has the HW bit set and the
    pending or active bits set, then the physical interrupt must also have the
    corresponding bits set"): a vCPU put while in its timer handler, output already masked,
    is loaded with an active HW=1 LR over an inactive PPI.  Rule ``hw-lr-phys-inactive``.
"""

from __future__ import annotations

from dataclasses import dataclass

from irqfwd.config import ScenarioConfig
from irqfwd.errors import InputError

__all__ = ["DESIGNS", "GIC_ORDER", "MSI_DESIGNS", "Design", "check_designs", "default_designs", "get_design", "unsupported"]


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
    """Fault: a HW=1 LR may be written Pending+Active (``vgic_v2_populate_lr``)."""
    hw_retained_level: bool = False
    """Fault: a mapped level irq's ``line_level`` is neither lowered when queued
    (e40cc57bac79) nor re-sampled after the guest's HW deactivation (3134cc8beb69)."""
    teardown_deactivate: bool = True
    """Teardown frees (masks) the irq while still forwarded, which clears its active state."""
    timer_preserve_active: bool = True
    """The arch timer keeps the vtimer PPI Active at vcpu load while the vINTID is active
    (``kvm_timer_vcpu_load_gic``, 0e3dfda91d9f)."""
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
        Design("vmm-irqline", "no irqfd: the VMM's main loop, KVM_IRQ_LINE, EOI on the trapped BAR access",
               injection="irq-line"),
        Design("sw-deactivate", "no HW deactivation: EOI maintenance + software deactivation",
               forward=True, hw_deactivation=False, vfio_automask=False, irqfd_mode="mapped"),
        Design("its-emulated", "MSI → eventfd → irqfd → KVM's emulated ITS (vgic_its_inject_msi)",
               gic="v3"),
        Design("gicv4-direct", "GICv4: VFIO MSI mapped to a vLPI through irqbypass, no exit",
               gic="v4", vgic_v4_enable=True),
        Design("gicv41-vsgi", "GICv4.1: gicv4-direct, and SGIs injected directly as vSGIs",
               gic="v4.1", vgic_v4_enable=True, nassgireq=True),
        Design("fault-level-no-eoi-bit",
               "irqfd-resample without GICH_LR.EOI: no kvm_notify_acked_irq, no resample (7a84428af7ca)",
               level_eoi_bit=False, fault=True),
        Design("fault-early-unmask",
               "irqfd-resample with VFIO unmask before the guest EOI: level storm (06211b40ce6b)",
               early_unmask=True, fault=True),
        Design("fault-no-teardown-deactivate",
               "forwarded, un-forwarded before free: gic_eoimode1_mask_irq leaves it Active",
               forward=True, vfio_automask=False, irqfd_mode="mapped", teardown_deactivate=False,
               fault=True),
        Design("fault-hw-lr-pending-active",
               "forwarded with Pending+Active HW=1 LRs (vgic_v2_populate_lr; 3d6e77ad1489)",
               forward=True, vfio_automask=False, irqfd_mode="mapped", hw_lr_pending_active=True,
               fault=True),
        Design("fault-hw-retained-level",
               "forwarded, mapped level line_level kept after HW deactivation (e40cc57bac79, 3134cc8beb69)",
               forward=True, vfio_automask=False, irqfd_mode="mapped", hw_retained_level=True,
               fault=True),
        Design("fault-timer-clear-active",
               "forwarded, timer PPI Active cleared at vcpu load under an active HW LR (0e3dfda91d9f)",
               forward=True, vfio_automask=False, irqfd_mode="mapped", timer_preserve_active=False,
               fault=True),
    )
}

NAMES = tuple(DESIGNS)
"""Design names in presentation order."""


GIC_ORDER = ("v2", "v3", "v4", "v4.1")
"""GIC versions from the oldest; a design runs on its ``gic`` and every later one."""


def get_design(name: str) -> Design:
    """The design called ``name``; :class:`InputError` naming the choices otherwise."""
    d = DESIGNS.get(name)
    if d is None:
        raise InputError(f"unknown design {name!r}; choose one of: {', '.join(DESIGNS)}")
    return d


def unsupported(design: Design, config: ScenarioConfig) -> str | None:
    """Why ``design`` cannot run ``config``, or None: it needs a newer GIC than the
    scenario's, or it is QEMU's INTx path (``vmm-irqline``),
    which serves level-triggered lines only: PCI INTx is level (PCI Local Bus 3.0
    §2.2.6), and QEMU routes edge sources (MSI) through irqfd instead; or it injects MSIs
    directly (GICv4) into a scenario that routes an MSI-X device's host LPIs
    (``host_cpu``): a vLPI has no host route, ``its_set_affinity`` refuses it (-EINVAL)."""
    if GIC_ORDER.index(config.gic) < GIC_ORDER.index(design.gic):
        return (f"design {design.name!r} needs a GIC{design.gic} (the scenario has "
                f"GIC{config.gic}): run it with --gic {design.gic}"
                + (" or later" if design.gic != "v4.1" else ""))
    if design.vgic_v4_enable:
        for i, dev in enumerate(config.devices):
            if dev.kind == "msix-nic" and dev.host_cpu is not None:
                return (f"devices.{i}.host_cpu: design {design.name!r} maps the MSI-X vectors of device "
                        f"{dev.name!r} to vLPIs, delivered to the redistributor of the target vCPU's "
                        "vPE, not to a host CPU (its_set_affinity refuses a forwarded LPI: -EINVAL); "
                        "unset host_cpu or run a design where the host takes the LPIs (its-emulated)")
    if design.injection == "irq-line":
        for dev in config.devices:
            if dev.kind != "nic":
                return (f"design {design.name!r} is QEMU's INTx path: device {dev.name!r} "
                        f"({dev.kind}) has no INTx line")
            if dev.trigger != "level":
                return (f"design {design.name!r} is QEMU's INTx path: device {dev.name!r} "
                        "must be level-triggered")
    return None


MSI_DESIGNS: tuple[str, ...] = ("its-emulated", "gicv4-direct")
"""The designs of a scenario with MSI-X devices (those its GIC allows)."""


def check_designs(config: ScenarioConfig) -> None:
    """:class:`InputError` naming the field ``designs`` if the scenario's own list of designs
    names one that does not exist (checked here, not in :mod:`irqfwd.config`, which is below
    this module)."""
    for name in config.designs or ():
        if name not in DESIGNS:
            raise InputError(f"designs: unknown design {name!r} (known: {', '.join(DESIGNS)})")


def default_designs(config: ScenarioConfig, names: tuple[str, ...]) -> list[str]:
    """The designs ``irqfwd compare`` runs without ``--designs``: of the scenario's own list,
    else of :data:`MSI_DESIGNS` for MSI-X devices, else of ``names``, those that can run
    ``config`` (:func:`unsupported`: e.g. no ``vmm-irqline`` for an edge device, no
    ``gicv4-direct`` on a GICv3); :class:`InputError` if the scenario's list names an
    unknown design."""
    check_designs(config)
    if config.designs:
        names = tuple(config.designs)
    elif any(d.kind == "msix-nic" for d in config.devices):
        names = MSI_DESIGNS
    return [n for n in names if unsupported(DESIGNS[n], config) is None]
