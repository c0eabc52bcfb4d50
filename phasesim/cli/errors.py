"""Turn bad input into one line on stderr and exit code 2, never a traceback or a usage box:
shared by the ``sim`` and ``profiler`` commands.

Two kinds of bad input, two pieces, each written once:

- ``OneLineUsageErrors``, the class of both root apps (``typer.Typer(cls=...)``): what click
  rejects while parsing (a bad option value, a missing or unknown option, a missing argument,
  an unknown subcommand), at any depth below the root.
- ``cli_errors``, a decorator on each command: what the command itself rejects (an
  ``InputError`` or ``CommandError``, a missing optional extra).

A module of its own, importing only typer and ``phasesim.errors``, so the ``profiler`` command on
a bare GPU box does not import the whole ``sim`` CLI.
"""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import typer
from typer.core import TyperGroup

from phasesim.errors import CommandError, InputError, one_line

__all__ = [
    "OneLineUsageErrors",
    "Terminated",
    "cli_errors",
    "fail",
    "root_app",
    "terminate_like_ctrl_c",
]

P = ParamSpec("P")
R = TypeVar("R")

# top-level module of an optional dependency -> the extra that installs it
_EXTRAS = {"torch": "torch", "groq": "groq", "dask": "dask", "distributed": "dask",
           "dask_jobqueue": "dask", "httpx": "openai"}

# click's "no arguments, so here is the help" signal: a usage error by class, but it prints help
_HELP_NOT_ERRORS = frozenset({"NoArgsIsHelpError"})


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on one line to stderr; return the Exit to raise."""
    print(f"error: {one_line(str(message))}", file=sys.stderr)
    return typer.Exit(code)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C is (:func:`terminate_like_ctrl_c`)."""


def _terminated(signum: int, frame: object) -> None:
    raise Terminated()


def terminate_like_ctrl_c() -> None:
    """For the CLIs' entry points only: SIGTERM (``kill``, a batch system's time limit) stops a
    command the way Ctrl-C does: the ``KeyboardInterrupt`` unwinds through the executors, which
    shut their workers down, and through the staged outputs, which remove their temporaries, and
    the command says so on one ``error:`` line (exit 130). Python's default was to die at once,
    mid-write, with the pool's semaphores reported leaked."""
    signal.signal(signal.SIGTERM, _terminated)


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


@contextmanager
def _usage_errors_on_one_line() -> Iterator[None]:
    """A click usage error raised inside becomes ``error: ...`` on one line and exit 2.

    A usage error is recognised by its interface (a ``typer.TyperException`` with exit code 2)
    because typer vendors click and does not export click's exception classes.
    """
    try:
        yield
    except typer.TyperException as exc:
        if exc.exit_code != 2 or type(exc).__name__ in _HELP_NOT_ERRORS:
            raise
        raise fail(exc.format_message()) from None


class OneLineUsageErrors(TyperGroup):
    """The root group of ``sim`` and ``profiler``: usage errors anywhere below it (the root's
    own options, subcommand names, every subcommand's options and arguments) as one ``error:``
    line and exit 2, like every other bad input, instead of click's usage box.

    Subcommands are parsed inside the root's ``invoke``, so two overrides cover every depth;
    ``--help`` and a bare group's help are not errors and pass through unchanged.
    """

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        with _usage_errors_on_one_line():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context) -> Any:
        with _usage_errors_on_one_line():
            return super().invoke(ctx)


def root_app(*, help: str, cls: type[OneLineUsageErrors] = OneLineUsageErrors) -> typer.Typer:
    """A root command (``sim``, ``profiler``): usage errors of every subcommand become one
    ``error:`` line with exit 2 (``OneLineUsageErrors``), no pretty tracebacks, no completion."""
    return typer.Typer(cls=cls, help=help, no_args_is_help=True,
                       pretty_exceptions_enable=False, add_completion=False)
