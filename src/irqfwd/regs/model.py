"""Run a register script on the GIC models: :class:`irqfwd.hw.gicv2.gic.GICv2` for GICv2
scripts, :class:`irqfwd.hw.gicv3.gic.GICv3` for ``gic v3`` / ``gic v4`` scripts."""

from __future__ import annotations

from irqfwd.errors import InputError
from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.hw.gicv3.config import GICv3Config
from irqfwd.regs.script import ReadResult, Script

__all__ = ["config_for", "run_on_model"]


def config_for(version: int, num_cpus: int = 2, qemu: bool = False) -> GICv2Config | GICv3Config:
    """The model configuration of a ``gic vN`` script: QEMU ``virt`` sizes; ``qemu=True``
    turns on every QEMU 7.2 quirk the model reproduces (docs/conformance.md)."""
    try:
        if version == 2:
            return GICv2Config.qemu_virt(num_cpus) if qemu else GICv2Config(num_cpus=num_cpus)
        if qemu:
            return GICv3Config.qemu_virt(num_cpus, version)
        return GICv3Config(num_cpus=num_cpus, version=version)
    except ValueError as exc:
        raise InputError(f"--cpus: {exc}") from None


def run_on_model(script: Script, config: GICv2Config | GICv3Config | None = None) -> list[ReadResult]:
    """Execute ``script`` on a freshly reset GIC built from ``config``; return every read.

    ``config`` must match the script's version (a :class:`GICv2Config` for GICv2 scripts,
    a :class:`GICv3Config` of the same ``version`` otherwise); None means the
    architectural default of the script's version.  ``line ppiNN`` drives the PPI input of
    the current CPU, ``line spiNN`` the SPI input; ``isr`` reports the CPU's IRQ/FIQ
    outputs in ISR_EL1 layout (I = bit 7, F = bit 6); ``mrs``/``msr`` access system
    registers by name (``GICv3.read_sysreg`` / ``write_sysreg``).
    """
    if script.version >= 3:
        cfg3 = config if isinstance(config, GICv3Config) else GICv3Config(
            num_cpus=config.num_cpus if config is not None else 2, version=script.version)
        if cfg3.version != script.version:
            raise InputError(f"{script.path}: a GICv{script.version} script needs a "
                             f"version {script.version} configuration")
        return _run_v3(script, cfg3)
    from irqfwd.hw.gicv2.gic import GICv2  # the model is imported lazily: parsing needs none of it

    if isinstance(config, GICv3Config):
        raise InputError(f"{script.path}: a GICv2 script cannot run on a GICv3 configuration")
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


def _run_v3(script: Script, config: GICv3Config) -> list[ReadResult]:
    from irqfwd.hw.gicv3.gic import GICv3

    gic = GICv3(config)
    results: list[ReadResult] = []
    for op in script.ops:
        if op.kind == "read":
            value = gic.read(op.addr, op.size, op.cpu)
            results.append(ReadResult(op.lineno, op.op, op.addr, value, op.cpu))
        elif op.kind == "write":
            gic.write(op.addr, op.value, op.size, op.cpu)
        elif op.kind == "sysread":
            value = gic.read_sysreg(op.cpu, op.reg)
            results.append(ReadResult(op.lineno, op.op, 0, value, op.cpu, op.reg))
        elif op.kind == "syswrite":
            gic.write_sysreg(op.cpu, op.reg, op.value)
        elif op.kind == "line":
            gic.set_line(op.addr, bool(op.value), op.cpu if op.addr < 32 else None)
        elif op.kind == "isr":
            out = gic.outputs[op.cpu]
            value = (0x80 if out.irq else 0) | (0x40 if out.fiq else 0)
            results.append(ReadResult(op.lineno, op.op, 0, value, op.cpu))
    return results
