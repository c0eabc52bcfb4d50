"""Scenario topologies at tensor_parallel N: a profile of that degree runs; without one, the
roofline table of the pool's engine is built for that degree, as `sim replay` builds it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from phasesim.cli import app
from phasesim.cli.profiler_cmd import app as profiler_app
from phasesim.simulator.costs.resolve import resolve_table

from .conftest import AZURE_SAMPLE

SCENARIO = """
name: tp
model: llama3-70b
topology:
  name: gpu
  tensor_parallel: 2{profile}
trace:
  path: {trace}
  max_requests: 30
  rate_rps: 0.5
seed: 1
"""


def test_a_tp_scenario_runs_on_a_table_of_its_degree(scenario_file: Callable[..., Path],
                                                     tmp_path: Path) -> None:
    table = tmp_path / "tp2.parquet"
    made = CliRunner().invoke(profiler_app, ["capture", "--backend", "analytical", "--hardware",
                                             "h100-sxm", "--model", "llama3-70b",
                                             "--tensor-parallel", "2", "-o", str(table)])
    assert made.exit_code == 0, made.output
    path = scenario_file(SCENARIO.format(trace=AZURE_SAMPLE, profile=f"\n  profile: {table}"))
    result = CliRunner().invoke(app, ["run", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    summary = json.loads(next((tmp_path / "out").rglob("summary.json")).read_text())
    assert summary["completed"] == 30


def test_without_a_table_of_its_degree_one_is_built_as_replay_builds_it(
        scenario_file: Callable[..., Path], tmp_path: Path) -> None:
    path = scenario_file(SCENARIO.format(trace=AZURE_SAMPLE, profile=""))
    result = CliRunner().invoke(app, ["run", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    summary = json.loads(next((tmp_path / "out").rglob("summary.json")).read_text())
    assert summary["completed"] == 30
    built = resolve_table(hardware="h100-sxm", model="llama3-70b", tensor_parallel=2)
    assert built.built and built.cost_model.tensor_parallel == 2 and built.engine == "vllm"
    assert built.uncalibrated is None  # h100-sxm/vllm is fitted, at TP 2 too


def test_a_degree_the_model_cannot_take_is_refused_at_plan_time(
        scenario_file: Callable[..., Path], tmp_path: Path) -> None:
    path = scenario_file(SCENARIO.format(trace=AZURE_SAMPLE, profile="").replace(
        "tensor_parallel: 2", "tensor_parallel: 3"))
    result = CliRunner().invoke(app, ["run", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "tensor_parallel 3" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
