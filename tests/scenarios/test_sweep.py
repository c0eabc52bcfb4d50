"""Sweeps: identical results on every backend, resume without re-running, failures recorded."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from phasesim.scenarios import (
    Backend,
    ExecutorSpec,
    InlineExecutor,
    load_sweep_points,
    open_executor,
    run_sweep,
)
from phasesim.scenarios.point import PointOutcome, PointTask, check_point, execute_point
from phasesim.scenarios.sweep import POINTS_DIR, RESULTS_FILE
from tests.scenarios.conftest import AZURE_SAMPLE


def _sweep(path: Path, out: Path, spec: ExecutorSpec) -> Any:
    sweep = load_sweep_points(path, checks=(check_point,))
    with open_executor(spec) as executor:
        return run_sweep(sweep, out, executor=executor)


def _point_files(out: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted((out / POINTS_DIR).rglob("*")):
        if path.is_file():
            files[str(path.relative_to(out))] = path.read_bytes()
    return files


def test_process_pool_and_dask_match_a_serial_run(small_sweep: Path, tmp_path: Path) -> None:
    serial = _sweep(small_sweep, tmp_path / "serial", ExecutorSpec(backend=Backend.SERIAL))
    assert serial.failed == 0 and serial.points == 4
    pool = _sweep(small_sweep, tmp_path / "pool", ExecutorSpec(backend=Backend.PROCESS, workers=2))
    pytest.importorskip("distributed")
    dask = _sweep(small_sweep, tmp_path / "dask",
                  ExecutorSpec(backend=Backend.DASK, workers=2, address="local"))
    reference = (tmp_path / "serial" / RESULTS_FILE).read_bytes()
    assert (tmp_path / "pool" / RESULTS_FILE).read_bytes() == reference
    assert (tmp_path / "dask" / RESULTS_FILE).read_bytes() == reference
    assert _point_files(tmp_path / "pool") == _point_files(tmp_path / "serial")
    assert _point_files(tmp_path / "dask") == _point_files(tmp_path / "serial")
    assert pool.failed == dask.failed == 0
    frame = pd.read_parquet(tmp_path / "serial" / RESULTS_FILE)
    # one row per point, in sweep order, with the swept values and the summary metrics
    assert frame["topology.name"].tolist() == ["gpu", "gpu", "gpu-prefill-gpu-decode",
                                               "gpu-prefill-gpu-decode"]
    assert frame["trace.rate_rps"].tolist() == [1.0, 4.0, 1.0, 4.0]
    assert (frame["status"] == "ok").all()
    assert (frame["requests"] == 120).all()
    # a higher rate on the same hardware cannot lower P99 queueing
    gpu = frame[frame["topology.name"] == "gpu"]
    assert gpu["queue_s.p99"].iloc[1] >= gpu["queue_s.p99"].iloc[0]
    # each point's config is a runnable scenario holding its own swept values
    first = frame["point_id"].iloc[1]
    config = (tmp_path / "serial" / POINTS_DIR / first / "config.yaml").read_text()
    # (a key, not the text: the checkout's path may hold "sweep", as /work/wt-sweeps does)
    assert "rate_rps: 4.0" in config and "\nsweep:" not in config


class _Interrupting(Executor):
    """Runs the first ``n`` submissions inline, then raises KeyboardInterrupt (Ctrl-C)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self.n == 0:
            raise KeyboardInterrupt
        self.n -= 1
        return InlineExecutor().submit(fn, *args, **kwargs)


def test_resume_runs_only_unfinished_points(small_sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    sweep = load_sweep_points(small_sweep, checks=(check_point,))
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, out, executor=_Interrupting(2))
    finished = {p.name: (p / "summary.json").stat().st_mtime_ns
                for p in (out / POINTS_DIR).iterdir() if (p / "summary.json").is_file()}
    assert len(finished) == 2
    assert not (out / RESULTS_FILE).exists()
    assert not [p for p in (out / POINTS_DIR).iterdir() if p.name.startswith(".")]

    ran: list[str] = []

    def counting(task: PointTask) -> PointOutcome:
        ran.append(task.point_id)
        return execute_point(task)

    report = run_sweep(sweep, out, executor=InlineExecutor(), runner=counting)
    assert report.skipped == 2 and len(ran) == 2
    assert not set(ran) & set(finished)
    for name, mtime in finished.items():  # finished points were not rewritten
        assert (out / POINTS_DIR / name / "summary.json").stat().st_mtime_ns == mtime
    assert len(pd.read_parquet(out / RESULTS_FILE)) == 4

    ran.clear()
    again = run_sweep(sweep, out, executor=InlineExecutor(), runner=counting)
    assert ran == [] and again.skipped == 4


def test_a_failing_point_is_recorded_and_the_sweep_goes_on(scenario_file: Callable[[str], Path],
                                                          tmp_path: Path) -> None:
    broken = tmp_path / "scn" / "broken.parquet"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(AZURE_SAMPLE.read_bytes()[: 2000])  # exists, but is not readable parquet
    path = scenario_file(f"""
        name: fails
        topology: gpu
        trace: {{path: {AZURE_SAMPLE}, max_requests: 40}}
        sweep:
          grid:
            trace.path: [{AZURE_SAMPLE}, broken.parquet]
            seed: [1, 2]
    """)
    out = tmp_path / "out"
    report = _sweep(path, out, ExecutorSpec(backend=Backend.PROCESS, workers=2))
    assert report.failed == 2 and len(report.outcomes) == 4
    frame = pd.read_parquet(out / RESULTS_FILE)
    assert frame["status"].tolist() == ["ok", "ok", "error", "error"]
    bad = frame[frame["status"] == "error"]
    assert bad["completed"].isna().all()
    for pid in bad["point_id"]:
        folder = out / POINTS_DIR / pid
        assert sorted(os.listdir(folder)) == ["config.yaml", "error.txt"]
        assert "broken.parquet" in (folder / "error.txt").read_text()
    # a re-run retries only the failed points
    again = _sweep(path, out, ExecutorSpec(backend=Backend.SERIAL))
    assert again.skipped == 2 and again.failed == 2


def test_sweep_json_lists_points(small_sweep: Path, tmp_path: Path) -> None:
    sweep = load_sweep_points(small_sweep, checks=(check_point,))
    sweep = type(sweep)(path=sweep.path, base=sweep.base, axes=sweep.axes, points=sweep.points[:1])
    run_sweep(sweep, tmp_path / "o", executor=InlineExecutor())
    doc = json.loads((tmp_path / "o" / "sweep.json").read_text())
    assert doc["axes"] == ["topology.name", "trace.rate_rps"]
    assert doc["points"][0]["values"] == {"topology.name": "gpu", "trace.rate_rps": 1.0}
