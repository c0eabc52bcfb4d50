"""How a closed-batch benchmark run unfolds into passes: the batching policies' own decisions."""

from __future__ import annotations

import pytest

from phasesim.profiler.calibrate.run_passes import unfold_run


def test_passes_count_waves():
    # 300 prompts, 256 seats, 2048-token budget, 1024-token prompts: 2 per prefill pass
    run = unfold_run(batching="continuous", requests=300, input_len=1024, output_len=10,
                     max_num_seqs=256, token_budget=2048)
    passes_per_wave = [128 + 9, 22 + 9]
    assert run.passes == sum(passes_per_wave)
    assert sorted({n for n, _, _, _ in run.prefill}) == [2]
    assert [b for b, _, _, _ in run.decode] == [256, 44]
    assert [t for _, _, _, t in run.decode] == [True, False]  # the second wave waits on the first
    # llama.cpp: one sequence, 100-token prompt in chunks of 32: 4 passes, then 99 decode steps
    run = unfold_run(batching="chunked", requests=1, input_len=100, output_len=100,
                     max_num_seqs=1, token_budget=32)
    assert run.passes == 4 + 99
    assert run.decode == [(1, 99, pytest.approx(99 * 100 + 99 * 98 / 2), False)]


def test_a_finished_sequence_frees_its_seat_at_once():
    # one token each: a prefill finishes its requests, so every pass admits a full token budget
    # (2 prompts), not what is left of a wave of 3 seats (the continuous policy's decision)
    run = unfold_run(batching="continuous", requests=5, input_len=1000, output_len=1,
                     max_num_seqs=3, token_budget=2048)
    assert [n for n, _, w, _ in run.prefill if w > 0] == [2, 2, 2, 2, 1]
    assert run.passes == 3 and run.decode == []


def test_static_batches_respect_the_token_budget():
    # 4 seats but a budget of 2 prompts: the static policy forms batches of 2
    run = unfold_run(batching="static", requests=4, input_len=100, output_len=3, max_num_seqs=4,
                     token_budget=200)
    assert [b for b, _, _, _ in run.decode] == [2, 2]
    assert [t for _, _, _, t in run.decode] == [True, False]
    assert run.passes == 2 * (1 + 2)


def test_chunked_mixes_decodes_with_the_next_prompt_chunks():
    run = unfold_run(batching="chunked", requests=2, input_len=8, output_len=3, max_num_seqs=2,
                     token_budget=10)
    # pass 1: prompt 1 (prompt 2 would exceed the budget beside it); pass 2: prompt 2 mixed with
    # prompt 1's first decode; then both decode until the first ends, then the second alone
    assert run.mixed == [(1, 1, True)]
    assert [(b, steps) for b, steps, _, _ in run.decode] == [(1, 1), (2, 1), (1, 1)]
    assert run.passes == 4
