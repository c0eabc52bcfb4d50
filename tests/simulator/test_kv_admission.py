"""What an engine does when KV runs short (``KVAdmission``): vLLM preempts and recomputes,
TensorRT-LLM's GUARANTEED_NO_EVICT reserves prompt + output up front and never preempts,
DeepSpeed-MII FastGen lets a decode without a free block wait, holding its KV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phasesim.simulator.batching import InstanceView, admission_tokens, chunked, continuous
from phasesim.simulator.catalog.engines import ENGINES, get_engine
from phasesim.simulator.catalog.user import KV_ADMISSIONS
from phasesim.simulator.kv import blocks_for
from phasesim.simulator.run import simulate
from phasesim.simulator.scheduling import pool_scheduling
from phasesim.simulator.topology import KVAdmission, PoolSpec, Role, TopologySpec, builtin_topology
from tests.simulator.policy_requests import decoding_request as _decoding
from tests.simulator.policy_requests import policy_request as _req

_BLOCK = 16
_CAPACITY_TOKENS = 4096  # 256 blocks



def _view(mode: KVAdmission, waiting=(), running=(), free=1000, watermark=0) -> InstanceView:
    return InstanceView(waiting=list(waiting), running=list(running), ready=[], free_blocks=free,
                        watermark_blocks=watermark, block_tokens=_BLOCK, max_num_seqs=8,
                        max_num_batched_tokens=4096, kv_admission=mode)



def test_every_catalog_value_is_a_mode_and_the_cited_engines_do_not_preempt() -> None:
    for engine in ENGINES.values():
        KVAdmission(engine.kv_admission)
        assert "KV exhaustion" in " ".join(engine.notes) or engine.kv_admission == "preempt"
    assert get_engine("vllm").kv_admission == KVAdmission.PREEMPT
    assert get_engine("trt-llm").kv_admission == KVAdmission.RESERVE
    assert get_engine("deepspeed-mii").kv_admission == KVAdmission.STALL
    pool = PoolSpec(name="p", role=Role.COLOCATED, hardware="h100-sxm", engine="trt-llm")
    assert pool_scheduling(pool).kv_admission is KVAdmission.RESERVE


def test_reserve_admits_only_what_prompt_plus_output_fits() -> None:
    waiting = [_req(1, 100, 60), _req(2, 100, 60)]  # 10 blocks each with the output, 7 without
    assert admission_tokens(waiting[0], KVAdmission.RESERVE) == 160
    assert admission_tokens(waiting[0], KVAdmission.PREEMPT) == 100
    reserve = continuous(_view(KVAdmission.RESERVE, waiting, free=19))
    assert [r.index for r in reserve.admit] == [1]
    preempt = continuous(_view(KVAdmission.PREEMPT, waiting, free=19))
    assert [r.index for r in preempt.admit] == [1, 2]
    # the watermark keeps headroom for growth; a reserved sequence never grows
    assert len(continuous(_view(KVAdmission.RESERVE, waiting, free=20, watermark=5)).admit) == 2
    assert len(continuous(_view(KVAdmission.PREEMPT, waiting, free=18, watermark=5)).admit) == 1


def test_stall_gives_the_free_blocks_to_the_oldest_and_preempts_only_in_a_deadlock() -> None:
    running = [_decoding(0, 32), _decoding(1, 40), _decoding(2, 48), _decoding(3, 64)]
    for policy in (continuous, chunked):  # 0, 2 and 3 sit on a block edge; 1 does not
        decision = policy(_view(KVAdmission.STALL, running=running, free=1))
        assert [r.index for r in decision.decode] == [0, 1] and decision.preempt == ()
        decision = policy(_view(KVAdmission.STALL, running=running, free=0))
        assert [r.index for r in decision.decode] == [1] and decision.preempt == ()
        edge = [running[0], running[2], running[3]]  # nobody can advance: as PREEMPT
        stalled = policy(_view(KVAdmission.STALL, running=edge, free=0))
        preempted = policy(_view(KVAdmission.PREEMPT, running=edge, free=0))
        assert stalled == preempted and stalled.preempt


def _trace(n: int = 48) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({"request_id": np.arange(n), "arrival_s": np.zeros(n),
                         "prompt_tokens": rng.integers(100, 600, n),
                         "output_tokens": rng.integers(50, 400, n)})


def _run(engine: str, cost_model, trace: pd.DataFrame):
    pool = PoolSpec(name="p", role=Role.COLOCATED, hardware="h100-sxm", engine=engine,
                    batching="continuous", max_num_batched_tokens=4096,
                    kv_capacity_tokens=_CAPACITY_TOKENS, block_tokens=_BLOCK)
    return simulate(trace, TopologySpec(pools=(pool,)), seed=0,
                    cost_models={"p": cost_model}, timeseries=True)


def test_a_reserve_run_never_preempts_and_holds_only_what_it_reserved(constant_cost_model) -> None:
    trace = _trace()
    vllm = _run("vllm", constant_cost_model, trace).requests
    assert vllm["preemptions"].sum() > 0  # the same load makes vLLM preempt
    result = _run("trt-llm", constant_cost_model, trace)
    records = result.requests
    assert (records["status"] == "completed").all() and records["preemptions"].sum() == 0
    # at every admission the running sequences' whole reservations fit the cache
    reserved = [blocks_for(p + o, _BLOCK) for p, o in
                zip(records["prompt_tokens"], records["output_tokens"])]
    starts, ends = records["prefill_start_s"].to_numpy(), records["finish_s"].to_numpy()
    for t in starts:
        live = (starts <= t) & (ends > t)
        assert sum(np.asarray(reserved)[live]) <= _CAPACITY_TOKENS // _BLOCK
    assert result.timeseries["kv_used_tokens"].max() <= _CAPACITY_TOKENS


def test_a_stall_run_never_recomputes_where_a_decode_can_wait(constant_cost_model) -> None:
    trace = _trace()
    records = _run("deepspeed-mii", constant_cost_model, trace).requests
    assert (records["status"] == "completed").all()
    vllm = _run("vllm", constant_cost_model, trace).requests
    assert records["preemptions"].sum() < vllm["preemptions"].sum()


@pytest.mark.parametrize("engine", ["vllm", "torch", "analytical"])
def test_preempt_engines_schedule_as_before(engine: str, constant_cost_model) -> None:
    """The default mode is the old behaviour: an explicit preempt view decides the same."""
    running = [_decoding(0, 32), _decoding(1, 48), _decoding(2, 64)]
    assert get_engine(engine).kv_admission == KVAdmission.PREEMPT
    decision = continuous(_view(KVAdmission.PREEMPT, running=running, free=1))
    assert [r.index for r in decision.preempt] == [2]


def test_user_catalogs_take_the_same_modes() -> None:
    assert KV_ADMISSIONS == tuple(KVAdmission)


def test_a_reserve_decode_pool_reserves_the_whole_sequence_for_a_transfer(
        constant_cost_model) -> None:
    """Disaggregated: the decode side's reservation covers prompt + output, so a reserve engine
    never preempts there either (the vLLM pool under the same load does)."""
    trace = _trace()
    runs = {}
    for engine in ("vllm", "trt-llm"):
        topology = builtin_topology("gpu-prefill-gpu-decode", kv_capacity_tokens=_CAPACITY_TOKENS,
                                    engine=engine, batching="continuous")
        runs[engine] = simulate(trace, topology, seed=0, timeseries=False,
                                cost_models={p.name: constant_cost_model
                                             for p in topology.pools}).requests
    assert runs["vllm"]["preemptions"].sum() > 0
    assert (runs["trt-llm"]["status"] == "completed").all()
    assert runs["trt-llm"]["preemptions"].sum() == 0
