"""write -> read is the identity (data and metadata); transforms record themselves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasesim import traces
from phasesim.errors import InputError
from phasesim.traces import schema
from tests.traces.conftest import SAMPLES


@st.composite
def frames(draw):
    n = draw(st.integers(min_value=1, max_value=40))
    gaps = draw(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=n, max_size=n))
    tokens = st.integers(min_value=1, max_value=2**40)
    df = pd.DataFrame({
        "request_id": np.asarray(draw(st.lists(st.integers(-2**62, 2**62), min_size=n, max_size=n, unique=True)),
                                 dtype=np.int64),
        "arrival_s": np.cumsum(gaps),
        "prompt_tokens": np.asarray(draw(st.lists(tokens, min_size=n, max_size=n)), dtype=np.int64),
        "output_tokens": np.asarray(draw(st.lists(tokens, min_size=n, max_size=n)), dtype=np.int64),
    })
    if draw(st.booleans()):
        df["session_id"] = np.asarray(draw(st.lists(st.integers(0, 99), min_size=n, max_size=n)), dtype=np.int64)
        df["priority"] = np.asarray(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype=np.int64)
        df["slo_class"] = draw(st.lists(st.sampled_from(["chat", "batch"]), min_size=n, max_size=n))
        df["prefix_hash_ids"] = draw(st.lists(st.lists(st.integers(0, 2**40), max_size=5), min_size=n, max_size=n))
    meta = {"source": {"note": draw(st.text(max_size=20))}, "prefix_block_tokens": draw(st.sampled_from([None, 16])),
            "transforms": [{"op": "head", "n": n}]}
    return df, meta


@settings(max_examples=40, deadline=None)
@given(case=frames())
def test_write_read_identity(tmp_path_factory, case):
    df, meta = case
    path = tmp_path_factory.mktemp("rt") / "t.parquet"
    traces.write_trace(df, path, meta)
    back = traces.read_trace(path)
    assert list(back.columns) == [c for c in schema.REQUIRED_COLUMNS + schema.OPTIONAL_COLUMNS if c in df.columns]
    pd.testing.assert_frame_equal(back, df, check_like=True)
    assert back.attrs["trace_meta"] == {**meta, "schema_version": schema.SCHEMA_VERSION}
    again = path.with_name("again.parquet")
    traces.write_trace(back, again)  # meta taken from attrs
    assert again.read_bytes() == path.read_bytes()


def test_metadata_is_in_the_parquet_file(tmp_path):
    df = traces.generate(arrival=traces.Poisson(rate_rps=1.0), prompt=5, output=5, count=10, seed=0)
    traces.write_trace(df, tmp_path / "t.parquet")
    raw = pq.ParquetFile(tmp_path / "t.parquet").metadata.metadata[schema.METADATA_KEY]
    assert b'"schema_version":"1"' in raw and b'"seed":0' in raw


def test_write_rejects_invalid_frames(tmp_path):
    df = traces.generate(arrival=traces.Poisson(rate_rps=1.0), prompt=5, output=5, count=10, seed=0)
    bad = df.copy()
    bad.loc[4, "output_tokens"] = 0
    with pytest.raises(InputError) as info:
        traces.write_trace(bad, tmp_path / "t.parquet")
    assert info.value.row == 5 and info.value.column == "output_tokens"
    bad = df.iloc[::-1]
    with pytest.raises(InputError, match="decreases"):
        traces.write_trace(bad, tmp_path / "t.parquet")
    assert not (tmp_path / "t.parquet").exists()


def test_newer_schema_version_is_rejected(tmp_path):
    df = traces.generate(arrival=traces.Poisson(rate_rps=1.0), prompt=5, output=5, count=3, seed=0)
    traces.write_trace(df, tmp_path / "t.parquet", {**df.attrs["trace_meta"], "schema_version": "99"})
    with pytest.raises(InputError, match="schema_version"):
        traces.read_trace(tmp_path / "t.parquet")


@pytest.fixture
def base():
    return traces.generate(arrival=traces.Poisson(rate_rps=10.0), prompt=traces.Uniform(low=1, high=3000),
                           output=traces.Uniform(low=1, high=500), count=2000, seed=9)


def test_scale_rate(base):
    out = traces.scale_rate(base, 4.0)
    assert traces.trace_stats(out)["rate_rps"] == pytest.approx(4 * traces.trace_stats(base)["rate_rps"])
    assert out.attrs["trace_meta"]["transforms"] == [{"op": "scale_rate", "factor": 4.0}]
    assert base.attrs["trace_meta"]["transforms"] == []  # input untouched


def test_window(base):
    out = traces.window(base, 50.0, 100.0)
    inside = base[(base.arrival_s >= 50) & (base.arrival_s < 100)]
    assert out["request_id"].tolist() == inside["request_id"].tolist()
    assert np.allclose(out["arrival_s"], inside["arrival_s"] - 50.0)
    assert out["arrival_s"].min() >= 0


def test_head_and_sample(base):
    assert traces.head(base, 7)["request_id"].tolist() == list(range(7))
    a, b = traces.sample(base, 100, seed=1), traces.sample(base, 100, seed=1)
    assert a["request_id"].tolist() == b["request_id"].tolist()
    assert a["request_id"].is_unique and a["arrival_s"].is_monotonic_increasing
    assert a["request_id"].tolist() != traces.sample(base, 100, seed=2)["request_id"].tolist()


@pytest.mark.parametrize("policy", list(traces.ContextPolicy))
def test_clip_context(base, policy):
    limit = 2048
    over = int(((base.prompt_tokens + base.output_tokens) > limit).sum())
    assert over > 0
    out = traces.clip_context(base, limit, policy)
    total = out.prompt_tokens + out.output_tokens
    entry = out.attrs["trace_meta"]["transforms"][-1]
    assert entry == {"op": "clip_context", "max_context_tokens": limit, "policy": policy.value,
                     "over_length_rows": over}
    if policy is traces.ContextPolicy.KEEP:
        pd.testing.assert_frame_equal(out, base)
    elif policy is traces.ContextPolicy.DROP:
        assert len(out) == len(base) - over and (total <= limit).all()
    else:
        assert len(out) == len(base) and (total <= limit).all()
        assert (out.prompt_tokens >= 1).all() and (out.output_tokens >= 1).all()
        fits = (base.prompt_tokens + base.output_tokens) <= limit
        assert (out[fits].prompt_tokens == base[fits].prompt_tokens).all()


def test_clip_truncates_prefix_blocks():
    df = traces.read_trace(SAMPLES / "mooncake_synthetic.parquet")
    out = traces.clip_context(df, 4096, traces.ContextPolicy.CLIP)
    blocks = out["prefix_hash_ids"].map(len).to_numpy()
    assert (blocks == -(-out["prompt_tokens"].to_numpy() // 512)).all()
    kept = out["prefix_hash_ids"].tolist()
    assert all(k == list(o[: len(k)]) for k, o in zip(kept, df["prefix_hash_ids"], strict=True))
