"""The ``profiler`` command itself: module entry point, analytical backend wiring, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import typer.main
from typer.testing import CliRunner

from phasesim.cli.profiler_cmd import app, command_line
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
    again = tmp_path / "b.parquet"  # the old name of -o/--out still works
    res = CliRunner().invoke(app, ["capture", "--backend", "analytical", "--hardware", "h100-sxm",
                                   "--model", "llama2-7b", "--output", str(again)])
    assert res.exit_code == 0, res.output
    assert pq.read_table(again).equals(pq.read_table(out))
    table = pq.read_table(out)
    meta = json.loads(table.schema.metadata[ts.METADATA_KEY])
    df = table.to_pandas()
    assert meta["source"] == "analytical"
    assert set(df[ts.HARDWARE]) == {"h100-sxm"} and set(df[ts.PHASE]) == {"prefill", "decode"}


def test_analytical_without_hardware_is_one_line_error(tmp_path):
    out = tmp_path / "a.parquet"
    res = CliRunner().invoke(app, ["capture", "--backend", "analytical", "-o", str(out)])
    assert res.exit_code == 2 and "--hardware" in res.output and not out.exists()


def test_command_line_names_each_option_as_it_is_spelled():
    """The provenance string uses the options' own names (``--json``, ``--out``), never a
    parameter name (``--as-json``), and leaves the API key out."""
    group = typer.main.get_command(app)
    validate = group.commands["validate"].make_context(
        "profiler validate", ["--table", "t.parquet", "--trace", "x.parquet", "--json",
                              "--no-graphs"])
    line = command_line(validate)
    assert line.startswith("profiler validate ") and "--as-json" not in line
    assert "--json" in line.split() and "--no-graphs" in line.split()
    capture = group.commands["capture"].make_context(
        "profiler capture", ["--backend", "groq", "--output", "t.parquet", "--api-key", "secret"])
    line = command_line(capture)
    assert "--out t.parquet" in line and "--no-resume" in line and "secret" not in line
