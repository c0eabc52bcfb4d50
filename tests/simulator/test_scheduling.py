"""A pool's engine: the hardware's default when it names none, and the engine's batching and
limits wherever the pool sets none of its own (an explicit setting always wins)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phasesim.errors import InputError
from phasesim.simulator.run import simulate
from phasesim.simulator.scheduling import pool_engine, pool_scheduling
from phasesim.simulator.topology import Batching, PoolSpec, Role, TopologySpec, load_topology


def _pool(**fields) -> PoolSpec:
    return PoolSpec(name="p", role=Role.COLOCATED, **{"hardware": "h100-sxm", **fields})


@pytest.mark.parametrize(("hardware", "engine"), [
    ("h100-sxm", "vllm"), ("a100-sxm-80gb", "vllm"), ("mi300x", "vllm"), ("groqrack", "groq"),
    ("gaudi2", "deepspeed"), ("sn40l", "sambaflow"),
])
def test_default_engine_follows_the_hardware(hardware: str, engine: str) -> None:
    assert pool_engine(_pool(hardware=hardware)).name == engine


def test_default_engines_schedule_as_before_engines() -> None:
    gpu = pool_scheduling(_pool())
    assert (gpu.engine, gpu.batching, gpu.max_num_seqs, gpu.max_num_batched_tokens) == (
        "vllm", Batching.CONTINUOUS, 256, None)
    groq = pool_scheduling(_pool(hardware="groqrack"))
    assert (groq.engine, groq.batching) == ("groq", Batching.NONE)


def test_the_engines_settings_apply_where_the_pool_has_none() -> None:
    s = pool_scheduling(_pool(engine="deepspeed-mii"))
    assert (s.batching, s.max_num_seqs, s.max_num_batched_tokens) == (Batching.CHUNKED, 256, 768)
    s = pool_scheduling(_pool(engine="llama.cpp"))
    assert (s.batching, s.max_num_seqs, s.max_num_batched_tokens) == (Batching.CHUNKED, 1, 512)


def test_explicit_settings_win_over_the_engine() -> None:
    s = pool_scheduling(_pool(engine="deepspeed-mii", batching="continuous", max_num_seqs=8,
                              max_num_batched_tokens=4096))
    assert (s.engine, s.batching, s.max_num_seqs, s.max_num_batched_tokens) == (
        "deepspeed-mii", Batching.CONTINUOUS, 8, 4096)
    s = pool_scheduling(_pool(engine="deepspeed", max_num_seqs=4))
    assert (s.batching, s.max_num_seqs) == (Batching.STATIC, 4)


def test_an_unknown_engine_in_yaml_names_the_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("pools:\n  - name: gpu\n    role: colocated\n    hardware: h100-sxm\n"
                    "    engine: tgi-9\n")
    with pytest.raises(InputError) as info:
        load_topology(path)
    assert "unknown engine 'tgi-9'" in info.value.message and "vllm" in info.value.message
    assert info.value.column == "pools.0.engine" and info.value.line == 5


def test_yaml_engine_round_trips_and_defaults_stay_out_of_dumps(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("pools:\n  - {name: gpu, role: colocated, hardware: h100-sxm, "
                    "engine: trt-llm}\n")
    spec = load_topology(path)
    assert spec.pools[0].engine == "trt-llm"
    assert TopologySpec.model_validate(spec.model_dump(mode="json")) == spec
    plain = _pool().model_dump(mode="json")
    assert "engine" not in plain and "batching" not in plain  # None: the engine's


def _trace(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"request_id": np.arange(n), "arrival_s": np.sort(rng.uniform(0, 2, n)),
                         "prompt_tokens": rng.integers(50, 2000, n),
                         "output_tokens": rng.integers(1, 60, n)})


def _run(pool: PoolSpec, cost_model) -> pd.DataFrame:
    topology = TopologySpec(pools=(pool,))
    return simulate(_trace(), topology, seed=0, cost_models={"p": cost_model},
                    timeseries=False).requests


def test_the_default_engine_runs_the_old_default_schedule(constant_cost_model) -> None:
    before = _run(_pool(batching="continuous"), constant_cost_model)  # the old default
    pd.testing.assert_frame_equal(_run(_pool(), constant_cost_model), before)
    pd.testing.assert_frame_equal(_run(_pool(engine="vllm"), constant_cost_model), before)


def test_an_engine_brings_its_schedule(constant_cost_model) -> None:
    mii = _run(_pool(engine="deepspeed-mii"), constant_cost_model)
    by_hand = _run(_pool(batching="chunked", max_num_batched_tokens=768), constant_cost_model)
    pd.testing.assert_frame_equal(mii, by_hand)
    assert not mii["finish_s"].equals(_run(_pool(), constant_cost_model)["finish_s"])
