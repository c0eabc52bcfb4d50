"""``simulate(trace, topology) -> SimResult``: build the cluster, replay the trace, collect results.

The story of one request through the cluster is ``phasesim.simulator.lifecycle``; this module builds the
pools, instances and links from a topology, runs the clock until the last request has ended,
and turns the request log and statistics into a ``SimResult``.
"""

from __future__ import annotations

import importlib.metadata
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import simpy

from phasesim.errors import InputError
from phasesim.plain import plain
from phasesim.simulator import costs
from phasesim.simulator.batching import POLICIES
from phasesim.simulator.catalog.economics import POWER, PriceBasis, PriceBook
from phasesim.simulator.catalog.hardware import HARDWARE
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.context import MAX_TIME_NS, SimContext, now_ns, watch_horizon
from phasesim.simulator.costs.interface import CostModel
from phasesim.simulator.costs.resolve import resolve_table
from phasesim.simulator.instance import Instance, InstanceLimits
from phasesim.simulator.kv import KVCache, PrefixKVCache
from phasesim.simulator.lifecycle import Arrivals, Cluster, Pool
from phasesim.simulator.links import Link
from phasesim.simulator.queueing import QUEUE_ORDERS
from phasesim.simulator.recorder import Recorder
from phasesim.simulator.request import RequestLog
from phasesim.simulator.results.energy import run_energy
from phasesim.simulator.results.metrics import meets_slo, prefix_cache_summary, summarize
from phasesim.simulator.results.money import run_cost
from phasesim.simulator.results.result import SimResult
from phasesim.simulator.scheduling import (
    CHUNKED_TOKEN_BUDGET,
    DEFAULT_MAX_NUM_SEQS,
    context_limit_tokens,
    pool_engine,
    pool_limits,
    pool_scheduling,
)
from phasesim.simulator.topology import (
    FirstToken,
    LinkSharing,
    PoolSpec,
    Role,
    Routing,
    TopologySpec,
)
from phasesim.traces import schema
from phasesim.units import MAX_TIME_S

__all__ = ["simulate", "MODES", "DEFAULT_MAX_NUM_SEQS", "CHUNKED_TOKEN_BUDGET"]

MODES = ("fast", "reference")


def simulate(
    trace: pd.DataFrame,
    topology: TopologySpec,
    *,
    seed: int | None = None,
    slo_ttft_s: float | None = None,
    slo_tpot_s: float | None = None,
    mode: str = "fast",
    cost_models: Mapping[str, CostModel] | None = None,
    timeseries: bool = True,
    prices: PriceBook | None = None,
) -> SimResult:
    """Replay ``trace`` (canonical columns) on ``topology``.

    ``seed``: None = the topology's seed, else 0. ``mode``: "fast" (closed-form decode runs) or
    "reference" (one event per iteration; same per-request times). ``cost_models``: per pool
    name, injected cost models; other pools get theirs from
    ``phasesim.simulator.costs.resolve.resolve_table`` (the pool's profile, else a shipped table
    of its engine, else the roofline built for its engine and tensor-parallel degree). The CLI
    resolves every pool the same way (``phasesim.cli.cost_tables``, to warn of uncalibrated
    pairs) and passes them here.
    ``timeseries=False`` skips the per-change time series (an empty frame comes back).
    ``prices``: the prices the summary's ``cost`` uses (None: the catalog's TCO prices,
    ``phasesim.simulator.catalog.economics``); on the rental basis, a pool whose hardware has
    no public rental price (and no override) is refused before anything runs.
    """
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}, got '{mode}'")
    prices = prices or PriceBook()
    if prices.basis is PriceBasis.RENTAL:  # rental is refused where no public price exists
        for spec in topology.pools:
            prices.check(spec.hardware)
    seed = seed if seed is not None else (topology.seed if topology.seed is not None else 0)
    columns = _trace_arrays(trace, rate_scale=topology.rate_scale)
    caching = any(spec.prefix_cache for spec in topology.pools)
    prefix_block_tokens = None
    if caching or any(spec.routing in _AFFINITY for spec in topology.pools):
        prefix_block_tokens = _prefix_columns(trace, columns, needed=caching)
    env = simpy.Environment()
    ctx = SimContext(env=env, seed=seed,
                     recorder=Recorder(enabled=timeseries, prefix_cache=caching))
    pools = {spec.role: _build_pool(ctx, spec, topology, cost_models or {}, mode == "fast",
                                    prefix_block_tokens)
             for spec in topology.pools}
    links = _build_links(ctx, topology, pools)
    log = RequestLog(request_ids=columns["request_id"], prompt_tokens=columns["prompt_tokens"],
                     output_tokens=columns["output_tokens"], arrival_ns=columns["arrival_ns"],
                     prefix_cache=caching)
    overlap = bool(topology.links and topology.links[0].layerwise_overlap)
    cluster = Cluster(ctx=ctx, log=log, pools=pools, links=links,
                      first_token=topology.first_token, layerwise_overlap=overlap)
    Arrivals(cluster, columns)
    watch_horizon(env)
    env.run()
    for pool in pools.values():
        for instance in pool.instances:
            instance.series.close(now_ns(env))
    log.stall_leftovers()
    return _result(cluster, topology, seed=seed, mode=mode, slo_ttft_s=slo_ttft_s,
                   slo_tpot_s=slo_tpot_s, prices=prices)


def _trace_arrays(trace: pd.DataFrame, *, rate_scale: float) -> dict[str, np.ndarray]:
    missing = [c for c in schema.REQUIRED_COLUMNS if c not in trace.columns]
    if missing:
        raise InputError(f"trace lacks column(s) {', '.join(missing)}", column=missing[0])
    arrival_s = trace[schema.ARRIVAL_S].to_numpy(dtype=np.float64)
    prompts = trace[schema.PROMPT_TOKENS].to_numpy(dtype=np.int64)
    outputs = trace[schema.OUTPUT_TOKENS].to_numpy(dtype=np.int64)
    checks = ((schema.ARRIVAL_S, arrival_s, np.isfinite(arrival_s) & (arrival_s >= 0)),
              (schema.PROMPT_TOKENS, prompts, prompts >= 1),
              (schema.OUTPUT_TOKENS, outputs, outputs >= 1))
    for name, values, ok in checks:
        bad = np.flatnonzero(~ok)
        if bad.size:
            raise InputError(f"invalid value {plain(values[bad[0]])!r}", row=int(bad[0]),
                             column=name)
    if schema.PRIORITY in trace.columns:
        priority = trace[schema.PRIORITY].fillna(0).to_numpy(dtype=np.int64)
    else:
        priority = np.zeros(len(trace), dtype=np.int64)
    if not math.isfinite(1e9 / rate_scale):
        raise InputError(f"rate scale {rate_scale:g} stretches every arrival after 0 s beyond "
                         f"the simulator's horizon of {MAX_TIME_S:.0f} s")
    with np.errstate(over="ignore"):  # an overflow to inf is beyond the horizon: refused below
        clock_ns = arrival_s * (1e9 / rate_scale)
    if clock_ns.size and clock_ns.max() > MAX_TIME_NS:
        row = int(np.argmax(clock_ns))
        scaled = ("" if rate_scale == 1 else
                  f" (over rate scale {rate_scale:g}: {clock_ns[row] * 1e-9:.4g} s)")
        raise InputError(f"arrival {arrival_s[row]:.4g} s{scaled} is beyond the simulator's "
                         f"horizon of {MAX_TIME_S:.0f} s", row=row, column=schema.ARRIVAL_S)
    arrival_ns = np.rint(clock_ns).astype(np.int64)
    return {
        "request_id": trace[schema.REQUEST_ID].to_numpy(dtype=np.int64),
        "prompt_tokens": prompts,
        "output_tokens": outputs,
        "priority": priority,
        "arrival_ns": arrival_ns,
        "order": np.argsort(arrival_ns, kind="stable"),
    }


_AFFINITY = (Routing.PREFIX_AFFINITY, Routing.SESSION_AFFINITY, Routing.CACHE_AWARE)


def _prefix_columns(trace: pd.DataFrame, columns: dict[str, np.ndarray], *,
                    needed: bool) -> int | None:
    """Add each row's prefix hash ids (a tuple of the prompt's full blocks) and session id to
    ``columns``; the trace's prefix block size. ``needed``: a prefix cache runs, so the trace
    must have hash ids and their block size."""
    block_tokens = trace.attrs.get("trace_meta", {}).get("prefix_block_tokens")
    has_ids = schema.PREFIX_HASH_IDS in trace.columns
    if needed and not (has_ids and block_tokens):
        what = "a prefix_hash_ids column" if not has_ids else "prefix_block_tokens in its metadata"
        raise InputError(f"a prefix cache needs a trace with {what} (Mooncake traces and "
                         "`sim traces generate --sessions` have both)")
    n = len(trace)
    if has_ids and block_tokens:
        full = (columns["prompt_tokens"] // int(block_tokens)).tolist()
        ids = [() if v is None else tuple(map(int, v[:k]))
               for v, k in zip(trace[schema.PREFIX_HASH_IDS].tolist(), full)]
    else:
        ids = [()] * n
    if schema.SESSION_ID in trace.columns:
        sessions = trace[schema.SESSION_ID].fillna(-1).to_numpy(dtype=np.int64).tolist()
    else:
        sessions = [-1] * n
    columns["prefix_hash_ids"] = ids
    columns["session_id"] = sessions
    return int(block_tokens) if block_tokens else None


def _build_pool(ctx: SimContext, spec: PoolSpec, topology: TopologySpec,
                cost_models: Mapping[str, CostModel], fast: bool,
                prefix_block_tokens: int | None) -> Pool:
    hardware = HARDWARE.get(spec.hardware)
    model = get_model(spec.model)
    tp = spec.tensor_parallel
    if hardware is not None:
        _pool_error(spec, costs.check_tensor_parallel, hardware, model, tp)
    if spec.kv_capacity_tokens is not None:  # sized first: "needs --tp N" before "no table"
        capacity = spec.kv_capacity_tokens
    else:
        capacity = _pool_error(spec, costs.kv_capacity_tokens, hardware=spec.hardware,
                               model=spec.model, dtype=spec.dtype, tensor_parallel=tp,
                               engine=pool_engine(spec).name)
    if spec.name in cost_models:
        cost_model = cost_models[spec.name]
        table_tp = getattr(cost_model, "tensor_parallel", tp)
        if table_tp != tp:
            raise InputError(f"pool '{spec.name}': its cost model is for tensor_parallel {table_tp}, "
                             f"not {tp} (a table of one degree is not reused for another)")
    else:
        # the pool's engine's table: a shipped one, else the roofline built for that engine and
        # degree (phasesim.simulator.costs.resolve; the commands pass theirs in cost_models)
        cost_model = resolve_table(hardware=spec.hardware, model=spec.model, dtype=spec.dtype,
                                   tensor_parallel=tp, profile=spec.profile,
                                   engine=spec.engine).cost_model
    scheduling = pool_scheduling(spec)  # the pool's settings, else its engine's
    max_num_seqs, budget = pool_limits(spec)
    limits = InstanceLimits(max_num_seqs=max_num_seqs, max_num_batched_tokens=budget,
                            kv_admission=scheduling.kv_admission)
    emits = spec.role != Role.PREFILL or topology.first_token == FirstToken.PREFILL
    if spec.prefix_cache and prefix_block_tokens % spec.block_tokens:
        raise InputError(f"pool '{spec.name}': the trace's prefix blocks ({prefix_block_tokens} "
                         f"tokens) are not whole KV blocks of {spec.block_tokens} tokens")

    def kv() -> KVCache:
        if spec.prefix_cache:
            return PrefixKVCache(capacity_tokens=capacity, block_tokens=spec.block_tokens,
                                 watermark_fraction=spec.watermark_fraction,
                                 prefix_block_tokens=prefix_block_tokens)
        return KVCache(capacity_tokens=capacity, block_tokens=spec.block_tokens,
                       watermark_fraction=spec.watermark_fraction)

    instances = [
        Instance(ctx=ctx, pool=spec.name, role=spec.role, index=i, cost_model=cost_model,
                 kv=kv(),
                 policy=POLICIES[scheduling.batching], limits=limits,
                 queue_key=QUEUE_ORDERS[spec.queue_order], prefill_emits_token=emits, fast=fast)
        for i in range(spec.instances)
    ]
    return Pool(spec=spec, instances=instances, context_limit_tokens=context_limit_tokens(spec),
                kv_capacity_tokens=capacity, kv_bytes_per_token=int(cost_model.kv_bytes_per_token),
                layers=model.layers, rng=ctx.rng(f"route:{spec.name}"))


def _pool_error(spec: PoolSpec, check: Any, *args: Any, **kwargs: Any) -> Any:
    """``check(*args, **kwargs)``, its InputError prefixed with the pool's name."""
    try:
        return check(*args, **kwargs)
    except InputError as exc:
        raise InputError(f"pool '{spec.name}': {exc.message}") from None


def _build_links(ctx: SimContext, topology: TopologySpec,
                 pools: dict[Role, Pool]) -> dict[int, Link]:
    if not topology.links:
        return {}
    spec = topology.links[0]
    source = pools[Role.PREFILL]
    largest_bytes = source.context_limit_tokens * source.kv_bytes_per_token
    longest_s = spec.latency_s + largest_bytes / spec.bandwidth_bytes_per_s
    if longest_s > MAX_TIME_S:
        raise InputError(f"link {spec.name}: a transfer of {largest_bytes:,} bytes (the KV of "
                         f"{source.context_limit_tokens:,} tokens) at "
                         f"{spec.bandwidth_bytes_per_s:g} B/s after {spec.latency_s:g} s of "
                         f"latency takes {longest_s:.4g} s, beyond the simulator's horizon of "
                         f"{MAX_TIME_S:.0f} s")

    def make(name: str) -> Link:
        return Link(ctx=ctx, name=name, bandwidth_bytes_per_s=spec.bandwidth_bytes_per_s,
                    latency_s=spec.latency_s)

    if spec.sharing == LinkSharing.POOL:
        return {-1: make(spec.name)}
    return {i: make(f"{spec.name}[{i}]") for i in range(len(pools[Role.PREFILL].instances))}


def _result(cluster: Cluster, topology: TopologySpec, *, seed: int,
            mode: str, slo_ttft_s: float | None, slo_tpot_s: float | None,
            prices: PriceBook) -> SimResult:
    pools = cluster.pools
    first = pools.get(Role.PREFILL, pools.get(Role.COLOCATED))
    last = pools.get(Role.DECODE, pools.get(Role.COLOCATED))
    requests = cluster.log.frame(prefill_pool=first.spec.name, decode_pool=last.spec.name)
    pool_stats = [_pool_stats(pool) for pool in pools.values()]
    link_stats = [{
        "link": link.name, "bandwidth_bytes_per_s": float(link.bandwidth_bytes_per_s),
        "latency_s": float(link.latency_s), "transfers": link.stats.transfers,
        "bytes_moved": link.stats.bytes_moved, "busy_s": link.stats.busy_ns * 1e-9,
        "max_concurrent": link.stats.max_concurrent,
    } for _, link in sorted(cluster.links.items())]
    finish = requests["finish_s"].to_numpy()
    duration_s = 0.0
    if len(requests) and np.isfinite(finish).any():
        duration_s = float(np.nanmax(finish) - requests["arrival_s"].min())
    meta = {"seed": seed, "mode": mode, "topology": topology.model_dump(mode="json"),
            "versions": _versions()}
    summary = summarize(requests, pool_stats=pool_stats, link_stats=link_stats,
                        duration_s=duration_s, slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s)
    _add_energy_and_cost(summary, requests, cluster, topology, pool_stats, duration_s, prices,
                         slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s)
    caches = [_prefix_stats(pool) for pool in pools.values() if pool.spec.prefix_cache]
    if caches:  # --- prefix caching (issue 13): only in runs that use it ---
        summary["prefix_cache"] = prefix_cache_summary(requests, caches,
                                                       end_s=cluster.ctx.env.now * 1e-9)
    return SimResult(requests=requests, timeseries=cluster.ctx.recorder.frame(),
                     pool_stats=pool_stats, link_stats=link_stats, duration_s=duration_s,
                     meta=meta, summary=summary)


def _prefix_stats(pool: Pool) -> dict[str, Any]:
    """A pool's prefix-cache counters (its instances summed)."""
    caches = [i.prefix for i in pool.instances]
    return {
        "pool": pool.spec.name, "instances": len(caches),
        "capacity_blocks": caches[0].capacity_blocks, "block_tokens": caches[0].block_tokens,
        "evictions": sum(c.evictions for c in caches),
        "inserted": sum(c.inserted for c in caches),
        "cached_block_ns": sum(i.series.cached_block_ns for i in pool.instances),
    }


def _pool_stats(pool: Pool) -> dict[str, Any]:
    stats = [i.stats for i in pool.instances]
    iterations = sum(s.iterations for s in stats)
    batch_sum = sum(s.batch_sum for s in stats)
    return {
        "pool": pool.spec.name, "role": pool.spec.role.value, "hardware": pool.spec.hardware,
        "instances": len(pool.instances), "busy_s": sum(s.busy_ns for s in stats) * 1e-9,
        "iterations": iterations,
        "mean_batch_size": batch_sum / iterations if iterations else float("nan"),
        "preemptions": sum(s.preemptions for s in stats),
        "kv_capacity_tokens": pool.instances[0].kv.capacity_tokens,
    }


def _add_energy_and_cost(summary: dict[str, Any], requests: pd.DataFrame, cluster: Cluster,
                         topology: TopologySpec, pool_stats: list[dict[str, Any]],
                         duration_s: float, prices: PriceBook, *, slo_ttft_s: float | None,
                         slo_tpot_s: float | None) -> None:
    """The summary's ``energy`` and ``cost`` sections and the requests' ``energy_j`` column
    (``phasesim.simulator.results.energy``, ``phasesim.simulator.results.money``); energy is None (and
    ``energy_j`` NaN) where a pool's hardware has no catalog power figures."""
    specs = [pool.spec for pool in cluster.pools.values()]
    completed = (requests["status"].astype(str) == "completed").to_numpy()
    output_tokens = int(requests["output_tokens"].to_numpy()[completed].sum())
    good = meets_slo(requests, slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s)
    goodput_output_tokens = int(requests["output_tokens"].to_numpy()[good].sum())
    if all(s.hardware in HARDWARE and s.hardware in POWER for s in specs):
        summary["energy"], requests["energy_j"] = run_energy(
            requests, pools=[{"name": s.name, "role": s.role.value, "hardware": s.hardware,
                              "model": s.model, "dtype": s.dtype,
                              "tensor_parallel": s.tensor_parallel} for s in specs],
            pool_stats=pool_stats, hardware=HARDWARE, power=POWER,
            models={s.model: get_model(s.model) for s in specs},
            prefill_emits_token=(topology.first_token == FirstToken.PREFILL
                                 or Role.PREFILL not in cluster.pools),
            duration_s=duration_s)
    else:
        summary["energy"] = None
        requests["energy_j"] = np.full(len(requests), np.nan)
    summary["cost"] = run_cost(
        pools=[{"name": s.name, "hardware": s.hardware, "instances": s.instances,
                "tensor_parallel": s.tensor_parallel} for s in specs],
        prices=prices, duration_s=duration_s, output_tokens=output_tokens,
        goodput_output_tokens=goodput_output_tokens)


def phasesim_version() -> str:
    """The installed distribution's version ("unknown" when run from an uninstalled tree)."""
    try:
        return importlib.metadata.version("phasesim")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _versions() -> dict[str, str]:
    return {"phasesim": phasesim_version(), "simpy": simpy.__version__, "numpy": np.__version__,
            "pandas": pd.__version__}

