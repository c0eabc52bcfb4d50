"""`sim profiles` commands."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(help="profiles commands", no_args_is_help=True, pretty_exceptions_enable=False)
