"""Engine-level calibration: fit every (hardware, engine) pair of end-to-end benchmark rows
(LLM-Inference-Bench, or a user's CSV through ``profiler fit``) and validate it.

    python tools/calibrate_engines.py            # fit all pairs, write engine_calibration.json
    python tools/calibrate_engines.py --update-docs   # and the docs/calibration.md table
    python tools/calibrate_engines.py --pairs h100-sxm/vllm gh200/vllm   # some pairs
    python tools/calibrate_engines.py --rows R.csv    # per-row predictions elsewhere

Rows (``bench_data.calibration_rows``) leave the fit only for a stated reason, counted per pair:

- ``below-weight-read-floor``: faster than reading the weights once per generated token at the
  datasheet bandwidth (``bench_data.weight_read_bound_s``): those runs cannot have generated every
  token, or (Mixtral) read fewer experts than uniform routing predicts;
- ``below-kv-read-floor``: above that floor but faster than reading the weights AND, in each
  decode step, every running sequence's cached K and V once, at the datasheet bandwidth
  (``bench_data.kv_read_bound_s``): e.g. H100 TensorRT-LLM Qwen2-7B TP 4 at 2,048 tokens and
  batch 64 in 2.27 s, 0.58 of that floor and a quarter of the same run at 1,024 tokens (8.57 s);
- ``exceeds-model-context``: prompt plus output longer than the model's context (2,048 for the
  Fig_10 MHA models at N = 2,048): the engine cannot have generated every token;
- ``tp-not-supported``: a tensor-parallel degree the catalog refuses (e.g. 8 ways over Qwen2-7B's
  28 heads, or a model that does not fit): the simulator could not run it either;
- ``slower-than-same-bytes-sibling``: a run more than ``SIBLING_RATIO`` times slower than the run
  of a model with the same KV bytes per token and decoder weights within 10 % (same layer count,
  not a mixture of experts) on the same hardware, engine, TP, lengths and batch: the physics
  gives both the same step times, so the slower run paid for something the catalog does not
  describe (another engine build, a kernel fallback; e.g. H100 vLLM Mistral-7B at batch >= 32,
  1.5-2.1x Llama-3-8B). The faster sibling stays: it bounds what that hardware and engine did
  with those bytes. The rule reads the training data only;
- ``rejected-by-simulator``: the simulated run does not fit in KV memory as modelled.

Errors are those of the simulator (``phasesim.simulator.run.simulate`` of each row under the
engine's scheduling, on a table built from the constants rounded as written), for the fit on all
rows (train) and for each model's rows predicted by the fit without that model (cross-validated).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phasesim.atomic import atomic_path
from phasesim.errors import InputError
from phasesim.profiler.calibrate.bench_data import (
    calibration_rows,
    kv_read_bound_s,
    weight_read_bound_s,
)
from phasesim.profiler.calibrate.engine_fit import (
    POOLED_WEIGHT,
    PairFit,
    at_bound,
    borrowed_constants,
    fit_constants,
    fit_pair,
    pooled_prior,
    prepare,
    prior_constants,
    rounded,
    summary_entry,
)
from phasesim.profiler.calibrate.intervals import RESIDUALS_PATH, interval_entries
from phasesim.simulator.apps.latency import RunShape, benchmark_run
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
from phasesim.simulator.intervals import attention_layout

__all__ = [
    "calibrate_engines",
    "render_engine_fit_tables",
    "simulate_row",
    "simulate_rows",
    "usable_rows",
    "write_calibration",
    "write_rows",
]

_DATA = ("LLM-Inference-Bench (Argonne, BSD-3), simulator/tables/reference/llm_inference_bench.csv; "
         "every Llama-2-7B row withheld before it reached us")


SIBLING_RATIO = 1.3


def _same_bytes(a: str, b: str) -> bool:
    ma, mb = get_model(a), get_model(b)
    if ma.is_moe or mb.is_moe or ma.layers != mb.layers:
        return False
    return (ma.kv_bytes_per_token("fp16") == mb.kv_bytes_per_token("fp16")
            and abs(ma.param_count - ma.vocab * ma.hidden - (mb.param_count - mb.vocab * mb.hidden))
            <= 0.1 * (mb.param_count - mb.vocab * mb.hidden))


def _slower_than_sibling(frame: pd.DataFrame, keep: pd.Series) -> pd.Series:
    """Rows (among ``keep``) more than ``SIBLING_RATIO`` x slower than a same-bytes sibling's run of
    the same configuration (module docstring)."""
    out = pd.Series(False, index=frame.index)
    keys = ["hardware", "engine", "tp", "input_len", "output_len", "batch_size"]
    for _, g in frame[keep].groupby(keys):
        if g["model"].nunique() < 2:
            continue
        for i, r in g.iterrows():
            faster = g[(g["model"] != r["model"]) & (g["latency_s"] * SIBLING_RATIO < r["latency_s"])]
            if any(_same_bytes(r["model"], m) for m in faster["model"]):
                out[i] = True
    return out


def usable_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[tuple[str, str], dict[str, int]]]:
    """The rows a fit can use, and per pair the rows left out by reason (module docstring)."""
    frame = calibration_rows(frame).reset_index(drop=True)
    reason = pd.Series("", index=frame.index)
    weights_s = weight_read_bound_s(frame)
    reason[frame["latency_s"] < weights_s + kv_read_bound_s(frame)] = "below-kv-read-floor"
    reason[frame["latency_s"] < weights_s] = "below-weight-read-floor"
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
    reason[_slower_than_sibling(frame, reason == "")] = "slower-than-same-bytes-sibling"
    excluded: dict[tuple[str, str], dict[str, int]] = {}
    for (hw, eng, why), n in frame[reason != ""].assign(why=reason).groupby(
            ["hardware", "engine", "why"]).size().items():
        excluded.setdefault((hw, eng), {})[why] = int(n)
    return frame[reason == ""].reset_index(drop=True), excluded


def _cost_model(hardware: str, engine: str, model: str, tp: int, c: RooflineConstants,
                identical_prompts: bool = False) -> TableCostModel:
    entry = {"constants": {k: getattr(c, k) for k in c.__dataclass_fields__}, "rows": 0, "models": [],
             "train_mape_pct": None, "cv_mape_pct": None}
    df, meta = build_analytical_table(hardware=hardware, model=model, tensor_parallel=tp, engine=engine,
                                      engine_calibration={"pairs": {pair_key(hardware, engine): entry}},
                                      identical_prompts=identical_prompts)
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
        same = bool(getattr(r, "identical_prompts", False))
        key = (r.model, int(r.tp), r.model if isinstance(constants, dict) else "", same)
        if key not in models:
            models[key] = _cost_model(r.hardware, r.engine, r.model, int(r.tp), c, same)
        out[i], first[i] = simulate_row(r, models[key])
    return (out, first) if ttft else out


def _mape_pct(predicted: np.ndarray, measured: np.ndarray) -> float | None:
    err = np.abs(predicted / measured - 1)
    err = err[np.isfinite(err)]
    return round(float(err.mean()) * 100, 1) if err.size else None


def _layout(model: str) -> str:
    return attention_layout(get_model(model))


# leave-one-attention-layout-out trains on one layout only where it has at least this many rows
_MIN_LAYOUT_ROWS = 20


def _pooled_fits(rows: pd.DataFrame, keys: list[str], cross_validate: bool,
                 log: Any) -> dict[str, PairFit]:
    """Stage 1: each pair alone (prior: the kernel calibration). Stage 2: each pair again, its
    HARDWARE efficiencies drawn toward its hardware's other engines (``engine_fit.pooled_prior``);
    a left-out model's fold is drawn toward the other engines' folds without that model, so no
    fold sees the rows it predicts."""
    sel = {k: rows[(rows["hardware"] == k.split("/")[0]) & (rows["engine"] == k.split("/")[1])]
           for k in keys}
    alone = {k: fit_pair(sel[k], cross_validate=cross_validate) for k in keys}
    pooled: dict[str, PairFit] = {}
    for key in keys:
        hw = key.split("/")[0]
        others = [k for k in keys if k != key and k.startswith(hw + "/")]
        weights = [len(sel[k]) for k in others]
        prior = pooled_prior(hw, [alone[k].constants for k in others], weights)
        folds = {m: pooled_prior(hw, [alone[k].folds.get(m, alone[k].constants) for k in others],
                                 weights) for m in set(sel[key]["model"])}
        pooled[key] = fit_pair(sel[key], prior=prior, cross_validate=cross_validate,
                               fold_priors=folds, prior_weight=POOLED_WEIGHT if others else None)
        if log is not None and others:
            log(f"{key}: pooled with {', '.join(others)}")
    return pooled


def _layout_out(fit: PairFit) -> dict[str, RooflineConstants]:
    """Leave-one-attention-layout-out: for each layout of the pair, the constants fitted on the
    OTHER layout's rows alone (kernel prior, no pooling: the other engines of a hardware are
    grouped-query only), where that layout has ``_MIN_LAYOUT_ROWS`` rows. Keyed by the layout
    predicted."""
    layouts = fit.rows["model"].map(_layout)
    out: dict[str, RooflineConstants] = {}
    for target in ("mha", "gqa"):
        train = fit.rows[layouts != target]
        if (layouts == target).any() and len(train) >= _MIN_LAYOUT_ROWS:
            out[target] = fit_constants(prepare(train), prior_constants(fit.hardware), fit.free)
    return out


def calibrate_engines(frame: pd.DataFrame, pairs: list[str] | None = None, *, log: Any = None,
              data: str = _DATA, cross_validate: bool = True) -> tuple[dict[str, Any], pd.DataFrame]:
    """Fit every pair (or ``pairs``, "hardware/engine") of ``frame`` (benchmark rows with catalog
    names and ``requests``) with the pooled fit (:func:`_pooled_fits`); return the calibration
    document and the per-row errors: the usable rows plus, from the simulator, ``predicted_s``
    (train), ``cv_predicted_s`` (leave-one-model-out), ``lolo_predicted_s`` (leave-one-
    attention-layout-out), ``loho_predicted_s`` (leave-one-hardware-out), the ``*_ttft_predicted_s``
    of each, and ``*_error_pct``. Each pair's entry holds its prediction intervals and
    calibration support (``profiler.calibrate.intervals.interval_entries`` over the pairs fitted in this
    call, on the predictions as the rows file keeps them, 6 significant digits: borrowing reaches
    only those pairs)."""
    rows, excluded = usable_rows(frame)
    out: dict[str, Any] = {
        "schema": 2,
        "method": ("profiler fit: roofline constants per (hardware, engine) by bounded least squares "
                   "(soft-L1) on log latency of simulated benchmark runs; efficiencies bounded by "
                   "public microbenchmarks; each hardware's efficiencies pooled across its engines; "
                   "validated leave-one-model-out, leave-one-attention-layout-out and "
                   "leave-one-hardware-out (profiler/calibrate/engine_fit.py, profiler/calibrate/engine_calibrate.py)"),
        "data": data,
        "pairs": {}}
    keys = sorted({pair_key(h, e) for h, e in zip(rows["hardware"], rows["engine"], strict=True)})
    for key in pairs or []:
        if key not in keys:
            raise InputError(f"no usable rows for pair '{key}' (have: {', '.join(keys) or 'none'})")
    wanted = keys if pairs is None else list(pairs)
    # pooling needs the hardware's other engines, fitted or not asked for
    fit_keys = sorted({k for k in keys if k.split("/")[0] in {w.split("/")[0] for w in wanted}})
    fits = _pooled_fits(rows, fit_keys, cross_validate, log)
    per_row = []
    for key in wanted:
        hw, eng = key.split("/")
        fit = fits[key]
        n = len(fit.rows)
        train, train_ttft = simulate_rows(fit.rows, rounded(fit.constants), ttft=True)
        nan = np.full(n, np.nan)
        cv, cv_ttft = simulate_rows(fit.rows, {m: rounded(c) for m, c in fit.folds.items()} | {
            m: None for m in set(fit.rows["model"]) - set(fit.folds)}, ttft=True) if fit.folds else (nan, nan)
        layout_fits = _layout_out(fit) if cross_validate else {}
        lolo, lolo_ttft = simulate_rows(fit.rows, {
            m: rounded(layout_fits[_layout(m)]) if _layout(m) in layout_fits else None
            for m in set(fit.rows["model"])}, ttft=True) if layout_fits else (nan, nan)
        same_engine = [f.constants for f in _other_hardware_fits(rows, eng, hw, fits)] \
            if cross_validate else []
        loho, loho_ttft = simulate_rows(fit.rows, rounded(borrowed_constants(same_engine)), ttft=True) \
            if same_engine else (nan, nan)
        rejected = int(np.isnan(train).sum())
        ex = dict(excluded.get((hw, eng), {}))
        if rejected:
            ex["rejected-by-simulator"] = rejected
        entry = summary_entry(fit, train, cv, ex)
        entry["at_bound"] = at_bound(fit.constants, fit.free)
        meas = fit.rows["latency_s"].to_numpy(np.float64)
        layouts = fit.rows["model"].map(_layout).to_numpy()
        entry["layouts"] = {lay: int((layouts == lay).sum()) for lay in ("gqa", "mha") if (layouts == lay).any()}
        entry["lolo_mape_pct"] = {lay: _mape_pct(lolo[layouts == lay], meas[layouts == lay])
                                  for lay in layout_fits}
        entry["loho_mape_pct"] = _mape_pct(loho, meas) if same_engine else None
        entry["regimes"] = _regime_errors(fit.rows, {"train": train, "lomo": cv, "lolo": lolo,
                                                      "loho": loho})
        out["pairs"][key] = entry
        if "ttft_s" in fit.rows and fit.rows["ttft_s"].notna().any():
            measured = fit.rows["ttft_s"].to_numpy(np.float64)
            has = np.isfinite(measured)
            out["pairs"][key]["ttft"] = {
                "rows": int(has.sum()), "train_mape_pct": _mape_pct(train_ttft[has], measured[has]),
                "cv_mape_pct": _mape_pct(cv_ttft[has], measured[has]) if fit.folds else None}
        cols = {}
        for name, lat, ttft in (("", train, train_ttft), ("cv_", cv, cv_ttft),
                                ("lolo_", lolo, lolo_ttft), ("loho_", loho, loho_ttft)):
            cols[f"{name}predicted_s"] = lat
            cols[f"{name}error_pct"] = (lat / meas - 1) * 100
            cols[f"{name}ttft_predicted_s"] = ttft
        per_row.append(fit.rows.assign(layout=layouts, **cols))
        if log is not None:
            e = out["pairs"][key]
            cvs = "-" if e["cv_mape_pct"] is None else f"{e['cv_mape_pct']} %"
            log(f"{key}: {e['rows']} rows, train {e['train_mape_pct']} %, cv {cvs}, "
                f"layout-out {e['lolo_mape_pct'] or '-'}, hardware-out {e['loho_mape_pct']}")
    frame = _six_digits(pd.concat(per_row, ignore_index=True)) if per_row else rows.iloc[:0]
    for key, entry in interval_entries(frame).items() if per_row else ():
        out["pairs"][key].update(entry)  # prediction intervals and support (profiler/calibrate/intervals.py)
    return out, frame


def _six_digits(frame: pd.DataFrame) -> pd.DataFrame:
    """The predictions as the rows file keeps them (6 significant digits), so intervals built from
    the file and from a fresh fit are the same."""
    cols = [c for c in frame.columns if c.endswith("predicted_s")]
    return frame.assign(**{c: frame[c].map(lambda v: float(f"{v:.6g}")) for c in cols})


# the software backend an engine's kernels are built for (CUDA, ROCm, oneAPI/SynapseAI, SambaFlow):
# leave-one-hardware-out borrows an engine's constants from the same backend where it has any
# (as a user predicts an H200 from H100 fits), from every other hardware otherwise
_BACKEND = {"a100-sxm-40gb": "cuda",
            "a100-sxm-80gb": "cuda", "h100-sxm": "cuda", "gh200": "cuda", "h200": "cuda",
            "l40s": "cuda", "mi250": "rocm", "mi300x": "rocm", "max1550": "oneapi",
            "gaudi2": "synapse", "sn40l": "sambaflow"}


def _other_hardware_fits(rows: pd.DataFrame, engine: str, hardware: str,
                         fits: dict[str, PairFit]) -> list[PairFit]:
    """Fits of ``engine`` on other hardware of the same backend (``_BACKEND``; all others where
    it has none), for a leave-one-hardware-out prediction (pooled fits where they exist, else
    the pair alone without cross-validation)."""
    out = []
    others = sorted(set(rows.loc[rows["engine"] == engine, "hardware"]) - {hardware})
    same = [h for h in others if _BACKEND.get(h) == _BACKEND.get(hardware, "?")]
    for hw in same or others:
        key = pair_key(hw, engine)
        if key not in fits:
            sel = rows[(rows["hardware"] == hw) & (rows["engine"] == engine)]
            fits[key] = fit_pair(sel, cross_validate=False)
        out.append(fits[key])
    return out


# regimes of the validation tables (issue 20): batch 1 vs batch >= 16, context <= 512 vs >= 1,024
REGIMES: dict[str, Any] = {
    "all": lambda b, n: np.ones_like(b, dtype=bool),
    "batch 1": lambda b, n: b == 1,
    "batch >= 16": lambda b, n: b >= 16,
    "N <= 512": lambda b, n: n <= 512,
    "N >= 1024": lambda b, n: n >= 1024,
}


def _regime_errors(rows: pd.DataFrame, predictions: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """MAPE % per regime and protocol, and the row count (``batch_size`` is the engine's batch:
    llama.cpp's -b; ``input_len`` = N)."""
    meas = rows["latency_s"].to_numpy(np.float64)
    b = rows["batch_size"].to_numpy()
    n = rows["input_len"].to_numpy()
    out: dict[str, dict[str, Any]] = {}
    for name, rule in REGIMES.items():
        mask = rule(b, n)
        if not mask.any():
            continue
        out[name] = {"rows": int(mask.sum())} | {
            proto: (_mape_pct(pred[mask], meas[mask]) if np.isfinite(pred[mask]).any() else None)
            for proto, pred in predictions.items()}
    return out


def _cell(v: Any) -> str:
    return "—" if v is None else f"{v}"


def render_engine_fit_tables(doc: dict[str, Any]) -> str:
    """The generated block of docs/calibration.md: per pair the fit and its three validations,
    the validations per regime side by side, and the constants (those on a bound marked)."""
    lines = ["| hardware | engine | rows (GQA / MHA) | models | TP | train MAPE % | leave-one-model-out % "
             "| leave-one-layout-out %: GQA→MHA / MHA→GQA | leave-one-hardware-out % "
             "| TTFT rows: train / LOMO % | worst row (left out) | excluded |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, e in sorted(doc["pairs"].items()):
        hw, eng = key.split("/")
        w = e["worst_rows"][0] if e["worst_rows"] else None
        worst = "" if w is None else (f"{w['model']} TP{w['tp']} N={w['input_len']} B={w['batch_size']}: "
                                      f"{w['latency_s']} s measured, {w['predicted_s']} s predicted "
                                      f"({w['error_pct']:+.0f} %)") + f" `{w['source']}`"
        ex = ", ".join(f"{k} {v}" for k, v in sorted(e["excluded_rows"].items())) or ""
        t = e.get("ttft")
        ttft = "" if not t else f"{t['rows']}: {t['train_mape_pct']} / {_cell(t['cv_mape_pct'])}"
        lay = e.get("layouts", {})
        lolo = e.get("lolo_mape_pct", {})
        lines.append(
            f"| {hw} | {eng} | {e['rows']} ({lay.get('gqa', 0)} / {lay.get('mha', 0)}) | "
            f"{len(e['models'])} | {','.join(map(str, e['tp']))} | {e['train_mape_pct']} | "
            f"{_cell(e['cv_mape_pct'])} | {_cell(lolo.get('mha'))} / {_cell(lolo.get('gqa'))} | "
            f"{_cell(e.get('loho_mape_pct'))} | {ttft} | {worst} | {ex} |")
    lines += ["", "Per regime (MAPE %, left-out predictions: leave-one-model-out / leave-one-layout-out "
              "/ leave-one-hardware-out; — where a protocol has no prediction for those rows):", "",
              "| hardware | engine | " + " | ".join(REGIMES) + " |",
              "|---|---|" + "---|" * len(REGIMES)]
    for key, e in sorted(doc["pairs"].items()):
        hw, eng = key.split("/")
        cells = []
        for name in REGIMES:
            r = e.get("regimes", {}).get(name)
            cells.append("" if r is None else
                         f"{r['rows']}: {_cell(r['lomo'])} / {_cell(r['lolo'])} / {_cell(r['loho'])}")
        lines.append(f"| {hw} | {eng} | " + " | ".join(cells) + " |")
    lines += ["", "Constants (efficiencies are fractions of the datasheet peak; **bold**: on a "
              "physical bound, `engine_fit.BOUNDS`):", "",
              "| hardware | engine | GEMM | weights | prefill attn | KV read | decode attn "
              "| GQA re-read | pass s | layer s | seq s | prefill s | all-reduce | hop s |",
              "|---|---|" + "---|" * 12]
    names = ("gemm_efficiency", "memory_efficiency", "attention_efficiency", "kv_read_efficiency",
             "decode_attention_efficiency", "gqa_reread_fraction", "pass_overhead_s",
             "layer_overhead_s", "sequence_overhead_s", "prefill_overhead_s",
             "allreduce_efficiency", "allreduce_hop_latency_s")
    for key, e in sorted(doc["pairs"].items()):
        hw, eng = key.split("/")
        bound = {b.split("=")[0] for b in e.get("at_bound", [])}
        c = e["constants"]
        cells = []
        for f in names:
            v = "—" if c.get(f) is None or f not in e["fitted"] else f"{c[f]:.3g}"
            cells.append(f"**{v}**" if f in bound else v)
        lines.append(f"| {hw} | {eng} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_calibration(doc: dict[str, Any], path: Path = ENGINE_CALIBRATION_PATH) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


# every usable row with its fitted and left-out predictions (the validations' raw material: the
# prediction intervals' residuals, the docs' regime tables), written beside the calibration
_ROW_COLUMNS = ("source", "hardware", "engine", "model", "layout", "tp", "input_len", "output_len",
                "batch_size", "identical_prompts", "latency_s", "ttft_s", "predicted_s", "cv_predicted_s",
                "lolo_predicted_s", "loho_predicted_s", "ttft_predicted_s", "cv_ttft_predicted_s",
                "lolo_ttft_predicted_s", "loho_ttft_predicted_s")


def write_rows(per_row: pd.DataFrame, path: Path = RESIDUALS_PATH) -> None:
    """The per-row frame of :func:`calibrate_engines` as CSV (fixed columns, 6 significant digits)."""
    cols = [c for c in _ROW_COLUMNS if c in per_row.columns]
    with atomic_path(path) as tmp:
        per_row[cols].to_csv(tmp, index=False, float_format="%.6g")
