"""Hardening of the trace readers against hostile input: values that overflow 64-bit integers or
the simulator's int64-nanosecond clock, wall-clock timestamps outside datetime64[ns], duplicated
CSV columns, binary bytes in error lines, native reader threads on the error path, absurd
generator sizes and non-finite statistics in JSON.

Every bad input ends in one ``error:`` line naming file, line/row and column, exit code 2, no
traceback and no output file (``assert_rejected``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from phasesim.errors import MAX_MESSAGE_CHARS, InputError, one_line
from phasesim.traces import import_trace, read_trace, write_trace
from phasesim.traces.storage import validate_frame
from phasesim.units import MAX_TIME_S

from .test_bad_input import assert_rejected

AZURE = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
VIDUR = "arrived_at,num_prefill_tokens,num_decode_tokens\n"
LENGTHS = "num_prefill_tokens,num_decode_tokens\n"
MOONCAKE_ROW0 = '{"timestamp": 0, "input_length": 5, "output_length": 5, "hash_ids": [0]}\n'


def mooncake(ts: str = "1000", il: str = "10", ol: str = "20", hashes: str = "[1, 2]") -> str:
    return MOONCAKE_ROW0 + f'{{"timestamp": {ts}, "input_length": {il}, "output_length": {ol}, "hash_ids": {hashes}}}\n'


def write_parquet(path: Path, **columns: pa.Array) -> Path:
    base = {"request_id": pa.array([0, 1], pa.int64()), "arrival_s": pa.array([0.0, 1.0]),
            "prompt_tokens": pa.array([5, 5], pa.int64()), "output_tokens": pa.array([5, 5], pa.int64())}
    pq.write_table(pa.table({**base, **columns}), path)
    return path


def import_rejects(cli, path: Path, *parts: str, args: tuple[str, ...] = ()) -> str:
    out = path.parent / "out.parquet"
    return assert_rejected(cli("import", path, "-o", out, *args), out, path.name, *parts)


# --- group 1/2: the simulator's horizon (int64 nanoseconds) at the trace edge ------------------


def test_max_time_s_converts_to_int64_nanoseconds():
    assert 9.2e9 < MAX_TIME_S < 9.3e9
    assert int(MAX_TIME_S * 1e9) <= 2**63 - 1
    assert np.array([MAX_TIME_S * 1e9]).astype(np.int64)[0] > 0  # no wrap-around at the edge


HORIZON_CASES = [
    ("vidur_1e10.csv", VIDUR + "0.5,5,5\n1e10,5,5\n", ["line 3", "column 'arrived_at'", "horizon"]),
    ("vidur_1e300.csv", VIDUR + "0.5,5,5\n1e300,5,5\n", ["line 3", "column 'arrived_at'", "horizon"]),
    ("vidur_2p63.csv", VIDUR + "0.5,5,5\n9223372036854775808,5,5\n", ["line 3", "horizon"]),
    ("mooncake_1e13ms.jsonl", mooncake(ts="1e13"), ["line 2", "column 'timestamp'", "horizon"]),
    ("mooncake_int_ms.jsonl", mooncake(ts="10000000000000"), ["line 2", "column 'timestamp'", "horizon"]),
]


@pytest.mark.parametrize(("name", "text", "parts"), HORIZON_CASES, ids=[c[0] for c in HORIZON_CASES])
def test_arrivals_beyond_the_horizon_are_rejected_where_they_enter(cli, write_text, name, text, parts):
    import_rejects(cli, write_text(name, text), *parts)


@pytest.mark.parametrize("value", [1e10, 1e300, MAX_TIME_S * 1.0000001])
def test_parquet_arrival_beyond_the_horizon(cli, tmp_path, value):
    path = write_parquet(tmp_path / "far.parquet", arrival_s=pa.array([0.0, value]))
    import_rejects(cli, path, "row 2", "column 'arrival_s'", "horizon")
    with pytest.raises(InputError, match="row 2.*horizon"):
        read_trace(path)


def test_synthesized_arrivals_beyond_the_horizon(cli, write_text):
    path = write_text("lengths.csv", LENGTHS + "5,5\n6,6\n7,7\n")
    import_rejects(cli, path, "column 'arrival_s'", "horizon", args=("--rate", "1e-300"))


def test_validate_frame_checks_the_horizon():
    df = pd.DataFrame({"request_id": [0, 1], "arrival_s": [0.0, 1e10], "prompt_tokens": [5, 5],
                       "output_tokens": [5, 5]})
    with pytest.raises(InputError, match="row 2, column 'arrival_s'.*horizon"):
        validate_frame(df, path="x.parquet")
    df.loc[1, "arrival_s"] = MAX_TIME_S  # the horizon itself is fine
    validate_frame(df)


# --- group 2: Azure wall-clock timestamps outside datetime64[ns] --------------------------------


AZURE_TIME_CASES = [
    # beyond 2262-04-11 the old nanosecond arithmetic wrapped around into a wrong arrival time
    ("year_2300", "2300-01-01 00:00:00", "line 3"),
    ("year_2262_late", "2262-04-12 00:00:00", "line 3"),
    ("year_9999", "9999-12-31 23:59:59", "line 3"),
    ("year_1677_early", "1677-09-21 00:00:00", "line 3"),
    ("year_1600", "1600-01-01 00:00:00", "line 3"),
    ("year_0001", "0001-01-01 00:00:00", "line 3"),
]


@pytest.mark.parametrize(("name", "stamp", "line"), AZURE_TIME_CASES, ids=[c[0] for c in AZURE_TIME_CASES])
def test_azure_timestamp_outside_int64_nanoseconds(cli, write_text, name, stamp, line):
    path = write_text(f"{name}.csv", AZURE + f"2023-11-16 18:17:00.0000000,5,5\n{stamp},10,20\n")
    import_rejects(cli, path, line, "column 'TIMESTAMP'", "outside", "64-bit nanoseconds")


@pytest.mark.parametrize("rows", [
    ["2262-04-01 00:00:00", "2000-01-01 00:00:00", "1700-01-01 00:00:00"],  # 562 years from the first row
    ["2000-01-01 00:00:00", "2262-04-01 00:00:00", "1700-01-01 00:00:00"],  # each within reach of the first
], ids=["from_first", "between_others"])
def test_azure_span_beyond_the_horizon(cli, write_text, rows):
    path = write_text("span.csv", AZURE + "".join(f"{r},5,5\n" for r in rows))
    import_rejects(cli, path, "line 4", "column 'TIMESTAMP'", "horizon")


def test_azure_first_row_outside_int64_nanoseconds(cli, write_text):
    path = write_text("first.csv", AZURE + "2300-01-01 00:00:00,5,5\n2023-01-01 00:00:00,5,5\n")
    import_rejects(cli, path, "line 2", "column 'TIMESTAMP'", "outside")


def test_azure_bad_utc_offset(cli, write_text):
    path = write_text("tz.csv", AZURE + "2023-11-16 18:17:00.0000000,5,5\n2023-11-16 18:17:03.1+99:99,5,5\n")
    import_rejects(cli, path, "line 3", "column 'TIMESTAMP'", "bad timestamp")


@pytest.mark.parametrize("stamps", [["1677-09-21 00:12:44.000000001", "1900-01-01 00:00:00", "1950-01-01 00:00:00.5"],
                                    ["2000-01-01 00:00:00", "2262-04-11 23:47:15.999999999"]])
def test_azure_timestamps_near_the_edges_stay_exact(write_text, stamps):
    path = write_text("edges.csv", AZURE + "".join(f"{s},5,5\n" for s in stamps))
    df = import_trace(path)
    ns = np.array([s.replace(" ", "T") for s in stamps], dtype="datetime64[ns]")
    assert df["arrival_s"].tolist() == ((ns - ns[0]).astype(np.int64) / 1e9).tolist()
    assert np.datetime64(df.attrs["trace_meta"]["source"]["t0"], "ns") == ns[0]


# --- group 2: integers beyond int64 (and tokens beyond 2**53) in every format ------------------


MOONCAKE_CASES = [
    ("il_2p63", mooncake(il="9223372036854775808"), "column 'input_length'", "value too large"),
    ("il_2p64", mooncake(il="18446744073709551616"), "column 'input_length'", "value too large"),
    ("il_1e300", mooncake(il="1e300"), "column 'input_length'", "value too large"),
    ("il_400_digits", mooncake(il="9" * 400), "column 'input_length'", "value too large"),
    ("ol_1e19", mooncake(ol="1e19"), "column 'output_length'", "value too large"),
    ("il_float", mooncake(il="1.5"), "column 'input_length'", "not an integer"),
    ("il_nan", mooncake(il="NaN"), "column 'input_length'", "finite"),
    ("il_negative", mooncake(il="-5"), "column 'input_length'", ">= 1"),
    ("ts_400_digits", mooncake(ts="9" * 400), "column 'timestamp'", "value too large"),
    ("ts_infinity", mooncake(ts="-Infinity"), "column 'timestamp'", "finite"),
    ("ts_negative", mooncake(ts="-1"), "column 'timestamp'", ">= 0"),
    ("hash_2p63", mooncake(hashes="[1, 9223372036854775808]"), "column 'hash_ids'", "64-bit"),
    ("hash_2p64", mooncake(hashes="[18446744073709551616]"), "column 'hash_ids'", "64-bit"),
    ("hash_below_int64", mooncake(hashes="[-9223372036854775809]"), "column 'hash_ids'", "64-bit"),
    ("hash_float", mooncake(hashes="[1.0]"), "column 'hash_ids'", "list of integers"),
    ("int_5000_digits", mooncake(il="1" * 5000), "line 2", "invalid JSON"),
    ("deep_nesting", MOONCAKE_ROW0 + '{"timestamp": ' + "[" * 100_000 + "\n", "line 2", "invalid JSON"),
    ("duplicate_key", MOONCAKE_ROW0 + '{"timestamp": 1, "input_length": 5, "output_length": 5, "input_length": 1e300}\n',
     "line 2", "appears twice"),
]


@pytest.mark.parametrize(("name", "text", "where", "what"), MOONCAKE_CASES, ids=[c[0] for c in MOONCAKE_CASES])
def test_mooncake_numbers_out_of_range(cli, write_text, name, text, where, what):
    import_rejects(cli, write_text(f"{name}.jsonl", text), "line 2", where, what)


def test_mooncake_hash_ids_at_the_int64_edges_are_kept(write_text):
    path = write_text("edges.jsonl", mooncake(hashes=f"[{-(2**63)}, {2**63 - 1}]"))
    assert import_trace(path)["prefix_hash_ids"].iloc[1] == [-(2**63), 2**63 - 1]


CSV_NUMBER_CASES = [(fmt, header, column, value, what)
                    for fmt, header, column in [("azure", AZURE, "ContextTokens"), ("vidur", VIDUR, "num_prefill_tokens"),
                                                ("lengths", LENGTHS, "num_prefill_tokens")]
                    for value, what in [("1e300", "value too large"), ("9223372036854775808", "value too large"),
                                        ("9" * 400, "value too large"), ("1.5", "not an integer"),
                                        ("nan", "NaN"), ("inf", "not a number"), ("-5", ">= 1")]]


def _csv_row(fmt: str, prompt: str) -> str:
    return {"azure": f"2023-11-16 18:17:01,{prompt},5", "vidur": f"1.0,{prompt},5", "lengths": f"{prompt},5"}[fmt]


@pytest.mark.parametrize(("fmt", "header", "column", "value", "what"), CSV_NUMBER_CASES,
                         ids=[f"{c[0]}-{c[3][:12]}" for c in CSV_NUMBER_CASES])
def test_csv_numbers_out_of_range(cli, write_text, fmt, header, column, value, what):
    first = _csv_row(fmt, "5")
    path = write_text(f"{fmt}.csv", header + first + "\n" + _csv_row(fmt, value) + "\n")
    import_rejects(cli, path, "line 3", f"column '{column}'", what)


# --- group 2: parquet values that do not fit the canonical types ------------------------------


PARQUET_CASES = [
    ("prompt_1e300", {"prompt_tokens": pa.array([5.0, 1e300])}, "column 'prompt_tokens'", "value too large"),
    ("prompt_2p63", {"prompt_tokens": pa.array([5.0, 2.0**63])}, "column 'prompt_tokens'", "value too large"),
    ("prompt_nan", {"prompt_tokens": pa.array([5.0, float("nan")])}, "column 'prompt_tokens'", "integer"),
    ("prompt_uint64", {"prompt_tokens": pa.array([5, 2**64 - 1], pa.uint64())}, "column 'prompt_tokens'",
     "not in range"),
    ("request_id_uint64", {"request_id": pa.array([0, 2**64 - 1], pa.uint64())}, "column 'request_id'",
     "not in range"),
    ("hash_uint64", {"prefix_hash_ids": pa.array([[1], [2**64 - 1]], pa.list_(pa.uint64()))},
     "column 'prefix_hash_ids'", "not in range"),
    ("arrival_int_2p62", {"arrival_s": pa.array([0, 2**62], pa.int64())}, "column 'arrival_s'", "not in range"),
    ("arrival_nan", {"arrival_s": pa.array([0.0, float("nan")])}, "column 'arrival_s'", "NaN"),
    ("arrival_negative", {"arrival_s": pa.array([0.0, -1.0])}, "column 'arrival_s'", ">= 0"),
]


@pytest.mark.parametrize(("name", "columns", "where", "what"), PARQUET_CASES, ids=[c[0] for c in PARQUET_CASES])
def test_parquet_values_out_of_range_name_the_row(cli, tmp_path, name, columns, where, what):
    path = write_parquet(tmp_path / f"{name}.parquet", **columns)
    import_rejects(cli, path, "row 2", where, what)


# --- group 2: duplicated CSV column names -------------------------------------------------------


DUPLICATE_CASES = [
    ("azure_timestamp", "TIMESTAMP,TIMESTAMP,ContextTokens,GeneratedTokens\n2023-01-01 00:00:00,x,5,5\n",
     "TIMESTAMP"),
    ("azure_tokens", "TIMESTAMP,ContextTokens,GeneratedTokens,ContextTokens\n2023-01-01 00:00:00,5,5,7\n",
     "ContextTokens"),
    ("vidur", "arrived_at,num_prefill_tokens,num_decode_tokens,arrived_at\n0.5,5,5,9\n", "arrived_at"),
    ("lengths", "num_prefill_tokens,num_decode_tokens,num_decode_tokens\n5,5,7\n", "num_decode_tokens"),
]


@pytest.mark.parametrize(("name", "text", "column"), DUPLICATE_CASES, ids=[c[0] for c in DUPLICATE_CASES])
def test_duplicated_column_names_are_rejected(cli, write_text, name, text, column):
    import_rejects(cli, write_text(f"{name}.csv", text), "line 1", f"column '{column}'", "2 times")


def test_duplicated_unused_columns_are_fine(write_text):
    path = write_text("extra.csv", "arrived_at,num_prefill_tokens,num_decode_tokens,x,x\n0.5,5,5,1,2\n")
    assert len(import_trace(path)) == 1


# --- group 9: one printable line, whatever the input bytes ---------------------------------------


def test_one_line_escapes_control_bytes_and_numpy_reprs():
    text = one_line(f"got {np.float64('nan')!r} and {np.int64(3)!r} in \x1b[31mred\x00\ufffd\n\tend")
    assert text == "got nan and 3 in \\x1b[31mred\\x00\\ufffd end"
    assert str(InputError(f"bad {[np.float32(1.5)]}", path="a\x07.csv")) == "a\\x07.csv: bad [1.5]"
    long = one_line("where: " + "x" * 10_000 + " (the qualifier)")
    assert len(long) == MAX_MESSAGE_CHARS and " ... " in long
    assert long.startswith("where: x") and long.endswith(" (the qualifier)")


def test_error_line_from_binary_parquet_strings_is_printable(cli, tmp_path):
    path = write_parquet(tmp_path / "binary.parquet", prompt_tokens=pa.array(["5", "\x00\x1b[2J\x07"]))
    err = import_rejects(cli, path, "column 'prompt_tokens'")
    assert err.isprintable(), err


# --- group 9: native CSV reader threads on the error path --------------------------------------


def _run_import(path: Path, out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONFAULTHANDLER": ""}
    return subprocess.run([sys.executable, "-m", "phasesim", "traces", "import", str(path), "-o", str(out)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)


READER_THREAD_CASES = [
    ("ragged_binary.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n\x00\x01\x1b[31m,\xff,\xfe,\x07\n",
     "line 2: expected 3 fields, got 4"),
    ("ragged.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n" + b"2023-11-16 18:17:01,1,1\n" * 500
     + b"2023-11-16 18:17:02,1,1,9\n" + b"2023-11-16 18:17:03,1,1\n" * 500, "line 502: expected 3 fields, got 4"),
    ("invalid_utf8.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n" + b"2023-11-16 18:17:01,1,1\n" * 500
     + b"2023-11-16 18:17:02,\xff\xfe1,1\n", "line 502: malformed CSV"),
]


@pytest.mark.parametrize(("name", "data", "fragment"), READER_THREAD_CASES, ids=[c[0] for c in READER_THREAD_CASES])
def test_csv_structure_errors_exit_cleanly_in_a_real_process(tmp_path, name, data, fragment):
    """No Python callback is handed to pyarrow's native CSV threads (a thread needing the GIL
    while the interpreter exits aborted the process with exit 134 in a few percent of runs; a
    callback failing on binary text printed a traceback every time)."""
    path = tmp_path / name
    path.write_bytes(data)
    out = tmp_path / "out.parquet"
    done = _run_import(path, out)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], done.stderr
    assert lines[0].isprintable()
    assert not out.exists() and not list(tmp_path.glob(".out.parquet.*"))


# --- group 5: generator sizes -------------------------------------------------------------------


GENERATE_CASES = [
    (["--count", "10000000000000"], "column 'count'", "50,000,000"),
    (["--count", "50000001"], "column 'count'", "50,000,000"),
    (["--rate", "1e300", "--duration", "10"], "column 'duration_s'", "50,000,000"),
    (["--arrival", "onoff", "--rate", "1e12", "--on-s", "1", "--off-s", "1", "--duration", "1"],
     "column 'duration_s'", "50,000,000"),
    (["--duration", "1e12"], "column 'duration_s'", "horizon"),
    (["--rate", "1e-300", "--count", "2"], "column 'rate'", "horizon"),
]


@pytest.mark.parametrize(("args", "where", "what"), GENERATE_CASES, ids=[" ".join(c[0]) for c in GENERATE_CASES])
def test_generate_refuses_absurd_sizes_up_front(cli, tmp_path, args, where, what):
    out = tmp_path / "g.parquet"
    assert_rejected(cli("generate", "-o", out, *args), out, where, what)


# --- stats --json stays JSON --------------------------------------------------------------------


def _strict_json(text: str) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_stats_json_has_no_infinity_or_nan(cli, tmp_path):
    # arrivals closer than 1 / max float apart: the rate overflows to infinity
    tiny = write_parquet(tmp_path / "tiny.parquet", request_id=pa.array([0, 1, 2], pa.int64()),
                         arrival_s=pa.array([0.0, 5e-324, 1e-323]), prompt_tokens=pa.array([5, 5, 5], pa.int64()),
                         output_tokens=pa.array([5, 5, 5], pa.int64()))
    result = cli("stats", tiny, "--json")
    assert result.exit_code == 0, result.output
    assert _strict_json(result.stdout)["rate_rps"] is None
    single = tmp_path / "one.parquet"
    write_trace(pd.DataFrame({"request_id": [0], "arrival_s": [0.0], "prompt_tokens": [5], "output_tokens": [5]}),
                single, meta={})
    stats = _strict_json(cli("stats", single, "--json").stdout)
    assert stats["rate_rps"] is None and stats["iat_cv"] is None
