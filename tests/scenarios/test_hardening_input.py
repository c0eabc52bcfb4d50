"""Hardening against hostile or mistaken input: YAML alias bombs, huge or empty sweep grids.

Each case must end in one ``error:`` line naming the file and line, exit code 2, within seconds
and without building the expanded document (a "billion laughs" file would otherwise take GBs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from phasesim.cli import app
from phasesim.errors import InputError
from phasesim.safe_yaml import load_yaml
from phasesim.simulator.topology import load_topology
from tests.one_line import one_error_line
from tests.scenarios.conftest import AZURE_SAMPLE

runner = CliRunner()


def _laughs(indent: str = "") -> str:
    """Nine levels of nine aliases: 9^10 (3.5e9) strings once expanded."""
    lines = [f'{indent}a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"{indent}a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


BASE = f"""name: t
model: llama2-7b
topology: {{name: gpu, instances: 1}}
trace: {{path: {AZURE_SAMPLE}, max_requests: 50, rate_rps: 1.0}}
seed: 3
"""


def _one_error_line(output: str) -> str:
    return one_error_line(output)


@pytest.mark.parametrize("body", [
    BASE + "unknown_key:\n" + _laughs("  "),  # hidden under a key the model would reject
    BASE + _laughs(),  # at the top level
    BASE + "sweep:\n  grid:\n    seed: &s [1, 2]\n" + "  extra:\n" + _laughs("    "),
    BASE + "a: &a [1, *a]\n",  # an alias inside its own anchor
    BASE + "m: &m {x: 1}\nn: &n {<<: *m, y: *m}\n" + _laughs().replace("[", "[*m, ", 1),
])
@pytest.mark.parametrize("command", ["run", "sweep"])
def test_alias_bomb_in_scenario_is_refused_fast(tmp_path: Path, body: str, command: str) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(body, encoding="utf-8")
    out = tmp_path / "out"
    start = time.monotonic()
    result = runner.invoke(app, [command, str(path), "-o", str(out)])
    assert time.monotonic() - start < 20  # generous: the unbounded version runs out of memory
    assert result.exit_code == 2, result.output
    line = _one_error_line(result.output)
    assert str(path) in line and "line " in line
    assert not out.exists()


def test_alias_bomb_in_topology_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "topo.yaml"
    path.write_text(_laughs() + "pools: *a9\n", encoding="utf-8")
    with pytest.raises(InputError, match="expands to more than"):
        load_topology(path)


def test_alias_bomb_in_jobqueue_options_is_refused(small_sweep: Path, tmp_path: Path) -> None:
    options = tmp_path / "opts.yaml"
    options.write_text(_laughs(), encoding="utf-8")
    result = runner.invoke(app, ["sweep", str(small_sweep), "-o", str(tmp_path / "out"),
                                 "--dask-slurm", str(options)])
    assert result.exit_code == 2, result.output
    assert "expands to more than" in _one_error_line(result.output)


def test_bounded_loader_still_reads_ordinary_aliases() -> None:
    data = load_yaml("base: &b {x: 1, y: [1, 2]}\nother: {<<: *b, y: [3]}\nlist: [*b, *b]\n")
    assert data == {"base": {"x": 1, "y": [1, 2]}, "other": {"x": 1, "y": [3]},
                    "list": [{"x": 1, "y": [1, 2]}] * 2}
    with pytest.raises(yaml.YAMLError):
        load_yaml(_laughs())


def test_grid_of_a_billion_points_is_refused_before_planning(
        scenario_file: Callable[[str], Path], tmp_path: Path) -> None:
    values = ", ".join(str(i) for i in range(1, 1001))
    path = scenario_file(BASE + f"sweep:\n  grid:\n    seed: [{values}]\n"
                         f"    trace.max_requests: [{values}]\n"
                         f"    topology.instances: [{values}]\n")
    out = tmp_path / "out"
    start = time.monotonic()
    result = runner.invoke(app, ["sweep", str(path), "-o", str(out)])
    assert time.monotonic() - start < 20
    assert result.exit_code == 2, result.output
    line = _one_error_line(result.output)
    assert "1,000,000,000 points" in line and "line 6" in line and "'sweep'" in line
    assert not out.exists()


@pytest.mark.parametrize("sweep, key", [
    ("  grid:\n    trace.rate_rps: [1.0, 2.0]\n    seed: []\n", "sweep.grid.seed"),
    ("  zip:\n    seed: []\n    trace.rate_rps: []\n", "sweep.zip"),
    ("  grid: {seed: [1]}\n  full:\n    grid: {seed: []}\n", "sweep.full.grid.seed"),
])
def test_empty_axis_is_refused_with_its_line(scenario_file: Callable[[str], Path],
                                             tmp_path: Path, sweep: str, key: str) -> None:
    path = scenario_file(BASE + "sweep:\n" + sweep)
    out = tmp_path / "out"
    result = runner.invoke(app, ["sweep", str(path), "-o", str(out), "--serial"])
    assert result.exit_code == 2, result.output
    line = _one_error_line(result.output)
    assert f"column '{key}" in line and "line " in line
    assert not out.exists()
