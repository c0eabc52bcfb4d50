"""groq backend against a real HTTP server on 127.0.0.1 (see groq_server.py): rows equal the
server's reported timings, 429 + retry-after, 5xx, a stream dropped mid-way, resume, the API key
never written anywhere, unreachable endpoint."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from phasesim.cli.profiler_cmd import app
from phasesim.simulator import table_schema as ts
from tests.profiler.groq_server import FakeGroq, serve

pytest.importorskip("groq")

KEY = "gsk_test_SECRET_0123456789abcdef"


class JitteredFake(FakeGroq):
    """Server timings differ per request, so medians over repeats are not trivially equal."""

    def usage_for(self, body):
        u = super().usage_for(body)
        bump = 1e-4 * self.requests
        u["prompt_time"] += bump
        u["completion_time"] += 3 * bump
        u["total_time"] = u["prompt_time"] + u["completion_time"]
        return u


def _capture(url: str, out: Path, *extra: str, env_key: str | None = KEY):
    args = ["capture", "--backend", "groq", "--model", "llama-3.1-8b-instant", "--base-url", url,
            "--prompt-lens", "64,256", "--output-tokens", "8", "--repeats", "2", "-o", str(out),
            *extra]
    env = {"GROQ_API_KEY": env_key} if env_key is not None else {"GROQ_API_KEY": ""}
    return CliRunner().invoke(app, args, env=env)


def test_rows_equal_server_timings_with_429_500_and_dropped_stream(tmp_path):
    fake = JitteredFake(api_key=KEY, faults={1: "429", 3: "drop", 5: "500"})
    out = tmp_path / "groq.parquet"
    with serve(fake) as url:
        res = _capture(url, out)
    assert res.exit_code == 0, res.output
    assert fake.auth_ok
    assert fake.requests == 4 + 3  # four recorded requests, three faults retried
    assert len(fake.sent_usage) == 4  # the dropped stream never completed...
    table = pq.read_table(out)
    df = table.to_pandas()
    meta = json.loads(table.schema.metadata[ts.METADATA_KEY])
    ckpt = out.with_name(out.name + ".ckpt.jsonl").read_text().splitlines()
    assert len(ckpt) == 1 + 4  # ...and was not recorded
    # expected rows, straight from what the server sent
    by_tokens: dict[int, list[dict]] = {}
    for u in fake.sent_usage:
        by_tokens.setdefault(u["prompt_tokens"], []).append(u)
    assert len(by_tokens) == 2 and all(len(v) == 2 for v in by_tokens.values())
    for pt, us in by_tokens.items():
        pre = df[(df[ts.PHASE] == "prefill") & (df[ts.TOKENS] == pt)]
        assert len(pre) == 1
        assert pre[ts.LATENCY_S].iloc[0] == pytest.approx(np.median([u["prompt_time"] for u in us]))
        assert sorted(pre["samples_s"].iloc[0]) == pytest.approx(sorted(u["prompt_time"] for u in us))
        dec = df[(df[ts.PHASE] == "decode") & (df[ts.TOKENS] == pt + 8 // 2)]
        assert len(dec) == 1
        assert dec[ts.LATENCY_S].iloc[0] == pytest.approx(
            np.median([u["completion_time"] / u["completion_tokens"] for u in us]))
        assert pre["queue_time_s"].iloc[0] == pytest.approx(0.0125)
        assert pre["completion_tokens"].iloc[0] == 8
        assert pre["ttft_client_s"].iloc[0] > 0 and pre["e2e_client_s"].iloc[0] > 0
    assert (df[ts.BATCH_SIZE] == 1).all() and meta["source"] == "measured"
    assert meta["engine"] == "groq"
    retries = " | ".join(meta["retries"])
    assert "HTTP 429; retry 1 after 0.20 s" in retries  # retry-after honoured
    assert "HTTP 500" in retries and "stream" in retries
    # the key is nowhere: table bytes, checkpoint, output, metadata
    assert KEY not in out.read_bytes().decode("latin-1")
    assert KEY not in "\n".join(ckpt)
    assert KEY not in res.output
    assert "api_key" not in meta["capture"]["command"]


def test_resume_sends_only_the_missing_requests(tmp_path):
    out = tmp_path / "groq.parquet"
    fake = JitteredFake(api_key=KEY)
    with serve(fake) as url:
        assert _capture(url, out, "--repeats", "1").exit_code == 0
        assert fake.requests == 2
        res = _capture(url, out, "--repeats", "2", "--resume")
        assert res.exit_code == 0, res.output
        assert fake.requests == 4  # two new requests, none redone
    df = pq.read_table(out).to_pandas()
    assert (df[ts.SAMPLES] == 2).all() and len(df) == 4


def test_unreachable_endpoint_one_line_exit_2_without_key(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again on exit: nothing listens there
    out = tmp_path / "groq.parquet"
    res = _capture(f"http://127.0.0.1:{port}", out, "--api-key", KEY, env_key=None)
    assert res.exit_code == 2
    errors = [x for x in res.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "cannot reach" in errors[0]
    assert KEY not in res.output and not out.exists()
    assert list(tmp_path.iterdir()) == []  # no table, no checkpoint: nothing was finished


def test_missing_key_is_one_line_error(tmp_path):
    res = _capture("http://127.0.0.1:9", tmp_path / "g.parquet", env_key=None)
    assert res.exit_code == 2 and "GROQ_API_KEY" in res.output
