"""Trace metadata ``prefix_block_tokens`` is a whole number of tokens >= 1 (issue 24): -512
silently turned the prefix cache off (and ``traces stats`` printed -512), 512.5 was truncated."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from phasesim.cli import app
from phasesim.traces import write_trace
from tests.one_line import exits_with_one_error_line


def _trace(tmp_path, block):
    df = pd.DataFrame({"request_id": [0, 1], "arrival_s": [0.0, 0.5], "prompt_tokens": [1024, 1024],
                       "output_tokens": [4, 4], "prefix_hash_ids": [[1, 2], [1, 3]]})
    return write_trace(df, tmp_path / "t.parquet",
                       {"source": {"kind": "test"}, "prefix_block_tokens": block})


def _sim(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("block", [-512, 0, 512.5, 512.0, "512", True, 2**70, [512]])
def test_a_bad_block_size_is_one_error_line_in_stats_and_replay(tmp_path, block):
    trace = _trace(tmp_path, block)
    shown = json.dumps(block)
    exits_with_one_error_line(_sim("traces", "stats", trace), "t.parquet",
                              "column 'prefix_block_tokens'", "whole number of tokens",
                              f"got {shown}"[:40])
    out = tmp_path / "run"
    exits_with_one_error_line(_sim("replay", trace, "-t", "gpu", "-o", out),
                              "t.parquet", "prefix_block_tokens")
    assert not out.exists()


def test_a_whole_block_size_is_read(tmp_path):
    result = _sim("traces", "stats", _trace(tmp_path, 512), "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["prefix_block_tokens"] == 512 and stats["ideal_hit_rate"] == 0.25
