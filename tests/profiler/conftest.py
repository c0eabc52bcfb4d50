"""Fixtures for the profiler tests: a tiny capture grid and a small trace."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

TINY_GRID = ["--prefill-batch-sizes", "1,2", "--prompt-lens", "16,64,256",
             "--decode-batch-sizes", "1,2,4", "--contexts", "32,256"]
TINY_POINTS = 2 * 3 + 3 * 2


def tiny_capture_args(out: Path, *extra: str) -> list[str]:
    """One torch thread: steadier timings on a CPU shared with other jobs."""
    return ["capture", "--backend", "torch", "--device", "cpu", "--model", "tiny-llama",
            "--dtype", "fp32", "--threads", "1", *TINY_GRID, "--repeats", "3", "--warmup", "1",
            "-o", str(out), *extra]


def write_small_trace(path: Path, *, n: int = 10, seed: int = 3, rate_per_s: float = 8.0) -> Path:
    """A canonical trace (four required columns + metadata key) of short requests."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / rate_per_s, n)
    df = pd.DataFrame({
        "request_id": np.arange(n, dtype=np.int64),
        "arrival_s": np.round(np.cumsum(gaps) - gaps[0], 6),
        "prompt_tokens": rng.integers(16, 250, n).astype(np.int64),
        "output_tokens": rng.integers(1, 30, n).astype(np.int64),
    })
    meta = {"schema_version": "1", "source": {"name": "profiler test"},
            "prefix_block_tokens": None, "transforms": []}
    table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(
        {b"phasesim.trace": json.dumps(meta).encode()})
    pq.write_table(table, path)
    return path


@pytest.fixture
def small_trace(tmp_path: Path) -> Path:
    return write_small_trace(tmp_path / "small.parquet")
