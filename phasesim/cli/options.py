"""Option values checked at the command line's edge, the same way by every command.

Each function takes the value as typer parsed it (None: not given, passed through) and the
option's name as the user typed it; it returns the value checked or converted, or raises
:class:`~phasesim.errors.InputError` with a message that starts with that name. Units are
converted here and nowhere later (``--link-bandwidth 100Gbps`` -> bytes per second).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from phasesim.errors import InputError
from phasesim.units import bandwidth_bytes_per_s, duration_s

__all__ = ["MAX_NUM_SEQS_FLAGS", "MAX_NUM_SEQS_NAME", "choice", "comma_list", "count",
           "count_text", "known", "nonempty_comma_list", "parse_bandwidth_bytes_per_s",
           "parse_latency_s", "positive"]

E = TypeVar("E", bound=enum.Enum)

# The sequences one step may run: vLLM's max_num_seqs, and --max-batch, its name before (kept as
# an alias). Errors name both, since either may be the one typed.
MAX_NUM_SEQS_FLAGS = ("--max-num-seqs", "--max-batch")
MAX_NUM_SEQS_NAME = "/".join(MAX_NUM_SEQS_FLAGS)


def comma_list(values: Iterable[str]) -> list[str]:
    """Repeated values, each of them comma-separated, as one list (empty items dropped)."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def nonempty_comma_list(text: str, option: str) -> list[str]:
    """One comma-separated value as a list of at least one item."""
    items = comma_list([text])
    if not items:
        raise InputError(f"{option}: give at least one value")
    return items


def count(value: int | None, option: str) -> int | None:
    """A count (instances, degrees, sequences): a whole number >= 1."""
    if value is not None and value < 1:
        raise InputError(f"{option} must be >= 1, got {value}")
    return value


def count_text(text: str, option: str) -> int:
    """A count written as text (one item of a comma list)."""
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{option}: '{text}' is not a whole number") from None
    return count(value, option)  # type: ignore[return-value]  # not None: an int went in


def positive(value: float, option: str) -> float:
    """A positive, finite number (an SLO in seconds, a rate factor)."""
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{option} must be a positive finite number, got {value}")
    return value


def choice(kind: type[E], value: str | None, option: str) -> E | None:
    """One of an enum's values, as typed; an unknown one names those it could be."""
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        known_values = ", ".join(str(item.value) for item in kind)
        raise InputError(f"{option}: unknown value '{value}' (one of: {known_values})") from None


def known(lookup: Callable[[str], Any], name: str | None, option: str) -> str | None:
    """``name`` unchanged once the catalog's ``lookup`` accepts it (hardware, model, engine);
    the lookup's own message otherwise, after the option's name."""
    if name is None:
        return None
    try:
        lookup(name)
    except InputError as exc:
        raise InputError(f"{option}: {exc}") from None
    return name


def parse_bandwidth_bytes_per_s(text: str, *, option: str) -> float:
    """``100Gbps``, ``400gbit``, ``12.5GB/s``, ``64GiB/s`` -> bytes per second (phasesim.units)."""
    try:
        return bandwidth_bytes_per_s(text)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None


def parse_latency_s(text: str, *, option: str) -> float:
    """``5us``, ``5µs``, ``2ms``, ``0.001s``, ``250ns`` -> seconds (phasesim.units)."""
    try:
        return duration_s(text)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None
