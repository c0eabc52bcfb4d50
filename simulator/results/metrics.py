"""Summarise a simulation's per-request records into the result contract's ``summary`` dict.

Everything here is a pure function of its arguments: no clocks, no globals, no I/O. The returned
dict is JSON-serialisable (plain ``int``/``float``/``str``/``None``; NaN and infinities become
``None``) and its keys always come in the same order, so ``json.dumps`` of it is byte-stable.

Definitions (``duration_s`` = last finish - first arrival, given by the engine):
- latency statistics (``ttft_s``, ``tpot_s``, ``e2e_s``, ``queue_s``) are over completed requests,
  ignoring NaN (``tpot_s`` is NaN for one-token outputs); percentiles use numpy's ``linear`` method;
- ``throughput_rps`` = completed / duration_s; ``output_tps`` = output tokens of completed
  requests / duration_s;
- a request *meets the SLOs* when it completed, ``ttft_s <= slo_ttft_s`` and
  ``tpot_s <= slo_tpot_s`` (equality passes; a NaN ``tpot_s`` — one output token, no inter-token
  gap — passes the TPOT SLO; a ``None`` SLO is not checked);
- ``goodput_rps`` = requests meeting the SLOs / duration_s; ``slo_attainment`` = requests meeting
  the SLOs / all requests (rejected ones included);
- pool ``utilization`` = busy_s / (instances * duration_s); link ``utilization`` = busy_s /
  duration_s (the fraction of time with at least one transfer in flight).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from phasesim.simulator.request import COMPLETED, REJECTED

__all__ = ["LATENCY_COLUMNS", "PERCENTILES", "COMPLETED", "REJECTED", "summarize", "latency_stats",
           "meets_slo", "prefix_cache_summary"]

LATENCY_COLUMNS = ("ttft_s", "tpot_s", "e2e_s", "queue_s")
PERCENTILES = (50, 90, 95, 99)


def summarize(
    requests: pd.DataFrame,
    *,
    pool_stats: Sequence[Mapping[str, Any]],
    link_stats: Sequence[Mapping[str, Any]],
    duration_s: float,
    slo_ttft_s: float | None = None,
    slo_tpot_s: float | None = None,
) -> dict[str, Any]:
    """The contract's summary dict for one run (see the module docstring for definitions)."""
    status = requests["status"].astype(str)
    completed_mask = (status == COMPLETED).to_numpy()
    rejected_mask = (status == REJECTED).to_numpy()
    done = requests.loc[completed_mask]
    duration = _finite(duration_s)
    per_s = None if duration is None or duration <= 0.0 else 1.0 / duration
    n_total = int(len(requests))
    n_good = int(meets_slo(requests, slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s).sum())

    summary: dict[str, Any] = {
        "requests": n_total,
        "completed": int(completed_mask.sum()),
        "rejected": int(rejected_mask.sum()),
        "rejected_by_reason": _count_reasons(requests.loc[rejected_mask, "reason"]),
    }
    for column in LATENCY_COLUMNS:
        summary[column] = latency_stats(done[column].to_numpy(dtype=np.float64))
    summary["throughput_rps"] = _rate(len(done), per_s)
    summary["output_tps"] = _rate(int(done["output_tokens"].sum()), per_s)
    summary["goodput_rps"] = _rate(n_good, per_s)
    summary["slo_attainment"] = n_good / n_total if n_total else None
    summary["pools"] = [_pool_summary(p, duration) for p in pool_stats]
    summary["links"] = [_link_summary(link, duration) for link in link_stats]
    summary["duration_s"] = duration
    return summary


def meets_slo(
    requests: pd.DataFrame, *, slo_ttft_s: float | None, slo_tpot_s: float | None
) -> np.ndarray:
    """Boolean mask: completed and within both SLOs (``None`` = not checked, equality passes)."""
    ok = (requests["status"].astype(str) == COMPLETED).to_numpy().copy()
    if slo_ttft_s is not None:
        ttft = requests["ttft_s"].to_numpy(dtype=np.float64)
        ok &= ttft <= slo_ttft_s  # NaN compares False: no first token, no pass
    if slo_tpot_s is not None:
        tpot = requests["tpot_s"].to_numpy(dtype=np.float64)
        ok &= np.isnan(tpot) | (tpot <= slo_tpot_s)  # one output token: no gap to miss
    return ok


def latency_stats(values: np.ndarray) -> dict[str, float | None]:
    """``{mean, p50, p90, p95, p99}`` of the finite values; all ``None`` when there are none."""
    finite = values[np.isfinite(values)]
    keys = ["mean", *(f"p{q}" for q in PERCENTILES)]
    if finite.size == 0:
        return dict.fromkeys(keys)
    points = np.percentile(finite, PERCENTILES, method="linear")
    return dict(zip(keys, (_finite(float(finite.mean())), *(_finite(float(p)) for p in points))))


def _pool_summary(pool: Mapping[str, Any], duration: float | None) -> dict[str, Any]:
    instances = int(pool["instances"])
    capacity_s = None if duration is None else instances * duration
    return {
        "pool": str(pool["pool"]),
        "role": _plain(pool["role"]),
        "hardware": str(pool["hardware"]),
        "instances": instances,
        "utilization": _ratio(float(pool["busy_s"]), capacity_s),
        "mean_batch_size": _finite(pool["mean_batch_size"]),
        "preemptions": int(pool["preemptions"]),
    }


def _link_summary(link: Mapping[str, Any], duration: float | None) -> dict[str, Any]:
    return {
        "link": str(link["link"]),
        "utilization": _ratio(float(link["busy_s"]), duration),
        "bytes_moved": int(link["bytes_moved"]),
        "transfers": int(link["transfers"]),
    }


def _count_reasons(reasons: pd.Series) -> dict[str, int]:
    counts = reasons.fillna("").astype(str).value_counts()
    return {str(reason): int(counts[reason]) for reason in sorted(counts.index)}


def _rate(count: int, per_s: float | None) -> float | None:
    return None if per_s is None else float(count) * per_s


def _ratio(numerator: float, denominator: float | None) -> float | None:
    if denominator is None or denominator <= 0.0:
        return None
    return _finite(numerator / denominator)


def _finite(value: Any) -> float | None:
    """A plain float, or ``None`` for None/NaN/inf (JSON has no NaN)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _plain(value: Any) -> str:
    """An enum's value or a string, as a plain string."""
    return str(getattr(value, "value", value))


# --- prefix caching (issue 13): summary["prefix_cache"], only in runs with a prefix cache ---------


def prefix_cache_summary(requests: pd.DataFrame, caches: Sequence[Mapping[str, Any]], *,
                         end_s: float) -> dict[str, Any]:
    """``hit_rate`` = cached prompt tokens / prompt tokens, over completed requests (``None``
    without any); ``cached_tokens`` their sum; per pool with a cache: ``evictions`` and
    ``inserted`` (prefix blocks), ``mean_cached_tokens`` (resident prefix blocks' KV tokens per
    instance, averaged over time from 0 to ``end_s``) and ``mean_occupancy`` (that over the
    instance's KV capacity)."""
    done = (requests["status"].astype(str) == COMPLETED).to_numpy()
    cached = int(np.nansum(requests.loc[done, "cached_tokens"].to_numpy(dtype=np.float64)))
    prompt = int(requests.loc[done, "prompt_tokens"].sum())
    pools = []
    for cache in caches:
        span_ns = end_s * 1e9 * int(cache["instances"])
        mean_blocks = cache["cached_block_ns"] / span_ns if span_ns > 0 else None
        pools.append({
            "pool": str(cache["pool"]),
            "evictions": int(cache["evictions"]),
            "inserted": int(cache["inserted"]),
            "mean_cached_tokens": None if mean_blocks is None
            else _finite(mean_blocks * int(cache["block_tokens"])),
            "mean_occupancy": None if mean_blocks is None
            else _finite(mean_blocks / max(1, int(cache["capacity_blocks"]))),
        })
    return {"hit_rate": cached / prompt if prompt else None, "cached_tokens": cached,
            "pools": pools}
