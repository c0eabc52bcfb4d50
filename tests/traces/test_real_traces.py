"""Acceptance: the real public traces and the shipped samples reproduce their published figures."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from phasesim import traces
from tests.traces.conftest import SAMPLES

# Published figures (Splitwise paper / trace README for Azure code; Mooncake FAST'25 trace)
AZURE_CODE_ROWS, AZURE_CODE_PROMPT_MEAN, AZURE_CODE_OUTPUT_MEAN = 8_819, 2047.8, 27.9
MOONCAKE_ROWS, MOONCAKE_INPUT_MEAN = 3_993, 15_325.5


def _check_azure_code(df: pd.DataFrame) -> None:
    assert len(df) == AZURE_CODE_ROWS
    assert round(df["prompt_tokens"].mean(), 1) == AZURE_CODE_PROMPT_MEAN
    assert round(df["output_tokens"].mean(), 1) == AZURE_CODE_OUTPUT_MEAN
    assert df["arrival_s"].iloc[0] == 0.0
    assert (np.diff(df["arrival_s"]) >= 0).all()
    assert (df["request_id"].to_numpy() == np.arange(len(df))).all()


def _check_mooncake(df: pd.DataFrame) -> None:
    assert len(df) == MOONCAKE_ROWS
    assert round(df["prompt_tokens"].mean(), 1) == MOONCAKE_INPUT_MEAN
    assert df.attrs["trace_meta"]["prefix_block_tokens"] == 512
    # 512-token blocks: a prompt of P tokens has ceil(P / 512) block hashes
    blocks = df["prefix_hash_ids"].map(len).to_numpy()
    assert (blocks == -(-df["prompt_tokens"].to_numpy() // 512)).all()


def test_shipped_azure_sample():
    df = traces.read_trace(SAMPLES / "azure_code_2023.parquet")
    _check_azure_code(df)
    meta = df.attrs["trace_meta"]
    assert meta["source"]["file"] == "AzureLLMInferenceTrace_code.csv"
    assert meta["source"]["t0"].startswith("2023-11-16T18:17:03.97996")


def test_shipped_mooncake_sample():
    _check_mooncake(traces.read_trace(SAMPLES / "mooncake_synthetic.parquet"))


def test_azure_code_csv(shared_traces):
    df = traces.import_trace(shared_traces / "AzureLLMInferenceTrace_code.csv")
    _check_azure_code(df)
    assert df.attrs["trace_meta"]["source"]["format"] == "azure"


def test_azure_arrivals_exact_to_100ns(shared_traces):
    """arrival_s equals the decimal difference of the timestamps, correctly rounded to float64."""
    path = shared_traces / "AzureLLMInferenceTrace_code.csv"
    raw = pd.read_csv(path, dtype=str)["TIMESTAMP"]
    df = traces.import_trace(path)

    def seconds(text: str) -> Decimal:
        day, clock = text.split(" ")
        h, m, s = clock.split(":")
        return Decimal(int(day[-2:]) * 86400 + int(h) * 3600 + int(m) * 60) + Decimal(s)

    t0 = seconds(raw.iloc[0])
    expected = np.array([float(seconds(t) - t0) for t in raw])
    assert (df["arrival_s"].to_numpy() == expected).all()  # bit-exact, not approximately


def test_splitwise_csv_is_the_same_requests(shared_traces):
    vidur = traces.import_trace(shared_traces / "splitwise_code.csv")
    azure = traces.import_trace(shared_traces / "AzureLLMInferenceTrace_code.csv")
    assert vidur.attrs["trace_meta"]["source"]["format"] == "vidur"
    _check_azure_code(vidur)
    assert (vidur["prompt_tokens"].to_numpy() == azure["prompt_tokens"].to_numpy()).all()
    assert (vidur["output_tokens"].to_numpy() == azure["output_tokens"].to_numpy()).all()
    # Vidur rounds arrivals to the millisecond
    assert np.abs(vidur["arrival_s"].to_numpy() - azure["arrival_s"].to_numpy()).max() <= 0.0005 + 1e-9


def test_shipped_sample_matches_fresh_import(shared_traces):
    fresh = traces.import_trace(shared_traces / "mooncake_synthetic_trace.jsonl")
    shipped = traces.read_trace(SAMPLES / "mooncake_synthetic.parquet")
    pd.testing.assert_frame_equal(fresh, shipped)
    assert fresh.attrs["trace_meta"] == shipped.attrs["trace_meta"]


def test_mooncake_jsonl(shared_traces):
    df = traces.import_trace(shared_traces / "mooncake_synthetic_trace.jsonl")
    _check_mooncake(df)
    raw = pd.read_json(shared_traces / "mooncake_synthetic_trace.jsonl", lines=True)
    assert (df["arrival_s"].to_numpy() == raw["timestamp"].to_numpy() / 1000).all()


def test_sharegpt_lengths_with_synthetic_arrivals(shared_traces):
    path = shared_traces / "sharegpt_8k_filtered_stats_llama2_tokenizer.csv"
    raw = pd.read_csv(path)
    df = traces.import_trace(path, arrival=traces.Poisson(rate_rps=4.0), seed=7)
    assert len(df) == len(raw) == 30_731
    assert (df["prompt_tokens"].to_numpy() == raw["num_prefill_tokens"].to_numpy()).all()
    assert (df["output_tokens"].to_numpy() == raw["num_decode_tokens"].to_numpy()).all()
    stats = traces.trace_stats(df)
    assert stats["rate_rps"] == pytest.approx(4.0, rel=0.03)
    assert stats["iat_cv"] == pytest.approx(1.0, rel=0.03)
    entry = df.attrs["trace_meta"]["transforms"][0]
    assert entry["op"] == "synthesize_arrivals" and entry["seed"] == 7


def test_stats_cli_on_raw_csv(shared_traces, cli):
    result = cli("stats", shared_traces / "AzureLLMInferenceTrace_code.csv", "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["rows"] == AZURE_CODE_ROWS
    assert round(stats["prompt_tokens"]["mean"], 1) == AZURE_CODE_PROMPT_MEAN
    assert round(stats["output_tokens"]["mean"], 1) == AZURE_CODE_OUTPUT_MEAN
