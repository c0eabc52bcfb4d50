"""Shared fixtures: a SimPy environment, a seeded RNG, a constant cost model, a tiny topology, the
roofline builder's cache emptied around a test, a fitted h100-sxm/vllm pair."""

from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np
import pytest
import simpy
from hypothesis import settings

from phasesim.simulator.costs import roofline as analytical
from phasesim.simulator.costs.closed_form import ConstantCostModel
from phasesim.simulator.topology import TopologySpec

# CI (CI=true, as .ci/run runs) draws the property tests' examples from a fixed seed, so a landing
# is decided by the code, not by which examples chance picked; a developer's run explores new
# ones (and hypothesis keeps any failure it finds in .hypothesis/ to replay).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() == "true":
    settings.load_profile("ci")


@pytest.fixture
def env() -> simpy.Environment:
    return simpy.Environment()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def constant_cost_model() -> ConstantCostModel:
    """10 ms prefill, 2 ms decode step, 1 kB of KV per token."""
    return ConstantCostModel(prefill_s=0.010, decode_step_s=0.002, kv_bytes_per_token=1000)


@pytest.fixture
def tiny_topology() -> TopologySpec:
    """One colocated H100 pool of two instances with a small (8,192-token) KV cache."""
    return TopologySpec.model_validate({
        "name": "tiny",
        "pools": [{"name": "gpu", "role": "colocated", "hardware": "h100-sxm", "instances": 2,
                   "kv_capacity_tokens": 8192}],
    })


@pytest.fixture
def fresh_tables():
    """analytical_cost_model is cached per process: start and end each test without it."""
    analytical.analytical_cost_model.cache_clear()
    yield
    analytical.analytical_cost_model.cache_clear()


@pytest.fixture
def h100_vllm_calibrated(monkeypatch: pytest.MonkeyPatch, fresh_tables) -> None:
    """A fit for h100-sxm/vllm, as profiler fit would write one (its constants: the kernel ones)."""
    consts = analytical.constants_for("h100-sxm", analytical.load_constants())[0]
    fits = {"pairs": {"h100-sxm/vllm": {"constants": asdict(consts), "rows": 3,
                                       "models": ["llama3-8b"], "train_mape_pct": 5.0,
                                       "cv_mape_pct": 9.0}}}
    monkeypatch.setattr(analytical, "load_engine_calibration", lambda *a, **k: fits)
