"""Importer behaviour beyond the real traces: chunking, detection, precision, streaming == in-memory."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import phasesim.traces.readers as readers
from phasesim import traces
from phasesim.errors import InputError


def azure_csv(path, stamps, prompt, output):
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    lines += [f"{s},{p},{o}" for s, p, o in zip(stamps, prompt, output, strict=True)]
    path.write_text("\n".join(lines))  # no trailing newline, like the published file
    return path


def test_fraction_digits_and_timezones(tmp_path):
    src = azure_csv(tmp_path / "a.csv",
                    ["2024-05-10 00:00:00.0000001", "2024-05-10 00:00:01", "2024-05-10T00:00:01.5+00:00",
                     "2024-05-10 01:00:02.25+01:00", "2024-05-10 00:00:03.123456789Z"],
                    [1, 2, 3, 4, 5], [1, 1, 1, 1, 1])
    df = traces.import_trace(src)
    assert df["arrival_s"].tolist() == [0.0, 0.9999999, 1.4999999, 2.2499999, 3.123456689]


@pytest.mark.parametrize("fmt", ["azure", "vidur", "lengths"])
def test_multi_chunk_stream_matches_single_chunk(tmp_path, monkeypatch, fmt):
    rng = np.random.default_rng(1)
    n = 5000
    ticks = np.cumsum(rng.integers(0, 5_000_000, size=n))
    prompt, output = rng.integers(1, 9000, size=n), rng.integers(1, 900, size=n)
    if fmt == "azure":
        stamps = np.datetime_as_string(np.datetime64("2023-11-16T18:17:03", "ns") + ticks * 100, unit="ns")
        src = azure_csv(tmp_path / "t.csv", [f"{s[:10]} {s[11:27]}" for s in stamps], prompt, output)
    else:
        frame = pd.DataFrame({"arrived_at": ticks / 1e7, "num_prefill_tokens": prompt, "num_decode_tokens": output})
        if fmt == "lengths":
            frame = frame.drop(columns="arrived_at")
        src = tmp_path / "t.csv"
        frame.to_csv(src, index=False)
    arrival = traces.Poisson(rate_rps=3.0) if fmt == "lengths" else None
    whole = traces.import_trace(src, arrival=arrival, seed=5)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 4096)  # many chunks
    chunked = traces.import_trace(src, arrival=arrival, seed=5)
    pd.testing.assert_frame_equal(whole, chunked)
    if fmt == "azure":
        assert whole["arrival_s"].to_numpy() == pytest.approx((ticks - ticks[0]) / 1e7, abs=0)
    streamed = tmp_path / "s.parquet"
    report = traces.import_to_parquet(src, streamed, arrival=arrival, seed=5)
    assert report.rows == n
    back = traces.read_trace(streamed)
    pd.testing.assert_frame_equal(back, whole)
    assert back.attrs["trace_meta"] == whole.attrs["trace_meta"]


def test_line_numbers_are_exact_across_chunks(tmp_path, monkeypatch):
    rows = [f"2023-11-16 18:17:{i // 100:02d}.{i % 100:02d}00000,{100 + i},{1 + i % 7}" for i in range(3000)]
    rows[2345] = rows[2345].replace(f",{100 + 2345},", ",x,")
    src = tmp_path / "t.csv"
    src.write_text("\n".join(["TIMESTAMP,ContextTokens,GeneratedTokens", *rows]))
    monkeypatch.setattr(readers, "CHUNK_BYTES", 2048)
    with pytest.raises(InputError) as info:
        traces.import_trace(src)
    assert info.value.line == 2345 + 2 and info.value.column == "ContextTokens"


def test_unsorted_across_chunks_streamed(tmp_path, monkeypatch):
    frame = pd.DataFrame({"arrived_at": np.arange(2000) * 0.5, "num_prefill_tokens": np.arange(1, 2001),
                          "num_decode_tokens": 3})
    frame.loc[1500, "arrived_at"] = 1.25  # moves far back
    src = tmp_path / "v.csv"
    frame.to_csv(src, index=False)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 4096)
    with pytest.warns(traces.TraceWarning, match="1 rows out of arrival order"):
        report = traces.import_to_parquet(src, tmp_path / "o.parquet")
    assert report.out_of_order_rows == 1
    df = traces.read_trace(tmp_path / "o.parquet")
    assert (np.diff(df["arrival_s"]) >= 0).all()
    assert df["prompt_tokens"].iloc[3] == 1501  # the moved request now sits at 1.25 s
    with pytest.raises(InputError) as info:
        traces.import_trace(src, strict=True)
    assert info.value.line == 1502


@pytest.mark.parametrize("header,expected", [
    ("TIMESTAMP,ContextTokens,GeneratedTokens", traces.TraceFormat.AZURE),
    ("arrived_at,num_prefill_tokens,num_decode_tokens", traces.TraceFormat.VIDUR),
    ("num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio", traces.TraceFormat.LENGTHS),
])
def test_detect_csv_formats(tmp_path, header, expected):
    src = tmp_path / "t.csv"
    src.write_text(header + "\n" + ",".join(["1"] * len(header.split(","))))
    assert traces.detect_format(src) is expected


def test_detect_jsonl_and_parquet(tmp_path):
    src = tmp_path / "t.jsonl"
    src.write_text('{"timestamp": 1, "input_length": 2, "output_length": 3}\n')
    assert traces.detect_format(src) is traces.TraceFormat.MOONCAKE
    df = traces.import_trace(src)
    assert df["arrival_s"].tolist() == [0.001] and df["prefix_hash_ids"].tolist() == [[]]
    traces.write_trace(df, tmp_path / "t.parquet")
    assert traces.detect_format(tmp_path / "t.parquet") is traces.TraceFormat.PARQUET


def test_format_override_reads_vidur_as_lengths(tmp_path):
    src = tmp_path / "v.csv"
    src.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n5.0,10,2\n9.0,20,3")
    df = traces.import_trace(src, format="lengths")
    assert df["arrival_s"].tolist() == [0.0, 0.0]
    assert df.attrs["trace_meta"]["source"]["format"] == "lengths"
    with pytest.raises(InputError, match="unknown trace format"):
        traces.import_trace(src, format="csv")


def test_parquet_import_keeps_ids_and_history(tmp_path):
    df = traces.generate(arrival=traces.Poisson(rate_rps=2.0), prompt=100, output=10, count=50, seed=1)
    df = traces.sample(df, 20, seed=3)
    traces.write_trace(df, tmp_path / "s.parquet")
    back = traces.import_trace(tmp_path / "s.parquet")
    assert back["request_id"].tolist() == df["request_id"].tolist()
    assert [t["op"] for t in back.attrs["trace_meta"]["transforms"]] == ["sample"]


def test_trailing_blank_lines_and_crlf_are_accepted(tmp_path, monkeypatch):
    body = "arrived_at,num_prefill_tokens,num_decode_tokens\r\n" + "".join(f"{i}.5,{i + 1},2\r\n" for i in range(400))
    src = tmp_path / "v.csv"
    src.write_text(body + "\r\n\r\n", newline="")
    monkeypatch.setattr(readers, "CHUNK_BYTES", 1024)  # the blank run may fall into its own chunk
    df = traces.import_trace(src)
    assert len(df) == 400 and df["prompt_tokens"].iloc[-1] == 400
    cut = body.index("\n", 3000) + 1  # a line boundary deep in the file
    src.write_text(body[:cut] + "\r\n" + body[cut:], newline="")
    with pytest.raises(InputError, match="blank line") as info:
        traces.import_trace(src)
    assert info.value.line == body[:cut].count("\n") + 1


def test_jsonl_streams_in_chunks_with_and_without_hashes(tmp_path, monkeypatch):
    lines = [{"timestamp": i, "input_length": 1000 + i, "output_length": 1 + i % 3} for i in range(50)]
    for row in lines[20:]:
        row["hash_ids"] = [row["timestamp"], 7]
    src = tmp_path / "m.jsonl"
    src.write_text("\n".join(json.dumps(row) for row in lines) + "\n\n")
    monkeypatch.setattr(readers, "JSONL_CHUNK_ROWS", 8)
    report = traces.import_to_parquet(src, tmp_path / "m.parquet")
    df = traces.read_trace(tmp_path / "m.parquet")
    assert report.rows == 50 and len(df) == 50
    assert df["prefix_hash_ids"].tolist() == [[]] * 20 + [[i, 7] for i in range(20, 50)]
    pd.testing.assert_frame_equal(df, traces.import_trace(src))
