"""Summary statistics of a canonical trace."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from phasesim.traces import schema

__all__ = ["trace_stats", "ideal_prefix_hits"]


def _summary(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(values.mean()), "p50": float(np.percentile(values, 50)),
            "p99": float(np.percentile(values, 99))}


def trace_stats(df: pd.DataFrame) -> dict[str, Any]:
    """rows, span_s (last - first arrival), rate_rps (= 1 / mean inter-arrival), iat_cv
    (population std / mean of inter-arrival times; NaN for < 2 rows or a zero span), and
    mean/p50/p99 of prompt_tokens and output_tokens (percentiles linearly interpolated); with
    prefix hash ids and their block size, ``prefix_block_tokens`` and ``ideal_hit_rate`` (the
    share of prompt tokens an infinite prefix cache would hit: ``ideal_prefix_hits``)."""
    arrival = df[schema.ARRIVAL_S].to_numpy(dtype=np.float64)
    span_s = float(arrival[-1] - arrival[0]) if len(arrival) else 0.0
    iat = np.diff(arrival)
    mean_iat = float(iat.mean()) if len(iat) else 0.0
    out: dict[str, Any] = {
        "rows": int(len(df)),
        "span_s": span_s,
        "rate_rps": (1.0 / mean_iat) if mean_iat > 0 else float("nan"),
        "iat_cv": float(iat.std() / mean_iat) if mean_iat > 0 else float("nan"),
        schema.PROMPT_TOKENS: _summary(df[schema.PROMPT_TOKENS].to_numpy()),
        schema.OUTPUT_TOKENS: _summary(df[schema.OUTPUT_TOKENS].to_numpy()),
    }
    block_tokens = df.attrs.get("trace_meta", {}).get("prefix_block_tokens")
    if schema.PREFIX_HASH_IDS in df.columns and block_tokens:
        hits = ideal_prefix_hits(df[schema.PREFIX_HASH_IDS], df[schema.PROMPT_TOKENS].to_numpy(),
                                 int(block_tokens))
        prompt = int(df[schema.PROMPT_TOKENS].sum())
        out["prefix_block_tokens"] = int(block_tokens)
        out["ideal_hit_rate"] = float(hits.sum()) / prompt if prompt else float("nan")
    return out


def ideal_prefix_hits(hash_ids: pd.Series, prompt_tokens: np.ndarray,
                      block_tokens: int) -> np.ndarray:
    """Prompt tokens each request would find cached with an infinite cache shared by all
    requests, in arrival (row) order: its leading full blocks (``prompt // block_tokens`` of
    them) already seen in earlier requests, up to the first unseen one, and never the last
    prompt token (at least one token is computed, as in the simulator's prefix cache)."""
    seen: set[int] = set()
    hits = np.zeros(len(prompt_tokens), dtype=np.int64)
    for i, (ids, prompt) in enumerate(zip(hash_ids, prompt_tokens.tolist())):
        if ids is None or len(ids) == 0:
            continue
        ids = [int(h) for h in ids]
        usable = min(len(ids), (prompt - 1) // block_tokens)
        k = 0
        while k < usable and ids[k] in seen:
            k += 1
        hits[i] = k * block_tokens
        seen.update(ids[:min(len(ids), prompt // block_tokens)])
    return hits
