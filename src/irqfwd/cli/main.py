"""Entry point of the ``irqfwd`` command.

Each sub-command lives in its own module and registers itself on :data:`app`.
:class:`~irqfwd.cli.errors.InputError` raised anywhere below becomes a one-line
message and exit status 2; so does an ``IRQFWD_ACCEL`` setting that cannot be honoured.
"""

from __future__ import annotations

import importlib

import typer

from irqfwd import _accel
from irqfwd.cli.errors import InputError, fail

# IRQFWD_ACCEL=require without a usable compiled build, or an unknown IRQFWD_ACCEL value:
# a clear message and exit status 2 before any model module is imported (irqfwd._accel).
if _accel.status().error is not None:
    fail(str(_accel.status().error))

app = typer.Typer(
    name="irqfwd",
    help="Model, run and measure ARM interrupt forwarding to guest VMs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Sub-command modules; each defines ``register(app: typer.Typer) -> None``.
_COMMAND_MODULES = ("regs", "run", "bench", "calibrate", "measure", "sweep", "explore")

for _name in _COMMAND_MODULES:
    importlib.import_module(f"irqfwd.cli.{_name}").register(app)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except InputError as exc:
        fail(str(exc))
