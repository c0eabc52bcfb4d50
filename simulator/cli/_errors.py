"""Turn bad input into one line on stderr and exit code 2 — never a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from traces.errors import InputError

__all__ = ["cli_errors", "fail"]

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on one line to stderr; return the Exit to raise."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return typer.Exit(code)


def cli_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a typer command so an InputError (or a missing optional extra) exits cleanly."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            raise fail(str(exc)) from None
        except ModuleNotFoundError as exc:
            extra = {"torch": "torch", "groq": "groq", "dask": "dask", "distributed": "dask",
                     "dask_jobqueue": "dask"}.get((exc.name or "").split(".")[0])
            if extra is None:
                raise
            raise fail(f"this needs the '{extra}' extra: pip install 'phasesim[{extra}]'") from None

    return wrapper
