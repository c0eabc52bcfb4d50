"""``profiler fit``: step-time parameters of a serving engine, fitted from what was measured.

The part built here fits an endpoint (``profiler capture --backend openai``): its raw records
(one JSON line per round of ``concurrency`` simultaneous streaming requests) become
observations, the observations fit a small parametric model by least squares, and the model
becomes a cost table on a regular grid that reaches beyond the measured points.

The model (seconds; ``n`` sequences per step, ``p`` prompt tokens each, ``b`` running sequences
with ``ctx`` context tokens each)::

    prefill_s(n, p)     = a0 + a1 * n*p + a2 * n*p**2       fixed + per token + attention
    decode_step_s(b, ctx) = d0 + d1 * b + d2 * b*ctx         fixed + per sequence + KV reads

Every term is linear in its coefficient, so a fit is one weighted linear least-squares problem
per phase (weights 1/y: relative errors count alike), with coefficients kept >= 0 (a term that
comes out negative is dropped and the rest refitted) and terms the points cannot tell apart
left out (one concurrency: no ``d1``; one context: no ``d2``; fewer than three prompt lengths:
no ``a2``).

Observations from the records:

- decode: per (prompt length, concurrency) point, the median gap between streamed chunks
  (scaled by chunks per token when a server packs several tokens in a chunk) is one decode step
  of ``b = concurrency`` sequences at the mean context ``prompt + completion/2``. Network time
  cancels out of a gap.
- prefill: requests sent alone (concurrency 1). With server-reported timings (Groq's
  ``x_groq.usage.prompt_time``, llama.cpp's ``timings.prompt_ms``) the prefill time is the
  server's and network time is ``TTFT - queue - prompt_time`` ("server-reported"). Without them
  TTFT = network + prefill cannot be split from the client alone, so the split is estimated from
  the smallest TTFTs: a short prompt's forward pass reads the weights once like a batch-1 decode
  step, so ``a0 = decode_step_s(1, 0)``, the slope terms come from how TTFT grows with the
  prompt, and network = the shortest prompt's median TTFT minus its predicted prefill
  ("estimated from the smallest TTFTs").

Growing this into the engines' ``profiler fit`` (issue 12): an engine's step log gives the same
kind of observation (phase, sequences, tokens, seconds) without the network term. Such a fit
builds :class:`Observation` lists its own way and reuses :func:`fit_terms` (the constrained
least squares), :class:`StepTimeParams` (the model) and :func:`table_frame` (params -> cost
table rows); a new term (e.g. a mixed prefill+decode step) is one more entry in ``PREFILL_TERMS``
or ``DECODE_TERMS``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from phasesim.errors import InputError
from phasesim.least_squares import fit_nonnegative
from phasesim.simulator import table_schema as ts
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.costs import write_table

__all__ = [
    "DECODE_TERMS",
    "NETWORK_ESTIMATED",
    "NETWORK_SERVER_REPORTED",
    "PREFILL_TERMS",
    "EndpointFit",
    "Observation",
    "StepTimeParams",
    "fit_endpoint",
    "fit_terms",
    "power_grid",
    "read_records",
    "render_fit_report",
    "table_frame",
    "write_endpoint_table",
]

_HEADER_KEYS = ("model", "hardware", "dtype", "engine", "served_model", "endpoint_host")
NETWORK_SERVER_REPORTED = "server-reported"
NETWORK_ESTIMATED = "estimated from the smallest TTFTs"

# term name -> its column as a function of (sequences, tokens per sequence)
Term = Callable[[np.ndarray, np.ndarray], np.ndarray]
PREFILL_TERMS: dict[str, Term] = {
    "a0_fixed_s": lambda n, p: np.ones_like(n, dtype=np.float64),
    "a1_per_token_s": lambda n, p: n * p,
    "a2_per_token_sq_s": lambda n, p: n * p * p,
}
DECODE_TERMS: dict[str, Term] = {
    "d0_fixed_s": lambda b, c: np.ones_like(b, dtype=np.float64),
    "d1_per_seq_s": lambda b, c: b,
    "d2_per_kv_token_s": lambda b, c: b * c,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """One measured point: ``seconds`` for ``sequences`` of ``tokens`` each (prompt tokens for
    prefill, context tokens for decode), the median of ``samples`` measurements."""

    phase: ts.Phase
    sequences: int
    tokens: float
    seconds: float
    samples: int
    label: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StepTimeParams:
    """The fitted coefficients (seconds, per token, per token squared, per sequence)."""

    prefill: dict[str, float]
    decode: dict[str, float]

    def prefill_s(self, sequences: Any, prompt_tokens: Any) -> np.ndarray:
        return _evaluate(PREFILL_TERMS, self.prefill, sequences, prompt_tokens)

    def decode_step_s(self, batch_size: Any, context_tokens: Any) -> np.ndarray:
        return _evaluate(DECODE_TERMS, self.decode, batch_size, context_tokens)


def _evaluate(terms: dict[str, Term], coef: dict[str, float], n: Any, t: Any) -> np.ndarray:
    n_arr = np.asarray(n, dtype=np.float64)
    t_arr = np.asarray(t, dtype=np.float64)
    n_arr, t_arr = np.broadcast_arrays(n_arr, t_arr)
    out = np.zeros(n_arr.shape, dtype=np.float64)
    for name, value in coef.items():
        out = out + value * terms[name](n_arr, t_arr)
    return out


def fit_terms(terms: dict[str, Term], obs: Sequence[Observation], *,
              fixed: dict[str, float] | None = None,
              offset: float = 0.0) -> tuple[dict[str, float], list[str]]:
    """Weighted (1/y) least squares of ``seconds - offset`` on the identifiable ``terms``, every
    coefficient >= 0; ``fixed`` coefficients are not fitted. Returns the coefficients and notes
    naming the terms left out and why."""
    fixed = dict(fixed or {})
    n = np.array([o.sequences for o in obs], dtype=np.float64)
    t = np.array([o.tokens for o in obs], dtype=np.float64)
    y = np.array([o.seconds for o in obs], dtype=np.float64)
    notes: list[str] = []
    free = [k for k in terms if k not in fixed]
    kept: list[str] = []
    for name in free:  # a term whose column adds no rank cannot be told apart from the others
        cols = [terms[k](n, t) for k in [*kept, name]]
        a = np.column_stack([c / max(float(np.abs(c).max()), 1e-300) for c in cols])
        if np.linalg.matrix_rank(a, tol=1e-9) <= len(kept):
            notes.append(f"{name}: not identifiable from these points (left at 0)")
            continue
        kept.append(name)
    if "a2_per_token_sq_s" in kept and len(np.unique(t)) < 3:
        kept.remove("a2_per_token_sq_s")
        notes.append("a2_per_token_sq_s: needs three prompt lengths (left at 0)")
    target = y - offset - sum(v * terms[k](n, t) for k, v in fixed.items())
    weight = 1.0 / np.maximum(np.abs(y), 1e-12)
    design = np.column_stack([terms[k](n, t) for k in kept]) if kept else np.zeros((len(y), 0))
    fit = fit_nonnegative(design, target, weights=weight)
    notes += [f"{kept[i]}: fitted negative, dropped (left at 0)" for i in fit.dropped]
    coef = {k: float(v) for i, (k, v) in enumerate(zip(kept, fit.coef)) if i not in fit.dropped}
    return {**{k: 0.0 for k in terms}, **fixed, **coef}, notes


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointFit:
    params: StepTimeParams
    network_s: float
    network_method: str
    points: list[dict[str, Any]]  # per measured point: measured, fitted, error
    notes: list[str]

    def report(self) -> dict[str, Any]:
        return {"model": {"prefill_s(n, p)": "a0 + a1*n*p + a2*n*p^2",
                          "decode_step_s(b, ctx)": "d0 + d1*b + d2*b*ctx"},
                "params": asdict(self.params), "network_s": self.network_s,
                "network_method": self.network_method, "points": self.points,
                "max_abs_error_pct": {
                    phase.value: max((abs(p["error_pct"]) for p in self.points
                                      if p["phase"] == phase.value), default=None)
                    for phase in ts.Phase},
                "notes": self.notes}


def read_records(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A records file (or capture checkpoint): ``(header, rounds)``; a torn last line is
    ignored (an interrupted capture)."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    try:
        header = json.loads(lines[0])["header"] if lines else None
    except (json.JSONDecodeError, KeyError, TypeError):
        header = None
    if not isinstance(header, dict) or header.get("backend") != "openai":
        raise InputError("not an endpoint records file (no openai header line)", path=path, line=1)
    missing = [k for k in _HEADER_KEYS if k not in header]
    if missing:
        raise InputError(f"records header lacks {', '.join(missing)}", path=path, line=1)
    rounds = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            entry = json.loads(line)
            payload = dict(entry["payload"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            if number == len(lines):
                break
            raise InputError("corrupt records line", path=path, line=number) from None
        if "requests" in payload:
            rounds.append(payload)
    if not rounds:
        raise InputError("no measured rounds in the records", path=path)
    return header, rounds


def _median(values: Iterable[float]) -> float:
    return float(np.median(np.asarray(list(values), dtype=np.float64)))


def _decode_observations(rounds: list[dict[str, Any]]) -> list[Observation]:
    by_point: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for r in rounds:
        by_point.setdefault((r["target"], r["concurrency"]), []).extend(r["requests"])
    obs = []
    for (target, conc), reqs in sorted(by_point.items()):
        gaps: list[float] = []
        for q in reqs:
            times = q["chunk_times_s"]
            if len(times) < 2 or q["completion_tokens"] < 2:
                continue
            per_chunk = (q["completion_tokens"] - 1) / (len(times) - 1)  # tokens per gap
            gaps += [g / per_chunk for g in np.diff(times)]
        if not gaps:
            continue
        ctx = _median(q["prompt_tokens"] + q["completion_tokens"] / 2 for q in reqs)
        obs.append(Observation(phase=ts.Phase.DECODE, sequences=conc, tokens=ctx,
                               seconds=_median(gaps), samples=len(gaps),
                               label=f"prompt~{target} x{conc}"))
    return obs


def _lone_requests(rounds: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    lone: dict[int, list[dict[str, Any]]] = {}
    for r in rounds:
        if r["concurrency"] == 1:
            lone.setdefault(r["target"], []).extend(r["requests"])
    return lone


def fit_endpoint(rounds: list[dict[str, Any]]) -> EndpointFit:
    """Fit :class:`StepTimeParams` and the network time from an endpoint's raw rounds."""
    decode_obs = _decode_observations(rounds)
    if not decode_obs:
        raise InputError("no streamed gaps to fit decode from (need --output-tokens >= 2)")
    decode, notes = fit_terms(DECODE_TERMS, decode_obs)
    lone = _lone_requests(rounds)
    if not lone:
        raise InputError("no requests sent alone: the prefill fit needs concurrency 1 in "
                         "--concurrency", column="--concurrency")
    reported = all(q.get("server") and q["server"].get("prompt_time_s") is not None
                   for reqs in lone.values() for q in reqs)
    if reported:
        method = NETWORK_SERVER_REPORTED
        prefill_obs = [Observation(
            phase=ts.Phase.PREFILL, sequences=1,
            tokens=_median(q["prompt_tokens"] for q in reqs),
            seconds=_median(q["server"]["prompt_time_s"] for q in reqs), samples=len(reqs),
            label=f"prompt~{target} x1") for target, reqs in sorted(lone.items())]
        prefill, more = fit_terms(PREFILL_TERMS, prefill_obs)
        network_s = _median(q["ttft_s"] - q["server"]["prompt_time_s"]
                            - (q["server"].get("queue_time_s") or 0.0)
                            for reqs in lone.values() for q in reqs)
    else:
        method = NETWORK_ESTIMATED
        every = [q for reqs in lone.values() for q in reqs]
        # Delays only add, so the smallest TTFT of a point is its least disturbed one. A server
        # that sends its headers on accept (vLLM, SGLang, TGI) shows the network time itself:
        # the smallest time to response headers; one that holds them until the first token
        # does not, and the whole split rests on the estimate below
        early = _median(q.get("headers_s", q["ttft_s"]) / q["ttft_s"] for q in every) < 0.5
        head_s = min(q["headers_s"] for q in every) if early else 0.0
        ttft_obs = [Observation(
            phase=ts.Phase.PREFILL, sequences=1,
            tokens=_median(q["prompt_tokens"] for q in reqs),
            seconds=min(q["ttft_s"] for q in reqs) - head_s, samples=len(reqs),
            label=f"prompt~{target} x1") for target, reqs in sorted(lone.items())]
        # slopes from how TTFT grows; a0 = one batch-1 decode step (weights read once)
        a0 = _short_pass_s(decode)
        slopes, more = fit_terms(PREFILL_TERMS, ttft_obs)
        shortest = min(ttft_obs, key=lambda o: o.tokens)
        growth = float(_evaluate(PREFILL_TERMS, {**slopes, "a0_fixed_s": 0.0}, 1,
                                 shortest.tokens))
        residual_s = max(0.0, shortest.seconds - growth - a0)
        prefill_obs = [Observation(phase=o.phase, sequences=1, tokens=o.tokens,
                                   seconds=max(o.seconds - residual_s, 1e-9), samples=o.samples,
                                   label=o.label) for o in ttft_obs]
        network_s = head_s + residual_s
        if early:
            method += " and response headers"
        prefill, again = fit_terms(PREFILL_TERMS, prefill_obs, fixed={"a0_fixed_s": a0})
        more += again
    params = StepTimeParams(prefill=prefill, decode=decode)
    points = []
    for o in [*prefill_obs, *decode_obs]:
        fitted = float((params.prefill_s if o.phase is ts.Phase.PREFILL else
                        params.decode_step_s)(o.sequences, o.tokens))
        points.append({"phase": o.phase.value, "point": o.label, "sequences": o.sequences,
                       "tokens": round(o.tokens, 1), "measured_s": o.seconds,
                       "fitted_s": fitted, "samples": o.samples,
                       "error_pct": 100.0 * (fitted - o.seconds) / o.seconds})
    return EndpointFit(params=params, network_s=network_s, network_method=method,
                       points=points, notes=sorted(set(notes + more)))


def _short_pass_s(decode: dict[str, float]) -> float:
    """One batch-1 decode step at empty context: what a short prompt's forward pass costs."""
    return decode["d0_fixed_s"] + decode["d1_per_seq_s"]


def power_grid(low: int, high: int) -> list[int]:
    """Powers of two from ``low`` up to ``high``, and ``high`` itself."""
    values = []
    v = low
    while v < high:
        values.append(v)
        v *= 2
    return values + [high]


def table_frame(params: StepTimeParams, *, hardware: str, model: str, dtype: str,
                tensor_parallel: int, prefill_batches: Sequence[int],
                prompt_lens: Sequence[int], decode_batches: Sequence[int],
                contexts: Sequence[int]) -> pd.DataFrame:
    """Cost-table rows of the fitted model on a grid (samples 0: each row is the model's)."""
    rows = []
    for phase, batches, lengths, fn in (
            (ts.Phase.PREFILL, prefill_batches, prompt_lens, params.prefill_s),
            (ts.Phase.DECODE, decode_batches, contexts, params.decode_step_s)):
        for b in batches:
            for t in lengths:
                latency = float(fn(b, t))
                rows.append({ts.HARDWARE: hardware, ts.MODEL: model, ts.PHASE: phase.value,
                             ts.BATCH_SIZE: int(b), ts.TOKENS: int(t), ts.LATENCY_S: latency,
                             ts.LATENCY_P10_S: latency, ts.LATENCY_P90_S: latency,
                             ts.SAMPLES: 0, ts.DTYPE: dtype, ts.TENSOR_PARALLEL: tensor_parallel})
    return pd.DataFrame(rows, columns=list(ts.COLUMNS))


def render_fit_report(report: dict[str, Any]) -> str:
    """The fit report as plain text: parameters, network split, error per measured point."""
    lines = [("fit: prefill_s(n, p) = a0 + a1*n*p + a2*n*p^2; "
              "decode_step_s(b, ctx) = d0 + d1*b + d2*b*ctx")]
    for phase in ("prefill", "decode"):
        coef = ", ".join(f"{k} {v:.4g}" for k, v in report["params"][phase].items())
        lines.append(f"  {phase}: {coef}")
    lines.append(f"  network {1e3 * report['network_s']:.3f} ms ({report['network_method']})")
    lines.append("  phase    point                    seq   tokens    measured ms   fitted ms"
                 "   error")
    for p in report["points"]:
        lines.append(f"  {p['phase']:<8} {p['point']:<24} {p['sequences']:>3} {p['tokens']:>8.1f}"
                     f" {1e3 * p['measured_s']:>13.3f} {1e3 * p['fitted_s']:>11.3f}"
                     f" {p['error_pct']:>+7.2f}%")
    lines += [f"  note: {n}" for n in report["notes"]]
    return "\n".join(lines)


def write_endpoint_table(header: dict[str, Any], rounds: list[dict[str, Any]], output: Path, *,
                         console: Console) -> dict[str, Any]:
    """Fit the rounds, write the cost table (the model on a grid from one token to the model's
    context), print the fit report; returns the table metadata. The raw records stay the
    measurement, so the table goes through the validating writer."""
    fit = fit_endpoint(rounds)
    spec = get_model(header["model"])
    longest = spec.max_context_tokens
    df = table_frame(
        fit.params, hardware=header["hardware"], model=header["model"], dtype=header["dtype"],
        tensor_parallel=int(header.get("tensor_parallel", 1)),
        prefill_batches=power_grid(1, 16),
        prompt_lens=power_grid(16, longest),
        decode_batches=power_grid(1, 256),
        contexts=power_grid(16, longest))
    report = fit.report()
    capture = dict(header.get("capture") or {})
    meta = {
        "schema_version": ts.SCHEMA_VERSION, "source": ts.Source.MEASURED.value,
        "engine": header["engine"],  # the openai backend's --engine
        "hardware": header["hardware"], "model": header["model"], "dtype": header["dtype"],
        "tensor_parallel": int(header.get("tensor_parallel", 1)),
        "capture": capture,
        "provenance": (f"measured (endpoint) {header['endpoint_host']}: engine "
                       f"{header['engine']}, served model {header['served_model']}, captured "
                       f"{capture.get('date', '?')} with httpx "
                       f"{capture.get('libraries', {}).get('httpx', '?')}; rows are the fitted "
                       "step-time model (profiler fit), network "
                       f"{report['network_method']}"),
        "fit": report,
    }
    write_table(df, meta, output)
    console.print(render_fit_report(report), highlight=False, markup=False, soft_wrap=True)
    return meta
