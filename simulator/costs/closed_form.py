"""Two small, real cost models in closed form: for tests and queueing-theory checks (like
httpx's ``MockTransport``, they implement the whole interface, not a stub of it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["ConstantCostModel", "FunctionCostModel"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConstantCostModel:
    """Fixed times, independent of lengths and batch: for closed-form tests (M/D/1 etc.)."""

    prefill_s: float
    decode_step_s: float
    kv_bytes_per_token: int = 0

    def prefill_time_s(self, chunk_tokens: np.ndarray, prefix_tokens: np.ndarray) -> float:
        return self.prefill_s

    def decode_step_times_s(self, batch_size: int, mean_context_tokens: np.ndarray) -> np.ndarray:
        return np.full(np.shape(mean_context_tokens), self.decode_step_s, dtype=np.float64)

    def mixed_step_time_s(
        self, chunk_tokens: np.ndarray, prefix_tokens: np.ndarray, decode_context_tokens: np.ndarray
    ) -> float:
        return self.prefill_s if len(chunk_tokens) else self.decode_step_s


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCostModel:
    """Times from plain functions: ``prefill(total_new_tokens, batch)`` and
    ``decode(batch, mean_context)`` (vectorised in mean_context). Mixed = prefill + decode."""

    prefill: Callable[[int, int], float]
    decode: Callable[[int, np.ndarray], np.ndarray]
    kv_bytes_per_token: int = 0

    def prefill_time_s(self, chunk_tokens: np.ndarray, prefix_tokens: np.ndarray) -> float:
        return float(self.prefill(int(np.sum(chunk_tokens)), len(chunk_tokens)))

    def decode_step_times_s(self, batch_size: int, mean_context_tokens: np.ndarray) -> np.ndarray:
        return np.asarray(self.decode(batch_size, np.asarray(mean_context_tokens)), dtype=np.float64)

    def mixed_step_time_s(
        self, chunk_tokens: np.ndarray, prefix_tokens: np.ndarray, decode_context_tokens: np.ndarray
    ) -> float:
        t = self.prefill_time_s(chunk_tokens, prefix_tokens) if len(chunk_tokens) else 0.0
        if len(decode_context_tokens):
            mean_ctx = np.array([float(np.mean(decode_context_tokens))])
            t += float(self.decode_step_times_s(len(decode_context_tokens), mean_ctx)[0])
        return t
