"""`sim replay --tp N` and `tensor_parallel:` in a topology YAML (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from phasesim import traces
from phasesim.cli import app


def _trace(tmp_path: Path) -> Path:
    path = tmp_path / "t.parquet"
    traces.write_trace(pd.DataFrame({"request_id": np.arange(6), "arrival_s": np.arange(6) * 0.5,
                                     "prompt_tokens": np.full(6, 200),
                                     "output_tokens": np.full(6, 16)}), path)
    return path


def test_a_model_too_big_for_one_gpu_replays_with_enough_tp(tmp_path: Path):
    trace = _trace(tmp_path)
    bad = CliRunner().invoke(app, ["replay", str(trace), "-t", "gpu", "--model", "llama3-70b",
                                   "-o", str(tmp_path / "a")])
    assert bad.exit_code == 2 and "needs tensor_parallel >= 2 (--tp 2)" in bad.stderr
    assert not (tmp_path / "a").exists()
    ok = CliRunner().invoke(app, ["replay", str(trace), "-t", "gpu", "--model", "llama3-70b",
                                  "--tp", "2", "-o", str(tmp_path / "b"), "--json"])
    assert ok.exit_code == 0, ok.output
    summary = json.loads(ok.stdout)
    assert summary["completed"] == 6
    meta = json.loads((tmp_path / "b" / "meta.json").read_text())
    assert meta["replay"]["built_tables"] == {"gpu": "h100-sxm__llama3-70b__fp16__vllm__analytical__tp2"}
    assert meta["topology"]["pools"][0]["tensor_parallel"] == 2


def test_tensor_parallel_in_a_topology_yaml(tmp_path: Path):
    topo = tmp_path / "t.yaml"
    topo.write_text("pools:\n  - {name: big, role: colocated, hardware: a100-sxm-80gb,\n"
                    "     model: mixtral-8x7b, tensor_parallel: 4}\n")
    ok = CliRunner().invoke(app, ["replay", str(_trace(tmp_path)), "-t", str(topo), "-o",
                                  str(tmp_path / "o"), "--json"])
    assert ok.exit_code == 0, ok.output
    pools = json.loads(ok.stdout)["cost"]["pools"]
    assert pools[0]["usd_per_hour"] is None or pools[0]["usd_per_hour"] > 0


def test_tp_on_groq_is_an_error(tmp_path: Path):
    result = CliRunner().invoke(app, ["replay", str(_trace(tmp_path)), "-t", "groq", "--tp", "2",
                                      "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "does not apply to groqrack" in result.stderr
