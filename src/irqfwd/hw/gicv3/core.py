"""What the GICv3 blocks ask of the device that holds them.

The CPU interface (ICC), the virtualization interface (ICH/ICV) and the ITS act on state
that another block owns: acknowledging an interrupt changes its distributor or
redistributor state, an ITS command makes an LPI pending on some redistributor, a vLPI
of the resident vPE is delivered through the virtual CPU interface.  They reach that state
through :class:`GicV3Core`, which :class:`irqfwd.hw.gicv3.gic.GICv3` implements, so the
blocks import this module and never the device that composes them (one direction of
imports, as the GICv2 model's blocks and the vgic core's ops).
"""

from __future__ import annotations

from irqfwd.hw.gic.device import SysRegGicDevice
from irqfwd.hw.gicv3.redistributor import Redistributor


class GicV3Core(SysRegGicDevice):
    """The operations of a GICv3/v4 that cross blocks (IHI 0069H); see
    :class:`irqfwd.hw.gicv3.gic.GICv3` for the implementation."""

    __slots__ = ("redist",)

    #: One redistributor (GICR_* frames) per PE, indexed by CPU number.
    redist: list[Redistributor]

    def hppi(self, cpu: int) -> tuple[int, int, int] | None:
        """PE ``cpu``'s highest-priority pending interrupt ``(INTID, priority, group)``."""
        raise NotImplementedError

    def update(self, cpu: int) -> None:
        """Recompute PE ``cpu``'s HPPI and its IRQ/FIQ/vIRQ/vFIQ/maintenance outputs."""
        raise NotImplementedError

    def activate(self, cpu: int, intid: int) -> None:
        """Acknowledge ``intid`` on PE ``cpu`` (§4.1.1)."""
        raise NotImplementedError

    def deactivate(self, cpu: int, intid: int, source: str) -> None:
        """Deactivate ``intid`` for PE ``cpu`` (EOI, ICC_DIR_EL1 or a HW = 1 ICH_LR<n>_EL2)."""
        raise NotImplementedError

    def send_sgi(self, cpu: int, value: int, kind: int) -> None:
        """ICC_SGI0R_EL1 / ICC_SGI1R_EL1 / ICC_ASGI1R_EL1 written by PE ``cpu`` (§12.2.21–22)."""
        raise NotImplementedError

    def set_lpi(self, cpu: int, intid: int, pending: bool) -> None:
        """Set or clear physical LPI ``intid`` pending on PE ``cpu``'s redistributor."""
        raise NotImplementedError

    def move_lpi(self, src: int, dst: int, intid: int) -> None:
        """MOVI: a pending LPI moves between redistributors (§6.3 MOVI)."""
        raise NotImplementedError

    def move_all_lpis(self, src: int, dst: int) -> None:
        """MOVALL: every pending LPI of ``src`` moves to ``dst`` (§6.3 MOVALL)."""
        raise NotImplementedError

    def set_vlpi(self, cpu: int, vpt: int, intid: int, pending: bool, doorbell: int,
                 vpe: int = -1) -> None:
        """Set or clear vLPI ``intid`` in the virtual pending table at ``vpt`` (§5.4)."""
        raise NotImplementedError

    def vlpi_pending(self, vpt: int, intid: int) -> bool:
        """The virtual pending table bit of vLPI ``intid``."""
        raise NotImplementedError

    def direct_best(self, cpu: int, veng0: bool, veng1: bool) -> tuple[int, int, int] | None:
        """``(priority, vINTID, group)`` of the resident vPE's best pending vLPI or vSGI."""
        raise NotImplementedError

    def ack_direct(self, cpu: int, intid: int) -> None:
        """ICV_IAR acknowledged a direct vLPI or vSGI: it leaves the pending state."""
        raise NotImplementedError

    def vsgi_changed(self, vpeid: int, ring: bool = False) -> None:
        """A vSGI of ``vpeid`` changed (GICv4.1 VSGI command, GITS_SGIR)."""
        raise NotImplementedError

    def inv_vlpi(self, cpu: int, vpt: int, intid: int) -> None:
        """INV of a vLPI: re-read its configuration if its vPE is resident."""
        raise NotImplementedError

    def inv_all_vlpis(self, cpu: int, vpt: int) -> None:
        """VINVALL: re-read every pending vLPI's configuration if the vPE is resident."""
        raise NotImplementedError
