"""The built-in ``paper-cost`` study loads and a tiny version of it runs; a scenario's ``prices``
reach every point's summary and the sweep's results.parquet."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from phasesim.errors import InputError
from phasesim.scenarios import Backend, ExecutorSpec, load_sweep_points, open_executor, run_sweep
from phasesim.scenarios.point import check_point
from phasesim.simulator.catalog.economics import PriceBasis, PriceBook, get_power
from tests.scenarios.conftest import REPO

SCENARIO = REPO / "scenarios" / "paper-cost.yaml"


def test_paper_cost_loads_with_equal_cost_and_power_layouts() -> None:
    sweep = load_sweep_points(SCENARIO, checks=(check_point,))
    assert sweep.base.name == "paper-cost"
    assert len(sweep.points) <= 60
    layouts = {(p.values["topology.name"], p.values["topology.instances"]) for p in sweep.points}
    gpu_counts = sorted(n for name, n in layouts if name == "gpu")
    assert layouts - {("gpu", n) for n in gpu_counts} == {("groq", 1),
                                                           ("gpu-prefill-groq-decode", 1)}
    # one price basis for every device (issue 21): the study's prices are TCO, on which the
    # GroqRack has a price; equal cost = as many H100s as one rack costs, equal power = its watts
    assert sweep.base.prices.basis is PriceBasis.TCO
    book = sweep.base.prices.price_book()
    equal_cost = round(book.usd_per_hour("groqrack") / book.usd_per_hour("h100-sxm"))
    assert equal_cost in gpu_counts and len(gpu_counts) == 2
    equal_power = next(n for n in gpu_counts if n != equal_cost)
    h100_w, rack_w = get_power("h100-sxm").peak_w, get_power("groqrack").peak_w
    assert abs(equal_power * h100_w - rack_w) <= h100_w  # the nearest count above or below


def _tiny(tmp_path: Path, prices: dict | None) -> Path:
    data = yaml.safe_load(SCENARIO.read_text())
    data["trace"]["generate"]["count"] = 20
    data["sweep"]["grid"] = {"trace.rate_rps": [2]}
    data["sweep"]["zip"][0] = {"topology.name": ["gpu", "gpu-prefill-groq-decode"],
                               "topology.instances": [2, 1]}
    data["sweep"]["zip"] = data["sweep"]["zip"][:1]
    if prices is None:
        data.pop("prices", None)
    else:
        data["prices"] = prices
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _run(tmp_path: Path, scenario: Path) -> pd.DataFrame:
    sweep = load_sweep_points(scenario, checks=(check_point,))
    with open_executor(ExecutorSpec(backend=Backend.SERIAL)) as executor:
        report = run_sweep(sweep, tmp_path / "sweep", executor=executor)
    assert report.failed == 0
    return pd.read_parquet(tmp_path / "sweep" / "results.parquet")


def test_tiny_paper_cost_runs_and_records_its_prices(tmp_path: Path) -> None:
    results = _run(tmp_path, _tiny(tmp_path, None))
    assert len(results) == 2
    book = PriceBook()
    assert (results["cost.prices.h100-sxm.usd_per_hour"] == book.usd_per_hour("h100-sxm")).all()
    rack = results.dropna(subset=["cost.prices.groqrack.usd_per_hour"])
    assert len(rack) == 1 and rack["cost.prices.groqrack.usd_per_hour"].iloc[0] == pytest.approx(
        book.usd_per_hour("groqrack"))
    assert results["energy.joules_per_output_token"].gt(0).all()


def test_scenario_prices_override_the_catalog(tmp_path: Path) -> None:
    prices = {"hardware": {"h100-sxm": 1.5}, "kwh_usd": 0.2}
    results = _run(tmp_path, _tiny(tmp_path, prices))
    assert (results["cost.prices.h100-sxm.usd_per_hour"] == 1.5).all()
    assert results["cost.prices.h100-sxm.source"].str.contains("scenario file").all()
    expected = PriceBook(kwh_usd=0.2).usd_per_hour("groqrack")
    rack = results.dropna(subset=["cost.prices.groqrack.usd_per_hour"])
    assert rack["cost.prices.groqrack.usd_per_hour"].iloc[0] == pytest.approx(expected)
    assert "$0.2/kWh" in rack["cost.prices.groqrack.source"].iloc[0]
    colocated = results[results["topology.name"] == "gpu"].iloc[0]
    assert colocated["cost.usd_per_hour"] == pytest.approx(2 * 1.5)
    summary = next((tmp_path / "sweep").rglob("summary.json"))
    assert "prices" in json.loads(summary.read_text())["cost"]


def test_unknown_hardware_in_prices_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown hardware 'h100-sxmx'"):
        load_sweep_points(_tiny(tmp_path, {"hardware": {"h100-sxmx": 1.0}}), checks=(check_point,))
