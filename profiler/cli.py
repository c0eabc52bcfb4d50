"""The ``profiler`` command: capture cost tables and validate them against real runs."""

from __future__ import annotations

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    help="Capture cost tables on hardware and validate them in closed loop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def main() -> None:
    app()
