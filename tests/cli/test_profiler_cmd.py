"""The ``profiler`` command itself: module entry point, analytical backend wiring, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from phasesim.cli.profiler_cmd import app
from phasesim.simulator import table_schema as ts

REPO = Path(__file__).resolve().parents[2]


def test_python_dash_m_entry_point_runs():
    """The GPU script calls `python3 -m profiler.cli`: it must dispatch, not silently exit."""
    proc = subprocess.run([sys.executable, "-m", "phasesim.cli.profiler_cmd", "capture", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--max-seconds" in proc.stdout


def test_analytical_backend_writes_the_costs_table(tmp_path):
    out = tmp_path / "a.parquet"
    res = CliRunner().invoke(app, ["capture", "--backend", "analytical", "--hardware", "h100-sxm",
                                   "--model", "llama2-7b", "-o", str(out)])
    assert res.exit_code == 0, res.output
    table = pq.read_table(out)
    meta = json.loads(table.schema.metadata[ts.METADATA_KEY])
    df = table.to_pandas()
    assert meta["source"] == "analytical"
    assert set(df[ts.HARDWARE]) == {"h100-sxm"} and set(df[ts.PHASE]) == {"prefill", "decode"}


def test_analytical_without_hardware_is_one_line_error(tmp_path):
    out = tmp_path / "a.parquet"
    res = CliRunner().invoke(app, ["capture", "--backend", "analytical", "-o", str(out)])
    assert res.exit_code == 2 and "--hardware" in res.output and not out.exists()
