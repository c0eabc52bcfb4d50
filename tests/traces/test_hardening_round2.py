"""Hardening round 2 of the trace layer: prefix hash ids and their block size, and generators
with huge bounds or turns.

Before: int64-max token counts in a parquet trace were accepted (CSV readers refuse past 2^53); a
null inside a parquet row's hash-id list was a ValueError traceback (``traces stats``
and ``replay``); a metadata block size of 2^70 an OverflowError in replay and ``"512"`` accepted;
``uniform:1:2^70`` lengths a numpy traceback, 2^63 - 1 output tokens a trace written with exit 0,
10^12 turns or sessions a 73 TiB allocation, a 2^70-token system prompt a MemoryError, a 2^70
block written with exit 0 and think times of 1e300 s accepted."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from phasesim.cli import app
from phasesim.traces import schema
from phasesim.traces.generators import MAX_GENERATED_REQUESTS, MAX_GENERATED_TOKENS
from phasesim.traces.storage import MAX_PREFIX_BLOCK_TOKENS
from tests.one_line import exits_with_one_error_line

from .test_bad_input import assert_rejected

runner = CliRunner()


def _parquet(path: Path, hashes: pa.Array, block: object = 512) -> Path:
    table = pa.table({"request_id": pa.array([0, 1], pa.int64()), "arrival_s": [0.0, 1.0],
                      "prompt_tokens": pa.array([600, 600], pa.int64()),
                      "output_tokens": pa.array([5, 5], pa.int64()), "prefix_hash_ids": hashes})
    meta = {"schema_version": schema.SCHEMA_VERSION, "source": {}, "prefix_block_tokens": block,
            "transforms": []}
    pq.write_table(table.replace_schema_metadata({schema.METADATA_KEY: json.dumps(meta)}), path)
    return path


GOOD_HASHES = pa.array([[1], [1, 2]], pa.list_(pa.int64()))
CASES = [
    ("null_inside", pa.array([[1], [2, None]], pa.list_(pa.int64())), 512,
     ("row 2", "column 'prefix_hash_ids'")),
    ("block_2^70", GOOD_HASHES, 2**70, ("column 'prefix_block_tokens'",)),
    ("block_string", GOOD_HASHES, "512", ("column 'prefix_block_tokens'",)),
    ("block_list", GOOD_HASHES, [512], ("column 'prefix_block_tokens'",)),
    ("block_past_bound", GOOD_HASHES, MAX_PREFIX_BLOCK_TOKENS + 1,
     (f"{MAX_PREFIX_BLOCK_TOKENS:,}",)),
]


@pytest.mark.parametrize(("name", "hashes", "block", "expect"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("command", ["stats", "replay"])
def test_bad_hash_ids_and_block_sizes(tmp_path: Path, name, hashes, block, expect, command):
    path = _parquet(tmp_path / "t.parquet", hashes, block)
    out = tmp_path / "out"
    argv = (["traces", "stats", str(path)] if command == "stats" else
            ["replay", str(path), "-t", "gpu", "--prefix-cache", "-o", str(out)])
    exits_with_one_error_line(runner.invoke(app, argv), str(path), *expect)
    assert not out.exists()


def test_largest_block_is_read(tmp_path: Path):
    path = _parquet(tmp_path / "t.parquet", GOOD_HASHES, MAX_PREFIX_BLOCK_TOKENS)
    result = runner.invoke(app, ["traces", "stats", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["prefix_block_tokens"] == MAX_PREFIX_BLOCK_TOKENS


GENERATE = [
    (["--count", "10", "--prompt-tokens", f"uniform:1:{2**70}"], "column 'high'"),
    (["--count", "10", "--prompt-tokens", f"uniform:1:{10**400}"], "column 'high'"),
    (["--count", "10", "--output-tokens", str(2**63 - 1)], f"{MAX_GENERATED_TOKENS:,}"),
    (["--count", "10", "--prompt-tokens", "lognormal:1e30:2"], "column 'median_tokens'"),
    (["--sessions", "10", "--turns", str(10**12)], f"{MAX_GENERATED_TOKENS:,}"),
    (["--sessions", "10", "--turns", f"uniform:1:{2**70}"], "column 'high'"),
    (["--sessions", "1000", "--turns", str(MAX_GENERATED_TOKENS)], "column 'turns'"),
    (["--sessions", str(10**12)], f"{MAX_GENERATED_REQUESTS:,}"),
    (["--sessions", "10", "--system-prompt-tokens", str(2**70)], "system_prompt_tokens"),
    (["--sessions", "10", "--prefix-block-tokens", str(2**70)], "prefix_block_tokens"),
    (["--sessions", "3", "--think-s", "1e300"], "horizon"),
    (["--sessions", "100", "--turns", "50", "--prompt-tokens", "60000",
      "--prefix-block-tokens", "1"], "prefix blocks"),
]


@pytest.mark.parametrize(("args", "expect"), GENERATE, ids=[" ".join(a)[:50] for a, _ in GENERATE])
def test_generators_refuse_huge_bounds_before_drawing(cli, tmp_path: Path, args, expect):
    out = tmp_path / "g.parquet"
    assert_rejected(cli("generate", "-o", out, *args), out, expect)


def test_generator_bounds_allow_long_lengths(cli, tmp_path: Path):
    out = tmp_path / "g.parquet"
    result = cli("generate", "-o", out, "--count", "5",
                 "--prompt-tokens", f"uniform:1:{MAX_GENERATED_TOKENS}")
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).column("prompt_tokens").to_pylist() != []


@pytest.mark.parametrize("column", ["prompt_tokens", "output_tokens"])
@pytest.mark.parametrize("command", ["stats", "replay"])
def test_int64_max_token_counts_in_parquet_are_refused_as_in_csv(tmp_path: Path, column, command):
    lengths = {"prompt_tokens": [5, 5], "output_tokens": [5, 5]}
    lengths[column][1] = 2**63 - 1
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"request_id": pa.array([0, 1], pa.int64()), "arrival_s": [0.0, 1.0],
                             **{k: pa.array(v, pa.int64()) for k, v in lengths.items()}}), path)
    out = tmp_path / "out"
    argv = (["traces", "stats", str(path)] if command == "stats" else
            ["replay", str(path), "-t", "gpu", "-o", str(out)])
    exits_with_one_error_line(runner.invoke(app, argv), str(path), "row 2", f"column '{column}'",
                              "2^53")
    assert not out.exists()
