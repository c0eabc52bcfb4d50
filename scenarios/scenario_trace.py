"""Build a scenario's trace: read a file or generate one, then apply ``max_requests``/``rate_rps``."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pandas as pd

from phasesim.errors import InputError
from phasesim.scenarios.model import TraceSpec
from phasesim.traces import (
    Sessions,
    clip_context,
    generate,
    generate_sessions,
    head,
    import_trace,
    read_trace,
    scale_rate,
)
from phasesim.traces.schema import ARRIVAL_S
from phasesim.traces.specs import length_from_spec
from phasesim.units import MAX_TIME_S

__all__ = ["build_trace", "check_trace", "mean_rate_rps"]


def build_trace(spec: TraceSpec, *, seed: int) -> pd.DataFrame:
    """The canonical trace ``spec`` describes (paths must already be absolute)."""
    if spec.sessions is not None:
        ses = spec.sessions
        df = generate_sessions(Sessions(
            sessions=ses.sessions,
            session_rate_rps=spec.rate_rps if spec.rate_rps is not None else ses.session_rate_rps,
            turns=length_from_spec(ses.turns, column="turns"), think_s=ses.think_s,
            user=length_from_spec(ses.user, column="user"),
            output=length_from_spec(ses.output, column="output"),
            system_prompt_tokens=ses.system_prompt_tokens,
            prefix_block_tokens=ses.prefix_block_tokens), seed=seed if ses.seed is None else ses.seed)
        return _fit_context(df, spec)
    if spec.generate is not None:
        gen = spec.generate
        arrival = dict(gen.arrival)
        if spec.rate_rps is not None:
            arrival["rate_rps"] = spec.rate_rps
        try:
            df = generate(arrival=arrival, prompt=gen.prompt, output=gen.output,
                          count=gen.count, duration_s=gen.duration_s,
                          seed=seed if gen.seed is None else gen.seed)
        except InputError as exc:  # named by the generator's argument: name the scenario key
            raise InputError(exc.message, column=_generate_key(exc.column, spec)) from None
        return _within_horizon(_fit_context(df, spec), spec)
    path = Path(str(spec.path))
    stat = os.stat(path)
    df = _read_file(str(path), stat.st_mtime_ns, stat.st_size).copy()
    if spec.max_requests is not None and spec.max_requests < len(df):
        df = head(df, spec.max_requests)
    df = _fit_context(df, spec)
    if spec.rate_rps is not None:
        current = mean_rate_rps(df)
        if current is None:
            raise InputError("cannot set rate_rps: the trace's arrivals span no time",
                             path=path, column="rate_rps")
        df = scale_rate(df, spec.rate_rps / current)
    return _within_horizon(df, spec)


def _generate_key(argument: str | None, spec: TraceSpec) -> str:
    """The scenario key behind a generator argument (``rate`` is ``trace.rate_rps`` when the
    scenario sets it, else the arrival process's own ``rate_rps``)."""
    if argument in ("rate", "rate_rps"):
        return "trace.rate_rps" if spec.rate_rps is not None else "trace.generate.arrival.rate_rps"
    return f"trace.generate.{argument}" if argument else "trace.generate"


def _within_horizon(df: pd.DataFrame, spec: TraceSpec) -> pd.DataFrame:
    """``df``, once its last arrival is within the simulator's horizon; else an error naming the
    scenario key that put it there (``trace.rate_rps`` when set)."""
    last_s = float(df[ARRIVAL_S].max()) if len(df) else 0.0
    if last_s > MAX_TIME_S:
        key = "trace.rate_rps" if spec.rate_rps is not None else "trace"
        cause = f"rate_rps {spec.rate_rps:g} puts" if spec.rate_rps is not None else "it has"
        raise InputError(f"{cause} the last arrival at {last_s:.4g} s, beyond the simulator's "
                         f"horizon of {MAX_TIME_S:.0f} s", column=key)
    return df


@functools.lru_cache(maxsize=4)
def _read_file(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    """The file's trace, read once per process for a given file version (every point of a sweep
    on one trace shares it; callers get a copy)."""
    del mtime_ns, size  # cache key only: a rewritten file is read again
    return read_trace(path) if Path(path).suffix == ".parquet" else import_trace(path)


def _fit_context(df: pd.DataFrame, spec: TraceSpec) -> pd.DataFrame:
    if spec.max_context_tokens is None:
        return df
    return clip_context(df, spec.max_context_tokens, spec.context_policy)


def mean_rate_rps(df: pd.DataFrame) -> float | None:
    """(n - 1) / (last arrival - first arrival), or None for a zero span."""
    arrival = df[ARRIVAL_S].to_numpy(dtype=np.float64)
    span = float(arrival.max() - arrival.min()) if len(arrival) else 0.0
    return (len(arrival) - 1) / span if span > 0 else None


def check_trace(spec: TraceSpec) -> None:
    """Cheap load-time checks: the trace file exists (the file is read when the point runs)."""
    if spec.path is not None and not Path(spec.path).is_file():
        raise InputError(f"trace file not found: {spec.path}", column="trace.path")
    if spec.generate is not None:
        for part in ("prompt", "output"):
            dist = getattr(spec.generate, part)
            if isinstance(dist, dict) and "path" in dist and not Path(dist["path"]).is_file():
                raise InputError(f"empirical lengths file not found: {dist['path']}",
                                 column=f"trace.generate.{part}.path")
