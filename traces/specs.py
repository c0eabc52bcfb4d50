"""Generator specs from plain data (YAML/CLI): mappings to arrival processes and length distributions.

``phasesim.traces.generate`` is the entry point scenario files use::

    generate(arrival={"process": "gamma", "rate_rps": 5, "cv": 2},
             prompt={"dist": "lognormal", "median_tokens": 1000, "sigma": 1.0},
             output={"dist": "empirical", "path": "trace.parquet", "column": "output_tokens"},
             count=1000, seed=1)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phasesim.errors import InputError
from phasesim.traces.generators import (
    ArrivalProcess,
    ConstantRate,
    Empirical,
    Fixed,
    Gamma,
    LengthDist,
    LogNormal,
    OnOff,
    Poisson,
    Uniform,
    generate_frame,
)
from phasesim.traces.importers import import_trace

__all__ = ["arrival_from_spec", "length_from_spec", "empirical_lengths", "generate"]


def empirical_lengths(path: str | Path, *, column: str) -> Empirical:
    """Token counts of ``column`` (``prompt_tokens`` or ``output_tokens``) of any importable trace."""
    if column not in ("prompt_tokens", "output_tokens"):
        raise InputError("empirical column must be prompt_tokens or output_tokens", column=column)
    df = import_trace(path)
    return Empirical(tokens=tuple(int(v) for v in df[column].to_numpy()), source=f"{Path(path).name}:{column}")


def arrival_from_spec(spec: ArrivalProcess | Mapping[str, Any]) -> ArrivalProcess:
    """An arrival process from a dataclass or a mapping such as ``{"process": "gamma", "rate_rps": 5, "cv": 2}``."""
    if isinstance(spec, (Poisson, Gamma, ConstantRate, OnOff)):
        return spec
    kinds = {"poisson": Poisson, "gamma": Gamma, "constant": ConstantRate, "onoff": OnOff}
    return _from_mapping(spec, key="process", kinds=kinds)



def length_from_spec(spec: LengthDist | Mapping[str, Any] | int, *, column: str = "prompt_tokens") -> LengthDist:
    """A length distribution from a dataclass, an int (fixed) or a mapping such as
    ``{"dist": "lognormal", "median_tokens": 1000, "sigma": 1.0}`` or
    ``{"dist": "empirical", "path": "trace.csv"}`` (resamples ``column`` of that trace unless the
    mapping names its own ``column``)."""
    if isinstance(spec, (Fixed, Uniform, LogNormal, Empirical)):
        return spec
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        return Fixed(tokens=int(spec))
    kinds = {"fixed": Fixed, "uniform": Uniform, "lognormal": LogNormal, "empirical": Empirical}
    return _from_mapping(spec, key="dist", kinds=kinds, column=column)


def _from_mapping(spec: Any, *, key: str, kinds: Mapping[str, type], column: str = "") -> Any:
    if not isinstance(spec, Mapping) or key not in spec:
        raise InputError(f"expected a mapping with '{key}' (one of {', '.join(kinds)}), got {spec!r}", column=key)
    fields = dict(spec)
    kind = str(fields.pop(key)).lower().replace("-", "").replace("_", "")
    if kind not in kinds:
        raise InputError(f"unknown {key} {spec[key]!r} (one of {', '.join(kinds)})", column=key)
    cls = kinds[kind]
    if cls is Empirical and "path" in fields:
        return empirical_lengths(fields.pop("path"), column=fields.pop("column", column))
    if cls is Empirical and "tokens" in fields:
        fields["tokens"] = tuple(int(v) for v in fields["tokens"])
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise InputError(f"unknown field for {key} {kind!r} (allowed: {', '.join(sorted(allowed))})",
                         column=unknown[0])
    try:
        return cls(**fields)
    except TypeError as exc:
        raise InputError(f"bad {key} {kind!r}: {exc}", column=key) from None




def generate(
    *,
    arrival: ArrivalProcess | Mapping[str, Any],
    prompt: LengthDist | Mapping[str, Any] | int,
    output: LengthDist | Mapping[str, Any] | int,
    count: int | None = None,
    duration_s: float | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """A seeded synthetic canonical trace; specs may be dataclasses or plain mappings.

    Exactly one of ``count`` or ``duration_s``. Same arguments and seed: identical frame.
    """
    return generate_frame(arrival=arrival_from_spec(arrival),
                          prompt=length_from_spec(prompt, column="prompt_tokens"),
                          output=length_from_spec(output, column="output_tokens"),
                          count=count, duration_s=duration_s, seed=seed)
