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

from phasesim.simulator.catalog.engines import EngineSpec, default_engine, get_engine
from phasesim.simulator.catalog.hardware import HARDWARE
from phasesim.simulator.topology import Batching, PoolSpec

__all__ = ["Scheduling", "pool_engine", "pool_scheduling", "engine_for_hardware"]

_UNKNOWN_HARDWARE_ENGINE = "vllm"  # hardware outside the catalog: the GPU default


@dataclass(frozen=True, slots=True, kw_only=True)
class Scheduling:
    """What a pool's instances run: its engine, policy and limits (None: simulator default)."""

    engine: str
    batching: Batching
    max_num_seqs: int | None
    max_num_batched_tokens: int | None


def engine_for_hardware(hardware: str, engine: str | None = None) -> EngineSpec:
    """``engine`` when given (checked), else ``hardware``'s default engine."""
    if engine is not None:
        return get_engine(engine)
    spec = HARDWARE.get(hardware)
    return get_engine(_UNKNOWN_HARDWARE_ENGINE if spec is None else default_engine(spec))


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
                                else engine.max_num_batched_tokens))
