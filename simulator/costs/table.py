"""Read, validate and write cost tables (the parquet files of ``phasesim.simulator.table_schema``).

Every problem with a table's content is an :class:`~phasesim.traces.errors.InputError` naming the file,
the row (1-based, as in the traces package) and the column. A latency that falls as the batch or
the token count grows is suspicious but not fatal: it gets a :class:`CostTableWarning` naming the
row.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from phasesim.atomic import atomic_path
from phasesim.errors import InputError
from phasesim.plain import plain
from phasesim.simulator import table_schema as ts

__all__ = ["CostTableWarning", "read_table", "write_table", "validate_table", "read_table_meta",
           "MONOTONE_TOLERANCE", "MAX_STEP_S"]

# A latency may fall by this relative amount along a grid line before it is called non-monotone
# (measured tables carry timing noise of a few tenths of a percent).
MONOTONE_TOLERANCE = 0.02

# The longest step a table may hold, in seconds: a day per forward pass is far beyond any real
# step (measured ones take milliseconds to a second; the slowest analytical grid point shipped,
# a100 at the largest batch and prompt, about 70 s) and far below the simulator's horizon
# (phasesim.units.MAX_TIME_S, 1e5 such steps), so a typo of 1e8 s or 1e300 s is refused where the
# table is read instead of overflowing the clock mid-run.
MAX_STEP_S = 86_400.0


class CostTableWarning(UserWarning):
    """A cost table is usable but suspicious (non-monotone row), or a lookup left its grid."""


_INT_COLUMNS = (ts.BATCH_SIZE, ts.TOKENS, ts.SAMPLES, ts.TENSOR_PARALLEL)
_FLOAT_COLUMNS = (ts.LATENCY_S, ts.LATENCY_P10_S, ts.LATENCY_P90_S)
_STR_COLUMNS = (ts.HARDWARE, ts.MODEL, ts.PHASE, ts.DTYPE)
_MIN_INT = {ts.BATCH_SIZE: 1, ts.TOKENS: 1, ts.SAMPLES: 0, ts.TENSOR_PARALLEL: 1}


def _row(index: int) -> int:
    return index + 1


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def validate_table(df: pd.DataFrame, meta: dict[str, Any], *, path: str | Path | None = None) -> pd.DataFrame:
    """Check ``df``/``meta`` against the schema; return a normalised copy (schema dtypes, sorted by
    phase, batch, tokens; extra columns kept). Raises InputError; warns CostTableWarning."""
    for col in ts.COLUMNS:
        if col not in df.columns:
            raise InputError("missing column", path=path, column=col)
    if len(df) == 0:
        raise InputError("table has no rows", path=path)
    out = df.reset_index(drop=True).copy()
    for col in _STR_COLUMNS:
        values = out[col]
        bad = values.isna().to_numpy() | ~values.map(lambda v: isinstance(v, str) and v != "").to_numpy()
        if bad.any():
            i = _first(bad)
            raise InputError(f"expected a non-empty string, got {plain(values.iloc[i])!r}", path=path,
                             row=_row(i), column=col)
        out[col] = values.astype(object)
    for col in _INT_COLUMNS:
        num = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(num) | (num != np.round(num))
        if bad.any():
            i = _first(bad)
            raise InputError(f"expected an integer, got {plain(out[col].iloc[i])!r}", path=path,
                             row=_row(i), column=col)
        low = num < _MIN_INT[col]
        if low.any():
            i = _first(low)
            raise InputError(f"must be >= {_MIN_INT[col]}, got {int(num[i])}", path=path,
                             row=_row(i), column=col)
        out[col] = num.astype(np.int64)
    for col in _FLOAT_COLUMNS:
        num = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(num)
        if bad.any():
            i = _first(bad)
            raise InputError(f"expected a finite number, got {plain(out[col].iloc[i])!r}", path=path,
                             row=_row(i), column=col)
        neg = num < 0 if col != ts.LATENCY_S else num <= 0
        if neg.any():
            i = _first(neg)
            what = "negative latency" if num[i] < 0 else "latency must be > 0"
            raise InputError(f"{what}: {plain(num[i])!r}", path=path, row=_row(i), column=col)
        long = num > MAX_STEP_S
        if long.any():
            i = _first(long)
            raise InputError(f"a step of {num[i]:.4g} s is longer than a table may hold "
                             f"({MAX_STEP_S:.0f} s)", path=path, row=_row(i), column=col)
        out[col] = num
    phases = out[ts.PHASE]
    known = {p.value for p in ts.Phase}
    bad = ~phases.isin(known).to_numpy()
    if bad.any():
        i = _first(bad)
        raise InputError(f"unknown phase {plain(phases.iloc[i])!r} (expected prefill or decode)", path=path,
                         row=_row(i), column=ts.PHASE)
    for phase in ts.Phase:
        if not (phases == phase.value).any():
            raise InputError(f"no rows for phase '{phase.value}'", path=path, column=ts.PHASE)
    for col in (ts.HARDWARE, ts.MODEL, ts.DTYPE, ts.TENSOR_PARALLEL):
        first = out[col].iloc[0]
        bad = (out[col] != first).to_numpy()
        if bad.any():
            i = _first(bad)
            raise InputError(f"a table holds one {col}; got {plain(out[col].iloc[i])!r} after {plain(first)!r}",
                             path=path, row=_row(i), column=col)
    dup = out.duplicated(list(ts.GRID_KEY), keep="first").to_numpy()
    if dup.any():
        i = _first(dup)
        r = out.iloc[i]
        same = (out[ts.PHASE] == r[ts.PHASE]) & (out[ts.BATCH_SIZE] == r[ts.BATCH_SIZE]) & (
            out[ts.TOKENS] == r[ts.TOKENS])
        j = _first(same.to_numpy())
        raise InputError(f"duplicate grid point phase={r[ts.PHASE]} batch_size={r[ts.BATCH_SIZE]} "
                         f"tokens={r[ts.TOKENS]} (first at row {_row(j)})", path=path, row=_row(i),
                         column=ts.TOKENS)
    _validate_meta(meta, path=path)
    _warn_non_monotone(out, path=path)
    return out


def _validate_meta(meta: dict[str, Any], *, path: str | Path | None) -> None:
    if not isinstance(meta, dict):
        raise InputError("metadata must be a JSON object", path=path, column=ts.METADATA_KEY.decode())
    version = meta.get("schema_version", ts.LEGACY_SCHEMA_VERSION)
    if version not in (ts.LEGACY_SCHEMA_VERSION, ts.SCHEMA_VERSION):
        raise InputError(f"unsupported cost-table schema_version {plain(version)!r} (this phasesim "
                         f"reads {ts.LEGACY_SCHEMA_VERSION} and {ts.SCHEMA_VERSION})", path=path,
                         column="schema_version")
    source = meta.get("source")
    if source not in {s.value for s in ts.Source}:
        raise InputError(f"metadata 'source' must be measured, published or analytical; got {source!r}",
                         path=path, column="source")
    if "engine" in meta or version != ts.LEGACY_SCHEMA_VERSION:
        engine = meta.get("engine")
        if not isinstance(engine, str) or not engine.strip():
            raise InputError(f"metadata 'engine' must be a non-empty string (e.g. "
                             f"{', '.join(ts.ENGINES)}); got {plain(engine)!r}", path=path,
                             column="engine")


def _with_engine(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with its engine: a schema-1 table names none and gets
    :func:`~phasesim.simulator.table_schema.legacy_engine`'s (``torch`` if measured, else
    ``analytical``)."""
    if isinstance(meta, dict) and "engine" not in meta:
        meta = {**meta, "engine": ts.legacy_engine(meta)}
    return meta


def _warn_non_monotone(df: pd.DataFrame, *, path: str | Path | None) -> None:
    """One warning per table naming the rows (1-based; first five) whose latency falls by more
    than MONOTONE_TOLERANCE as tokens or batch size grow along a grid line."""
    where = f"{path}: " if path is not None else ""
    lat = df[ts.LATENCY_S].to_numpy()
    bad_rows: dict[int, str] = {}
    for axis, other in ((ts.TOKENS, ts.BATCH_SIZE), (ts.BATCH_SIZE, ts.TOKENS)):
        for _, idx in df.groupby([ts.PHASE, other], sort=True).groups.items():
            order = df.loc[idx].sort_values(axis).index.to_numpy()
            vals = lat[order]
            bad = vals < np.maximum.accumulate(vals) * (1.0 - MONOTONE_TOLERANCE)
            for i in order[bad]:
                bad_rows.setdefault(int(i), axis)
    if not bad_rows:
        return
    rows = sorted(bad_rows)
    i = rows[0]
    listed = ", ".join(f"row {_row(r)}" for r in rows[:5]) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
    warnings.warn(
        f"{where}{listed}: latency_s falls as {bad_rows[i]} grows (first: phase={df[ts.PHASE].iloc[i]}, "
        f"batch_size={df[ts.BATCH_SIZE].iloc[i]}, tokens={df[ts.TOKENS].iloc[i]}, latency_s "
        f"{lat[i]:.6g}); lookups use the running maximum", CostTableWarning, stacklevel=4)


def read_table_meta(path: str | Path) -> dict[str, Any]:
    """Only the metadata of a table file (cheap: reads the parquet footer)."""
    path = Path(path)
    try:
        schema = pq.read_schema(path)
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"not a parquet file ({' '.join(str(exc).split())[:120]})", path=path) from None
    raw = (schema.metadata or {}).get(ts.METADATA_KEY)
    if raw is None:
        raise InputError(f"missing parquet metadata key '{ts.METADATA_KEY.decode()}'", path=path,
                         column=ts.METADATA_KEY.decode())
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"metadata is not valid JSON ({exc.msg})", path=path,
                         column=ts.METADATA_KEY.decode()) from None
    _validate_meta(meta, path=path)
    return _with_engine(meta)


def read_table(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Load and validate a cost table: ``(DataFrame, metadata dict)``."""
    path = Path(path)
    meta = read_table_meta(path)
    try:
        df = pq.read_table(path).to_pandas()
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"cannot read parquet ({' '.join(str(exc).split())[:120]})", path=path) from None
    df = validate_table(df, meta, path=path)
    return df, meta


def _clean(value: Any) -> Any:
    """JSON-safe copy (numpy scalars, non-finite floats as None)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_table(df: pd.DataFrame, meta: dict[str, Any], path: str | Path) -> Path:
    """Validate and write atomically; schema columns first, rows sorted by phase, batch, tokens.
    Always written in the current schema (``schema_version`` set to it); a missing ``engine`` is
    filled in by the schema-1 rule (``torch`` if measured, else ``analytical``). Deterministic:
    same input, same bytes."""
    path = Path(path)
    meta = _with_engine(dict(_clean(meta)))
    meta["schema_version"] = ts.SCHEMA_VERSION
    out = validate_table(df, meta, path=path)
    extra = [c for c in out.columns if c not in ts.COLUMNS]
    out = out[list(ts.COLUMNS) + extra]
    out = out.sort_values([ts.PHASE, ts.BATCH_SIZE, ts.TOKENS], kind="stable").reset_index(drop=True)
    fields = []
    for col, kind in ts.COLUMNS.items():
        fields.append(pa.field(col, {"string": pa.string(), "int64": pa.int64(),
                                     "float64": pa.float64()}[kind]))
    table = pa.Table.from_pandas(out, preserve_index=False)
    table = table.cast(pa.schema(fields + [table.schema.field(c) for c in extra]))
    table = table.replace_schema_metadata(
        {ts.METADATA_KEY: json.dumps(meta, sort_keys=True).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path
