"""Which cost table each pool runs on, building analytical tables where none is shipped.

The simulator loads shipped tables itself (``phasesim.simulator.costs.load_cost_model``) but never
imports the profiler, so tables it cannot find are built here, in the layer that sees both:

- a pool's ``profile`` (a path or a shipped table's stem): loaded as given; its tensor-parallel
  degree must equal the pool's (a measured TP-1 table is never reused for TP N: its step times
  hold one device's bandwidth and no all-reduces; scaling them would be a guess we do not label);
- TP 1 with a shipped table for (hardware, model, dtype): the best one (measured > published >
  analytical), exactly what the simulator would load;
- otherwise (TP > 1, or a model no table is shipped for): the analytical roofline of
  ``phasesim.profiler.analytical`` at that degree, built once per process, labelled
  ``{hardware}__{model}__{dtype}__analytical__tp{N}`` with source ``analytical``. Its constants
  are those calibrated (or borrowed) for the hardware at TP 1; the all-reduce terms are not
  calibrated (``ALLREDUCE_HOP_LATENCY_S`` says what is assumed).
"""

from __future__ import annotations

from dataclasses import dataclass

from phasesim.errors import InputError
from phasesim.profiler.analytical import analytical_cost_model
from phasesim.simulator.costs import TableCostModel, find_table, load_cost_model
from phasesim.simulator.topology import TopologySpec

__all__ = ["ResolvedTable", "pool_cost_models", "resolve_cost_model"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedTable:
    """A pool's cost model and whether it was built here (not a file)."""

    cost_model: TableCostModel
    built: bool


def resolve_cost_model(*, hardware: str, model: str, dtype: str = "fp16", tensor_parallel: int = 1,
                       profile: str | None = None) -> ResolvedTable:
    """The cost model for one instance shape (module docstring for the order)."""
    if profile is not None:
        return ResolvedTable(cost_model=load_cost_model(
            hardware=hardware, model=model, dtype=dtype, path=profile,
            tensor_parallel=tensor_parallel), built=False)
    if tensor_parallel == 1:
        try:
            find_table(hardware=hardware, model=model, dtype=dtype)
        except InputError:
            pass  # none shipped: build one below
        else:
            return ResolvedTable(cost_model=load_cost_model(hardware=hardware, model=model,
                                                            dtype=dtype), built=False)
    return ResolvedTable(cost_model=analytical_cost_model(
        hardware=hardware, model=model, dtype=dtype, tensor_parallel=tensor_parallel), built=True)


def pool_cost_models(spec: TopologySpec) -> dict[str, TableCostModel]:
    """Cost models built here for the pools the simulator could not load alone (pool name ->
    model); the other pools are left to the simulator, as before."""
    out: dict[str, TableCostModel] = {}
    for pool in spec.pools:
        if pool.profile is not None:
            continue
        resolved = resolve_cost_model(hardware=pool.hardware, model=pool.model, dtype=pool.dtype,
                                      tensor_parallel=pool.tensor_parallel)
        if resolved.built:
            out[pool.name] = resolved.cost_model
    return out
