"""Acceptance (issue 12): `sim latency --from-csv` over the shared rows of a model LEFT OUT of the
fit, run on that fold's constants, reproduces the measurements within the leave-one-model-out
error the calibration reports (simulator/tables/engine_calibration.json, docs/calibration.md)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from phasesim.profiler.calibrate.bench_data import load_bench_data
from phasesim.profiler.calibrate.engine_calibrate import usable_rows
from phasesim.simulator.costs.roofline import load_engine_calibration

INPUTS = ["hardware", "engine", "model", "tp", "input_len", "output_len", "batch_size"]


@pytest.mark.parametrize(("pair", "model"), [
    ("h100-sxm/vllm", "qwen2-7b"),  # continuous batching, TP 1-4
    ("gaudi2/deepspeed", "llama3-70b"),  # static batches, TP 2-8
    ("gh200/vllm", "opt-6.7b"),  # a multi-head-attention 7B model, like the withheld Llama-2-7B
])
def test_left_out_model_is_reproduced_within_its_reported_cv_error(sim, tmp_path, pair, model):
    entry = load_engine_calibration()["pairs"][pair]
    assert model in entry["folds"]  # the fold fitted without this model's rows
    hardware, engine = pair.split("/")
    rows, _ = usable_rows(load_bench_data())
    rows = rows[(rows["hardware"] == hardware) & (rows["engine"] == engine) & (rows["model"] == model)]
    calibration = tmp_path / "fold.json"
    calibration.write_text(json.dumps({"pairs": {pair: {"constants": entry["folds"][model]}}}))
    shapes = tmp_path / "in.csv"
    rows[INPUTS + ["latency_s"]].rename(columns={"latency_s": "measured_s"}).to_csv(shapes, index=False)
    out = tmp_path / "out.csv"
    result = sim("latency", "--from-csv", shapes, "-o", out, "--calibration", calibration)
    assert result.exit_code == 0, result.output
    assert "uncalibrated" not in result.stderr  # the fold file has constants, no intervals:
    assert result.stderr.count("warning:") == 1 and "no prediction intervals (NaN)" in result.stderr
    got = pd.read_csv(out)
    assert len(got) == len(rows) and (got["cost_table"].str.contains(f"__{engine}__analytical")).all()
    mape = float(np.mean(np.abs(got["latency_s"] / got["measured_s"] - 1)) * 100)
    reported = entry["cv_mape_by_model_pct"][model]
    assert mape == pytest.approx(reported, abs=0.06)  # the very computation the report made
    assert mape <= reported + 0.05 and reported <= 2 * entry["cv_mape_pct"]
