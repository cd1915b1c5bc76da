"""Entry point of the ``irqfwd`` command.

Each sub-command lives in its own module and registers itself on :data:`app`.
:class:`~irqfwd.cli.errors.InputError` raised anywhere below becomes a one-line
message and exit status 2; so does an ``IRQFWD_ACCEL`` setting that cannot be honoured,
and so does a usage error of the command line (unknown option or command, missing
argument, option value of the wrong type), which click would print as a usage panel.
"""

from __future__ import annotations

import importlib
import sys

import typer

try:  # typer >= 0.2x carries its own copy of click; earlier ones use the click package
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

from irqfwd import _accel
from irqfwd.cli.errors import InputError, fail

_NO_ARGS_IS_HELP: type[Exception] | tuple[()] = getattr(click_exceptions, "NoArgsIsHelpError", ())
"""click >= 8.2 raises it after printing the help of a group called without arguments."""

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


def _usage_message(exc: click_exceptions.UsageError) -> str:
    """A click usage error (unknown option, missing argument, bad option value) as one
    line, with the command's ``--help``."""
    message = " ".join(exc.format_message().split())
    ctx = exc.ctx
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        message = f"{message.rstrip('.')}; see '{ctx.command_path} {ctx.help_option_names[0]}'"
    return message


def main() -> None:
    """Console-script entry point.

    click runs without its standalone mode so that a usage error becomes the project's one
    ``irqfwd: error:`` line (exit status 2), not click's boxed usage panel.
    """
    try:
        code = app(prog_name="irqfwd", standalone_mode=False)
    except InputError as exc:
        fail(str(exc))
    except _NO_ARGS_IS_HELP:  # the help is already printed; exit status 2 as click gives it
        sys.exit(2)
    except click_exceptions.UsageError as exc:
        fail(_usage_message(exc))
    except click_exceptions.ClickException as exc:  # pragma: no cover - no command raises another one
        fail(" ".join(exc.format_message().split()))
    except typer.Abort:
        typer.echo("Aborted!", err=True)
        sys.exit(1)
    # typer.Exit(n) and ctx.exit(n) come back as n; a command that returns gives None
    sys.exit(code if isinstance(code, int) else 0)
