"""GICv2 model with Virtualization Extensions (Arm IHI 0048B); see ``docs/architecture.md``."""

from __future__ import annotations

from irqfwd.hw.gicv2.config import GICv2Config, QemuQuirks
from irqfwd.hw.gicv2.cpu_interface import CpuInterface, CpuOutputs
from irqfwd.hw.gicv2.distributor import Distributor
from irqfwd.hw.gicv2.gic import GICv2
from irqfwd.hw.gicv2.regs import Reg, RegisterBlock

__all__ = [
    "CpuInterface",
    "CpuOutputs",
    "Distributor",
    "GICv2",
    "GICv2Config",
    "QemuQuirks",
    "Reg",
    "RegisterBlock",
]

try:  # the virtual interface blocks are optional until their modules exist
    from irqfwd.hw.gicv2.hyp_interface import HypInterface
    from irqfwd.hw.gicv2.vcpu_interface import VcpuInterface
except ModuleNotFoundError as _exc:  # pragma: no cover - depends on the working tree
    if _exc.name not in ("irqfwd.hw.gicv2.hyp_interface", "irqfwd.hw.gicv2.vcpu_interface"):
        raise
else:
    __all__ += ["HypInterface", "VcpuInterface"]
