"""`sim plan`'s search: never worse than brute force over the same small space; its best.yaml
replays and meets the SLO; it says so when nothing fits."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from phasesim import traces
from phasesim.cli import app
from phasesim.scenarios.executors import Backend, ExecutorSpec, open_executor
from phasesim.scenarios.planner import PlanSpace, brute_force, candidates, search, search_on
from phasesim.simulator.catalog.economics import PriceBook
from phasesim.simulator.run import simulate

ROOT = Path(__file__).resolve().parents[2]
CODE = ROOT / "traces" / "samples" / "azure_code_2023.parquet"
SLO = {"slo_ttft_s": 0.5, "slo_tpot_s": 0.05}


@pytest.fixture(scope="module")
def small_trace() -> pd.DataFrame:
    return traces.read_trace(CODE).iloc[:400].reset_index(drop=True)


def _evaluate(frame: pd.DataFrame):
    return lambda topology: simulate(frame, topology, timeseries=False, **SLO).summary


@pytest.mark.parametrize("objective", ["cost", "devices", "energy"])
def test_search_is_never_worse_than_brute_force(small_trace, objective) -> None:
    space = PlanSpace(hardware=("h100-sxm", "a100-sxm-80gb"), max_devices=3)
    planned = search(space, _evaluate(small_trace), attainment=0.75, objective=objective)
    brute = brute_force(space, _evaluate(small_trace), attainment=0.75, objective=objective)
    assert brute.best is not None and planned.best is not None
    assert len(brute.evaluations) == sum(1 for _ in candidates(space)) == 18
    assert len(planned.evaluations) < len(brute.evaluations)
    if objective == "energy":  # a heuristic for energy: within 10 % of the optimum
        assert planned.best.objective(objective) <= 1.1 * brute.best.objective(objective)
    else:
        assert planned.best.objective(objective) <= brute.best.objective(objective)


def test_search_on_a_process_pool_gives_the_serial_result(small_trace) -> None:
    space = PlanSpace(hardware=("h100-sxm", "a100-sxm-80gb"), max_devices=3)
    serial = search(space, _evaluate(small_trace), attainment=0.75)
    with open_executor(ExecutorSpec(backend=Backend.PROCESS, workers=2)) as pool:
        parallel = search_on(pool, space, small_trace, prices=PriceBook(), attainment=0.75, **SLO)
    assert [e.candidate for e in parallel.evaluations] == [e.candidate for e in serial.evaluations]
    assert [e.summary for e in parallel.evaluations] == [e.summary for e in serial.evaluations]
    assert parallel.best.candidate == serial.best.candidate


def test_plan_cli_writes_a_replayable_best_that_meets_the_slo(tmp_path: Path, small_trace) -> None:
    trace = traces.write_trace(small_trace, tmp_path / "t.parquet", {"source": {"kind": "test"}})
    out = tmp_path / "plan"
    runner = CliRunner()
    result = runner.invoke(app, ["plan", str(trace), "--hardware", "h100-sxm,groqrack",
                                 "--max-devices", "3", "--attainment", "0.75", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Winner:" in result.output and "Prices used:" in result.output
    plans = pd.read_parquet(out / "plans.parquet")
    assert {"usd_per_hour", "joules_per_output_token", "slo_attainment", "goodput_rps",
            "ttft_p99_s", "tpot_p99_s", "feasible"} <= set(plans.columns)
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["pools"]
    replay = runner.invoke(app, ["replay", str(trace), "-t", str(out / "best.yaml"),
                                 "-o", str(tmp_path / "r"), "--json"])
    assert replay.exit_code == 0, replay.output
    summary = json.loads(replay.output)
    assert summary["slo_attainment"] >= 0.75
    assert summary["cost"]["usd_per_hour"] == pytest.approx(plans.loc[plans["feasible"],
                                                                      "usd_per_hour"].min())


def test_plan_says_so_when_nothing_fits(tmp_path: Path, small_trace) -> None:
    trace = traces.write_trace(small_trace, tmp_path / "t.parquet", {"source": {"kind": "test"}})
    result = CliRunner().invoke(app, ["plan", str(trace), "--hardware", "groqrack",
                                      "--max-devices", "1", "-o", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert "Nothing within --max-devices 1 meets the SLO" in result.output
    assert not (tmp_path / "p" / "best.yaml").exists()


def test_plan_rejects_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    for args, text in ((["--objective", "speed"], "--objective"),
                       (["--attainment", "1.5"], "--attainment"),
                       (["--hardware", "nope"], "unknown hardware"),
                       (["--max-devices", "0"], "--max-devices")):
        result = runner.invoke(app, ["plan", str(CODE), "-o", str(tmp_path / "x"), *args])
        assert result.exit_code == 2 and text in result.stderr, (args, result.stderr)
        assert not (tmp_path / "x").exists()
