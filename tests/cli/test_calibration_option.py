"""`--calibration C.json` (sim latency, sim replay): a user's `profiler fit` drives the pairs it
holds; a bad file is one error line, and nothing is written."""

from __future__ import annotations

import json
import os
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


def _shipped_with(**raw: str) -> str:
    """The shipped h100-sxm/vllm entry as JSON text with constants replaced by raw JSON text
    (``fold_NAME``: in the llama3-8b fold)."""
    entry = load_engine_calibration()["pairs"]["h100-sxm/vllm"]
    marks = {}
    for name in raw:
        consts = entry["folds"]["llama3-8b"] if name.startswith("fold_") else entry["constants"]
        consts[name.removeprefix("fold_")] = marks.setdefault(name, f"@@{name}@@")
    doc = json.dumps({"pairs": {"h100-sxm/vllm": entry}})
    for name, mark in marks.items():
        doc = doc.replace(f'"{mark}"', raw[name])
    return doc


@pytest.mark.parametrize("special", ["dir", "/dev/zero", "fifo"])
def test_a_calibration_that_is_no_regular_file_is_one_error_line(sim, tmp_path, special):
    path = {"dir": tmp_path, "/dev/zero": Path("/dev/zero"), "fifo": tmp_path / "cal.fifo"}[special]
    if special == "fifo":
        os.mkfifo(path)  # reading it would wait for a writer forever
    exits_with_one_error_line(sim("latency", *SHAPE, "--calibration", path), str(path))
    out = tmp_path / "o"
    result = sim("replay", "traces/samples/azure_code_2023.parquet", "-t", "gpu", "-o", out,
                 "--calibration", path)
    exits_with_one_error_line(result, str(path))
    assert not out.exists()


def test_the_shipped_calibrations_pass_the_same_check():
    analytical._read_engine_calibration.cache_clear()
    assert load_engine_calibration()["pairs"]  # read through read_engine_calibration's check
    assert analytical.load_constants()["hardware"]


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
    ('{"pairs": {"h100-sxm/vllm": {"constants": {"speed": 3}}}}', "'speed' is not a roofline constant"),
    ('{"pairs": {"h100-sxm/vllm": {"constants": {"pass_overhead_s": -1}}}}', "lacks gemm_efficiency"),
    # impossible constants gave exit 0 and faster-than-physics numbers (issue 24): efficiencies
    # are finite in (0, 1], overheads finite >= 0, types exact, every constant there
    (_shipped_with(gemm_efficiency="Infinity"), "Infinity is not a JSON number"),
    (_shipped_with(gemm_efficiency="1e999"), ("constants.gemm_efficiency'", "an efficiency must be a finite")),
    (_shipped_with(memory_efficiency="1000"), ("constants.memory_efficiency'", "an efficiency must be")),
    (_shipped_with(memory_efficiency="0"), "in (0, 1], got 0"),
    (_shipped_with(kv_read_efficiency="true"), ("constants.kv_read_efficiency'", "must be a number, got true")),
    (_shipped_with(pass_overhead_s='"0.001"'), ("constants.pass_overhead_s'", "must be a number")),
    (_shipped_with(layer_overhead_s="-1e-6"), ("constants.layer_overhead_s'", "must be a finite number >= 0")),
    # issue 20's share: a fraction in [0, 1]; null only for a term the dataclass leaves unmodelled
    (_shipped_with(gqa_reread_fraction="1.5"), ("constants.gqa_reread_fraction'", "a fraction must be")),
    (_shipped_with(gqa_reread_fraction="null"), ("constants.gqa_reread_fraction'", "must be a number, got null")),
    ('{"pairs": {"h100-sxm/vllm": {"constants": {}}}}', "lacks gemm_efficiency"),
    ('{"pairs": {"h100-sxm/vllm": {"constants": null}}}', "must be an object of roofline constants"),
    ('{"pairs": {"h100-sxm/vllm": {"rows": 3}}}', "lacks 'constants'"),
    (_shipped_with(fold_gemm_efficiency="1.5"), "folds.llama3-8b.gemm_efficiency'"),
    ('{"pairs": {}, "pairs": {"h100-sxm/vllm": {}}}', 'key "pairs" appears twice'),
    ('{"pairs": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested more than 64 levels"),
    ("NaN", "NaN is not a JSON number"),
])
def test_a_bad_calibration_file_is_one_error_line(sim, tmp_path, text, expect):
    path = tmp_path / "bad.json"
    path.write_text(text)
    needles = expect if isinstance(expect, tuple) else (expect,)
    exits_with_one_error_line(sim("latency", *SHAPE, "--calibration", path), *needles, "bad.json")
    out = tmp_path / "o"
    result = sim("replay", "traces/samples/azure_code_2023.parquet", "-t", "gpu", "-o", out,
                 "--calibration", path)
    exits_with_one_error_line(result, *needles)
    assert not out.exists()
