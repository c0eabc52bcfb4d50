"""`sim latency`: one shape or a CSV of them (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from phasesim.cli import app
from phasesim.simulator.apps.latency import RunShape, latency_benchmark
from phasesim.simulator.costs import ConstantCostModel
from tests.one_line import exits_with_one_error_line


def test_closed_form_single_request():
    """One request: TTFT = prefill; every further token one decode step."""
    model = ConstantCostModel(prefill_s=0.1, decode_step_s=0.01)
    r = latency_benchmark(model, RunShape(hardware="h100-sxm", model="llama2-7b", input_len=128,
                                          output_len=11, batch_size=1))
    assert r.ttft_s == pytest.approx(0.1) and r.tpot_s == pytest.approx(0.01)
    assert r.latency_s == pytest.approx(0.2)
    assert r.throughput_tokens_per_s == pytest.approx((128 + 11) / 0.2)


def test_batch_prefilled_together_then_decoded_together():
    model = ConstantCostModel(prefill_s=0.1, decode_step_s=0.01)
    r = latency_benchmark(model, RunShape(hardware="h100-sxm", model="llama2-7b", input_len=128,
                                          output_len=5, batch_size=8))
    assert r.ttft_s == pytest.approx(0.1) and r.latency_s == pytest.approx(0.14)


def test_one_shape_json():
    result = CliRunner().invoke(app, ["latency", "--hardware", "h100-sxm", "--model", "llama3-70b",
                                      "--tp", "4", "--input-len", "512", "--output-len", "64",
                                      "--batch-size", "4", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["cost_table"] == "h100-sxm__llama3-70b__fp16__vllm__analytical__tp4"
    assert out["engine"] == "vllm"  # the GPU default
    assert out["ttft_s"] < out["latency_s"]
    assert out["throughput_tokens_per_s"] == pytest.approx((512 + 64) * 4 / out["latency_s"])


def test_too_big_names_the_minimum_tp():
    result = CliRunner().invoke(app, ["latency", "--hardware", "h100-sxm", "--model", "qwen2-72b",
                                      "--input-len", "128", "--output-len", "8", "--batch-size", "1"])
    assert result.exit_code == 2 and "--tp 4" in result.stderr


def test_csv_keeps_rows_and_columns(tmp_path: Path):
    src = tmp_path / "in.csv"
    src.write_text("note,hardware,engine,model,tp,input_len,output_len,batch_size\n"
                   "x,h100-sxm,vllm,llama3-8b,1,128,16,2\n"
                   "y,a100-sxm-80gb,trt-llm,llama3-70b,4,256,16,1\n"
                   "z,h100-sxm,vllm,llama3-8b,1,128,16,2\n")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["latency", "--from-csv", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out)
    assert list(df["note"]) == ["x", "y", "z"] and list(df["engine"]) == ["vllm", "trt-llm", "vllm"]
    assert (df["latency_s"] > df["ttft_s"]).all() and df.loc[0, "latency_s"] == df.loc[2, "latency_s"]
    assert df.loc[1, "cost_table"] == "a100-sxm-80gb__llama3-70b__fp16__trt-llm__analytical__tp4"


@pytest.mark.parametrize(("row", "column", "fragment"), [
    ("h100-sxm,llama3-8b,1,128,16,zero", "batch_size", "whole number"),
    ("h100-sxm,llama9,1,128,16,1", "model", "unknown model"),
    ("tpu,llama3-8b,1,128,16,1", "hardware", "unknown hardware"),
    ("h100-sxm,llama3-70b,1,128,16,1", "tp", "--tp 2"),
    ("groqrack,llama2-7b,2,128,16,1", "tp", "does not apply"),
    ("h100-sxm,llama2-7b,1,4096,16,1", "input_len", "rejected"),
])
def test_a_bad_row_is_one_error_and_no_file(tmp_path: Path, row, column, fragment):
    src = tmp_path / "in.csv"
    src.write_text("hardware,model,tp,input_len,output_len,batch_size\n"
                   "h100-sxm,llama3-8b,1,128,16,1\n" + row + "\n")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["latency", "--from-csv", str(src), "-o", str(out)])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line
    assert f"row 2, column '{column}'" in line and fragment in line
    assert not out.exists()


def test_llama_cpp_reads_the_batch_size_as_its_prompt_chunk():
    def run(batch_size: int) -> dict:
        result = CliRunner().invoke(app, ["latency", "--hardware", "h100-sxm", "--model",
                                          "llama2-7b", "--engine", "llama.cpp", "--input-len",
                                          "1024", "--output-len", "8", "--batch-size",
                                          str(batch_size), "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    small, large = run(64), run(512)
    assert small["engine"] == "llama.cpp"
    assert small["cost_table"] == "h100-sxm__llama2-7b__fp16__llama.cpp__analytical__tp1"
    # one request whatever the batch size: throughput is (in + out) / latency
    assert small["throughput_tokens_per_s"] == pytest.approx(1032 / small["latency_s"])
    assert small["ttft_s"] > large["ttft_s"]  # 16 prompt chunks instead of 2


def test_csv_engine_column_per_row_and_engine_option_for_the_rest(tmp_path: Path):
    src = tmp_path / "in.csv"
    src.write_text("hardware,engine,model,tp,input_len,output_len,batch_size\n"
                   "h100-sxm,,llama2-7b,1,128,8,2\n"
                   "h100-sxm,vllm,llama2-7b,1,128,8,2\n")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["latency", "--from-csv", str(src), "-o", str(out),
                                      "--engine", "trt-llm"])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df["engine"]) == ["", "vllm"]  # cells as read
    assert list(df["cost_table"]) == ["h100-sxm__llama2-7b__fp16__trt-llm__analytical__tp1",
                                      "h100-sxm__llama2-7b__fp16__vllm__analytical"]  # shipped
    assert df["latency_s"].iloc[0] != df["latency_s"].iloc[1]  # two engines, two answers
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    # both pairs are calibrated (simulator/tables/engine_calibration.json): no 'uncalibrated'
    # line; ONE line says what lies outside their fits' support (Llama-2-7B's multi-head
    # attention for TRT-LLM's, 136 tokens of context for both: intervals widened)
    assert len(warned) == 1 and "uncalibrated" not in result.stderr
    assert "h100-sxm/trt-llm: attention mha (calibrated: gqa)" in warned[0]


def test_unknown_engine_is_one_error_line(tmp_path: Path):
    src = tmp_path / "in.csv"
    src.write_text("hardware,engine,model,tp,input_len,output_len,batch_size\n"
                   "h100-sxm,tgi-9,llama2-7b,1,128,8,2\n")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["latency", "--from-csv", str(src), "-o", str(out)])
    exits_with_one_error_line(result, "row 1", "'engine'", "unknown engine 'tgi-9'")
    assert not out.exists()
    result = CliRunner().invoke(app, ["latency", "--hardware", "h100-sxm", "--model", "llama2-7b",
                                      "--engine", "tgi-9", "--input-len", "8", "--output-len",
                                      "8", "--batch-size", "1"])
    exits_with_one_error_line(result, "--engine", "unknown engine 'tgi-9'", "llama.cpp")


def test_single_sequence_engine_says_it_runs_one_sequence():
    result = CliRunner().invoke(app, ["latency", "--hardware", "h100-sxm", "--engine", "llama.cpp",
                                      "--model", "llama3-8b", "--input-len", "256",
                                      "--output-len", "16", "--batch-size", "64"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1 sequence, prompt in chunks of <= 64 tokens (256 in, 16 out)")


def _latency(*args: str) -> dict:
    result = CliRunner().invoke(app, ["latency", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_identical_prompts_route_a_mixtral_batch_alike_and_leave_dense_models_alone():
    """LLM-Inference-Bench's TensorRT-LLM runs send B copies of one prompt: a Mixtral batch then
    reads one token's experts per step, so it runs faster than B distinct prompts; a dense
    model costs the same either way."""
    shape = ["--hardware", "h100-sxm", "--engine", "trt-llm", "--tp", "4", "--input-len", "128",
             "--output-len", "128", "--batch-size", "32"]
    apart = _latency("--model", "mixtral-8x7b", *shape)
    alike = _latency("--model", "mixtral-8x7b", *shape, "--identical-prompts")
    assert alike["latency_s"] < 0.8 * apart["latency_s"]
    one = _latency("--model", "mixtral-8x7b", *shape[:-1], "1", "--identical-prompts")
    assert one["latency_s"] == _latency("--model", "mixtral-8x7b", *shape[:-1], "1")["latency_s"]
    dense = _latency("--model", "llama3-8b", *shape[:5], "1", *shape[6:], "--identical-prompts")
    assert dense == _latency("--model", "llama3-8b", *shape[:5], "1", *shape[6:])


def test_csv_identical_prompts_column_per_row(tmp_path: Path):
    src = tmp_path / "in.csv"
    src.write_text("hardware,engine,model,tp,input_len,output_len,batch_size,identical_prompts\n"
                   "h100-sxm,trt-llm,mixtral-8x7b,4,128,128,32,true\n"
                   "h100-sxm,trt-llm,mixtral-8x7b,4,128,128,32,\n")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["latency", "--from-csv", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out)
    assert df.loc[0, "latency_s"] < 0.8 * df.loc[1, "latency_s"]
    src.write_text(src.read_text().replace(",true\n", ",yes\n"))
    out.unlink()
    result = CliRunner().invoke(app, ["latency", "--from-csv", str(src), "-o", str(out)])
    exits_with_one_error_line(result, "row 1, column 'identical_prompts'", "true or false")
    assert not out.exists()
    result = CliRunner().invoke(app, ["latency", "--from-csv", str(src), "-o", str(out),
                                      "--identical-prompts"])  # the option does not hide a bad cell
    exits_with_one_error_line(result, "row 1, column 'identical_prompts'", "true or false")
