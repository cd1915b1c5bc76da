"""GICv3/GICv4 model with the ITS and the virtualization interface (Arm IHI 0069H);
the API for drivers and hypervisors is described in ``docs/gicv3.md``."""

from __future__ import annotations

from irqfwd.hw.gic.sysregs import SysRegUndefined
from irqfwd.hw.gicv3.config import GICv3Config, QemuQuirks
from irqfwd.hw.gicv3.cpu_interface import CpuInterface
from irqfwd.hw.gicv3.distributor import Distributor
from irqfwd.hw.gicv3.gic import GICv3
from irqfwd.hw.gicv3.its import ITS, its_command
from irqfwd.hw.gicv3.redistributor import Redistributor
from irqfwd.hw.gicv3.virt_interface import VirtInterface, make_lr

__all__ = [
    "ITS",
    "CpuInterface",
    "Distributor",
    "GICv3",
    "GICv3Config",
    "QemuQuirks",
    "Redistributor",
    "SysRegUndefined",
    "VirtInterface",
    "its_command",
    "make_lr",
]
