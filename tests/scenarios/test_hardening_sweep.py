"""Sweep edge cases (group 7 of the hardening issue) and a disk that fills up mid-sweep (group 4).

Each bad input ends in one ``error:`` line, exit code 2, no traceback and no partial output.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phasesim.cli import app
from tests.one_line import one_error_line
from tests.scenarios.conftest import AZURE_SAMPLE

runner = CliRunner()

BASE = f"""name: t
model: llama2-7b
topology: {{name: gpu-prefill-gpu-decode}}
trace: {{path: {AZURE_SAMPLE}, max_requests: 40, rate_rps: 1.0}}
slo: {{ttft_s: 1, tpot_s: 1}}
seed: 3
"""


def _one_error_line(output: str) -> str:
    return one_error_line(output, ignore_warnings=True)


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_workers_below_one_is_refused(small_sweep: Path, tmp_path: Path, workers: str) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["sweep", str(small_sweep), "-o", str(out), "--workers", workers])
    assert result.exit_code == 2, result.output
    assert f"--workers must be >= 1, got {workers}" in _one_error_line(result.output)
    assert not out.exists()


@pytest.mark.parametrize("address", ["not a url", "tcp://", "foo://host:1", "tcp://host:port",
                                     "tcp://host:0", "tcp://host:99999", " ", "inproc://x",
                                     "ucx://1.2.3.4:5"])
def test_bad_dask_address_is_one_error_line(small_sweep: Path, tmp_path: Path,
                                            address: str) -> None:
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    result = runner.invoke(app, ["sweep", str(small_sweep), "-o", str(out), "--dask", address])
    assert result.exit_code == 2, result.output
    assert "scheduler address" in _one_error_line(result.output)
    assert not out.exists()


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    scenario = root / "s.yaml"
    scenario.write_text(BASE + "sweep:\n  grid:\n    trace.rate_rps: [1.0, 2.0]\n")
    result = runner.invoke(app, ["sweep", str(scenario), "-o", str(root / "out"), "--serial"])
    assert result.exit_code == 0, result.output
    return root / "out"


def _parquet_without_columns(path: Path) -> None:
    import pandas as pd

    pd.DataFrame({"a": [1]}).to_parquet(path)


@pytest.mark.parametrize("damage, name, expected", [
    (lambda p: p.write_bytes(p.read_bytes()[:500]), "results.parquet", "cannot read"),
    (lambda p: p.write_bytes(b""), "results.parquet", "cannot read"),
    (lambda p: p.write_text("not parquet at all"), "results.parquet", "cannot read"),
    (_parquet_without_columns, "results.parquet", "no column"),
    (lambda p: p.write_text("{"), "sweep.json", "cannot read"),
    (lambda p: p.write_text("[1, 2]"), "sweep.json", "not a sweep description"),
    (lambda p: p.write_text('{"name": "x"}'), "sweep.json", "not a sweep description"),
    (lambda p: p.write_bytes(b"\xff\xfe"), "sweep.json", "cannot read"),
    (lambda p: p.write_bytes(b"PAR1"), "points/*/requests.parquet", "cannot read"),
])
def test_report_of_a_damaged_sweep_is_one_error_line(
        finished_sweep: Path, tmp_path: Path, damage: Callable[[Path], None], name: str,
        expected: str) -> None:
    sweep = tmp_path / "sweep"
    shutil.copytree(finished_sweep, sweep)
    for path in sweep.glob(name):
        damage(path)
    out = tmp_path / "report"
    result = runner.invoke(app, ["report", str(sweep), "-o", str(out)])
    assert result.exit_code == 2, result.output
    line = _one_error_line(result.output)
    assert expected in line and name.split("/")[-1] in line
    assert not out.exists()


@pytest.mark.parametrize("axis, expected_column", [
    ("topology.gpu: [h100-sxm, tpu-v9]", "topology"),  # the check names the topology
    ("model: [llama2-7b, no-such-model]", "topology"),  # fails inside the topology's pools
    ("topology.prefill_instances: [1, -1]", "topology.pools.0.instances"),
    ("trace.rate_rps: [1.0, -2]", "trace.rate_rps"),
])
def test_a_bad_sweep_value_is_reported_at_its_own_line(
        scenario_file: Callable[[str], Path], tmp_path: Path, axis: str,
        expected_column: str) -> None:
    path = scenario_file(BASE + f"sweep:\n  grid:\n    seed: [1, 2]\n    {axis}\n")
    line_no = path.read_text().splitlines().index(f"    {axis}") + 1
    out = tmp_path / "out"
    result = runner.invoke(app, ["sweep", str(path), "-o", str(out), "--serial"])
    assert result.exit_code == 2, result.output
    line = _one_error_line(result.output)
    assert f"line {line_no}," in line, line
    assert f"column '{expected_column}'" in line and "sweep value" in line
    assert not out.exists()


def test_a_disk_that_fills_up_mid_sweep_stops_it_with_one_line(
        scenario_file: Callable[[str], Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = scenario_file(BASE + "sweep:\n  grid:\n    seed: [1, 2, 3, 4, 5]\n")
    out = tmp_path / "out"
    writes = {"n": 0}
    real = Path.write_bytes

    def fills_up(self: Path, data: bytes) -> int:  # room for sweep.json, scenario.yaml and
        writes["n"] += 1                           # two points' four result files
        if writes["n"] > 2 + 2 * 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", fills_up)
    result = runner.invoke(app, ["sweep", str(path), "-o", str(out), "--serial"])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert "cannot write: No space left on device; 2 of 5 points done" in errors[0]
    points = out / "points"
    assert all(not p.name.startswith(".") for p in points.iterdir())
    for point in points.iterdir():
        assert {"summary.json", "config.yaml"} <= {p.name for p in point.iterdir()}


def test_a_sweep_directory_holds_one_study(scenario_file: Callable[[str], Path],
                                           tmp_path: Path) -> None:
    """Group 8 for sweeps: resuming the same scenario is fine; another scenario's sweep or a
    directory of other files is refused before anything is written."""
    first = scenario_file(BASE + "sweep:\n  grid:\n    seed: [1, 2]\n", name="a.yaml")
    other = scenario_file(BASE.replace("name: t", "name: other")
                          + "sweep:\n  grid:\n    seed: [1, 2]\n", name="b.yaml")
    out = tmp_path / "out"
    assert runner.invoke(app, ["sweep", str(first), "-o", str(out), "--serial"]).exit_code == 0
    again = runner.invoke(app, ["sweep", str(first), "-o", str(out), "--serial"])
    assert again.exit_code == 0 and "0 points run, 2 skipped" in again.output
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    result = runner.invoke(app, ["sweep", str(other), "-o", str(out), "--serial"])
    assert result.exit_code == 2, result.output
    assert "holds another sweep ('t')" in _one_error_line(result.output)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["sweep", str(first), "-o", str(home), "--serial"])
    assert result.exit_code == 2 and "holds no sweep" in _one_error_line(result.output)
    assert [p.name for p in home.iterdir()] == ["notes.txt"]
