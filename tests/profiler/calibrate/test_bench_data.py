"""LLM-Inference-Bench calibration data: the condensed copy, its mapping, units and the docs table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from phasesim.errors import InputError
from phasesim.profiler.calibrate.bench_data import (
    COLUMNS,
    CONDENSED_PATH,
    ENGINE_NAMES,
    HARDWARE_NAMES,
    MODEL_NAMES,
    WITHHELD_MODELS,
    calibration_rows,
    condense,
    kv_read_bound_s,
    load_bench_data,
    read_power_file,
    render_bench_rows_table,
    unmapped_counts,
    weight_read_bound_s,
)
from phasesim.simulator.catalog import HARDWARE, MODELS

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO / ".." / "shared" / "data" / "reference" / "llm-inference-bench"
DOCS = REPO / "docs" / "calibration.md"


@pytest.fixture(scope="module")
def bench() -> pd.DataFrame:
    return load_bench_data()


def test_condensed_copy_is_small_and_licensed():
    assert CONDENSED_PATH.stat().st_size < 2_000_000
    notice = (CONDENSED_PATH.parent / "LLM-Inference-Bench_LICENSE.txt").read_text()
    assert "BSD 3-Clause" in notice and "UChicago Argonne, LLC" in notice
    assert "llm_inference_bench.csv" in (REPO / "simulator" / "tables" / "SOURCES.md").read_text()


def test_rows_and_sources(bench):
    assert len(bench) == 3778  # 3,755 All_results runs + 23 runs only the power/TTFT files hold
    assert bench["source"].str.startswith("All_results.csv:").sum() == 3755
    assert bench["source"].is_unique
    assert (bench["latency_s"] > 0).all()
    assert (bench["input_len"] == bench["output_len"]).all()
    assert set(bench.columns) >= set(COLUMNS) | {"hardware", "engine", "model", "requests"}


def test_no_withheld_llama2_7b_rows(bench):
    assert not bench["model_label"].isin(WITHHELD_MODELS).any()
    assert not bench["model_label"].str.contains("Llama-2-7b|llama-7b", case=False).any()
    assert "llama2-7b" not in set(bench["model"])


def test_rows_per_hardware_and_engine(bench):
    counts = bench.groupby(["hardware", "engine"]).size().to_dict()
    assert counts == {
        ("a100-sxm-40gb", "deepspeed-mii"): 121, ("a100-sxm-40gb", "llama.cpp"): 154,
        ("a100-sxm-40gb", "trt-llm"): 196, ("a100-sxm-40gb", "vllm"): 188,
        ("gaudi2", "deepspeed"): 258,
        ("gh200", "llama.cpp"): 60, ("gh200", "trt-llm"): 40, ("gh200", "vllm"): 161,
        ("h100-sxm", "llama.cpp"): 200, ("h100-sxm", "trt-llm"): 219, ("h100-sxm", "vllm"): 308,
        ("max1550", "llama.cpp"): 211, ("max1550", "vllm"): 16, ("max1550", "vllm-xpu-early"): 57,
        ("mi250", "llama.cpp"): 299, ("mi250", "vllm"): 334,
        ("mi300x", "llama.cpp"): 326, ("mi300x", "vllm"): 599,
        ("sn40l", "sambaflow"): 31,
    }


def test_the_early_xpu_vllm_port_stays_apart(bench):
    """"Intel PVC GPU" vLLM rows are an early port, 3-10x slower than "Intel Max 1550" vLLM."""
    early = bench[bench["engine"] == "vllm-xpu-early"]
    assert set(early["hardware_label"]) == {"Intel PVC GPU"} and set(early["hardware"]) == {"max1550"}
    ref = bench[(bench["engine"] == "vllm") & (bench["hardware"] == "max1550")]
    assert set(ref["hardware_label"]) == {"Intel Max 1550"}
    key = ["model", "input_len", "batch_size"]
    ratio = early.merge(ref, on=key, suffixes=("_early", "_ref"))
    ratio = ratio["latency_s_early"] / ratio["latency_s_ref"]
    assert len(ratio) == 16 and ratio.min() > 3 and ratio.median() > 4


def test_unmapped_rows_are_counted_not_dropped(bench):
    unmapped = unmapped_counts(bench)
    assert unmapped["hardware"] == {} and unmapped["engine"] == {}
    assert unmapped["model"]["Deci/DeciLM-7B"] == 86
    assert unmapped["model"]["mistralai/Mistral-7B-v0.3"] == 1
    assert sum(unmapped["model"].values()) == 91
    assert len(calibration_rows(bench)) == len(bench) - 91
    # the multi-head-attention 7B models of Fig_10 are mapped (they pin full-width KV reads)
    assert {"qwen1.5-7b", "aquila-7b", "gpt-j-6b", "opt-6.7b", "bloom-7b1"} <= set(bench["model"])
    # every mapped name is a catalog name
    assert set(HARDWARE_NAMES.values()) <= set(HARDWARE)
    assert set(MODEL_NAMES.values()) <= set(MODELS)
    assert set(bench["engine"]) - {""} == set(ENGINE_NAMES.values()) | {"vllm-xpu-early"}


def test_an_unknown_label_is_reported(tmp_path, bench):
    frame = bench[list(COLUMNS)].head(3).copy()
    frame.loc[0, "hardware_label"] = "Cerebras CS-3"
    frame.loc[1, "engine_label"] = "SGLang"
    path = tmp_path / "b.csv"
    frame.to_csv(path, index=False)
    loaded = load_bench_data(path)
    assert len(loaded) == 3
    assert unmapped_counts(loaded) == {"hardware": {"Cerebras CS-3": 1}, "engine": {"SGLang": 1}, "model": {}}
    assert len(calibration_rows(loaded)) == 1


def test_withheld_rows_are_refused(tmp_path, bench):
    frame = bench[list(COLUMNS)].head(2).copy()
    frame.loc[0, "model_label"] = "meta-llama/Llama-2-7b-hf"
    path = tmp_path / "b.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match="withheld"):
        load_bench_data(path)


def test_power_units(bench):
    """Fig_16 reads milliwatts, Fig_10 watts (but for 60 rows in mW): all come out in watts."""
    powered = bench[bench["avg_power_w"].notna()]
    assert len(powered) == 153 and powered["avg_power_w"].between(200, 1200).all()
    assert (bench["power_unit"] != "").sum() == 153
    assert set(powered.loc[powered["power_source"].str.startswith("Fig_16"), "power_unit"]) == {"mW"}
    fig10 = powered[powered["power_source"].str.startswith("Fig_10")]
    assert (fig10["power_unit"] == "mW").sum() == 60
    assert set(fig10.loc[fig10["power_unit"] == "mW", "model_label"]) == {"Deci/DeciLM-7B"}
    a100 = powered[(powered["hardware"] == "a100-sxm-40gb") & (powered["engine"] == "vllm")
                   & (powered["model"] == "llama3-8b") & (powered["batch_size"] == 1)]
    fig16 = a100[a100["power_source"].str.startswith("Fig_16")]
    assert fig16["avg_power_w"].iloc[0] == pytest.approx(228.75007936507938)  # 228,750.08 mW


def test_read_power_file_units(tmp_path):
    path = tmp_path / "power_results.csv"
    head = "Hardware,Num of Hardware,Framework,Model,Input Output Length,Batch Size,Latency,Throughput,avg_power\n"
    path.write_text(head + "Nvidia A100 GPU,1,vLLM,Qwen/Qwen2-7B,128,1,1.5,170.6,250000.0\n")
    rows = read_power_file(path, unit="mW")
    assert rows["avg_power_w"].tolist() == [250.0] and rows["power_unit"].tolist() == ["mW"]
    assert rows["source"].tolist() == ["power_results.csv:2"]
    # a watts file: plain watts stay, a reading above 10 kW is milliwatts
    path.write_text(head + "Nvidia A100 GPU,1,vLLM,Qwen/Qwen2-7B,128,1,1.5,170.6,459.1\n"
                    "Nvidia H100 GPU,4,vLLM,Qwen/Qwen2-7B,128,1,1.5,170.6,1056080.0\n")
    rows = read_power_file(path, unit="W")
    assert rows["avg_power_w"].tolist() == [459.1, 1056.08] and rows["power_unit"].tolist() == ["W", "mW"]
    with pytest.raises(InputError, match="not a milliwatt reading"):
        read_power_file(path, unit="mW")
    path.write_text("Hardware,Latency\nx,1\n")
    with pytest.raises(InputError, match="avg_power"):
        read_power_file(path, unit="W")


def test_ttft_attaches_to_its_run(bench):
    ttft = bench[bench["ttft_s"].notna()]
    assert len(ttft) == 20 and (ttft["input_len"] == 1024).all() and (ttft["batch_size"] == 16).all()
    assert (ttft["ttft_s"] < ttft["latency_s"]).all()
    h100 = ttft[(ttft["hardware"] == "h100-sxm") & (ttft["engine"] == "vllm") & (ttft["model"] == "llama3-8b")]
    assert h100["ttft_s"].iloc[0] == pytest.approx(0.42566500790417194)
    assert h100["latency_s"].iloc[0] == pytest.approx(11.024687729899984)  # Fig_22's end_latency


def test_llama_cpp_batch_size_is_not_concurrency(bench):
    cpp = bench[bench["engine"] == "llama.cpp"]
    assert (cpp["requests"] == 1).all()
    others = bench[bench["engine"] != "llama.cpp"]
    assert (others["requests"] == others["batch_size"]).all()


def test_docs_show_the_bench_data_table(bench):
    assert render_bench_rows_table(bench) in DOCS.read_text()


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared reference data not present")
def test_condensed_copy_matches_shared():
    frame, report = condense(SHARED)
    shipped = pd.read_csv(CONDENSED_PATH, keep_default_na=False, na_values={"ttft_s": [""], "avg_power_w": [""]})
    assert len(frame) == len(shipped) and report.withheld == 0 and report.ttft_unmatched == []
    assert frame["source"].tolist() == shipped["source"].tolist()
    pd.testing.assert_series_equal(frame["latency_s"], shipped["latency_s"], rtol=1e-9, check_names=False)
    pd.testing.assert_series_equal(frame["avg_power_w"], shipped["avg_power_w"].astype(float), rtol=1e-9,
                                   check_names=False)


def test_rows_faster_than_reading_the_weights(bench):
    """What docs/calibration.md says about rows below the weight-read floor."""
    floor = weight_read_bound_s(bench)
    assert floor.notna().sum() == len(calibration_rows(bench))
    below = bench[bench["latency_s"] < floor]
    by_model = below.groupby(["hardware", "engine", "model"]).size().to_dict()
    # Fig_10's MHA models at N = 2,048 on GH200: 2,048 + 2,048 tokens on a 2,048-token context
    assert by_model == {("gh200", "vllm", m): 4 for m in ("aquila-7b", "bloom-7b1", "gpt-j-6b",
                                                          "opt-6.7b")} | {
                        ("h100-sxm", "trt-llm", "qwen2-72b"): 1,
                        ("h100-sxm", "trt-llm", "qwen2-7b"): 11}
    qwen = below[below["model"] == "qwen2-7b"]
    assert (qwen["input_len"] == 2048).all()
    assert (qwen["latency_s"] < 0.65 * floor[qwen.index]).all()  # impossible, not marginal


def test_identical_prompt_batches_explain_the_fast_mixtral_runs(bench):
    """TensorRT-LLM's and DeepSpeed's scripts send B copies of one prompt (bench_data docstring):
    priced as independent sequences (uniform routing: ~8 of 8 experts per step at batch >= 16),
    12 TensorRT-LLM Mixtral runs would be faster than reading those experts at the datasheet
    bandwidth; with copies routed alike (2 experts per step) none is."""
    assert set(bench.loc[bench["identical_prompts"], "engine"]) == {"trt-llm", "deepspeed-mii",
                                                                       "deepspeed"}
    assert not bench.loc[bench["engine"].isin(["vllm", "llama.cpp"]), "identical_prompts"].any()
    mixtral = bench[(bench["model"] == "mixtral-8x7b") & (bench["engine"] == "trt-llm")]
    independent = weight_read_bound_s(mixtral.assign(identical_prompts=False))
    alike = weight_read_bound_s(mixtral)
    below = mixtral[mixtral["latency_s"] < independent]
    assert len(below) == 12 and set(below["batch_size"]) == {16, 32}
    assert (mixtral["latency_s"] > alike).all()
    assert (alike < 0.5 * independent[alike.index])[mixtral["batch_size"] >= 16].all()



def test_rows_faster_than_reading_the_weights_and_the_kv(bench):
    """Beyond the weight floor, one row is faster than reading each step's KV once as well: an
    early stop, a quarter of the time of the same run at half the length."""
    weights = weight_read_bound_s(bench)
    floor = weights + kv_read_bound_s(bench)
    below = bench[(bench["latency_s"] < floor) & ~(bench["latency_s"] < weights)]
    assert len(below) == 1
    row = below.iloc[0]
    assert (row["hardware"], row["engine"], row["model"], row["tp"], row["input_len"],
            row["batch_size"]) == ("h100-sxm", "trt-llm", "qwen2-7b", 4, 2048, 64)
    half = bench[(bench["hardware"] == "h100-sxm") & (bench["engine"] == "trt-llm")
                 & (bench["model"] == "qwen2-7b") & (bench["tp"] == 4)
                 & (bench["input_len"] == 1024) & (bench["batch_size"] == 64)]
    assert row["latency_s"] < 0.3 * half["latency_s"].iloc[0]
