"""Add your hardware in 3 commands (issue 21, point 3), end to end on this CPU: capture a tiny
table with torch into a catalog directory, replay a trace on the hardware it registers, plan
with it. And an analytical table for hardware of a user file (``--hardware-file``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from phasesim import traces
from phasesim.cli import app as sim
from phasesim.cli.profiler_cmd import app as profiler
from phasesim.simulator.catalog import user
from phasesim.simulator.catalog.hardware import HARDWARE
from tests.simulator.catalog.test_user_catalog import B200

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(user.FILES_ENV, "")  # restored after: --hardware-file appends to it
    monkeypatch.delenv(user.CATALOG_ENV, raising=False)
    with user.isolated_catalog():
        yield


def _trace(tmp_path: Path) -> Path:
    df = pd.DataFrame({"request_id": range(12), "arrival_s": [0.05 * i for i in range(12)],
                       "prompt_tokens": [16, 24, 32] * 4, "output_tokens": [3, 4] * 6})
    return traces.write_trace(df, tmp_path / "t.parquet", {"source": {"kind": "test"}})


def test_capture_on_cpu_then_replay_then_plan(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("torch")
    catalog = tmp_path / "catalog"
    (catalog / "tables").mkdir(parents=True)
    monkeypatch.setenv(user.CATALOG_ENV, str(catalog))
    trace = _trace(tmp_path)
    # 1. capture (tiny: 6 points) into the catalog's tables/
    table = catalog / "tables" / "mine.parquet"
    captured = runner.invoke(profiler, [
        "capture", "--backend", "torch", "--device", "cpu", "--model", "tiny-llama",
        "--threads", "1", "--prefill-batch-sizes", "1",
        "--prompt-lens", "16,32", "--decode-batch-sizes", "1,2", "--contexts", "16,64",
        "--repeats", "2", "--warmup", "1", "-o", str(table)])
    assert captured.exit_code == 0, captured.output
    assert not any(name.startswith("cpu-") for name in HARDWARE)  # not a catalog entry before
    meta = json.loads(runner.invoke(sim, ["profiles", "show", str(table)]).stdout)["metadata"]
    hardware = meta["hardware"]
    assert hardware.startswith("cpu-")
    # 2. replay on the hardware the table registers (found in the catalog by its metadata)
    out = tmp_path / "replay"
    replay = runner.invoke(sim, ["replay", str(trace), "-t", "gpu", "--hardware", hardware,
                                 "--model", "tiny-llama", "-o", str(out),
                                 "--json"])
    assert replay.exit_code == 0, replay.output
    summary = json.loads(replay.stdout)
    assert summary["completed"] == 12 and summary["pools"][0]["hardware"] == hardware
    assert json.loads((out / "meta.json").read_text())["replay"]["pools"]["gpu"][
        "cost_table"] == "mine"
    spec = HARDWARE[hardware]
    assert spec.memory_bytes == meta["capture"]["total_memory_bytes"]
    assert spec.source("peak_flops_fp16").startswith("measured: mine.parquet")
    # 3. plan with it (a price given: user hardware has none of its own)
    plan = runner.invoke(sim, ["plan", str(trace), "--hardware", hardware, "--model",
                               "tiny-llama", "--max-devices", "2", "--tp", "1", "--attainment",
                               "0.5", "--slo-ttft", "10", "--slo-tpot", "10", "--price",
                               f"{hardware}=0.25", "-o", str(tmp_path / "plan")])
    assert plan.exit_code == 0, plan.output
    assert f"Winner: 1x {hardware} colocated" in plan.output
    assert (tmp_path / "plan" / "best.yaml").is_file()


def test_analytical_table_for_hardware_of_a_user_file(tmp_path: Path) -> None:
    hw = tmp_path / "hw.yaml"
    hw.write_text(B200)
    table = tmp_path / "b200.parquet"
    made = runner.invoke(profiler, ["--hardware-file", str(hw), "capture", "--backend",
                                    "analytical", "--hardware", "b200", "-o", str(table)])
    assert made.exit_code == 0, made.output
    out = tmp_path / "r"
    replay = runner.invoke(sim, ["--hardware-file", str(hw), "replay", str(_trace(tmp_path)),
                                 "-t", "gpu", "--hardware", "b200", "--profile", str(table),
                                 "-o", str(out), "--json"])
    assert replay.exit_code == 0, replay.output
    summary = json.loads(replay.stdout)
    assert summary["cost"]["prices"]["b200"]["source"].startswith("tco: device $40,000")


def test_a_bad_hardware_file_is_one_error_line(tmp_path: Path) -> None:
    hw = tmp_path / "hw.yaml"
    hw.write_text(B200.replace("8TB/s", "8TB/z"))
    result = runner.invoke(sim, ["--hardware-file", str(hw), "profiles", "list"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {hw}, line 6, column "
                                                   "'b200.memory_bandwidth_bytes_per_s'"), lines
