"""Closed-form checks: a lone request's timeline to the nanosecond, queueing theory, Little's
law, backpressure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phasesim.simulator.costs.closed_form import ConstantCostModel, FunctionCostModel
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import TopologySpec, builtin_topology

PREFILL_S = 0.0123456789
DECODE_S = 0.0004321
KV_BYTES = 524_288  # llama2-7b fp16, bytes per token


def _ns(seconds: float) -> int:
    return int(round(seconds * 1e9))


def _one(prompt: int, output: int, arrival_s: float = 1.5) -> pd.DataFrame:
    return pd.DataFrame({"request_id": [7], "arrival_s": [arrival_s], "prompt_tokens": [prompt],
                         "output_tokens": [output]})


def _cost() -> ConstantCostModel:
    return ConstantCostModel(prefill_s=PREFILL_S, decode_step_s=DECODE_S,
                             kv_bytes_per_token=KV_BYTES)


@pytest.mark.parametrize("mode", ["fast", "reference"])
def test_lone_request_colocated_timeline_is_exact(mode: str) -> None:
    topo = builtin_topology("gpu", kv_capacity_tokens=100_000)
    row = simulate(_one(1000, 50), topo, cost_models={"gpu": _cost()}, mode=mode).requests.iloc[0]
    assert row.status == "completed" and row.reason == ""
    assert _ns(row.ttft_s) == _ns(PREFILL_S)
    assert _ns(row.e2e_s) == _ns(PREFILL_S) + 49 * _ns(DECODE_S)
    assert _ns(row.tpot_s * 49) == 49 * _ns(DECODE_S)
    assert row.queue_s == 0.0 and row.preemptions == 0
    assert np.isnan(row.transfer_s)


@pytest.mark.parametrize("mode", ["fast", "reference"])
def test_lone_request_disaggregated_first_token_on_prefill(mode: str) -> None:
    bandwidth, latency = 25e9, 5e-6
    topo = builtin_topology("gpu-prefill-gpu-decode", kv_capacity_tokens=100_000,
                            link_bandwidth=bandwidth, link_latency=latency)
    costs = {"prefill": _cost(), "decode": _cost()}
    row = simulate(_one(1000, 2), topo, cost_models=costs, mode=mode).requests.iloc[0]
    transfer_ns = _ns(latency) + _ns(1000 * KV_BYTES / bandwidth)
    assert _ns(row.ttft_s) == _ns(PREFILL_S)  # the prefill instance emits token 1
    assert _ns(row.transfer_s) == transfer_ns
    # token 2 = prefill + transfer + one decode step
    assert _ns(row.e2e_s) == _ns(PREFILL_S) + transfer_ns + _ns(DECODE_S)
    assert row.blocking_s == 0.0
    assert row.prefill_pool == "prefill" and row.decode_pool == "decode"


@pytest.mark.parametrize("mode", ["fast", "reference"])
def test_lone_request_disaggregated_first_token_on_decode(mode: str) -> None:
    bandwidth, latency = 31.5e9, 10e-6
    topo = builtin_topology("gpu-prefill-groq-decode", kv_capacity_tokens=100_000,
                            link_bandwidth=bandwidth, link_latency=latency, first_token="decode")
    costs = {"prefill": _cost(), "decode": _cost()}
    row = simulate(_one(1500, 3), topo, cost_models=costs, mode=mode).requests.iloc[0]
    transfer_ns = _ns(latency) + _ns(1500 * KV_BYTES / bandwidth)
    assert _ns(row.ttft_s) == _ns(PREFILL_S) + transfer_ns + _ns(DECODE_S)
    assert _ns(row.e2e_s) == _ns(PREFILL_S) + transfer_ns + 3 * _ns(DECODE_S)


def test_one_token_answer_finishes_on_the_prefill_instance() -> None:
    topo = builtin_topology("gpu-prefill-gpu-decode", kv_capacity_tokens=100_000)
    res = simulate(_one(100, 1), topo, cost_models={"prefill": _cost(), "decode": _cost()})
    row = res.requests.iloc[0]
    assert _ns(row.e2e_s) == _ns(PREFILL_S) and row.decode_instance == -1
    assert res.link_stats[0]["transfers"] == 0


def _poisson_trace(rng: np.random.Generator, n: int, rate: float, prompt: np.ndarray | int = 100,
                   output: int = 1) -> pd.DataFrame:
    arrivals = np.cumsum(rng.exponential(1.0 / rate, n))
    return pd.DataFrame({"request_id": np.arange(n), "arrival_s": arrivals,
                         "prompt_tokens": prompt, "output_tokens": output})


def _single_server(batching: str = "none") -> TopologySpec:
    return builtin_topology("gpu", batching=batching, kv_capacity_tokens=1_000_000)


def test_md1_waiting_time_matches_pollaczek_khinchine() -> None:
    service_s, rho, n, warmup = 0.010, 0.5, 25_000, 1_000
    lam = rho / service_s
    expected = rho * service_s / (2 * (1 - rho))  # P-K mean wait for deterministic service
    waits = []
    for seed in range(4):
        trace = _poisson_trace(np.random.default_rng(seed), n, lam)
        cost = ConstantCostModel(prefill_s=service_s, decode_step_s=0.001)
        res = simulate(trace, _single_server(), cost_models={"gpu": cost}, timeseries=False)
        waits.append(res.requests["queue_s"].to_numpy()[warmup:].mean())
    assert np.mean(waits) == pytest.approx(expected, rel=0.03)


def test_mm1_sojourn_matches_one_over_mu_minus_lambda() -> None:
    mu, lam, n, warmup = 100.0, 50.0, 25_000, 1_000
    sojourns = []
    for seed in range(4):
        service = np.random.default_rng(1000 + seed)  # drawn once per service, in FCFS order
        cost = FunctionCostModel(prefill=lambda tokens, batch: service.exponential(1.0 / mu),
                                 decode=lambda batch, ctx: np.full(np.shape(ctx), 1e-3))
        trace = _poisson_trace(np.random.default_rng(seed), n, lam)
        res = simulate(trace, _single_server(), cost_models={"gpu": cost}, timeseries=False)
        sojourns.append(res.requests["e2e_s"].to_numpy()[warmup:].mean())
    assert np.mean(sojourns) == pytest.approx(1.0 / (mu - lam), rel=0.03)


def test_littles_law_from_instance_states_equals_request_sojourns() -> None:
    """Time-integral of (waiting + running) over the instances' time series = sum of sojourns."""
    rng = np.random.default_rng(3)
    n = 600
    trace = _poisson_trace(rng, n, 40.0, prompt=rng.integers(50, 2000, n))
    trace["output_tokens"] = rng.integers(1, 300, n)
    cost = FunctionCostModel(prefill=lambda tokens, batch: 1e-3 + 2e-5 * tokens,
                             decode=lambda batch, ctx: 5e-3 + 1e-5 * batch + 1e-7 * ctx)
    topo = builtin_topology("gpu", instances=3, kv_capacity_tokens=60_000)
    res = simulate(trace, topo, cost_models={"gpu": cost})
    req = res.requests
    assert (req.status == "completed").all()
    area = 0.0
    for _, rows in res.timeseries.groupby("instance"):
        t = rows["time_s"].to_numpy()
        in_system = (rows["queue_len"] + rows["running"]).to_numpy()
        area += float(np.sum(in_system[:-1] * np.diff(t)))
        assert in_system[-1] == 0
    # L * T = lambda * T * W, i.e. the area equals the sum of sojourn times
    assert area == pytest.approx(req["e2e_s"].sum(), rel=1e-6)
    duration = res.duration_s
    assert area / duration == pytest.approx(len(req) / duration * req["e2e_s"].mean(), rel=1e-6)


def test_decode_side_backpressure_is_counted_as_blocking() -> None:
    """Two requests prefilled together; the decode cache holds one: the second waits, holding its
    KV on the prefill instance, until the first has decoded all its tokens."""
    topo = TopologySpec.model_validate({
        "pools": [{"name": "p", "role": "prefill", "hardware": "h100-sxm",
                   "kv_capacity_tokens": 100_000},
                  {"name": "d", "role": "decode", "hardware": "h100-sxm",
                   "kv_capacity_tokens": 1104}],
        "links": [{"name": "ib", "src": "p", "dst": "d", "bandwidth_bytes_per_s": 1e10,
                   "latency_s": 0.0}],
    })
    trace = pd.DataFrame({"request_id": [0, 1], "arrival_s": [0.0, 0.0],
                          "prompt_tokens": [1000, 1000], "output_tokens": [11, 11]})
    costs = {"p": _cost(), "d": _cost()}
    for mode in ("fast", "reference"):
        req = simulate(trace, topo, cost_models=costs, mode=mode).requests
        transfer_ns = _ns(1000 * KV_BYTES / 1e10)
        assert list(req.blocking_s.map(_ns)) == [0, transfer_ns + 10 * _ns(DECODE_S)]
        assert _ns(req.finish_s[1]) == _ns(PREFILL_S) + 2 * (transfer_ns + 10 * _ns(DECODE_S))


def test_layerwise_overlap_leaves_only_the_last_layers_share() -> None:
    topo = builtin_topology("gpu-prefill-gpu-decode", kv_capacity_tokens=100_000,
                            link_bandwidth=1e9, link_latency=0.0, layerwise_overlap=True)
    row = simulate(_one(1000, 2), topo,
                   cost_models={"prefill": _cost(), "decode": _cost()}).requests.iloc[0]
    assert _ns(row.transfer_s) == _ns(1000 * KV_BYTES / 32 / 1e9)  # llama2-7b: 32 layers


def test_rate_scale_compresses_arrivals_and_empty_traces_work() -> None:
    trace = pd.DataFrame({"request_id": [0, 1], "arrival_s": [0.0, 2.0], "prompt_tokens": [10, 10],
                          "output_tokens": [1, 1]})
    topo = builtin_topology("gpu", kv_capacity_tokens=10_000, rate_scale=4.0)
    req = simulate(trace, topo, cost_models={"gpu": _cost()}).requests
    assert list(req.arrival_s) == [0.0, 0.5]
    empty = simulate(trace.iloc[:0], topo, cost_models={"gpu": _cost()})
    assert len(empty.requests) == 0 and empty.summary["requests"] == 0


def test_round_robin_alternates_and_kv_stays_within_capacity(tiny_topology, constant_cost_model,
                                                             rng) -> None:
    n = 50
    trace = pd.DataFrame({"request_id": np.arange(n), "arrival_s": np.sort(rng.uniform(0, 1, n)),
                          "prompt_tokens": rng.integers(10, 3000, n), "output_tokens": 40})
    res = simulate(trace, tiny_topology, cost_models={"gpu": constant_cost_model})
    assert list(res.requests.prefill_instance) == [i % 2 for i in range(n)]
    inst = res.timeseries[res.timeseries.entity == "instance"]
    assert inst.kv_used_tokens.max() <= 8192 and (inst.kv_capacity_tokens == 8192).all()
    assert (res.requests.status == "completed").all()
