"""A real HTTP server on 127.0.0.1 speaking the OpenAI-compatible streaming chat protocol, with a
continuous-batching engine inside that really waits.

``POST /v1/chat/completions`` (``stream: true``) answers Server-Sent Events over chunked transfer
encoding: headers at once (as vLLM's streaming response does), then one content chunk per token as
the engine produces it, a finish chunk, a usage chunk and ``data: [DONE]``.

The engine is one thread running iterations, prefill first (vLLM's default without chunked
prefill): when requests wait, one iteration prefills all of them together and gives each its
first token; otherwise one decode step gives every running sequence its next token. Iteration
times (seconds) come from :class:`Timing`, known to the test::

    prefill_s = p0 + p1 * sum(prompt tokens) + p2 * sum(prompt tokens ** 2)
    decode_step_s = d0 + d1 * batch + d2 * sum(context tokens)

Iterations are scheduled on absolute deadlines (an iteration starts when the previous one was due
to end), so the Python overhead of emitting tokens does not add up. A loaded machine still wakes
the engine late, so the engine records what each iteration really took (``iterations`` in
``/stats``: from the previous iteration's tokens, or from its start after an idle wait, to its own
tokens): the timing a client could measure, against which a fit is judged.

Tokenizer rule: ``template_tokens`` + one token per word of the user message, plus
``long_word_extra`` more per word longer than six characters. Scripted faults per request number
(1-based, counting every POST): ``"429"`` (with ``retry-after``), ``"500"``, ``"drop"`` (connection
closed halfway through the stream, before finish and usage). ``echo_key="401:basic"`` (status and
one of :data:`ECHO_FORMS`) refuses every request with a body quoting the key it was sent.
"""

from __future__ import annotations

import base64
import json
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    p0: float = 0.005
    p1: float = 20e-6
    p2: float = 5e-9
    d0: float = 0.004
    d1: float = 0.001
    d2: float = 1e-6

    def prefill_s(self, prompt_tokens: list[int]) -> float:
        return self.p0 + self.p1 * sum(prompt_tokens) + self.p2 * sum(p * p for p in prompt_tokens)

    def decode_step_s(self, contexts: list[int]) -> float:
        return self.d0 + self.d1 * len(contexts) + self.d2 * sum(contexts)


@dataclass(slots=True, kw_only=True)
class _Seq:
    prompt_tokens: int
    max_tokens: int
    generated: int = 0
    tokens: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    prompt_time_s: float = 0.0
    queue_time_s: float = 0.0
    arrived: float = 0.0


class Engine:
    """The continuous-batching loop (one thread)."""

    def __init__(self, timing: Timing) -> None:
        self.timing = timing
        self.cond = threading.Condition()
        self.waiting: deque[_Seq] = deque()
        self.running: list[_Seq] = []
        self.stop = False
        # per iteration: phase, token counts (prompts or contexts), served_s (what it took)
        self.iterations: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def submit(self, seq: _Seq) -> None:
        with self.cond:
            seq.arrived = time.perf_counter()
            self.waiting.append(seq)
            self.cond.notify()

    def close(self) -> None:
        with self.cond:
            self.stop = True
            self.cond.notify()
        self.thread.join(timeout=5)

    def _loop(self) -> None:
        due = 0.0  # when the previous iteration was due to end
        last_tokens_at: float | None = None  # when the previous iteration's tokens went out
        while True:
            with self.cond:
                while not self.waiting and not self.running and not self.stop:
                    self.cond.wait()
                    last_tokens_at = None  # idle: the next iteration is timed from its start
                if self.stop:
                    return
                prefill = list(self.waiting)
                self.waiting.clear()
                running = list(self.running)
            start = max(due, time.perf_counter())
            if prefill:
                duration = self.timing.prefill_s([s.prompt_tokens for s in prefill])
                batch = prefill
            else:
                duration = self.timing.decode_step_s([s.prompt_tokens + s.generated
                                                      for s in running])
                batch = running
            due = start + duration
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            now = time.perf_counter()
            self.iterations.append({
                "phase": "prefill" if prefill else "decode",
                "tokens": [s.prompt_tokens if prefill else s.prompt_tokens + s.generated
                           for s in batch],
                "served_s": now - (start if last_tokens_at is None else last_tokens_at)})
            last_tokens_at = now
            for seq in batch:
                if prefill:
                    seq.prompt_time_s = duration
                    seq.queue_time_s = start - seq.arrived
                seq.generated += 1
                seq.tokens.put(seq.generated)
            with self.cond:
                if prefill:
                    self.running += prefill
                self.running = [s for s in self.running if s.generated < s.max_tokens]
                for seq in batch:
                    if seq.generated >= seq.max_tokens:
                        seq.tokens.put(None)


ECHO_FORMS = ("raw", "json-slash", "json-unicode", "spaced", "url", "basic", "prefix")


def echoed_key_body(key: str, form: str) -> bytes:
    """An error body quoting ``key`` as careless servers do: as is, JSON-escaped (``\\/``, or
    ``\\u002f`` for each punctuation mark), with spaces inserted, URL-encoded, as the base64 of
    ``user:key`` (a Basic authorization echoed back), or its first 10 characters."""
    shown = {
        "raw": key,
        "json-slash": key.replace("/", "\\/"),
        "json-unicode": "".join(c if c.isalnum() else f"\\u{ord(c):04x}" for c in key),
        "spaced": " ".join(key[i:i + 3] for i in range(0, len(key), 3)),
        "url": urllib.parse.quote(key, safe=""),
        "basic": base64.b64encode(f"user:{key}".encode()).decode(),
        "prefix": key[:10] + "...",
    }[form]
    return ('{"error": {"message": "Incorrect API key provided: ' + shown
            + '", "type": "invalid_request_error"}}').encode()


class FakeOpenAI:
    def __init__(self, *, api_key: str = "", timing: Timing | None = None,
                 faults: dict[int, str] | None = None, retry_after_s: float = 0.05,
                 template_tokens: int = 9, long_word_extra: int = 0,
                 report_timings: bool = False, echo_key: str = "") -> None:
        self.api_key = api_key
        self.echo_key = echo_key  # "STATUS:FORM": refuse every request, quoting its key
        self.timing = timing or Timing()
        self.faults = dict(faults or {})
        self.retry_after_s = retry_after_s
        self.template_tokens = template_tokens
        self.long_word_extra = long_word_extra
        self.report_timings = report_timings  # Groq-style x_groq.usage timings
        self.lock = threading.Lock()
        self.requests = 0  # every POST, faults included
        self.completed: list[dict[str, Any]] = []  # usage of each finished stream
        self.auth_ok = True
        self.engine: Engine | None = None

    def count_tokens(self, text: str) -> int:
        words = text.split()
        return self.template_tokens + len(words) + self.long_word_extra * sum(
            len(w) > 6 for w in words)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def setup(self) -> None:
                super().setup()  # no Nagle: each token leaves at once, as uvicorn does
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _json(self, status: int, obj: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _raw(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _event(self, obj: dict[str, Any] | str) -> None:
                text = "data: " + (obj if isinstance(obj, str) else json.dumps(obj)) + "\n\n"
                data = text.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def do_GET(self) -> None:
                if self.path == "/stats":
                    self._json(200, fake.stats(), {})
                else:
                    self._json(404, {"error": {"message": "not found"}}, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length))
                with fake.lock:
                    fake.requests += 1
                    number = fake.requests
                    if fake.api_key and self.headers.get("authorization") != (
                            f"Bearer {fake.api_key}"):
                        fake.auth_ok = False
                fault = fake.faults.get(number, "")
                if self.path != "/v1/chat/completions":
                    self._json(404, {"error": {"message": "not found"}}, {})
                    return
                if fake.echo_key:
                    status, form = fake.echo_key.split(":", 1)
                    key = (self.headers.get("authorization") or "").removeprefix("Bearer ")
                    self._raw(int(status), echoed_key_body(key, form))
                    return
                if fault == "429":
                    self._json(429, {"error": {"message": "rate limited"}},
                               {"retry-after": str(fake.retry_after_s)})
                    return
                if fault == "500":
                    self._json(500, {"error": {"message": "internal"}}, {})
                    return
                prompt = body["messages"][0]["content"]
                seq = _Seq(prompt_tokens=fake.count_tokens(prompt),
                           max_tokens=int(body.get("max_tokens") or 16))
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                assert fake.engine is not None
                fake.engine.submit(seq)
                base = {"id": f"chatcmpl-{number}", "object": "chat.completion.chunk",
                        "created": 1700000000, "model": body["model"]}
                self._event({**base, "choices": [{"index": 0, "delta": {"role": "assistant",
                                                                        "content": ""},
                                                  "finish_reason": None}], "usage": None})
                while (token := seq.tokens.get()) is not None:
                    self._event({**base, "choices": [{"index": 0,
                                                      "delta": {"content": f" w{token}"},
                                                      "finish_reason": None}], "usage": None})
                    if fault == "drop" and token == max(1, seq.max_tokens // 2):
                        self.close_connection = True
                        self.connection.shutdown(2)  # no finish, no usage, no last chunk
                        return
                usage = {"prompt_tokens": seq.prompt_tokens,
                         "completion_tokens": seq.generated,
                         "total_tokens": seq.prompt_tokens + seq.generated}
                final: dict[str, Any] = {**base, "choices": [{"index": 0, "delta": {},
                                                              "finish_reason": "length"}],
                                         "usage": None}
                if fake.report_timings:
                    final["x_groq"] = {"usage": {**usage, "prompt_time": seq.prompt_time_s,
                                                 "queue_time": seq.queue_time_s}}
                self._event(final)
                self._event({**base, "choices": [], "usage": usage})
                self._event("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                with fake.lock:
                    fake.completed.append({**usage, "prompt": prompt})

        return Handler


    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": self.requests, "completed": list(self.completed),
                    "auth_ok": self.auth_ok,
                    "iterations": [] if self.engine is None else list(self.engine.iterations)}


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client closing its keep-alive connections (or the test cutting one) is no error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _run_forever(config: dict[str, Any]) -> None:
    """The server process: print the base URL, serve until stdin closes."""
    timing = Timing(**config.pop("timing", {}))
    faults = {int(k): v for k, v in config.pop("faults", {}).items()}
    fake = FakeOpenAI(timing=timing, faults=faults, **config)
    fake.engine = Engine(fake.timing)
    server = _QuietServer(("127.0.0.1", 0), fake.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdin.read()  # the test closes our stdin when done
    server.shutdown()
    fake.engine.close()


@dataclass(slots=True)
class Served:
    url: str
    process: subprocess.Popen

    def stats(self) -> dict[str, Any]:
        """What the server saw: ``requests`` (every POST), ``completed`` (usage + prompt of each
        finished stream), ``auth_ok``, ``iterations`` (what each engine iteration served)."""
        with urllib.request.urlopen(self.url + "/stats", timeout=5) as resp:
            return json.loads(resp.read())


@contextmanager
def serve(**config: Any) -> Iterator[Served]:
    """Run a :class:`FakeOpenAI` built from ``config`` (its keyword arguments; ``timing`` as a
    dict) in its own process on an ephemeral 127.0.0.1 port: a separate process, like a real
    server, so the client's and the server's threads do not share one interpreter lock and the
    timings stay clean."""
    with subprocess.Popen([sys.executable, __file__, json.dumps(config)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:"), url
            yield Served(url=url, process=proc)
        finally:
            proc.stdin.close()  # the server's signal to stop
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()

if __name__ == "__main__":
    _run_forever(json.loads(sys.argv[1]))
