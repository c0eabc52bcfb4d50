"""Reading quantities with units at the edges (CLI options, scenario files, report axes).

One grammar for everyone: bandwidths like ``100Gbps``, ``400gbit``, ``25Gb/s`` (bits) or
``12.5GB/s``, ``64GiB/s`` (bytes), and durations like ``250ns``, ``5us``, ``5µs``, ``2ms``,
``0.001s``, ``1min``. Callers turn the ``ValueError`` into their own located error.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["MAX_TIME_S", "bandwidth_bytes_per_s", "bytes_per_s", "duration_s", "seconds"]

MAX_TIME_S = 9_223_372_036.0
"""The simulator's horizon in seconds. Its clock counts integer nanoseconds in an int64, which
holds 2**63 - 1 ns (about 9.22e9 s, 292 years); rounded down to whole seconds, so every time up to
it converts to int64 nanoseconds without overflow. Traces are checked against it where they
enter (readers, ``validate_frame``), so a run never meets a time its clock cannot hold."""

_NUMBER = r"(?P<number>[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)"
_BANDWIDTH = re.compile(rf"^{_NUMBER}\s*(?P<prefix>[kKmMgGtT]?)(?P<binary>i?)"
                        r"(?P<base>bps|bits?/s|bits?|b/s|Bps|B/s|B|bytes?/s)$")
_DURATION = re.compile(rf"^{_NUMBER}\s*(?P<unit>ns|us|µs|ms|s|min)$")
_PREFIXES = "_kmgt"
_DURATION_UNITS_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0}


def bandwidth_bytes_per_s(text: str) -> float:
    """``100Gbps`` -> 12.5e9. A lower-case ``b`` (or ``bps``, ``bit``) is bits, an upper-case
    ``B`` (or ``byte``) bytes; ``Ki``..``Ti`` are binary prefixes. Positive and finite."""
    match = _BANDWIDTH.match(text.strip())
    if match is None:
        raise ValueError(f"cannot read bandwidth '{text}' (use e.g. 100Gbps, 400gbit, 12.5GB/s, "
                         "64GiB/s)")
    prefix, binary, base = match["prefix"].lower(), match["binary"], match["base"]
    if binary and not prefix:
        raise ValueError(f"cannot read bandwidth '{text}' (a binary 'i' needs a prefix)")
    scale = (1024.0 if binary else 1000.0) ** _PREFIXES.index(prefix) if prefix else 1.0
    is_bits = base == "bps" or base.startswith("bit") or base == "b/s"
    value = float(match["number"]) * scale / (8.0 if is_bits else 1.0)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"bandwidth must be positive and finite, got '{text}'")
    return value


def duration_s(text: str) -> float:
    """``5us`` -> 5e-6 seconds. Non-negative (the grammar has no sign), finite and within the
    simulator's horizon (``MAX_TIME_S``)."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"cannot read duration '{text}' (use e.g. 5us, 200ms, 0.2s)")
    value = float(match["number"]) * _DURATION_UNITS_S[match["unit"]]
    if not math.isfinite(value):
        raise ValueError(f"duration must be finite, got '{text}'")
    if value > MAX_TIME_S:
        raise ValueError(f"duration '{text}' is beyond the simulator's horizon of "
                         f"{MAX_TIME_S:.0f} s")
    return value


# Field validators for files (scenario and topology YAML, user catalogs): a plain number in the
# field's own unit, or a string in the grammar above. Pydantic reports the ValueError with the
# field's location.


def _plain_number(text: str) -> float | None:
    """``"1.0e10"`` (a number YAML 1.1 reads as a string) -> 1e10; None for anything else."""
    try:
        return float(text)
    except ValueError:
        return None


def seconds(value: Any) -> Any:
    """A number (seconds) or ``"<number><unit>"`` with unit ns/us/µs/ms/s/min -> float seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 0.2, 200ms or 50us")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        number = _plain_number(value)
        number = duration_s(value) if number is None else number
    else:
        return value  # let pydantic report the type error
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"duration must be finite and >= 0, got {value!r}")
    if number > MAX_TIME_S:
        raise ValueError(f"duration {value!r} is beyond the simulator's horizon of "
                         f"{MAX_TIME_S:.0f} s")
    return number


def bytes_per_s(value: Any) -> Any:
    """A number (bytes/s) or ``"<number><prefix><unit>"``: ``100Gbps``/``25Gb/s`` are bits,
    ``12.5GB/s``/``64GiB/s`` bytes (``Ki``..``Ti`` binary) -> float bytes per second."""
    if isinstance(value, bool):
        raise ValueError("expected a bandwidth such as 100Gbps or 12.5GB/s")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        number = _plain_number(value)
        number = bandwidth_bytes_per_s(value) if number is None else number
    else:
        return value
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"bandwidth must be positive and finite, got {value!r}")
    return number
