"""The built-in prefix-cache study validates, and a scenario's ``trace.sessions`` builds a
multi-turn trace whose hash ids survive the scenario's trace options."""

from __future__ import annotations

from pathlib import Path

from phasesim.scenarios import load_plan
from phasesim.scenarios.model import TraceSpec
from phasesim.scenarios.point import check_point
from phasesim.scenarios.trace_source import build_trace
from tests.scenarios.conftest import REPO


def test_prefix_cache_study_validates() -> None:
    plan = load_plan(REPO / "scenarios" / "prefix-cache.yaml", checks=(check_point,))
    assert plan.base.name == "prefix-cache"
    assert len(plan.points) == 72
    assert {p.values["topology.prefix_cache"] for p in plan.points} == {False, True}


def test_sessions_trace_spec() -> None:
    spec = TraceSpec.model_validate({
        "sessions": {"sessions": 20, "turns": 3, "think_s": "2s", "user": 100, "output": 50,
                     "system_prompt_tokens": 256, "prefix_block_tokens": 64},
        "rate_rps": 5, "max_context_tokens": 600})
    df = build_trace(spec, seed=3)
    assert len(df) == 60 and df.attrs["trace_meta"]["prefix_block_tokens"] == 64
    assert (df.prompt_tokens + df.output_tokens <= 600).all()
    assert {"session_id", "prefix_hash_ids"} <= set(df.columns)
    again = build_trace(spec, seed=3)
    assert df.equals(again)


def test_a_trace_has_exactly_one_source(tmp_path: Path) -> None:
    import pytest
    with pytest.raises(ValueError, match="exactly one of 'path', 'generate' or 'sessions'"):
        TraceSpec.model_validate({"path": "x.parquet", "sessions": {"sessions": 2}})
