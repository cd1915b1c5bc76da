"""Kernel profiles: which Linux the host model follows (``HostConfig.kernel``).

Each profile is a set of behaviour switches, each following a Linux function or commit
(``docs/designs.md``, "Kernel profiles"):

========================  ===========  ===========  ===========  ===========
switch                    ``5.8``      ``6.1``      ``6.12``     ``current``
========================  ===========  ===========  ===========  ===========
irqfd SPI injection       workqueue    signaller    signaller    signaller
halt_poll_ns_shrink       0 (reset)    0 (reset)    2 (halve)    2 (halve)
arch timer Active write   cached       every load   every load   every load
                          "inactive"
LR overflow maintenance   UIE          UIE          UIE          NPIE/LRENPIE/UIE
                                                                 + VGrp enables
ap_list order             active 1st   active 1st   active 1st   pending 1st
flush sorts when          LR depth     LR depth     LR depth     irqs > LRs
                          > LRs or     > LRs or     > LRs or
                          multi-SGI    multi-SGI    multi-SGI
GICV_DIR                  mapped       mapped       mapped       trapped
fair scheduler            CFS          CFS          EEVDF        EEVDF
vLPI unset finds          vITS         vITS         vITS         host irq
========================  ===========  ===========  ===========  ===========

``6.12`` is the kernel ``irqfwd measure`` boots (Debian's 6.12.118): its halt-polling
shrink factor is read from the 6.12.y source; EEVDF replaced CFS in 6.6.

* In-atomic injection: "KVM: arm64: Allow in-atomic injection of SPIs" (v5.9):
  ``irqfd_wakeup`` → ``kvm_arch_set_irq_inatomic`` injects an SPI from the context that
  signalled the eventfd (VFIO's hard-irq handler) and falls back to ``schedule_work`` only
  on ``-EWOULDBLOCK``; before it, every SPI went through ``irqfd_inject`` on a kworker.
* Halt polling (``kvm_vcpu_halt``): ``halt_poll_ns`` (arm64 ``KVM_HALT_POLL_NS_DEFAULT``
  500000), ``halt_poll_ns_grow`` 2, ``halt_poll_ns_grow_start`` 10000; a long block shrinks
  the window (``shrink_halt_poll_ns``: divide by ``halt_poll_ns_shrink``, 0 = reset).
* The arch timer: ``kvm_timer_vcpu_load_gic`` writes the physical Active state with
  ``irq_set_irqchip_state`` on every load in 6.x; the 5.8 profile keeps the "inactive only"
  cache of commit 9b4a3004439d.
* LR overflow: up to 2025 ``vgic_flush_lr_state`` sets GICH_HCR.UIE when every LR is used
  and the ap_list holds more (``vgic_set_underflow``); the 2025 rework
  (``vgic_v2_configure_hcr``) asks for NPIE/LRENPIE/UIE from a summary of what stayed out
  of the LRs and for the group enable/disable maintenance interrupts, sorts pending irqs
  before active ones (``vgic_irq_cmp``), and always traps GICV_DIR on GICv2.  Before it,
  ``compute_ap_list_depth`` counted a GICv2 SGI once per source and a multi-source SGI
  forced the sort and held back lower priorities; since, ``summarize_ap_list`` counts it
  once (the ``lr_overflow`` switch selects both).
* vLPI forwarding (``vlpi_by_host_irq``), the v6.16 vLPI fixes (Oliver Upton, "Resolve vLPI
  by host IRQ in vgic_v4_unset_forwarding()", "Protect vLPI translation with
  vgic_irq::irq_lock"): ``kvm_vgic_v4_unset_forwarding`` finds the LPI forwarded from the
  host irq (``__vgic_host_irq_get_vlpi``), whatever the vITS's state, and
  ``kvm_vgic_v4_set_forwarding`` leaves an LPI already forwarded alone and returns 0 when
  the route does not translate.  Before, both translated the route through the vITS
  (``vgic_its_resolve_lpi``, so nothing was unmapped while the vITS or the target's LPIs
  were disabled), set mapped again, and unset unmapped the producer's irq whatever
  ``host_irq`` the LPI had (a WARN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["KVM_HALT_POLL_NS_DEFAULT", "PROFILES", "KernelProfile", "kernel_profile"]

KVM_HALT_POLL_NS_DEFAULT: Final = 500_000
"""arm64's ``KVM_HALT_POLL_NS_DEFAULT`` (arch/arm64/include/asm/kvm_host.h)."""


@dataclass(frozen=True)
class KernelProfile:
    """The behaviour switches of one host kernel (see the module docstring)."""

    name: str
    irqfd_inject_inatomic: bool
    """``irqfd_wakeup`` injects SPIs with ``kvm_arch_set_irq_inatomic`` (v5.9+)."""
    halt_poll_ns_shrink: int
    """``halt_poll_ns_shrink`` module parameter default (0: reset the window to 0)."""
    timer_cache_inactive: bool
    """The arch timer skips the Active write when it knows the PPI is inactive."""
    lr_overflow: str
    """``"underflow"`` (``vgic_set_underflow``) or ``"configure_hcr"`` (2025 rework)."""
    ap_list_order: str
    """``"legacy"`` (active first) or ``"2025"`` (pending first)."""
    trap_gicv_dir: bool
    """GICv2: the GICV_DIR page is not mapped into the guest; DIR writes are emulated."""
    eevdf: bool = True
    """The fair scheduler is EEVDF (v6.6+), not CFS: tick preemption after a base slice."""
    vlpi_by_host_irq: bool = True
    """vLPI unset by host irq, set skips a forwarded LPI (v6.16), not through the vITS."""
    halt_poll_ns: int = KVM_HALT_POLL_NS_DEFAULT
    halt_poll_ns_grow: int = 2
    halt_poll_ns_grow_start: int = 10_000


PROFILES: dict[str, KernelProfile] = {
    "current": KernelProfile("current", irqfd_inject_inatomic=True, halt_poll_ns_shrink=2,
                             timer_cache_inactive=False, lr_overflow="configure_hcr",
                             ap_list_order="2025", trap_gicv_dir=True),
    "6.12": KernelProfile("6.12", irqfd_inject_inatomic=True, halt_poll_ns_shrink=2,
                          timer_cache_inactive=False, lr_overflow="underflow",
                          ap_list_order="legacy", trap_gicv_dir=False, eevdf=True,
                          vlpi_by_host_irq=False),
    "6.1": KernelProfile("6.1", irqfd_inject_inatomic=True, halt_poll_ns_shrink=0,
                         timer_cache_inactive=False, lr_overflow="underflow",
                         ap_list_order="legacy", trap_gicv_dir=False, eevdf=False,
                         vlpi_by_host_irq=False),
    "5.8": KernelProfile("5.8", irqfd_inject_inatomic=False, halt_poll_ns_shrink=0,
                         timer_cache_inactive=True, lr_overflow="underflow",
                         ap_list_order="legacy", trap_gicv_dir=False, eevdf=False,
                         vlpi_by_host_irq=False),
}


def kernel_profile(name: str) -> KernelProfile:
    """The profile called ``name`` (``KeyError`` names the choices otherwise)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown kernel profile {name!r}; choose one of: {', '.join(PROFILES)}") from None
