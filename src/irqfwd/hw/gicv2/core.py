"""What the GICv2 blocks ask of the device that holds them.

The distributor's state changes make the device recompute CPU outputs, a HW=1 list
register's deactivation reaches the physical distributor, the virtual interface drives the
maintenance PPI and the vIRQ/vFIQ outputs.  The blocks reach the device through
:class:`GicV2Core`, which :class:`irqfwd.hw.gicv2.gic.GICv2` implements, so they import
this module and never the device that composes them (as :mod:`irqfwd.hw.gicv3.core` for
GICv3).  A base class, not a protocol: each of these calls is a native call in the
compiled build.
"""

from __future__ import annotations

from irqfwd._mypyc import mypyc_attr
from irqfwd.hw.gic.device import GicDevice

__all__ = ["GicV2Core"]


@mypyc_attr(allow_interpreted_subclasses=True)
class GicV2Core(GicDevice):
    """The operations of a GICv2 that cross blocks (IHI 0048B)."""

    def outputs_changed(self, mask: int) -> None:
        """The CPUs in ``mask`` may have a new highest-priority pending interrupt: recompute
        their physical outputs (the distributor's notification)."""
        raise NotImplementedError

    def deactivate_physical(self, cpu: int, intid: int) -> None:
        """Deactivate physical ``intid`` as a GICC_DIR write from ``cpu`` would (HW=1 LR)."""
        raise NotImplementedError

    def set_maintenance(self, cpu: int, level: bool) -> None:
        """Drive the maintenance PPI (``config.maintenance_intid``) of ``cpu``."""
        raise NotImplementedError

    def update_virtual_outputs(self, cpu: int, virq: bool, vfiq: bool) -> None:
        """Set the vIRQ/vFIQ output levels of ``cpu``."""
        raise NotImplementedError
