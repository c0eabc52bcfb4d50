"""The error types of phasesim, shared by every layer.

Every reader (traces, cost tables, scenario files) raises :class:`InputError`; a failure that is
not bad input (an unreachable endpoint, a device gone) is a :class:`CommandError`; an output that
cannot be written (no such directory, read-only or full file system) is an :class:`OutputError`,
one kind of CommandError. The CLIs turn all of them into one line on stderr and exit code 2, with
no traceback.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

__all__ = ["InputError", "CommandError", "OutputError", "show_warnings_on_one_line"]


class InputError(Exception):
    """Bad input, located as precisely as we can: file, line or row, column or field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.row = row
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        prefix = ", ".join(where)
        text = f"{prefix}: {self.message}" if prefix else self.message
        return " ".join(text.split())  # always one line


class CommandError(Exception):
    """A failure that is not bad input (unreachable endpoint, device gone): one line, exit 2."""


class OutputError(CommandError):
    """An output path that cannot be written: the path the user gave and the OS's reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.path}: cannot write: {self.reason}")

    def __reduce__(self) -> tuple[type[OutputError], tuple[str, str]]:
        return (OutputError, (self.path, self.reason))  # crosses process pools intact


def _one_line(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    stream = sys.stderr if file is None else file
    print(f"warning: {' '.join(str(message).split())}", file=stream)


def show_warnings_on_one_line() -> None:
    """For the CLIs' entry points only: print each warning as one ``warning: ...`` line on
    stderr, without the source file and line Python adds for developers."""
    warnings.showwarning = _one_line
