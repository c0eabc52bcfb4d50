"""The error types of phasesim, shared by every layer.

Every reader (traces, cost tables, scenario files) raises :class:`InputError`; a failure that is
not bad input (an unreachable endpoint, a device gone) is a :class:`CommandError`; an output that
cannot be written (no such directory, read-only or full file system) is an :class:`OutputError`,
one kind of CommandError. The CLIs turn all of them into one line on stderr and exit code 2, with
no traceback.
"""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path

__all__ = ["InputError", "CommandError", "OutputError", "one_line", "show_warnings_on_one_line"]


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
        return one_line(f"{prefix}: {self.message}" if prefix else self.message)


MAX_MESSAGE_CHARS = 400
_NUMPY_REPR = re.compile(r"\bnp\.[a-z_]+[0-9]*\(([^()]*)\)")  # np.float64(nan) -> nan


def _printable(char: str) -> str:
    """``char`` itself, or its escape when it would not print as itself (control characters, raw
    bytes decoded as U+FFFD, surrogates, unassigned code points)."""
    if char == " " or (char.isprintable() and char != "\ufffd"):
        return char
    if char.isspace():
        return " "
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def one_line(text: str) -> str:
    """How every error and warning line is rendered: one line of printable text, whatever went in.

    Control characters and undecodable bytes from binary input are escaped (``\\x1b``), numpy
    scalar reprs are shown as plain numbers (``np.float64(nan)`` -> ``nan``), runs of whitespace
    become one space, and the text is cut to ``MAX_MESSAGE_CHARS`` characters in its middle (the
    location at the start and a qualifier at the end, such as the sweep value at fault, stay).
    """
    text = _NUMPY_REPR.sub(r"\1", str(text))
    text = " ".join("".join(_printable(c) for c in text).split())
    if len(text) > MAX_MESSAGE_CHARS:
        keep = MAX_MESSAGE_CHARS - len(_ELIDED)
        head = keep * 2 // 3
        text = text[:head] + _ELIDED + text[len(text) - (keep - head):]
    return text


_ELIDED = " ... "


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
    print(f"warning: {one_line(str(message))}", file=stream)


def show_warnings_on_one_line() -> None:
    """For the CLIs' entry points only: print each warning as one ``warning: ...`` line on
    stderr, without the source file and line Python adds for developers."""
    warnings.showwarning = _one_line
