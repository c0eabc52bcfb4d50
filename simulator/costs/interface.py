"""The cost-model interface the simulator sees.

Narrow on purpose: a prefill-iteration time, a decode-step time, a mixed-step time and KV bytes
per token. Implementations: ``TableCostModel`` (``table_model``, backed by a cost table) and the
closed-form ``ConstantCostModel`` / ``FunctionCostModel`` (``closed_form``, for tests and theory).

Conventions (all times in seconds, all lengths in tokens):
- ``prefill_time_s(chunk_tokens, prefix_tokens)``: one forward pass over a batch of prompt chunks.
  ``chunk_tokens[i]`` new tokens of sequence i whose first ``prefix_tokens[i]`` tokens are already
  in the KV cache (0 for a whole prompt; > 0 for a later chunk or a cached prefix).
- ``decode_step_times_s(batch_size, mean_context_tokens)``: vectorised; element k is the time of
  one decode step of ``batch_size`` sequences whose mean context is ``mean_context_tokens[k]``.
  Lets the simulator fast-forward n steps in one call (contexts grow by one token per step).
- ``mixed_step_time_s(chunk_tokens, prefix_tokens, decode_context_tokens)``: one iteration that
  runs prefill chunks and decode steps together (Sarathi-style chunked prefill).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["CostModel", "run_cum_ns", "run_mean_contexts", "decode_run_of", "prefill_step_s_of"]


@runtime_checkable
class CostModel(Protocol):
    kv_bytes_per_token: int

    def prefill_time_s(self, chunk_tokens: np.ndarray, prefix_tokens: np.ndarray) -> float: ...

    def decode_step_times_s(self, batch_size: int, mean_context_tokens: np.ndarray) -> np.ndarray: ...

    def mixed_step_time_s(
        self, chunk_tokens: np.ndarray, prefix_tokens: np.ndarray, decode_context_tokens: np.ndarray
    ) -> float: ...


def run_cum_ns(step_times_s: np.ndarray) -> array:
    """A decode run's step ends in ns after its start, behind a leading 0: each step's time
    rounded to the ns (at least 1), summed exactly in int64 (``array('q')``: indexing gives
    Python ints, ``bisect`` searches it)."""
    steps_ns = np.rint(np.asarray(step_times_s, dtype=np.float64) * 1e9)
    if not np.isfinite(steps_ns).all():  # as ns() raises for one step: never garbage int64s
        raise ValueError("cost model gave a non-finite decode step time")
    np.maximum(steps_ns, 1.0, out=steps_ns)
    cum = np.zeros(len(steps_ns) + 1, dtype=np.int64)
    np.cumsum(steps_ns.astype(np.int64), out=cum[1:])
    return array("q", cum.tobytes())


def run_mean_contexts(batch_size: int, context_sum_tokens: int, steps: int) -> np.ndarray:
    """Mean context of each step of a decode run: ``(context_sum_tokens + k * batch_size) /
    batch_size`` for k < ``steps``, the very float a per-step call computes (exact integer
    numerators, one division)."""
    return (np.arange(steps, dtype=np.float64) * batch_size + context_sum_tokens) / batch_size


def decode_run_of(model: CostModel) -> Callable[[int, int, int], tuple[array, int]]:
    """``(batch_size, context_sum_tokens, steps) -> (cum_ns, lo)``: a fast-forwarded decode
    run whose step k (< ``steps``) ends ``cum_ns[lo + 1 + k] - cum_ns[lo]`` ns after its start,
    at mean context ``(context_sum_tokens + k * batch_size) / batch_size`` (the float a per-step
    call gets); ``cum_ns`` as ``run_cum_ns`` makes it. The model's own ``decode_run`` when it has
    one (table models: shared tables, same numbers), else from ``decode_step_times_s``."""
    own = getattr(model, "decode_run", None)
    if own is not None:
        return own

    def generic(batch_size: int, context_sum_tokens: int, steps: int) -> tuple[array, int]:
        contexts = run_mean_contexts(batch_size, context_sum_tokens, steps)
        return run_cum_ns(model.decode_step_times_s(batch_size, contexts)), 0

    return generic


def prefill_step_s_of(model: CostModel) -> Callable[[tuple[int, ...], tuple[int, ...]], float]:
    """``(chunk_tokens, prefix_tokens) -> seconds`` over tuples of ints: the model's own
    ``prefill_step_s`` when it has one, else ``prefill_time_s`` on int64 arrays."""
    own = getattr(model, "prefill_step_s", None)
    if own is not None:
        return own

    def generic(chunk_tokens: tuple[int, ...], prefix_tokens: tuple[int, ...]) -> float:
        return model.prefill_time_s(np.array(chunk_tokens, dtype=np.int64),
                                    np.array(prefix_tokens, dtype=np.int64))

    return generic
