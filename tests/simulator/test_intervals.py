"""Prediction intervals, the simulator's side: regimes, conformal ranks, support, widening."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from phasesim.errors import InputError
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.costs.roofline import load_engine_calibration
from phasesim.simulator.intervals import (
    REGIMES,
    WIDEN_FACTOR,
    WIDEN_STEP_LOG,
    LogInterval,
    attention_layout,
    conformal_quantiles,
    outside_support,
    pair_entry,
    pool_step_interval,
    regime_of,
    shape_intervals,
)

SUPPORT = {"attention": ["gqa"], "tp": [1, 2], "batch_size": [1, 64], "context_tokens": [160, 2304],
           "params": [get_model("llama3-8b").param_count, get_model("llama3-8b").param_count],
           "models": ["llama3-8b"]}


def _entry(q10: float = -0.1, q90: float = 0.2) -> dict:
    """An entry whose regimes differ (regime i: q +- i/100), TTFT half as wide as latency."""
    lat = {r: {"q10_log": q10 - i / 100, "q90_log": q90 + i / 100, "n": 9, "borrowed": False}
           for i, r in enumerate(REGIMES)}
    ttft = {r: {"q10_log": (q10 - i / 100) / 2, "q90_log": (q90 + i / 100) / 2, "n": 9,
                "borrowed": True} for i, r in enumerate(REGIMES)}
    return {"intervals": {"nominal": 0.8, "latency": lat, "ttft": ttft,
                          "pooled": {"latency": {"q10_log": q10, "q90_log": q90, "n": 90},
                                     "ttft": {"q10_log": q10, "q90_log": q90, "n": 9}}},
            "support": SUPPORT}


@pytest.mark.parametrize(("batch", "prompt", "regime"), [
    (1, 1, "b1 n<=512"), (1, 512, "b1 n<=512"), (2, 513, "b2-15 n513-1023"),
    (15, 1023, "b2-15 n513-1023"), (16, 1024, "b16+ n>=1024"), (256, 100, "b16+ n<=512"),
])
def test_regime_boundaries(batch, prompt, regime):
    assert regime_of(batch, prompt) == regime


def test_every_regime_is_reachable():
    seen = {regime_of(b, n) for b in (1, 4, 32) for n in (128, 700, 2048)}
    assert seen == set(REGIMES) and len(REGIMES) == 9


def test_attention_layout_from_heads():
    assert attention_layout(get_model("llama2-7b")) == "mha"
    assert attention_layout(get_model("opt-6.7b")) == "mha"
    assert attention_layout(get_model("llama3-8b")) == "gqa"


def test_conformal_ranks():
    r = np.arange(19, dtype=float)[::-1]  # n = 19: ranks floor(0.1*20) = 2, ceil(0.9*20) = 18
    assert conformal_quantiles(r) == (1.0, 17.0)
    assert conformal_quantiles(np.array([3.0, -1.0, 2.0, 0.5, 1.0])) == (-1.0, 3.0)  # n < 9: extremes
    with pytest.raises(ValueError):
        conformal_quantiles(np.array([]))


def test_widening_rule():
    iv = LogInterval(lo_log=-0.05, hi_log=0.05)
    assert iv.widened(0) == iv
    one = iv.widened(1)
    assert one.lo_log == pytest.approx(-0.05 * WIDEN_FACTOR - WIDEN_STEP_LOG)
    assert one.hi_log == pytest.approx(0.05 * WIDEN_FACTOR + WIDEN_STEP_LOG)
    two = iv.widened(2)
    assert two.lo_log < one.lo_log and two.hi_log > one.hi_log
    # an interval that excludes the prediction (all residuals positive) first takes it in
    biased = LogInterval(lo_log=0.1, hi_log=0.2).widened(1)
    assert biased.lo_log == pytest.approx(-WIDEN_STEP_LOG)
    assert biased.hi_log == pytest.approx(0.2 * WIDEN_FACTOR + WIDEN_STEP_LOG)
    lo, hi = one.bounds(2.0)
    assert lo == pytest.approx(2.0 * math.exp(one.lo_log)) and hi == pytest.approx(2.0 * math.exp(one.hi_log))


def test_inside_support_at_the_ends():
    assert outside_support(SUPPORT, model=get_model("llama3-8b"), tensor_parallel=2,
                           batch_size=64, context_tokens=160) == ()


@pytest.mark.parametrize(("kwargs", "dimension", "text"), [
    ({"model": "llama2-7b"}, "attention", "attention mha (calibrated: gqa)"),
    ({"tensor_parallel": 4}, "tp", "TP 4 (calibrated: 1, 2)"),
    ({"batch_size": 65}, "batch_size", "batch 65 (calibrated: 1-64)"),
    ({"context_tokens": 159}, "context_tokens", "context 159 (calibrated: 160-2304)"),
    ({"model": "llama3-70b"}, "params", "70.6B parameters (calibrated: 8.0-8.0B)"),
    ({"model": "mistral-7b"}, None, None),  # 7.2B: within a factor 1.25 of 8.0B
])
def test_each_dimension_outside(kwargs, dimension, text):
    query = {"model": "llama3-8b", "tensor_parallel": 1, "batch_size": 8, "context_tokens": 600}
    query.update(kwargs)
    model = get_model(query.pop("model"))
    got = outside_support(SUPPORT, model=model, **query)
    if dimension is None:
        assert got == ()
    else:
        assert [o.dimension for o in got] == [dimension] and str(got[0]) == text


def test_shape_intervals_use_the_regime_and_widen_per_dimension():
    entry = _entry()
    regime = regime_of(32, 2048)
    lat = entry["intervals"]["latency"][regime]
    inside = shape_intervals(entry, model=get_model("llama3-8b"), tensor_parallel=1, batch_size=32,
                             input_len=2048, output_len=128, latency_s=10.0, ttft_s=1.0, tpot_s=0.05)
    assert inside.outside == ()
    assert inside.latency_p10_s == pytest.approx(10.0 * math.exp(lat["q10_log"]))
    assert inside.latency_p90_s == pytest.approx(10.0 * math.exp(lat["q90_log"]))
    ttft = entry["intervals"]["ttft"][regime]
    assert inside.ttft_p90_s == pytest.approx(math.exp(ttft["q90_log"]))
    assert inside.tpot_p10_s == pytest.approx(0.05 * math.exp(lat["q10_log"]))  # latency's width
    outside = shape_intervals(entry, model=get_model("llama2-7b"), tensor_parallel=4, batch_size=32,
                              input_len=2048, output_len=128, latency_s=10.0, ttft_s=1.0, tpot_s=0.05)
    assert [o.dimension for o in outside.outside] == ["attention", "tp"]
    wide = LogInterval.of(lat).widened(2)
    assert outside.latency_p90_s == pytest.approx(10.0 * math.exp(wide.hi_log))
    assert outside.latency_p10_s < inside.latency_p10_s < inside.latency_p90_s < outside.latency_p90_s


def test_pool_step_interval():
    got = pool_step_interval(_entry(-0.1, 0.2), model=get_model("llama3-8b"), tensor_parallel=1)
    assert got["p10_rel"] == pytest.approx(math.exp(-0.1), abs=1e-4)
    assert got["p90_rel"] == pytest.approx(math.exp(0.2), abs=1e-4) and got["outside"] == []
    wide = pool_step_interval(_entry(-0.1, 0.2), model=get_model("llama3-8b"), tensor_parallel=8)
    assert wide["p90_rel"] > got["p90_rel"] and wide["outside"] == ["TP 8 (calibrated: 1, 2)"]
    none = pool_step_interval(None, model=get_model("llama3-8b"), tensor_parallel=1)
    assert none["p10_rel"] is None and none["p90_rel"] is None


def _constants() -> dict:
    """A complete set of constants (a calibration file is checked as the shipped ones are)."""
    return dict(load_engine_calibration()["pairs"]["h100-sxm/vllm"]["constants"])


def test_pair_entry_only_for_the_pairs_calibrated_table(tmp_path):
    path = tmp_path / "c.json"
    entry = {"constants": _constants(), **_entry()}
    path.write_text(json.dumps({"pairs": {"h100-sxm/vllm": entry}}))
    meta = {"calibrated_on": "h100-sxm/vllm"}
    got = pair_entry(hardware="h100-sxm", engine="vllm", table_meta=meta, calibration=str(path))
    assert got["support"] == SUPPORT
    # a table that is not the pair's calibrated roofline (a profile, a measured table): none
    assert pair_entry(hardware="h100-sxm", engine="vllm", table_meta={"calibrated_on": "h100-sxm"},
                      calibration=str(path)) is None
    path.write_text(json.dumps({"pairs": {"h100-sxm/vllm": {"constants": _constants()}}}))  # no intervals
    assert pair_entry(hardware="h100-sxm", engine="vllm", table_meta=meta, calibration=str(path)) is None


def test_pair_entry_refuses_a_malformed_file(tmp_path):
    path = tmp_path / "c.json"
    entry = {"constants": _constants(), **_entry()}
    del entry["intervals"]["latency"]["b1 n<=512"]
    path.write_text(json.dumps({"pairs": {"h100-sxm/vllm": entry}}))
    with pytest.raises(InputError) as exc:
        pair_entry(hardware="h100-sxm", engine="vllm", table_meta={"calibrated_on": "h100-sxm/vllm"},
                   calibration=str(path))
    assert exc.value.path == str(path) and "b1 n<=512" in exc.value.message
