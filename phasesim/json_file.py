"""Read a small JSON file a user hands us (a calibration, a settings file), strictly.

``json.loads`` alone takes too much: a directory or ``/dev/zero`` given as the file (an error
about something else, or a read that never ends), ``NaN``/``Infinity`` (not JSON, but Python's
module reads them), a key given twice (the last one silently wins) and nesting deep enough to
exhaust the interpreter's stack (a ``RecursionError`` traceback). :func:`read_json` refuses each
with an :class:`InputError` naming the file.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from phasesim.errors import InputError

__all__ = ["JSONRefused", "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "read_json", "unique_keys"]

MAX_JSON_BYTES = 16 * 1024 * 1024  # a calibration of every pair is ~100 kB
MAX_JSON_DEPTH = 64  # objects and arrays inside each other; our files nest 5 deep


class JSONRefused(ValueError):
    """Valid JSON that our readers refuse (a repeated key, a non-number constant)."""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``'s ``object_pairs_hook``: a JSON object, refusing a repeated key (``json``
    would silently keep the last one); used by every JSON reader (this module, Mooncake lines)."""
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise JSONRefused(f"key {json.dumps(key)[:40]} appears twice in one object")
    return obj


def _not_json(name: str) -> float:
    raise JSONRefused(f"{name} is not a JSON number")


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def _depth(text: str) -> int:
    """The deepest nesting of objects and arrays (brackets inside strings skipped)."""
    depth = deepest = 0
    for char in _BRACKET.findall(_STRING.sub("", text)):
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    break
        else:
            depth -= 1
    return deepest


def read_json(path: str | Path, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The JSON document in the regular file ``path``, or an :class:`InputError` naming it: not a
    regular file, larger than ``max_bytes``, not UTF-8, not JSON, ``NaN``/``Infinity``, a
    repeated key, or nested deeper than :data:`MAX_JSON_DEPTH`."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read it ({exc.strerror})", path=path) from None
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a device, FIFO or socket)"
        raise InputError(f"{kind}: expected a JSON file", path=path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"cannot read it ({exc.strerror})", path=path) from None
    if len(raw) > max_bytes:
        raise InputError(f"larger than {max_bytes:,} bytes: not a JSON file of ours", path=path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start + 1})", path=path) from None
    if _depth(text) > MAX_JSON_DEPTH:
        raise InputError(f"not JSON of ours: nested more than {MAX_JSON_DEPTH} levels deep",
                         path=path)
    try:
        return json.loads(text, object_pairs_hook=unique_keys, parse_constant=_not_json)
    except JSONRefused as exc:
        raise InputError(f"not JSON of ours: {exc}", path=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                         path=path) from None
    except (ValueError, RecursionError) as exc:  # an integer of > 4,300 digits
        raise InputError(f"not JSON of ours: {' '.join(str(exc).split())[:100]}",
                         path=path) from None
