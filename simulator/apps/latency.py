"""What an engine's latency benchmark would show: B prompts at once, one instance, no trace file.

``latency_benchmark(cost_model, shape)`` replays the run a benchmark such as vLLM's
``benchmark_latency`` or LLM-Inference-Bench performs: ``batch_size`` requests of ``input_len``
prompt tokens, all submitted at time 0, each generating ``output_len`` tokens, on ONE instance of
the shape's hardware x tensor-parallel degree, scheduled by the shape's engine (its batching
policy and limits, ``phasesim.simulator.catalog.engines``; default: the hardware's engine, e.g.
vLLM's continuous batching: prefills first, up to ``max(2048, context limit)`` tokens an
iteration, at most ``max_num_seqs`` sequences). It is :func:`phasesim.simulator.run.simulate` on
a B-row trace, so KV capacity, preemption and the cost table's interpolation act exactly as in a
replay.

A single-sequence engine (llama.cpp's ``llama-bench``) runs ONE request: the batch size of such a
benchmark row is llama-bench's ``-b``, the prompt-processing chunk, not a concurrency. The rule,
in :func:`benchmark_scheduling` (fitting code mirrors it): one request whose prompt is processed in
chunks of ``min(batch_size, 512)`` tokens (the chunked policy with that token budget, one
sequence at a time), then decoded one token per step. Results:

- ``latency_s``: until the whole batch is done (the last finish);
- ``ttft_s``: until every request has its first token (the last first token);
- ``tpot_s``: the mean over requests of (finish - first token) / (output_len - 1); 0 when
  ``output_len`` is 1;
- ``throughput_tokens_per_s``: LLM-Inference-Bench's definition, (input + output) x requests /
  latency (requests: B, or 1 for a single-sequence engine);
- ``energy_j`` and ``avg_power_w`` from :mod:`phasesim.simulator.results.energy` (None where the hardware
  has no power figures).

The engine's step times are the cost table's (the CLI picks a table for the engine,
``phasesim.cli.cost_tables``); this module only schedules as the engine does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from phasesim.errors import InputError
from phasesim.simulator.catalog.engines import EngineSpec, get_engine
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import MAX_CONTEXT_TOKENS, get_model
from phasesim.simulator.costs.interface import CostModel
from phasesim.simulator.results.result import SimResult
from phasesim.simulator.run import simulate
from phasesim.simulator.scheduling import engine_for_hardware
from phasesim.simulator.topology import (
    MAX_TENSOR_PARALLEL,
    Batching,
    PoolSpec,
    Role,
    TopologySpec,
)

__all__ = [
    "MAX_BENCHMARK_REQUESTS",
    "MAX_BENCHMARK_TOKENS",
    "SINGLE_SEQUENCE_MAX_CHUNK_TOKENS",
    "BenchmarkScheduling",
    "LatencyResult",
    "RunShape",
    "benchmark_pool",
    "benchmark_run",
    "benchmark_scheduling",
    "check_benchmark_size",
    "latency_benchmark",
]

_POOL = "instance"
# The work one benchmark run may ask for, checked before anything is simulated: a run's time grows
# with its requests and tokens (on a shared 2-core box: 100,000 x 256 tokens 2 s, 100,000 x 2,601
# tokens 22 s, 16,000 x 131,001 tokens 67 s, 10^8 requests: minutes and gigabytes). Far above
# what benchmarks run (LLM-Inference-Bench: batches up to 64, lengths up to 2,048).
MAX_BENCHMARK_REQUESTS = 65_536
MAX_BENCHMARK_TOKENS = 2**27  # batch_size x (input_len + output_len)
# llama.cpp's default n_ubatch: a prompt is processed in physical batches of at most this many
SINGLE_SEQUENCE_MAX_CHUNK_TOKENS = 512


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchmarkScheduling:
    """How one benchmark row runs: ``requests`` submitted at once, at most ``max_num_seqs``
    running together, ``max_num_batched_tokens`` per iteration; None: the engine's value (whose
    None is the simulator's default). ``batching`` None: the engine's policy."""

    requests: int
    batching: Batching | None
    max_num_seqs: int | None
    max_num_batched_tokens: int | None


def benchmark_scheduling(engine: EngineSpec, batch_size: int) -> BenchmarkScheduling:
    """A benchmark row of ``batch_size`` on ``engine``: ``batch_size`` concurrent requests under
    the engine's scheduling, except for a single-sequence engine (llama.cpp), where the batch size
    is the prompt chunk: ONE request, chunked prefill with a budget of ``min(batch_size, 512)``
    tokens (512: n_ubatch, or the engine's own token limit when it names a smaller one), one
    sequence at a time."""
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}", column="batch_size")
    if not engine.single_sequence:
        return BenchmarkScheduling(requests=batch_size, batching=None, max_num_seqs=None,
                                   max_num_batched_tokens=None)
    chunk_cap = min(SINGLE_SEQUENCE_MAX_CHUNK_TOKENS,
                    engine.max_num_batched_tokens or SINGLE_SEQUENCE_MAX_CHUNK_TOKENS)
    return BenchmarkScheduling(requests=1, batching=Batching.CHUNKED, max_num_seqs=1,
                               max_num_batched_tokens=min(batch_size, chunk_cap))


@dataclass(frozen=True, slots=True, kw_only=True)
class RunShape:
    """One benchmark run: the instance (hardware x tensor-parallel degree, model, dtype) and the
    batch (``batch_size`` prompts of ``input_len`` tokens, ``output_len`` tokens generated each;
    for a single-sequence engine, the prompt chunk: :func:`benchmark_scheduling`). ``engine`` None:
    the hardware's default engine. ``max_num_seqs`` None: the engine's (vLLM's 256, capped by the
    hardware's)."""

    hardware: str
    model: str
    dtype: str = "fp16"
    tensor_parallel: int = 1
    input_len: int
    output_len: int
    batch_size: int
    max_num_seqs: int | None = None
    engine: str | None = None

    def __post_init__(self) -> None:
        for name in _CELLS.values():
            _whole_number(getattr(self, name), column=name)
        if self.tensor_parallel > MAX_TENSOR_PARALLEL:
            raise InputError(f"{self.tensor_parallel:,} devices are more than "
                             f"{MAX_TENSOR_PARALLEL:,}, the most one instance has",
                             column="tensor_parallel")
        check_benchmark_size(input_len=self.input_len, output_len=self.output_len,
                             batch_size=self.batch_size)

    @classmethod
    def from_cells(cls, cells: Mapping[str, Any], *, dtype: str = "fp16") -> RunShape:
        """The shape of a CSV row or a command line, checked (``sim latency``, ``profiler fit``
        read run shapes only through here): ``hardware``, ``model`` and ``engine`` (None or
        absent: the hardware's default) catalog names (stripped); ``tp``, ``input_len``,
        ``output_len``, ``batch_size`` whole numbers >= 1 (``"2.0"`` is 2; ``"1.5"``, ``"nan"``,
        ``"0"`` are errors); then the constructor's checks (TP and the run's size). An
        :class:`InputError` names the cell at fault as its column; a model's own config.json at
        fault keeps its file and key instead."""
        names = {}
        for column, lookup in (("hardware", get_hardware), ("model", get_model),
                               ("engine", get_engine)):
            if cells.get(column) is None and column == "engine":
                continue
            names[column] = str(cells[column]).strip()
            try:
                lookup(names[column])
            except InputError as exc:
                raise (exc if exc.path is not None else InputError(exc.message, column=column)
                       ) from None
        counts = {name: _whole_number(cells[column], column=column)
                  for column, name in _CELLS.items()}
        try:
            return cls(dtype=dtype, **names, **counts)
        except InputError as exc:  # the run's size: named by its cell
            cell = {name: column for column, name in _CELLS.items()}.get(exc.column, exc.column)
            raise InputError(exc.message, column=cell) from None


# the count cells of a run shape (CSV columns, CLI options) -> RunShape fields
_CELLS = {"tp": "tensor_parallel", "input_len": "input_len", "output_len": "output_len",
          "batch_size": "batch_size"}


def _whole_number(raw: Any, *, column: str) -> int:
    """``raw`` (a cell as read, or a number) as a whole number >= 1; else an InputError."""
    try:
        number = float(raw)
        if not (math.isfinite(number) and number == int(number) and number >= 1):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"must be a whole number >= 1, got {str(raw)[:40]!r}",
                         column=column) from None
    return int(number)


def check_benchmark_size(*, input_len: int, output_len: int, batch_size: int) -> None:
    """Refuse, before any work, a run longer than a model's context may be
    (``MAX_CONTEXT_TOKENS`` per length) or bigger than ``MAX_BENCHMARK_REQUESTS`` requests and
    ``MAX_BENCHMARK_TOKENS`` tokens: an :class:`InputError` naming the column."""
    for name, value in (("input_len", input_len), ("output_len", output_len)):
        if value > MAX_CONTEXT_TOKENS:
            raise InputError(f"{name} {value:,} is longer than any model's context (at most "
                             f"{MAX_CONTEXT_TOKENS:,} tokens)", column=name)
    if batch_size > MAX_BENCHMARK_REQUESTS:
        raise InputError(f"batch_size {batch_size:,} is more than {MAX_BENCHMARK_REQUESTS:,}, the "
                         "most one benchmark run simulates", column="batch_size")
    tokens = batch_size * (input_len + output_len)
    if tokens > MAX_BENCHMARK_TOKENS:
        raise InputError(f"batch_size x (input_len + output_len) = {tokens:,} tokens is more than "
                         f"{MAX_BENCHMARK_TOKENS:,}, the most one benchmark run simulates",
                         column="batch_size")


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyResult:
    """Times in seconds from the common submission time (module docstring)."""

    latency_s: float
    ttft_s: float
    tpot_s: float
    throughput_tokens_per_s: float
    energy_j: float | None
    avg_power_w: float | None


def benchmark_pool(shape: RunShape) -> tuple[PoolSpec, int]:
    """The one pool a benchmark row runs on (the shape's instance under its engine's scheduling,
    :func:`benchmark_scheduling`) and how many requests are submitted at once."""
    engine = engine_for_hardware(shape.hardware, shape.engine)
    scheduling = benchmark_scheduling(engine, shape.batch_size)
    pool = PoolSpec(name=_POOL, role=Role.COLOCATED, hardware=shape.hardware, model=shape.model,
                    dtype=shape.dtype, tensor_parallel=shape.tensor_parallel, engine=engine.name,
                    batching=scheduling.batching,
                    max_num_seqs=scheduling.max_num_seqs or shape.max_num_seqs,
                    max_num_batched_tokens=scheduling.max_num_batched_tokens)
    return pool, scheduling.requests


def benchmark_run(cost_model: CostModel, shape: RunShape) -> SimResult:
    """The simulated run (``simulate``'s result), every request submitted at t = 0; rejected
    requests are in its records as the simulator reports them."""
    pool, b = benchmark_pool(shape)
    trace = pd.DataFrame({
        "request_id": np.arange(b, dtype=np.int64), "arrival_s": np.zeros(b),
        "prompt_tokens": np.full(b, shape.input_len, dtype=np.int64),
        "output_tokens": np.full(b, shape.output_len, dtype=np.int64)})
    topology = TopologySpec(name="latency-benchmark", pools=(pool,))
    try:
        return simulate(trace, topology, seed=0, cost_models={_POOL: cost_model},
                        timeseries=False)
    except InputError as exc:  # the one pool is the shape's instance: no need to name it
        raise InputError(exc.message.removeprefix(f"pool '{_POOL}': "), column=exc.column) from None


def latency_benchmark(cost_model: CostModel, shape: RunShape) -> LatencyResult:
    """Simulate ``shape`` on ``cost_model`` (whose tensor-parallel degree must be the shape's)."""
    result = benchmark_run(cost_model, shape)
    b = len(result.requests)
    requests = result.requests
    rejected = requests[requests["status"].astype(str) != "completed"]
    if len(rejected):
        reason = str(rejected["reason"].iloc[0]) or "not served"
        raise InputError(f"{shape.input_len} + {shape.output_len} tokens x {b} on {shape.hardware} "
                         f"x{shape.tensor_parallel} ({shape.model}): {len(rejected)} request(s) "
                         f"rejected ({reason})")
    first = requests["first_token_s"].to_numpy(dtype=np.float64)
    finish = requests["finish_s"].to_numpy(dtype=np.float64)
    latency_s = float(finish.max())
    tpot_s = 0.0 if shape.output_len == 1 else float(
        np.mean((finish - first) / (shape.output_len - 1)))
    energy = result.summary.get("energy") or {}
    return LatencyResult(
        latency_s=latency_s, ttft_s=float(first.max()), tpot_s=tpot_s,
        throughput_tokens_per_s=(shape.input_len + shape.output_len) * b / latency_s,
        energy_j=energy.get("joules"), avg_power_w=energy.get("avg_power_w"))
