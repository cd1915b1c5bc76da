"""``irqfwd regs``: run register scripts on the GICv2 model or on QEMU, and compare them.

``irqfwd regs run SCRIPT... [--target model|qemu] [--quirks none|qemu] [--cpus N]`` prints
one line per read, ``OP ADDR = VALUE`` (lowercase hex; ``isr = VALUE`` for the ``isr``
statement), and nothing else on stdout.  The
model target is architectural by default (Arm IHI 0048B); ``--quirks qemu`` turns on every
QEMU 7.2 deviation the model reproduces (``GICv2Config.qemu_virt``, docs/conformance.md).

``irqfwd regs diff SCRIPT...`` runs the model with QEMU quirks and QEMU itself, prints every
disagreement and exits 1 if there is one, 0 if all reads agree, 2 on bad input.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from irqfwd.errors import InputError

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


def _config(cpus: int, quirks: Quirks) -> object:
    from irqfwd.hw.gicv2.config import GICv2Config

    try:
        return (GICv2Config.qemu_virt(cpus) if quirks is Quirks.qemu
                else GICv2Config(num_cpus=cpus))
    except ValueError as exc:
        raise InputError(f"--cpus: {exc}") from None


@regs_app.command("run")
def run_cmd(
    scripts: ScriptsArg,
    target: Annotated[Target, typer.Option(help="model: the Python GICv2; qemu: QEMU 7.2 virt.",
                                           case_sensitive=False)] = Target.model,
    quirks: Annotated[Quirks, typer.Option(
        help="Model target only: none = architectural (default), qemu = reproduce QEMU 7.2.",
        case_sensitive=False)] = Quirks.none,
    cpus: CpusOpt = 2,
) -> None:
    """Run SCRIPTs from reset; print 'OP ADDR = VALUE' for every read."""
    from irqfwd.hw.gicv2.config import GICv2Config
    from irqfwd.regs.script import format_results, load_script

    config = _config(cpus, quirks)
    assert isinstance(config, GICv2Config)
    parsed = [load_script(p, config) for p in scripts]
    if target is Target.model:
        from irqfwd.regs.model import run_on_model

        for s in parsed:
            sys.stdout.write(format_results(run_on_model(s, config)))
    else:
        from irqfwd.regs.qemu import QemuTarget

        with QemuTarget(cpus) as q:
            for s in parsed:
                q.check(s)
            for s in parsed:
                sys.stdout.write(format_results(q.run(s)))
    sys.stdout.flush()


@regs_app.command("diff")
def diff_cmd(scripts: ScriptsArg, cpus: CpusOpt = 2) -> None:
    """Run SCRIPTs on the model (QEMU quirks on) and on QEMU; exit 1 on any disagreement."""
    from irqfwd.hw.gicv2.config import GICv2Config
    from irqfwd.regs.diff import diff_scripts
    from irqfwd.regs.script import load_script

    config = _config(cpus, Quirks.qemu)
    assert isinstance(config, GICv2Config)
    parsed = [load_script(p, config) for p in scripts]
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
