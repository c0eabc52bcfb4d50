"""A simple continuous-batching server loop over the real model, for ``profiler validate``.

Policy (the simulator run in ``phasesim.profiler.capture.validate`` is configured to match it):
- prefill-first: while a request has arrived and a slot is free, the next iteration prefills the
  oldest waiting request alone (one whole prompt per iteration, its first token comes out of it);
- otherwise one decode step for every running sequence (one token each);
- a request leaves after ``output_tokens`` tokens; at most ``max_num_seqs`` run at once;
- idle: wait for the next arrival. Requests arrive at their trace times (wall clock).

Real forward passes and a real KV cache: running sequences occupy cache rows 0..b-1 (a finished
sequence's row is refilled by moving the last row into it), decode attends over a bucketed prefix
with a per-sequence mask. On CUDA decode steps replay CUDA graphs keyed by (batch, bucket), like
the capture; graph recording and warm-up are engine start-up work and are excluded from the clock.

torch is an optional extra: a missing one is the ``profiler`` command's install hint.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from phasesim.profiler.capture.torch_device import DeviceInfo, free_bytes, synchronize
from phasesim.profiler.capture.torch_model import (
    TORCH_DTYPES,
    KVCache,
    LlamaWeights,
    build_weights,
    decode_step,
    new_kv_cache,
    prefill,
)
from phasesim.simulator.catalog.models import ModelSpec

__all__ = ["LoopPolicy", "LoopResult", "serve_trace", "ATTN_BUCKET_TOKENS"]

ATTN_BUCKET_TOKENS = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopPolicy:
    max_num_seqs: int = 16
    prefills_per_iteration: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {"name": "prefill-first", "prefills_per_iteration": self.prefills_per_iteration,
                "max_num_seqs": self.max_num_seqs, "decode": "all running sequences, one token",
                "mixed_batches": False}


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopResult:
    requests: pd.DataFrame  # request_id, arrival_s, prompt_tokens, output_tokens, prefill_start_s,
    # first_token_s, finish_s, ttft_s, tpot_s, e2e_s (seconds from the loop's start)
    iterations: pd.DataFrame  # kind, batch_size, tokens (prompt or summed context), start_s, duration_s
    excluded_s: float  # graph recording time left out of the clock
    stopped_by: str
    policy: LoopPolicy
    graphs_used: bool
    extra: dict[str, Any] = field(default_factory=dict)


class _Clock:
    """Seconds since start, minus paused (start-up) work."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.excluded_s = 0.0

    def now(self) -> float:
        return time.perf_counter() - self.t0 - self.excluded_s


@dataclass(slots=True)
class _Seq:
    request_id: int
    output_tokens: int
    pos: int  # tokens in the cache; the next token is written here
    generated: int
    last_token: int


class _Decoder:
    """Decode steps for rows 0..b-1, eager or through CUDA graphs keyed by (b, attention bucket)."""

    def __init__(self, *, w: LlamaWeights, cache: KVCache, rows: int, graphs: bool,
                 clock: _Clock) -> None:
        dev = w.device
        self.w, self.cache, self.clock = w, cache, clock
        self.graphs = graphs and dev.type == "cuda"
        self.tokens = torch.zeros(rows, dtype=torch.int64, device=dev)
        self.positions = torch.zeros(rows, dtype=torch.int64, device=dev)
        self.recorded: dict[tuple[int, int], tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        self.pool: Any = None
        self.failures: list[str] = []

    def _eager(self, b: int, attn_tokens: int) -> torch.Tensor:
        return decode_step(self.w, self.tokens[:b], self.positions[:b], self.cache,
                           attn_tokens=attn_tokens)

    def _graph(self, b: int, attn_tokens: int) -> tuple[torch.cuda.CUDAGraph, torch.Tensor] | None:
        key = (b, attn_tokens)
        if key in self.recorded:
            return self.recorded[key]
        t0 = time.perf_counter()
        dev = self.w.device
        try:
            side = torch.cuda.Stream(dev)
            side.wait_stream(torch.cuda.current_stream(dev))
            with torch.cuda.stream(side):
                self._eager(b, attn_tokens)
            torch.cuda.current_stream(dev).wait_stream(side)
            synchronize(dev)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self.pool):
                out = self._eager(b, attn_tokens)
            synchronize(dev)
            self.pool = graph.pool()
            self.recorded[key] = (graph, out)
            return self.recorded[key]
        except Exception as exc:  # noqa: BLE001 - fall back to eager, say why
            self.failures.append(f"b={b} L={attn_tokens}: {type(exc).__name__}: "
                                 f"{' '.join(str(exc).split())[:200]}")
            self.graphs = False
            synchronize(dev)
            return None
        finally:
            self.clock.excluded_s += time.perf_counter() - t0

    def step(self, seqs: list[_Seq]) -> list[int]:
        """One decode step; the caller's clock brackets it. Writing the inputs happens first, then
        graph recording (excluded from the clock) if this shape is new."""
        b = len(seqs)
        self.tokens[:b].copy_(torch.tensor([s.last_token for s in seqs], dtype=torch.int64))
        self.positions[:b].copy_(torch.tensor([s.pos for s in seqs], dtype=torch.int64))
        need = max(s.pos for s in seqs) + 1
        cap = self.cache.capacity_tokens
        attn_tokens = min(cap, -(-need // ATTN_BUCKET_TOKENS) * ATTN_BUCKET_TOKENS)
        if self.graphs:
            rec = self._graph(b, attn_tokens)
            if rec is not None:
                rec[0].replay()
                return rec[1].tolist()
        return self._eager(b, attn_tokens).tolist()

    def warm(self, b: int, attn_tokens: int) -> None:
        if self.graphs:
            self._graph(b, attn_tokens)


def _move_row(cache: KVCache, *, src: int, dst: int, tokens: int) -> None:
    for k in (*cache.k, *cache.v):
        k[dst, :, :tokens].copy_(k[src, :, :tokens])


def serve_trace(*, spec: ModelSpec, info: DeviceInfo, dtype: str, trace: pd.DataFrame,
                policy: LoopPolicy, graphs: bool, max_seconds: float | None, seed: int,
                log: Any = None) -> LoopResult:
    """Replay ``trace`` (request_id, arrival_s, prompt_tokens, output_tokens) against the model."""
    say = log or (lambda msg: None)
    t_start = time.perf_counter()
    dev, dt = info.device, TORCH_DTYPES[dtype]
    weights = build_weights(spec, device=dev, dtype=dt, seed=seed)
    need_tokens = int((trace["prompt_tokens"] + trace["output_tokens"]).max())
    cap = min(spec.max_context_tokens,
              -(-need_tokens // ATTN_BUCKET_TOKENS) * ATTN_BUCKET_TOKENS)
    row_bytes = cap * spec.kv_bytes_per_token(dtype)
    rows = max(1, min(policy.max_num_seqs, int(0.6 * free_bytes(dev)) // max(row_bytes, 1)))
    if rows < policy.max_num_seqs:
        say(f"KV cache fits {rows} rows of {cap} tokens; max_num_seqs {policy.max_num_seqs} -> "
            f"{rows}")
        policy = LoopPolicy(max_num_seqs=rows, prefills_per_iteration=policy.prefills_per_iteration)
    cache = new_kv_cache(spec, batch=rows, capacity_tokens=cap, device=dev, dtype=dt,
                         random_fill=False)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    prompts = {int(r.request_id): torch.randint(0, spec.vocab, (1, int(r.prompt_tokens)),
                                                generator=gen).to(dev)
               for r in trace.itertuples()}
    clock = _Clock()
    decoder = _Decoder(w=weights, cache=cache, rows=rows, graphs=graphs, clock=clock)
    # Warm up (start-up work, excluded): one prefill and the batch-1 decode shapes.
    t_warm = time.perf_counter()
    first = next(iter(prompts.values()))
    prefill(weights, first, cache, start_row=0)
    decoder.step([_Seq(request_id=-1, output_tokens=2, pos=int(first.shape[1]), generated=1,
                       last_token=0)])
    synchronize(dev)
    build_s = t_warm - t_start
    clock.t0 = time.perf_counter()
    clock.excluded_s = 0.0
    say(f"model built in {build_s:.1f} s; warm-up {time.perf_counter() - t_warm:.1f} s; "
        f"{rows} KV rows x {cap} tokens; replaying {len(trace)} requests")

    pending = deque(trace.sort_values(["arrival_s", "request_id"]).itertuples(index=False))
    queue: deque[Any] = deque()
    running: list[_Seq] = []
    rec: dict[int, dict[str, float]] = {}
    iters: list[tuple[str, int, int, float, float]] = []
    stopped_by = ""
    try:
        while pending or queue or running:
            if max_seconds is not None and time.perf_counter() - t_start >= max_seconds:
                stopped_by = f"time budget of {max_seconds:g} s spent"
                break
            now = clock.now()
            while pending and pending[0].arrival_s <= now:
                queue.append(pending.popleft())
            if queue and len(running) < policy.max_num_seqs:
                req = queue.popleft()
                rid, p = int(req.request_id), int(req.prompt_tokens)
                t0 = clock.now()
                token = int(prefill(weights, prompts[rid], cache, start_row=len(running))[0].item())
                t1 = clock.now()
                iters.append(("prefill", 1, p, t0, t1 - t0))
                rec[rid] = {"prefill_start_s": t0, "first_token_s": t1}
                if int(req.output_tokens) <= 1:
                    rec[rid]["finish_s"] = t1
                else:
                    running.append(_Seq(request_id=rid, output_tokens=int(req.output_tokens), pos=p,
                                        generated=1, last_token=token))
                continue
            if running:
                ctx = sum(s.pos for s in running)
                t0 = clock.now()
                tokens = decoder.step(running)  # graph recording inside is excluded from the clock
                t1 = clock.now()
                iters.append(("decode", len(running), ctx, t0, t1 - t0))
                for s, tok in zip(running, tokens):
                    s.pos, s.generated, s.last_token = s.pos + 1, s.generated + 1, int(tok)
                done = [i for i, s in enumerate(running) if s.generated >= s.output_tokens]
                for i in reversed(done):
                    rec[running[i].request_id]["finish_s"] = t1
                    last = len(running) - 1
                    if i != last:
                        _move_row(cache, src=last, dst=i, tokens=running[last].pos)
                        running[i] = running[last]
                    running.pop()
                continue
            if pending:
                time.sleep(max(0.0, min(0.05, pending[0].arrival_s - clock.now())))
    except Exception as exc:  # noqa: BLE001 - a failing step ends the run; finished requests
        # are kept and reported (the GPU run is one shot)
        stopped_by = f"error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        say(f"real run stopped by {stopped_by}")
    try:
        synchronize(dev)
    except Exception:  # noqa: BLE001
        pass

    rows_out = []
    for r in trace.itertuples(index=False):
        got = rec.get(int(r.request_id), {})
        if "finish_s" not in got:
            continue
        first_s, finish_s = got["first_token_s"], got["finish_s"]
        n_out = int(r.output_tokens)
        rows_out.append({
            "request_id": int(r.request_id), "arrival_s": float(r.arrival_s),
            "prompt_tokens": int(r.prompt_tokens), "output_tokens": n_out,
            "prefill_start_s": got["prefill_start_s"], "first_token_s": first_s,
            "finish_s": finish_s, "ttft_s": first_s - float(r.arrival_s),
            "tpot_s": (finish_s - first_s) / (n_out - 1) if n_out > 1 else np.nan,
            "e2e_s": finish_s - float(r.arrival_s)})
    requests = pd.DataFrame(rows_out, columns=[
        "request_id", "arrival_s", "prompt_tokens", "output_tokens", "prefill_start_s",
        "first_token_s", "finish_s", "ttft_s", "tpot_s", "e2e_s"])
    iterations = pd.DataFrame(iters, columns=["kind", "batch_size", "tokens", "start_s",
                                              "duration_s"])
    return LoopResult(requests=requests, iterations=iterations, excluded_s=clock.excluded_s,
                      stopped_by=stopped_by, policy=policy,
                      graphs_used=bool(decoder.recorded),
                      extra={"kv_rows": rows, "kv_capacity_tokens": cap, "build_s": build_s,
                             "graph_failures": decoder.failures,
                             "graphs_recorded": len(decoder.recorded)})
