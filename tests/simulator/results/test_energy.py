"""Energy golden tests: idle power x time, and a lone request's energy summed step by step."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from phasesim.simulator.catalog.economics import POWER, PriceBasis, PriceBook
from phasesim.simulator.catalog.hardware import HARDWARE
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.costs.closed_form import ConstantCostModel
from phasesim.simulator.results.energy import PoolActivity, pool_energy
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import TopologySpec

PREFILL_S, DECODE_S = 0.050, 0.010  # slow enough that the peak-power cap does not bind
H100, MODEL = "h100-sxm", "llama2-7b"


def _one(prompt: int, output: int) -> pd.DataFrame:
    return pd.DataFrame({"request_id": [0], "arrival_s": [0.0], "prompt_tokens": [prompt],
                         "output_tokens": [output]})


def _cost() -> ConstantCostModel:
    return ConstantCostModel(prefill_s=PREFILL_S, decode_step_s=DECODE_S, kv_bytes_per_token=1000)


def _colocated(instances: int) -> TopologySpec:
    return TopologySpec.model_validate({"name": "t", "pools": [
        {"name": "gpu", "role": "colocated", "hardware": H100, "instances": instances}]})


def _by_hand(prompt: int, output: int, *, instances: int) -> tuple[float, float]:
    """(joules, duration_s) of a lone colocated request, step by step: one prefill step, then
    output - 1 decode steps at contexts prompt, prompt + 1, ...; every step reads the weights."""
    power, hw, model = POWER[H100], HARDWARE[H100], get_model(MODEL)
    e_byte = (power.peak_w - power.idle_w) * power.bandwidth_share / hw.memory_bandwidth_bytes_per_s
    e_flop = (power.peak_w - power.idle_w) * power.compute_share / hw.peak_flops_fp16
    weights = float(model.weight_bytes_touched(1, "fp16"))
    kv = model.kv_bytes_per_token("fp16")
    linear = model.flops_per_token_linear()
    width = model.layers * model.heads * model.head_dim
    # prefill: every position i attends to i tokens (QK^T and AV: 4 FLOPs per dim and token)
    joules = e_byte * (weights + prompt * kv)
    joules += e_flop * (prompt * linear + sum(4 * width * i for i in range(1, prompt + 1)))
    for step in range(1, output):
        context = prompt + step - 1
        joules += e_byte * (weights + context * kv) + e_flop * (linear + 4 * width * context)
    duration = PREFILL_S + (output - 1) * DECODE_S
    return joules + instances * power.idle_w * duration, duration


@pytest.mark.parametrize("mode", ["fast", "reference"])
def test_lone_request_energy_is_the_sum_over_its_steps(mode: str) -> None:
    res = simulate(_one(1000, 50), _colocated(2), cost_models={"gpu": _cost()}, mode=mode)
    expected, duration = _by_hand(1000, 50, instances=2)
    energy = res.summary["energy"]
    assert res.duration_s == pytest.approx(duration, abs=1e-9)
    assert energy["joules"] == pytest.approx(expected, rel=1e-9)
    assert energy["pools"][0]["capped"] is False
    # the lone request carries all of it: its own work, the weights, both instances' idle power
    assert res.requests["energy_j"].iloc[0] == pytest.approx(expected, rel=1e-9)
    assert energy["joules_per_output_token"] == pytest.approx(expected / 50, rel=1e-9)
    assert energy["avg_power_w"] == pytest.approx(expected / duration, rel=1e-9)


def test_an_idle_instance_uses_idle_power_times_time() -> None:
    power = POWER[H100]
    activity = PoolActivity(instances=3, busy_s=0.0, iterations=0, mean_batch_size=float("nan"),
                            flops=np.zeros(0), data_bytes=np.zeros(0), residence_s=np.zeros(0))
    out = pool_energy(activity, power=power, hardware=HARDWARE[H100], model=get_model(MODEL),
                      dtype="fp16", duration_s=12.5)
    assert out.joules == pytest.approx(3 * power.idle_w * 12.5)
    assert out.weights_j == out.work_j == 0.0
    # and inside a run: the second instance of the pool never works, the first one's extra is
    # exactly the busy energy of the single-instance run
    one = simulate(_one(300, 5), _colocated(1), cost_models={"gpu": _cost()})
    two = simulate(_one(300, 5), _colocated(2), cost_models={"gpu": _cost()})
    assert two.summary["energy"]["joules"] - one.summary["energy"]["joules"] == pytest.approx(
        power.idle_w * one.duration_s, rel=1e-9)


def test_busy_power_is_capped_at_peak() -> None:
    fast = ConstantCostModel(prefill_s=0.001, decode_step_s=0.0001, kv_bytes_per_token=1000)
    res = simulate(_one(1000, 20), _colocated(1), cost_models={"gpu": fast})
    pool = res.summary["energy"]["pools"][0]
    assert pool["capped"] is True
    assert pool["busy_power_w"] == pytest.approx(POWER[H100].peak_w, rel=1e-9)
    assert res.summary["energy"]["joules"] == pytest.approx(POWER[H100].peak_w * res.duration_s,
                                                            rel=1e-9)


@pytest.mark.parametrize("first_token", ["prefill", "decode"])
def test_disaggregated_shares_add_up_and_decode_steps_follow_first_token(first_token) -> None:
    topo = TopologySpec.model_validate({
        "name": "pd", "first_token": first_token,
        "pools": [{"name": "p", "role": "prefill", "hardware": H100},
                  {"name": "d", "role": "decode", "hardware": "a100-sxm-80gb"}],
        "links": [{"name": "l", "src": "p", "dst": "d", "bandwidth_bytes_per_s": 1e10}]})
    trace = pd.DataFrame({"request_id": range(6), "arrival_s": np.arange(6) * 0.3,
                          "prompt_tokens": [100, 400, 800, 50, 1200, 10],
                          "output_tokens": [5, 20, 1, 7, 3, 12]})
    res = simulate(trace, topo, cost_models={"p": _cost(), "d": _cost()})
    energy = res.summary["energy"]
    assert res.requests["energy_j"].sum() == pytest.approx(energy["joules"], rel=1e-12)
    assert energy["unattributed_j"] == pytest.approx(0.0, abs=1e-6)
    assert [p["pool"] for p in energy["pools"]] == ["p", "d"]
    decode_work = energy["pools"][1]["work_j"]
    # decode steps per request: output - 1 when the prefill emits the first token, else output
    model, power, hw = get_model(MODEL), POWER["a100-sxm-80gb"], HARDWARE["a100-sxm-80gb"]
    e_byte = (power.peak_w - power.idle_w) * power.bandwidth_share / hw.memory_bandwidth_bytes_per_s
    e_flop = (power.peak_w - power.idle_w) * power.compute_share / hw.peak_flops_fp16
    width = model.layers * model.heads * model.head_dim
    expected = 0.0
    for p, o in zip(trace["prompt_tokens"], trace["output_tokens"]):
        for step in range(1, o + (first_token == "decode")):
            c = p + step - 1
            expected += e_byte * c * model.kv_bytes_per_token("fp16")
            expected += e_flop * (model.flops_per_token_linear() + 4 * width * c)
    assert decode_work == pytest.approx(expected, rel=1e-9)


def test_cost_section_names_its_prices_and_takes_overrides() -> None:
    trace = _one(500, 10)
    res = simulate(trace, _colocated(2), cost_models={"gpu": _cost()},
                   prices=PriceBook(overrides={H100: 4.0}, override_source="test"))
    cost = res.summary["cost"]
    assert cost["usd_per_hour"] == 8.0
    assert cost["prices"] == {H100: {"usd_per_hour": 4.0, "source": "test"}}
    assert cost["usd"] == pytest.approx(8.0 * res.duration_s / 3600)
    assert cost["usd_per_million_output_tokens"] == pytest.approx(cost["usd"] / 10 * 1e6)
    default = simulate(trace, _colocated(1), cost_models={"gpu": _cost()}).summary["cost"]
    assert default["basis"] == "tco" and default["usd_per_hour"] == PriceBook().usd_per_hour(H100)
    assert default["prices"][H100]["source"].startswith("tco: device")
    rental = simulate(trace, _colocated(1), cost_models={"gpu": _cost()},
                      prices=PriceBook(basis=PriceBasis.RENTAL)).summary["cost"]
    assert rental["basis"] == "rental" and rental["usd_per_hour"] == 2.99
    assert "Lambda" in rental["prices"][H100]["source"]


def test_empty_trace_has_no_per_token_figures() -> None:
    res = simulate(_one(10, 2).iloc[:0], _colocated(1), cost_models={"gpu": _cost()})
    assert res.summary["energy"]["joules_per_output_token"] is None
    assert res.summary["cost"]["usd_per_million_output_tokens"] is None
    assert math.isfinite(res.summary["energy"]["joules"])


def test_a_cached_prefix_is_not_charged_again() -> None:
    """Prefill work after a cached prefix of c tokens is the work of the whole prompt minus the
    work of the prefix, and a replay with the prefix cache on charges it that way."""
    from phasesim.simulator.results.energy import prefill_work
    from tests.simulator.test_prefix_cache import BLOCK, _trace

    model = get_model("llama2-7b")
    whole = prefill_work(model, "fp16", np.array([2560.0]))
    prefix = prefill_work(model, "fp16", np.array([2048.0]))
    rest = prefill_work(model, "fp16", np.array([2560.0]), np.array([2048.0]))
    for got, a, b in zip(rest, whole, prefix):
        assert got[0] == pytest.approx(a[0] - b[0], rel=1e-12)
    trace = _trace([(10.0 * i, 5 * BLOCK, 1, [1, 2, 3, 4, 100 + i]) for i in range(3)])
    work_j = {}
    for cache in (False, True):
        res = simulate(trace, TopologySpec.model_validate({
            "name": "one", "pools": [{"name": "gpu", "role": "colocated", "hardware": "h100-sxm",
                                      "prefix_cache": cache}]}))
        work_j[cache] = res.summary["energy"]["pools"][0]["work_j"]
        assert res.requests.energy_j.sum() == pytest.approx(res.summary["energy"]["joules"])
    assert work_j[True] < 0.6 * work_j[False]  # two of three prompts: 2,048 of 2,560 cached
