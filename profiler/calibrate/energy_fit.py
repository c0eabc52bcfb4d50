"""Fit the energy model's busy-power shares on LLM-Inference-Bench's measured power.

    python tools/fit_power.py          # print the fit and the error tables

The model is ``phasesim.simulator.results.energy``'s: a device draws ``idle_w`` plus
``(peak_w - idle_w) * (bandwidth_share * bytes_per_s / bandwidth + compute_share * flops_per_s /
peak_flops)``. A benchmark run (B prompts of N tokens at once, N tokens out each, ``latency_s``
in all) moves, by the simulator's own counting: the weights once per step (one prefill step,
N - 1 decode steps), the prompts' KV written, each decode step's KV read; and does the prefill's
and decode steps' FLOPs. Its average power is then linear in the two shares, which a least
squares fit (non-negative) gives.

Scopes are kept apart (``docs/calibration.md``): **device** = the ``Fig_16`` files (milliwatts,
one device's board power, TP 1: A100, H100, GH200 on Llama-3-8B) fit the catalog's shares;
**host** = the ``Fig_10``/``Fig_29`` files, whose readings sit well above the device's (an
unknown host share): fitted with the same shares plus a constant offset per hardware, and used
for the leave-one-model-out check (the device scope has only one model). Llama-2-7B rows are
withheld from the data altogether (``bench_data.WITHHELD_MODELS``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from phasesim.least_squares import fit_nonnegative
from phasesim.profiler.calibrate.bench_data import calibration_rows, load_bench_data
from phasesim.simulator.apps.latency import RunShape, latency_benchmark
from phasesim.simulator.catalog.economics import get_power
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.costs.resolve import resolve_table
from phasesim.simulator.results.energy import decode_work, prefill_work

__all__ = [
    "error_table",
    "fit_report",
    "fit_shares",
    "power_rows",
    "predict_w",
    "render_power_fit_tables",
    "render_simulated",
    "simulated_power",
]

DTYPE = "fp16"


def power_rows(frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Catalog rows with a measured power, with their scope and per-device utilisations
    ``u_bw`` (bytes / (bandwidth x time)) and ``u_fl`` (FLOPs / (peak x time))."""
    frame = load_bench_data() if frame is None else frame
    rows = calibration_rows(frame)
    rows = rows[rows["avg_power_w"].notna()].copy()
    rows["scope"] = np.where(rows["power_source"].str.startswith("Fig_16"), "device", "host")
    u_bw, u_fl, idle, span = [], [], [], []
    for _, r in rows.iterrows():
        hw, model, power = get_hardware(r["hardware"]), get_model(r["model"]), get_power(r["hardware"])
        b, n, tp, t = int(r["batch_size"]), int(r["input_len"]), int(r["tp"]), float(r["latency_s"])
        steps = max(int(r["output_len"]) - 1, 0)
        pf, pb = prefill_work(model, DTYPE, np.array([n]))
        df, db = decode_work(model, DTYPE, np.array([n]), np.array([steps]))
        weights = (1 + steps) * float(model.weight_bytes_touched(b, DTYPE))
        nbytes = weights + b * float(pb[0] + db[0])
        flops = b * float(pf[0] + df[0])
        u_bw.append(nbytes / (tp * hw.memory_bandwidth_bytes_per_s * t))
        u_fl.append(flops / (tp * hw.peak_flops_fp16 * t))
        idle.append(tp * power.idle_w)
        span.append(tp * (power.peak_w - power.idle_w))
    rows["u_bw"], rows["u_fl"], rows["idle_w"], rows["span_w"] = u_bw, u_fl, idle, span
    return rows.reset_index(drop=True)


def _design(rows: pd.DataFrame, offsets: Sequence[str]) -> np.ndarray:
    cols = [rows["span_w"] * rows["u_bw"], rows["span_w"] * rows["u_fl"]]
    cols += [(rows["hardware"] == h).astype(float) for h in offsets]
    return np.column_stack([np.asarray(c, dtype=float) for c in cols])


def fit_shares(rows: pd.DataFrame, *, offsets: bool = False) -> dict[str, float]:
    """``{"bandwidth_share", "compute_share"}`` (and ``offset_w:<hardware>`` per hardware when
    ``offsets``) fitted on ``rows``."""
    hws = sorted(rows["hardware"].unique()) if offsets else []
    coef = fit_nonnegative(_design(rows, hws),
                           (rows["avg_power_w"] - rows["idle_w"]).to_numpy(float),
                           free=len(hws)).coef
    out = {"bandwidth_share": float(coef[0]), "compute_share": float(coef[1])}
    out.update({f"offset_w:{h}": float(c) for h, c in zip(hws, coef[2:])})
    return out


def predict_w(rows: pd.DataFrame, fit: dict[str, float]) -> np.ndarray:
    offset = rows["hardware"].map(lambda h: fit.get(f"offset_w:{h}", 0.0)).to_numpy(float)
    return (rows["idle_w"] + rows["span_w"] * (fit["bandwidth_share"] * rows["u_bw"]
                                               + fit["compute_share"] * rows["u_fl"])).to_numpy(float) + offset


def _rel(pred: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
    return np.abs(pred - rows["avg_power_w"].to_numpy(float)) / rows["avg_power_w"].to_numpy(float)


def error_table(rows: pd.DataFrame, *, offsets: bool) -> pd.DataFrame:
    """Per hardware: rows, models, train error (one fit on all rows), and held-out errors:
    leave-one-model-out (fit without the model, predict its rows; host offsets need the
    hardware to keep another model) and, without offsets, leave-one-hardware-out."""
    fit = fit_shares(rows, offsets=offsets)
    rows = rows.assign(train=_rel(predict_w(rows, fit), rows), lomo=np.nan, loho=np.nan)
    for model in rows["model"].unique():
        held = rows["model"] == model
        rest = rows[~held]
        if rest.empty:
            continue
        f = fit_shares(rest, offsets=offsets)
        ok = held & (rows["hardware"].isin(rest["hardware"]) if offsets else held)
        rows.loc[ok, "lomo"] = _rel(predict_w(rows[ok], f), rows[ok])
    if not offsets:
        for hw in rows["hardware"].unique():
            held = rows["hardware"] == hw
            if (~held).any():
                f = fit_shares(rows[~held], offsets=False)
                rows.loc[held, "loho"] = _rel(predict_w(rows[held], f), rows[held])
    return rows.groupby("hardware").agg(
        rows=("train", "size"), models=("model", lambda m: ", ".join(sorted(set(m)))),
        train_mape=("train", "mean"), train_max=("train", "max"),
        lomo_mape=("lomo", "mean"), loho_mape=("loho", "mean")).reset_index()


def fit_report(frame: pd.DataFrame | None = None) -> dict[str, object]:
    rows = power_rows(frame)
    device, host = rows[rows["scope"] == "device"], rows[rows["scope"] == "host"]
    return {"device_fit": fit_shares(device), "device_errors": error_table(device, offsets=False),
            "host_fit": fit_shares(host, offsets=True), "host_errors": error_table(host, offsets=True),
            "rows": rows}


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.1f} %"


def render_power_fit_tables(report: dict[str, object]) -> str:
    """Per scope (device, host) the fitted shares and the error per hardware."""
    lines = []
    for scope in ("device", "host"):
        fit = report[f"{scope}_fit"]
        lines.append(f"**{scope} scope** fit: " + ", ".join(f"{k} = {v:.4g}" for k, v in fit.items()))
        lines.append("")
        lines.append("| hardware | rows | models | train MAPE | train max | leave-one-model-out MAPE "
                     "| leave-one-hardware-out MAPE |")
        lines.append("|---|---|---|---|---|---|---|")
        for _, r in report[f"{scope}_errors"].iterrows():
            lines.append(f"| {r['hardware']} | {r['rows']} | {r['models']} | {_pct(r['train_mape'])} | "
                         f"{_pct(r['train_max'])} | {_pct(r['lomo_mape'])} | {_pct(r['loho_mape'])} |")
        lines.append("")
    return "\n".join(lines)


def simulated_power(frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The device-scope power rows replayed end to end as ``sim latency`` runs them (the row's
    engine, its shipped or on-the-fly calibrated table, the catalog's energy model): the
    simulated ``latency_s`` and ``avg_power_w`` beside the measured ones. Unlike the fit above,
    which prices each run's bytes and FLOPs over its MEASURED time, this check uses the
    simulator's own step times, so it is what a user's `sim latency` shows."""
    rows = power_rows(frame)
    rows = rows[rows["scope"] == "device"].reset_index(drop=True)
    sim_lat, sim_w = [], []
    for r in rows.itertuples(index=False):
        shape = RunShape(hardware=r.hardware, model=r.model, engine=r.engine,
                         tensor_parallel=int(r.tp), input_len=int(r.input_len),
                         output_len=int(r.output_len), batch_size=int(r.batch_size))
        table = resolve_table(hardware=r.hardware, model=r.model, tensor_parallel=int(r.tp),
                              engine=r.engine)
        res = latency_benchmark(table.cost_model, shape)
        sim_lat.append(res.latency_s)
        sim_w.append(np.nan if res.avg_power_w is None else res.avg_power_w)
    return rows.assign(sim_latency_s=sim_lat, sim_avg_power_w=sim_w)


def render_simulated(rows: pd.DataFrame) -> str:
    """Per hardware and batch: runs, MAPE of the simulated average power and latency."""
    lines = ["| hardware | engine | batch | runs | power MAPE | power signed | latency MAPE |",
             "|---|---|---|---|---|---|---|"]
    rows = rows.assign(p_err=rows["sim_avg_power_w"] / rows["avg_power_w"] - 1,
                       l_err=rows["sim_latency_s"] / rows["latency_s"] - 1)
    for (hw, eng, b), g in rows.groupby(["hardware", "engine", "batch_size"]):
        lines.append(f"| {hw} | {eng} | {b} | {len(g)} | {_pct(g['p_err'].abs().mean())} | "
                     f"{100 * g['p_err'].mean():+.1f} % | {_pct(g['l_err'].abs().mean())} |")
    lines.append(f"| all | | | {len(rows)} | {_pct(rows['p_err'].abs().mean())} | "
                 f"{100 * rows['p_err'].mean():+.1f} % | {_pct(rows['l_err'].abs().mean())} |")
    return "\n".join(lines)
