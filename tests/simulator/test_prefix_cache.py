"""Prefix caching: closed forms (a shared prefix, an LRU cache by hand), never a phantom hit,
KV within capacity, fast and reference modes agreeing, the routers that use the cache, and the
outputs (cached_tokens, summary, time series)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phasesim.errors import InputError
from phasesim.simulator.costs.closed_form import FunctionCostModel
from phasesim.simulator.kv import PrefixKVCache
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import TopologySpec, builtin_topology
from tests.simulator.test_engine_invariants import TIME_COLUMNS, _check_invariants

BLOCK = 512  # Mooncake's prefix block
KV_BYTES = 131_072


@dataclass(frozen=True, slots=True)
class PrefixPricedCost:
    """A prefill's time grows with its new tokens and with the prefix they attend to; decode
    steps cost a constant. Every number is exact in ns."""

    kv_bytes_per_token: int = KV_BYTES

    def prefill_time_s(self, chunk_tokens, prefix_tokens) -> float:
        chunk = np.asarray(chunk_tokens, dtype=np.float64)
        prefix = np.asarray(prefix_tokens, dtype=np.float64)
        return float(1e-3 + (chunk * 2e-6).sum() + (chunk * prefix * 1e-9).sum())

    def decode_step_times_s(self, batch_size, mean_context_tokens) -> np.ndarray:
        return np.full(len(np.atleast_1d(mean_context_tokens)), 5e-4 + 1e-5 * batch_size)

    def mixed_step_time_s(self, chunk_tokens, prefix_tokens, decode_context_tokens) -> float:
        t = self.prefill_time_s(chunk_tokens, prefix_tokens) if len(chunk_tokens) else 0.0
        if len(decode_context_tokens):
            t += float(self.decode_step_times_s(len(decode_context_tokens), [0.0])[0])
        return t


def _ns(seconds: float) -> int:
    return int(round(seconds * 1e9))


def _trace(rows: list[tuple[float, int, int, list[int]]], *, session=None) -> pd.DataFrame:
    df = pd.DataFrame({
        "request_id": np.arange(len(rows)),
        "arrival_s": [r[0] for r in rows],
        "prompt_tokens": [r[1] for r in rows],
        "output_tokens": [r[2] for r in rows],
        "prefix_hash_ids": [list(r[3]) for r in rows],
    })
    if session is not None:
        df["session_id"] = session
    df.attrs["trace_meta"] = {"prefix_block_tokens": BLOCK}
    return df


# --- closed forms ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["fast", "reference"])
@pytest.mark.parametrize("output", [1, 40])
def test_shared_prefix_is_computed_once(mode: str, output: int) -> None:
    """N requests sharing a 2,048-token prefix (4 blocks) plus a unique block, far apart, on one
    instance: all but the first find 2,048 tokens cached and prefill only the rest."""
    n, cost = 6, PrefixPricedCost()
    trace = _trace([(10.0 * i, 5 * BLOCK, output, [1, 2, 3, 4, 100 + i]) for i in range(n)])
    on = simulate(trace, builtin_topology("gpu", kv_capacity_tokens=200_000, prefix_cache=True),
                  cost_models={"gpu": cost}, mode=mode).requests
    assert on.cached_tokens.tolist() == [0] + [4 * BLOCK] * (n - 1)
    full_ns = _ns(cost.prefill_time_s([5 * BLOCK], [0]))
    rest_ns = _ns(cost.prefill_time_s([BLOCK], [4 * BLOCK]))
    assert [_ns(t) for t in on.ttft_s] == [full_ns] + [rest_ns] * (n - 1)
    off = simulate(trace, builtin_topology("gpu", kv_capacity_tokens=200_000),
                   cost_models={"gpu": cost}, mode=mode)
    assert "cached_tokens" not in off.requests.columns  # off: nothing cached, nothing reported
    assert "prefix_cache" not in off.summary
    assert [_ns(t) for t in off.requests.ttft_s] == [full_ns] * n


def test_a_whole_prompt_in_cache_still_computes_its_last_block() -> None:
    """At least one token is computed: a prompt of exactly 4 cached blocks reuses 3."""
    trace = _trace([(0.0, 4 * BLOCK, 1, [1, 2, 3, 4]), (5.0, 4 * BLOCK, 1, [1, 2, 3, 4]),
                    (9.0, 4 * BLOCK + 1, 1, [1, 2, 3, 4, 5])])
    res = simulate(trace, builtin_topology("gpu", kv_capacity_tokens=200_000, prefix_cache=True),
                   cost_models={"gpu": PrefixPricedCost()})
    assert res.requests.cached_tokens.tolist() == [0, 3 * BLOCK, 4 * BLOCK]


def _lru_run(sequence: list[int], slots: int, mode: str = "fast"):
    """One-block prompts (plus 16 unique tokens) far apart on one instance whose KV holds
    ``slots`` prefix blocks besides a running request's own two blocks."""
    capacity_blocks = 32 * slots + 2
    trace = _trace([(1.0 * i, BLOCK + 16, 1, [h]) for i, h in enumerate(sequence)])
    topo = builtin_topology("gpu", kv_capacity_tokens=16 * capacity_blocks, prefix_cache=True)
    return simulate(trace, topo, cost_models={"gpu": PrefixPricedCost()}, mode=mode)


@pytest.mark.parametrize("mode", ["fast", "reference"])
def test_lru_working_set_one_block_larger_than_the_cache_never_hits(mode: str) -> None:
    slots = 3
    res = _lru_run([1, 2, 3, 4] * 5, slots, mode)  # cyclic over slots + 1 blocks: LRU thrashes
    assert res.requests.cached_tokens.tolist() == [0] * 20
    (pool,) = res.summary["prefix_cache"]["pools"]
    assert pool["evictions"] == 20 - slots and pool["inserted"] == 20
    fits = _lru_run([1, 2, 3] * 5, slots, mode)  # the same cycle one block shorter: all hit
    assert fits.requests.cached_tokens.tolist() == [0] * 3 + [BLOCK] * 12
    assert fits.summary["prefix_cache"]["pools"][0]["evictions"] == 0


def test_lru_hits_by_hand() -> None:
    # LRU with 3 slots over 1 2 3 1 4 1 2 3 4 (least recent first):
    # [1] [1 2] [1 2 3] hit:[2 3 1] 4 evicts 2:[3 1 4] hit:[3 4 1] 2 evicts 3:[4 1 2]
    # 3 evicts 4:[1 2 3] 4 evicts 1:[2 3 4] -> hits at positions 3 and 5, 5 evictions
    res = _lru_run([1, 2, 3, 1, 4, 1, 2, 3, 4], 3)
    hits = [i for i, c in enumerate(res.requests.cached_tokens) if c]
    assert hits == [3, 5]
    assert res.summary["prefix_cache"]["pools"][0]["evictions"] == 4
    assert res.summary["prefix_cache"]["hit_rate"] == pytest.approx(2 * BLOCK / (9 * (BLOCK + 16)))


def test_eviction_comes_before_preemption() -> None:
    """Idle cached blocks are evicted to make room; nothing running is preempted for them."""
    trace = _trace([(0.0, 4 * BLOCK + 16, 1, [1, 2, 3, 4]),
                    (1.0, 4 * BLOCK + 16, 200, [5, 6, 7, 8]),
                    (1.0, 4 * BLOCK + 16, 200, [9, 10, 11, 12])])
    topo = builtin_topology("gpu", kv_capacity_tokens=16 * (2 * 130 + 30), prefix_cache=True)
    res = simulate(trace, topo, cost_models={"gpu": PrefixPricedCost()})
    assert res.requests.preemptions.sum() == 0
    assert res.summary["prefix_cache"]["pools"][0]["evictions"] >= 4


# --- the cache on its own --------------------------------------------------------------------------


def test_prefix_kv_cache_reference_counts_and_evicts_idle_tail_first() -> None:
    kv = PrefixKVCache(capacity_tokens=16 * 100, block_tokens=16, watermark_fraction=0.0,
                       prefix_block_tokens=32)  # 2 KV blocks per prefix block
    kv.allocate(6)  # request A computes three prefix blocks
    kv.insert((1, 2, 3))
    kv.acquire((1, 2))  # request B reuses two
    assert kv.refs == {1: 2, 2: 2, 3: 1} and kv.used_blocks == 6 and kv.evictable_blocks == 0
    kv.release((1, 2, 3))  # A ends: 3 goes idle
    assert kv.evictable_blocks == 2
    kv.release((1, 2))  # B ends: 2, then 1 go idle (tail first)
    assert list(kv.idle) == [3, 2, 1] and kv.evictable_blocks == 6
    kv.allocate(96)  # 94 free: one prefix block (the chain's tail, 3) is evicted
    assert list(kv.refs) == [1, 2] and kv.evictions == 1 and kv.used_blocks == 100
    assert kv.match((1, 2, 3), 3) == 2 and kv.match((2, 1), 2) == 2 and kv.match((3,), 1) == 0


def test_a_second_copy_of_a_block_is_freed_on_insert() -> None:
    kv = PrefixKVCache(capacity_tokens=1600, block_tokens=16, watermark_fraction=0.0,
                       prefix_block_tokens=32)
    kv.allocate(2)
    kv.insert((7,))
    kv.allocate(2)  # a concurrent request computed the same block
    kv.insert((7,))
    assert kv.used_blocks == 2 and kv.refs == {7: 2}


# --- never a phantom hit; KV within capacity; fast == reference ------------------------------------


def _cost(scale: float) -> FunctionCostModel:
    return FunctionCostModel(
        prefill=lambda tokens, batch: scale * (2e-3 + 3e-6 * tokens + 1e-4 * batch),
        decode=lambda batch, ctx: scale * (4e-3 + 5e-5 * batch + 1e-7 * np.asarray(ctx)),
        kv_bytes_per_token=KV_BYTES)


@st.composite
def cached_scenarios(draw):
    n = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(draw(st.sampled_from([0.005, 0.05, 0.5])), n)
    gaps[rng.random(n) < 0.1] = 0.0
    # prompts from a few prefix chains (a chain = a conversation's growing context)
    chains = [list(range(1000 * c, 1000 * c + 12)) for c in range(draw(st.integers(1, 4)))]
    rows, sessions = [], []
    for i in range(n):
        c = int(rng.integers(len(chains)))
        blocks = int(rng.integers(0, 7))
        extra = int(rng.integers(1, BLOCK))
        prompt = blocks * BLOCK + extra
        ids = chains[c][:blocks] + [10_000 + i]  # the partial last block is the request's own
        rows.append((0.0, prompt, int(rng.integers(1, 60)), ids))
        sessions.append(c)
    trace = _trace(rows, session=sessions)
    trace["arrival_s"] = np.round(np.cumsum(gaps), 6)
    name = draw(st.sampled_from(["gpu", "gpu-prefill-gpu-decode", "gpu-prefill-groq-decode"]))
    overrides = dict(
        batching=draw(st.sampled_from(["continuous", "chunked", "static"])),
        kv_capacity_tokens=draw(st.sampled_from([4096, 8192, 16384, 200_000])),
        routing=draw(st.sampled_from(["round_robin", "least_kv", "prefix_affinity",
                                      "session_affinity", "cache_aware"])),
        max_num_seqs=draw(st.sampled_from([None, 2, 8])),
        max_num_batched_tokens=draw(st.sampled_from([None, 300])),
        prefix_cache=True,
    )
    if name.startswith("gpu-prefill"):
        overrides.update(prefill_instances=draw(st.integers(1, 3)),
                         decode_instances=draw(st.integers(1, 2)),
                         first_token=draw(st.sampled_from(["prefill", "decode"])))
    else:
        overrides["instances"] = draw(st.integers(1, 3))
    if name.endswith("groq-decode"):
        overrides.pop("batching")
    topo = builtin_topology(name, **overrides)
    costs = {p.name: _cost(1.0) for p in topo.pools}
    return trace, topo, costs, seed


def _check_no_phantom_hits(trace: pd.DataFrame, res) -> None:
    """A request's cached blocks were all computed earlier on its prefill instance: they are
    among the full prompt blocks of requests on that instance whose prefill had ended when its
    own (first) prefill began; and at least one prompt token is computed."""
    req = res.requests.set_index("request_id")
    ids = dict(zip(trace.request_id, trace.prefix_hash_ids))
    prompts = dict(zip(trace.request_id, trace.prompt_tokens))
    done = req[req.status == "completed"]
    assert (done.cached_tokens % BLOCK == 0).all()
    assert (done.cached_tokens <= done.prompt_tokens - 1).all()
    for rid, row in done.iterrows():
        k = int(row.cached_tokens) // BLOCK
        if not k:
            continue
        earlier = done[(done.prefill_instance == row.prefill_instance)
                       & (done.prefill_end_s <= row.prefill_start_s) & (done.index != rid)]
        seen = {h for q in earlier.index for h in ids[q][:prompts[q] // BLOCK]}
        assert set(ids[rid][:k]) <= seen, (rid, k)


def _check_cache_rows(res) -> None:
    inst = res.timeseries[res.timeseries.entity == "instance"]
    assert "kv_cached_tokens" in inst.columns
    assert (inst.kv_cached_tokens <= inst.kv_used_tokens).all()
    assert (inst.kv_used_tokens <= inst.kv_capacity_tokens).all()
    summary = res.summary["prefix_cache"]
    for pool in summary["pools"]:
        assert pool["evictions"] <= pool["inserted"]
        assert pool["mean_occupancy"] is None or 0.0 <= pool["mean_occupancy"] <= 1.0


_EXAMPLES = int(os.environ.get("PHASESIM_STRESS_EXAMPLES", 40))


@pytest.mark.filterwarnings("ignore::simulator.costs.CostTableWarning")
@settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cached_scenarios())
def test_never_a_phantom_hit_and_fast_equals_reference(scenario) -> None:
    trace, topo, costs, seed = scenario
    fast = simulate(trace, topo, cost_models=costs, seed=seed, mode="fast")
    ref = simulate(trace, topo, cost_models=costs, seed=seed, mode="reference")
    for res in (fast, ref):
        _check_invariants(trace, topo, res)
        _check_no_phantom_hits(trace, res)
        _check_cache_rows(res)
    drop = TIME_COLUMNS + ["ttft_s", "tpot_s", "e2e_s", "queue_s", "transfer_s", "blocking_s"]
    pd.testing.assert_frame_equal(fast.requests.drop(columns=drop),
                                  ref.requests.drop(columns=drop))
    for column in TIME_COLUMNS:
        x, y = fast.requests[column].to_numpy(), ref.requests[column].to_numpy()
        assert (np.isnan(x) == np.isnan(y)).all(), column
        assert np.nanmax(np.abs(x - y), initial=0.0) <= 1.0e-9 + 1e-12, column
    assert fast.summary["prefix_cache"]["hit_rate"] == ref.summary["prefix_cache"]["hit_rate"]


# --- routers ---------------------------------------------------------------------------------------


def test_prefix_affinity_follows_the_cached_prefix() -> None:
    """Three conversations take turns on two instances: prefix-affinity sends each turn where
    its context is cached, round-robin sends every other turn to the instance without it."""
    rows = []
    for turn in range(6):
        for conv in range(3):
            rows.append((10.0 * (3 * turn + conv), (turn + 1) * BLOCK + 8, 1,
                         [100 * conv + b for b in range(turn + 1)] + [9000 + 3 * turn + conv]))
    trace = _trace(rows)
    rates = {}
    for router in ("round_robin", "prefix_affinity"):
        topo = builtin_topology("gpu", instances=2, kv_capacity_tokens=200_000,
                                prefix_cache=True, routing=router)
        res = simulate(trace, topo, cost_models={"gpu": PrefixPricedCost()})
        rates[router] = res.summary["prefix_cache"]["hit_rate"]
        if router == "prefix_affinity":
            cached = res.requests.cached_tokens.tolist()
            assert cached[3:] == [turn * BLOCK for turn in range(1, 6) for _ in range(3)]
    assert rates["prefix_affinity"] > rates["round_robin"]


def test_session_affinity_sticks_until_overloaded() -> None:
    from phasesim.simulator.routing import BALANCE_ABS_REQUESTS, session_affinity

    @dataclass
    class Load:
        outstanding: int

    @dataclass
    class Req:
        session_id: int

    loads = [Load(0), Load(0), Load(0)]
    rng = np.random.default_rng(0)
    assert session_affinity(loads, turn=0, rng=rng, request=Req(5), sessions={5: 2}) == 2
    assert session_affinity(loads, turn=0, rng=rng, request=Req(6), sessions={5: 2}) == 0
    loads[2].outstanding = BALANCE_ABS_REQUESTS + 1
    assert session_affinity(loads, turn=0, rng=rng, request=Req(5), sessions={5: 2}) == 0


# --- configuration ---------------------------------------------------------------------------------


def test_groqrack_has_no_prefix_cache() -> None:
    with pytest.raises(InputError, match="groqrack has no prefix cache"):
        builtin_topology("groq", prefix_cache=True)
    with pytest.raises(ValueError, match="prefill side"):
        TopologySpec.model_validate({"pools": [
            {"name": "p", "role": "prefill", "hardware": "h100-sxm"},
            {"name": "d", "role": "decode", "hardware": "h100-sxm", "prefix_cache": True}],
            "links": [{"name": "kv", "src": "p", "dst": "d", "bandwidth_bytes_per_s": 1e9}]})
    # gpu-prefill-groq-decode: the cache goes to the GPU prefill pool only
    topo = builtin_topology("gpu-prefill-groq-decode", prefix_cache=True)
    assert [p.prefix_cache for p in topo.pools] == [True, False]


def test_a_prefix_cache_needs_hash_ids() -> None:
    trace = _trace([(0.0, 600, 2, [1])]).drop(columns="prefix_hash_ids")
    with pytest.raises(InputError, match="prefix_hash_ids"):
        simulate(trace, builtin_topology("gpu", prefix_cache=True))


def test_cache_off_leaves_the_meta_as_it_was() -> None:
    trace = _trace([(0.0, 600, 2, [1])])
    off = simulate(trace, builtin_topology("gpu"), cost_models={"gpu": PrefixPricedCost()})
    on = simulate(trace, builtin_topology("gpu", prefix_cache=True),
                  cost_models={"gpu": PrefixPricedCost()})
    assert "prefix_cache" not in off.meta["topology"]["pools"][0]
    assert on.meta["topology"]["pools"][0]["prefix_cache"] is True
    assert "kv_cached_tokens" not in off.timeseries.columns
    assert "kv_cached_tokens" in on.timeseries.columns


# --- the table cost model's one-chunk-after-a-prefix path --------------------------------------


@pytest.mark.parametrize("model", ["llama2-7b", "llama3.1-8b"])
def test_prefill_step_after_a_prefix_gives_the_protocol_numbers(model: str) -> None:
    from phasesim.simulator.costs.resolve import resolve_table

    # the best shipped tables: measured for Llama-2, the kernel roofline for Llama-3.1
    engine = {"llama2-7b": "torch", "llama3.1-8b": "analytical"}[model]
    cost = resolve_table(hardware="h100-sxm", model=model, dtype="fp16", engine=engine).cost_model
    rng = np.random.default_rng(5)
    for _ in range(2000):
        chunk, prefix = int(rng.integers(1, 20_000)), int(rng.integers(0, 140_000))
        assert cost.prefill_step_s((chunk,), (prefix,)) == \
            cost.prefill_time_s(np.array([chunk]), np.array([prefix]))
