"""What an engine's latency benchmark would show: B prompts at once, one instance, no trace file.

``latency_benchmark(cost_model, shape)`` replays the run a benchmark such as vLLM's
``benchmark_latency`` or LLM-Inference-Bench performs: ``batch_size`` requests of ``input_len``
prompt tokens, all submitted at time 0, each generating ``output_len`` tokens, on ONE instance of
the shape's hardware x tensor-parallel degree, under continuous batching (vLLM's default
scheduler: prefills first, up to ``max(2048, context limit)`` tokens an iteration, at most
``max_num_seqs`` sequences). It is :func:`phasesim.simulator.run.simulate` on a B-row trace, so
KV capacity, preemption and the cost table's interpolation act exactly as in a replay. Results:

- ``latency_s``: until the whole batch is done (the last finish);
- ``ttft_s``: until every request has its first token (the last first token);
- ``tpot_s``: the mean over requests of (finish - first token) / (output_len - 1); 0 when
  ``output_len`` is 1;
- ``throughput_tokens_per_s``: LLM-Inference-Bench's definition, (input + output) x B / latency;
- ``energy_j`` and ``avg_power_w`` from :mod:`phasesim.simulator.energy` (None where the hardware
  has no power figures).

The engine dimension (issue 12: per-engine scheduling defaults and overheads) is not modelled
yet: every shape runs the batching above on whatever table it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from phasesim.errors import InputError
from phasesim.simulator.costs.interface import CostModel
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import PoolSpec, Role, TopologySpec

__all__ = ["LatencyResult", "RunShape", "latency_benchmark"]

_POOL = "instance"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunShape:
    """One benchmark run: the instance (hardware x tensor-parallel degree, model, dtype) and the
    batch (``batch_size`` prompts of ``input_len`` tokens, ``output_len`` tokens generated each).
    ``max_num_seqs`` None: the simulator's default (256, capped by the hardware's)."""

    hardware: str
    model: str
    dtype: str = "fp16"
    tensor_parallel: int = 1
    input_len: int
    output_len: int
    batch_size: int
    max_num_seqs: int | None = None

    def __post_init__(self) -> None:
        for name in ("tensor_parallel", "input_len", "output_len", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}", column=name)


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyResult:
    """Times in seconds from the common submission time (module docstring)."""

    latency_s: float
    ttft_s: float
    tpot_s: float
    throughput_tokens_per_s: float
    energy_j: float | None
    avg_power_w: float | None


def latency_benchmark(cost_model: CostModel, shape: RunShape) -> LatencyResult:
    """Simulate ``shape`` on ``cost_model`` (whose tensor-parallel degree must be the shape's)."""
    b = shape.batch_size
    trace = pd.DataFrame({
        "request_id": np.arange(b, dtype=np.int64), "arrival_s": np.zeros(b),
        "prompt_tokens": np.full(b, shape.input_len, dtype=np.int64),
        "output_tokens": np.full(b, shape.output_len, dtype=np.int64)})
    pool = PoolSpec(name=_POOL, role=Role.COLOCATED, hardware=shape.hardware, model=shape.model,
                    dtype=shape.dtype, tensor_parallel=shape.tensor_parallel,
                    max_num_seqs=shape.max_num_seqs)
    topology = TopologySpec(name="latency-benchmark", pools=(pool,))
    try:
        result = simulate(trace, topology, seed=0, cost_models={_POOL: cost_model},
                          timeseries=False)
    except InputError as exc:  # the one pool is the shape's instance: no need to name it
        raise InputError(exc.message.removeprefix(f"pool '{_POOL}': "), column=exc.column) from None
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
