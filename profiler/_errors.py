"""One-line errors and exit code 2 for the ``profiler`` command.

Same behaviour as ``simulator.cli._errors.cli_errors``, kept here so the profiler on a bare GPU
box does not import the whole ``sim`` CLI (and its scenario/replay modules) to print an error.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from traces.errors import InputError

__all__ = ["cli_errors", "fail", "ProfilerError"]

P = ParamSpec("P")
R = TypeVar("R")

_EXTRAS = {"torch": "torch", "groq": "groq"}


class ProfilerError(Exception):
    """A failure that is not bad input (unreachable endpoint, device gone): one line, exit 2."""


def fail(message: str, code: int = 2) -> typer.Exit:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return typer.Exit(code)


def cli_errors(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (InputError, ProfilerError) as exc:
            raise fail(str(exc)) from None
        except ModuleNotFoundError as exc:
            extra = _EXTRAS.get((exc.name or "").split(".")[0])
            if extra is None:
                raise
            raise fail(f"this needs the '{extra}' extra: pip install 'phasesim[{extra}]'") from None

    return wrapper
