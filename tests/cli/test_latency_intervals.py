"""`sim latency` and `sim replay` report prediction intervals (issue 20, point 4)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from phasesim.cli.latency_cmd import CSV_OUTPUTS, INTERVAL_OUTPUTS
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.costs.roofline import load_engine_calibration
from phasesim.simulator.intervals import REGIMES, LogInterval, regime_of

PAIR = "h100-sxm/vllm"


def _calibration(tmp_path: Path, *, with_intervals: bool = True) -> Path:
    """The shipped h100-sxm/vllm constants with known intervals (regime i: -0.05 - i/100 ..
    0.1 + i/100; TTFT half of that) over a GQA-only support, and a100-sxm-80gb/vllm without."""
    shipped = load_engine_calibration()["pairs"]
    entry = {"constants": shipped[PAIR]["constants"]}
    if with_intervals:
        lat = {r: {"q10_log": -0.05 - i / 100, "q90_log": 0.1 + i / 100, "n": 9, "borrowed": False}
               for i, r in enumerate(REGIMES)}
        ttft = {r: {k: (v / 2 if k.endswith("log") else v) for k, v in c.items()}
                for r, c in lat.items()}
        entry["intervals"] = {"nominal": 0.8, "latency": lat, "ttft": ttft,
                              "pooled": {"latency": {"q10_log": -0.1, "q90_log": 0.2, "n": 81},
                                         "ttft": {"q10_log": -0.1, "q90_log": 0.2, "n": 81}}}
        entry["support"] = {"attention": ["gqa"], "tp": [1, 2, 4], "batch_size": [1, 64],
                            "context_tokens": [129, 4096],
                            "params": [get_model("mistral-7b").param_count,
                                       get_model("qwen2-72b").param_count],
                            "models": ["mistral-7b", "qwen2-72b"]}
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"pairs": {
        PAIR: entry, "a100-sxm-80gb/vllm": {"constants": shipped["a100-sxm-40gb/vllm"]["constants"]}}}))
    return path


def _warnings(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("warning:")]


def test_csv_interval_columns(sim, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("hardware,engine,model,tp,input_len,output_len,batch_size\n"
                   "h100-sxm,vllm,llama3-8b,1,128,16,2\n"         # inside the support
                   "h100-sxm,vllm,llama2-7b,8,2048,128,128\n"      # outside in three dimensions
                   "h100-sxm,vllm,llama3-8b,1,128,16,2\n"         # the first again
                   "h100-sxm,vllm,llama3-8b,1,700,16,256\n"       # batch outside
                   "a100-sxm-80gb,vllm,llama3-8b,1,128,16,2\n")   # a pair without intervals
    out = tmp_path / "out.csv"
    result = sim("latency", "--from-csv", src, "-o", out, "--calibration", _calibration(tmp_path))
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out)
    assert list(df.columns[-len(CSV_OUTPUTS):]) == list(CSV_OUTPUTS)
    assert list(CSV_OUTPUTS[-6:]) == list(INTERVAL_OUTPUTS)
    entry = json.loads((tmp_path / "cal.json").read_text())["pairs"][PAIR]["intervals"]
    lat = entry["latency"][regime_of(2, 128)]
    ttft = entry["ttft"][regime_of(2, 128)]
    row = df.iloc[0]
    assert row["latency_p10_s"] == pytest.approx(row["latency_s"] * math.exp(lat["q10_log"]))
    assert row["latency_p90_s"] == pytest.approx(row["latency_s"] * math.exp(lat["q90_log"]))
    assert row["ttft_p10_s"] == pytest.approx(row["ttft_s"] * math.exp(ttft["q10_log"]))
    assert row["tpot_p90_s"] == pytest.approx(row["tpot_s"] * math.exp(lat["q90_log"]))
    wide = LogInterval.of(entry["latency"][regime_of(128, 2048)]).widened(3)  # attention, TP, batch
    assert df.iloc[1]["latency_p90_s"] == pytest.approx(df.iloc[1]["latency_s"] * math.exp(wide.hi_log))
    assert df.iloc[1]["latency_p10_s"] == pytest.approx(df.iloc[1]["latency_s"] * math.exp(wide.lo_log))
    one = LogInterval.of(entry["latency"][regime_of(256, 700)]).widened(1)
    assert df.iloc[3]["latency_p90_s"] == pytest.approx(df.iloc[3]["latency_s"] * math.exp(one.hi_log))
    assert df.iloc[4][list(INTERVAL_OUTPUTS)].isna().all()
    assert df.iloc[:4][list(INTERVAL_OUTPUTS)].notna().all().all()
    warned = _warnings(result)
    assert len(warned) == 2, result.stderr  # ONE line for the support, one for missing intervals
    support = next(w for w in warned if "support" in w)
    assert support.startswith("warning: 2 of 5 rows outside the calibration support")
    for fragment in ("attention mha (calibrated: gqa)", "TP 8 (calibrated: 1, 2, 4)",
                     "batch 128, batch 256 (calibrated: 1-64)"):
        assert fragment in support
    missing = next(w for w in warned if "no prediction intervals" in w)
    assert "a100-sxm-80gb/vllm" in missing and PAIR not in missing


def test_one_shape_json_and_text(sim, tmp_path):
    cal = _calibration(tmp_path)
    shape = ["--hardware", "h100-sxm", "--model", "llama3-8b", "--input-len", "600",
             "--output-len", "32", "--batch-size", "8", "--calibration", cal]
    result = sim("latency", *shape, "--json")
    assert result.exit_code == 0, result.output and _warnings(result) == []
    out = json.loads(result.stdout)
    q = json.loads(cal.read_text())["pairs"][PAIR]["intervals"]["latency"][regime_of(8, 600)]
    assert out["latency_p90_s"] == pytest.approx(out["latency_s"] * math.exp(q["q90_log"]))
    text = sim("latency", *shape)
    assert text.exit_code == 0 and _warnings(text) == []
    assert f"(80 % interval {out['latency_p10_s']:.6g} - {out['latency_p90_s']:.6g})" in text.stdout
    outside = sim("latency", *shape[:-2], "--tp", "8", "--calibration", cal)
    assert _warnings(outside) == [("warning: the shape outside the calibration support, prediction "
                                  f"intervals widened: {PAIR}: TP 8 (calibrated: 1, 2, 4)")]


def test_user_file_without_intervals_is_nan_and_one_warning(sim, tmp_path):
    cal = _calibration(tmp_path, with_intervals=False)
    src = tmp_path / "in.csv"
    src.write_text("hardware,model,tp,input_len,output_len,batch_size\n"
                   "h100-sxm,llama3-8b,1,128,16,2\nh100-sxm,llama3-8b,1,256,16,4\n")
    out = tmp_path / "out.csv"
    result = sim("latency", "--from-csv", src, "-o", out, "--calibration", cal)
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out)[list(INTERVAL_OUTPUTS)].isna().all().all()
    assert _warnings(result) == [(f"warning: no prediction intervals (NaN) for {PAIR} (cost table "
                                 "h100-sxm__llama3-8b__fp16__vllm__analytical__tp1 has no fitted "
                                 "intervals for this pair)")]


def test_malformed_intervals_are_one_error_and_no_file(sim, tmp_path):
    cal = _calibration(tmp_path)
    doc = json.loads(cal.read_text())
    doc["pairs"][PAIR]["intervals"]["latency"]["b1 n<=512"]["q10_log"] = "low"
    cal.write_text(json.dumps(doc))
    src = tmp_path / "in.csv"
    src.write_text("hardware,model,tp,input_len,output_len,batch_size\nh100-sxm,llama3-8b,1,128,16,2\n")
    out = tmp_path / "out.csv"
    result = sim("latency", "--from-csv", src, "-o", out, "--calibration", cal)
    assert result.exit_code == 2 and not out.exists()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "cal.json" in lines[0]
    assert "intervals.latency" in lines[0]


def test_replay_summary_records_each_pools_interval(sim, tmp_path):
    trace = tmp_path / "azure.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + "".join(
        f"2023-11-16 18:17:0{i}.0000000,{100 + i},8\n" for i in range(8)))
    cal = _calibration(tmp_path)
    out = tmp_path / "run"
    result = sim("replay", trace, "-o", out, "-t", "gpu", "--model", "llama3-8b", "--tp", "8",
                 "--calibration", cal)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    (_pool, width), = summary["step_time_intervals"].items()
    wide = LogInterval(lo_log=-0.1, hi_log=0.2).widened(1)  # TP 8 is outside
    assert width["pair"] == PAIR and width["outside"] == ["TP 8 (calibrated: 1, 2, 4)"]
    assert width["p10_rel"] == pytest.approx(math.exp(wide.lo_log), abs=1e-4)
    assert width["p90_rel"] == pytest.approx(math.exp(wide.hi_log), abs=1e-4)
    assert f"x{width['p90_rel']:g}" in result.stdout
