"""The one check of roofline constants, for the shipped calibrations and a user's alike.

A constant is physics, so a file cannot say anything it likes: an efficiency (a fraction of a
datasheet peak, names ending ``_efficiency``) is a finite number in (0, 1] (``null`` only where the
dataclass's default is None: a term not modelled); a share (``_fraction``) one in [0, 1]; every
other constant (an overhead in seconds) a finite number >= 0. Types are exact: ``true`` is not 1.0, ``"0.5"`` is
not 0.5. Every constant without a default must be there (``{}`` is no calibration); an unknown
name is refused. Without this, ``Infinity`` or 1000 (1000x the peak) gave exit 0 and
faster-than-physics numbers (issue 24).

:func:`check_constants` checks one set of constants; :func:`check_engine_calibration` a whole
``profiler fit`` calibration document (``{"pairs": {"hw/engine": {"constants": ..., "folds":
{model: constants}}}}``). Both take the constants' dataclass, so this module needs nothing from
the roofline and the roofline reads every file through it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from phasesim.errors import InputError

__all__ = ["check_constants", "check_engine_calibration"]


def _is_fraction(name: str) -> bool:
    return name.endswith("_efficiency")


def check_constants(values: Any, cls: type, *, path: str | Path | None,
                    where: str) -> dict[str, float]:
    """``values`` (constants of the dataclass ``cls``) checked; an :class:`InputError` naming
    ``path`` and the field (``where`` + ``.name``) at the first bad one."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if not isinstance(values, dict):
        raise InputError("must be an object of roofline constants", path=path, column=where)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise InputError(f"{unknown[0]!r} is not a roofline constant (they are "
                         f"{', '.join(fields)})", path=path, column=where)
    required = [name for name, f in fields.items()
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in values]
    if missing:
        raise InputError(f"lacks {', '.join(missing)} (constants must be the roofline's)",
                         path=path, column=where)
    for name, value in values.items():
        column = f"{where}.{name}"
        if value is None and fields[name].default is None:
            continue  # a term the constants leave unmodelled (decode_attention_efficiency)
        if type(value) not in (int, float):
            raise InputError(f"must be a number, got {_shown(value)}", path=path, column=column)
        if name.endswith("_fraction"):  # a share, 0 included (gqa_reread_fraction)
            if not (math.isfinite(value) and 0 <= value <= 1):
                raise InputError(f"a fraction must be a finite number in [0, 1], got "
                                 f"{_shown(value)}", path=path, column=column)
        elif _is_fraction(name):
            if not (math.isfinite(value) and 0 < value <= 1):
                raise InputError(f"an efficiency must be a finite number in (0, 1], got "
                                 f"{_shown(value)}", path=path, column=column)
        elif not (math.isfinite(value) and value >= 0):
            raise InputError(f"must be a finite number >= 0, got {_shown(value)}", path=path,
                             column=column)
    return values


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_engine_calibration(doc: Any, cls: type, *, path: str | Path | None) -> dict[str, Any]:
    """A ``profiler fit`` calibration document checked (constants and folds of every pair), with
    the summary fields an older file may lack filled in."""
    pairs = doc.get("pairs") if isinstance(doc, dict) else None
    if not isinstance(pairs, dict):
        raise InputError("not a calibration file (no 'pairs' object)", path=path, column="pairs")
    for key, entry in pairs.items():
        where = f"pairs.{key}"
        if not isinstance(entry, dict):
            raise InputError("must be an object", path=path, column=where)
        if "constants" not in entry:
            raise InputError("lacks 'constants' (constants must be the roofline's)", path=path,
                             column=where)
        check_constants(entry["constants"], cls, path=path, where=f"{where}.constants")
        folds = entry.get("folds", {})
        if not isinstance(folds, dict):
            raise InputError("must be an object", path=path, column=f"{where}.folds")
        for model, constants in folds.items():
            check_constants(constants, cls, path=path, where=f"{where}.folds.{model}")
        for k in ("rows", "models", "train_mape_pct", "cv_mape_pct"):
            entry.setdefault(k, None if k != "models" else [])
    return doc
