"""Differential runs: the same register script on the model and on QEMU.

The model runs with :meth:`GICv2Config.qemu_virt` / :meth:`GICv3Config.qemu_virt` (every
QEMU 7.2 quirk reproduced, see ``docs/conformance.md``), so any disagreement is either a
model bug or a QEMU deviation the quirks do not cover yet.  GICv3/v4 scripts run in a QEMU
started with their ``gic-version``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from irqfwd.regs.model import config_for, run_on_model
from irqfwd.regs.qemu import QemuTarget
from irqfwd.regs.script import ReadResult, Script

__all__ = ["Disagreement", "ScriptDiff", "compare", "diff_scripts"]


@dataclass(frozen=True)
class Disagreement:
    """One read whose value differs between the model and QEMU."""

    path: str
    lineno: int
    op: str
    addr: int
    cpu: int
    model: int
    qemu: int
    reg: str = ""

    def format(self) -> str:
        """``PATH:LINE: OP ADDR (cpu N): model 0x.. qemu 0x..`` (``mrs REG`` for sysregs)."""
        what = ("isr" if self.op == "isr" else f"mrs {self.reg}" if self.op == "mrs"
                else f"{self.op} {self.addr:#x}")
        return (f"{self.path}:{self.lineno}: {what} (cpu {self.cpu}): "
                f"model {self.model:#x}, qemu {self.qemu:#x}")


@dataclass(frozen=True)
class ScriptDiff:
    """Outcome of one script on both targets."""

    script: Script
    model: list[ReadResult]
    qemu: list[ReadResult]
    disagreements: list[Disagreement]


def compare(script: Script, model: list[ReadResult], qemu: list[ReadResult]) -> list[Disagreement]:
    """Every read of ``script`` whose model and QEMU values differ."""
    if len(model) != len(qemu):
        raise ValueError(f"{script.path}: {len(model)} model reads vs {len(qemu)} QEMU reads")
    return [Disagreement(script.path, m.lineno, m.op, m.addr, m.cpu, m.value, q.value, m.reg)
            for m, q in zip(model, qemu, strict=True) if m.value != q.value]


def diff_scripts(scripts: Sequence[Script], num_cpus: int = 2,
                 timeout: float = 60.0) -> list[ScriptDiff]:
    """Run each script on the model (QEMU quirks on) and in QEMU (one process per GIC
    version, reset between scripts); results in the order of ``scripts``."""
    done: dict[int, ScriptDiff] = {}
    for version in sorted({s.version for s in scripts}):
        group = [(i, s) for i, s in enumerate(scripts) if s.version == version]
        config = config_for(version, num_cpus, qemu=True)
        with QemuTarget(num_cpus, timeout, gic_version=version) as q:
            for _, s in group:
                q.check(s)
            for i, s in group:
                m = run_on_model(s, config)
                r = q.run(s)
                done[i] = ScriptDiff(s, m, r, compare(s, m, r))
    return [done[i] for i in range(len(scripts))]
