"""The latency benchmark's scheduling per engine: B concurrent requests, except for a
single-sequence engine (llama.cpp), where B is the prompt chunk of ONE request; and the one
place a run shape is read and checked (``RunShape.from_cells``)."""

from __future__ import annotations

import pytest

from phasesim.errors import InputError
from phasesim.simulator.apps.latency import (
    BenchmarkScheduling,
    RunShape,
    benchmark_scheduling,
    latency_benchmark,
)
from phasesim.simulator.catalog.engines import get_engine
from phasesim.simulator.topology import Batching


@pytest.mark.parametrize(("batch_size", "chunk"), [(1, 1), (64, 64), (512, 512), (2048, 512)])
def test_llama_cpp_runs_one_request_in_chunks_of_min_b_512(batch_size: int, chunk: int) -> None:
    assert benchmark_scheduling(get_engine("llama.cpp"), batch_size) == BenchmarkScheduling(
        requests=1, batching=Batching.CHUNKED, max_num_seqs=1, max_num_batched_tokens=chunk)


@pytest.mark.parametrize("engine", ["vllm", "trt-llm", "deepspeed-mii", "groq"])
def test_other_engines_run_b_requests_on_their_own_scheduling(engine: str) -> None:
    assert benchmark_scheduling(get_engine(engine), 16) == BenchmarkScheduling(
        requests=16, batching=None, max_num_seqs=None, max_num_batched_tokens=None)


def test_llama_cpp_latency_is_one_request_chunked(constant_cost_model) -> None:
    def run(batch_size: int):
        return latency_benchmark(constant_cost_model, RunShape(
            hardware="h100-sxm", model="llama2-7b", input_len=1000, output_len=11,
            batch_size=batch_size, engine="llama.cpp"))

    # 10 ms per prefill iteration, 2 ms per decode step: ceil(1000 / chunk) prompt chunks
    for batch_size, chunks in ((512, 2), (100, 10), (2048, 2)):
        result = run(batch_size)
        assert result.ttft_s == pytest.approx(0.010 * chunks)
        assert result.latency_s == pytest.approx(0.010 * chunks + 10 * 0.002)
        # one request, whatever the row's batch size
        assert result.throughput_tokens_per_s == pytest.approx(1011 / result.latency_s)


def test_vllm_latency_runs_b_requests_together(constant_cost_model) -> None:
    result = latency_benchmark(constant_cost_model, RunShape(
        hardware="h100-sxm", model="llama2-7b", input_len=100, output_len=11, batch_size=8))
    assert result.throughput_tokens_per_s == pytest.approx(8 * 111 / result.latency_s)
    explicit = latency_benchmark(constant_cost_model, RunShape(
        hardware="h100-sxm", model="llama2-7b", input_len=100, output_len=11, batch_size=8,
        engine="vllm"))
    assert explicit == result


CELLS = {"hardware": " h100-sxm", "model": "llama3-8b ", "tp": "2.0", "input_len": "128",
         "output_len": "16", "batch_size": "4"}


def test_a_shape_from_cells_reads_names_and_whole_numbers() -> None:
    shape = RunShape.from_cells({**CELLS, "engine": None}, dtype="bf16")
    assert shape == RunShape(hardware="h100-sxm", model="llama3-8b", dtype="bf16",
                             tensor_parallel=2, input_len=128, output_len=16, batch_size=4)
    assert RunShape.from_cells({**CELLS, "engine": "trt-llm"}).engine == "trt-llm"


@pytest.mark.parametrize(("cells", "column", "fragment"), [
    ({"tp": "1.5"}, "tp", "whole number >= 1, got '1.5'"),
    ({"batch_size": "nan"}, "batch_size", "whole number"),
    ({"input_len": "0"}, "input_len", "whole number"),
    ({"tp": "5000"}, "tp", "4,096"),
    ({"input_len": "1e12"}, "input_len", "context"),
    ({"batch_size": "1e6"}, "batch_size", "65,536"),
    ({"model": "llama9"}, "model", "unknown model"),
    ({"hardware": "tpu"}, "hardware", "unknown hardware"),
    ({"engine": ""}, "engine", "unknown engine ''"),
])
def test_a_bad_cell_is_named_by_its_column(cells, column, fragment) -> None:
    with pytest.raises(InputError) as caught:
        RunShape.from_cells({**CELLS, **cells})
    assert caught.value.column == column and fragment in caught.value.message


def test_the_constructor_checks_its_fields_by_their_names() -> None:
    with pytest.raises(InputError) as caught:
        RunShape(hardware="h100-sxm", model="llama3-8b", tensor_parallel=0, input_len=8,
                 output_len=8, batch_size=1)
    assert caught.value.column == "tensor_parallel"
