"""`sim traces` commands end to end, in-process."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from phasesim import traces
from tests.traces.conftest import SAMPLES


@pytest.fixture
def cli(sim):
    """``cli(*args)``: ``sim traces ARGS...``."""
    return lambda *args: sim("traces", *args)


def test_generate_is_deterministic_and_matches_the_library(cli, tmp_path):
    """Run twice, the second time with the old option names (kept as aliases): same bytes."""
    args = ["--arrival", "gamma", "--rate", "4", "--cv", "2", "--count", "3000", "--seed", "5"]
    lengths = {"a": ["--prompt-tokens", "lognormal:1000:1.0:8192",
                     "--output-tokens", "uniform:1:400"],
               "b": ["--prompt", "lognormal:1000:1.0:8192", "--output", "uniform:1:400"]}
    for name in ("a", "b"):
        result = cli("generate", "-o", tmp_path / f"{name}.parquet", *args, *lengths[name])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    expected = traces.generate(arrival=traces.Gamma(rate_rps=4, cv=2), count=3000, seed=5,
                               prompt=traces.LogNormal(median_tokens=1000, sigma=1.0, max_tokens=8192),
                               output=traces.Uniform(low=1, high=400))
    got = traces.read_trace(tmp_path / "a.parquet")
    assert got["arrival_s"].tolist() == expected["arrival_s"].tolist()
    assert got["prompt_tokens"].max() <= 8192


def test_generate_onoff_duration_and_empirical(cli, tmp_path):
    result = cli("generate", "-o", tmp_path / "g.parquet", "--arrival", "onoff", "--rate", "20", "--on-s", "2",
                 "--off-s", "8", "--duration-s", "600",
                 "--prompt-tokens", f"empirical:{SAMPLES / 'azure_code_2023.parquet'}",
                 "--output-tokens", "64")
    assert result.exit_code == 0, result.output
    df = traces.read_trace(tmp_path / "g.parquet")
    assert df["arrival_s"].max() < 600
    assert set(df["prompt_tokens"]) <= set(traces.read_trace(SAMPLES / "azure_code_2023.parquet")["prompt_tokens"])
    meta = df.attrs["trace_meta"]["source"]["generator"]
    assert meta["prompt"]["source"] == "azure_code_2023.parquet:prompt_tokens"


@pytest.mark.parametrize("args,fragment", [
    (["--prompt-tokens", "zipf:3"], "column '--prompt-tokens'"),
    (["--arrival", "onoff", "--rate", "3"], "column 'on_s'"),
    (["--rate", "0"], "column 'rate_rps'"),
])
def test_generate_bad_options(cli, tmp_path, args, fragment):
    out = tmp_path / "g.parquet"
    result = cli("generate", "-o", out, "--count", "10", *args)
    assert result.exit_code == 2 and fragment in result.stderr and not out.exists()


def test_transform_chain_records_every_step(cli, tmp_path):
    out = tmp_path / "t.parquet"
    result = cli("transform", SAMPLES / "azure_code_2023.parquet", "-o", out, "--window", "100:1100",
                 "--rate-scale", "2", "--sample", "300", "--seed", "4", "--max-context", "4096",
                 "--context-policy", "drop")
    assert result.exit_code == 0, result.output
    df = traces.read_trace(out)
    ops = [t["op"] for t in df.attrs["trace_meta"]["transforms"]]
    assert ops == ["window", "scale_rate", "sample", "clip_context"]
    assert df["arrival_s"].max() < 500  # 1000 s window compressed 2x
    assert ((df.prompt_tokens + df.output_tokens) <= 4096).all()
    assert df.attrs["trace_meta"]["source"]["file"] == "AzureLLMInferenceTrace_code.csv"


def test_transform_head_on_raw_jsonl(cli, write_text, tmp_path):
    src = write_text("m.jsonl", "\n".join(
        json.dumps({"timestamp": i * 250, "input_length": 600 + i, "output_length": 3, "hash_ids": [i, i + 1]})
        for i in range(10)))
    out = tmp_path / "h.parquet"
    assert cli("transform", src, "-o", out, "--head", "4").exit_code == 0
    df = traces.read_trace(out)
    assert df["prompt_tokens"].tolist() == [600, 601, 602, 603]
    assert df.attrs["trace_meta"]["prefix_block_tokens"] == 512
    assert df["prefix_hash_ids"].tolist()[1] == [1, 2]


def test_stats_json_and_table(cli):
    result = cli("stats", SAMPLES / "mooncake_synthetic.parquet", "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert set(stats) == {"rows", "span_s", "rate_rps", "iat_cv", "prompt_tokens", "output_tokens",
                          "prefix_block_tokens", "ideal_hit_rate"}  # Mooncake: hash ids, 512
    assert set(stats["prompt_tokens"]) == {"mean", "p50", "p99"}
    assert stats["rows"] == 3993 and stats["span_s"] == pytest.approx(1022.025)
    assert stats["rate_rps"] == pytest.approx(3992 / 1022.025)
    table = cli("stats", SAMPLES / "mooncake_synthetic.parquet")
    assert table.exit_code == 0 and "15325.5" in table.stdout and "iat_cv" in table.stdout


def test_import_lengths_with_rate_and_parquet_reimport(cli, write_text, tmp_path):
    src = write_text("l.csv", "num_prefill_tokens,num_decode_tokens\n" + "\n".join(f"{i},{i % 5 + 1}"
                                                                                  for i in range(1, 2001)))
    out = tmp_path / "l.parquet"
    result = cli("import", src, "-o", out, "--arrival", "constant", "--rate", "8")
    assert result.exit_code == 0, result.output
    df = traces.read_trace(out)
    assert df["arrival_s"].iloc[-1] == pytest.approx(1999 / 8)
    assert df.attrs["trace_meta"]["transforms"][0]["arrival"] == {"kind": "ConstantRate", "rate_rps": 8.0}
    again = tmp_path / "again.parquet"
    assert cli("import", out, "-o", again).exit_code == 0
    assert pq.read_table(again).equals(pq.read_table(out))
    assert traces.read_trace(again).attrs == df.attrs
