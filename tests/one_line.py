"""The shape every bad input must end in, asserted one way across the suite: exactly one
``error: ...`` line, no traceback, exit code 2."""

from __future__ import annotations

from typing import Any

__all__ = ["one_error_line", "exits_with_one_error_line"]


def one_error_line(text: str, *expect: str, ignore_warnings: bool = False) -> str:
    """The one ``error:`` line of ``text`` (blank lines, and ``warning:`` lines when asked,
    aside); it must contain each of ``expect``."""
    lines = [line for line in text.splitlines() if line.strip()
             and not (ignore_warnings and line.startswith("warning:"))]
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    assert "Traceback" not in text
    for needle in expect:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def exits_with_one_error_line(result: Any, *expect: str) -> str:
    """A CliRunner result: exit 2, nothing but the one error line on stderr, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout
    return one_error_line(result.stderr, *expect)
