"""Batching policies as pure functions, and queue orders seen end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd

from phasesim.simulator.batching import InstanceView, chunked, continuous, no_batching, static
from phasesim.simulator.costs.closed_form import ConstantCostModel
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import builtin_topology
from tests.simulator.policy_requests import decoding_request as _decoding
from tests.simulator.policy_requests import policy_request as _req


def _view(waiting=(), running=(), ready=(), free=1000, seqs=8, budget=4096, watermark=0):
    return InstanceView(waiting=list(waiting), running=list(running), ready=list(ready),
                        free_blocks=free, watermark_blocks=watermark, block_tokens=16,
                        max_num_seqs=seqs, max_num_batched_tokens=budget)



def test_continuous_prefills_first_within_seats_budget_and_kv() -> None:
    running = [_decoding(0, 100)]
    waiting = [_req(1, 1000), _req(2, 1000), _req(3, 1000), _req(4, 10)]
    decision = continuous(_view(waiting, running, budget=2500))
    assert [r.index for r in decision.admit] == [1, 2]  # the third would pass 2,500 tokens
    assert decision.decode == () and [c for _, c in decision.chunks] == [1000, 1000]
    decision = continuous(_view(waiting, running, seqs=2))
    assert [r.index for r in decision.admit] == [1]
    decision = continuous(_view(waiting, running, free=63 + 5, watermark=5))  # 63 blocks per 1000
    assert [r.index for r in decision.admit] == [1]
    decision = continuous(_view(waiting, running, free=62))  # head does not fit: no overtaking
    assert decision.admit == () and [r.index for r in decision.decode] == [0]


def test_decode_preempts_the_newest_when_blocks_run_out() -> None:
    running = [_decoding(0, 32), _decoding(1, 48), _decoding(2, 64)]  # all at a block edge
    decision = continuous(_view(running=running, free=1))  # 3 blocks needed, 1 free
    assert [r.index for r in decision.preempt] == [2]  # its 4 blocks cover the other two
    assert [r.index for r in decision.decode] == [0, 1]
    decision = continuous(_view(running=running, free=3))
    assert decision.preempt == () and len(decision.decode) == 3


def test_chunked_decodes_first_then_fills_the_budget_with_chunks() -> None:
    running = [_decoding(0, 100), _decoding(1, 200)]
    waiting = [_req(2, 700), _req(3, 700)]
    decision = chunked(_view(waiting, running, budget=512))
    assert [r.index for r in decision.decode] == [0, 1]
    assert [(r.index, c) for r, c in decision.chunks] == [(2, 510)]
    assert [r.index for r in decision.admit] == [2]


def test_chunked_budget_caps_the_decodes_too() -> None:
    running = [_decoding(i, 100 + i) for i in range(6)]
    decision = chunked(_view([_req(9, 50)], running, budget=4))
    assert [r.index for r in decision.decode] == [0, 1, 2, 3]  # oldest first; 4 and 5 wait a step
    assert decision.preempt == () and decision.chunks == () and decision.admit == ()


def test_static_runs_a_batch_to_completion_and_none_takes_one() -> None:
    running = [_decoding(0, 100)]
    waiting = [_req(1), _req(2)]
    decision = static(_view(waiting, running))
    assert decision.admit == () and [r.index for r in decision.decode] == [0]
    decision = static(_view(waiting, []))
    assert [r.index for r in decision.admit] == [1, 2]
    decision = no_batching(_view(waiting, []))
    assert [r.index for r in decision.admit] == [1]


def test_policies_do_not_mutate_their_view() -> None:
    running = [_decoding(0, 32), _decoding(1, 48)]
    waiting = [_req(2), _req(3)]
    before = [(r.cached_tokens, r.kv_blocks, r.generated_tokens) for r in running + waiting]
    for policy in (continuous, chunked, static, no_batching):
        view = _view(waiting, running, free=1)
        policy(view)
        assert [r.index for r in view.running] == [0, 1] and len(view.waiting) == 2
    assert before == [(r.cached_tokens, r.kv_blocks, r.generated_tokens) for r in running + waiting]


def _burst(prompts, priorities=None) -> pd.DataFrame:
    n = len(prompts)
    return pd.DataFrame({"request_id": np.arange(n), "arrival_s": np.full(n, 0.5),
                         "prompt_tokens": prompts, "output_tokens": 2,
                         "priority": priorities if priorities is not None else np.zeros(n)})


def _order(result) -> list[int]:
    return list(result.requests.sort_values("prefill_start_s", kind="stable").request_id)


def test_queue_orders_end_to_end() -> None:
    cost = {"gpu": ConstantCostModel(prefill_s=0.01, decode_step_s=0.001)}
    trace = _burst([300, 100, 200, 50], priorities=[2, 1, 0, 3])
    run = lambda order: simulate(trace, builtin_topology("gpu", batching="none",  # noqa: E731
                                                         queue_order=order,
                                                         kv_capacity_tokens=10_000),
                                 cost_models=cost)
    assert _order(run("fcfs")) == [0, 1, 2, 3]
    assert _order(run("shortest-prompt-first")) == [3, 1, 2, 0]
    assert _order(run("priority")) == [2, 1, 0, 3]


def test_chunked_prefill_mixes_decodes_into_prefill_iterations() -> None:
    trace = pd.DataFrame({"request_id": [0, 1], "arrival_s": [0.0, 0.05],
                          "prompt_tokens": [100, 2000], "output_tokens": [200, 5]})
    cost = {"gpu": ConstantCostModel(prefill_s=0.02, decode_step_s=0.002)}
    topo = builtin_topology("gpu", batching="chunked", kv_capacity_tokens=50_000)
    req = simulate(trace, topo, cost_models=cost).requests
    # request 1's 2,000 prompt tokens go in 4 chunks (512 - 1 decode token each) of mixed
    # iterations (each costs prefill_s under the constant model)
    assert round((req.prefill_end_s[1] - req.prefill_start_s[1]) * 1e3) == 4 * 20
    cont = simulate(trace, builtin_topology("gpu", kv_capacity_tokens=50_000), cost_models=cost)
    assert cont.requests.prefill_end_s[1] - cont.requests.prefill_start_s[1] < 0.021
