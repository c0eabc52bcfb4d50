"""The cost-model interface: the optional fast paths equal the defaults derived from the protocol.

A cost model may implement ``FastPaths`` (``decode_run``, ``prefill_step_s``); the engine uses them
instead of the defaults built from ``decode_step_times_s`` / ``prefill_time_s``. Checked here,
number for number, for every shipped table and for the closed-form models.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasesim.simulator.costs import CostTableWarning, list_tables
from phasesim.simulator.costs.closed_form import ConstantCostModel, FunctionCostModel
from phasesim.simulator.costs.interface import (
    CostModel,
    FastPaths,
    decode_run_of,
    default_decode_run,
    default_prefill_step_s,
    prefill_step_s_of,
)
from phasesim.simulator.costs.resolve import load_table, table_path

SHIPPED = [info.name for info in list_tables()]


def _shipped(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CostTableWarning)
        return load_table(table_path(name))


CLOSED_FORM = {
    "function": FunctionCostModel(
        prefill=lambda tokens, batch: 2e-3 + 1e-6 * tokens * (1 + 0.05 * batch),
        decode=lambda batch, ctx: 7e-3 + 1e-5 * batch + 2e-9 * batch * np.asarray(ctx)),
    "constant": ConstantCostModel(prefill_s=0.03, decode_step_s=0.004),
}
MODELS = {**{name: _shipped(name) for name in SHIPPED}, **CLOSED_FORM}


def _ends(run: tuple, steps: int) -> list[int]:
    cum, lo = run
    return [cum[lo + 1 + k] - cum[lo] for k in range(steps)]


def test_every_shipped_table_implements_the_fast_paths() -> None:
    assert len(SHIPPED) >= 7
    for name in SHIPPED:
        assert isinstance(MODELS[name], CostModel) and isinstance(MODELS[name], FastPaths), name
    assert not isinstance(CLOSED_FORM["function"], FastPaths)


@pytest.mark.parametrize("name", sorted(MODELS))
@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 400), context_per_seq=st.integers(0, 6000),
       residue=st.integers(0, 399), steps=st.integers(1, 600))
def test_decode_run_equals_the_default(name: str, batch: int, context_per_seq: int,
                                       residue: int, steps: int) -> None:
    """On and beyond each table's grid (batch up to 400, contexts up to 6,000 tokens)."""
    model = MODELS[name]
    context_sum = batch * context_per_seq + residue % batch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CostTableWarning)
        fast = _ends(decode_run_of(model)(batch, context_sum, steps), steps)
        slow = _ends(default_decode_run(model)(batch, context_sum, steps), steps)
    assert fast == slow


@pytest.mark.parametrize("name", sorted(MODELS))
@settings(max_examples=40, deadline=None)
@given(chunks=st.lists(st.integers(1, 6000), min_size=1, max_size=12), prefixed=st.booleans(),
       data=st.data())
def test_prefill_step_equals_the_default(name: str, chunks: list[int], prefixed: bool,
                                         data) -> None:
    model = MODELS[name]
    prefixes = [data.draw(st.integers(0, 4000)) if prefixed else 0 for _ in chunks]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CostTableWarning)
        want = default_prefill_step_s(model)(tuple(chunks), tuple(prefixes))
        for _ in range(2):  # the second call may come from a memo
            assert prefill_step_s_of(model)(tuple(chunks), tuple(prefixes)) == want
