"""Scenario pools and engines: a shipped table of the pool's engine, else one built for that
engine and degree, as `sim replay` chooses."""

from __future__ import annotations

from phasesim.scenarios.simulate import pool_cost_model
from phasesim.simulator.topology import PoolSpec, Role


def _pool(**fields) -> PoolSpec:
    return PoolSpec(name="p", role=Role.COLOCATED, **fields)


def test_a_named_engine_gets_its_shipped_table() -> None:
    assert pool_cost_model(_pool(hardware="h100-sxm", engine="torch")).meta["engine"] == "torch"
    assert pool_cost_model(_pool(hardware="groqrack", engine="groq")).meta["engine"] == "groq"


def test_an_engine_without_a_shipped_table_gets_one_built() -> None:
    built = pool_cost_model(_pool(hardware="h100-sxm", engine="trt-llm"))
    assert built.meta["engine"] == "trt-llm" and built.meta["calibrated_on"] == "h100-sxm/trt-llm"
    assert built.name == "h100-sxm__llama2-7b__fp16__trt-llm__analytical__tp1"


def test_a_tensor_parallel_pool_gets_its_degree_built() -> None:
    tp2 = pool_cost_model(_pool(hardware="h100-sxm", tensor_parallel=2))
    assert tp2.tensor_parallel == 2 and tp2.meta["engine"] == "vllm"


def test_a_pool_without_an_engine_runs_its_hardwares_default_engine() -> None:
    # its hardware's default engine: shipped where there is a table (h100-sxm: vllm, calibrated),
    # else built for that engine (h200: vllm from the kernel constants, labelled uncalibrated)
    assert pool_cost_model(_pool(hardware="h100-sxm")).meta["engine"] == "vllm"
    h200 = pool_cost_model(_pool(hardware="h200"))
    assert h200.meta["engine"] == "vllm" and "no measurements of vllm on h200" in h200.meta["uncalibrated"]
    assert pool_cost_model(_pool(hardware="groqrack")).meta["engine"] == "groq"
