"""Benchmark CSVs to fit on: our format and LLM-Inference-Bench's, with located errors."""

from __future__ import annotations

import pytest

from phasesim.errors import InputError
from phasesim.profiler.calibrate.benchmark_csv import read_benchmark_csv

OURS = ("hardware,engine,model,tp,input_len,output_len,batch_size,latency_s,ttft_s,note\n"
        "h100-sxm,vllm,llama3-8b,1,1024,1024,32,13.43,0.77,a\n"
        "h100-sxm,llama.cpp,mistral-7b,2,128,128,64,1.45,,b\n")
RAW = ("Hardware,Num of Hardware,Framework,Model,Input Output Length,Batch Size,Latency,Throughput\n"
       "Nvidia H100 GPU,2,vLLM,meta-llama/Meta-Llama-3-8B,128,16,1.0,4096\n"
       "Nvidia H100 GPU,1,llama.cpp,mistralai/Mistral-7B-v0.1,256,32,2.8,183\n"
       "Nvidia H100 GPU,1,vLLM,google/gemma-7b,128,1,1.1,232\n")


def test_our_format_is_read_with_requests_and_sources(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text(OURS)
    data = read_benchmark_csv(path)
    r = data.rows
    assert data.format == "phasesim" and data.unmapped == {}
    assert r["requests"].tolist() == [32, 1]  # llama.cpp: batch_size is -b, one sequence
    assert r["ttft_s"].iloc[0] == 0.77 and r["ttft_s"].isna().iloc[1]
    assert r["source"].tolist() == ["runs.csv:2", "runs.csv:3"]
    assert r["note"].tolist() == ["a", "b"]  # other columns kept


def test_llm_inference_bench_raw_format_is_mapped_and_unmapped_rows_counted(tmp_path):
    path = tmp_path / "All_results.csv"
    path.write_text(RAW)
    data = read_benchmark_csv(path)
    assert data.rows[["hardware", "engine", "model", "tp", "requests"]].values.tolist() == [
        ["h100-sxm", "vllm", "llama3-8b", 2, 16], ["h100-sxm", "llama.cpp", "mistral-7b", 1, 1]]
    assert data.unmapped == {"model: google/gemma-7b": 1}


def test_identical_prompts_is_an_optional_flag(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text(OURS.replace(",note\n", ",note,identical_prompts\n").replace(",a\n", ",a,true\n")
                    .replace(",b\n", ",b,\n"))
    assert read_benchmark_csv(path).rows["identical_prompts"].tolist() == [True, False]
    path.write_text(OURS)
    assert read_benchmark_csv(path).rows["identical_prompts"].tolist() == [False, False]
    raw = tmp_path / "All_results.csv"
    raw.write_text(RAW.replace("128,16,1.0,4096", "128,16,1.0,4096\n"
                               "Nvidia H100 GPU,1,TensorRT-LLM,meta-llama/Meta-Llama-3-8B,128,16,0.9,4551"))
    rows = read_benchmark_csv(raw).rows  # the data's TensorRT-LLM scripts send copies of one prompt
    assert dict(zip(rows["engine"], rows["identical_prompts"], strict=True)) == {
        "vllm": False, "trt-llm": True, "llama.cpp": False}


@pytest.mark.parametrize(("text", "where"), [
    (OURS.replace("llama3-8b,1,1024", "llama9,1,1024"), "row 1, column 'model'"),
    (OURS.replace(",note\n", ",note,identical_prompts\n").replace(",a\n", ",a,yes\n"),
     "row 1, column 'identical_prompts'"),
    (OURS.replace(",vllm,", ",vllm2,"), "row 1, column 'engine'"),
    (OURS.replace("13.43", "-1"), "row 1, column 'latency_s'"),
    (OURS.replace(",2,128,128,64", ",2,128,12.5,64"), "row 2, column 'output_len'"),
    (OURS.replace("latency_s", "latency"), "column 'latency_s'"),
    (RAW.replace(",2,vLLM", ",two,vLLM"), "row 1, column 'Num of Hardware'"),
    (RAW.replace("Meta-Llama-3-8B", "Llama-2-7b-hf").replace("meta-llama/Llama-2-7b-hf",
                                                           "meta-llama/Llama-2-7b-hf"), "withheld"),
])
def test_a_bad_file_names_row_and_column(tmp_path, text, where):
    path = tmp_path / "b.csv"
    path.write_text(text)
    with pytest.raises(InputError) as exc:
        read_benchmark_csv(path)
    assert where in str(exc.value) and "b.csv" in str(exc.value)


CONDENSED = (
    "hardware_label,tp,engine_label,model_label,input_len,output_len,batch_size,latency_s,ttft_s,"
    "avg_power_w,power_unit,source,ttft_source,power_source\n"
    "Nvidia GH200 GPU,1,TensorRT-LLM,mistralai/Mistral-7B-v0.1,128,128,1,0.688,,,,a.csv:2,,\n"
    "Nvidia GH200 GPU,2,vLLM,mistralai/Mistral-7B-v0.1,128,128,16,0.849,0.05,300,W,a.csv:3,,\n")


def test_condensed_format_is_read(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(CONDENSED)
    data = read_benchmark_csv(path)
    assert data.rows["tp"].tolist() == [1, 2] and data.rows["latency_s"].tolist() == [0.688, 0.849]


@pytest.mark.parametrize(("text", "where"), [
    # the condensed format is checked cell by cell like the others: no TP 1.5 fitted as TP 1, no
    # negative or NaN time
    (CONDENSED.replace("GPU,2,vLLM", "GPU,1.5,vLLM"), "row 2, column 'tp'"),
    (CONDENSED.replace(",0.688,", ",-0.688,"), "row 1, column 'latency_s'"),
    (CONDENSED.replace(",0.849,", ",nan,"), "row 2, column 'latency_s'"),
    (CONDENSED.replace(",0.05,", ",-1,"), "row 2, column 'ttft_s'"),
    (CONDENSED.replace(",16,0.849", ",0,0.849"), "row 2, column 'batch_size'"),
    # Llama-2-7B: one rule in every format (it was accepted in ours, refused in theirs)
    (CONDENSED.replace("GPU,2,vLLM,mistralai/Mistral-7B-v0.1", "GPU,2,vLLM,meta-llama/Llama-2-7b-hf"),
     "row 2, column 'model_label'"),
    (OURS.replace("mistral-7b", "llama2-7b"), "row 2, column 'model'"),
])
def test_every_format_checks_each_cell_and_refuses_llama2_7b(tmp_path, text, where):
    path = tmp_path / "b.csv"
    path.write_text(text)
    with pytest.raises(InputError) as exc:
        read_benchmark_csv(path)
    assert where in str(exc.value) and "b.csv" in str(exc.value)
