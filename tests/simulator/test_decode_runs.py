"""A decode run's arithmetic against brute-force loops: steps whose KV growth fits, steps started
by a time, where a cut ends the run, and the growth of started steps."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from phasesim.simulator.costs.closed_form import ConstantCostModel
from phasesim.simulator.costs.interface import decode_run_of
from phasesim.simulator.decode_runs import DecodeRun, kv_growth_blocks, start_run, steps_that_fit
from phasesim.simulator.request import Request


def _blocks(tokens: int, block_tokens: int) -> int:
    return -(-tokens // block_tokens)


def _growth_by_loop(cached: list[int], blocks: list[int], steps: int, block_tokens: int) -> int:
    """One token at a time: a sequence needs a new block when a token does not fit its last."""
    need = 0
    for c, b in zip(cached, blocks):
        held = b
        for k in range(1, steps + 1):
            if _blocks(c + k, block_tokens) > held:
                held += 1
                need += 1
    return need


@st.composite
def batches(draw):
    """Sequences holding at least the blocks their cached tokens need (sometimes more: a
    prefill's reservation), a block size, steps due and free blocks for at least one step."""
    block_tokens = draw(st.sampled_from([1, 2, 16]))
    size = draw(st.integers(1, 6))
    cached = draw(st.lists(st.integers(1, 200), min_size=size, max_size=size))
    blocks = [_blocks(c, block_tokens) + draw(st.integers(0, 2)) for c in cached]
    steps = draw(st.integers(1, 120))
    one_step = _growth_by_loop(cached, blocks, 1, block_tokens)
    free = one_step + draw(st.integers(0, 3 * size * max(1, steps // block_tokens)))
    return cached, blocks, steps, free, block_tokens


@settings(max_examples=300, deadline=None)
@given(batches())
def test_kv_growth_blocks_counts_the_blocks_new_tokens_need(batch) -> None:
    cached, blocks, steps, _free, bt = batch
    for k in (0, 1, steps):
        assert kv_growth_blocks(cached, blocks, k, bt) == _growth_by_loop(cached, blocks, k, bt)


@settings(max_examples=300, deadline=None)
@given(batches())
def test_steps_that_fit_is_the_most_steps_whose_growth_fits(batch) -> None:
    cached, blocks, steps, free, bt = batch
    brute = max(k for k in range(1, steps + 1)
                if _growth_by_loop(cached, blocks, k, bt) <= free)
    assert steps_that_fit(cached, blocks, steps, free, bt) == brute


def test_steps_that_fit_cuts_a_run_at_the_last_step_that_fits() -> None:
    # two sequences at 16 tokens in one block each (16-token blocks): step 1 needs 2 blocks,
    # steps 17+ need 2 more
    assert steps_that_fit([16, 16], [1, 1], 40, 2, 16) == 16
    assert steps_that_fit([16, 16], [1, 1], 40, 3, 16) == 16
    assert steps_that_fit([16, 16], [1, 1], 40, 4, 16) == 32
    assert steps_that_fit([16, 16], [1, 1], 10, 2, 16) == 10  # all due steps fit


def _run(step_ns: list[int], lo: int = 0, steps: int | None = None) -> DecodeRun:
    """A run whose k-th step takes step_ns[k], at offset ``lo`` of a cumulative table that
    starts with unrelated entries (as a shared table model's slice does)."""
    head = [5 * i for i in range(lo + 1)]
    cum = head + list(itertools.accumulate(step_ns, initial=head[-1]))[1:]
    steps = len(step_ns) if steps is None else steps
    return DecodeRun((), 1_000, cum, lo, cum[lo], steps, [1], [1])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=30), st.integers(0, 4),
       st.integers(0, 1600))
def test_started_and_cut_agree_with_walking_the_steps(step_ns, lo, elapsed) -> None:
    run = _run(step_ns, lo)
    ends = list(itertools.accumulate(step_ns))  # step k ends ends[k] after the start
    assert [run.end_ns(k + 1) for k in range(len(step_ns))] == ends
    ended = sum(1 for end in ends if end <= elapsed)
    started = min(ended + 1, len(step_ns) + 1)  # the one in progress, if any
    assert run.started(elapsed) == started
    if elapsed < ends[-1]:  # a poke during the run: it ends with the step in progress
        delay = run.cut(elapsed)
        assert run.steps == started
        assert delay == ends[started - 1] - elapsed > 0
        assert elapsed + delay == run.end_ns(run.steps)


def test_a_cut_at_a_step_end_ends_the_step_just_started() -> None:
    run = _run([10, 10, 10, 10])
    assert run.started(10) == 2  # step 0 ended at 10, step 1 starts at 10
    assert run.cut(10) == 10 and run.steps == 2
    again = _run([10, 10, 10, 10])
    assert again.cut(0) == 10 and again.steps == 1


def test_grown_blocks_counts_only_started_steps_and_at_most_the_run() -> None:
    cum = [0, 10, 20, 30]  # three 10 ns steps
    run = DecodeRun((), 0, cum, 0, 0, 3, [14, 2], [1, 1])  # 16-token blocks
    assert [run.grown_blocks(t, 16) for t in (0, 15, 25)] == [0, 0, 1]  # token 17 of the first
    one_token_blocks = DecodeRun((), 0, cum, 0, 0, 3, [1], [1])
    assert [one_token_blocks.grown_blocks(t, 1) for t in (0, 10, 29, 30, 10_000)] == \
        [1, 2, 3, 3, 3]  # capped at the run's 3 steps once it is over


def test_start_run_stops_at_the_next_completion_with_the_cost_models_step_ends() -> None:
    decode_run = decode_run_of(ConstantCostModel(prefill_s=0.01, decode_step_s=0.002))
    batch = []
    for i, (cached, generated, output) in enumerate([(100, 1, 10), (50, 4, 6), (300, 1, 50)]):
        r = Request(index=i, request_id=i, prompt_tokens=cached - generated + 1,
                    output_tokens=output, priority=0, arrival_ns=0)
        r.cached_tokens, r.generated_tokens, r.kv_blocks = cached, generated, _blocks(cached, 16)
        batch.append(r)
    run = start_run(tuple(batch), 7_000, 1_000, 16, decode_run)
    assert run.steps == 2  # the second request has 2 tokens left
    assert run.start_ns == 7_000 and run.cached == [100, 50, 300] and run.blocks == [7, 4, 19]
    assert [run.end_ns(k) for k in (1, 2)] == [2_000_000, 4_000_000]
    tight = start_run(tuple(batch[:1]), 0, 0, 16, decode_run)  # 100 -> 112 fits block 7
    assert tight.steps == 9  # 9 due; all fit in the held 112 tokens
