"""Prediction intervals and calibration support of each (hardware, engine) pair, from its rows.

    python tools/calibrate_engines.py      # refit every pair (minutes); also writes
                                           # simulator/tables/validation/engine_residuals.csv
    python tools/interval_coverage.py      # cross-conformal coverage per pair from that file

:func:`interval_entries` turns the calibration's per-row frame (``engine_calibrate.calibrate_engines``'s
second result: ``hardware, engine, model, tp, input_len, output_len, batch_size, latency_s,
predicted_s, cv_predicted_s`` and, where there are TTFT rows, ``ttft_s, ttft_predicted_s,
cv_ttft_predicted_s``) into one ``{"intervals": ..., "support": ...}`` per pair key.

Method (:data:`METHOD`): split-conformal order statistics of the leave-one-model-out log residuals
``r = log(measured / predicted)``, where ``predicted`` is the row's prediction by the fit WITHOUT
its model (``cv_predicted_s``); with n residuals the bounds are the ``floor(0.1 (n + 1))``-th and
``ceil(0.9 (n + 1))``-th smallest, clipped to the sample (``phasesim.simulator.intervals.
conformal_quantiles``). Computed per regime (``phasesim.simulator.intervals.regime_of``: batch
1 / 2-15 / 16+ x prompt <= 512 / 513-1023 / >= 1024) for latency and TTFT.

Borrowing: a regime with fewer than 8 residuals (``MIN_RESIDUALS``) takes the first of these with
8 or more: the pair's residuals pooled over all regimes; those of every pair of the same engine
family (:func:`engine_family`: vLLM with its early XPU fork, DeepSpeed with DeepSpeed-MII, each
other engine alone); those of every pair given. TTFT with fewer than 8 TTFT residuals even over
every pair takes the regime's latency interval. Each entry says where it came from (``source``:
``regime``, ``pair``, ``family:NAME``, ``all``, ``latency``) and ``borrowed`` (not ``regime``).

A pair with a single model has no leave-one-model-out prediction: its residuals are in-sample
(``predicted_s``), and its entry says so (``residuals``); such intervals are too narrow for a new
model. Rows without a prediction (the simulator rejected the run) are counted in
``rows_without_prediction``, not used.

:func:`cross_conformal_coverage` measures the intervals honestly: for each model of a pair, the
entries are rebuilt from every row except that model's (of that pair), and the model's rows are
checked against the interval ``sim latency`` would give them (support widening included).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phasesim.errors import InputError
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.intervals import (
    MIN_RESIDUALS,
    NOMINAL,
    REGIMES,
    attention_layout,
    conformal_quantiles,
    regime_of,
    shape_intervals,
)

__all__ = [
    "METHOD",
    "RESIDUALS_PATH",
    "RESIDUAL_COLUMNS",
    "coverage_table",
    "render_coverage_table",
    "cross_conformal_coverage",
    "engine_family",
    "interval_entries",
    "read_residuals",
    "support_entry",
]

REPO = Path(__file__).resolve().parents[2]
RESIDUALS_PATH = REPO / "simulator" / "tables" / "validation" / "engine_residuals.csv"
RESIDUAL_COLUMNS = ("hardware", "engine", "model", "tp", "input_len", "output_len", "batch_size",
                    "latency_s", "predicted_s", "cv_predicted_s", "ttft_s", "ttft_predicted_s",
                    "cv_ttft_predicted_s")
METHOD = ("split-conformal order statistics (floor(0.1(n+1))-th and ceil(0.9(n+1))-th smallest, "
          "clipped to the sample) of leave-one-model-out log(measured/predicted) per regime "
          "(batch 1/2-15/16+ x prompt <=512/513-1023/>=1024); a regime with < 8 residuals borrows "
          "the pair's pooled residuals, then its engine family's, then every pair's "
          "(phasesim/profiler/calibrate/intervals.py)")
MIN_MODELS = 3  # a regime's own quantiles need residuals of this many models (else it borrows)
_FAMILY = {"vllm-xpu-early": "vllm", "deepspeed-mii": "deepspeed"}


def engine_family(engine: str) -> str:
    """The family an engine borrows residuals from: vLLM's forks are vLLM, DeepSpeed-MII is
    DeepSpeed, every other engine is its own."""
    return _FAMILY.get(engine, engine)


def support_entry(rows: pd.DataFrame) -> dict[str, Any]:
    """What one pair's calibration rows span: attention layouts, TP degrees, batch sizes, context
    (input + output tokens), parameter counts (``phasesim.simulator.intervals.outside_support``
    reads it)."""
    if rows.empty:
        raise InputError("no rows to describe", column="model")
    models = sorted(set(rows["model"]))
    specs = [get_model(m) for m in models]
    context = rows["input_len"].astype(np.int64) + rows["output_len"].astype(np.int64)
    params = [s.param_count for s in specs]
    return {"attention": sorted({attention_layout(s) for s in specs}),
            "tp": sorted({int(t) for t in rows["tp"]}),
            "batch_size": [int(rows["batch_size"].min()), int(rows["batch_size"].max())],
            "context_tokens": [int(context.min()), int(context.max())],
            "params": [int(min(params)), int(max(params))],
            "models": models}


def _residuals(rows: pd.DataFrame, measured: str, cv: str, train: str) -> tuple[pd.DataFrame, dict]:
    """One pair's log residuals of ``measured`` (columns regime, r) and how they were made."""
    if measured not in rows:  # no TTFT column: no TTFT rows
        rows = rows.assign(**{measured: np.nan})
    rows = rows[rows[measured].notna()]
    use_cv = cv in rows and bool(rows[cv].notna().any())
    column = cv if use_cv else train
    predicted = (rows[column] if column in rows else pd.Series(np.nan, index=rows.index)).astype(float)
    ok = (predicted > 0).to_numpy()  # NaN: no prediction (the simulator rejected the run)
    kept = rows[ok]
    r = np.log(kept[measured].to_numpy(np.float64) / predicted[ok].to_numpy(np.float64))
    regimes = [regime_of(int(b), int(n)) for b, n in zip(kept["batch_size"], kept["input_len"],
                                                         strict=True)]
    how = {"residuals": "leave-one-model-out" if use_cv or rows.empty else
           "in-sample (one model: no leave-one-model-out prediction)",
           "rows_without_prediction": int((~ok).sum())}
    return pd.DataFrame({"regime": pd.Series(regimes, dtype=object), "r": r,
                         "model": kept["model"].to_numpy(dtype=object)}), how


def _quantile_entry(r: np.ndarray, source: str) -> dict[str, Any]:
    q10, q90 = conformal_quantiles(r, NOMINAL)
    return {"q10_log": round(q10, 5), "q90_log": round(q90, 5), "n": len(r),
            "borrowed": source != "regime", "source": source}


def _chain(levels: list[tuple[str, np.ndarray]]) -> dict[str, Any] | None:
    for source, r in levels:
        if len(r) >= MIN_RESIDUALS:
            return _quantile_entry(r, source)
    return None


def interval_entries(per_row: pd.DataFrame, *, only: str | None = None) -> dict[str, dict[str, Any]]:
    """Per pair key ``"hardware/engine"``: ``{"intervals": {...}, "support": {...}}`` (module
    docstring for the method and the borrowing rule); ``only``: that pair's entry alone (the
    others' residuals still count for borrowing)."""
    missing = [c for c in RESIDUAL_COLUMNS[:10] if c not in per_row.columns]
    if missing:
        raise InputError("per-row frame lacks a column", column=missing[0])
    pairs = sorted({(h, e) for h, e in zip(per_row["hardware"], per_row["engine"], strict=True)})
    res: dict[str, dict[tuple[str, str], pd.DataFrame]] = {"latency": {}, "ttft": {}}
    how: dict[tuple[str, str], dict[str, Any]] = {}
    for pair in pairs:
        rows = per_row[(per_row["hardware"] == pair[0]) & (per_row["engine"] == pair[1])]
        res["latency"][pair], how[pair] = _residuals(rows, "latency_s", "cv_predicted_s",
                                                     "predicted_s")
        res["ttft"][pair], how_ttft = _residuals(rows, "ttft_s", "cv_ttft_predicted_s",
                                                 "ttft_predicted_s")
        how[pair]["ttft_rows_without_prediction"] = how_ttft["rows_without_prediction"]
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        if only is not None and f"{pair[0]}/{pair[1]}" != only:
            continue
        family = engine_family(pair[1])
        intervals: dict[str, Any] = {"method": METHOD, "nominal": NOMINAL, **how[pair],
                                     "pooled": {}}
        for metric in ("latency", "ttft"):
            frames = res[metric]
            mine = frames[pair]
            fam = np.concatenate([f["r"].to_numpy() for p, f in frames.items()
                                  if engine_family(p[1]) == family])
            every = np.concatenate([f["r"].to_numpy() for f in frames.values()])
            shared = [("pair", mine["r"].to_numpy()), (f"family:{family}", fam), ("all", every)]
            pooled = _chain(shared)
            if pooled is None and metric == "latency":  # fewer than 8 latency rows in all
                pooled = _quantile_entry(every, "all") if len(every) else None
            if pooled is None and metric == "latency":
                raise InputError("no latency residuals to build intervals from", column="latency_s")
            per_regime = {}
            for regime in REGIMES:
                cell = mine[mine["regime"] == regime]
                entry = None if cell["model"].nunique() < MIN_MODELS else _chain(
                    [("regime", cell["r"].to_numpy())])
                if entry is None and pooled is not None:
                    entry = {**pooled, "borrowed": True}
                if entry is None:  # TTFT: too few TTFT rows anywhere, the latency interval
                    entry = {**intervals["latency"][regime], "borrowed": True, "source": "latency"}
                per_regime[regime] = entry
            intervals[metric] = per_regime
            intervals["pooled"][metric] = pooled if pooled is not None else {
                **intervals["pooled"]["latency"], "borrowed": True, "source": "latency"}
        rows = per_row[(per_row["hardware"] == pair[0]) & (per_row["engine"] == pair[1])]
        out[f"{pair[0]}/{pair[1]}"] = {"intervals": intervals, "support": support_entry(rows)}
    return out


def cross_conformal_coverage(per_row: pd.DataFrame) -> pd.DataFrame:
    """Every row with a leave-one-model-out prediction, with the interval ``sim latency`` would
    give it had its model been left out of the intervals too (``lo_s``, ``hi_s``, ``covered``,
    ``outside``: support dimensions outside, ``"; "``-joined). Pairs with one model are skipped
    (no left-out prediction to check)."""
    out = []
    for (hw, eng), rows in per_row.groupby(["hardware", "engine"], sort=True):
        if rows["model"].nunique() < 2:
            continue
        for model, held in rows.groupby("model", sort=True):
            rest = per_row.drop(index=held.index)
            entry = interval_entries(rest, only=f"{hw}/{eng}")[f"{hw}/{eng}"]
            spec = get_model(str(model))
            for i, r in held.iterrows():
                p = r["cv_predicted_s"]
                if not (isinstance(p, float) and math.isfinite(p) and p > 0):
                    continue
                iv = shape_intervals(entry, model=spec, tensor_parallel=int(r["tp"]),
                                     batch_size=int(r["batch_size"]),
                                     input_len=int(r["input_len"]), output_len=int(r["output_len"]),
                                     latency_s=p, ttft_s=p, tpot_s=p)
                out.append({"index": i, "hardware": hw, "engine": eng, "model": model,
                            "regime": regime_of(int(r["batch_size"]), int(r["input_len"])),
                            "latency_s": r["latency_s"], "cv_predicted_s": p,
                            "lo_s": iv.latency_p10_s, "hi_s": iv.latency_p90_s,
                            "covered": bool(iv.latency_p10_s <= r["latency_s"] <= iv.latency_p90_s),
                            "outside": "; ".join(map(str, iv.outside))})
    return pd.DataFrame(out)


def coverage_table(coverage: pd.DataFrame) -> pd.DataFrame:
    """Per pair (and ``all``): rows, coverage of all rows, of rows inside and outside support."""
    def stats(frame: pd.DataFrame) -> dict[str, Any]:
        inside = frame["outside"] == ""
        return {"rows": len(frame), "coverage": round(frame["covered"].mean(), 3),
                "rows_inside": int(inside.sum()),
                "coverage_inside": round(frame.loc[inside, "covered"].mean(), 3),
                "rows_outside": int((~inside).sum()),
                "coverage_outside": round(frame.loc[~inside, "covered"].mean(), 3)}
    table = [{"pair": f"{h}/{e}", **stats(f)} for (h, e), f in
             coverage.groupby(["hardware", "engine"], sort=True)]
    table.append({"pair": "all", **stats(coverage)})
    return pd.DataFrame(table)


def render_coverage_table(table: pd.DataFrame) -> str:
    """:func:`coverage_table` as the markdown table of docs/profiler.md (percent, whole)."""
    def pct(x: float) -> str:
        return "—" if pd.isna(x) else f"{round(x * 100):.0f} %"

    lines = ["| pair | left-out rows | covered | inside support: rows, covered | outside: rows, covered |",
             "|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        name = "**all**" if r.pair == "all" else r.pair
        lines.append(f"| {name} | {r.rows} | {pct(r.coverage)} | {r.rows_inside}, "
                     f"{pct(r.coverage_inside)} | {r.rows_outside}, {pct(r.coverage_outside)} |")
    return "\n".join(lines) + "\n"


def read_residuals(path: Path = RESIDUALS_PATH) -> pd.DataFrame:
    """The per-row frame written by ``python tools/calibrate_engines.py``."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError("no such file (python tools/calibrate_engines.py writes it)",
                         path=path) from None
    missing = [c for c in RESIDUAL_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError("lacks a column", path=path, column=missing[0])
    return frame
