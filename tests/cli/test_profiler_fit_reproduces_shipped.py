"""Issue 20, point 5: the shipped engine constants are reproducible from the README's command.
`profiler fit` on the condensed LLM-Inference-Bench copy shipped in the repo, for one pair (pooled
with its hardware's other engines, as the shipped fit is), gives the shipped constants exactly;
cross-validation changes the errors it reports, never the constants."""

from __future__ import annotations

import json

import pytest

from phasesim.profiler.calibrate.bench_data import CONDENSED_PATH
from phasesim.simulator.costs.roofline import ENGINE_CALIBRATION_PATH

pytest.importorskip("scipy")


def test_profiler_fit_on_the_condensed_copy_gives_the_shipped_constants(profiler, tmp_path):
    out = tmp_path / "cal.json"
    result = profiler("fit", CONDENSED_PATH, "-o", out, "--pairs", "gh200/vllm", "--no-cv")
    assert result.exit_code == 0, result.output
    mine = json.loads(out.read_text())["pairs"]["gh200/vllm"]
    shipped = json.loads(ENGINE_CALIBRATION_PATH.read_text())["pairs"]["gh200/vllm"]
    assert mine["constants"] == shipped["constants"]
    assert mine["rows"] == shipped["rows"] and mine["excluded_rows"] == shipped["excluded_rows"]
