"""Register scripts: drive the GICv2 model or QEMU's GIC with MMIO accesses and compare.

A register script is a text file of accesses on the GIC memory map (see
:mod:`irqfwd.regs.script` for the syntax).  :mod:`irqfwd.regs.model` runs one on
:class:`irqfwd.hw.gicv2.GICv2`, :mod:`irqfwd.regs.qemu` on ``qemu-system-aarch64``
through the bare-metal probe in ``probe/``, and :mod:`irqfwd.regs.diff` compares both.
"""

from __future__ import annotations

from irqfwd.regs.script import Op, ReadResult, Script, format_results, load_script, parse_script

__all__ = ["Op", "ReadResult", "Script", "format_results", "load_script", "parse_script"]
