"""What every GIC version shares: the device interface (:mod:`.device`), register tables
(:mod:`.regs`) and the highest-priority-pending candidate sets (:mod:`.hppi`)."""

from __future__ import annotations

from irqfwd.hw.gic.device import CpuOutputs, GicDevice, SysRegGicDevice
from irqfwd.hw.gic.regs import Reg, RegisterBlock

__all__ = ["CpuOutputs", "GicDevice", "Reg", "RegisterBlock", "SysRegGicDevice"]
