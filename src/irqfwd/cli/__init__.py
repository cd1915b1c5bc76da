"""The ``irqfwd`` command line (typer + rich)."""
