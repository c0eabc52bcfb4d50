"""A pool's serving engine and the scheduling it brings.

A pool names its engine (``engine:`` in a topology, ``--engine`` on the command line) or runs the
hardware's default one (:func:`phasesim.simulator.catalog.engines.default_engine`: vLLM on GPUs,
DeepSpeed on Gaudi, SambaFlow on the SN40L, Groq on a GroqRack). The engine's batching policy and
limits apply where the pool sets none of its own: an explicit ``batching``, ``max_num_seqs`` or
``max_num_batched_tokens`` always wins. ``None`` limits are the simulator's defaults
(``phasesim.simulator.run``). The default engines schedule exactly as a pool without an engine
did before engines existed: vLLM is continuous batching with 256 sequences, Groq runs one
sequence unbatched.
"""

from __future__ import annotations

from dataclasses import dataclass

from phasesim.simulator.catalog.engines import EngineSpec, engine_for_hardware
from phasesim.simulator.catalog.hardware import HARDWARE
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.topology import Batching, KVAdmission, PoolSpec

__all__ = ["Scheduling", "pool_engine", "pool_scheduling", "engine_for_hardware", "pool_limits",
           "context_limit_tokens", "DEFAULT_MAX_NUM_SEQS", "CHUNKED_TOKEN_BUDGET"]

DEFAULT_MAX_NUM_SEQS = 256  # vLLM's default max_num_seqs, where the hardware names none
CHUNKED_TOKEN_BUDGET = 512  # Sarathi-Serve / vLLM chunked-prefill default token budget



@dataclass(frozen=True, slots=True, kw_only=True)
class Scheduling:
    """What a pool's instances run: its engine, policy and limits (None: simulator default)."""

    engine: str
    batching: Batching
    max_num_seqs: int | None
    max_num_batched_tokens: int | None
    kv_admission: KVAdmission = KVAdmission.PREEMPT  # the engine's (no pool setting overrides it)


def pool_engine(pool: PoolSpec) -> EngineSpec:
    """The pool's engine: its own, else its hardware's default."""
    return engine_for_hardware(pool.hardware, pool.engine)


def pool_scheduling(pool: PoolSpec) -> Scheduling:
    """The pool's settings where it has them, the engine's elsewhere."""
    engine = pool_engine(pool)
    return Scheduling(
        engine=engine.name,
        batching=pool.batching if pool.batching is not None else Batching(engine.batching),
        max_num_seqs=pool.max_num_seqs if pool.max_num_seqs is not None else engine.max_num_seqs,
        max_num_batched_tokens=(pool.max_num_batched_tokens
                                if pool.max_num_batched_tokens is not None
                                else engine.max_num_batched_tokens),
        kv_admission=KVAdmission(engine.kv_admission))


def pool_limits(pool: PoolSpec) -> tuple[int, int]:
    """(max sequences, tokens per iteration) of one of the pool's instances: the pool's or its
    engine's settings, else the defaults (256 sequences capped by the hardware's batch; 512 tokens
    for chunked prefill, otherwise vLLM's max(2048, context limit)); 1 sequence without batching."""
    scheduling = pool_scheduling(pool)
    hardware = HARDWARE.get(pool.hardware)
    hardware_seqs = hardware.max_batch_size if hardware is not None else DEFAULT_MAX_NUM_SEQS
    max_num_seqs = 1 if scheduling.batching == Batching.NONE else min(
        scheduling.max_num_seqs or DEFAULT_MAX_NUM_SEQS, hardware_seqs)
    if scheduling.max_num_batched_tokens is not None:
        budget = scheduling.max_num_batched_tokens
    elif scheduling.batching == Batching.CHUNKED:
        budget = CHUNKED_TOKEN_BUDGET
    else:
        budget = max(2048, context_limit_tokens(pool))  # vLLM: max(max_model_len, 2048)
    return max_num_seqs, budget


def context_limit_tokens(pool: PoolSpec) -> int:
    """The longest sequence an instance serves: the model's context, capped by the hardware's
    deployment limit (GroqRack: 2,048)."""
    hardware = HARDWARE.get(pool.hardware)
    limit = get_model(pool.model).max_context_tokens
    if hardware is not None and hardware.max_context_tokens is not None:
        limit = min(limit, hardware.max_context_tokens)
    return limit
