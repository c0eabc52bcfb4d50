"""Derived figures used to compare hardware: TTFT, TPOT, decode throughput and its crossover."""

from __future__ import annotations

import numpy as np

from phasesim.simulator.costs.table_model import TableCostModel

__all__ = ["ttft_s", "tpot_s", "decode_throughput_tokens_per_s", "decode_throughput_crossover",
           "ttft_crossover_tokens"]


def ttft_s(model: TableCostModel, prompt_tokens: int) -> float:
    """Prefill of one prompt alone (batch 1, no prefix): the compute part of time to first token."""
    return model.prefill_time_s(np.array([prompt_tokens]), np.array([0]))


def tpot_s(model: TableCostModel, context_tokens: int, *, batch_size: int = 1) -> float:
    """One decode step at ``batch_size`` and ``context_tokens`` per sequence."""
    return float(model.decode_step_times_s(batch_size, np.array([float(context_tokens)]))[0])


def decode_throughput_tokens_per_s(model: TableCostModel, batch_size: int, context_tokens: int) -> float:
    """Generated tokens per second: batch / step time."""
    return batch_size / tpot_s(model, context_tokens, batch_size=batch_size)


def decode_throughput_crossover(gpu_model: TableCostModel, groq_model: TableCostModel,
                                context: int) -> int:
    """Smallest GPU decode batch whose throughput exceeds the Groq model's at its largest batch
    (1: no batching), both at ``context`` tokens per sequence; 0 if none up to the GPU table's
    largest decode batch."""
    groq_batch = groq_model.max_batch_size
    groq_tps = decode_throughput_tokens_per_s(groq_model, groq_batch, context)
    for b in range(1, gpu_model.max_batch_size + 1):
        if decode_throughput_tokens_per_s(gpu_model, b, context) > groq_tps:
            return b
    return 0


def ttft_crossover_tokens(gpu_model: TableCostModel, groq_model: TableCostModel,
                          *, max_tokens: int = 4096) -> int:
    """Smallest prompt length from which the GPU's batch-1 prefill stays faster than the Groq
    model's up to ``max_tokens`` (beyond the Groq table's context its figure is extrapolated);
    0 if it never does."""
    tokens = np.arange(1, max_tokens + 1)
    gpu = gpu_model.prefill.row_times_s(1, tokens)[0]
    groq = groq_model.prefill.row_times_s(1, tokens)[0]
    slower = np.flatnonzero(gpu >= groq)
    if slower.size == 0:
        return 1
    last = int(slower[-1]) + 1  # the last length where the GPU is not faster
    return last + 1 if last < max_tokens else 0
