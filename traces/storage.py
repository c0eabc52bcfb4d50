"""Canonical trace files: validate a frame, write it to parquet atomically, read it back.

A canonical trace is a pandas DataFrame with the columns of :mod:`phasesim.traces.schema`; its metadata
(schema version, source, prefix block size, transforms applied) is a plain dict kept in
``df.attrs["trace_meta"]`` in memory and as JSON under ``schema.METADATA_KEY`` in the parquet file.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from phasesim.atomic import atomic_path
from phasesim.errors import InputError
from phasesim.traces import schema
from phasesim.units import MAX_TIME_S

# The largest token count a trace may hold: the largest a float64 holds exactly, the readers' limit
# (``traces.readers``) for every format, parquet included.
MAX_TOKEN_COUNT = 2**53
# The largest prefix hash block a trace may name: real engines use 16 to 512 tokens (Mooncake: 512).
MAX_PREFIX_BLOCK_TOKENS = 2**20

__all__ = [
    "ARROW_TYPES",
    "META_ATTR",
    "coerce_table",
    "frame_to_table",
    "meta_json",
    "new_meta",
    "read_meta",
    "read_trace",
    "table_to_frame",
    "validate_frame",
    "with_transform",
    "write_trace",
]

META_ATTR = "trace_meta"
ROW_GROUP_ROWS = 1 << 20
COMPRESSION = "zstd"

ARROW_TYPES: dict[str, pa.DataType] = {
    schema.REQUEST_ID: pa.int64(),
    schema.ARRIVAL_S: pa.float64(),
    schema.PROMPT_TOKENS: pa.int64(),
    schema.OUTPUT_TOKENS: pa.int64(),
    schema.SESSION_ID: pa.int64(),
    schema.PREFIX_HASH_IDS: pa.list_(pa.int64()),
    schema.PRIORITY: pa.int64(),
    schema.SLO_CLASS: pa.string(),
}
_ALL_COLUMNS = schema.REQUIRED_COLUMNS + schema.OPTIONAL_COLUMNS


def new_meta(*, source: Mapping[str, Any], prefix_block_tokens: int | None = None) -> dict[str, Any]:
    """A fresh metadata dict for a trace that came from ``source``."""
    return {
        "schema_version": schema.SCHEMA_VERSION,
        "source": dict(source),
        "prefix_block_tokens": prefix_block_tokens,
        "transforms": [],
    }


def with_transform(meta: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``meta`` with ``entry`` appended to its transforms list."""
    out = copy.deepcopy(dict(meta))
    out.setdefault("schema_version", schema.SCHEMA_VERSION)
    out["transforms"] = [*out.get("transforms", []), dict(entry)]
    return out


def _fail(message: str, *, path: str | Path | None, row: int | None, column: str | None) -> InputError:
    return InputError(message, path=path, row=row, column=column)


def validate_frame(df: pd.DataFrame, *, path: str | Path | None = None, require_sorted: bool = True) -> None:
    """Raise :class:`InputError` unless ``df`` is a canonical trace. Rows are reported 1-based."""
    for col in schema.REQUIRED_COLUMNS:
        if col not in df.columns:
            raise _fail("missing required column", path=path, row=None, column=col)
    if len(df) == 0:
        raise _fail("trace has no rows", path=path, row=None, column=None)
    for col in (schema.REQUEST_ID, schema.PROMPT_TOKENS, schema.OUTPUT_TOKENS, schema.SESSION_ID, schema.PRIORITY):
        if col not in df.columns:
            continue
        values = df[col]
        if values.isna().any():
            raise _fail("missing value", path=path, row=_first(values.isna()), column=col)
        if not pd.api.types.is_integer_dtype(values.dtype):
            raise _fail(f"expected integers, got dtype {values.dtype}", path=path, row=None, column=col)
    arrival = df[schema.ARRIVAL_S].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(arrival)
    if bad.any():
        raise _fail("arrival is NaN or infinite", path=path, row=_first(bad), column=schema.ARRIVAL_S)
    if (arrival < 0).any():
        raise _fail("arrival is negative", path=path, row=_first(arrival < 0), column=schema.ARRIVAL_S)
    if (arrival > MAX_TIME_S).any():
        row = _first(arrival > MAX_TIME_S)
        raise _fail(f"arrival {arrival[row - 1]:.6g} s is beyond the simulator's horizon of {MAX_TIME_S:.6g} s "
                    "(64-bit nanoseconds, about 292 years)", path=path, row=row, column=schema.ARRIVAL_S)
    if require_sorted and len(arrival) > 1:
        down = np.diff(arrival) < 0
        if down.any():
            raise _fail("arrival_s decreases (trace must be sorted by arrival)", path=path,
                        row=_first(down) + 1, column=schema.ARRIVAL_S)
    for col in (schema.PROMPT_TOKENS, schema.OUTPUT_TOKENS):
        tokens = df[col].to_numpy()
        if (tokens < 1).any():
            raise _fail(f"token count must be >= 1, got {tokens[tokens < 1][0]}", path=path,
                        row=_first(tokens < 1), column=col)
        if (tokens > MAX_TOKEN_COUNT).any():
            raise _fail(f"token count {tokens[tokens > MAX_TOKEN_COUNT][0]} is more than 2^53, the "
                        "most a trace may hold", path=path, row=_first(tokens > MAX_TOKEN_COUNT),
                        column=col)
    dup = df[schema.REQUEST_ID].duplicated()
    if dup.any():
        rid = df[schema.REQUEST_ID].iloc[_first(dup) - 1]
        raise _fail(f"duplicate request_id {rid}", path=path, row=_first(dup), column=schema.REQUEST_ID)


def _first(mask: Any) -> int:
    """1-based index of the first True in ``mask``."""
    return int(np.argmax(np.asarray(mask))) + 1


def meta_json(meta: Mapping[str, Any]) -> bytes:
    """The metadata as stored in parquet: canonical JSON (sorted keys, no spaces)."""
    return json.dumps(_normalized_meta(meta), sort_keys=True, separators=(",", ":")).encode()


def frame_to_table(df: pd.DataFrame, meta: Mapping[str, Any]) -> pa.Table:
    """The canonical arrow table for ``df`` (known columns only, canonical order), metadata attached."""
    arrays, fields = [], []
    for col in _ALL_COLUMNS:
        if col in df.columns:
            arrays.append(pa.array(df[col].to_list() if col == schema.PREFIX_HASH_IDS else df[col].to_numpy(),
                                   type=ARROW_TYPES[col]))
            fields.append(pa.field(col, ARROW_TYPES[col], nullable=col in schema.OPTIONAL_COLUMNS))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata={schema.METADATA_KEY: meta_json(meta)}))


def _normalized_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(meta)
    out.setdefault("schema_version", schema.SCHEMA_VERSION)
    out.setdefault("source", {})
    out.setdefault("prefix_block_tokens", None)
    out.setdefault("transforms", [])
    return out


def table_to_frame(table: pa.Table, meta: Mapping[str, Any]) -> pd.DataFrame:
    """A pandas frame from a canonical arrow table, ``meta`` in ``attrs``."""
    df = table.to_pandas()
    if schema.PREFIX_HASH_IDS in df.columns:
        df[schema.PREFIX_HASH_IDS] = [list(map(int, v)) if v is not None else [] for v in df[schema.PREFIX_HASH_IDS]]
    df.attrs[META_ATTR] = _normalized_meta(meta)
    return df


def write_trace(df: pd.DataFrame, path: str | Path, meta: Mapping[str, Any] | None = None) -> Path:
    """Validate ``df`` and write it to ``path`` (parquet, zstd) atomically. Returns the path.

    ``meta`` defaults to ``df.attrs["trace_meta"]``.
    """
    if meta is None:
        meta = df.attrs.get(META_ATTR, {})
    validate_frame(df)
    table = frame_to_table(df, meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS)
    return Path(path)


def read_meta(path: str | Path) -> dict[str, Any]:
    """The metadata dict of a canonical parquet trace (no data read)."""
    try:
        kv = pq.ParquetFile(path).metadata.metadata or {}
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"not a readable parquet file ({' '.join(str(exc).split())[:120]})", path=path) from None
    raw = kv.get(schema.METADATA_KEY)
    if raw is None:
        return _normalized_meta({"source": {"file": Path(path).name, "format": "parquet"}})
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        raise InputError("trace metadata is not valid JSON", path=path) from None
    except RecursionError:
        raise InputError("trace metadata nests too deeply", path=path) from None
    if not isinstance(meta, dict):
        raise InputError("trace metadata is not a JSON object", path=path)
    version = str(meta.get("schema_version", ""))
    if version != schema.SCHEMA_VERSION:
        raise InputError(f"unsupported trace schema_version {version!r} (expected {schema.SCHEMA_VERSION})",
                         path=path)
    _check_block_tokens(meta.get("prefix_block_tokens"), path)
    return _normalized_meta(meta)


def _check_block_tokens(block: Any, path: str | Path) -> None:
    """``prefix_block_tokens`` is absent (null) or a whole number of tokens >= 1: -512 silently
    turned the prefix cache off and 512.5 was truncated to 512."""
    if block is None:
        return
    if type(block) is not int or not 1 <= block <= MAX_PREFIX_BLOCK_TOKENS:
        shown = json.dumps(block)
        raise InputError(f"trace metadata: prefix_block_tokens must be a whole number of tokens "
                         f"in 1..{MAX_PREFIX_BLOCK_TOKENS:,}, got "
                         f"{shown if len(shown) <= 40 else shown[:37] + '...'}",
                         path=path, column="prefix_block_tokens")


def read_trace(path: str | Path) -> pd.DataFrame:
    """Read and validate a canonical parquet trace; metadata in ``df.attrs["trace_meta"]``."""
    if not Path(path).is_file():
        raise InputError("no such file", path=path)
    meta = read_meta(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"not a readable parquet file ({' '.join(str(exc).split())[:120]})", path=path) from None
    table = coerce_table(table, path=path)
    df = table_to_frame(table, meta)
    validate_frame(df, path=path)
    return df


def _cast(arr: pa.ChunkedArray, to: pa.DataType, *, path: str | Path, first_row: int, column: str) -> pa.ChunkedArray:
    """``arr`` cast to ``to`` with pyarrow's checked cast (no overflow, no truncation); on failure
    an InputError at the first row that does not fit (found by bisection, on the error path only)."""
    try:
        return arr.cast(to)
    except pa.ArrowNotImplementedError as exc:  # the whole column has the wrong type
        raise InputError(f"cannot read as {to} ({exc})", path=path, column=column) from None
    except pa.ArrowInvalid:
        pass
    lo, hi = 0, len(arr)  # the first failing row is in [lo, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            arr.take(np.arange(lo, mid)).cast(to)  # take, not slice: a sliced list keeps all its values
            lo = mid
        except pa.ArrowInvalid:
            hi = mid
    try:
        arr.take([lo]).cast(to)
        reason = "value out of range"  # not reached: the failing row is [lo]
    except pa.ArrowInvalid as exc:
        reason = str(exc)
    raise InputError(f"cannot read as {to} ({reason[:100]})", path=path, row=first_row + lo, column=column)


def _no_null_hash_id(arr: pa.ChunkedArray, *, path: str | Path, first_row: int) -> None:
    """A null inside a row's list of hash ids is an error at that row (a null list: no ids)."""
    values = pc.list_flatten(arr)
    if values.null_count:
        parents = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False)
        inside = parents[_first(values.is_null().to_numpy(zero_copy_only=False)) - 1]
        raise InputError("a null inside the list of hash ids", path=path, row=first_row + int(inside),
                         column=schema.PREFIX_HASH_IDS)


def coerce_table(table: pa.Table, *, path: str | Path, first_row: int = 1) -> pa.Table:
    """Keep the known columns, cast them to canonical types; InputError on failure."""
    for col in schema.REQUIRED_COLUMNS:
        if col not in table.column_names:
            raise InputError("missing required column", path=path, column=col)
    cols, fields = [], []
    for col in _ALL_COLUMNS:
        if col not in table.column_names:
            continue
        arr = table.column(col)
        if col != schema.SLO_CLASS and col != schema.PREFIX_HASH_IDS and arr.null_count:
            raise InputError("missing value", path=path,
                             row=first_row - 1 + _first(arr.is_null().to_numpy(zero_copy_only=False)), column=col)
        if pa.types.is_floating(arr.type) and ARROW_TYPES[col] == pa.int64():
            values = arr.to_numpy()
            bad = ~np.isfinite(values) | (values != np.round(values))
            if bad.any():
                raise InputError(f"expected an integer, got {values[bad][0]}", path=path,
                                 row=first_row - 1 + _first(bad),
                                 column=col)
            huge = np.abs(values) >= 2.0**63
            if huge.any():
                raise InputError(f"value too large: {values[huge][0]:g}", path=path,
                                 row=first_row - 1 + _first(huge), column=col)
        cast = _cast(arr, ARROW_TYPES[col], path=path, first_row=first_row, column=col)
        if col == schema.PREFIX_HASH_IDS:
            _no_null_hash_id(cast, path=path, first_row=first_row)
        if col in (schema.PROMPT_TOKENS, schema.OUTPUT_TOKENS) and len(cast):
            tokens = cast.to_numpy()
            if (tokens > MAX_TOKEN_COUNT).any():
                raise InputError(f"token count {tokens[tokens > MAX_TOKEN_COUNT][0]} is more than "
                                 "2^53, the most a trace may hold", path=path, column=col,
                                 row=first_row - 1 + _first(tokens > MAX_TOKEN_COUNT))
        cols.append(cast)
        fields.append(pa.field(col, ARROW_TYPES[col]))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))
