"""Cost-table files: schema round-trip, bad tables fail with file/row/column, non-monotone warns."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from phasesim.cli import app
from phasesim.errors import InputError
from phasesim.simulator import table_schema as ts
from phasesim.simulator.costs import CostTableWarning, read_table, read_table_meta, write_table


def small_table(*, prefill_tokens=(16, 64, 256), decode_batches=(1, 4, 16)) -> tuple[pd.DataFrame, dict]:
    """A tiny affine table: prefill = 1 ms + 10 us * B * T, decode = 5 ms + 0.1 ms * B + 1 ns * B * C."""
    rows = []
    for b in (1, 2):
        for t in prefill_tokens:
            rows.append(("prefill", b, t, 1e-3 + 1e-5 * b * t))
    for b in decode_batches:
        for c in (16, 128, 1024):
            rows.append(("decode", b, c, 5e-3 + 1e-4 * b + 1e-9 * b * c))
    df = pd.DataFrame(rows, columns=[ts.PHASE, ts.BATCH_SIZE, ts.TOKENS, ts.LATENCY_S])
    df[ts.HARDWARE] = "h100-sxm"
    df[ts.MODEL] = "llama2-7b"
    df[ts.LATENCY_P10_S] = df[ts.LATENCY_S] * 0.98
    df[ts.LATENCY_P90_S] = df[ts.LATENCY_S] * 1.02
    df[ts.SAMPLES] = 5
    df[ts.DTYPE] = "fp16"
    df[ts.TENSOR_PARALLEL] = 1
    meta = {"source": "measured", "capture": {"device": "test", "date": "2026-01-01"},
            "provenance": ["hand-built in tests"]}
    return df, meta


def raw_write(df: pd.DataFrame, meta: dict | None, path) -> None:
    """Write without validation (to build bad files)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    if meta is not None:
        table = table.replace_schema_metadata({ts.METADATA_KEY: json.dumps(meta).encode()})
    pq.write_table(table, path)


def test_round_trip_keeps_rows_metadata_and_extra_columns(tmp_path):
    df, meta = small_table()
    df["client_ttft_s"] = np.arange(len(df), dtype=float)  # an extra backend column survives
    path = write_table(df.sample(frac=1.0, random_state=3), meta, tmp_path / "t.parquet")
    back, back_meta = read_table(path)
    assert back_meta["source"] == "measured"
    assert back_meta["schema_version"] == ts.SCHEMA_VERSION
    assert back_meta["provenance"] == ["hand-built in tests"]
    assert list(back.columns[: len(ts.COLUMNS)]) == list(ts.COLUMNS)
    expected = df.sort_values([ts.PHASE, ts.BATCH_SIZE, ts.TOKENS]).reset_index(drop=True)
    pd.testing.assert_series_equal(back[ts.LATENCY_S], expected[ts.LATENCY_S])
    pd.testing.assert_series_equal(back["client_ttft_s"], expected["client_ttft_s"])
    assert back[ts.BATCH_SIZE].dtype == np.int64


def test_write_is_deterministic(tmp_path):
    df, meta = small_table()
    a = write_table(df, meta, tmp_path / "a.parquet").read_bytes()
    b = write_table(df, meta, tmp_path / "b.parquet").read_bytes()
    assert a == b


def _bad(df: pd.DataFrame, col: str, row: int, value) -> pd.DataFrame:
    out = df.copy()
    if col in (ts.BATCH_SIZE, ts.TOKENS, ts.SAMPLES, ts.TENSOR_PARALLEL) and not isinstance(value, int):
        out[col] = out[col].astype(str)  # a text column, as a hand-edited CSV conversion gives
    out.loc[row - 1, col] = value
    return out


@pytest.mark.parametrize(("col", "row", "value", "words"), [
    (ts.LATENCY_S, 3, -0.5, "negative latency"),
    (ts.LATENCY_P90_S, 5, -1e-3, "negative latency"),
    (ts.LATENCY_S, 2, float("nan"), "finite"),
    (ts.BATCH_SIZE, 4, 0, ">= 1"),
    (ts.TOKENS, 6, "many", "integer"),
    (ts.PHASE, 7, "generate", "unknown phase"),
    (ts.DTYPE, 8, "fp64", "one dtype"),
])
def test_bad_cell_names_file_row_and_column(tmp_path, col, row, value, words):
    df, meta = small_table()
    path = tmp_path / "bad.parquet"
    raw_write(_bad(df, col, row, value), meta, path)
    with pytest.raises(InputError) as exc:
        read_table(path)
    msg = str(exc.value)
    assert str(path) in msg and f"row {row}" in msg and f"column '{col}'" in msg and words in msg


def test_missing_column(tmp_path):
    df, meta = small_table()
    path = tmp_path / "bad.parquet"
    raw_write(df.drop(columns=[ts.LATENCY_P10_S]), meta, path)
    with pytest.raises(InputError, match=r"bad.parquet.*column 'latency_p10_s'.*missing column"):
        read_table(path)


def test_missing_phase(tmp_path):
    df, meta = small_table()
    path = tmp_path / "bad.parquet"
    raw_write(df[df[ts.PHASE] == "prefill"], meta, path)
    with pytest.raises(InputError, match=r"column 'phase'.*no rows for phase 'decode'"):
        read_table(path)


def test_duplicate_grid_point_names_both_rows(tmp_path):
    df, meta = small_table()
    df = pd.concat([df, df.iloc[[2]]], ignore_index=True)
    path = tmp_path / "bad.parquet"
    raw_write(df, meta, path)
    with pytest.raises(InputError) as exc:
        read_table(path)
    msg = str(exc.value)
    assert f"row {len(df)}" in msg and "first at row 3" in msg and "duplicate grid point" in msg


def test_missing_or_bad_metadata(tmp_path):
    df, meta = small_table()
    raw_write(df, None, tmp_path / "nometa.parquet")
    with pytest.raises(InputError, match="missing parquet metadata"):
        read_table(tmp_path / "nometa.parquet")
    raw_write(df, dict(meta, source="guessed"), tmp_path / "src.parquet")
    with pytest.raises(InputError, match=r"column 'source'.*measured, published or analytical"):
        read_table(tmp_path / "src.parquet")
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="not a parquet file"):
        read_table(tmp_path / "junk.parquet")


def test_non_monotone_row_warns_naming_it(tmp_path):
    df, meta = small_table()
    df = df.sort_values([ts.PHASE, ts.BATCH_SIZE, ts.TOKENS]).reset_index(drop=True)
    # decode rows come first after sorting: rows 1..3 are batch 1, contexts 16, 128, 1024.
    df.loc[1, ts.LATENCY_S] = df.loc[0, ts.LATENCY_S] * 0.5
    path = tmp_path / "wobbly.parquet"
    raw_write(df, meta, path)
    with pytest.warns(CostTableWarning, match=r"wobbly.parquet: row 2: latency_s falls as tokens grows"):
        read_table(path)
    df.loc[8, ts.LATENCY_S] = df.loc[7, ts.LATENCY_S] * 0.5  # batch 16: ctx 1024 below ctx 128
    raw_write(df, meta, path)
    with pytest.warns(CostTableWarning, match=r"row 2, row 9: latency_s falls"):
        read_table(path)


def test_monotone_table_does_not_warn(tmp_path):
    df, meta = small_table()
    path = write_table(df, meta, tmp_path / "ok.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_table(path)


def test_write_rejects_bad_table_and_leaves_no_file(tmp_path):
    df, meta = small_table()
    target = tmp_path / "out.parquet"
    with pytest.raises(InputError):
        write_table(_bad(df, ts.LATENCY_S, 1, -1.0), meta, target)
    assert list(tmp_path.iterdir()) == []


def test_cli_show_bad_table_exits_2_with_one_line(tmp_path):
    df, meta = small_table()
    path = tmp_path / "bad.parquet"
    raw_write(_bad(df, ts.LATENCY_S, 3, -0.5), meta, path)
    result = CliRunner().invoke(app, ["profiles", "show", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "row 3" in lines[0]
    assert "Traceback" not in result.output


def test_written_table_names_its_engine_and_the_current_schema(tmp_path):
    df, meta = small_table()
    path = write_table(df, {**meta, "engine": "vllm", "schema_version": "1"}, tmp_path / "t.parquet")
    back_meta = read_table(path)[1]
    assert (back_meta["engine"], back_meta["schema_version"]) == ("vllm", ts.SCHEMA_VERSION)


@pytest.mark.parametrize(("source", "capture", "engine"), [
    ("measured", {"device": "test", "backend": "torch"}, "torch"),
    ("measured", {"device": "test"}, "torch"),
    ("analytical", {"device": "test", "backend": "analytical"}, "analytical"),
    ("published", {"device": "test"}, "analytical"),
    ("measured", {"device": "Groq API", "backend": "groq"}, "groq"),
    ("measured", {"backend": "openai", "engine": "sglang"}, "sglang"),
])
def test_schema_1_table_loads_with_the_old_table_engine_rule(tmp_path, source, capture, engine):
    """A table written in schema 1 (no engine key) loads: torch if measured, analytical otherwise
    (a measured capture that names its backend or engine keeps it)."""
    df, _ = small_table()
    path = tmp_path / "old.parquet"
    raw_write(df, {"schema_version": "1", "source": source, "capture": capture}, path)
    assert read_table(path)[1]["engine"] == engine
    assert read_table_meta(path)["engine"] == engine


def test_schema_2_table_without_engine_or_unknown_version_fails(tmp_path):
    df, _ = small_table()
    raw_write(df, {"schema_version": ts.SCHEMA_VERSION, "source": "measured"}, tmp_path / "a.parquet")
    with pytest.raises(InputError, match="engine"):
        read_table(tmp_path / "a.parquet")
    raw_write(df, {"schema_version": ts.SCHEMA_VERSION, "source": "measured", "engine": ""},
              tmp_path / "b.parquet")
    with pytest.raises(InputError, match="engine"):
        read_table(tmp_path / "b.parquet")
    raw_write(df, {"schema_version": "99", "source": "measured", "engine": "torch"}, tmp_path / "c.parquet")
    with pytest.raises(InputError, match="schema_version"):
        read_table(tmp_path / "c.parquet")
