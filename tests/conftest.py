"""Shared fixtures: a SimPy environment, a seeded RNG, a constant cost model, a tiny topology."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from phasesim.simulator.costs.closed_form import ConstantCostModel
from phasesim.simulator.topology import TopologySpec


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
