"""Run a register script on the GICv2 model (:class:`irqfwd.hw.gicv2.gic.GICv2`)."""

from __future__ import annotations

from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.regs.script import ReadResult, Script

__all__ = ["run_on_model"]


def run_on_model(script: Script, config: GICv2Config | None = None) -> list[ReadResult]:
    """Execute ``script`` on a freshly reset GICv2 built from ``config``; return every read.

    ``line ppiNN`` drives the PPI input of the current CPU (``GICv2.set_line(intid, level,
    cpu)``), ``line spiNN`` the SPI input (``cpu=None``); ``isr`` reports the CPU's IRQ/FIQ
    outputs (``gic.outputs[cpu]``) in ISR_EL1 layout (I = bit 7, F = bit 6).
    """
    from irqfwd.hw.gicv2.gic import GICv2  # the model is imported lazily: parsing needs none of it

    gic = GICv2(config if config is not None else GICv2Config())
    results: list[ReadResult] = []
    for op in script.ops:
        if op.kind == "read":
            value = gic.read(op.addr, op.size, op.cpu)
            results.append(ReadResult(op.lineno, op.op, op.addr, value, op.cpu))
        elif op.kind == "write":
            gic.write(op.addr, op.value, op.size, op.cpu)
        elif op.kind == "line":
            gic.set_line(op.addr, bool(op.value), op.cpu if op.addr < 32 else None)
        elif op.kind == "isr":
            out = gic.outputs[op.cpu]
            value = (0x80 if out.irq else 0) | (0x40 if out.fiq else 0)
            results.append(ReadResult(op.lineno, op.op, 0, value, op.cpu))
    return results
