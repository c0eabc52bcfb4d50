"""Calibrate every (hardware, engine) pair of the LLM-Inference-Bench data and ship the result.

    python -m phasesim.profiler.engine_calibrate            # fit all pairs, write engine_calibration.json
    python -m phasesim.profiler.engine_calibrate --update-docs   # and the docs/calibration.md table
    python -m phasesim.profiler.engine_calibrate --pairs h100-sxm/vllm gh200/vllm   # some pairs
    python -m phasesim.profiler.engine_calibrate --residuals     # and the per-row residual file

Rows (``bench_data.calibration_rows``) leave the fit only for a stated reason, counted per pair:

- ``below-weight-read-floor``: faster than reading the weights once per generated token at the
  datasheet bandwidth (``bench_data.weight_read_bound_s``): those runs cannot have generated every
  token, or (Mixtral) read fewer experts than uniform routing predicts;
- ``exceeds-model-context``: prompt plus output longer than the model's context (2,048 for the
  Fig_10 MHA models at N = 2,048): the engine cannot have generated every token;
- ``tp-not-supported``: a tensor-parallel degree the catalog refuses (e.g. 8 ways over Qwen2-7B's
  28 heads, or a model that does not fit): the simulator could not run it either;
- ``rejected-by-simulator``: the simulated run does not fit in KV memory as modelled.

Errors are those of the simulator (``phasesim.simulator.run.simulate`` of each row under the
engine's scheduling, on a table built from the constants rounded as written), for the fit on all
rows (train) and for each model's rows predicted by the fit without that model (cross-validated).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phasesim.atomic import atomic_path, replace_marked_block
from phasesim.errors import InputError
from phasesim.profiler.bench_data import calibration_rows, load_bench_data, weight_read_bound_s
from phasesim.profiler.engine_fit import fit_pair, rounded, summary_entry
from phasesim.profiler.intervals import RESIDUALS_PATH, interval_entries, residual_frame
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.costs.capacity import check_tensor_parallel
from phasesim.simulator.costs.roofline import (
    ENGINE_CALIBRATION_PATH,
    RooflineConstants,
    build_analytical_table,
    pair_key,
)
from phasesim.simulator.costs.table_model import TableCostModel
from phasesim.simulator.latency import RunShape, benchmark_run

__all__ = ["usable_rows", "simulate_row", "simulate_rows", "calibrate", "render_markdown", "update_docs",
           "write_calibration", "main"]

REPO = Path(__file__).resolve().parents[1]
DOCS_PATH = REPO / "docs" / "calibration.md"
_BEGIN = "<!-- engine-fit:begin (written by python -m phasesim.profiler.engine_calibrate) -->"
_END = "<!-- engine-fit:end -->"
_DATA = ("LLM-Inference-Bench (Argonne, BSD-3), simulator/tables/reference/llm_inference_bench.csv; "
         "every Llama-2-7B row withheld before it reached us")


def usable_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[tuple[str, str], dict[str, int]]]:
    """The rows a fit can use, and per pair the rows left out by reason (module docstring)."""
    frame = calibration_rows(frame).reset_index(drop=True)
    reason = pd.Series("", index=frame.index)
    reason[frame["latency_s"] < weight_read_bound_s(frame)] = "below-weight-read-floor"
    for i, r in frame.iterrows():
        if reason[i]:
            continue
        if int(r["input_len"]) + int(r["output_len"]) > get_model(r["model"]).max_context_tokens:
            reason[i] = "exceeds-model-context"
            continue
        try:
            check_tensor_parallel(get_hardware(r["hardware"]), get_model(r["model"]), int(r["tp"]))
        except InputError:
            reason[i] = "tp-not-supported"
    excluded: dict[tuple[str, str], dict[str, int]] = {}
    for (hw, eng, why), n in frame[reason != ""].assign(why=reason).groupby(
            ["hardware", "engine", "why"]).size().items():
        excluded.setdefault((hw, eng), {})[why] = int(n)
    return frame[reason == ""].reset_index(drop=True), excluded


def _cost_model(hardware: str, engine: str, model: str, tp: int, c: RooflineConstants) -> TableCostModel:
    entry = {"constants": {k: getattr(c, k) for k in c.__dataclass_fields__}, "rows": 0, "models": [],
             "train_mape_pct": None, "cv_mape_pct": None}
    df, meta = build_analytical_table(hardware=hardware, model=model, tensor_parallel=tp, engine=engine,
                                      engine_calibration={"pairs": {pair_key(hardware, engine): entry}})
    return TableCostModel.from_table(df, meta, model=get_model(model), warn_beyond_grid=False)


def simulate_row(row: Any, cost_model: TableCostModel) -> tuple[float, float]:
    """(latency_s, ttft_s) of one benchmark row simulated under its engine's scheduling (the run
    ``sim latency`` makes); NaN when the simulator rejects a request."""
    q = benchmark_run(cost_model, RunShape(
        hardware=row.hardware, model=row.model, engine=row.engine, tensor_parallel=int(row.tp),
        input_len=int(row.input_len), output_len=int(row.output_len),
        batch_size=int(row.batch_size))).requests
    if (q["status"].astype(str) != "completed").any():
        return float("nan"), float("nan")
    return float(q["finish_s"].max()), float(q["first_token_s"].max())


def simulate_rows(rows: pd.DataFrame, constants: RooflineConstants | dict[str, RooflineConstants],
                  *, ttft: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Simulated ``latency_s`` of every row (and ``ttft_s`` with ``ttft``); ``constants`` per
    model (dict) or one for all."""
    out = np.full(len(rows), np.nan)
    first = np.full(len(rows), np.nan)
    models: dict[tuple[str, int, str], TableCostModel] = {}
    for i, r in enumerate(rows.itertuples(index=False)):
        c = constants[r.model] if isinstance(constants, dict) else constants
        if c is None:
            continue
        key = (r.model, int(r.tp), r.model if isinstance(constants, dict) else "")
        if key not in models:
            models[key] = _cost_model(r.hardware, r.engine, r.model, int(r.tp), c)
        out[i], first[i] = simulate_row(r, models[key])
    return (out, first) if ttft else out


def _mape_pct(predicted: np.ndarray, measured: np.ndarray) -> float:
    return round(float(np.nanmean(np.abs(predicted / measured - 1)) * 100), 1)


def calibrate(frame: pd.DataFrame, pairs: list[str] | None = None, *, log: Any = None,
              data: str = _DATA, cross_validate: bool = True) -> tuple[dict[str, Any], pd.DataFrame]:
    """Fit every pair (or ``pairs``, "hardware/engine") of ``frame`` (benchmark rows with catalog
    names and ``requests``); return the calibration document and the per-row errors (the usable
    rows plus ``predicted_s``, ``error_pct``, ``cv_predicted_s``, ``cv_error_pct``,
    ``ttft_predicted_s``, ``cv_ttft_predicted_s``). Each pair's entry holds its prediction
    intervals and calibration support (``profiler.intervals.interval_entries`` over the pairs
    fitted in this call: borrowing reaches only those)."""
    rows, excluded = usable_rows(frame)
    out: dict[str, Any] = {
        "schema": 1,
        "method": ("profiler fit: roofline constants per (hardware, engine) by bounded least squares "
                   "on log latency of simulated benchmark runs, weak prior toward the kernel "
                   "calibration; leave-one-model-out cross-validation (profiler/engine_fit.py)"),
        "data": data,
        "pairs": {}}
    keys = sorted({pair_key(h, e) for h, e in zip(rows["hardware"], rows["engine"], strict=True)})
    per_row = []
    for key in keys if pairs is None else pairs:
        hw, eng = key.split("/") if "/" in key else (key, "")
        sel = rows[(rows["hardware"] == hw) & (rows["engine"] == eng)]
        if sel.empty:
            raise InputError(f"no usable rows for pair '{key}' (have: {', '.join(keys) or 'none'})")
        fit = fit_pair(sel, cross_validate=cross_validate)
        train, train_ttft = simulate_rows(fit.rows, rounded(fit.constants), ttft=True)
        cv, cv_ttft = simulate_rows(fit.rows, {m: rounded(c) for m, c in fit.folds.items()} | {
            m: None for m in set(fit.rows["model"]) - set(fit.folds)}, ttft=True)
        rejected = int(np.isnan(train).sum())
        ex = dict(excluded.get((hw, eng), {}))
        if rejected:
            ex["rejected-by-simulator"] = rejected
        out["pairs"][key] = summary_entry(fit, train, cv, ex)
        if "ttft_s" in fit.rows and fit.rows["ttft_s"].notna().any():
            measured = fit.rows["ttft_s"].to_numpy(np.float64)
            has = np.isfinite(measured)
            out["pairs"][key]["ttft"] = {
                "rows": int(has.sum()), "train_mape_pct": _mape_pct(train_ttft[has], measured[has]),
                "cv_mape_pct": _mape_pct(cv_ttft[has], measured[has]) if fit.folds else None}
        meas = fit.rows["latency_s"].to_numpy(np.float64)
        per_row.append(fit.rows.assign(
            predicted_s=train, error_pct=(train / meas - 1) * 100,
            cv_predicted_s=cv, cv_error_pct=(cv / meas - 1) * 100,
            ttft_predicted_s=train_ttft, cv_ttft_predicted_s=cv_ttft))
        if log is not None:
            e = out["pairs"][key]
            cv = "-" if e["cv_mape_pct"] is None else f"{e['cv_mape_pct']} %"
            log(f"{key}: {e['rows']} rows, train {e['train_mape_pct']} %, cv {cv}")
    frame = pd.concat(per_row, ignore_index=True) if per_row else rows.iloc[:0]
    for key, entry in interval_entries(frame).items() if per_row else ():
        out["pairs"][key].update(entry)  # prediction intervals and support (profiler/intervals.py)
    return out, frame


def render_markdown(doc: dict[str, Any]) -> str:
    lines = ["| hardware | engine | rows | models | TP | train MAPE % | leave-one-model-out MAPE % "
             "| TTFT rows: train / LOMO MAPE % | worst row (left out) | excluded |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key, e in sorted(doc["pairs"].items()):
        hw, eng = key.split("/")
        w = e["worst_rows"][0] if e["worst_rows"] else None
        worst = "" if w is None else (f"{w['model']} TP{w['tp']} N={w['input_len']} B={w['batch_size']}: "
                                      f"{w['latency_s']} s measured, {w['predicted_s']} s predicted "
                                      f"({w['error_pct']:+.0f} %)") + f" `{w['source']}`"
        cv = "—" if e["cv_mape_pct"] is None else f"{e['cv_mape_pct']}"
        ex = ", ".join(f"{k} {v}" for k, v in sorted(e["excluded_rows"].items())) or ""
        t = e.get("ttft")
        ttft = "" if not t else (f"{t['rows']}: {t['train_mape_pct']} / "
                                 f"{'-' if t['cv_mape_pct'] is None else t['cv_mape_pct']}")
        lines.append(f"| {hw} | {eng} | {e['rows']} | {len(e['models'])} | "
                     f"{','.join(map(str, e['tp']))} | {e['train_mape_pct']} | {cv} | {ttft} | {worst} "
                     f"| {ex} |")
    return "\n".join(lines)


def update_docs(doc: dict[str, Any], path: Path = DOCS_PATH) -> None:
    """Replace the generated block of ``docs/calibration.md`` with :func:`render_markdown`."""
    replace_marked_block(path, _BEGIN, _END, render_markdown(doc) + "\n")


def write_calibration(doc: dict[str, Any], path: Path = ENGINE_CALIBRATION_PATH) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", nargs="*", default=None, help="hardware/engine keys (default: all)")
    ap.add_argument("--update-docs", action="store_true")
    ap.add_argument("-o", "--out", type=Path, default=ENGINE_CALIBRATION_PATH)
    ap.add_argument("--residuals", type=Path, nargs="?", const=RESIDUALS_PATH, default=None, help=(
        "also write the per-row residuals the intervals are built from (default path "
        f"{RESIDUALS_PATH.relative_to(REPO)}; tests/profiler/test_intervals.py reads it)"))
    args = ap.parse_args(argv)
    doc, per_row = calibrate(load_bench_data(), args.pairs, log=lambda s: print(s, flush=True))
    if args.residuals is not None:
        with atomic_path(args.residuals) as tmp:
            residual_frame(per_row).to_csv(tmp, index=False, float_format="%.6g")
    if args.pairs is not None and args.out == ENGINE_CALIBRATION_PATH and ENGINE_CALIBRATION_PATH.exists():
        old = json.loads(ENGINE_CALIBRATION_PATH.read_text())
        old["pairs"].update(doc["pairs"])
        doc = old | {k: v for k, v in doc.items() if k != "pairs"} | {"pairs": old["pairs"]}
    write_calibration(doc, args.out)
    if args.update_docs:
        update_docs(doc)


if __name__ == "__main__":
    main()
