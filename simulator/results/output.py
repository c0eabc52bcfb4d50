"""Write one simulation result to a directory: byte-identical for the same inputs and seed.

Files (all written or none):
- ``requests.parquet``   one row per request (the result contract's columns, no pandas index);
- ``timeseries.parquet`` queue/KV/link occupancy over time;
- ``summary.json``       :func:`phasesim.simulator.results.metrics.summarize` output, sorted keys, indent 2;
- ``meta.json``          provenance: phasesim version, trace path and sha256, the run's own meta
                         (seed, topology dump, versions) and any extra meta the caller adds.

Every file is first serialised in memory, then written into a staging directory that
:func:`phasesim.atomic.staged_dir` swaps in for ``out_dir`` whole: ``out_dir`` always holds exactly
one run's files (a reused directory loses the earlier run's ``timeseries.parquet`` too), and a
failure or a kill at any point leaves it as it was. A directory holding files phasesim did not
write is refused; an unwritable path is one ``error:`` line. No timestamps, hostnames or absolute
temporary paths enter any file.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from phasesim.atomic import atomic_path, staged_dir
from phasesim.simulator.run import phasesim_version

__all__ = ["REQUESTS_FILE", "TIMESERIES_FILE", "SUMMARY_FILE", "META_FILE", "RESULT_FILES",
           "write_results", "result_payloads", "write_payloads", "summary_json", "parquet_bytes",
           "file_sha256"]

REQUESTS_FILE = "requests.parquet"
TIMESERIES_FILE = "timeseries.parquet"
SUMMARY_FILE = "summary.json"
META_FILE = "meta.json"
RESULT_FILES = frozenset({REQUESTS_FILE, TIMESERIES_FILE, SUMMARY_FILE, META_FILE})

# Fixed writer options: the same table always gives the same bytes.
_PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
}


class ResultLike(Protocol):
    """What :func:`write_results` reads from ``phasesim.simulator.results.result.SimResult``."""

    requests: pd.DataFrame
    timeseries: pd.DataFrame
    summary: dict[str, Any]
    meta: dict[str, Any]


def write_results(
    result: ResultLike,
    out_dir: str | Path,
    *,
    trace_path: str | Path | None = None,
    extra_meta: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the four result files into ``out_dir`` (all or none; a directory holding an earlier
    run's files is replaced whole); return ``{file name: final path}``."""
    payloads = result_payloads(result, trace_path=trace_path, extra_meta=extra_meta)
    with staged_dir(out_dir, owned=RESULT_FILES) as staging:
        write_payloads(payloads, staging)
    return {name: Path(out_dir) / name for name in payloads}


def result_payloads(
    result: ResultLike,
    *,
    trace_path: str | Path | None = None,
    extra_meta: Mapping[str, Any] | None = None,
) -> dict[str, bytes]:
    """The four result files' bytes, serialised before anything touches the file system."""
    meta: dict[str, Any] = {"phasesim_version": phasesim_version()}
    if trace_path is not None:
        trace = Path(trace_path)
        meta["trace"] = {"path": str(trace), "sha256": file_sha256(trace),
                         "bytes": trace.stat().st_size}
    meta.update(result.meta)
    meta.update(extra_meta or {})
    return {
        REQUESTS_FILE: parquet_bytes(result.requests),
        TIMESERIES_FILE: parquet_bytes(result.timeseries),
        SUMMARY_FILE: summary_json(result.summary).encode(),
        META_FILE: summary_json(meta).encode(),
    }


def write_payloads(payloads: Mapping[str, bytes], directory: Path) -> None:
    """Write ``{name: bytes}`` into ``directory``, a staging directory the caller publishes."""
    for name, data in payloads.items():
        with atomic_path(directory / name) as tmp:
            tmp.write_bytes(data)


def summary_json(obj: Mapping[str, Any]) -> str:
    """Canonical JSON text: sorted keys, indent 2, NaN/inf as null, trailing newline."""
    return json.dumps(_jsonable(obj), sort_keys=True, indent=2, allow_nan=False) + "\n"


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """A DataFrame as parquet bytes with fixed writer options and no index."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **_PARQUET_OPTIONS)
    return sink.getvalue().to_pybytes()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _jsonable(value: Any) -> Any:
    """Plain JSON types: enums by value, paths as strings, numpy scalars unwrapped, NaN -> None."""
    if isinstance(value, Mapping):
        return {str(_jsonable(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "model_dump"):  # a pydantic model
        return _jsonable(value.model_dump(mode="json"))
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
