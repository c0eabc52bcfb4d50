"""KV-cache capacity of one serving instance, in tokens.

GPU: memory x (1 - reserve) - weights, divided by KV bytes per token (the reserve plays vLLM's
``gpu_memory_utilization``: 0.10 leaves 10 % for activations and fragmentation).
GroqRack: the on-chip SRAM left after the weights (reserve 0 by default); one sequence is further
capped by the deployment's context (:func:`max_context_tokens`: 2,048 for the published
Llama-2-7B deployment).
"""

from __future__ import annotations

from phasesim.errors import InputError
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import DTYPE_BYTES, get_model

__all__ = ["kv_capacity_tokens", "max_context_tokens"]


def kv_capacity_tokens(*, hardware: str, model: str, dtype: str = "fp16",
                       reserve_fraction: float | None = None, tensor_parallel: int = 1) -> int:
    """Tokens of KV cache that fit beside the weights on one instance (``tensor_parallel`` devices
    of ``hardware``). ``reserve_fraction`` None: the hardware's default (GPU 0.10, Groq 0.0)."""
    hw = get_hardware(hardware)
    spec = get_model(model)
    if dtype not in DTYPE_BYTES:
        raise InputError(f"unknown dtype '{dtype}' (known: {', '.join(sorted(DTYPE_BYTES))})")
    reserve = hw.default_reserve_fraction if reserve_fraction is None else reserve_fraction
    if not 0.0 <= reserve < 1.0:
        raise InputError(f"reserve_fraction must be in [0, 1), got {reserve}")
    if tensor_parallel < 1:
        raise InputError(f"tensor_parallel must be >= 1, got {tensor_parallel}")
    usable_bytes = hw.memory_bytes * tensor_parallel * (1.0 - reserve) - spec.param_bytes(dtype)
    if usable_bytes <= 0:
        raise InputError(f"{spec.name} {dtype} weights ({spec.param_bytes(dtype) / 1e9:.1f} GB) do not fit "
                         f"in {tensor_parallel} x {hw.name} with reserve {reserve:.0%}")
    return int(usable_bytes // spec.kv_bytes_per_token(dtype))


def max_context_tokens(*, hardware: str, model: str) -> int:
    """Longest context of one sequence: the model's limit, capped by the deployment's (GroqRack)."""
    hw = get_hardware(hardware)
    spec = get_model(model)
    if hw.max_context_tokens is None:
        return spec.max_context_tokens
    return min(spec.max_context_tokens, hw.max_context_tokens)
