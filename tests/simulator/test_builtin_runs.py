"""Every built-in topology replays a slice of the shipped Azure code trace on the shipped cost
tables (simulator.costs), end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasesim import traces
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import BUILTIN_TOPOLOGIES, builtin_topology

SAMPLE = Path(__file__).resolve().parents[2] / "traces" / "samples" / "azure_code_2023.parquet"


@pytest.fixture(scope="module")
def trace():
    return traces.read_trace(SAMPLE).iloc[:400].reset_index(drop=True)


@pytest.mark.parametrize("name", list(BUILTIN_TOPOLOGIES))
def test_builtin_topology_replays_the_sample(trace, name: str) -> None:
    res = simulate(trace, builtin_topology(name), seed=1, slo_ttft_s=1.0)
    req = res.requests
    assert len(req) == len(trace) and req.request_id.is_unique
    assert set(req.reason[req.status == "rejected"]) <= {"exceeds_context", "exceeds_kv_capacity"}
    assert (req.status == "completed").sum() > len(trace) // 2
    assert res.summary["requests"] == len(trace)
    assert res.meta["topology"]["name"] == name and res.meta["seed"] == 1
    if "groq" in name:  # GroqRack's Llama-2-7B deployment serves 2,048 tokens of context
        long = req.prompt_tokens + req.output_tokens > 2048
        assert (req.reason[long] == "exceeds_context").all()
    if builtin_topology(name).disaggregated:
        assert res.link_stats[0]["transfers"] > 0 and res.link_stats[0]["busy_s"] > 0
        needs = req[(req.status == "completed") & (req.output_tokens > 1)]
        assert (needs.transfer_s > 0).all()
    for pool in res.pool_stats:
        assert 0 < pool["busy_s"] <= res.duration_s * pool["instances"]
