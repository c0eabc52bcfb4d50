"""Summary statistics of a canonical trace."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from phasesim.traces import schema

__all__ = ["trace_stats"]


def _summary(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(values.mean()), "p50": float(np.percentile(values, 50)),
            "p99": float(np.percentile(values, 99))}


def trace_stats(df: pd.DataFrame) -> dict[str, Any]:
    """rows, span_s (last - first arrival), rate_rps (= 1 / mean inter-arrival), iat_cv
    (population std / mean of inter-arrival times; NaN for < 2 rows or a zero span), and
    mean/p50/p99 of prompt_tokens and output_tokens (percentiles linearly interpolated)."""
    arrival = df[schema.ARRIVAL_S].to_numpy(dtype=np.float64)
    span_s = float(arrival[-1] - arrival[0]) if len(arrival) else 0.0
    iat = np.diff(arrival)
    mean_iat = float(iat.mean()) if len(iat) else 0.0
    return {
        "rows": int(len(df)),
        "span_s": span_s,
        "rate_rps": (1.0 / mean_iat) if mean_iat > 0 else float("nan"),
        "iat_cv": float(iat.std() / mean_iat) if mean_iat > 0 else float("nan"),
        schema.PROMPT_TOKENS: _summary(df[schema.PROMPT_TOKENS].to_numpy()),
        schema.OUTPUT_TOKENS: _summary(df[schema.OUTPUT_TOKENS].to_numpy()),
    }
