"""`sim run`, `sim sweep`, `sim report` in-process: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from phasesim.cli import app
from tests.scenarios.conftest import AZURE_SAMPLE

runner = CliRunner()


def test_run_writes_replay_outputs_and_config(small_sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(small_sweep), "-o", str(out)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["config.yaml", "meta.json", "requests.parquet", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["requests"] == 120
    requests = pd.read_parquet(out / "requests.parquet")
    assert len(requests) == 120 and requests["request_id"].is_monotonic_increasing


def test_run_prints_cost_and_energy_like_replay(small_sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(small_sweep), "-o", str(out)], terminal_width=200)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    cost, energy = summary["cost"], summary["energy"]
    assert f"cost ({cost['basis']} prices): ${cost['usd_per_hour']:,.2f}/h" in result.stdout
    assert f"energy: {energy['joules'] / 3.6e6:,.3f} kWh" in result.stdout


def test_sweep_then_report(small_sweep: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "sweep", tmp_path / "report"
    result = runner.invoke(app, ["sweep", str(small_sweep), "-o", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "4 points run, 0 skipped, 0 failed" in result.output
    again = runner.invoke(app, ["sweep", str(small_sweep), "-o", str(out), "--serial"])
    assert again.exit_code == 0 and "0 points run, 4 skipped" in again.output
    result = runner.invoke(app, ["report", str(out), "-o", str(report)])
    assert result.exit_code == 0, result.output
    text = (report / "report.md").read_text()
    for png in ("cdf.png", "rate.png", "gain_goodput.png"):
        assert (report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png})" in text
    assert "gpu-prefill-gpu-decode" in text


@pytest.mark.parametrize("body, expected", [
    ("name: t\ntopology: gpu\ntrace: {path: T}\ncolour: red\n", "line 4, column 'colour': unknown key"),
    ("name: t\ntopology: gpu\ntrace: {path: T}\nseed: -1\n", "line 4, column 'seed'"),
    ("name: t\ntopology: gpu\ntrace: {path: nowhere.parquet}\n", "trace file not found"),
    ("name: t\ntopology: {name: gpu, gpu: tpu-v9}\ntrace: {path: T}\n", "unknown hardware"),
])
def test_bad_scenario_exits_2_with_one_line_and_writes_nothing(
        scenario_file: Callable[[str], Path], tmp_path: Path, body: str, expected: str) -> None:
    path = scenario_file(body.replace("path: T", f"path: {AZURE_SAMPLE}"))
    for command in ("sweep", "run"):
        out = tmp_path / f"out-{command}"
        result = runner.invoke(app, [command, str(path), "-o", str(out)])
        assert result.exit_code == 2, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert expected in lines[0] and str(path) in lines[0]
        assert not out.exists()


def test_failed_points_give_a_nonzero_exit_with_a_count(scenario_file: Callable[[str], Path],
                                                        tmp_path: Path) -> None:
    (tmp_path / "scn").mkdir()
    (tmp_path / "scn" / "broken.parquet").write_bytes(b"PAR1 not really")
    path = scenario_file(f"""
        name: fails
        topology: gpu
        trace: {{path: {AZURE_SAMPLE}, max_requests: 30}}
        sweep:
          grid: {{trace.path: [{AZURE_SAMPLE}, broken.parquet]}}
    """)
    result = runner.invoke(app, ["sweep", str(path), "-o", str(tmp_path / "o"), "--serial"])
    assert result.exit_code == 1
    assert "1 of 2 points failed" in result.output


def test_dask_backend_options_are_checked(small_sweep: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["sweep", str(small_sweep), "-o", str(tmp_path / "o"),
                                 "--dask", "local", "--serial"])
    assert result.exit_code == 2 and "choose one of" in result.output
    result = runner.invoke(app, ["sweep", str(small_sweep), "-o", str(tmp_path / "o"),
                                 "--dask-slurm", "queue"])
    assert result.exit_code == 2 and "expected key=value" in result.output
    assert not (tmp_path / "o").exists()


def test_missing_dask_extra_gives_the_install_hint(small_sweep: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    out = tmp_path / "o"
    result = runner.invoke(app, ["sweep", str(small_sweep), "-o", str(out), "--dask", "local"])
    assert result.exit_code == 2
    assert "pip install 'phasesim[dask]'" in result.output
    assert not out.exists()


def test_jobqueue_without_a_scheduler_command_fails_cleanly(small_sweep: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("dask_jobqueue")
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch/qsub here
    for option in ("--dask-slurm", "--dask-pbs"):
        out = tmp_path / option
        result = runner.invoke(app, ["sweep", str(small_sweep), "-o", str(out), option,
                                     "queue=debug,walltime=00:10:00"])
        assert result.exit_code == 2, result.output
        assert "not on PATH" in result.output and not out.exists()
