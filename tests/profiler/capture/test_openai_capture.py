"""openai backend and ``profiler fit`` against a real HTTP server on 127.0.0.1 (openai_server.py):
a continuous-batching engine with known step times. The fit recovers the times the engine
recorded serving (5 % on measured points, 10 % held out, plus the jitter of the served times: 0
on an idle machine; a loaded one wakes the engine late, and the client sees it too); 429 +
retry-after, 500, a stream cut mid-way and a server that counts prompt tokens its own way leave
nothing half-recorded; the key is never written; the table replays; an unreachable endpoint is one
line, exit 2, no files."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from phasesim.cli import app as sim_app
from phasesim.cli.profiler_cmd import app
from phasesim.profiler.capture.endpoint_fit import (
    DECODE_TERMS,
    NETWORK_ESTIMATED,
    NETWORK_SERVER_REPORTED,
    Observation,
    StepTimeParams,
    fit_terms,
    read_records,
)
from phasesim.simulator import table_schema as ts
from tests.profiler.conftest import write_small_trace
from tests.profiler.openai_server import Timing, serve

pytest.importorskip("httpx")

KEY = "sk-test-SECRET-9f8e7d6c5b4a"
# milliseconds, so a capture takes seconds; prefill's fixed part equals one batch-1 decode step
# (d0 + d1), the assumption the client-side network split rests on
TIMING = {"p0": 0.012, "p1": 45e-6, "p2": 1.5e-8, "d0": 0.009, "d1": 0.003, "d2": 3e-6}


def _capture(url: str, out: Path, *extra: str, key: str | None = KEY):
    args = ["capture", "--backend", "openai", "--base-url", url, "--model", "served-llama",
            "--catalog-model", "llama2-7b", "--hardware", "h100-sxm", "--engine", "vllm",
            "-o", str(out), *extra]
    return CliRunner().invoke(app, args, env={"OPENAI_API_KEY": key or ""})


def _meta(path: Path) -> dict:
    return json.loads(pq.read_schema(path).metadata[ts.METADATA_KEY])


def _no_key_anywhere(tmp_path: Path, *outputs: str) -> None:
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    for text in outputs:
        assert KEY not in text


def _errors_pct(params: StepTimeParams, truth: Timing, prompts, batches, contexts) -> list[float]:
    errs = [100 * abs(float(params.prefill_s(1, p)) / truth.prefill_s([p]) - 1) for p in prompts]
    errs += [100 * abs(float(params.decode_step_s(b, c)) / truth.decode_step_s([c] * b) - 1)
             for b in batches for c in contexts]
    return errs


def _served_check(params: StepTimeParams, iterations: list[dict], prompts: tuple[int, ...]
                  ) -> tuple[list[float], list[float], float]:
    """The fit's errors (%) on measured and held-out points, against what the server really
    served as its engine recorded it (not the nominal timing, which a loaded machine overruns by
    waking the engine late), and the jitter (%) of those served times.

    Measured: per prompt length of the grid (``prompts``; the capture's own calibration requests
    are left out), the shortest lone prefill (the client takes the shortest TTFT); per (batch,
    prompt length), the median decode step at its median context. Held out (prompts 256, 768,
    1536; batches 3, 4, 8 at contexts 200, 700, 1500): the nominal timing plus the median
    overrun the server recorded. Jitter: the largest relative spread of the served times of one
    point (median - least for prefill, interquartile range for decode), 0 on an idle machine; the
    client's measurements share it, so the bounds widen by it."""
    truth = Timing(**TIMING)
    prefill: dict[int, list[float]] = {}
    decode: dict[tuple[int, int], list[dict]] = {}
    for it in iterations:
        tokens = it["tokens"]
        if it["phase"] == "prefill" and len(tokens) == 1 and tokens[0] in prompts:
            prefill.setdefault(tokens[0], []).append(it["served_s"])
        near = min(prompts, key=lambda t: abs(t - np.mean(tokens)))
        if it["phase"] == "decode" and abs(near - np.mean(tokens)) < 16:  # a few tokens out
            decode.setdefault((len(tokens), near), []).append(it)
    assert sorted(prefill) == sorted(prompts) and len(decode) == 2 * len(prompts), decode.keys()
    points = []  # per phase: (fitted, served, nominal, relative spread)
    for t, times in prefill.items():
        least = min(times)
        points.append((float(params.prefill_s(1, t)), least, truth.prefill_s([t]),
                       (float(np.median(times)) - least) / least))
    prefill_points = len(points)
    for (n, _), its in decode.items():
        context = float(np.median([np.mean(it["tokens"]) for it in its]))
        p25, p50, p75 = np.percentile([it["served_s"] for it in its], [25, 50, 75])
        points.append((float(params.decode_step_s(n, context)), float(p50),
                       truth.decode_step_s([context] * n), float((p75 - p25) / p50)))
    measured = [100 * abs(fitted / served - 1) for fitted, served, _, _ in points]
    overrun_s = [float(np.median([served - nominal for _, served, nominal, _ in part]))
                 for part in (points[:prefill_points], points[prefill_points:])]
    held_out = [100 * abs(float(params.prefill_s(1, t))
                          / (truth.prefill_s([t]) + overrun_s[0]) - 1) for t in (256, 768, 1536)]
    held_out += [100 * abs(float(params.decode_step_s(b, c))
                           / (truth.decode_step_s([c] * b) + overrun_s[1]) - 1)
                 for b in (3, 4, 8) for c in (200, 700, 1500)]
    return measured, held_out, 100 * max(spread for *_, spread in points)


def test_fit_recovers_the_servers_timing_and_the_table_replays(tmp_path):
    out = tmp_path / "endpoint.parquet"
    with serve(api_key=KEY, timing=TIMING) as server:
        res = _capture(server.url + "/v1", out, "--prompt-lens", "128,384,1024",
                       "--concurrency", "1,2", "--output-tokens", "4", "--repeats", "10")
        stats = server.stats()
    assert res.exit_code == 0, res.output
    assert stats["auth_ok"]
    meta = _meta(out)
    fit = meta["fit"]
    assert fit["network_method"].startswith(NETWORK_ESTIMATED)
    params = StepTimeParams(**fit["params"])
    measured, held_out, jitter = _served_check(params, stats["iterations"], (128, 384, 1024))
    print(f"fit error vs what the server served: measured max {max(measured):.2f} %, "
          f"held out max {max(held_out):.2f} %; served jitter {jitter:.1f} %")
    assert max(measured) < 5.0 + jitter, measured
    assert max(held_out) < 10.0 + jitter, held_out
    # the report: every measured point with its error
    assert {(p["phase"], p["point"]) for p in fit["points"]} == {
        *(("prefill", f"prompt~{t} x1") for t in (128, 384, 1024)),
        *(("decode", f"prompt~{t} x{c}") for t in (128, 384, 1024) for c in (1, 2))}
    assert all(p["error_pct"] == pytest.approx(100 * (p["fitted_s"] / p["measured_s"] - 1))
               for p in fit["points"])  # against the client's own, loaded, measurements
    assert "error" in res.output and "estimated from the smallest TTFTs" in res.output
    # provenance: measured (endpoint), the URL's host, date, client versions, never the key
    host = server.url.removeprefix("http://")
    assert meta["source"] == "measured" and meta["engine"] == "vllm"  # the capture's --engine
    assert meta["provenance"].startswith(f"measured (endpoint) {host}: engine vllm")
    assert meta["capture"]["endpoint_host"] == host and meta["capture"]["date"]
    assert meta["capture"]["libraries"]["httpx"]
    # raw records beside the table; `profiler fit` refits them to the same table
    records = tmp_path / "endpoint.records.jsonl"
    header, rounds = read_records(records)
    assert len(rounds) == 3 * 2 * 10 and header["endpoint_host"] == host
    refit = tmp_path / "refit.parquet"
    res2 = CliRunner().invoke(app, ["fit", str(records), "-o", str(refit),
                                    "--report", str(tmp_path / "fit.json")])
    assert res2.exit_code == 0, res2.output
    assert pq.read_table(refit).equals(pq.read_table(out))
    assert json.loads((tmp_path / "fit.json").read_text())["params"] == fit["params"]
    # a replay runs on the table
    trace = write_small_trace(tmp_path / "trace.parquet")
    res3 = CliRunner().invoke(sim_app, ["replay", str(trace), "-t", "gpu", "--profile", str(out),
                                        "-o", str(tmp_path / "run")])
    assert res3.exit_code == 0, res3.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary
    _no_key_anywhere(tmp_path, res.output, res2.output, res3.output)


def test_server_reported_timings_are_used_when_present(tmp_path):
    out = tmp_path / "groqlike.parquet"
    with serve(timing=TIMING, report_timings=True) as server:
        res = _capture(server.url, out, "--prompt-lens", "64,1024", "--concurrency", "1,2",
                       "--output-tokens", "4", "--repeats", "1", key=None)
    assert res.exit_code == 0, res.output
    fit = _meta(out)["fit"]
    assert fit["network_method"] == NETWORK_SERVER_REPORTED
    params = StepTimeParams(**fit["params"])
    assert max(_errors_pct(params, Timing(**TIMING), (64, 1024), (), ())) < 1.0
    assert "server-reported" in res.output


def test_faults_and_miscounting_server_leave_nothing_half_recorded(tmp_path):
    out = tmp_path / "faulty.parquet"
    # requests 1-2 calibrate; 3: 429, 5: 500, 8: a stream cut halfway
    faults = {"3": "429", "5": "500", "8": "drop"}
    with serve(api_key=KEY, timing=TIMING, faults=faults, template_tokens=23,
               long_word_extra=1) as server:
        res = _capture(server.url, out, "--prompt-lens", "64,256", "--concurrency", "1,2",
                       "--output-tokens", "4", "--repeats", "1")
        stats = server.stats()
        assert res.exit_code == 0, res.output
        _, rounds = read_records(tmp_path / "faulty.records.jsonl")
        assert sorted((r["target"], r["concurrency"]) for r in rounds) == [
            (64, 1), (64, 2), (256, 1), (256, 2)]
        recorded = [q for r in rounds for q in r["requests"]]
        assert len(recorded) == 6
        # every recorded request finished whole: all its tokens, the server's own counts
        served = [c["prompt_tokens"] for c in stats["completed"]]
        for q in recorded:
            assert q["completion_tokens"] == 4 and len(q["chunk_times_s"]) == 4
            assert q["prompt_tokens"] in served
        for r in rounds:  # the real count, near the target thanks to the calibration
            for q in r["requests"]:
                assert abs(q["prompt_tokens"] - r["target"]) <= 0.15 * r["target"]
        retries = " | ".join(_meta(out)["capture"]["retries"])
        assert "HTTP 429; round retry 1 after 0.05 s" in retries  # retry-after honoured
        assert "HTTP 500" in retries and "stream" in retries
        ckpt = out.with_name(out.name + ".ckpt.jsonl").read_text().splitlines()
        assert len(ckpt) == 1 + 1 + 4  # header, calibration, four whole rounds
        # resume: only the missing rounds are sent
        before = stats["requests"]
        res2 = _capture(server.url, out, "--prompt-lens", "64,256", "--concurrency", "1,2",
                        "--output-tokens", "4", "--repeats", "2", "--resume")
        assert res2.exit_code == 0, res2.output
        assert server.stats()["requests"] == before + 6
    _no_key_anywhere(tmp_path, res.output, res2.output)


def test_max_seconds_stops_cleanly_and_resume_reuses_the_calibration(tmp_path):
    out = tmp_path / "t.parquet"
    grid = ("--prompt-lens", "64,256", "--concurrency", "1,2", "--output-tokens", "3",
            "--repeats", "1")
    with serve(timing=TIMING) as server:
        res = _capture(server.url, out, *grid, "--max-seconds", "0", key=None)
        assert res.exit_code == 2 and "no round finished" in res.output, res.output
        assert not out.exists() and server.stats()["requests"] == 2  # the calibration only
        res = _capture(server.url, out, *grid, "--resume", key=None)
        assert res.exit_code == 0, res.output
        assert server.stats()["requests"] == 2 + 6
    assert _meta(out)["capture"]["grid"]["concurrency"] == [1, 2]


def test_unreachable_endpoint_is_one_line_exit_2_and_no_files(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}/v1"
    res = _capture(url.replace("//", f"//user:{KEY}@") + f"?key={KEY}", tmp_path / "t.parquet",
                   "--prompt-lens", "64")
    assert res.exit_code == 2
    errors = [x for x in res.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "cannot reach" in errors[0] and url in errors[0], res.output
    assert KEY not in res.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("extra", "expect"), [
    (("--concurrency", "2,4"), "--concurrency"),
    (("--catalog-model", "no-such-model"), "no-such-model"),
    (("--hardware", "no-such-gpu"), "no-such-gpu"),
])
def test_bad_options_are_one_line_errors_without_files(tmp_path, extra, expect):
    res = _capture("http://127.0.0.1:9/v1", tmp_path / "t.parquet", *extra)
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error:") and expect in res.output, res.output
    assert list(tmp_path.iterdir()) == []


def test_openai_backend_needs_base_url_and_catalog_model(tmp_path):
    args = ["capture", "--backend", "openai", "--model", "m", "--hardware", "h100-sxm",
            "-o", str(tmp_path / "t.parquet")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "--base-url" in res.output
    res = CliRunner().invoke(app, [*args, "--base-url", "http://127.0.0.1:9"])
    assert res.exit_code == 2 and "--catalog-model" in res.output


def test_fit_of_a_file_that_is_not_records_is_one_line(tmp_path):
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"header": {"backend": "torch"}}\n')
    res = CliRunner().invoke(app, ["fit", str(bad), "-o", str(tmp_path / "t.parquet")])
    assert res.exit_code == 2 and res.output.startswith("error:") and "records" in res.output
    assert not (tmp_path / "t.parquet").exists()


def test_fit_leaves_out_terms_the_points_cannot_tell_apart():
    obs = [Observation(phase=ts.Phase.DECODE, sequences=1, tokens=t, seconds=0.01 + 1e-6 * t,
                       samples=1) for t in (100.0, 1000.0)]
    coef, notes = fit_terms(DECODE_TERMS, obs)
    assert coef["d1_per_seq_s"] == 0.0 and any("d1_per_seq_s" in n for n in notes)
    assert np.isclose(coef["d0_fixed_s"], 0.01) and np.isclose(coef["d2_per_kv_token_s"], 1e-6)
