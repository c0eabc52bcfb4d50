"""A real HTTP server on 127.0.0.1 speaking Groq's streaming chat-completions protocol.

``POST /openai/v1/chat/completions`` with ``stream: true`` answers Server-Sent Events over chunked
transfer encoding: a role chunk, one content chunk per output token, a final chunk with
``finish_reason`` and ``x_groq.usage`` (queue/prompt/completion/total times and token counts),
then ``data: [DONE]``. Scripted faults per request number: ``"429"`` (with ``retry-after``),
``"500"``, ``"drop"`` (connection closed mid-stream, before the usage chunk).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeGroq:
    def __init__(self, *, api_key: str, faults: dict[int, str] | None = None,
                 retry_after_s: float = 0.2) -> None:
        self.api_key = api_key
        self.faults = dict(faults or {})
        self.retry_after_s = retry_after_s
        self.lock = threading.Lock()
        self.requests = 0  # every POST, faults included
        self.sent_usage: list[dict[str, Any]] = []  # usage of each completed stream, in order
        self.bodies: list[dict[str, Any]] = []
        self.auth_ok = True

    def usage_for(self, body: dict[str, Any]) -> dict[str, Any]:
        """Deterministic server timings from the request: what the test expects to see back."""
        words = len(body["messages"][0]["content"].split())
        prompt_tokens = words + 9  # chat template overhead, as a real tokenizer adds
        completion_tokens = int(body.get("max_tokens") or 16)
        prompt_time = 1e-5 * prompt_tokens + 0.002
        completion_time = 0.004 * completion_tokens
        queue_time = 0.0125
        return {"queue_time": queue_time, "prompt_tokens": prompt_tokens,
                "prompt_time": prompt_time, "completion_tokens": completion_tokens,
                "completion_time": completion_time,
                "total_tokens": prompt_tokens + completion_tokens,
                "total_time": prompt_time + completion_time}

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _json(self, status: int, obj: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _chunk(self, text: str) -> None:
                data = text.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length))
                with fake.lock:
                    fake.requests += 1
                    number = fake.requests
                    fake.bodies.append(body)
                    if self.headers.get("authorization") != f"Bearer {fake.api_key}":
                        fake.auth_ok = False
                fault = fake.faults.get(number, "")
                if self.path != "/openai/v1/chat/completions":
                    self._json(404, {"error": {"message": "not found"}}, {})
                    return
                if fault == "429":
                    self._json(429, {"error": {"message": "Rate limit reached",
                                               "type": "tokens", "code": "rate_limit_exceeded"}},
                               {"retry-after": str(fake.retry_after_s)})
                    return
                if fault == "500":
                    self._json(500, {"error": {"message": "internal"}}, {})
                    return
                usage = fake.usage_for(body)
                rid = f"req_{number}"
                base = {"id": f"chatcmpl-{number}", "object": "chat.completion.chunk",
                        "created": 1700000000, "model": body["model"],
                        "system_fingerprint": "fp_test"}
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()

                def event(choices: list[dict[str, Any]], x_groq: dict[str, Any]) -> None:
                    self._chunk("data: " + json.dumps({**base, "choices": choices,
                                                       "x_groq": x_groq}) + "\n\n")

                event([{"index": 0, "delta": {"role": "assistant", "content": ""},
                        "logprobs": None, "finish_reason": None}], {"id": rid})
                n = usage["completion_tokens"]
                for i in range(n):
                    event([{"index": 0, "delta": {"content": f" t{i}"}, "logprobs": None,
                            "finish_reason": None}], {"id": rid})
                    if fault == "drop" and i == n // 2:
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)  # no terminating chunk: a broken stream
                        return
                event([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}],
                      {"id": rid, "usage": usage})
                self._chunk("data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                with fake.lock:
                    fake.sent_usage.append({**usage, "prompt": body["messages"][0]["content"]})

        return Handler


@contextmanager
def serve(fake: FakeGroq) -> Iterator[str]:
    """Run ``fake`` on an ephemeral 127.0.0.1 port; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
