"""simulator.results.output.write_results: the files, their bytes, and all-or-nothing writes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from phasesim.errors import InputError
from phasesim.simulator.results.output import (
    META_FILE,
    REQUESTS_FILE,
    SUMMARY_FILE,
    TIMESERIES_FILE,
    write_results,
)
from tests.simulator.small_results import SmallResult

FILES = {META_FILE, REQUESTS_FILE, SUMMARY_FILE, TIMESERIES_FILE}


def _result(n: int = 50) -> SmallResult:
    rng = np.random.default_rng(7)
    requests = pd.DataFrame({
        "request_id": np.arange(n, dtype=np.int64),
        "status": ["completed" if i % 5 else "rejected" for i in range(n)],
        "reason": ["" if i % 5 else "prompt exceeds context" for i in range(n)],
        "ttft_s": rng.random(n),
        "tpot_s": np.where(np.arange(n) % 7 == 0, np.nan, rng.random(n)),
    }, index=np.arange(n)[::-1])  # a non-trivial index that must not be written
    timeseries = pd.DataFrame({"time_s": np.linspace(0, 1, 2 * n), "entity": "instance",
                               "queue_len": np.arange(2 * n, dtype=np.int64)})
    summary = {"requests": n, "ttft_s": {"mean": float(requests.ttft_s.mean()), "p99": None},
               "duration_s": 1.25}
    meta = {"seed": 3, "topology": {"name": "gpu", "pools": [{"instances": np.int64(2)}]},
            "nan_becomes": float("nan")}
    return SmallResult(requests, timeseries, summary, meta)


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


def test_writes_four_files_that_round_trip(tmp_path: Path) -> None:
    trace = tmp_path / "trace.parquet"
    trace.write_bytes(b"not really a trace, but it has bytes")
    result = _result()
    paths = write_results(result, tmp_path / "out", trace_path=trace,
                          extra_meta={"rate_scale": 2.0})
    assert set(paths) == FILES
    assert {p.name for p in (tmp_path / "out").iterdir()} == FILES  # no stray temp files
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    (tmp_path / "plain").mkdir()
    assert (tmp_path / "out").stat().st_mode == (tmp_path / "plain").stat().st_mode

    back = pq.read_table(paths[REQUESTS_FILE]).to_pandas()
    assert list(back.columns) == list(result.requests.columns)  # no __index_level_0__
    pd.testing.assert_frame_equal(back, result.requests.reset_index(drop=True))

    text = paths[SUMMARY_FILE].read_text()
    assert text.endswith("}\n") and text == json.dumps(json.loads(text), sort_keys=True,
                                                      indent=2) + "\n"
    meta = json.loads(paths[META_FILE].read_text())
    assert meta["trace"] == {"path": str(trace), "bytes": trace.stat().st_size,
                             "sha256": hashlib.sha256(trace.read_bytes()).hexdigest()}
    assert meta["seed"] == 3 and meta["rate_scale"] == 2.0 and meta["nan_becomes"] is None
    assert meta["topology"]["pools"][0]["instances"] == 2
    assert "phasesim_version" in meta


def test_same_result_gives_identical_bytes_in_another_process(tmp_path: Path) -> None:
    write_results(_result(), tmp_path / "a")
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_output import _result
        from phasesim.simulator.results.output import write_results
        write_results(_result(), {str(tmp_path / "b")!r})
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")


def test_failure_while_serialising_leaves_nothing(tmp_path: Path) -> None:
    result = _result()
    result.summary["bad"] = object()  # not JSON
    with pytest.raises(TypeError):
        write_results(result, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_an_existing_directory_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_results(_result(10), out)
    before = _digests(out)
    broken = _result(20)
    broken.requests["ttft_s"] = [1.0, "x"] * 10  # mixed types: pyarrow refuses
    with pytest.raises(Exception):
        write_results(broken, out)
    assert _digests(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_rewrite_refuses_a_directory_with_files_phasesim_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="did not write"):
        write_results(_result(10), out)
    assert {p.name for p in out.iterdir()} == {"notes.txt"}
    (out / "notes.txt").unlink()
    write_results(_result(10), out)
    write_results(_result(30), out)
    assert {p.name for p in out.iterdir()} == FILES
    assert len(pq.read_table(out / REQUESTS_FILE)) == 30


def test_output_path_that_is_a_file_is_an_input_error(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        write_results(_result(), target)
    assert target.read_text() == "x"
