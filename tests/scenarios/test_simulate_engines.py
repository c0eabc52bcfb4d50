"""Scenario pools and engines: the best shipped table of the pool's engine; an engine no table is
shipped for is refused (the scenario layer builds no tables), naming the way out."""

from __future__ import annotations

import pytest

from phasesim.errors import InputError
from phasesim.scenarios.simulate import pool_cost_model
from phasesim.simulator.topology import PoolSpec, Role


def _pool(**fields) -> PoolSpec:
    return PoolSpec(name="p", role=Role.COLOCATED, **fields)


def test_a_named_engine_gets_its_shipped_table() -> None:
    assert pool_cost_model(_pool(hardware="h100-sxm", engine="torch")).meta["engine"] == "torch"
    assert pool_cost_model(_pool(hardware="groqrack", engine="groq")).meta["engine"] == "groq"


def test_an_engine_without_a_shipped_table_is_refused() -> None:
    with pytest.raises(InputError, match=r"no shipped cost table for engine 'trt-llm'.*sim replay"):
        pool_cost_model(_pool(hardware="h100-sxm", engine="trt-llm"))


def test_a_pool_without_an_engine_keeps_the_best_shipped_table() -> None:
    # its hardware's default engine where a table of it is shipped (h100-sxm: vllm, calibrated),
    # else the best shipped table of any engine (h200: the engine-less analytical one)
    assert pool_cost_model(_pool(hardware="h100-sxm")).meta["engine"] == "vllm"
    assert pool_cost_model(_pool(hardware="h200")).meta["engine"] == "analytical"
    assert pool_cost_model(_pool(hardware="groqrack")).meta["engine"] == "groq"
