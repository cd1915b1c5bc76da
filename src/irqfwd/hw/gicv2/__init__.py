"""GICv2 model with Virtualization Extensions (Arm IHI 0048B); see ``docs/architecture.md``."""

from __future__ import annotations

from irqfwd.hw.gic.device import CpuOutputs
from irqfwd.hw.gic.regs import Reg, RegisterBlock
from irqfwd.hw.gicv2.config import GICv2Config, QemuQuirks
from irqfwd.hw.gicv2.cpu_interface import CpuInterface
from irqfwd.hw.gicv2.distributor import Distributor
from irqfwd.hw.gicv2.gic import GICv2
from irqfwd.hw.gicv2.hyp_interface import HypInterface
from irqfwd.hw.gicv2.vcpu_interface import VcpuInterface

__all__ = [
    "CpuInterface",
    "CpuOutputs",
    "Distributor",
    "GICv2",
    "GICv2Config",
    "HypInterface",
    "QemuQuirks",
    "Reg",
    "RegisterBlock",
    "VcpuInterface",
]

