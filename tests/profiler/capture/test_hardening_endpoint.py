"""Hardening round 2 of endpoint capture (``--backend openai``) against a hostile server: a real
HTTP server on 127.0.0.1 that misbehaves in one way per test.

Before: an endless stream and a stream trickling one byte at a time hung the capture (httpx's
timeout is per read, never per answer); a gigabyte error body or one endless line was read whole
into memory; ``retry-after: inf`` was an OverflowError and ``retry-after: 1e12`` a wait of 30,000
years; a JSON list where a chunk object belongs and string token counts were tracebacks. Each is
now one error line, exit 2, no table, and the key is never printed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phasesim.cli.profiler_cmd import app
from phasesim.profiler.capture.endpoint import MAX_RETRY_AFTER_S, retry_after_s
from tests.one_line import one_error_line
from tests.profiler.openai_server import serve

pytest.importorskip("httpx")

KEY = "sk-test-HOSTILE-0a1b2c3d4e5f"
CHUNK = {"choices": [{"index": 0, "delta": {"content": " word"}, "finish_reason": None}]}


def _sse(obj: object) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


class _Hostile(BaseHTTPRequestHandler):
    behaviour = ""

    def log_message(self, *args: object) -> None:
        pass

    def _start(self, status: int = 200, **headers: str) -> None:
        self.send_response(status)
        self.send_header("content-type", "text/event-stream")
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        stop = self.server.stop  # type: ignore[attr-defined]
        try:
            match self.behaviour:
                case "endless":  # tokens forever, never a finish
                    self._start()
                    while not stop.is_set():
                        self.wfile.write(_sse(CHUNK))
                        stop.wait(0.001)
                case "trickle":  # one byte at a time, each well within a read timeout
                    self._start()
                    for byte in _sse(CHUNK) * 10_000:
                        if stop.wait(0.05):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                case "huge_body":  # an error page of 200 MB naming the key
                    self._start(400)
                    self.wfile.write(f"bad key {KEY} ".encode())
                    for _ in range(200 * 16):
                        if stop.is_set():
                            return
                        self.wfile.write(b"x" * 65536)
                case "huge_line":  # one line of 200 MB
                    self._start()
                    self.wfile.write(b"data: ")
                    for _ in range(200 * 16):
                        if stop.is_set():
                            return
                        self.wfile.write(b"x" * 65536)
                case "retry_inf" | "retry_huge" | "retry_nan":
                    value = {"retry_inf": "inf", "retry_huge": "1e12", "retry_nan": "nan"}
                    self._start(429, retry_after=value[self.behaviour])
                case "list":
                    self._start()
                    self.wfile.write(_sse([1, 2, 3]) + _sse(CHUNK) + b"data: [DONE]\n\n")
                case "string_usage":
                    self._start()
                    done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
                            "usage": {"prompt_tokens": "many", "completion_tokens": 1}}
                    self.wfile.write(_sse(CHUNK) + _sse(done) + b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


@contextmanager
def _hostile(behaviour: str) -> Iterator[str]:
    handler = type("H", (_Hostile,), {"behaviour": behaviour})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.stop = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.stop.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()


def _capture(url: str, out: Path, *extra: str):
    args = ["capture", "--backend", "openai", "--base-url", url, "--model", "m",
            "--catalog-model", "llama2-7b", "--hardware", "h100-sxm", "--prompt-lens", "64",
            "--concurrency", "1", "--repeats", "1", "--output-tokens", "4", "--timeout-s", "1",
            "--max-retries", "1", "-o", str(out), *extra]
    return CliRunner().invoke(app, args, env={"OPENAI_API_KEY": KEY})


@pytest.mark.parametrize(("behaviour", "expect", "extra"), [
    ("endless", "within --timeout-s", ()),
    ("trickle", "within --timeout-s", ()),
    ("huge_body", "HTTP 400", ()),
    ("huge_line", "longer than", ()),
    ("retry_inf", "HTTP 429", ()),
    ("retry_nan", "HTTP 429", ()),
    ("retry_huge", "--max-seconds", ("--max-seconds", "5")),
    ("list", "not an OpenAI chunk", ()),
    ("string_usage", "whole token counts", ()),
])
def test_hostile_endpoint_is_one_line_without_files_or_key(tmp_path: Path, behaviour, expect,
                                                           extra):
    out = tmp_path / "t.parquet"
    with _hostile(behaviour) as url:
        result = _capture(url, out, *extra)
    assert result.exit_code == 2, result.output
    one_error_line(result.output, expect)
    assert KEY not in result.output
    assert not out.exists()
    assert not list(tmp_path.glob("*.records.jsonl"))


@pytest.mark.parametrize(("headers", "expect"), [
    ({"retry-after": "inf"}, None),
    ({"retry-after": "-inf"}, None),
    ({"retry-after": "nan"}, None),
    ({"retry-after": "1e12"}, MAX_RETRY_AFTER_S),
    ({"retry-after": "9" * 5000}, MAX_RETRY_AFTER_S),
    ({"retry-after-ms": "250"}, 0.25),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
])
def test_retry_after_is_finite_and_capped(headers, expect):
    assert retry_after_s(headers) == expect


def test_key_given_on_the_command_line_is_never_echoed(tmp_path: Path):
    """``--api-key KEY`` (instead of an environment variable): used for auth, then nowhere in
    the table, the records, the checkpoint or the console."""
    out = tmp_path / "t.parquet"
    with serve(api_key=KEY) as server:
        args = ["capture", "--backend", "openai", "--base-url", server.url + "/v1",
                "--model", "m", "--catalog-model", "llama2-7b", "--hardware", "h100-sxm",
                "--prompt-lens", "64,128", "--concurrency", "1,2", "--repeats", "2",
                "--output-tokens", "4", "--api-key", KEY, "-o", str(out)]
        result = CliRunner().invoke(app, args, env={"OPENAI_API_KEY": ""})
        assert server.stats()["auth_ok"]
    assert result.exit_code == 0, result.output
    assert KEY not in result.output
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert out in files
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path
