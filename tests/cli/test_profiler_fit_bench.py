"""`profiler fit BENCH.csv`: engine constants from benchmark runs, a report, tables on request."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from phasesim.profiler.calibrate.bench_data import calibration_rows, load_bench_data
from phasesim.simulator.costs import read_table
from tests.one_line import exits_with_one_error_line

pytest.importorskip("scipy")

COLUMNS = ["hardware", "engine", "model", "tp", "input_len", "output_len", "batch_size",
           "latency_s", "ttft_s"]


@pytest.fixture
def gh200_runs(tmp_path):
    """The shared GH200 vLLM and TensorRT-LLM rows in our own CSV format."""
    df = calibration_rows(load_bench_data())
    rows = df[(df["hardware"] == "gh200") & df["engine"].isin(["vllm", "trt-llm"])][COLUMNS]
    path = tmp_path / "gh200.csv"
    rows.to_csv(path, index=False)
    return path, rows


def test_fit_writes_calibration_report_and_tables(profiler, tmp_path, gh200_runs):
    path, rows = gh200_runs
    out, report, tables = tmp_path / "cal.json", tmp_path / "rep.csv", tmp_path / "tables"
    result = profiler("fit", path, "-o", out, "--report", report, "--tables", tables,
                      "--table-models", "llama2-7b")
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert sorted(doc["pairs"]) == ["gh200/trt-llm", "gh200/vllm"]
    vllm = doc["pairs"]["gh200/vllm"]
    # every row fitted or left out for a stated reason (the MHA models at 2,048 + 2,048 tokens
    # exceed their 2,048-token context)
    assert vllm["rows"] + sum(vllm["excluded_rows"].values()) == int((rows["engine"] == "vllm").sum())
    assert vllm["excluded_rows"] == {"below-weight-read-floor": 16}
    assert vllm["models"] == sorted(set(rows[rows["engine"] == "vllm"]["model"]))
    assert set(vllm["folds"]) == set(vllm["models"])
    assert 0 < vllm["train_mape_pct"] < 20 and 0 < vllm["cv_mape_pct"] < 30
    # TTFT is reported apart, for the rows that measured it
    assert vllm["ttft"]["rows"] == int(rows[rows["engine"] == "vllm"]["ttft_s"].notna().sum()) == 2
    assert 0 <= vllm["ttft"]["train_mape_pct"] < 20
    per_row = pd.read_csv(report)
    assert len(per_row) == len(rows) - 16  # the fitted rows
    assert (per_row["error_pct"].abs().mean()) == pytest.approx(
        pd.concat([per_row[per_row.engine == e]["error_pct"].abs() for e in ("vllm", "trt-llm")]).mean())
    df, meta = read_table(tables / "gh200__llama2-7b__fp16__vllm__analytical.parquet")
    assert meta["engine"] == "vllm" and meta["source"] == "analytical"
    assert meta["calibration"]["cv_mape_pct"] == vllm["cv_mape_pct"]
    assert "no Llama-2-7B row" in " ".join(meta["provenance"])
    assert "gh200/vllm" in result.stdout


def test_pairs_and_no_cv(profiler, tmp_path, gh200_runs):
    path, _ = gh200_runs
    out = tmp_path / "cal.json"
    result = profiler("fit", path, "-o", out, "--pairs", "gh200/trt-llm", "--no-cv")
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert list(doc["pairs"]) == ["gh200/trt-llm"]
    assert doc["pairs"]["gh200/trt-llm"]["cv_mape_pct"] is None


@pytest.mark.parametrize(("args", "expect"), [
    (["-o", "{tmp}/c.parquet"], ".json calibration"),
    (["-o", "{tmp}/c.json", "--report", "{tmp}/r.json"], ".csv report"),
    (["-o", "{tmp}/c.json", "--pairs", "gh200/deepspeed"], "no usable rows for pair 'gh200/deepspeed'"),
    (["-o", "{tmp}/c.json", "--table-models", "llama9", "--tables", "{tmp}/t"], "llama9"),
])
def test_bad_options_are_one_line_and_write_nothing(profiler, tmp_path, gh200_runs, args, expect):
    path, _ = gh200_runs
    result = profiler("fit", path, *[a.format(tmp=tmp_path) for a in args])
    exits_with_one_error_line(result, expect)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gh200.csv"]


RUNS_HEADER = "hardware,engine,model,tp,input_len,output_len,batch_size,latency_s\n"
FEASIBLE = ("h100-sxm,vllm,llama3-8b,1,128,128,1,1.2\n"
            "h100-sxm,vllm,llama3-8b,1,128,128,8,1.5\n")
TOO_FAST = "a100-sxm-80gb,vllm,llama3-8b,1,128,128,1,0.0001\n"  # below reading the weights once


def test_a_pair_with_no_usable_row_is_an_error_not_an_empty_fit(profiler, tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text(RUNS_HEADER + FEASIBLE + TOO_FAST)
    result = profiler("fit", path, "-o", tmp_path / "cal.json", "--no-cv")
    exits_with_one_error_line(result, "runs.csv", "a100-sxm-80gb/vllm", "none of its 1 row(s)",
                              "below-weight-read-floor 1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]


def test_every_row_left_out_is_counted_on_the_console_with_its_reason(profiler, tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text(RUNS_HEADER + FEASIBLE
                    + "h100-sxm,vllm,llama3-8b,1,128,128,1,0.0001\n"
                    + TOO_FAST)
    out = tmp_path / "cal.json"
    result = profiler("fit", path, "-o", out, "--no-cv", "--pairs", "h100-sxm/vllm")
    assert result.exit_code == 0, result.output
    entry = json.loads(out.read_text())["pairs"]["h100-sxm/vllm"]
    assert entry["rows"] == 2
    assert entry["excluded_rows"] == {"below-weight-read-floor": 1}
    assert ("note: h100-sxm/vllm: 1 of 3 row(s) left out of the fit (below-weight-read-floor 1)"
            ) in result.stderr
    assert "note: 1 row(s) of a100-sxm-80gb/vllm not fitted (not in --pairs)" in result.stderr
    assert "left out: 1 below-weight-read-floor" in result.stdout


def test_a_row_of_our_format_whose_instance_cannot_exist_is_an_error(profiler, tmp_path):
    # in a user's own file a TP degree the catalog refuses is bad input, named at its row (issue
    # 23); in LLM-Inference-Bench's data such measured runs are counted and left out (above)
    path = tmp_path / "runs.csv"
    path.write_text(RUNS_HEADER + FEASIBLE + "h100-sxm,vllm,llama3-8b,3,128,128,8,1.5\n")
    result = profiler("fit", path, "-o", tmp_path / "cal.json", "--no-cv")
    exits_with_one_error_line(result, "runs.csv", "row 3", "'tp'", "does not divide")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]


