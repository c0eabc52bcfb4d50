"""`sim traces` commands."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(help="traces commands", no_args_is_help=True, pretty_exceptions_enable=False)
