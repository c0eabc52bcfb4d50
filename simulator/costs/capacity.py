"""KV-cache capacity of one serving instance, in tokens.

GPU: memory x (1 - reserve) - weights, divided by KV bytes per token (the reserve plays vLLM's
``gpu_memory_utilization``: 0.10 leaves 10 % for activations and fragmentation). An engine that
keeps a fixed amount per device instead (the engine catalog's ``kv_reserve_bytes_per_device``:
DeepSpeed-MII's 1 GB) gets memory - that amount per device - weights.
GroqRack: the on-chip SRAM left after the weights (reserve 0 by default); one sequence is further
capped by the deployment's context (:func:`max_context_tokens`: 2,048 for the published
Llama-2-7B deployment).
Tensor parallelism: an instance of ``tensor_parallel`` N devices holds N x the memory and one
copy of the weights (split N ways), so its KV capacity is (N x memory x (1 - reserve) -
weights) / KV bytes per token: N x the TP-1 figure plus the weights freed on each device
(a fixed reserve: (N x (memory - reserve bytes) - weights) / KV bytes per token).
"""

from __future__ import annotations

from dataclasses import dataclass

from phasesim.errors import InputError
from phasesim.simulator.catalog.engines import get_engine
from phasesim.simulator.catalog.hardware import DeviceKind, HardwareSpec, get_hardware
from phasesim.simulator.catalog.models import DTYPE_BYTES, ModelSpec, get_model

__all__ = ["kv_capacity_tokens", "max_context_tokens", "check_tensor_parallel", "min_tensor_parallel"]


@dataclass(frozen=True, slots=True)
class _Reserve:
    """Memory of each device kept from the KV cache: a fraction of it, or (not None) bytes."""

    fraction: float
    bytes_per_device: float | None = None

    def __str__(self) -> str:
        if self.bytes_per_device is None:
            return f"reserve {self.fraction:.0%}"
        return f"{self.bytes_per_device / 1e9:.1f} GB kept per device"


def kv_capacity_tokens(*, hardware: str, model: str, dtype: str = "fp16",
                       reserve_fraction: float | None = None, tensor_parallel: int = 1,
                       engine: str | None = None) -> int:
    """Tokens of KV cache that fit beside the weights on one instance (``tensor_parallel`` devices
    of ``hardware``) served by ``engine`` (a catalog engine; None: the hardware's rule).
    ``reserve_fraction`` given: that fraction of each device's memory is kept, whatever the
    engine; None: the engine's ``kv_reserve_bytes_per_device`` where it declares one, else the
    hardware's default fraction (GPU 0.10, Groq 0.0)."""
    hw = get_hardware(hardware)
    spec = get_model(model)
    if dtype not in DTYPE_BYTES:
        raise InputError(f"unknown dtype '{dtype}' (known: {', '.join(sorted(DTYPE_BYTES))})")
    reserve = _reserve(hw, reserve_fraction, engine)
    check_tensor_parallel(hw, spec, tensor_parallel)
    usable_bytes = _usable_bytes(hw, spec, dtype, reserve, tensor_parallel)
    if usable_bytes <= 0:
        least = min_tensor_parallel(hardware=hardware, model=model, dtype=dtype,
                                    reserve_fraction=reserve_fraction, engine=engine)
        hint = ("; no tensor-parallel degree dividing its attention heads fits" if least is None
                else f"; it needs tensor_parallel >= {least} (--tp {least})")
        raise InputError(f"{spec.name} {dtype} weights ({spec.param_bytes(dtype) / 1e9:.1f} GB) do not fit "
                         f"in {tensor_parallel} x {hw.name} with {reserve}" + hint)
    return int(usable_bytes // spec.kv_bytes_per_token(dtype))


def _reserve(hw: HardwareSpec, reserve_fraction: float | None, engine: str | None) -> _Reserve:
    if reserve_fraction is None:
        bytes_per_device = (None if engine is None
                            else get_engine(engine).kv_reserve_bytes_per_device)
        if bytes_per_device is not None:
            return _Reserve(fraction=0.0, bytes_per_device=bytes_per_device)
        reserve_fraction = hw.default_reserve_fraction
    if not 0.0 <= reserve_fraction < 1.0:
        raise InputError(f"reserve_fraction must be in [0, 1), got {reserve_fraction}")
    return _Reserve(fraction=reserve_fraction)


def _usable_bytes(hw: HardwareSpec, spec: ModelSpec, dtype: str, reserve: _Reserve,
                  tensor_parallel: int) -> float:
    if reserve.bytes_per_device is None:
        return (hw.memory_bytes * tensor_parallel * (1.0 - reserve.fraction)
                - spec.param_bytes(dtype))
    return ((hw.memory_bytes - reserve.bytes_per_device) * tensor_parallel
            - spec.param_bytes(dtype))


def check_tensor_parallel(hw: HardwareSpec, model: ModelSpec, tensor_parallel: int) -> None:
    """InputError unless ``tensor_parallel`` can shard ``model`` on ``hw``: >= 1, dividing the
    attention heads (vLLM's rule), and 1 on Groq (a GroqRack already is one 64-chip pipeline)."""
    if tensor_parallel < 1:
        raise InputError(f"tensor_parallel must be >= 1, got {tensor_parallel}")
    if tensor_parallel > 1 and hw.kind is DeviceKind.LPU:
        raise InputError(f"tensor parallelism does not apply to {hw.name}: it already serves as one "
                         f"{hw.chips}-chip pipeline (use tensor_parallel 1)")
    if model.heads % tensor_parallel:
        raise InputError(f"tensor_parallel {tensor_parallel} does not divide {model.name}'s "
                         f"{model.heads} attention heads")


def min_tensor_parallel(*, hardware: str, model: str, dtype: str = "fp16",
                        reserve_fraction: float | None = None,
                        engine: str | None = None) -> int | None:
    """Smallest tensor-parallel degree (a divisor of the attention heads) whose devices hold the
    weights with room for KV (``engine`` and ``reserve_fraction`` as :func:`kv_capacity_tokens`
    reads them); None if none does (or on Groq, where TP does not apply)."""
    hw = get_hardware(hardware)
    spec = get_model(model)
    reserve = _reserve(hw, reserve_fraction, engine)
    degrees = [1] if hw.kind is DeviceKind.LPU else [n for n in range(1, spec.heads + 1)
                                                     if spec.heads % n == 0]
    return next((n for n in degrees if _usable_bytes(hw, spec, dtype, reserve, n)
                 >= spec.kv_bytes_per_token(dtype)), None)


def max_context_tokens(*, hardware: str, model: str) -> int:
    """Longest context of one sequence: the model's limit, capped by the deployment's (GroqRack)."""
    hw = get_hardware(hardware)
    spec = get_model(model)
    if hw.max_context_tokens is None:
        return spec.max_context_tokens
    return min(spec.max_context_tokens, hw.max_context_tokens)
