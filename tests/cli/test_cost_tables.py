"""Each pool's cost table is chosen for its engine: a shipped table of that engine, else an
analytical one built for it, with one ``warning:`` line per uncalibrated (hardware, engine)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from phasesim import traces
from phasesim.cli.cost_tables import UncalibratedWarnings, pool_cost_models
from phasesim.simulator.costs.resolve import resolve_table
from phasesim.simulator.costs.shipped import TABLES_DIR
from phasesim.simulator.topology import builtin_topology

MEASURED = "h100-sxm__llama2-7b__fp16__torch__measured"



@pytest.fixture
def trace(tmp_path: Path) -> Path:
    df = pd.DataFrame({"request_id": [0, 1, 2], "arrival_s": [0.0, 0.1, 0.2],
                       "prompt_tokens": [100, 200, 300], "output_tokens": [5, 1, 9]})
    return traces.write_trace(df, tmp_path / "trace.parquet", {"source": {"kind": "test"}})


def test_every_pool_is_resolved(fresh_tables) -> None:
    tables = pool_cost_models(builtin_topology("gpu-prefill-groq-decode"))
    assert {p: (r.engine, r.built) for p, r in tables.items()} == {
        "prefill": ("vllm", False), "decode": ("groq", False)}  # both shipped
    built = pool_cost_models(builtin_topology("gpu-prefill-groq-decode").model_copy(update={
        "pools": tuple(p.model_copy(update={"model": "llama3-8b"}) if p.name == "prefill" else p
                       for p in builtin_topology("gpu-prefill-groq-decode").pools)}))
    assert (built["prefill"].engine, built["prefill"].built) == ("vllm", True)


def test_warnings_once_per_hardware_and_engine(fresh_tables) -> None:
    printed: list[str] = []
    warnings = UncalibratedWarnings(emit=printed.append)
    for _ in range(3):
        warnings.note(resolve_table(hardware="h200", model="llama2-7b"))
    warnings.note(resolve_table(hardware="groqrack", model="llama2-7b"))  # calibrated
    assert printed == []  # nothing before the command's work is done
    warnings.flush()
    assert len(printed) == 1
    assert printed[0].startswith("warning: h200 with vllm is uncalibrated: no measurements")


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def test_replay_warns_once_for_two_uncalibrated_pools(sim, trace: Path, tmp_path: Path,
                                                      fresh_tables) -> None:
    result = sim("replay", trace, "-t", "gpu-prefill-gpu-decode", "--hardware", "h200", "-o",
                 tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert _warnings(result.stderr) == [
        line for line in _warnings(result.stderr) if "h200 with vllm" in line]
    assert len(_warnings(result.stderr)) == 1


def test_replay_does_not_warn_for_calibrated_pairs(sim, trace: Path, tmp_path: Path,
                                                   h100_vllm_calibrated) -> None:
    result = sim("replay", trace, "-t", "gpu-prefill-groq-decode", "-o", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert _warnings(result.stderr) == []


def _meta(out: Path) -> dict[str, Any]:
    return json.loads((out / "meta.json").read_text())


def test_explicit_default_engine_changes_nothing(sim, trace: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "default", tmp_path / "vllm"
    assert sim("replay", trace, "-t", "gpu", "-o", a).exit_code == 0
    assert sim("replay", trace, "-t", "gpu", "-o", b, "--engine", "vllm").exit_code == 0
    assert (a / "requests.parquet").read_bytes() == (b / "requests.parquet").read_bytes()
    assert (a / "summary.json").read_bytes() == (b / "summary.json").read_bytes()
    assert _meta(a)["replay"]["pools"] == {
        "gpu": {"engine": "vllm", "cost_table": "h100-sxm__llama2-7b__fp16__vllm__analytical"}}


def test_engine_option_fills_only_pools_without_one(sim, trace: Path, tmp_path: Path) -> None:
    topo = tmp_path / "t.yaml"
    topo.write_text(
        "pools:\n"
        "  - {name: p, role: prefill, hardware: h100-sxm, engine: trt-llm}\n"
        "  - {name: d, role: decode, hardware: h100-sxm}\n"
        "links:\n  - {name: kv, src: p, dst: d, bandwidth_bytes_per_s: 5.0e10}\n")
    result = sim("replay", trace, "-t", topo, "-o", tmp_path / "o", "--engine", "deepspeed-mii")
    assert result.exit_code == 0, result.output
    pools = _meta(tmp_path / "o")["replay"]["pools"]
    assert {p: v["engine"] for p, v in pools.items()} == {"p": "trt-llm", "d": "deepspeed-mii"}
    assert "engine trt-llm" in result.stdout and "engine deepspeed-mii" in result.stdout
    # GroqRack pools keep Groq's stack: --engine is the GPUs'
    mixed = sim("replay", trace, "-t", "gpu-prefill-groq-decode", "-o", tmp_path / "m",
                "--engine", "trt-llm")
    assert mixed.exit_code == 0, mixed.output
    assert {p: v["engine"] for p, v in _meta(tmp_path / "m")["replay"]["pools"].items()} == {
        "prefill": "trt-llm", "decode": "groq"}
    assert _warnings(mixed.stderr) == []  # h100-sxm/trt-llm is fitted; groqrack/groq calibrated


def test_a_pool_naming_the_engine_of_its_profile_runs_it(sim, trace: Path,
                                                         tmp_path: Path) -> None:
    assert sim("replay", trace, "-t", "gpu", "-o", tmp_path / "a", "--profile",
               TABLES_DIR / f"{MEASURED}.parquet").exit_code == 0
    topo = tmp_path / "t.yaml"
    topo.write_text(f"pools:\n  - {{name: gpu, role: colocated, hardware: h100-sxm, "
                    f"profile: {TABLES_DIR / (MEASURED + '.parquet')}, engine: torch}}\n")
    assert sim("replay", trace, "-t", topo, "-o", tmp_path / "b").exit_code == 0
    a = pd.read_parquet(tmp_path / "a" / "requests.parquet")
    b = pd.read_parquet(tmp_path / "b" / "requests.parquet")
    pd.testing.assert_series_equal(a["finish_s"], b["finish_s"])  # torch schedules as vllm


def test_old_table_stems_still_resolve(sim, tmp_path: Path) -> None:
    old = "h100-sxm__llama2-7b__fp16__measured"  # resolved: tests/simulator/costs/test_resolve.py
    shown = sim("profiles", "show", old)
    assert shown.exit_code == 0 and json.loads(shown.stdout)["table"]["engine"] == "torch"
