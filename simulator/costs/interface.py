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

Fast paths (optional, :class:`FastPaths`): the engine's two hottest calls, in a form that avoids
numpy call overhead. A cost model may implement them; if it does, they must give the very numbers
the defaults derived from the protocol methods give (:func:`default_decode_run`,
:func:`default_prefill_step_s`; ``tests/simulator/costs/test_interface.py`` checks every shipped
table and the closed-form models). The engine asks only through :func:`decode_run_of` and
:func:`prefill_step_s_of`, which pick the model's own fast path or the default.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["CostModel", "FastPaths", "DecodeRunFn", "PrefillStepFn", "run_cum_ns", "run_mean_contexts",
           "default_decode_run", "default_prefill_step_s", "decode_run_of", "prefill_step_s_of"]

# (batch_size, context_sum_tokens, steps) -> (cum_ns, lo); see FastPaths.decode_run
DecodeRunFn = Callable[[int, int, int], tuple[array, int]]
# (chunk_tokens, prefix_tokens) -> seconds; see FastPaths.prefill_step_s
PrefillStepFn = Callable[[tuple[int, ...], tuple[int, ...]], float]


@runtime_checkable
class CostModel(Protocol):
    kv_bytes_per_token: int

    def prefill_time_s(self, chunk_tokens: np.ndarray, prefix_tokens: np.ndarray) -> float: ...

    def decode_step_times_s(self, batch_size: int, mean_context_tokens: np.ndarray) -> np.ndarray: ...

    def mixed_step_time_s(
        self, chunk_tokens: np.ndarray, prefix_tokens: np.ndarray, decode_context_tokens: np.ndarray
    ) -> float: ...


@runtime_checkable
class FastPaths(Protocol):
    """Optional fast entry points of a :class:`CostModel`, equal number for number to the
    defaults derived from its protocol methods (``default_decode_run(model)``,
    ``default_prefill_step_s(model)``)."""

    def decode_run(self, batch_size: int, context_sum_tokens: int, steps: int
                   ) -> tuple[array, int]:
        """A fast-forwarded decode run of ``steps`` steps of ``batch_size`` sequences whose
        contexts sum to ``context_sum_tokens`` at its start: ``(cum_ns, lo)`` such that step k
        (< ``steps``) ends ``cum_ns[lo + 1 + k] - cum_ns[lo]`` ns after the run's start, each
        step's time taken at mean context ``(context_sum_tokens + k * batch_size) / batch_size``
        and rounded as :func:`run_cum_ns` does. ``cum_ns`` may be shared between calls (never
        mutate it)."""
        ...

    def prefill_step_s(self, chunk_tokens: tuple[int, ...], prefix_tokens: tuple[int, ...]
                       ) -> float:
        """``prefill_time_s`` over tuples of Python ints instead of int64 arrays."""
        ...


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


def default_decode_run(model: CostModel) -> DecodeRunFn:
    """``FastPaths.decode_run`` from ``model.decode_step_times_s``: one vectorised call per run."""

    def decode_run(batch_size: int, context_sum_tokens: int, steps: int) -> tuple[array, int]:
        contexts = run_mean_contexts(batch_size, context_sum_tokens, steps)
        return run_cum_ns(model.decode_step_times_s(batch_size, contexts)), 0

    return decode_run


def default_prefill_step_s(model: CostModel) -> PrefillStepFn:
    """``FastPaths.prefill_step_s`` from ``model.prefill_time_s`` on int64 arrays."""

    def prefill_step_s(chunk_tokens: tuple[int, ...], prefix_tokens: tuple[int, ...]) -> float:
        return model.prefill_time_s(np.array(chunk_tokens, dtype=np.int64),
                                    np.array(prefix_tokens, dtype=np.int64))

    return prefill_step_s


def decode_run_of(model: CostModel) -> DecodeRunFn:
    """The model's own ``decode_run`` when it implements :class:`FastPaths` (table models: slices
    of shared cumulative tables), else :func:`default_decode_run`."""
    return model.decode_run if isinstance(model, FastPaths) else default_decode_run(model)


def prefill_step_s_of(model: CostModel) -> PrefillStepFn:
    """The model's own ``prefill_step_s`` when it implements :class:`FastPaths`, else
    :func:`default_prefill_step_s`."""
    return model.prefill_step_s if isinstance(model, FastPaths) else default_prefill_step_s(model)
