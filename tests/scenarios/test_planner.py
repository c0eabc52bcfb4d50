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
from phasesim.scenarios.planner import (
    PlanSpace,
    brute_force,
    candidates,
    explain_infeasible,
    kinds,
    search,
    search_on,
    simulate_summary,
)
from phasesim.simulator.catalog.economics import PriceBook
from phasesim.simulator.costs.roofline import analytical_cost_model
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


@pytest.fixture(scope="module")
def tp2_tables() -> dict:
    return {("h100-sxm", 2): analytical_cost_model(hardware="h100-sxm", model="llama2-7b",
                                                    tensor_parallel=2)}


@pytest.mark.parametrize("objective", ["cost", "devices"])
def test_search_with_degree_and_batch_axes_is_never_worse_than_brute_force(
        small_trace, tp2_tables, objective) -> None:
    space = PlanSpace(hardware=("h100-sxm",), max_devices=4, tensor_parallel=(1, 2),
                      max_num_seqs=(None, 4))

    def evaluate(topology):
        return simulate_summary(small_trace, topology, tables=tp2_tables, **SLO)

    planned = search(space, evaluate, attainment=0.75, objective=objective)
    brute = brute_force(space, evaluate, attainment=0.75, objective=objective)
    # colocated: TP1 4 counts + TP2 2, x 2 batches; disaggregated, (prefill, decode) TP: (1,1)
    # 6 count pairs, (1,2) 2, (2,1) 2, (2,2) 1, x 4 batch pairs
    assert len(brute.evaluations) == sum(1 for _ in candidates(space)) == 12 + 44
    assert len(planned.evaluations) < len(brute.evaluations)
    assert all(e.candidate.devices <= 4 for e in brute.evaluations)
    assert brute.best is not None and planned.best is not None
    assert planned.best.objective(objective) <= brute.best.objective(objective)
    # the axes matter on this trace: batch 4 and TP 2 change attainment
    by = {e.candidate: e.summary["slo_attainment"] for e in brute.evaluations}
    base = next(c for c in by if c.label == "1x h100-sxm colocated")
    assert by[base] != by[next(c for c in by if c.label == "1x h100-sxm batch 4 colocated")]
    assert by[base] != by[next(c for c in by if c.label == "1x h100-sxm TP2 colocated")]


def test_default_axes_keep_the_space_of_before() -> None:
    space = PlanSpace(hardware=("h100-sxm", "groqrack"), max_devices=8)
    assert len(kinds(space)) == 6 and sum(1 for _ in candidates(space)) == 128
    auto = PlanSpace(hardware=("h100-sxm", "groqrack"), max_devices=8, tensor_parallel=None)
    assert {k.prefill_tp for k in kinds(auto)} == {1, 2, 4, 8}
    assert all(k.prefill_tp == 1 for k in kinds(auto) if k.prefill_hardware == "groqrack")


def test_search_on_a_process_pool_gives_the_serial_result(small_trace) -> None:
    space = PlanSpace(hardware=("h100-sxm", "a100-sxm-80gb"), max_devices=3)
    serial = search(space, _evaluate(small_trace), attainment=0.75)
    with open_executor(ExecutorSpec(backend=Backend.PROCESS, workers=2)) as pool:
        parallel = search_on(pool, space, small_trace, prices=PriceBook(), attainment=0.75, **SLO)
    assert [e.candidate for e in parallel.evaluations] == [e.candidate for e in serial.evaluations]
    # the planner's summaries add each SLO term's share (slo_terms) to the simulator's
    assert [{k: v for k, v in e.summary.items() if k != "slo_terms"}
            for e in parallel.evaluations] == [e.summary for e in serial.evaluations]
    assert all(set(e.summary["slo_terms"]) == {"completed", "ttft", "tpot"}
               for e in parallel.evaluations)
    assert parallel.best.candidate == serial.best.candidate


def test_plan_cli_writes_a_replayable_best_that_meets_the_slo(tmp_path: Path, small_trace) -> None:
    trace = traces.write_trace(small_trace, tmp_path / "t.parquet", {"source": {"kind": "test"}})
    out = tmp_path / "plan"
    runner = CliRunner()
    result = runner.invoke(app, ["plan", str(trace), "--hardware", "h100-sxm,groqrack",
                                 "--max-devices", "3", "--attainment", "0.75", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Winner:" in result.output and "Prices used (tco basis):" in result.output
    plans = pd.read_parquet(out / "plans.parquet")
    assert {"usd_per_hour", "joules_per_output_token", "slo_attainment", "goodput_rps",
            "ttft_p99_s", "tpot_p99_s", "feasible"} <= set(plans.columns)
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["pools"]
    replay = runner.invoke(app, ["replay", str(trace), "-t", str(out / "best.yaml"),
                                 "-o", str(tmp_path / "r"), "--json"])
    assert replay.exit_code == 0, replay.output
    summary = json.loads(replay.stdout)
    assert summary["slo_attainment"] >= 0.75
    assert summary["cost"]["usd_per_hour"] == pytest.approx(plans.loc[plans["feasible"],
                                                                      "usd_per_hour"].min())


def test_plan_prices_on_one_basis(tmp_path: Path, small_trace) -> None:
    """--price-basis rental plans where every listed device has a public rental price and
    refuses, in one line and before simulating, hardware that has none (issue 21)."""
    trace = traces.write_trace(small_trace, tmp_path / "t.parquet", {"source": {"kind": "test"}})
    runner = CliRunner()
    out = tmp_path / "rent"
    result = runner.invoke(app, ["plan", str(trace), "--hardware", "h100-sxm", "--max-devices",
                                 "2", "--attainment", "0.5", "--price-basis", "rental",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Prices used (rental basis):" in result.output
    plans = pd.read_parquet(out / "plans.parquet")
    assert "usd_per_million_goodput_tokens" in plans.columns
    assert (plans["usd_per_hour"] / plans["devices"]).round(6).eq(2.99).all()
    refused = runner.invoke(app, ["plan", str(trace), "--hardware", "h100-sxm,groqrack",
                                  "--max-devices", "2", "--price-basis", "rental",
                                  "-o", str(tmp_path / "no")])
    assert refused.exit_code == 2
    assert "no public rental price for 'groqrack'" in refused.stderr
    assert not (tmp_path / "no").exists()


def test_plan_says_so_when_nothing_fits(tmp_path: Path, small_trace) -> None:
    trace = traces.write_trace(small_trace, tmp_path / "t.parquet", {"source": {"kind": "test"}})
    result = CliRunner().invoke(app, ["plan", str(trace), "--hardware", "groqrack",
                                      "--max-devices", "1", "-o", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert "Nothing within --max-devices 1 meets the SLO" in result.output
    assert not (tmp_path / "p" / "best.yaml").exists()


def test_plan_explains_why_nothing_fits_and_what_would(tmp_path: Path, small_trace) -> None:
    """Issue 21: the share over the context, the best attainment and the term that failed,
    and what would pass, in report.md and on the console alike."""
    trace = traces.write_trace(small_trace, tmp_path / "t.parquet", {"source": {"kind": "test"}})
    result = CliRunner().invoke(app, ["plan", str(trace), "--hardware", "groqrack",
                                      "--max-devices", "1", "-o", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "p" / "report.md").read_text()
    over = float(((small_trace["prompt_tokens"] + small_trace["output_tokens"]) > 2048).mean())
    assert over > 0.1
    line = f"{100 * over:.1f} % of the requests are longer (prompt + output) than llama2-7b's " \
        "2,048-token context on groqrack"
    assert line in report and line in result.output
    assert f"capping attainment at {1 - over:.3f}, so no groqrack cluster can reach 0.9" in report
    plans = pd.read_parquet(tmp_path / "p" / "plans.parquet")
    best = float(plans["slo_attainment"].max())
    assert f"The best attainment is {best:.3f}, by 1x groqrack colocated." in report
    assert "the largest loss: rejected." in report
    floor = int(100 * best) / 100
    assert f"`--attainment {floor:g}`: 1x groqrack colocated" in report
    assert "sim traces transform --max-context N" in report  # more devices cannot help here


def _scaling(frame: pd.DataFrame):
    """A stand-in simulation: attainment grows with devices (0.3 each, at most 1); TTFT fails."""
    def evaluate(topology):
        devices = sum(p.instances * p.tensor_parallel for p in topology.pools)
        attained = min(1.0, 0.3 * devices)
        return {"slo_attainment": attained, "cost": {"usd_per_hour": float(devices)},
                "slo_terms": {"completed": 1.0, "ttft": attained, "tpot": 1.0}}
    return evaluate


def test_explain_infeasible_simulates_more_devices(small_trace) -> None:
    fits = small_trace[(small_trace["prompt_tokens"] + small_trace["output_tokens"]) <= 4096]
    space = PlanSpace(hardware=("h100-sxm",), max_devices=2)
    result = search(space, _scaling(fits), attainment=0.95)
    assert result.best is None
    why = explain_infeasible(result, space, fits, _scaling(fits))
    assert why.over_context == {"h100-sxm": (0.0, 4096)}
    assert why.best is not None and why.best.candidate.devices == 2
    assert why.lower_attainment is not None and why.lower_attainment[0] == 0.6
    # 2 x the best configuration (4 devices) reaches 1.0: the probe stops there
    assert [e.candidate.devices for e in why.bigger] == [4] and why.bigger[0].feasible
    text = "\n".join(why.lines(space))
    assert "the largest loss: late first token (TTFT SLO)." in text
    assert "`--max-devices 4`: 4x h100-sxm colocated meets it" in text
    assert "`--attainment 0.6`: 2x h100-sxm colocated" in text
    # without a simulator, nothing is probed
    assert explain_infeasible(result, space, fits).bigger == ()


def test_plan_rejects_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    for args, text in ((["--objective", "speed"], "--objective"),
                       (["--attainment", "1.5"], "--attainment"),
                       (["--hardware", "nope"], "unknown hardware"),
                       (["--max-devices", "0"], "--max-devices"),
                       (["--tp", "3"], "does not divide"),
                       (["--tp", "16"], "no tensor-parallel degree searched fits"),
                       (["--max-batch", "0"], "--max-batch"),
                       (["--max-batch", "x"], "--max-batch"),
                       (["--max-num-seqs", "0"], "--max-num-seqs/--max-batch must be >= 1")):
        result = runner.invoke(app, ["plan", str(CODE), "-o", str(tmp_path / "x"), *args])
        assert result.exit_code == 2 and text in result.stderr, (args, result.stderr)
        assert not (tmp_path / "x").exists()


def test_plan_cli_searches_degree_and_batch_and_best_replays(tmp_path: Path, small_trace) -> None:
    trace = traces.write_trace(small_trace, tmp_path / "t.parquet", {"source": {"kind": "test"}})
    out = tmp_path / "plan"
    runner = CliRunner()
    result = runner.invoke(app, ["plan", str(trace), "--hardware", "h100-sxm", "--max-devices",
                                 "3", "--tp", "1,2", "--max-batch", "default,4",
                                 "--attainment", "0.75", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "tensor-parallel degrees 1, 2; max batch default, 4" in result.output
    plans = pd.read_parquet(out / "plans.parquet")
    for col in ("tensor_parallel", "prefill_tensor_parallel", "decode_tensor_parallel",
                "max_batch", "prefill_max_batch", "decode_max_batch"):
        assert col in plans.columns
    assert set(plans["max_batch"]) <= {0, 4, 256} and 2 in set(plans["tensor_parallel"])
    price = PriceBook().usd_per_hour("h100-sxm")
    assert plans["usd_per_hour"].tolist() == pytest.approx((plans["devices"] * price).tolist())
    best = yaml.safe_load((out / "best.yaml").read_text())
    replay = runner.invoke(app, ["replay", str(trace), "--topology", str(out / "best.yaml"),
                                 "-o", str(tmp_path / "r"), "--json"])
    assert replay.exit_code == 0, replay.output
    summary = json.loads(replay.stdout)
    assert summary["slo_attainment"] >= 0.75
    row = plans.loc[plans["feasible"]].sort_values(["usd_per_hour", "devices"]).iloc[0]
    assert summary["cost"]["usd_per_hour"] == pytest.approx(row["usd_per_hour"])
    shape = [(p.get("tensor_parallel", 1), p["max_num_seqs"] or 256) for p in best["pools"]]
    assert shape == ([(row["tensor_parallel"], row["max_batch"])] if row["kind"] == "colocated"
                     else [(row["prefill_tensor_parallel"], row["prefill_max_batch"]),
                           (row["decode_tensor_parallel"], row["decode_max_batch"])])


def test_a_named_engine_goes_to_gpu_pools_and_groqrack_keeps_groq() -> None:
    from phasesim.scenarios.planner import Candidate, PlanSpace, topology_for

    space = PlanSpace(hardware=("h100-sxm", "groqrack"), engine="trt-llm")
    cand = Candidate(kind="disaggregated", prefill_hardware="h100-sxm",
                     decode_hardware="groqrack", prefill=1, decode=1)
    pools = {p.role.value: p for p in topology_for(cand, space).pools}
    assert pools["prefill"].engine == "trt-llm" and pools["prefill"].batching is None
    assert pools["decode"].engine is None and pools["decode"].batching.value == "none"


def test_pareto_points_that_coincide_stay_visible(monkeypatch) -> None:
    """Issue 21: two kinds at the same price and attainment both show (hollow markers, the
    earlier larger), and the log price axis reads in plain numbers."""
    from matplotlib.figure import Figure

    from phasesim.scenarios.plan_figure import pareto_png
    from phasesim.scenarios.planner import Candidate, Evaluation, PlanResult

    drawn = []
    real = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: (drawn.append(fig),
                                                                 real(fig, *a, **k)))
    summary = {"cost": {"usd_per_hour": 24.0}, "slo_attainment": 0.86, "goodput_rps": 2.2}
    evals = [Evaluation(candidate=Candidate(kind="colocated", prefill_hardware="h100-sxm",
                                            decode_hardware="h100-sxm", prefill=8),
                        summary=summary, feasible=False),
             Evaluation(candidate=Candidate(kind="disaggregated", prefill_hardware="h100-sxm",
                                            decode_hardware="h100-sxm", prefill=2, decode=6),
                        summary={**summary, "cost": {"usd_per_hour": 240.0}}, feasible=False)]
    pareto_png(PlanResult(objective="cost", attainment=0.9, evaluations=evals))
    ax = drawn[0].axes[0]
    first, second = ax.collections[:2]
    assert first.get_sizes()[0] > second.get_sizes()[0]
    assert len(first.get_facecolors()) == 0 or first.get_facecolors()[0][3] == 0  # hollow
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "100" in ticks and not any("times" in t or "^" in t for t in ticks)
