"""TableCostModel: exact on the grid, monotone between points, documented prefix/mixed semantics,
extrapolation warns once, and KV capacity (choosing a table: test_resolve.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasesim.errors import InputError
from phasesim.simulator import table_schema as ts
from phasesim.simulator.catalog import get_model
from phasesim.simulator.costs import (
    CostTableWarning,
    TableCostModel,
    kv_capacity_tokens,
)
from phasesim.simulator.costs.interface import CostModel
from phasesim.simulator.costs.resolve import resolve_table
from tests.simulator.costs.test_table import small_table

LLAMA = get_model("llama2-7b")


def _measured() -> TableCostModel:
    """The measured H100 table (a fresh model each call)."""
    return resolve_table(hardware="h100-sxm", model="llama2-7b", engine="torch").cost_model


def model_from(df: pd.DataFrame, meta: dict) -> TableCostModel:
    return TableCostModel.from_table(df, meta, model=LLAMA)


@st.composite
def monotone_tables(draw):
    """Random grids with positive increments along both axes (monotone by construction)."""
    batches = sorted(draw(st.sets(st.integers(1, 64), min_size=1, max_size=4)) | {1})
    tokens = sorted(draw(st.sets(st.integers(1, 4096), min_size=2, max_size=6)))
    rows = []
    for phase in ("prefill", "decode"):
        base = draw(st.floats(1e-4, 1e-2))
        db = draw(st.lists(st.floats(0.0, 1e-2), min_size=len(batches), max_size=len(batches)))
        dt = draw(st.lists(st.floats(0.0, 1e-2), min_size=len(tokens), max_size=len(tokens)))
        for i, b in enumerate(batches):
            for j, t in enumerate(tokens):
                lat = base + sum(db[: i + 1]) + sum(dt[: j + 1]) * (1 + i)
                rows.append((phase, b, t, lat))
    df = pd.DataFrame(rows, columns=[ts.PHASE, ts.BATCH_SIZE, ts.TOKENS, ts.LATENCY_S])
    df = df.assign(**{ts.HARDWARE: "h100-sxm", ts.MODEL: "llama2-7b", ts.LATENCY_P10_S: df[ts.LATENCY_S],
                      ts.LATENCY_P90_S: df[ts.LATENCY_S], ts.SAMPLES: 0, ts.DTYPE: "fp16",
                      ts.TENSOR_PARALLEL: 1})
    return df, {"source": "analytical"}


@settings(max_examples=40, deadline=None)
@given(monotone_tables(), st.data())
def test_exact_on_grid_and_monotone_between(table, data):
    df, meta = table
    m = model_from(df, meta)
    for row in df.itertuples():
        b, t, lat = int(getattr(row, ts.BATCH_SIZE)), int(getattr(row, ts.TOKENS)), getattr(row, ts.LATENCY_S)
        if getattr(row, ts.PHASE) == "decode":
            got = m.decode_step_times_s(b, np.array([float(t)]))[0]
        else:
            got = m.prefill_time_s(np.full(b, t), np.zeros(b))
        assert got == pytest.approx(lat, rel=1e-12)
    tmax = int(df[ts.TOKENS].max())
    bmax = int(df[ts.BATCH_SIZE].max())
    t1, t2 = sorted(data.draw(st.lists(st.floats(1.0, tmax), min_size=2, max_size=2)))
    b1, b2 = sorted(data.draw(st.lists(st.integers(1, bmax), min_size=2, max_size=2)))
    d = m.decode_step_times_s(b1, np.array([t1, t2]))
    assert d[0] <= d[1] + 1e-15
    assert m.decode_step_times_s(b1, np.array([t2]))[0] <= m.decode_step_times_s(b2, np.array([t2]))[0] + 1e-15
    p1 = m.prefill_time_s(np.full(b1, t1), np.zeros(b1))
    p2 = m.prefill_time_s(np.full(b1, t2), np.zeros(b1))
    p3 = m.prefill_time_s(np.full(b2, t2), np.zeros(b2))
    assert p1 <= p2 + 1e-15 and p2 <= p3 + 1e-15


def test_table_model_satisfies_protocol_and_is_vectorised():
    df, meta = small_table()
    m = model_from(df, meta)
    assert isinstance(m, CostModel)
    assert m.kv_bytes_per_token == 524_288
    ctx = np.linspace(16, 1024, 1000)
    out = m.decode_step_times_s(4, ctx)
    assert out.shape == ctx.shape
    # the table is affine in context at batch 4: interpolation reproduces it between points
    np.testing.assert_allclose(out, 5e-3 + 4e-4 + 4e-9 * ctx, rtol=1e-9)


def test_interpolates_between_batches_linearly():
    df, meta = small_table()
    m = model_from(df, meta)
    got = m.decode_step_times_s(10, np.array([128.0]))[0]
    assert got == pytest.approx(5e-3 + 1e-4 * 10 + 1e-9 * 10 * 128, rel=1e-9)


def test_prefix_semantics():
    df, meta = small_table()
    m = model_from(df, meta)
    # prefill rows are affine: T(b, t) = 1 ms + 10 us * b * t, so T(1, 0) = 1 ms (fitted intercept)
    alone = m.prefill_time_s(np.array([64]), np.array([0]))
    after_prefix = m.prefill_time_s(np.array([64]), np.array([128]))
    assert alone == pytest.approx(1e-3 + 64e-5, rel=1e-6)
    # documented: T(1,0) + T(1, 192) - T(1, 128)
    assert after_prefix == pytest.approx(1e-3 + (1e-3 + 192e-5) - (1e-3 + 128e-5), rel=1e-6)
    # a heterogeneous batch without prefixes is the mean of the per-length batch times
    mixed = m.prefill_time_s(np.array([16, 256]), np.array([0, 0]))
    assert mixed == pytest.approx(((1e-3 + 2 * 16e-5) + (1e-3 + 2 * 256e-5)) / 2, rel=1e-6)
    assert m.prefill_time_s(np.array([], dtype=int), np.array([], dtype=int)) == 0.0


def test_mixed_step_between_max_and_sum():
    m = _measured()
    chunks, prefixes = np.array([512]), np.array([0])
    ctx = np.full(32, 900)
    p = m.prefill_time_s(chunks, prefixes)
    d = m.decode_step_times_s(32, np.array([900.0]))[0]
    mixed = m.mixed_step_time_s(chunks, prefixes, ctx)
    assert max(p, d) < mixed < p + d
    assert m.mixed_step_time_s(np.array([], dtype=int), np.array([], dtype=int), ctx) == pytest.approx(d)
    assert m.mixed_step_time_s(chunks, prefixes, np.array([])) == pytest.approx(p)


def test_extrapolation_warns_once_per_table_and_keeps_growing():
    df, meta = small_table()
    m = model_from(df, meta)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = m.decode_step_times_s(16, np.array([1024.0, 4096.0, 8192.0]))
        b = m.decode_step_times_s(64, np.array([1024.0]))
        m.prefill_time_s(np.array([4096]), np.array([0]))
    msgs = [w for w in caught if issubclass(w.category, CostTableWarning)]
    assert len(msgs) == 1 and "beyond the grid" in str(msgs[0].message)
    assert a[0] < a[1] < a[2]
    assert b[0] > m.decode_step_times_s(16, np.array([1024.0]))[0]
    # the fit is exact for this affine table, so extrapolation follows it
    assert a[2] == pytest.approx(5e-3 + 16e-4 + 16e-9 * 8192, rel=1e-3)
    other = model_from(df, meta)  # a second model warns again (once per table)
    with pytest.warns(CostTableWarning):
        other.decode_step_times_s(1, np.array([5000.0]))


def test_no_warning_inside_grid_or_below_smallest_tokens():
    df, meta = small_table()
    m = model_from(df, meta)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small = m.decode_step_times_s(1, np.array([1.0, 8.0, 16.0]))
    assert 0 < small[0] <= small[1] <= small[2]


def test_kv_capacity():
    h100 = kv_capacity_tokens(hardware="h100-sxm", model="llama2-7b")
    weights = LLAMA.param_bytes("fp16")
    assert h100 == int((80e9 * 0.9 - weights) // 524_288)
    assert kv_capacity_tokens(hardware="h100-sxm", model="llama2-7b", reserve_fraction=0.0) > h100
    assert kv_capacity_tokens(hardware="h200", model="llama2-7b") > h100
    # GQA models hold 4x more tokens in the same bytes
    assert kv_capacity_tokens(hardware="h100-sxm", model="llama3-8b") > 3 * h100
    groq = kv_capacity_tokens(hardware="groqrack", model="llama2-7b")
    assert groq == int((64 * 230e6 - weights) // 524_288)
    assert 2048 <= groq < 4096  # room for the published 2,048-token context, not much more
    with pytest.raises(InputError, match="do not fit"):
        kv_capacity_tokens(hardware="groq-lpu", model="llama2-7b")
    with pytest.raises(InputError, match="reserve_fraction"):
        kv_capacity_tokens(hardware="h100-sxm", model="llama2-7b", reserve_fraction=1.5)


@settings(max_examples=80, deadline=None)
@given(batch=st.integers(1, 300), context_sum=st.integers(0, 300 * 5000), steps=st.integers(1, 700))
def test_decode_run_is_the_sum_of_rounded_steps(batch: int, context_sum: int, steps: int) -> None:
    """The shared tables (inside the grid) and the lone-run fallback (batch or context beyond it)
    both equal rounding each step of ``decode_step_times_s`` at the per-step mean context
    ``(sum + k * batch) / batch`` to the ns (>= 1) and summing; a second call (memo) agrees."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CostTableWarning)
        m = _measured()
        per_step = [max(1.0, np.rint(m.decode_step_times_s(
            batch, np.array([(context_sum + k * batch) / batch]))[0] * 1e9)) for k in range(steps)]
        for _ in range(2):
            cum, lo = m.decode_run(batch, context_sum, steps)
            assert lo >= 0 and len(cum) > lo + steps
            ends = [cum[lo + 1 + k] - cum[lo] for k in range(steps)]
            assert all(type(end) is int for end in ends)
            assert ends == np.cumsum(per_step).astype(np.int64).tolist()


def test_decode_run_tables_are_shared_and_bounded() -> None:
    """Runs of one batch size and context residue share one table; beyond the grid or past the
    memo's bound a run is computed alone, with the same numbers."""
    from phasesim.simulator.costs import table_model as model_module

    m = _measured()
    a, lo_a = m.decode_run(4, 4 * 100 + 1, 50)
    b, lo_b = m.decode_run(4, 4 * 300 + 1, 20)
    assert a is b and (lo_a, lo_b) == (100, 300)
    c, _ = m.decode_run(4, 4 * 100 + 2, 50)
    assert c is not a
    fresh = _measured()
    limit = model_module._CUM_MEMO_ENTRIES
    try:
        model_module._CUM_MEMO_ENTRIES = 0  # full from the start: every run alone
        alone, lo = fresh.decode_run(4, 4 * 100 + 1, 50)
    finally:
        model_module._CUM_MEMO_ENTRIES = limit
    assert lo == 0 and len(alone) == 51 and alone[0] == 0
    assert list(alone[1:]) == [end - a[100] for end in a[101:151]]


@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.integers(1, 6000), min_size=1, max_size=10),
       prefixed=st.booleans(), data=st.data())
def test_prefill_step_s_equals_prefill_time_s(chunks: list[int], prefixed: bool, data) -> None:
    """The tuple entry point (fast path for one whole prompt on the grid, memo otherwise) gives
    exactly what the array entry point gives, on the grid and beyond it."""
    prefixes = [data.draw(st.integers(0, 3000)) if prefixed else 0 for _ in chunks]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CostTableWarning)
        m = _measured()
        want = m.prefill_time_s(np.array(chunks), np.array(prefixes))
        for _ in range(2):  # the second call may come from the memo
            assert m.prefill_step_s(tuple(chunks), tuple(prefixes)) == want


def test_generic_decode_runs_match_per_step_rounding_and_refuse_non_finite_times() -> None:
    """Cost models without their own ``decode_run`` (function-backed) get the same run ends as
    rounding each step; a step time that is NaN or infinite is an error, never a garbage time."""
    from phasesim.simulator.costs.closed_form import FunctionCostModel
    from phasesim.simulator.costs.interface import decode_run_of

    model = FunctionCostModel(prefill=lambda tokens, batch: 0.01,
                              decode=lambda batch, ctx: 1e-3 + 1e-7 * batch * ctx)
    cum, lo = decode_run_of(model)(3, 3 * 500 + 2, 40)
    per_step = [max(1, round((1e-3 + 1e-7 * 3 * ((1502 + 3 * k) / 3)) * 1e9)) for k in range(40)]
    assert lo == 0 and list(cum) == [0, *np.cumsum(per_step).tolist()]
    broken = FunctionCostModel(prefill=lambda tokens, batch: 0.01,
                               decode=lambda batch, ctx: np.where(ctx > 10, np.nan, 1e-3))
    with pytest.raises(ValueError, match="non-finite"):
        decode_run_of(broken)(1, 5, 10)
