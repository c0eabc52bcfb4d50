"""The multi-turn session generator and the ideal prefix-cache hit rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phasesim import traces
from phasesim.errors import InputError
from phasesim.traces.stats import ideal_prefix_hits


def _spec(**kw) -> traces.Sessions:
    base = dict(sessions=30, session_rate_rps=1.0, turns=traces.Uniform(low=1, high=6),
                think_s=5.0, user=traces.Uniform(low=1, high=900),
                output=traces.Uniform(low=1, high=600), system_prompt_tokens=1100,
                prefix_block_tokens=512)
    base.update(kw)
    return traces.Sessions(**base)


def test_each_turn_extends_the_previous_one_and_its_hash_ids() -> None:
    df = traces.generate_sessions(_spec(), seed=4)
    traces.validate_frame(df)
    assert df.attrs["trace_meta"]["prefix_block_tokens"] == 512
    assert (np.diff(df.arrival_s) >= 0).all()
    for _, turns in df.groupby("session_id", sort=False):
        prev = None
        for row in turns.itertuples():
            ids = list(row.prefix_hash_ids)
            assert len(ids) == -(-row.prompt_tokens // 512)
            assert ids[:2] == [0, 1]  # the shared system prompt's two full blocks
            if prev is not None:
                # prompt = previous prompt + previous answer + new user tokens
                assert row.prompt_tokens > prev.prompt_tokens + prev.output_tokens
                full = prev.prompt_tokens // 512
                assert ids[:full] == list(prev.prefix_hash_ids)[:full]
                if prev.prompt_tokens % 512:  # the partial block's content changed
                    assert list(prev.prefix_hash_ids)[-1] not in ids
            prev = row


def test_same_seed_same_frame_and_sessions_do_not_share_beyond_the_system_prompt() -> None:
    a = traces.generate_sessions(_spec(), seed=9)
    b = traces.generate_sessions(_spec(), seed=9)
    pd.testing.assert_frame_equal(a, b)
    owners: dict[int, int] = {}
    for sid, ids in zip(a.session_id, a.prefix_hash_ids):
        for h in list(ids)[2:]:
            assert owners.setdefault(h, sid) == sid


def test_bad_session_specs_are_refused() -> None:
    with pytest.raises(InputError, match="think_s"):
        _spec(think_s=0)
    with pytest.raises(InputError, match="system_prompt_tokens"):
        _spec(system_prompt_tokens=-1)


def test_ideal_hits_by_hand() -> None:
    ids = pd.Series([[1, 2, 3], [1, 2, 9], [1, 2, 3, 4], [7, 2], [1, 2, 3, 4, 5]])
    prompt = np.array([3 * 512, 3 * 512 - 5, 4 * 512 + 1, 2 * 512, 5 * 512])
    # row 0: nothing seen; row 1: 1,2 seen, its own 9 partial; row 2: 1,2,3 seen (3 full
    # in row 0), 4 new; row 3: 7 unseen stops the chain; row 4: 1..4 seen, 5 is the last block
    # of an exact multiple, never reused (at least one token computed)
    assert ideal_prefix_hits(ids, prompt, 512).tolist() == [0, 1024, 1536, 0, 2048]


def test_trace_stats_report_the_ideal_hit_rate_only_with_hash_ids() -> None:
    df = traces.generate_sessions(_spec(system_prompt_tokens=0), seed=1)
    stats = traces.trace_stats(df)
    hits = ideal_prefix_hits(df.prefix_hash_ids, df.prompt_tokens.to_numpy(), 512)
    assert stats["ideal_hit_rate"] == pytest.approx(hits.sum() / df.prompt_tokens.sum())
    assert 0 < stats["ideal_hit_rate"] < 1
    plain = traces.generate(arrival=traces.Poisson(rate_rps=1.0), prompt=traces.Fixed(tokens=9),
                            output=traces.Fixed(tokens=9), count=5)
    assert "ideal_hit_rate" not in traces.trace_stats(plain)
