"""Turn bad input into one line on stderr and exit code 2, never a traceback: shared by the
``sim`` and ``profiler`` commands.

A module of its own, importing only typer and ``phasesim.errors``, so the ``profiler`` command on
a bare GPU box does not import the whole ``sim`` CLI.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from phasesim.errors import CommandError, InputError

__all__ = ["cli_errors", "fail"]

P = ParamSpec("P")
R = TypeVar("R")

# top-level module of an optional dependency -> the extra that installs it
_EXTRAS = {"torch": "torch", "groq": "groq", "dask": "dask", "distributed": "dask",
           "dask_jobqueue": "dask"}



def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on one line to stderr; return the Exit to raise."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return typer.Exit(code)


def cli_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a typer command so an InputError, a CommandError or a missing optional extra
    exits cleanly."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (InputError, CommandError) as exc:
            raise fail(str(exc)) from None
        except ModuleNotFoundError as exc:
            extra = _EXTRAS.get((exc.name or "").split(".")[0])
            if extra is None:
                raise
            raise fail(f"this needs the '{extra}' extra: pip install 'phasesim[{extra}]'") from None

    return wrapper
