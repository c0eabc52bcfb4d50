"""Every kind of bad input: exit code 2, one line naming file, line/row and column, no output file."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from phasesim import traces

AZURE_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens"
GOOD_ROWS = ["2023-11-16 18:17:03.9799600,4808,10", "2023-11-16 18:17:04.0319600,3180,8",
             "2023-11-16 18:17:04.4799600,110,27", "2023-11-16 18:17:05.0000000,7,1"]


def azure(*rows: str) -> str:
    return "\n".join([AZURE_HEADER, *rows])


def assert_rejected(result, out: Path, *parts: str) -> str:
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert "Traceback" not in result.output
    for part in parts:
        assert part in err, f"{part!r} not in {err!r}"
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}.*")), "temporary file left behind"
    return err


CSV_CASES = [
    # name, file text, expected fragments (line, column, message)
    ("missing_column", "TIMESTAMP,ContextTokens\n2023-11-16 18:17:03.9799600,4808",
     ["line 1", "column 'GeneratedTokens'"]),
    ("misnamed_column", azure(*GOOD_ROWS).replace("ContextTokens", "context_tokens", 1),
     ["line 1", "column 'ContextTokens'"]),
    ("non_numeric", azure(GOOD_ROWS[0], "2023-11-16 18:17:04.0319600,abc,8", GOOD_ROWS[2]),
     ["line 3", "column 'ContextTokens'", "not a number"]),
    ("nan", azure(GOOD_ROWS[0], GOOD_ROWS[1], "2023-11-16 18:17:04.4799600,110,NaN"),
     ["line 4", "column 'GeneratedTokens'", "NaN"]),
    ("empty_value", azure(GOOD_ROWS[0], "2023-11-16 18:17:04.0319600,,8"),
     ["line 3", "column 'ContextTokens'", "empty value"]),
    ("zero_tokens", azure(GOOD_ROWS[0], GOOD_ROWS[1], "2023-11-16 18:17:04.4799600,0,27"),
     ["line 4", "column 'ContextTokens'", ">= 1"]),
    ("negative_tokens", azure(GOOD_ROWS[0], "2023-11-16 18:17:04.0319600,3180,-8"),
     ["line 3", "column 'GeneratedTokens'", ">= 1"]),
    ("bad_timestamp", azure(GOOD_ROWS[0], "2023-11-16 25:17:04.0319600,3180,8"),
     ["line 3", "column 'TIMESTAMP'", "bad timestamp"]),
    # impossible dates were rolled over into real ones (29 Feb 2023 -> 1 March), exit 0
    ("no_29_february", azure(GOOD_ROWS[0], "2023-02-29 18:17:04.0319600,3180,8"),
     ["line 3", "column 'TIMESTAMP'", "no such date or time", "2023-02-29"]),
    ("no_31_february", azure(GOOD_ROWS[0], GOOD_ROWS[1], "2023-02-31T00:00:00Z,3180,8"),
     ["line 4", "column 'TIMESTAMP'", "no such date or time"]),
    ("no_31_april", azure("2023-04-31 00:00:00,3180,8"), ["line 2", "column 'TIMESTAMP'"]),
    ("ragged_row", azure(GOOD_ROWS[0], GOOD_ROWS[1], "2023-11-16 18:17:04.4799600,110"),
     ["line 4", "expected 3 fields"]),
    ("vidur_negative_arrival", "arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,5,5\n-1.5,5,5",
     ["line 3", "column 'arrived_at'"]),
    ("vidur_nan_arrival", "arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,5,5\nnan,5,5",
     ["line 3", "column 'arrived_at'", "NaN"]),
    ("lengths_fraction", "num_prefill_tokens,num_decode_tokens\n12,4\n12.5,4",
     ["line 3", "column 'num_prefill_tokens'", "not an integer"]),
    ("blank_line", azure(GOOD_ROWS[0], "", GOOD_ROWS[1]), ["line 3", "blank line"]),
    ("header_only", AZURE_HEADER + "\n", ["line 2", "no data rows"]),
    ("empty_file", "", ["line 1", "empty"]),
    ("unrecognized_header", "a,b,c\n1,2,3", ["line 1", "column 'a'", "unrecognized header"]),
]


@pytest.mark.parametrize("name,text,parts", CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_bad_csv_import(cli, write_text, tmp_path, name, text, parts):
    src = write_text(f"{name}.csv", text)
    out = tmp_path / "out" / "trace.parquet"
    assert_rejected(cli("import", src, "-o", out), out, str(src), *parts)


@pytest.mark.parametrize("name,text,parts", CSV_CASES[:4], ids=[c[0] for c in CSV_CASES[:4]])
def test_bad_input_in_stats_and_transform(cli, write_text, tmp_path, name, text, parts):
    src = write_text(f"{name}.csv", text)
    out = tmp_path / "t.parquet"
    assert_rejected(cli("stats", src), out, str(src), *parts)
    assert_rejected(cli("transform", src, "-o", out, "--head", "2"), out, str(src), *parts)


def test_format_override_names_missing_column(cli, write_text, tmp_path):
    src = write_text("v.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,5,5")
    out = tmp_path / "o.parquet"
    assert_rejected(cli("import", src, "-o", out, "--format", "azure"), out, "line 1", "column 'TIMESTAMP'")


def test_unsorted_strict_is_an_error(cli, write_text, tmp_path):
    src = write_text("u.csv", azure(GOOD_ROWS[0], GOOD_ROWS[2], GOOD_ROWS[1], GOOD_ROWS[3]))
    out = tmp_path / "o.parquet"
    assert_rejected(cli("import", src, "-o", out, "--strict"), out, str(src), "line 4", "column 'TIMESTAMP'",
                    "not sorted")


def test_unsorted_is_sorted_with_a_counted_warning(cli, write_text, tmp_path):
    src = write_text("u.csv", azure(GOOD_ROWS[2], GOOD_ROWS[0], GOOD_ROWS[3], GOOD_ROWS[1]))
    out = tmp_path / "o.parquet"
    result = cli("import", src, "-o", out)
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "2 rows out of arrival order" in result.stderr
    df = traces.read_trace(out)
    assert df["prompt_tokens"].tolist() == [4808, 3180, 110, 7]
    assert df["request_id"].tolist() == [0, 1, 2, 3]
    assert df["arrival_s"].tolist() == [0.0, 0.052, 0.5, 1.02004]  # rebased on the earliest request
    meta = df.attrs["trace_meta"]
    assert meta["transforms"][-1] == {"op": "sort_by_arrival", "out_of_order_rows": 2}
    assert meta["source"]["t0"].startswith("2023-11-16T18:17:03.97996")


def test_duplicate_request_ids(cli, tmp_path):
    src = tmp_path / "dup.parquet"
    pq.write_table(pa.table({"request_id": [0, 1, 1, 2], "arrival_s": [0.0, 1.0, 2.0, 3.0],
                             "prompt_tokens": [5, 5, 5, 5], "output_tokens": [1, 1, 1, 1]}), src)
    out = tmp_path / "o.parquet"
    assert_rejected(cli("import", src, "-o", out), out, str(src), "row 3", "column 'request_id'", "duplicate")
    assert_rejected(cli("stats", src), out, "row 3", "column 'request_id'")


def test_parquet_missing_column_and_nan(cli, tmp_path):
    out = tmp_path / "o.parquet"
    src = tmp_path / "nocol.parquet"
    pq.write_table(pa.table({"request_id": [0], "arrival_s": [0.0], "prompt_tokens": [5]}), src)
    assert_rejected(cli("import", src, "-o", out), out, str(src), "column 'output_tokens'")
    src = tmp_path / "nan.parquet"
    pq.write_table(pa.table({"request_id": [0, 1], "arrival_s": [0.0, float("nan")],
                             "prompt_tokens": [5, 5], "output_tokens": [1, 1]}), src)
    assert_rejected(cli("import", src, "-o", out), out, str(src), "row 2", "column 'arrival_s'", "NaN")


JSONL_OK = '{"timestamp": 0, "input_length": 600, "output_length": 4, "hash_ids": [0, 1]}'

JSONL_CASES = [
    ("truncated", [JSONL_OK, '{"timestamp": 5, "input_length": 60'], ["line 2", "truncated or invalid JSON"]),
    ("missing_field", [JSONL_OK, '{"timestamp": 5, "output_length": 4}'], ["line 2", "column 'input_length'"]),
    ("zero_output", [JSONL_OK, "", '{"timestamp": 5, "input_length": 6, "output_length": 0}'],
     ["line 3", "column 'output_length'", ">= 1"]),
    ("non_numeric", [JSONL_OK, '{"timestamp": "soon", "input_length": 6, "output_length": 1}'],
     ["line 2", "column 'timestamp'"]),
    ("bad_hashes", [JSONL_OK, '{"timestamp": 5, "input_length": 6, "output_length": 1, "hash_ids": [1, "x"]}'],
     ["line 2", "column 'hash_ids'"]),
]


@pytest.mark.parametrize("name,lines,parts", JSONL_CASES, ids=[c[0] for c in JSONL_CASES])
def test_bad_jsonl(cli, write_text, tmp_path, name, lines, parts):
    src = write_text(f"{name}.jsonl", "\n".join(lines) + "\n")
    out = tmp_path / "o.parquet"
    assert_rejected(cli("import", src, "-o", out), out, str(src), *parts)


def test_missing_file(cli, tmp_path):
    out = tmp_path / "o.parquet"
    assert_rejected(cli("import", tmp_path / "nope.csv", "-o", out), out, "no such file")


def test_failed_import_keeps_existing_output(cli, write_text, tmp_path):
    out = tmp_path / "o.parquet"
    out.write_bytes(b"previous")
    src = write_text("bad.csv", azure(GOOD_ROWS[0], "2023-11-16 18:17:04.0319600,abc,8"))
    result = cli("import", src, "-o", out)
    assert result.exit_code == 2
    assert out.read_bytes() == b"previous"
