"""Mooncake's synthetic trace replays with a prefix cache on llama3.1-8b: the hit rate stays at
most the trace's ideal one, and prefix-affinity hits at least as often as round-robin."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasesim import traces
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import builtin_topology

SAMPLE = Path(__file__).resolve().parents[2] / "traces" / "samples" / "mooncake_synthetic.parquet"


@pytest.mark.filterwarnings("ignore::simulator.costs.CostTableWarning")
def test_mooncake_hit_rates_are_bounded_and_affinity_helps() -> None:
    df = traces.read_trace(SAMPLE)
    ideal = traces.trace_stats(df)["ideal_hit_rate"]
    rates = {}
    for router in ("round_robin", "prefix_affinity"):
        topo = builtin_topology("gpu", model="llama3.1-8b", instances=4, prefix_cache=True,
                                routing=router)
        res = simulate(df, topo, timeseries=False)
        assert res.summary["completed"] + res.summary["rejected"] == len(df)
        rates[router] = res.summary["prefix_cache"]["hit_rate"]
    assert 0 < rates["round_robin"] <= rates["prefix_affinity"] <= ideal
