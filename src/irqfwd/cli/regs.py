"""``irqfwd regs``: run register scripts on the GIC models or on QEMU, and compare them.

A script starting with ``gic v3`` or ``gic v4`` runs on the GICv3/v4 model
(``GICv3Config``) or on QEMU with that ``gic-version``; other scripts on the GICv2 model.

``irqfwd regs run SCRIPT... [--target model|qemu] [--quirks none|qemu] [--cpus N]`` prints
one line per read, ``OP ADDR = VALUE`` (lowercase hex; ``isr = VALUE`` for the ``isr``
statement), and nothing else on stdout.  The
model target is architectural by default (Arm IHI 0048B); ``--quirks qemu`` turns on every
QEMU 7.2 deviation the model reproduces (``GICv2Config.qemu_virt``, docs/conformance.md).
``--target qemu --quirks none`` is refused (exit 2): QEMU cannot run architecturally.

``irqfwd regs diff SCRIPT...`` runs the model with QEMU quirks and QEMU itself, prints every
disagreement and exits 1 if there is one, 0 if all reads agree, 2 on bad input.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from irqfwd.hw.gicv2.config import GICv2Config
    from irqfwd.hw.gicv3.config import GICv3Config
    from irqfwd.regs.script import Script

    ModelConfig = GICv2Config | GICv3Config

__all__ = ["register"]


class Target(StrEnum):
    """Where a script runs."""

    model = "model"
    qemu = "qemu"


class Quirks(StrEnum):
    """Which behaviour the model target follows."""

    none = "none"
    qemu = "qemu"


regs_app = typer.Typer(
    name="regs",
    help="Run GIC register scripts (scripts/regs/*.regs) on the model or QEMU, or diff them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ScriptsArg = Annotated[list[Path], typer.Argument(help="Register script files (.regs).", metavar="SCRIPT...",
                                                  show_default=False)]
CpusOpt = Annotated[int, typer.Option("--cpus", help="CPU interfaces (QEMU target: 1 or 2).")]


def _load(paths: list[Path], cpus: int, quirks: Quirks) -> list[tuple[Script, ModelConfig]]:
    """Each script parsed with the configuration of its version: ``(script, config)``."""
    from irqfwd.regs.model import config_for
    from irqfwd.regs.script import load_script, script_version

    out: list[tuple[Script, ModelConfig]] = []
    for p in paths:
        try:
            version = script_version(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            version = 2  # load_script reports the problem
        config = config_for(version, cpus, quirks is Quirks.qemu)
        out.append((load_script(p, config), config))
    return out


@regs_app.command("run")
def run_cmd(
    scripts: ScriptsArg,
    target: Annotated[Target, typer.Option(help="model: the Python GICv2; qemu: QEMU 7.2 virt.",
                                           case_sensitive=False)] = Target.model,
    quirks: Annotated[Quirks | None, typer.Option(
        help="Model target only: none = architectural (default), qemu = reproduce QEMU 7.2.",
        case_sensitive=False, show_default=False)] = None,
    cpus: CpusOpt = 2,
) -> None:
    """Run SCRIPTs from reset; print 'OP ADDR = VALUE' for every read."""
    from irqfwd.errors import InputError
    from irqfwd.regs.script import format_results

    if target is Target.qemu and quirks is Quirks.none:
        # --quirks qemu with --target qemu agrees with what QEMU does; none asks for the
        # architectural model, which --target qemu never runs
        raise InputError("--quirks none: contradicts --target qemu: the quirks choose the model's "
                         "behaviour, and QEMU 7.2 always behaves as QEMU (drop --quirks, or use --target model)")
    loaded = _load(scripts, cpus, quirks or Quirks.none)
    if target is Target.model:
        from irqfwd.regs.model import run_on_model

        for s, config in loaded:
            sys.stdout.write(format_results(run_on_model(s, config)))
    else:
        from irqfwd.regs.qemu import QemuTarget

        parsed = [s for s, _ in loaded]
        targets = {v: QemuTarget(cpus, gic_version=v) for v in sorted({s.version for s in parsed})}
        for s in parsed:
            targets[s.version].check(s)
        try:
            for s in parsed:
                q = targets[s.version]
                if not q.alive:
                    q.start()
                sys.stdout.write(format_results(q.run(s)))
        finally:
            for q in targets.values():
                q.close()
    sys.stdout.flush()


@regs_app.command("diff")
def diff_cmd(scripts: ScriptsArg, cpus: CpusOpt = 2) -> None:
    """Run SCRIPTs on the model (QEMU quirks on) and on QEMU; exit 1 on any disagreement."""
    from irqfwd.regs.diff import diff_scripts

    parsed = [s for s, _ in _load(scripts, cpus, Quirks.qemu)]
    results = diff_scripts(parsed, cpus)
    n_reads = sum(len(r.model) for r in results)
    bad = [d for r in results for d in r.disagreements]
    for d in bad:
        typer.echo(d.format())
    typer.echo(f"{len(results)} script(s), {n_reads} read(s), {len(bad)} disagreement(s)",
               err=True)
    if bad:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``regs`` sub-command to the ``irqfwd`` application."""
    app.add_typer(regs_app, name="regs")
