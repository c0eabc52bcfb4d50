"""Property tests over random traces and topologies: every request ends exactly once, timestamps
are causal, KV use stays within capacity, batches within ``max_num_seqs``, instances and links
are busy exactly while they hold work, links never beat their bandwidth, runs are
deterministic, and the fast (closed-form decode) and reference (per-step) modes agree to 1 ns."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phasesim.simulator.catalog.hardware import HARDWARE
from phasesim.simulator.costs.closed_form import FunctionCostModel
from phasesim.simulator.run import DEFAULT_MAX_NUM_SEQS, simulate
from phasesim.simulator.topology import Batching, Role, TopologySpec, builtin_topology

TIME_COLUMNS = ["arrival_s", "prefill_start_s", "prefill_end_s", "transfer_start_s",
                "transfer_end_s", "decode_start_s", "first_token_s", "finish_s"]


def _cost(scale: float) -> FunctionCostModel:
    return FunctionCostModel(
        prefill=lambda tokens, batch: scale * (2e-3 + 3e-6 * tokens + 1e-4 * batch),
        decode=lambda batch, ctx: scale * (4e-3 + 5e-5 * batch + 1e-7 * np.asarray(ctx)),
        kv_bytes_per_token=131_072)


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(draw(st.sampled_from([0.002, 0.02, 0.2])), n)
    gaps[rng.random(n) < 0.1] = 0.0  # simultaneous arrivals
    trace = pd.DataFrame({
        "request_id": rng.permutation(n) + 100,
        "arrival_s": np.round(np.cumsum(gaps), draw(st.sampled_from([3, 9]))),
        "prompt_tokens": rng.integers(1, 1500, n),
        "output_tokens": rng.integers(1, 120, n),
        "priority": rng.integers(0, 3, n),
    })
    name = draw(st.sampled_from(["gpu", "groq", "gpu-prefill-gpu-decode",
                                 "gpu-prefill-groq-decode"]))
    overrides = dict(
        batching=draw(st.sampled_from(["continuous", "chunked", "static", "none"])),
        kv_capacity_tokens=draw(st.sampled_from([1024, 2048, 8192, 200_000])),
        routing=draw(st.sampled_from(["round_robin", "random", "least_outstanding", "least_kv",
                                      "power_of_two"])),
        queue_order=draw(st.sampled_from(["fcfs", "shortest-prompt-first", "priority"])),
        max_num_seqs=draw(st.sampled_from([None, 2, 8])),
        max_num_batched_tokens=draw(st.sampled_from([None, None, 3, 300])),
    )
    if name.startswith("gpu-prefill"):
        overrides.update(prefill_instances=draw(st.integers(1, 3)),
                         decode_instances=draw(st.integers(1, 3)),
                         link_bandwidth=draw(st.sampled_from([1e8, 1e9, 5e10])),
                         link_sharing=draw(st.sampled_from(["pool", "source_instance"])),
                         first_token=draw(st.sampled_from(["prefill", "decode"])))
    else:
        overrides["instances"] = draw(st.integers(1, 3))
    topo = builtin_topology(name, **overrides)
    if draw(st.booleans()):  # closed-form costs
        costs = {p.name: _cost(draw(st.sampled_from([0.5, 1.0]))) for p in topo.pools}
    else:  # the shipped tables (TableCostModel's own fast paths: decode runs, prefill memo)
        costs = {}
    return trace, topo, costs, seed


def _union_ns(starts_s: pd.Series, ends_s: pd.Series) -> int:
    """Length of the union of the intervals [start, end], in whole ns."""
    total, reach = 0, None
    for a, b in sorted(zip(np.rint(starts_s.to_numpy() * 1e9).astype(np.int64).tolist(),
                           np.rint(ends_s.to_numpy() * 1e9).astype(np.int64).tolist())):
        if reach is None or a > reach:
            total += b - a
            reach = b
        elif b > reach:
            total += b - reach
            reach = b
    return total


def _max_num_seqs(pool) -> int:
    if pool.batching == Batching.NONE:
        return 1
    hardware_seqs = HARDWARE.get(pool.hardware).max_batch_size
    return min(pool.max_num_seqs or DEFAULT_MAX_NUM_SEQS, hardware_seqs)


def _check_busy_times(topo: TopologySpec, res) -> None:
    """An instance steps exactly while one of its requests is between the start of its work
    there and its end there: a colocated request from its first prefill start to its finish
    (preempted, it waits for KV only while others run), a prefill pool's from prefill start to
    end. So such a pool's busy time is the sum over instances of the union of those intervals,
    to the ns. A decode instance steps while a request it has never preempted is between its
    first decode step and its finish, and only while some request is between its first decode
    step and its finish or, if preempted there, between its KV's arrival and its finish (a
    request preempted before its first decode step is recomputed there before that step, and a
    one-token request so recomputed finishes with no decode step at all; a preempted request
    may also wait for KV held by transfers still in flight, so it bounds from above only). A
    link is busy exactly while a transfer is in flight. Nothing is busy for longer than the
    run."""
    done = res.requests[res.requests.status == "completed"]
    for spec, pool in zip(topo.pools, res.pool_stats):
        if spec.role == Role.PREFILL:
            on, start, end = "prefill_instance", "prefill_start_s", "prefill_end_s"
        elif spec.role == Role.DECODE:
            on, start, end = "decode_instance", "decode_start_s", "finish_s"
        else:
            on, start, end = "decode_instance", "prefill_start_s", "finish_s"
        if spec.role == Role.DECODE:
            # preempted: the instance may recompute it from its KV's arrival on (and a
            # one-token request recomputed so never takes a decode step)
            held = done[start].where(done.preemptions == 0, done["transfer_end_s"])
            served = done[held.notna()]
            held = held[served.index]
            upper = sum(_union_ns(held[g.index], g[end]) for _, g in served.groupby(on))
            steady = served[served.preemptions == 0]
            lower = sum(_union_ns(group[start], group[end]) for _, group in steady.groupby(on))
        else:
            served = done[done[start].notna()]
            upper = lower = sum(_union_ns(group[start], group[end])
                                for _, group in served.groupby(on))
        busy_ns = round(pool["busy_s"] * 1e9)
        assert lower - 1 <= busy_ns <= upper + 1, (spec.name, lower, busy_ns, upper)
        assert (busy_ns > 0) == (pool["iterations"] > 0) == (len(served) > 0)
        assert pool["busy_s"] <= res.duration_s * spec.instances + 1e-9
    for link in res.link_stats:
        moved = done[done.transfer_start_s.notna()]
        if "[" in link["link"]:  # one link per prefill instance: name[index]
            moved = moved[moved.prefill_instance == int(link["link"].split("[")[1][:-1])]
        assert link["transfers"] == len(moved)
        busy_ns = round(link["busy_s"] * 1e9)
        assert abs(busy_ns - _union_ns(moved.transfer_start_s, moved.transfer_end_s)) <= 1
        assert link["busy_s"] <= res.duration_s + 1e-9


def _check_invariants(trace: pd.DataFrame, topo: TopologySpec, res) -> None:
    req = res.requests
    # every request ends exactly once, with a reason when rejected
    assert sorted(req.request_id) == sorted(trace.request_id)
    assert req.request_id.is_unique
    assert set(req.status) <= {"completed", "rejected"}
    assert (req.reason[req.status == "rejected"] != "").all()
    assert (req.reason[req.status == "completed"] == "").all()
    assert "stalled" not in set(req.reason)
    done = req[req.status == "completed"]
    # causal timestamps
    for a, b in [("arrival_s", "prefill_start_s"), ("prefill_start_s", "prefill_end_s"),
                 ("prefill_end_s", "first_token_s"), ("first_token_s", "finish_s"),
                 ("prefill_end_s", "transfer_start_s"), ("transfer_start_s", "transfer_end_s"),
                 ("transfer_end_s", "decode_start_s"), ("decode_start_s", "finish_s")]:
        both = done[[a, b]].dropna()
        assert (both[a] <= both[b] + 1e-12).all(), (a, b)
    assert (done.queue_s >= 0).all() and (done.ttft_s > 0).all()
    if topo.disaggregated:
        needs_decode = done[(done.output_tokens > 1) | (topo.first_token == "decode")]
        assert needs_decode.transfer_end_s.notna().all()
        assert (needs_decode.blocking_s >= 0).all()
    # KV within capacity; batches within max_num_seqs
    inst = res.timeseries[res.timeseries.entity == "instance"]
    assert (inst.kv_used_tokens <= inst.kv_capacity_tokens).all()
    assert (inst.kv_used_tokens >= 0).all()
    for spec, pool in zip(topo.pools, res.pool_stats):
        limit = _max_num_seqs(spec)
        assert (inst.running[inst.pool == spec.name] <= limit).all(), spec.name
        if pool["iterations"]:
            assert 1 <= pool["mean_batch_size"] <= limit
    # every preemption is some request's
    assert sum(pool["preemptions"] for pool in res.pool_stats) == req.preemptions.sum()
    # a link never moves more than bandwidth x busy time; its peak concurrency is in its rows
    links = res.timeseries[res.timeseries.entity == "link"]
    for link in res.link_stats:
        capacity = link["bandwidth_bytes_per_s"] * link["busy_s"]
        assert link["bytes_moved"] <= capacity * (1 + 1e-9) + 1
        rows = links.active_transfers[links.link == link["link"]].to_numpy()
        assert link["max_concurrent"] == rows.max(initial=0) <= link["transfers"]
    _check_busy_times(topo, res)


_EXAMPLES = int(os.environ.get("PHASESIM_STRESS_EXAMPLES", 40))  # raise it for a stress run


@pytest.mark.filterwarnings("ignore::simulator.costs.CostTableWarning")
@settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_invariants_and_fast_equals_reference(scenario) -> None:
    trace, topo, costs, seed = scenario
    fast = simulate(trace, topo, cost_models=costs, seed=seed, mode="fast")
    _check_invariants(trace, topo, fast)
    ref = simulate(trace, topo, cost_models=costs, seed=seed, mode="reference")
    _check_invariants(trace, topo, ref)
    a, b = fast.requests, ref.requests
    pd.testing.assert_frame_equal(a.drop(columns=TIME_COLUMNS + ["ttft_s", "tpot_s", "e2e_s",
                                                                 "queue_s", "transfer_s",
                                                                 "blocking_s"]),
                                  b.drop(columns=TIME_COLUMNS + ["ttft_s", "tpot_s", "e2e_s",
                                                                 "queue_s", "transfer_s",
                                                                 "blocking_s"]))
    for column in TIME_COLUMNS:
        x, y = a[column].to_numpy(), b[column].to_numpy()
        assert (np.isnan(x) == np.isnan(y)).all(), column
        assert np.nanmax(np.abs(x - y), initial=0.0) <= 1.0e-9 + 1e-12, column


@pytest.mark.filterwarnings("ignore::simulator.costs.CostTableWarning")
@settings(max_examples=10, deadline=None)
@given(scenarios())
def test_same_seed_identical_frames(scenario) -> None:
    trace, topo, costs, seed = scenario
    one = simulate(trace, topo, cost_models=costs, seed=seed)
    two = simulate(trace, topo, cost_models=costs, seed=seed)
    pd.testing.assert_frame_equal(one.requests, two.requests)
    pd.testing.assert_frame_equal(one.timeseries, two.timeseries)
    assert repr(one.pool_stats) == repr(two.pool_stats)  # NaN-safe
    assert one.link_stats == two.link_stats
    assert one.summary == two.summary
    # keeping no time series changes nothing else (links advance the same float steps)
    bare = simulate(trace, topo, cost_models=costs, seed=seed, timeseries=False)
    assert bare.timeseries.empty
    pd.testing.assert_frame_equal(one.requests, bare.requests)
    assert repr(one.pool_stats) == repr(bare.pool_stats) and one.link_stats == bare.link_stats


def test_random_routing_depends_on_the_seed() -> None:
    n = 200
    trace = pd.DataFrame({"request_id": np.arange(n), "arrival_s": np.arange(n) * 0.01,
                          "prompt_tokens": 100, "output_tokens": 10})
    topo = builtin_topology("gpu", instances=4, routing="random", kv_capacity_tokens=100_000)
    costs = {"gpu": _cost(1.0)}
    runs = [simulate(trace, topo, cost_models=costs, seed=s).requests.prefill_instance
            for s in (1, 1, 2)]
    assert (runs[0] == runs[1]).all()
    assert not (runs[0] == runs[2]).all()
    assert set(runs[0]) == {0, 1, 2, 3}


def test_preemptions_happen_and_every_request_still_completes() -> None:
    n = 60
    rng = np.random.default_rng(5)
    trace = pd.DataFrame({"request_id": np.arange(n), "arrival_s": np.zeros(n),
                          "prompt_tokens": rng.integers(100, 400, n), "output_tokens": 300})
    topo = builtin_topology("gpu", kv_capacity_tokens=4096)
    for mode in ("fast", "reference"):
        res = simulate(trace, topo, cost_models={"gpu": _cost(1.0)}, mode=mode)
        assert (res.requests.status == "completed").all()
        assert res.pool_stats[0]["preemptions"] > 0
        assert res.requests.preemptions.sum() == res.pool_stats[0]["preemptions"]


@pytest.mark.parametrize("prompt,output,capacity,reason", [
    (4000, 200, 1_000_000, "exceeds_context"),  # llama2-7b: 4,096 tokens
    (1000, 100, 512, "exceeds_kv_capacity"),
])
def test_impossible_requests_are_rejected_with_a_reason(prompt, output, capacity, reason) -> None:
    trace = pd.DataFrame({"request_id": [0, 1], "arrival_s": [0.0, 0.1],
                          "prompt_tokens": [prompt, 10], "output_tokens": [output, 10]})
    topo = builtin_topology("gpu", kv_capacity_tokens=capacity)
    req = simulate(trace, topo, cost_models={"gpu": _cost(1.0)}).requests
    assert list(req.status) == ["rejected", "completed"]
    assert req.reason[0] == reason and np.isnan(req.finish_s[0])


def test_groqrack_deployment_context_limit_rejects_long_requests() -> None:
    trace = pd.DataFrame({"request_id": [0], "arrival_s": [0.0], "prompt_tokens": [2000],
                          "output_tokens": [100]})
    topo = builtin_topology("gpu-prefill-groq-decode", kv_capacity_tokens=100_000)
    req = simulate(trace, topo, cost_models={"prefill": _cost(1.0), "decode": _cost(1.0)}).requests
    assert req.reason[0] == "exceeds_context"  # GroqRack Llama-2-7B deployment: 2,048 tokens


@pytest.mark.parametrize("mode", ["fast", "reference"])
def test_a_request_preempted_before_its_first_decode_step_is_recomputed_first(mode) -> None:
    """The case the busy-time bound once missed (a rare hypothesis failure): request 2's KV
    arrives while request 1 still decodes on the one 1,024-token decode instance; the next step's
    KV growth does not fit, so request 2 is preempted before it ever decodes, waits, and is
    recomputed there after request 1 finishes. The instance is busy for that recompute before
    request 2's first decode step: busy time is the union from its KV's arrival, not from its
    first decode step."""
    trace = pd.DataFrame({"request_id": [1, 2], "arrival_s": [0.0, 0.32],
                          "prompt_tokens": [434, 496], "output_tokens": [81, 95]})
    topo = builtin_topology("gpu-prefill-gpu-decode", kv_capacity_tokens=1024,
                            prefill_instances=1, decode_instances=1, link_bandwidth=5e10)
    res = simulate(trace, topo, cost_models={p.name: _cost(1.0) for p in topo.pools}, seed=0,
                   mode=mode)
    q = res.requests.set_index("request_id")
    assert (q.status == "completed").all() and q.preemptions.tolist() == [0, 1]
    assert q.transfer_end_s[2] < q.finish_s[1] < q.decode_start_s[2]  # recomputed, then decoded
    busy_ns = round(res.pool_stats[1]["busy_s"] * 1e9)
    from_first_decode = _union_ns(q.decode_start_s, q.finish_s)
    from_kv = _union_ns(pd.Series([q.decode_start_s[1], q.transfer_end_s[2]]), q.finish_s)
    assert busy_ns > from_first_decode + 1_000_000  # the recompute, ~3.6 ms
    assert abs(busy_ns - from_kv) <= 1
    _check_invariants(trace, topo, res)


@pytest.mark.parametrize("mode", ["fast", "reference"])
def test_a_one_token_request_recomputed_on_the_decode_instance_takes_no_decode_step(mode) -> None:
    """The same preemption with one output token made on the decode side (first_token=decode):
    the recompute's last chunk yields the token, so the request finishes with no decode step
    (decode_start_s blank) and the instance was busy for it from its KV's arrival."""
    trace = pd.DataFrame({"request_id": [1, 2], "arrival_s": [0.0, 0.235],
                          "prompt_tokens": [434, 528], "output_tokens": [60, 1]})
    topo = builtin_topology("gpu-prefill-gpu-decode", kv_capacity_tokens=1024, prefill_instances=1,
                            decode_instances=1, link_bandwidth=5e10, first_token="decode")
    res = simulate(trace, topo, cost_models={p.name: _cost(1.0) for p in topo.pools}, seed=0,
                   mode=mode)
    q = res.requests.set_index("request_id")
    assert (q.status == "completed").all() and q.preemptions.tolist() == [0, 1]
    assert np.isnan(q.decode_start_s[2]) and q.transfer_end_s[2] < q.first_token_s[2] == q.finish_s[2]
    assert q.finish_s[1] < q.finish_s[2]  # recomputed after request 1 left
    busy_ns = round(res.pool_stats[1]["busy_s"] * 1e9)
    assert busy_ns > _union_ns(q.decode_start_s[[1]], q.finish_s[[1]]) + 1_000_000
    assert abs(busy_ns - _union_ns(pd.Series([q.decode_start_s[1], q.transfer_end_s[2]]),
                                   q.finish_s)) <= 1
    _check_invariants(trace, topo, res)


@pytest.mark.parametrize("mode", ["fast", "reference"])
def test_a_preempted_request_goes_ahead_of_transfers_not_yet_granted_kv(mode) -> None:
    """Request 2 is preempted on the decode instance before its first decode step (above) while
    request 3's prefill finishes: request 3's KV is granted only once request 2 is back (vLLM
    puts a preempted request at the head of its waiting queue), so new transfers cannot starve
    a preempted request (kv.KVReservations)."""
    trace = pd.DataFrame({"request_id": [1, 2, 3], "arrival_s": [0.0, 0.32, 0.325],
                          "prompt_tokens": [434, 496, 100], "output_tokens": [81, 95, 40]})
    topo = builtin_topology("gpu-prefill-gpu-decode", kv_capacity_tokens=1024,
                            prefill_instances=1, decode_instances=1, link_bandwidth=5e10)
    res = simulate(trace, topo, cost_models={p.name: _cost(1.0) for p in topo.pools}, seed=0,
                   mode=mode)
    q = res.requests.set_index("request_id")
    assert q.preemptions.tolist() == [0, 1, 0] and (q.status == "completed").all()
    assert q.prefill_end_s[3] < q.finish_s[1]  # request 3 asked while request 2 waited
    assert q.transfer_start_s[3] >= q.decode_start_s[2]
    _check_invariants(trace, topo, res)
