"""An engine's KV pool size (the engine catalog's ``kv_reserve_bytes_per_device``): vLLM keeps
10 % of each device's memory from the KV cache, DeepSpeed-MII 1 GB per device (DeepSpeed
inference v2's MemoryConfig), every other engine vLLM's rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phasesim.errors import InputError
from phasesim.simulator.catalog.engines import ENGINES, get_engine
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.costs import ConstantCostModel, kv_capacity_tokens, min_tensor_parallel
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import PoolSpec, Role, TopologySpec

GB = 1_000_000_000


def _by_hand(hardware: str, model: str, tp: int, reserve_bytes: float) -> int:
    memory, spec = get_hardware(hardware).memory_bytes, get_model(model)
    return int((memory * tp - spec.param_bytes("fp16") - reserve_bytes * tp)
               // spec.kv_bytes_per_token("fp16"))


def test_catalog_values_are_physical_and_cited() -> None:
    assert get_engine("deepspeed-mii").kv_reserve_bytes_per_device == GB
    assert any("manager_configs.py" in n and "1_000_000_000" in n
               for n in get_engine("deepspeed-mii").notes)
    for name in ("vllm", "trt-llm"):  # vLLM's rule, each saying so
        assert get_engine(name).kv_reserve_bytes_per_device is None
        assert any(n.startswith("KV memory:") for n in get_engine(name).notes)
    for engine in ENGINES.values():
        reserve = engine.kv_reserve_bytes_per_device
        assert reserve is None or 0 < reserve < min(
            get_hardware(h).memory_bytes for h in ("a100-sxm-40gb", "h100-sxm"))


@pytest.mark.parametrize(("hardware", "model", "tp"), [
    ("a100-sxm-40gb", "llama2-7b", 1), ("a100-sxm-40gb", "llama2-70b", 4),
    ("h100-sxm", "llama2-70b", 2)])
def test_deepspeed_mii_keeps_one_gb_per_device(hardware: str, model: str, tp: int) -> None:
    got = kv_capacity_tokens(hardware=hardware, model=model, tensor_parallel=tp,
                             engine="deepspeed-mii")
    assert got == _by_hand(hardware, model, tp, GB)
    vllm = kv_capacity_tokens(hardware=hardware, model=model, tensor_parallel=tp, engine="vllm")
    assert got > vllm  # 1 GB kept instead of 4 / 8 GB


@pytest.mark.parametrize("engine", ["vllm", "trt-llm", "llama.cpp", "analytical"])
def test_other_engines_keep_vllms_rule(engine: str) -> None:
    for hardware, model, tp in (("a100-sxm-40gb", "llama2-70b", 4), ("h100-sxm", "llama2-7b", 1)):
        default = kv_capacity_tokens(hardware=hardware, model=model, tensor_parallel=tp)
        assert kv_capacity_tokens(hardware=hardware, model=model, tensor_parallel=tp,
                                  engine=engine) == default
        memory, spec = get_hardware(hardware).memory_bytes, get_model(model)
        assert default == int((memory * tp * 0.9 - spec.param_bytes("fp16"))
                              // spec.kv_bytes_per_token("fp16"))


def test_an_explicit_reserve_fraction_wins_over_the_engine() -> None:
    args = dict(hardware="h100-sxm", model="llama2-7b", reserve_fraction=0.0)
    assert kv_capacity_tokens(**args, engine="deepspeed-mii") == kv_capacity_tokens(**args)


def test_the_engine_moves_the_least_degree_and_the_message() -> None:
    # llama2-70b fp16 (~138 GB) on 40 GB A100s: 4 x 36 GB = 144 GB holds it, 4 x 39 GB too
    assert min_tensor_parallel(hardware="a100-sxm-40gb", model="llama2-70b",
                               engine="deepspeed-mii") == 4
    with pytest.raises(InputError, match="1.0 GB kept per device"):
        kv_capacity_tokens(hardware="a100-sxm-40gb", model="llama2-70b", tensor_parallel=2,
                           engine="deepspeed-mii")


def _pool_capacity(**pool: object) -> int:
    """An instance's KV capacity (whole 16-token blocks) in a pool of ``pool``'s settings."""
    n = 4
    trace = pd.DataFrame({"request_id": np.arange(n), "arrival_s": np.arange(n) * 0.05,
                          "prompt_tokens": np.full(n, 100), "output_tokens": np.full(n, 8)})
    spec = PoolSpec(name="gpu", role=Role.COLOCATED, hardware="a100-sxm-40gb", **pool)
    costs = {"gpu": ConstantCostModel(prefill_s=0.01, decode_step_s=0.002)}
    result = simulate(trace, TopologySpec(pools=(spec,)), cost_models=costs)
    return int(result.pool_stats[0]["kv_capacity_tokens"])


def test_a_pool_is_sized_by_its_engine_unless_it_names_a_capacity() -> None:
    def blocks(tokens: int) -> int:
        return tokens // 16 * 16

    assert _pool_capacity(engine="deepspeed-mii") == blocks(_by_hand(
        "a100-sxm-40gb", "llama2-7b", 1, GB))
    assert _pool_capacity(engine="vllm") == _pool_capacity() == blocks(kv_capacity_tokens(
        hardware="a100-sxm-40gb", model="llama2-7b"))
    assert _pool_capacity(engine="deepspeed-mii", kv_capacity_tokens=5_008) == 5_008
