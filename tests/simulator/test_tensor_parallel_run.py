"""A tensor-parallel pool in the engine: its table's degree must match, and cost and energy
count N devices per instance (issue 12)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phasesim.errors import InputError
from phasesim.simulator.costs import ConstantCostModel
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import PoolSpec, Role, TopologySpec, builtin_topology


def _trace(n: int = 20) -> pd.DataFrame:
    return pd.DataFrame({"request_id": np.arange(n), "arrival_s": np.arange(n) * 0.05,
                         "prompt_tokens": np.full(n, 100), "output_tokens": np.full(n, 8)})


def _topology(tp: int) -> TopologySpec:
    pool = PoolSpec(name="gpu", role=Role.COLOCATED, hardware="h100-sxm", tensor_parallel=tp,
                    kv_capacity_tokens=100_000)
    return TopologySpec(pools=(pool,))


def test_cost_and_energy_count_n_devices():
    costs = {"gpu": ConstantCostModel(prefill_s=0.01, decode_step_s=0.002)}
    one = simulate(_trace(), _topology(1), cost_models=costs).summary
    two = simulate(_trace(), _topology(2), cost_models=costs).summary
    assert two["duration_s"] == one["duration_s"]  # same table, same times
    assert two["cost"]["usd_per_hour"] == pytest.approx(2 * one["cost"]["usd_per_hour"])
    assert two["energy"]["idle_j"] == pytest.approx(2 * one["energy"]["idle_j"])
    assert two["energy"]["joules"] > one["energy"]["joules"]


def test_a_table_of_another_degree_is_refused():
    from phasesim.simulator.costs.roofline import analytical_cost_model
    wrong = {"gpu": analytical_cost_model(hardware="h100-sxm", model="llama2-7b")}
    with pytest.raises(InputError, match="cost model is for tensor_parallel 1, not 2"):
        simulate(_trace(), _topology(2), cost_models=wrong)


def test_without_a_table_tp_n_gets_one_built_for_its_degree():
    """simulate() builds the roofline table of the pool's engine at its degree (as the commands
    do), never a TP-1 table reused: TP 2 decodes faster than TP 1 on the same trace."""
    tp1 = simulate(_trace(), builtin_topology("gpu")).requests
    tp2 = simulate(_trace(), builtin_topology("gpu", tensor_parallel=2)).requests
    assert (tp2["status"] == "completed").all()
    assert tp2["tpot_s"].mean() < tp1["tpot_s"].mean()
    with pytest.raises(InputError, match="tensor_parallel 3"):  # 32 heads: not 3 ways
        simulate(_trace(), builtin_topology("gpu", tensor_parallel=3))


def test_tp_1_leaves_the_dump_unchanged_and_overrides_skip_groq():
    assert "tensor_parallel" not in builtin_topology("gpu").model_dump()["pools"][0]
    spec = builtin_topology("gpu-prefill-groq-decode", tensor_parallel=2)
    assert [p.tensor_parallel for p in spec.pools] == [2, 1]
    assert spec.model_dump()["pools"][0]["tensor_parallel"] == 2
