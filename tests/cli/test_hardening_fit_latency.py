"""Hardening round 2: what `profiler fit BENCH.csv` and `sim latency --from-csv` read, checked
where it enters, before any work.

Before: a 10^12 batch hung the fit for minutes (and `sim latency` for > 60 s or a numpy
MemoryError), 10^12-token lengths and a 1e300 s latency were fitted with exit 0, int64-max lengths
were an OverflowError, TP 3 / 1,024 rows and a 70B model at TP 1 gave a written fit with exit 0,
the condensed LLM-Inference-Bench format took NaN and negative latencies and fitted TP 1.5 as 1
(NaN TP: a pandas traceback), and an unwritable --tables or --report failed after the .json was
written. Each is now one error line naming the file, row and column, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasesim.simulator.apps.latency import MAX_BENCHMARK_REQUESTS, MAX_BENCHMARK_TOKENS
from tests.one_line import exits_with_one_error_line

pytest.importorskip("scipy")

OURS = "hardware,engine,model,tp,input_len,output_len,batch_size,latency_s\n"
GOOD = "h100-sxm,vllm,llama3-8b,1,128,128,1,1.2\nh100-sxm,vllm,llama3-8b,1,1024,128,8,3.5\n"
CONDENSED = ("hardware_label,tp,engine_label,model_label,input_len,output_len,batch_size,latency_s,"
             "ttft_s,avg_power_w,power_unit,source,ttft_source,power_source\n")
GOOD_CONDENSED = ("Nvidia A100 GPU,1,vLLM,meta-llama/Meta-Llama-3-8B,128,128,1,0.9,,,,x:2,,\n"
                  "Nvidia A100 GPU,1,vLLM,meta-llama/Meta-Llama-3-8B,1024,1024,16,9.5,,,,x:3,,\n")


def _condensed(tp="1", n="128", batch="1", latency="1.0"):
    return (CONDENSED + GOOD_CONDENSED
            + f"Nvidia A100 GPU,{tp},vLLM,meta-llama/Meta-Llama-3-8B,{n},{n},{batch},{latency},,,,x:4,,\n")


FIT_CASES = [
    ("batch_1e12", OURS + GOOD + "h100-sxm,vllm,llama3-8b,1,128,128,1000000000000,1.2\n",
     3, "batch_size"),
    ("input_1e12", OURS + GOOD + "h100-sxm,vllm,llama3-8b,1,1000000000000,128,1,1.2\n",
     3, "input_len"),
    ("output_int64", OURS + GOOD + f"h100-sxm,vllm,llama3-8b,1,128,{2**63 - 1},1,1.2\n",
     3, "output_len"),
    ("tokens", OURS + GOOD + f"h100-sxm,vllm,llama3-8b,1,4096,4096,{MAX_BENCHMARK_REQUESTS},1\n",
     3, "batch_size"),
    ("latency_1e300", OURS + GOOD + "h100-sxm,vllm,llama3-8b,1,128,128,1,1e300\n", 3, "latency_s"),
    ("tp_3", OURS + GOOD + "h100-sxm,vllm,llama3-8b,3,128,128,1,1.2\n", 3, "tp"),
    ("tp_1024", OURS + GOOD + "h100-sxm,vllm,llama3-8b,1024,128,128,1,1.2\n", 3, "tp"),
    ("tp_2e9", OURS + GOOD + "h100-sxm,vllm,llama3-8b,2000000000,128,128,1,1.2\n", 3, "tp"),
    ("70b_at_tp_1", OURS + "h100-sxm,vllm,llama3-70b,1,128,128,1,9.2\n", 1, "tp"),
    ("condensed_nan_latency", _condensed(latency="nan"), 3, "latency_s"),
    ("condensed_negative_latency", _condensed(latency="-1"), 3, "latency_s"),
    ("condensed_tp_1.5", _condensed(tp="1.5"), 3, "tp"),
    ("condensed_tp_nan", _condensed(tp="nan"), 3, "tp"),
    ("condensed_tp_negative", _condensed(tp="-2"), 3, "tp"),
    ("condensed_length_1e13", _condensed(n="10000000000000"), 3, "input_len"),
    ("condensed_batch_1e12", _condensed(batch="1000000000000"), 3, "batch_size"),
]


@pytest.mark.parametrize(("name", "text", "row", "column"), FIT_CASES,
                         ids=[c[0] for c in FIT_CASES])
def test_bad_benchmark_rows_are_refused_before_fitting(profiler, tmp_path: Path, name, text, row,
                                                        column):
    path = tmp_path / "bench.csv"
    path.write_text(text)
    out = tmp_path / "cal.json"
    result = profiler("fit", path, "-o", out, "--no-cv")
    exits_with_one_error_line(result, str(path), f"row {row}", f"column '{column}'")
    assert not out.exists()


@pytest.mark.parametrize(("option", "target"), [
    ("--tables", "/proc/phasesim-no-such-dir"),
    ("--tables", "bench.csv"),  # a file where a folder is wanted
    ("--report", "/proc/phasesim-no-such-dir/report.csv"),
    ("--report", "."),  # a folder where a file is wanted
])
def test_unwritable_outputs_are_refused_before_any_is_written(profiler, tmp_path: Path, option,
                                                              target):
    path = tmp_path / "bench.csv"
    path.write_text(OURS + GOOD)
    target = target if target.startswith("/") else str(tmp_path / target)
    out = tmp_path / "cal.json"
    exits_with_one_error_line(profiler("fit", path, "-o", out, "--no-cv", option, target),
                              target)
    assert not out.exists()


LATENCY = "hardware,model,tp,input_len,output_len,batch_size\n"


@pytest.mark.parametrize(("row", "column", "expect"), [
    ("h100-sxm,llama3-8b,1,128,128,100000000", "batch_size", f"{MAX_BENCHMARK_REQUESTS:,}"),
    ("h100-sxm,llama3-8b,1,128,128,1e18", "batch_size", f"{MAX_BENCHMARK_REQUESTS:,}"),
    (f"h100-sxm,llama3-8b,1,{2**63 - 1},{2**63 - 1},1", "input_len", "context"),
    ("h100-sxm,llama3.1-8b,1,1,131000,60000", "batch_size", f"{MAX_BENCHMARK_TOKENS:,}"),
])
def test_latency_csv_work_is_bounded_before_simulating(sim, tmp_path: Path, row, column, expect):
    path = tmp_path / "in.csv"
    path.write_text(LATENCY + "h100-sxm,llama3-8b,1,128,128,4\n" + row + "\n")
    out = tmp_path / "out.csv"
    result = sim("latency", "--from-csv", path, "-o", out)
    exits_with_one_error_line(result, str(path), "row 2", f"column '{column}'", expect)
    assert not out.exists()


def test_latency_option_batch_is_bounded(sim):
    result = sim("latency", "--hardware", "h100-sxm", "--model", "llama3-8b", "--input-len", "8",
                 "--output-len", "8", "--batch-size", str(10**8))
    exits_with_one_error_line(result, "--batch-size", f"{MAX_BENCHMARK_REQUESTS:,}")
