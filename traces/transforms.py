"""Trace transforms. Each returns a new canonical frame whose metadata records the transform."""

from __future__ import annotations

import enum
import math

import numpy as np
import pandas as pd

from phasesim.errors import InputError
from phasesim.seeds import check_seed
from phasesim.traces import schema
from phasesim.traces.storage import META_ATTR, with_transform

__all__ = ["ContextPolicy", "scale_rate", "window", "head", "sample", "clip_context"]


class ContextPolicy(enum.Enum):
    CLIP = "clip"  # shorten the prompt (then the output) so prompt + output <= max_context_tokens
    DROP = "drop"  # remove requests that do not fit
    KEEP = "keep"  # keep them unchanged; the count is recorded in the metadata


def _derive(df: pd.DataFrame, out: pd.DataFrame, entry: dict) -> pd.DataFrame:
    out = out.reset_index(drop=True)
    out.attrs = {}
    out.attrs[META_ATTR] = with_transform(df.attrs.get(META_ATTR, {}), entry)
    return out


def scale_rate(df: pd.DataFrame, factor: float) -> pd.DataFrame:
    """Multiply the request rate by ``factor`` (arrival times divided by it; > 1 compresses time)."""
    if not (math.isfinite(factor) and factor > 0):
        raise InputError(f"rate scale must be > 0, got {factor}", column="rate_scale")
    out = df.copy()
    out[schema.ARRIVAL_S] = df[schema.ARRIVAL_S].to_numpy() / factor
    return _derive(df, out, {"op": "scale_rate", "factor": factor})


def window(df: pd.DataFrame, start_s: float, end_s: float) -> pd.DataFrame:
    """Requests arriving in ``[start_s, end_s)``, shifted so ``start_s`` becomes 0 s."""
    if not (0 <= start_s < end_s):
        raise InputError(f"window needs 0 <= START < END, got {start_s}:{end_s}", column="window")
    arrival = df[schema.ARRIVAL_S].to_numpy()
    out = df[(arrival >= start_s) & (arrival < end_s)].copy()
    if out.empty:
        raise InputError(f"no requests in window {start_s}:{end_s}", column="window")
    out[schema.ARRIVAL_S] = out[schema.ARRIVAL_S].to_numpy() - start_s
    return _derive(df, out, {"op": "window", "start_s": start_s, "end_s": end_s})


def head(df: pd.DataFrame, n: int) -> pd.DataFrame:
    """The first ``n`` requests."""
    if n < 1:
        raise InputError(f"head needs N >= 1, got {n}", column="head")
    return _derive(df, df.iloc[:n].copy(), {"op": "head", "n": n})


def sample(df: pd.DataFrame, n: int, *, seed: int) -> pd.DataFrame:
    """``n`` requests drawn without replacement (seeded), kept in arrival order."""
    if not (1 <= n <= len(df)):
        raise InputError(f"sample needs 1 <= N <= {len(df)} rows, got {n}", column="sample")
    rng = np.random.default_rng(check_seed(seed))
    keep = np.sort(rng.choice(len(df), size=n, replace=False))
    return _derive(df, df.iloc[keep].copy(), {"op": "sample", "n": n, "seed": seed})


def clip_context(df: pd.DataFrame, max_context_tokens: int, policy: ContextPolicy) -> pd.DataFrame:
    """Fit requests into a model's context (prompt + output <= ``max_context_tokens``) by ``policy``."""
    if max_context_tokens < 2:
        raise InputError(f"max context must be >= 2 tokens, got {max_context_tokens}", column="max_context")
    prompt = df[schema.PROMPT_TOKENS].to_numpy()
    output = df[schema.OUTPUT_TOKENS].to_numpy()
    over = prompt + output > max_context_tokens
    entry = {"op": "clip_context", "max_context_tokens": max_context_tokens, "policy": policy.value,
             "over_length_rows": int(over.sum())}
    if policy is ContextPolicy.KEEP:
        out = df.copy()
    elif policy is ContextPolicy.DROP:
        out = df[~over].copy()
        if out.empty:
            raise InputError("every request exceeds the context; nothing left", column="max_context")
    else:
        out = df.copy()
        new_prompt = np.minimum(prompt, max_context_tokens - 1)
        new_output = np.minimum(output, max_context_tokens - new_prompt)
        out[schema.PROMPT_TOKENS] = new_prompt
        out[schema.OUTPUT_TOKENS] = new_output
        block = df.attrs.get(META_ATTR, {}).get("prefix_block_tokens")
        if schema.PREFIX_HASH_IDS in out.columns and block:
            out[schema.PREFIX_HASH_IDS] = [list(ids[: -(-int(p) // block)])
                                           for ids, p in zip(out[schema.PREFIX_HASH_IDS], new_prompt, strict=True)]
    return _derive(df, out, entry)
