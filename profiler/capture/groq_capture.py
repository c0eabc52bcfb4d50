"""``profiler capture --backend groq``: prefill and decode times from Groq's own usage figures.

Per request (official ``groq`` SDK, ``stream=True``) we keep the server's ``x_groq.usage``
timings (prompt_time, completion_time, queue_time, total_time, token counts) and the client's
TTFT and inter-chunk gaps. Rows (batch size 1, source measured): prefill from ``prompt_time`` at
the served ``usage.prompt_tokens``; decode from ``completion_time / completion_tokens`` at the
mean context (prompt + half the completion).

Robustness: our own retry loop (the SDK's is off) with exponential backoff on 429 and 5xx that
honours ``retry-after``; a stream that drops before its usage chunk is retried and never
recorded; ``--max-rps`` spaces request starts; each finished request is appended to the
checkpoint, so ``--resume`` continues. The API key is only handed to the SDK client: it is never
written to a table, checkpoint, log or error message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import groq
import httpx
import numpy as np
import pandas as pd
from rich.console import Console

from phasesim.errors import CommandError, InputError
from phasesim.profiler.capture.endpoint import retry_after_s, scrub, shown_url, url_secrets
from phasesim.profiler.capture.grid import Checkpoint, checkpoint_path
from phasesim.profiler.capture.table import host_provenance, latency_columns, write_cost_table
from phasesim.seeds import check_seed
from phasesim.simulator import table_schema as ts

__all__ = ["GroqCaptureConfig", "capture_groq", "make_prompt", "CLIENT_COLUMNS"]

CLIENT_COLUMNS = ("prompt_tokens_target", "completion_tokens", "queue_time_s", "total_time_s",
                  "ttft_client_s", "inter_chunk_gap_s", "e2e_client_s")
_WORDS = ("time river stone light paper garden window number music system yellow market winter "
          "engine silver forest letter bridge orange planet doctor island summer camera pocket "
          "signal button garden mirror rocket candle basket ladder helmet jacket pillow tunnel "
          "violin wallet zipper anchor barrel cactus dragon eagle falcon glacier harbor igloo").split()


@dataclass(frozen=True, slots=True, kw_only=True)
class GroqCaptureConfig:
    model: str
    base_url: str
    api_key: str
    prompt_lens: tuple[int, ...]
    output_tokens: int
    repeats: int
    output: Path
    hardware: str = "groqrack"
    dtype: str = "fp16"
    max_rps: float | None = None
    resume: bool = False
    timeout_s: float = 60.0
    max_retries: int = 6
    backoff_s: float = 0.5  # first backoff; doubles per retry, capped at 30 s
    seed: int = 0
    command: str = ""

    def __post_init__(self) -> None:
        check_seed(self.seed)

    def __repr__(self) -> str:  # keep the key out of any accidental log line
        try:
            url = shown_url(self.base_url)
        except InputError:
            url = "***"
        return f"GroqCaptureConfig(model={self.model!r}, base_url={url!r}, api_key=***)"


def make_prompt(target_tokens: int, *, seed: int) -> str:
    """About ``target_tokens`` tokens of seeded random common words (distinct per seed, so no
    prompt cache hit); the served count is taken from ``usage.prompt_tokens``."""
    rng = np.random.default_rng(seed)
    words = rng.choice(_WORDS, size=max(1, target_tokens - 12))
    return "Repeat the last word, then count upward. " + " ".join(words)


class _Dropped(Exception):
    """The stream ended (or broke) before the usage chunk: retry, record nothing."""


class _Retryable(Exception):
    def __init__(self, message: str, *, wait_s: float | None) -> None:
        super().__init__(message)
        self.wait_s = wait_s


def _cause(exc: BaseException, secrets: tuple[str, ...]) -> str:
    """Why a connection failed, from the innermost exception that says (``[Errno 111]
    Connection refused``, a name that does not resolve, a timeout), else the error's type."""
    reason = type(exc).__name__
    inner: BaseException | None = exc
    while inner is not None:
        text = scrub(str(inner), *secrets)
        if text and text != "Connection error.":
            reason = f"{type(exc).__name__}: {text}" if inner is exc else text
        inner = inner.__cause__ or inner.__context__
    return reason[:200]


class _Requester:
    def __init__(self, cfg: GroqCaptureConfig) -> None:
        self.cfg = cfg
        self.client = groq.Groq(api_key=cfg.api_key, base_url=cfg.base_url, max_retries=0,
                                timeout=cfg.timeout_s)
        self.last_start = -1e18
        self.retries: list[str] = []
        self.endpoint = shown_url(cfg.base_url)  # every error names it
        self.secrets = (cfg.api_key, *url_secrets(cfg.base_url))  # kept out of every message

    def _pace(self) -> None:
        if self.cfg.max_rps:
            wait = self.last_start + 1.0 / self.cfg.max_rps - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        self.last_start = time.monotonic()

    def _once(self, prompt: str) -> dict[str, Any]:
        self._pace()
        t0 = time.perf_counter()
        chunk_times: list[float] = []
        usage: Any = None
        finished = False
        stream = None
        try:
            stream = self.client.chat.completions.create(
                model=self.cfg.model, messages=[{"role": "user", "content": prompt}],
                stream=True, max_tokens=self.cfg.output_tokens, temperature=0.0,
                extra_body={"stream_options": {"include_usage": True}})
            for chunk in stream:
                now = time.perf_counter()
                if any(c.delta is not None and c.delta.content for c in chunk.choices):
                    chunk_times.append(now - t0)
                x = getattr(chunk, "x_groq", None)
                if x is not None and getattr(x, "usage", None) is not None:
                    usage = x.usage
                elif getattr(chunk, "usage", None) is not None and usage is None:
                    usage = chunk.usage
                if any(c.finish_reason for c in chunk.choices):
                    finished = True
        except groq.APIStatusError as exc:
            status = exc.status_code
            if status == 429 or status >= 500:
                raise _Retryable(f"HTTP {status}", wait_s=retry_after_s(exc.response.headers))
            if status in (401, 403):  # the body may echo the key, in any form: not shown
                raise CommandError(f"{self.endpoint}: Groq API error HTTP {status}: the API key "
                                   "was refused (the server's answer is not shown: it may quote "
                                   "the key)") from None
            raise CommandError(f"{self.endpoint}: Groq API error HTTP {status}: "
                               f"{scrub(str(exc)[:4000], *self.secrets)[:300]}") from None
        except groq.APIConnectionError as exc:  # includes timeouts
            raise _Retryable(f"connection: {_cause(exc, self.secrets)}", wait_s=None) from None
        except (httpx.HTTPError, groq.APIError) as exc:  # broken mid-stream
            raise _Dropped(f"stream broke: {type(exc).__name__}") from None
        finally:
            if stream is not None:
                try:
                    stream.close()
                except (httpx.HTTPError, OSError):
                    pass
        end = time.perf_counter() - t0
        if usage is None or not finished:
            raise _Dropped("stream ended before the usage chunk")
        gaps = np.diff(chunk_times) if len(chunk_times) > 1 else np.array([])
        return {
            "prompt_tokens": int(usage.prompt_tokens),
            "completion_tokens": int(usage.completion_tokens),
            "prompt_time_s": float(usage.prompt_time) if usage.prompt_time is not None else None,
            "completion_time_s": (float(usage.completion_time)
                                  if usage.completion_time is not None else None),
            "queue_time_s": float(usage.queue_time) if usage.queue_time is not None else None,
            "total_time_s": float(usage.total_time) if usage.total_time is not None else None,
            "ttft_client_s": chunk_times[0] if chunk_times else None,
            "inter_chunk_gap_s": float(np.median(gaps)) if len(gaps) else None,
            "chunks": len(chunk_times),
            "e2e_client_s": end,
        }

    def request(self, prompt: str, *, first: bool) -> dict[str, Any]:
        """One recorded request, after retries. Unreachable on the first request -> exit 2."""
        attempt = 0
        while True:
            try:
                return self._once(prompt)
            except (_Retryable, _Dropped) as exc:
                attempt += 1
                wait = getattr(exc, "wait_s", None)
                unreachable = isinstance(exc, _Retryable) and str(exc).startswith("connection")
                if unreachable and first and attempt > 2:
                    raise CommandError(f"cannot reach the Groq endpoint {self.endpoint} "
                                        f"({exc})") from None
                if attempt > self.cfg.max_retries:
                    raise CommandError(f"{self.endpoint}: giving up after "
                                       f"{self.cfg.max_retries} retries: {exc}") from None
                if wait is None:
                    wait = min(30.0, self.cfg.backoff_s * 2 ** (attempt - 1))
                self.retries.append(f"{exc}; retry {attempt} after {wait:.2f} s")
                time.sleep(wait)


def _rows(done: dict[str, dict[str, Any]], cfg: GroqCaptureConfig) -> pd.DataFrame:
    """Median over repeats per target prompt length: one prefill and one decode row each."""
    rows: list[dict[str, Any]] = []
    for target in cfg.prompt_lens:
        recs = [done[k] for k in sorted(done) if done[k]["target"] == target]
        if not recs:
            continue
        pt = int(np.median([r["prompt_tokens"] for r in recs]))
        ct = [r["completion_tokens"] for r in recs]
        client = {
            "prompt_tokens_target": target, "completion_tokens": int(np.median(ct)),
            **{c: _median([r[c] for r in recs]) for c in ("queue_time_s", "total_time_s",
                                                          "ttft_client_s", "inter_chunk_gap_s",
                                                          "e2e_client_s")}}
        prefill = [r["prompt_time_s"] for r in recs if r["prompt_time_s"]]
        decode = [r["completion_time_s"] / r["completion_tokens"] for r in recs
                  if r["completion_time_s"] and r["completion_tokens"] > 0]
        for phase, samples, tokens in (("prefill", prefill, pt),
                                       ("decode", decode, pt + int(np.median(ct)) // 2)):
            if not samples:
                continue
            rows.append({ts.HARDWARE: cfg.hardware, ts.MODEL: cfg.model, ts.PHASE: phase,
                         ts.BATCH_SIZE: 1, ts.TOKENS: max(1, tokens), ts.DTYPE: cfg.dtype,
                         ts.TENSOR_PARALLEL: 1, **latency_columns(samples), **client})
    df = pd.DataFrame(rows, columns=[*ts.COLUMNS, "samples_s", *CLIENT_COLUMNS])
    return df.drop_duplicates(subset=list(ts.GRID_KEY), keep="first").reset_index(drop=True)


def _median(values: list[Any]) -> float:
    v = [x for x in values if x is not None]
    return float(np.median(v)) if v else float("nan")


def capture_groq(cfg: GroqCaptureConfig, *, console: Console,
                 on_request: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or resume) the capture; writes the table of the requests done. Returns the metadata."""
    if not cfg.base_url.startswith(("http://", "https://")):
        raise InputError(f"not an http(s) URL: {shown_url(cfg.base_url)!r}", column="--base-url")
    shown = shown_url(cfg.base_url)  # what records and messages name: no user, key or query
    t_start = time.monotonic()
    header = {"backend": "groq", "model": cfg.model, "dtype": cfg.dtype,
              "hardware": cfg.hardware, "base_url": shown,
              "prompt_lens": list(cfg.prompt_lens), "output_tokens": cfg.output_tokens}
    ckpt_path = checkpoint_path(cfg.output)
    ckpt = Checkpoint(path=ckpt_path, header=header, resume=cfg.resume)
    requester = _Requester(cfg)
    units = [(t, r) for r in range(cfg.repeats) for t in cfg.prompt_lens]  # coverage first
    error: CommandError | None = None
    for target, rep in units:
        key = f"{target}/{rep}"
        if key in ckpt.done:
            continue
        prompt = make_prompt(target, seed=cfg.seed * 1_000_003 + target * 101 + rep)
        try:
            rec = requester.request(prompt, first=not ckpt.done)
        except CommandError as exc:
            error = exc
            break
        rec["target"], rec["repeat"] = target, rep
        ckpt.record(key, rec)
        if on_request is not None:
            on_request(key)
        console.print(f"[{len(ckpt.done)}/{len(units)}] prompt~{target}: served "
                      f"{rec['prompt_tokens']} prompt + {rec['completion_tokens']} output tokens, "
                      f"prompt_time {rec['prompt_time_s']}, completion_time "
                      f"{rec['completion_time_s']}", highlight=False, markup=False)
    if error is not None and not ckpt.done:
        raise error  # nothing measured: no table, one-line error
    df = _rows(ckpt.done, cfg)
    command = scrub(cfg.command.replace(cfg.base_url, shown), cfg.api_key,
                    *url_secrets(cfg.base_url))
    meta = {
        "schema_version": ts.SCHEMA_VERSION, "source": ts.Source.MEASURED.value,
        "engine": "groq",  # GroqCloud's own serving stack, as the API shows it
        "hardware": cfg.hardware, "model": cfg.model, "dtype": cfg.dtype, "tensor_parallel": 1,
        "capture": {**host_provenance(command), "backend": "groq", "device": "Groq API",
                    "endpoint": shown,
                    "libraries": {"groq": groq.__version__, "httpx": httpx.__version__}},
        "provenance": ("measured through the Groq API: prefill = x_groq.usage.prompt_time, "
                       "decode = completion_time / completion_tokens, medians over repeats; "
                       "client-side TTFT and inter-chunk gaps in extra columns"),
        "grid": {"prompt_lens": list(cfg.prompt_lens), "output_tokens": cfg.output_tokens},
        "repeats": cfg.repeats, "max_rps": cfg.max_rps, "retries": requester.retries,
        "stopped_by": "" if error is None else str(error),
        "complete": len(ckpt.done) == len(units),
        "requests": len(ckpt.done),
    }
    note = write_cost_table(df, meta, cfg.output)
    console.print(f"[profiler] wrote {cfg.output} ({len(df)} rows from {len(ckpt.done)} requests, "
                  f"{len(requester.retries)} retries; {note}) in "
                  f"{time.monotonic() - t_start:.1f} s", highlight=False, markup=False)
    if error is not None:
        raise CommandError(f"{error} (table of the {len(ckpt.done)} requests done written; "
                            "continue with --resume)")
    return meta
