"""`--calibration C.json` (sim latency, sim replay): a user's `profiler fit` drives the pairs it
holds; a bad file is one error line, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from phasesim import traces
from phasesim.simulator.costs import roofline as analytical
from phasesim.simulator.costs.roofline import load_engine_calibration
from tests.one_line import exits_with_one_error_line

SHAPE = ["--hardware", "h100-sxm", "--model", "llama3-8b", "--input-len", "512", "--output-len",
         "128", "--batch-size", "8", "--json"]


@pytest.fixture(autouse=True)
def fresh_tables():
    analytical.analytical_cost_model.cache_clear()
    yield
    analytical.analytical_cost_model.cache_clear()


def _slower(tmp_path: Path) -> Path:
    """The shipped h100-sxm/vllm fit with every overhead doubled."""
    entry = dict(load_engine_calibration()["pairs"]["h100-sxm/vllm"])
    entry["constants"] = {k: v * 2 if k.endswith("_s") else v for k, v in entry["constants"].items()}
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"pairs": {"h100-sxm/vllm": entry}}))
    return path


def test_latency_runs_on_the_given_calibration(sim, tmp_path):
    shipped = json.loads(sim("latency", *SHAPE).stdout)
    mine = sim("latency", *SHAPE, "--calibration", _slower(tmp_path))
    assert mine.exit_code == 0, mine.output
    assert json.loads(mine.stdout)["latency_s"] > shipped["latency_s"]
    # a pair the file does not hold keeps the shipped calibration
    other = ["gh200" if a == "h100-sxm" else a for a in SHAPE]
    assert json.loads(sim("latency", *other, "--calibration", _slower(tmp_path)).stdout) == \
        json.loads(sim("latency", *other).stdout)


def test_replay_runs_on_the_given_calibration(sim, tmp_path):
    df = pd.DataFrame({"request_id": [0, 1], "arrival_s": [0.0, 0.5], "prompt_tokens": [300, 900],
                       "output_tokens": [20, 40]})
    trace = traces.write_trace(df, tmp_path / "t.parquet", {"source": {"kind": "test"}})
    a = sim("replay", trace, "-t", "gpu", "-o", tmp_path / "a")
    b = sim("replay", trace, "-t", "gpu", "-o", tmp_path / "b", "--calibration", _slower(tmp_path))
    assert a.exit_code == 0 and b.exit_code == 0, b.output
    e2e = [pd.read_parquet(tmp_path / d / "requests.parquet")["finish_s"].max() for d in "ab"]
    assert e2e[1] > e2e[0]


@pytest.mark.parametrize(("text", "expect"), [
    ("{", "not JSON"),
    ('{"x": 1}', "no 'pairs' object"),
    ('{"pairs": {"h100-sxm/vllm": {"constants": {"speed": 3}}}}', "constants must be the roofline's"),
    ('{"pairs": {"h100-sxm/vllm": {"constants": {"pass_overhead_s": -1}}}}', "numbers >= 0"),
])
def test_a_bad_calibration_file_is_one_error_line(sim, tmp_path, text, expect):
    path = tmp_path / "bad.json"
    path.write_text(text)
    exits_with_one_error_line(sim("latency", *SHAPE, "--calibration", path), expect, "bad.json")
    out = tmp_path / "o"
    result = sim("replay", "traces/samples/azure_code_2023.parquet", "-t", "gpu", "-o", out,
                 "--calibration", path)
    exits_with_one_error_line(result, expect)
    assert not out.exists()
