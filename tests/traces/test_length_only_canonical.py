"""A length-only CSV with the canonical headers, and the one warning for arrivals all at t=0
(issue 21, point 8)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from phasesim import traces
from phasesim.traces.importers import TraceWarning


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_canonical_length_headers_import(tmp_path: Path) -> None:
    src = _csv(tmp_path / "lengths.csv", "prompt_tokens,output_tokens\n100,7\n250,3\n")
    assert traces.detect_format(src) is traces.TraceFormat.LENGTHS
    with pytest.warns(TraceWarning):
        df = traces.import_trace(src)
    assert df["prompt_tokens"].tolist() == [100, 250]
    assert df["output_tokens"].tolist() == [7, 3]


def test_canonical_headers_with_arrivals_keep_the_arrivals(tmp_path: Path) -> None:
    src = _csv(tmp_path / "t.csv", "arrival_s,prompt_tokens,output_tokens\n0.5,100,7\n1.25,250,3\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # arrivals are given: no warning
        df = traces.import_trace(src)
    assert df["arrival_s"].tolist() == [0.5, 1.25]


def test_a_missing_canonical_column_is_named(tmp_path: Path) -> None:
    src = _csv(tmp_path / "t.csv", "prompt_tokens,output\n100,7\n")
    with pytest.raises(Exception, match="prompt_tokens, output_tokens"):
        traces.import_trace(src)


def test_arrivals_all_at_zero_warn_once_and_only_then(tmp_path: Path, cli) -> None:
    src = _csv(tmp_path / "lengths.csv", "num_prefill_tokens,num_decode_tokens\n10,2\n20,3\n30,4\n")
    result = cli("import", src, "-o", tmp_path / "a.parquet")
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("warning:")]
    assert len(lines) == 1 and "all 3 requests arrive at t=0" in lines[0] and "--rate" in lines[0]
    spread = cli("import", src, "-o", tmp_path / "b.parquet", "--rate", "2")
    assert spread.exit_code == 0, spread.output
    assert "warning" not in spread.stderr
