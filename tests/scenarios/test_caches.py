"""Per-process caches of sweep workers: cost tables and trace files are read once per file
version, and sharing them changes no result."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

from phasesim.scenarios.model import TraceSpec
from phasesim.scenarios.scenario_trace import build_trace
from phasesim.scenarios.simulate import pool_cost_model, resolve_topology
from phasesim.scenarios.sweep_points import load_sweep_points
from phasesim.simulator.costs.resolve import shipped_table
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import builtin_topology
from phasesim.traces import head, read_trace, write_trace
from tests.scenarios.conftest import AZURE_SAMPLE


def test_cost_model_is_read_once_per_table_version(tmp_path: Path) -> None:
    table = tmp_path / "h100.parquet"
    shutil.copyfile(shipped_table(hardware="h100-sxm", model="llama2-7b"), table)
    pool = builtin_topology("gpu", model="llama2-7b", profile=str(table)).pools[0]
    first = pool_cost_model(pool)
    assert pool_cost_model(pool) is first
    stat = table.stat()
    os.utime(table, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a new version
    again = pool_cost_model(pool)
    assert again is not first
    assert again.prefill_time_s(1024, 0) == first.prefill_time_s(1024, 0)


def test_shared_cost_models_give_the_results_of_fresh_ones(small_sweep: Path) -> None:
    # disaggregated: two pools, two tables looked up
    point = load_sweep_points(small_sweep).points[-1]
    spec = point.spec
    trace = build_trace(spec.trace, seed=spec.seed)
    topology = resolve_topology(spec)
    fresh = simulate(trace, topology, seed=spec.seed, slo_ttft_s=spec.slo.ttft_s,
                     slo_tpot_s=spec.slo.tpot_s)
    for _ in range(2):  # the second run finds the models' lookup memos already filled
        shared = simulate(trace, topology, seed=spec.seed, slo_ttft_s=spec.slo.ttft_s,
                          slo_tpot_s=spec.slo.tpot_s,
                          cost_models={p.name: pool_cost_model(p) for p in topology.pools})
        pd.testing.assert_frame_equal(shared.requests, fresh.requests, check_exact=True)
        assert shared.summary == fresh.summary


def test_trace_file_is_read_again_when_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    write_trace(head(read_trace(AZURE_SAMPLE), 50), path)
    spec = TraceSpec.model_validate({"path": str(path)})
    first = build_trace(spec, seed=0)
    assert len(first) == 50
    first.loc[:, "prompt_tokens"] = 1  # callers get a copy: the cached frame is untouched
    assert (build_trace(spec, seed=0)["prompt_tokens"] > 1).any()
    write_trace(head(read_trace(AZURE_SAMPLE), 30), path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert len(build_trace(spec, seed=0)) == 30
