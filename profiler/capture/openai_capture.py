"""``profiler capture --backend openai``: any OpenAI-compatible streaming endpoint, from outside.

vLLM, SGLang, trtllm-serve, TGI, llama.cpp's server, Groq and most hosted APIs serve
``POST {base}/v1/chat/completions`` with ``stream: true``. For each prompt length x concurrency
point we send ``repeats`` rounds of ``concurrency`` simultaneous streaming requests and record,
per request, the client-side TTFT, the arrival time of every content chunk, the server's
``usage`` (prompt and completion tokens) and its own timings where it reports them (Groq's
``x_groq.usage``, llama.cpp's ``timings``). The rounds are the raw records
(``T.records.jsonl`` beside the table); :mod:`phasesim.profiler.capture.endpoint_fit` fits the step-time
model from them and writes the cost table.

Prompts: seeded random common words. Two calibration requests (``max_tokens`` 1) measure how the
server counts them (template overhead + tokens per word, from ``usage.prompt_tokens``); each
round checks the served count and corrects the word count of the next round at that length.
The records keep the served count, never the requested one.

Client: httpx (``AsyncClient``), see docs/profiler.md. Robustness as the groq backend: a round
is recorded only when every request in it finished (finish reason and usage seen); 429 (waiting
``retry-after``), 5xx, a connection error or a stream cut mid-way discards the whole round and
redoes it after a backoff; each finished round is appended to the checkpoint
(``T.parquet.ckpt.jsonl``), so ``--resume`` continues; ``--max-seconds`` stops cleanly. The API
key goes only into the ``authorization`` header: it is never written to a file, a log line or an
error message, and the endpoint is recorded by host only (no credentials, no query).
"""

from __future__ import annotations

import asyncio
import json
import platform
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console

from phasesim.atomic import atomic_path
from phasesim.errors import CommandError, InputError
from phasesim.profiler.capture import endpoint_fit
from phasesim.profiler.capture.endpoint import (
    endpoint_host,
    retry_after_s,
    scrub,
    shown_url,
    url_secrets,
)
from phasesim.profiler.capture.grid import Checkpoint, checkpoint_path
from phasesim.profiler.capture.table import host_provenance
from phasesim.seeds import check_seed
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import get_model

__all__ = [
    "OpenAICaptureConfig",
    "build_prompt",
    "capture_openai",
    "records_path",
]

_WORDS = (  # noqa: SIM905 - one string reads better than 48 quoted words
    "time river stone light paper garden window number music system yellow market winter "
    "engine silver forest letter bridge orange planet doctor island summer camera pocket "
    "signal button mirror rocket candle basket ladder helmet jacket pillow tunnel violin "
    "wallet zipper anchor barrel cactus dragon eagle falcon glacier harbor igloo").split()
_PREFIX = "Continue this list of words:"
_CALIBRATION_WORDS = (16, 256)
_PROMPT_TOLERANCE = 0.02  # served counts within 2 % (or 2 tokens) of the target need no correction
# What one answer may send: a line of the event stream (a chunk of one token is ~300 bytes), and
# the body of an error answer we read to quote. A server past either is broken, not slow.
MAX_LINE_BYTES = 1 << 20
MAX_ERROR_BODY_BYTES = 64 << 10


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenAICaptureConfig:
    base_url: str
    served_model: str  # the name the server knows the model by
    model: str  # catalog model the table is for
    hardware: str  # catalog hardware name
    engine: str  # vllm, sglang, trt-llm, tgi, llama.cpp, ... (provenance)
    api_key: str  # may be empty (a local server without auth)
    prompt_lens: tuple[int, ...]
    concurrency: tuple[int, ...]
    output_tokens: int
    repeats: int
    output: Path
    dtype: str = "fp16"
    tensor_parallel: int = 1
    ignore_eos: bool = True
    max_rps: float | None = None
    max_seconds: float | None = None
    resume: bool = False
    timeout_s: float = 60.0
    max_retries: int = 6
    backoff_s: float = 0.5  # first backoff; doubles per retry, capped at 30 s
    seed: int = 0
    command: str = ""

    def __post_init__(self) -> None:
        check_seed(self.seed)

    def __repr__(self) -> str:  # keep the key out of any accidental log line
        return (f"OpenAICaptureConfig(base_url={endpoint_host(self.base_url)!r}, "
                f"served_model={self.served_model!r}, api_key=***)")


def records_path(output: Path) -> Path:
    """``T.parquet`` -> ``T.records.jsonl``: the raw rounds kept beside the table."""
    return output.with_name(output.stem + ".records.jsonl")


def build_prompt(words: int, *, seed: tuple[int, ...]) -> str:
    """``_PREFIX`` and ``words`` seeded random common words (distinct per seed: no cache hit)."""
    rng = np.random.default_rng(seed)
    return _PREFIX + " " + " ".join(rng.choice(_WORDS, size=max(1, words)))


class _Dropped(Exception):
    """A stream ended or broke before its finish reason and usage: redo the round."""


class _Retryable(Exception):
    def __init__(self, message: str, *, wait_s: float | None, connect: bool = False) -> None:
        super().__init__(message)
        self.wait_s = wait_s
        self.connect = connect


def _server_timings(chunk: dict[str, Any]) -> dict[str, float | None] | None:
    """Groq's ``x_groq.usage`` (seconds) or llama.cpp's ``timings`` (milliseconds)."""
    x = chunk.get("x_groq") or {}
    usage = x.get("usage") if isinstance(x, dict) else None
    if isinstance(usage, dict) and usage.get("prompt_time") is not None:
        return {"prompt_time_s": float(usage["prompt_time"]),
                "queue_time_s": _float(usage.get("queue_time")),
                "completion_time_s": _float(usage.get("completion_time"))}
    timings = chunk.get("timings")
    if isinstance(timings, dict) and timings.get("prompt_ms") is not None:
        predicted = timings.get("predicted_ms")
        return {"prompt_time_s": float(timings["prompt_ms"]) / 1e3, "queue_time_s": None,
                "completion_time_s": None if predicted is None else float(predicted) / 1e3}
    return None


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class _Client:
    """One request at a time, with no retry of its own: the round loop decides."""

    def __init__(self, cfg: OpenAICaptureConfig, client: httpx.AsyncClient) -> None:
        self.cfg = cfg
        self.client = client
        base = cfg.base_url.rstrip("/")  # http://host:8000/v1 (SDK style) or http://host:8000
        self.url = base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")
        self.headers = {"authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
        self.secrets = (cfg.api_key, *url_secrets(cfg.base_url))  # kept out of every message

    async def stream(self, prompt: str, *, max_tokens: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.cfg.served_model, "messages": [{"role": "user", "content": prompt}],
            "stream": True, "max_tokens": max_tokens, "temperature": 0.0,
            "stream_options": {"include_usage": True}}
        if self.cfg.ignore_eos:  # vLLM / SGLang extensions: exactly max_tokens tokens
            body.update({"ignore_eos": True, "min_tokens": max_tokens})
        t0 = time.perf_counter()
        chunk_times: list[float] = []
        usage: dict[str, Any] | None = None
        server: dict[str, float | None] | None = None
        finished = done = False
        try:
            async with asyncio.timeout(self.cfg.timeout_s), self.client.stream(
                    "POST", self.url, json=body, headers=self.headers) as resp:
                headers_s = time.perf_counter() - t0
                if resp.status_code == 429 or resp.status_code >= 500:
                    raise _Retryable(f"HTTP {resp.status_code}",
                                     wait_s=retry_after_s(resp.headers))
                if resp.status_code in (401, 403):  # its body may echo the key, in any form
                    raise CommandError(f"{shown_url(self.cfg.base_url)} answered HTTP "
                                       f"{resp.status_code}: the API key was refused (the "
                                       "server's answer is not shown: it may quote the key)")
                if resp.status_code != 200:
                    text = (await _head_of_body(resp)).decode(errors="replace")
                    detail = scrub(text[:4000], *self.secrets)[:300]
                    raise CommandError(f"{shown_url(self.cfg.base_url)} answered HTTP "
                                       f"{resp.status_code}: {detail}")
                async for line in _lines(resp):
                    now = time.perf_counter() - t0
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    chunk = _event(data, self.cfg.api_key)
                    choices = chunk.get("choices") or []
                    if any((c.get("delta") or {}).get("content") or c.get("text")
                           for c in choices):
                        chunk_times.append(now)
                    if any(c.get("finish_reason") for c in choices):
                        finished = True
                    x_groq = chunk.get("x_groq") or {}
                    usage = chunk.get("usage") or x_groq.get("usage") or usage
                    server = _server_timings(chunk) or server
        except httpx.ConnectError as exc:
            raise _Retryable(f"connection: {type(exc).__name__}", wait_s=None,
                             connect=True) from None
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timeout: {type(exc).__name__}", wait_s=None) from None
        except TimeoutError:  # the whole answer took longer than --timeout-s (a trickle)
            raise _Retryable(f"timeout: no complete answer within --timeout-s "
                             f"{self.cfg.timeout_s:g}", wait_s=None) from None
        except (httpx.HTTPError, json.JSONDecodeError) as exc:  # broken or garbled mid-stream
            raise _Dropped(f"stream broke: {type(exc).__name__}") from None
        end = time.perf_counter() - t0
        if not (finished and done and usage is not None and chunk_times):
            raise _Dropped("stream ended before its finish reason, usage and [DONE]")
        if usage.get("prompt_tokens") is None or usage.get("completion_tokens") is None:
            raise CommandError("the server's usage has no prompt_tokens/completion_tokens")
        if not all(_count(usage.get(k)) for k in ("prompt_tokens", "completion_tokens")):
            raise CommandError("the server's usage holds no whole token counts: "
                               f"{scrub(json.dumps(usage), self.cfg.api_key)[:200]}")
        return {"prompt_tokens": int(usage["prompt_tokens"]),
                "completion_tokens": int(usage["completion_tokens"]),
                "headers_s": headers_s, "ttft_s": chunk_times[0],
                "chunk_times_s": chunk_times, "e2e_s": end, "server": server}


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _event(data: str, key: str) -> dict[str, Any]:
    """One ``data:`` event of the stream: a JSON object whose ``choices`` (a list of objects)
    and ``usage`` / ``x_groq`` (objects) have the shapes read below; else the server speaks
    another protocol: a :class:`CommandError` quoting the start of the event (key scrubbed)."""
    chunk = json.loads(data)
    ok = isinstance(chunk, dict)
    if ok:
        choices = chunk.get("choices") or []
        ok = (isinstance(choices, list) and all(isinstance(c, dict) for c in choices)
              and all(isinstance(c.get("delta") or {}, dict) for c in choices)
              and all(isinstance(chunk.get(k) or {}, dict) for k in ("usage", "x_groq")))
    if not ok:
        raise CommandError("the endpoint's stream holds an event that is not an OpenAI chunk "
                           f"object: {scrub(data, key)[:120]}")
    return chunk


async def _head_of_body(resp: httpx.Response) -> bytes:
    """At most ``MAX_ERROR_BODY_BYTES`` of an answer's body (an error page of gigabytes is cut)."""
    head = b""
    async for part in resp.aiter_bytes():
        head += part
        if len(head) >= MAX_ERROR_BODY_BYTES:
            break
    return head[:MAX_ERROR_BODY_BYTES]


async def _lines(resp: httpx.Response) -> AsyncIterator[str]:
    """The stream's lines, none longer than ``MAX_LINE_BYTES`` (httpx's own splitter holds an
    endless line in memory)."""
    pending = b""
    async for part in resp.aiter_bytes():
        pending += part
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r").decode(errors="replace")
        if len(pending) > MAX_LINE_BYTES:
            raise CommandError(f"the endpoint's stream sent a line longer than "
                               f"{MAX_LINE_BYTES:,} bytes")
    if pending:
        yield pending.rstrip(b"\r").decode(errors="replace")


class _Capture:
    def __init__(self, cfg: OpenAICaptureConfig, client: _Client, console: Console) -> None:
        self.cfg = cfg
        self.client = client
        self.console = console
        self.retries: list[str] = []
        self.last_start = -1e18
        # the capture's own deadline: no retry waits past --max-seconds
        self.deadline = (None if cfg.max_seconds is None
                         else time.monotonic() + cfg.max_seconds)

    async def _pace(self, requests: int) -> None:
        if self.cfg.max_rps:
            wait = self.last_start + requests / self.cfg.max_rps - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        self.last_start = time.monotonic()

    async def round(self, prompts: list[str], *, max_tokens: int,
                    first: bool) -> list[dict[str, Any]]:
        """All ``prompts`` at once; retried whole until every request finished."""
        attempt = 0
        while True:
            await self._pace(len(prompts))
            results = await asyncio.gather(
                *(self.client.stream(p, max_tokens=max_tokens) for p in prompts),
                return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            if not failures:
                return [r for r in results if isinstance(r, dict)]
            fatal = next((f for f in failures if not isinstance(f, (_Retryable, _Dropped))), None)
            if fatal is not None:
                raise fatal
            exc = failures[0]
            attempt += 1
            if isinstance(exc, _Retryable) and exc.connect and first and attempt >= 2:
                raise CommandError(f"cannot reach the endpoint {shown_url(self.cfg.base_url)} "
                                   f"({exc})")
            if attempt > self.cfg.max_retries:
                raise CommandError(f"giving up after {self.cfg.max_retries} retries: {exc}")
            wait = getattr(exc, "wait_s", None)
            if wait is None:
                wait = min(30.0, self.cfg.backoff_s * 2 ** (attempt - 1))
            if self.deadline is not None and time.monotonic() + wait > self.deadline:
                raise CommandError(f"--max-seconds {self.cfg.max_seconds:g} would pass while "
                                   f"waiting {wait:.3g} s to retry ({exc})")
            self.retries.append(f"{exc}; round retry {attempt} after {wait:.2f} s")
            await asyncio.sleep(wait)


def _words_for(target: int, cal: dict[str, float]) -> int:
    return max(1, round((target - cal["overhead_tokens"]) / cal["tokens_per_word"]))


async def _run(cfg: OpenAICaptureConfig, ckpt: Checkpoint, console: Console,
               on_round: Callable[[str], None] | None) -> tuple[list[str], str]:
    limits = httpx.Limits(max_connections=max(cfg.concurrency) + 2,
                          max_keepalive_connections=max(cfg.concurrency) + 2)
    t_start = time.monotonic()
    async with httpx.AsyncClient(timeout=cfg.timeout_s, limits=limits) as http:
        cap = _Capture(cfg, _Client(cfg, http), console)
        cal = ckpt.done.get("calibration")
        if cal is None:
            served = []
            for i, words in enumerate(_CALIBRATION_WORDS):
                [rec] = await cap.round([build_prompt(words, seed=(cfg.seed, 0, i))], max_tokens=1,
                                        first=i == 0)
                served.append(rec["prompt_tokens"])
            per_word = (served[1] - served[0]) / (_CALIBRATION_WORDS[1] - _CALIBRATION_WORDS[0])
            if per_word <= 0:
                raise CommandError(f"the server counts {served[0]} and {served[1]} prompt tokens "
                                   f"for {_CALIBRATION_WORDS} words: cannot size prompts")
            cal = {"tokens_per_word": per_word,
                   "overhead_tokens": served[0] - per_word * _CALIBRATION_WORDS[0],
                   "served": served, "words": list(_CALIBRATION_WORDS)}
            ckpt.record("calibration", cal)
        words = {t: _words_for(t, cal) for t in cfg.prompt_lens}
        for key, payload in ckpt.done.items():  # resume: corrections already learnt
            if "requests" in payload:
                words[payload["target"]] = payload.get("next_words", words[payload["target"]])
        units = [(t, c, r) for r in range(cfg.repeats) for c in cfg.concurrency
                 for t in cfg.prompt_lens]  # coverage first: every point once, then repeats
        total = len(units)
        stopped = ""
        for target, conc, rep in units:
            key = f"{target}/{conc}/{rep}"
            if key in ckpt.done:
                continue
            if cfg.max_seconds is not None and time.monotonic() - t_start >= cfg.max_seconds:
                stopped = f"--max-seconds {cfg.max_seconds:g} spent"
                break
            n_words = words[target]
            prompts = [build_prompt(n_words, seed=(cfg.seed, 1, target, conc, rep, i))
                       for i in range(conc)]
            reqs = await cap.round(prompts, max_tokens=cfg.output_tokens, first=False)
            served = float(np.median([q["prompt_tokens"] for q in reqs]))
            if abs(served - target) > max(2.0, _PROMPT_TOLERANCE * target):
                words[target] = max(1, n_words + round((target - served) / cal["tokens_per_word"]))
            ckpt.record(key, {"target": target, "concurrency": conc, "repeat": rep,
                              "words": n_words, "next_words": words[target], "requests": reqs})
            if on_round is not None:
                on_round(key)
            ttft = np.median([q["ttft_s"] for q in reqs])
            console.print(f"[{sum('requests' in p for p in ckpt.done.values())}/{total}] "
                          f"prompt~{target} x{conc}: served {served:g} prompt tokens, "
                          f"TTFT {1e3 * ttft:.2f} ms", highlight=False, markup=False)
    return cap.retries, stopped


def capture_openai(cfg: OpenAICaptureConfig, *, console: Console,
                   on_round: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or resume) the capture, keep the raw records, fit and write the table. Returns the
    table's metadata."""
    if urllib.parse.urlsplit(cfg.base_url).scheme not in ("http", "https") or not endpoint_host(
            cfg.base_url):
        raise InputError(f"not an http(s) URL: {shown_url(cfg.base_url)!r}", column="--base-url")
    get_hardware(cfg.hardware)  # catalog names: the replay looks them up
    get_model(cfg.model)
    if 1 not in cfg.concurrency:
        raise InputError("must include 1 (the prefill fit uses requests sent alone)",
                         column="--concurrency")
    header = {"backend": "openai", "model": cfg.model, "served_model": cfg.served_model,
              "dtype": cfg.dtype, "hardware": cfg.hardware, "engine": cfg.engine,
              "tensor_parallel": cfg.tensor_parallel, "endpoint_host": endpoint_host(cfg.base_url),
              "output_tokens": cfg.output_tokens, "ignore_eos": cfg.ignore_eos}
    ckpt = Checkpoint(path=checkpoint_path(cfg.output), header=header, resume=cfg.resume)
    t_start = time.monotonic()
    try:
        retries, stopped = asyncio.run(_run(cfg, ckpt, console, on_round))
        error: CommandError | None = None
    except CommandError as exc:
        retries, stopped, error = [], "", exc
    rounds = [p for p in ckpt.done.values() if "requests" in p]
    if error is not None and not rounds:
        raise error  # nothing measured: no table, one line
    if not rounds:
        raise CommandError(f"no round finished ({stopped}); continue with --resume")
    command = scrub(cfg.command.replace(cfg.base_url, shown_url(cfg.base_url)), cfg.api_key,
                    *url_secrets(cfg.base_url))
    capture = {**host_provenance(command), "backend": "openai", "engine": cfg.engine,
               "endpoint_host": endpoint_host(cfg.base_url), "served_model": cfg.served_model,
               "libraries": {"httpx": httpx.__version__, "numpy": np.__version__,
                             "python": platform.python_version()},
               "grid": {"prompt_lens": list(cfg.prompt_lens),
                        "concurrency": list(cfg.concurrency),
                        "output_tokens": cfg.output_tokens, "repeats": cfg.repeats},
               "retries": retries, "stopped_by": stopped or ("" if error is None else str(error))}
    full_header = {**header, "capture": capture}
    keep = records_path(cfg.output)
    with atomic_path(keep) as tmp, open(tmp, "w") as fh:
        fh.write(json.dumps({"header": full_header}, sort_keys=True) + "\n")
        fh.writelines(json.dumps({"key": key, "payload": payload}, sort_keys=True) + "\n"
                      for key, payload in ckpt.done.items())
    meta = endpoint_fit.write_endpoint_table(full_header, rounds, cfg.output, console=console)
    console.print(f"[profiler] wrote {cfg.output} and {keep.name} ({len(rounds)} rounds, "
                  f"{len(retries)} retries) in {time.monotonic() - t_start:.1f} s",
                  highlight=False, markup=False)
    if error is not None:
        raise CommandError(f"{error} (table of the {len(rounds)} rounds done written; "
                           "continue with --resume)")
    return meta
