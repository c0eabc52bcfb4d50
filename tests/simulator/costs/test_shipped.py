"""Shipped tables: the measured H100 table is cleaned at build time from its raw capture (kept in
``simulator/tables/raw/``, never taken for a table), and the default path prints no warning while
a user's own table still gets every warning that applies."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from phasesim.cli import app
from phasesim.simulator import table_schema as ts
from phasesim.simulator.catalog import get_model
from phasesim.simulator.costs import (
    CostTableWarning,
    TableCostModel,
    list_tables,
    read_table,
    read_table_meta,
)
from phasesim.simulator.costs.resolve import resolve_table, shipped_table
from phasesim.simulator.costs.shipped import TABLES_DIR, is_shipped

REPO = Path(__file__).resolve().parents[3]
TRACE = REPO / "traces" / "samples" / "azure_code_2023.parquet"
NAME = "h100-sxm__llama2-7b__fp16__torch__measured"
CLEANED = TABLES_DIR / f"{NAME}.parquet"
RAW = TABLES_DIR / "raw" / "h100-sxm__llama2-7b__fp16__measured.raw.parquet"  # named as captured
KEY = [ts.PHASE, ts.BATCH_SIZE, ts.TOKENS]


def _clean_script():
    """tools/clean_measured_table.py (outside the wheel), loaded as a module."""
    spec = importlib.util.spec_from_file_location("clean_measured_table",
                                                  REPO / "tools" / "clean_measured_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read_raw():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CostTableWarning)
        return read_table(RAW)


def _sim(*args: str) -> subprocess.CompletedProcess:
    """The ``sim`` command in a fresh interpreter: its real stderr, warnings as users see them."""
    code = "import sys; from phasesim.cli import main; sys.argv[0] = 'sim'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], check=False, cwd=REPO,
                          capture_output=True, text=True)


# -- (a) the default path prints no warning ---------------------------------------------------
@pytest.mark.parametrize("topology", ["gpu-prefill-groq-decode", "gpu"])
def test_default_path_prints_no_warning(tmp_path, topology):
    # the README's main command; `-t gpu` also looks up decode contexts past the measured
    # table's last grid context (4032 < 4096), which a shipped table extrapolates silently
    proc = _sim("replay", str(TRACE), "--topology", topology, "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    # the one warning allowed: a default engine whose (hardware, engine) pair has no fitted step
    # times yet (phasesim.cli.cost_tables), once per pair
    lines = [line for line in proc.stderr.splitlines() if "is uncalibrated:" not in line]
    assert not any("warning" in line.lower() for line in lines), proc.stderr


def test_shipped_table_extrapolates_without_warning_and_records_it():
    model = resolve_table(hardware="h100-sxm", model="llama2-7b", engine="torch").cost_model
    assert model.name == NAME and not model.warn_beyond_grid and not model.extrapolated
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inside = model.decode_step_times_s(8, np.array([4032.0]))[0]
        beyond = model.decode_step_times_s(8, np.array([4090.0]))[0]
    assert beyond > inside and model.extrapolated


# -- (b) a user's own table still warns --------------------------------------------------------
def test_user_table_with_non_monotone_rows_warns_naming_the_row(tmp_path):
    mine = tmp_path / "mine.parquet"
    shutil.copyfile(RAW, mine)  # the raw capture, given by path, is a user's table like any other
    proc = _sim("replay", str(TRACE), "-t", "gpu", "--profile", str(mine),
                "-o", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert any(f"{mine}: row 57, row 59" in line and "latency_s falls as tokens grows (first: "
               "phase=prefill, batch_size=1, tokens=128" in line for line in lines), proc.stderr
    assert any("cost table mine: lookup beyond the grid" in line for line in lines), proc.stderr


def test_user_copy_of_a_shipped_table_warns_beyond_its_grid(tmp_path):
    mine = tmp_path / "mine.parquet"
    shutil.copyfile(CLEANED, mine)
    model = resolve_table(hardware="h100-sxm", model="llama2-7b", profile=mine).cost_model
    assert model.warn_beyond_grid
    with pytest.warns(CostTableWarning, match="cost table mine: lookup beyond the grid"):
        model.decode_step_times_s(8, np.array([4090.0]))


# -- the raw capture is never a table ----------------------------------------------------------
def test_raw_capture_is_never_listed_or_picked():
    assert RAW.is_file() and not is_shipped(RAW) and is_shipped(CLEANED)
    assert all("raw" not in info.path.relative_to(TABLES_DIR).parts[:-1] for info in list_tables())
    assert NAME in {info.name for info in list_tables()}
    assert shipped_table(hardware="h100-sxm", model="llama2-7b") == CLEANED
    result = CliRunner().invoke(app, ["profiles", "list", "--json"])
    assert result.exit_code == 0
    assert not any(".raw" in row["name"] for row in json.loads(result.stdout))


# -- (c) the cleaning script reproduces the committed table ------------------------------------
def test_cleaned_table_is_regenerated_byte_for_byte(tmp_path, capsys):
    out = _clean_script().main(RAW, tmp_path / f"{NAME}.parquet")
    assert out.read_bytes() == CLEANED.read_bytes()
    assert "11 lifted" in capsys.readouterr().out


# -- (d) monotone, and the raw table everywhere but on the recorded rows ------------------------
def test_cleaned_table_is_monotone_and_equals_raw_except_recorded_rows():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a warning within tolerance
        clean, meta = read_table(CLEANED)
    raw, raw_meta = _read_raw()
    clean = clean.sort_values(KEY).reset_index(drop=True)
    raw = raw.sort_values(KEY).reset_index(drop=True)
    assert clean[KEY].equals(raw[KEY])
    for axis, line in ((ts.TOKENS, ts.BATCH_SIZE), (ts.BATCH_SIZE, ts.TOKENS)):
        for _, grp in clean.groupby([ts.PHASE, line]):
            assert np.all(np.diff(grp.sort_values(axis)[ts.LATENCY_S].to_numpy()) >= 0)

    cleaning = meta["cleaning"]
    recorded = {(r[ts.PHASE], r[ts.BATCH_SIZE], r[ts.TOKENS]) for r in cleaning["changed"]}
    flagged = {tuple(k) for k in clean.loc[clean["cleaned"], KEY].itertuples(index=False)}
    lat_changed = clean[ts.LATENCY_S].to_numpy() != raw[ts.LATENCY_S].to_numpy()
    changed = {tuple(k) for k in clean.loc[lat_changed, KEY].itertuples(index=False)}
    assert recorded == flagged == changed and cleaning["rows_changed"] == len(recorded) == 11
    for r in cleaning["changed"]:
        assert r["latency_s"] > r["latency_s_raw"]
    delta = clean[ts.LATENCY_S] - raw[ts.LATENCY_S]
    for col in (ts.LATENCY_P10_S, ts.LATENCY_P90_S):
        np.testing.assert_allclose(clean[col] - raw[col], delta, rtol=0, atol=1e-15)
    assert (clean[ts.LATENCY_P10_S] <= clean[ts.LATENCY_S]).all()
    assert (clean[ts.LATENCY_S] <= clean[ts.LATENCY_P90_S]).all()
    same = ~clean["cleaned"].to_numpy()
    for col in raw.columns:
        if col == "samples_s":  # the raw timings, every row
            assert all(np.array_equal(a, b) for a, b in zip(clean[col], raw[col]))
        elif col in (ts.LATENCY_S, ts.LATENCY_P10_S, ts.LATENCY_P90_S):
            assert clean.loc[same, col].equals(raw.loc[same, col]), col
        else:
            assert clean[col].equals(raw[col]), col

    assert cleaning["raw_file"] == RAW.name
    assert cleaning["raw_sha256"] == hashlib.sha256(RAW.read_bytes()).hexdigest()
    assert meta["source"] == "measured"
    # the raw capture is schema 1 (engine torch by the old-table rule); the cleaned table is
    # written in the current schema, with that engine
    assert (raw_meta["schema_version"], meta["schema_version"]) == ("1", ts.SCHEMA_VERSION)
    assert raw_meta["engine"] == meta["engine"] == "torch"
    assert ({k: v for k, v in meta.items() if k not in ("cleaning", "schema_version")}
            == {k: v for k, v in raw_meta.items() if k != "schema_version"})


def test_lookups_on_the_grid_equal_the_raw_tables():
    spec = get_model("llama2-7b")
    clean = TableCostModel.from_table(*read_table(CLEANED), model=spec, validated=True)
    raw = TableCostModel.from_table(*_read_raw(), model=spec, validated=True)
    df, _ = read_table(CLEANED)
    for phase in ts.Phase:
        rows = df[df[ts.PHASE] == phase.value]
        for b, t in zip(rows[ts.BATCH_SIZE], rows[ts.TOKENS]):
            c, _ = getattr(clean, phase.value).row_times_s(int(b), np.array([float(t)]))
            r, _ = getattr(raw, phase.value).row_times_s(int(b), np.array([float(t)]))
            assert c[0] == r[0], (phase, b, t)


def test_shipped_tables_name_their_engine_and_the_raw_capture_is_torch_by_the_old_rule():
    engines = {i.name: i.engine for i in list_tables()}
    assert engines["h100-sxm__llama2-7b__fp16__torch__measured"] == "torch"
    assert {e for n, e in engines.items() if n.endswith("__analytical")} == {
        "analytical", "groq", "vllm", "deepspeed", "sambaflow"}  # the default engines, calibrated
    assert engines["groqrack__llama2-7b__fp16__groq__analytical"] == "groq"
    for name, engine in engines.items():  # the file name carries the metadata's engine
        assert name.split("__")[3] == engine, name
    raw = TABLES_DIR / "raw" / "h100-sxm__llama2-7b__fp16__measured.raw.parquet"
    stored = json.loads(pq.read_schema(raw).metadata[ts.METADATA_KEY])
    assert stored.get("schema_version") == "1" and "engine" not in stored  # kept as captured
    assert read_table_meta(raw)["engine"] == "torch"
