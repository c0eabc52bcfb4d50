"""One instance's loop on a constant cost model (10 ms prefill, 2 ms decode step): a lone
request's timeline to the nanosecond, preemption when the KV cache is full, a run cut short by
an arrival, and the decode side's reservations, in both the fast and the reference mode."""

from __future__ import annotations

import pytest
import simpy

from phasesim.simulator.batching import POLICIES
from phasesim.simulator.context import ROUTE, SimContext, Timer
from phasesim.simulator.costs.closed_form import ConstantCostModel
from phasesim.simulator.instance import Instance, InstanceLimits
from phasesim.simulator.kv import KVCache
from phasesim.simulator.queueing import fcfs
from phasesim.simulator.recorder import Recorder
from phasesim.simulator.request import Request
from phasesim.simulator.topology import Batching, Role

MS = 1_000_000
COST = ConstantCostModel(prefill_s=0.010, decode_step_s=0.002)
MODES = pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])


def _instance(env: simpy.Environment, *, fast: bool, capacity_tokens: int = 16_384,
              role: Role = Role.COLOCATED, max_num_seqs: int = 8) -> Instance:
    return Instance(ctx=SimContext(env=env, seed=0, recorder=Recorder()), pool="gpu", role=role,
                    index=0, cost_model=COST,
                    kv=KVCache(capacity_tokens=capacity_tokens, block_tokens=16,
                               watermark_fraction=0.0),
                    policy=POLICIES[Batching.CONTINUOUS],
                    limits=InstanceLimits(max_num_seqs=max_num_seqs, max_num_batched_tokens=4096),
                    queue_key=fcfs, prefill_emits_token=True, fast=fast)


def _request(i: int, *, prompt: int, output: int, arrival_ns: int = 0) -> Request:
    return Request(index=i, request_id=i, prompt_tokens=prompt, output_tokens=output, priority=0,
                   arrival_ns=arrival_ns)


def _enqueue_at(env: simpy.Environment, instance: Instance, done: dict[int, int],
                *requests: Request) -> None:
    """Queue requests at their (common) arrival time, in one ROUTE-phase callback, as
    ``lifecycle.Arrivals`` serves simultaneous arrivals; ``done[index]`` = when each is done."""
    def on_done(r: Request) -> None:
        done[r.index] = env.now

    def arrive(_event: object) -> None:
        for request in requests:
            instance.enqueue(request, on_done)

    Timer(env, requests[0].arrival_ns, ROUTE, arrive)


@MODES
def test_a_lone_request_prefills_then_decodes_step_by_step(fast: bool) -> None:
    env = simpy.Environment()
    instance = _instance(env, fast=fast)
    request = _request(0, prompt=100, output=5, arrival_ns=3 * MS)
    done: dict[int, int] = {}
    _enqueue_at(env, instance, done, request)
    env.run()
    # prefill 3..13 ms emits the first token; 4 more tokens at 2 ms each
    assert done == {0: 21 * MS}
    assert (request.prefill_start_ns, request.prefill_end_ns) == (3 * MS, 13 * MS)
    assert (request.first_token_ns, request.decode_start_ns) == (13 * MS, 13 * MS)
    assert request.queue_ns == 0 and request.generated_tokens == 5
    assert request.cached_tokens == 104  # the last token's KV is never written
    assert request.kv_blocks == 0 and instance.kv.used_blocks == 0
    assert instance.outstanding == 0 and not instance.running and not instance.waiting
    stats = instance.stats
    assert (stats.busy_ns, stats.iterations, stats.batch_sum) == (18 * MS, 5, 5)


@MODES
def test_a_full_kv_cache_preempts_the_newest_sequence(fast: bool) -> None:
    env = simpy.Environment()
    instance = _instance(env, fast=fast, capacity_tokens=64)  # 4 blocks of 16 tokens
    old, new = _request(0, prompt=16, output=40), _request(1, prompt=16, output=40)
    done: dict[int, int] = {}
    _enqueue_at(env, instance, done, old, new)
    env.run()
    # both prefill together (1 block each, 0..10 ms) and decode 16 steps to 32 cached tokens
    # each (2 blocks each: full); the next step needs a third block each with none free: the
    # newer is preempted at 42 ms, the older goes on alone (3, then 4 blocks)
    assert (old.preemptions, new.preemptions, instance.stats.preemptions) == (0, 1, 1)
    assert old.prefill_start_ns == new.prefill_start_ns == 0
    assert done[0] == 10 * MS + 39 * 2 * MS  # the older: prefill (1 token) + 39 steps
    # the newer re-prefills its 16 + 17 tokens (3 blocks) once the older has let go of its KV
    assert new.queue_ns == done[0] - (10 * MS + 16 * 2 * MS)
    assert done[1] == done[0] + 10 * MS + 22 * 2 * MS and new.generated_tokens == 40
    assert instance.kv.used_blocks == 0 and instance.outstanding == 0


@MODES
def test_an_arrival_during_a_decode_run_is_admitted_after_the_step_in_progress(fast) -> None:
    env = simpy.Environment()
    instance = _instance(env, fast=fast)
    first = _request(0, prompt=10, output=20)
    second = _request(1, prompt=10, output=2, arrival_ns=15 * MS)  # mid-step (14..16 ms)
    done: dict[int, int] = {}
    _enqueue_at(env, instance, done, first)
    _enqueue_at(env, instance, done, second)
    env.run()
    assert second.prefill_start_ns == 16 * MS  # the step 14..16 ms ends first
    assert second.prefill_end_ns == 26 * MS and second.queue_ns == 1 * MS
    assert done[1] == 28 * MS  # one decode step, beside the first request
    # the first: 10 ms prefill, 3 steps to 16 ms, paused by the 10 ms prefill, 16 steps more
    assert done[0] == 10 * MS + 3 * 2 * MS + 10 * MS + 16 * 2 * MS


@MODES
def test_reservations_are_granted_and_joined_on_a_decode_instance(fast: bool) -> None:
    env = simpy.Environment()
    decode = _instance(env, fast=fast, role=Role.DECODE, capacity_tokens=64, max_num_seqs=8)
    granted: list[tuple[int, int]] = []
    done: dict[int, int] = {}
    requests = [_request(i, prompt=20, output=3) for i in range(3)]

    def arrive(i: int, at_ns: int, blocks: int) -> None:
        r = requests[i]
        r.cached_tokens, r.generated_tokens = 20, 1  # prefilled elsewhere, first token out

        def on_granted() -> None:
            granted.append((i, env.now))
            Timer(env, 1 * MS, ROUTE,  # the transfer, then the hand-over
                  lambda _e: decode.join(r, lambda req: done.__setitem__(req.index, env.now)))

        Timer(env, at_ns, ROUTE, lambda _e: decode.reserve(r, blocks, on_granted))

    arrive(0, 0, 2)
    arrive(1, 0, 2)
    arrive(2, 0, 2)  # 4 blocks in all: the third waits until the first finishes
    env.run()
    # 0 joins at 1 ms and starts decoding at once (tokens 2 and 3: 21, 22 cached tokens fit
    # its 2 blocks); 1 joins in the same instant, after that decision: at the step end, 3 ms
    assert granted == [(0, 0), (1, 0), (2, 5 * MS)]  # 2: when 0 finished and freed its blocks
    assert [r.decode_start_ns for r in requests] == [1 * MS, 3 * MS, 7 * MS]
    assert done == {0: 5 * MS, 1: 7 * MS, 2: 11 * MS}  # 2 joined at 6 ms, mid-step
    assert decode.kv.used_blocks == 0 and decode.outstanding == 0
    assert decode.reservations.incoming == 0 and not decode.reservations.pending


@MODES
def test_waiting_tokens_follow_the_queue_through_admission_and_preemption(fast: bool) -> None:
    """What the cache-aware router reads (issue 21): the prompt tokens waiting to be prefilled,
    counted in at enqueue and preemption and out at admission."""
    env = simpy.Environment()
    instance = _instance(env, fast=fast, capacity_tokens=64)  # as the preemption test above
    old, new = _request(0, prompt=16, output=40), _request(1, prompt=16, output=40)
    done: dict[int, int] = {}
    seen: list[tuple[int, int, int]] = []

    def check(_event: object) -> None:  # the waiting queue's tokens, as counted and as listed
        seen.append((env.now // MS, instance.waiting_tokens,
                     sum(r.prompt_tokens + r.generated_tokens for r in instance.waiting)))

    _enqueue_at(env, instance, done, old, new)
    for t in (5, 45, 100):
        Timer(env, t * MS, ROUTE, check)
    env.run()
    assert all(counted == listed for _, counted, listed in seen)
    # none while both run, the preempted newer's 16 prompt + 17 generated tokens from 42 ms
    # until the older finishes (88 ms), none once it runs again
    assert [(t, counted) for t, counted, _ in seen] == [(5, 0), (45, 33), (100, 0)]
    assert instance.waiting_tokens == 0 and instance.active_kv_tokens() == 0
