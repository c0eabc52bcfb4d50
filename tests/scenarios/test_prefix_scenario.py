"""The built-in prefix-cache study validates, and a scenario's ``trace.sessions`` builds a
multi-turn trace whose hash ids survive the scenario's trace options."""

from __future__ import annotations

from pathlib import Path

from phasesim.scenarios import load_sweep_points
from phasesim.scenarios.model import TraceSpec
from phasesim.scenarios.point import check_point
from phasesim.scenarios.scenario_trace import build_trace
from tests.scenarios.conftest import REPO


def test_prefix_cache_study_validates() -> None:
    sweep = load_sweep_points(REPO / "scenarios" / "prefix-cache.yaml", checks=(check_point,))
    assert sweep.base.name == "prefix-cache"
    assert len(sweep.points) == 96
    assert {p.values["topology.prefix_cache"] for p in sweep.points} == {False, True}
    assert "cache_aware" in {p.values["topology.routing"] for p in sweep.points}


def test_mooncake_study_cache_aware_beats_no_cache_on_ttft_p50_and_p90() -> None:
    """The study docs/results.md reports (issue 21): on Mooncake's public trace with 16 H100s,
    the cache with its default router beats no cache on TTFT p50 and p90 at every swept rate,
    and never loses to the cache-blind router on either."""
    from phasesim.scenarios.simulate import pool_cost_model, resolve_topology
    from phasesim.simulator.run import simulate

    sweep = load_sweep_points(REPO / "scenarios" / "prefix-cache-mooncake.yaml",
                              checks=(check_point,))
    assert {p.values["topology.routing"] for p in sweep.points if p.values[
        "topology.prefix_cache"]} >= {"cache_aware", "prefix_affinity", "least_outstanding"}
    top = max(p.values["trace.rate_rps"] for p in sweep.points)
    ttft = {}
    for point in sweep.points:
        if point.values["trace.rate_rps"] != top:
            continue  # the busiest rate: where balancing matters most
        topology = resolve_topology(point.spec)
        assert [p.instances for p in topology.pools] == [16]
        summary = simulate(build_trace(point.spec.trace, seed=point.spec.seed), topology,
                           seed=point.spec.seed, timeseries=False,
                           cost_models={p.name: pool_cost_model(p) for p in topology.pools}
                           ).summary
        key = (point.values["topology.prefix_cache"], point.values["topology.routing"])
        ttft[key] = (summary["ttft_s"]["p50"], summary["ttft_s"]["p90"])
    for q in (0, 1):
        assert ttft[(True, "cache_aware")][q] < ttft[(False, "least_outstanding")][q]
        assert ttft[(True, "cache_aware")][q] < ttft[(True, "least_outstanding")][q]


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
