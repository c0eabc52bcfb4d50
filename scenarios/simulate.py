"""``kind: simulate`` points: build the trace and the topology, run the simulator, write results."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from phasesim.errors import InputError
from phasesim.scenarios.model import BuiltinTopology, ScenarioSpec
from phasesim.scenarios.scenario_trace import build_trace, check_trace
from phasesim.simulator.catalog.engines import engine_for_hardware
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.costs.capacity import check_tensor_parallel
from phasesim.simulator.costs.interface import CostModel
from phasesim.simulator.costs.resolve import TableChoice, choose_table, load_choice, table_path
from phasesim.simulator.results.output import (
    REQUESTS_FILE,
    TIMESERIES_FILE,
    result_payloads,
    write_payloads,
)
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import BUILTIN_TOPOLOGIES, PoolSpec, TopologySpec, builtin_topology

__all__ = ["resolve_topology", "check_simulate", "simulate_files", "pool_cost_model"]

_LINK_KEYS = frozenset({"link_bandwidth", "link_latency", "link_sharing", "layerwise_overlap"})


def resolve_topology(spec: ScenarioSpec) -> TopologySpec:
    """The scenario's topology: a built-in with overrides (the scenario's model and dtype on every
    pool), or the inline one as written."""
    ref = spec.topology
    if isinstance(ref, TopologySpec):
        return ref
    if not isinstance(ref, BuiltinTopology):
        raise InputError("a 'simulate' scenario needs 'topology'", column="topology")
    overrides = ref.overrides()
    if ref.name in BUILTIN_TOPOLOGIES and not BUILTIN_TOPOLOGIES[ref.name].get("links"):
        # link settings apply to disaggregated topologies only, so one sweep can compare both
        overrides = {k: v for k, v in overrides.items() if k not in _LINK_KEYS}
    try:
        return builtin_topology(ref.name, model=spec.model, dtype=spec.dtype, **overrides)
    except InputError as exc:
        key = "topology"
        if "unknown topology override" in exc.message:
            key = f"topology.{exc.message.rsplit(':', 1)[-1].split(',')[0].strip()}"
        elif "unknown topology" in exc.message:
            key = "topology.name"
        elif exc.column:
            key = f"topology.{exc.column}"
        raise InputError(exc.message, column=key) from None


def check_simulate(spec: ScenarioSpec, scenario_dir: Path) -> None:
    """Load-time checks: the trace file exists and the topology can be built."""
    assert spec.trace is not None
    check_trace(spec.trace)
    topology = resolve_topology(spec)
    builtin = isinstance(spec.topology, BuiltinTopology)
    for index, pool in enumerate(topology.pools):
        where = "topology" if builtin else f"topology.pools.{index}"
        try:
            get_hardware(pool.hardware)
            _check_pool_table(pool)
        except InputError as exc:
            raise InputError(f"pool '{pool.name}': {exc.message}", column=where) from None


def simulate_files(spec: ScenarioSpec, staging: Path) -> None:
    """Run the point and write :func:`phasesim.simulator.results.output.write_results`'s files into
    ``staging``."""
    assert spec.trace is not None
    trace = build_trace(spec.trace, seed=spec.seed)
    topology = resolve_topology(spec)
    result = simulate(trace, topology, seed=spec.seed, slo_ttft_s=spec.slo.ttft_s,
                      slo_tpot_s=spec.slo.tpot_s, timeseries=spec.outputs.timeseries,
                      prices=spec.prices.price_book(),
                      cost_models={pool.name: pool_cost_model(pool) for pool in topology.pools})
    # the caller publishes staging whole
    write_payloads(result_payloads(result, trace_path=spec.trace.path,
                                   extra_meta={"scenario": spec.name}), staging)
    if not spec.outputs.requests:
        (staging / REQUESTS_FILE).unlink(missing_ok=True)
    if not spec.outputs.timeseries:
        (staging / TIMESERIES_FILE).unlink(missing_ok=True)


def pool_cost_model(pool: PoolSpec) -> CostModel:
    """The cost model for ``pool``, chosen as the simulator and the commands choose
    (``phasesim.simulator.costs.resolve``: its ``profile``, else a shipped TP-1 table of its
    engine, else the roofline built for its engine and tensor-parallel degree). A table read from
    a file is loaded once per process and file version, a built one once per process: a sweep
    worker reads each table once instead of once per point (the model's lookups are pure; its
    memo only caches them, so sharing it changes no result)."""
    choice = choose_table(hardware=pool.hardware, model=pool.model, dtype=pool.dtype,
                          tensor_parallel=pool.tensor_parallel, profile=pool.profile,
                          engine=pool.engine)
    if choice.path is None:
        return load_choice(choice).cost_model  # built, cached by the roofline builder
    stat = os.stat(choice.path)
    return _loaded(choice, stat.st_mtime_ns, stat.st_size)


def _check_pool_table(pool: PoolSpec) -> None:
    """Load-time: the table the point will use can be had, without loading it: a profile file
    that exists, else a known engine and a degree the hardware and model allow (a table of that
    engine is then shipped or built)."""
    if pool.profile is not None:
        if not table_path(pool.profile).is_file():
            raise InputError(f"cost table not found: {pool.profile}")
        return
    engine_for_hardware(pool.hardware, pool.engine)
    check_tensor_parallel(get_hardware(pool.hardware), get_model(pool.model), pool.tensor_parallel)


@functools.lru_cache(maxsize=16)
def _loaded(choice: TableChoice, mtime_ns: int, size: int) -> CostModel:
    del mtime_ns, size  # cache key only: a rewritten table is read again
    return load_choice(choice).cost_model
