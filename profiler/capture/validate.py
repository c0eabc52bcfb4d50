"""``profiler validate``: closed-loop check of a cost table against the real model.

1. Real: replay a short trace through ``phasesim.profiler.capture.serve_loop`` (real forward passes, real KV cache)
   and record each request's TTFT/TPOT/E2E — or load records saved earlier (``--real``).
2. Estimate the same trace with the table: the phasesim simulator (1 colocated instance whose
   batching matches the loop) when it is available, and always a replay of the loop's policy
   with the table's step times ("loop replay": isolates table error from policy mismatch).
3. Report the relative error of median and p90 of TTFT, TPOT and E2E, plus per-iteration error of
   the table against the loop's own measured steps.

Only step 1 needs torch and a device; ``--real R.parquet`` re-runs 2-3 on any CPU.
"""

from __future__ import annotations

import json
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from phasesim.atomic import atomic_path
from phasesim.errors import CommandError, InputError
from phasesim.profiler.capture.sim_bridge import simulate_colocated
from phasesim.seeds import check_seed
from phasesim.simulator import table_schema as ts
from phasesim.simulator.catalog.models import ModelSpec, get_model
from phasesim.simulator.costs import FunctionCostModel, TableCostModel
from phasesim.traces.storage import read_trace

__all__ = ["ValidateConfig", "run_validation", "render_report", "table_lookup", "loop_replay",
           "compare", "REAL_METADATA_KEY"]

REAL_METADATA_KEY = b"phasesim.validate_real"
METRICS = ("ttft_s", "tpot_s", "e2e_s")
TRACE_COLUMNS = ("request_id", "arrival_s", "prompt_tokens", "output_tokens")


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidateConfig:
    table: Path
    trace: Path
    model: str
    device: str
    dtype: str | None = None
    save_real: Path | None = None
    real: Path | None = None
    max_seconds: float | None = None
    graphs: bool = True
    max_num_seqs: int = 16
    seed: int = 0
    command: str = ""

    def __post_init__(self) -> None:
        check_seed(self.seed)


# --------------------------------------------------------------------------- inputs

def read_validation_trace(path: Path) -> pd.DataFrame:
    """The canonical trace (via ``phasesim.traces.read_trace``), reduced to the four required columns."""
    df = read_trace(path)
    return df.loc[:, list(TRACE_COLUMNS)].reset_index(drop=True)


def read_cost_table(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The table's rows and metadata, read directly (a partial capture, e.g. one cut short before
    any decode point, is still worth comparing on the phase it has)."""
    if not Path(path).exists():
        raise InputError("cost table not found", path=path)
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(ts.METADATA_KEY, b"{}"))
    except (pa.ArrowInvalid, OSError, json.JSONDecodeError) as exc:
        raise InputError(f"not a cost table: {' '.join(str(exc).split())[:160]}", path=path) from None
    df = table.to_pandas()
    if missing := [c for c in ts.COLUMNS if c not in df.columns]:
        raise InputError("missing column", path=path, column=missing[0])
    return df, meta


# --------------------------------------------------------------------------- table lookups

def table_lookup(df: pd.DataFrame, *, kv_bytes_per_token: int = 0) -> FunctionCostModel:
    """Step times straight from the table's rows, as a real cost model (``FunctionCostModel``):
    prefill by (batch, mean prompt tokens), decode by (batch, mean context), piecewise-linear in
    tokens and in batch, clamped at the grid's edges. For a table the simulator's
    ``TableCostModel`` refuses (a partial capture): it needs both phases and nothing else."""
    grids: dict[str, tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]] = {}
    for phase in ("prefill", "decode"):
        sub = df[df[ts.PHASE] == phase]
        if sub.empty:
            raise InputError(f"cost table has no {phase} rows", column=ts.PHASE)
        by_batch = {int(b): g.sort_values(ts.TOKENS) for b, g in sub.groupby(ts.BATCH_SIZE)}
        grids[phase] = (np.array(sorted(by_batch), dtype=np.float64),
                        [(by_batch[b][ts.TOKENS].to_numpy(np.float64),
                          by_batch[b][ts.LATENCY_S].to_numpy(np.float64)) for b in sorted(by_batch)])

    def at(phase: str, batch: int, tokens: float) -> float:
        batches, lines = grids[phase]
        vals = np.array([np.interp(tokens, *line) for line in lines])
        return float(np.interp(batch, batches, vals)) if len(batches) > 1 else float(vals[0])

    return FunctionCostModel(
        prefill=lambda total_tokens, batch: at("prefill", batch, total_tokens / batch),
        decode=lambda batch, contexts: np.array([at("decode", batch, float(c))
                                                 for c in np.atleast_1d(contexts)]),
        kv_bytes_per_token=kv_bytes_per_token)


def table_cost_model(df: pd.DataFrame, meta: dict[str, Any], spec: ModelSpec) -> tuple[Any, str]:
    """The simulator's ``TableCostModel`` (same interpolation as the simulator) when the table
    validates; else :func:`table_lookup` (e.g. a partial capture)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return TableCostModel.from_table(df, meta, model=spec), "phasesim.simulator.costs.TableCostModel"
    except (ImportError, InputError) as exc:
        dtype = str(df[ts.DTYPE].iloc[0])
        return (table_lookup(df, kv_bytes_per_token=spec.kv_bytes_per_token(dtype)),
                f"profiler.capture.validate.table_lookup ({' '.join(str(exc).split())[:160]})")


# --------------------------------------------------------------------------- estimates

def loop_replay(trace: pd.DataFrame, cost: Any, *, max_num_seqs: int) -> pd.DataFrame:
    """The serve loop's policy as a deterministic event replay with step times from ``cost``."""
    pending = deque(trace.sort_values(["arrival_s", "request_id"]).itertuples(index=False))
    queue: deque[Any] = deque()
    running: list[list[Any]] = []  # [request_id, output_tokens, pos, generated]
    rec: dict[int, dict[str, float]] = {}
    now = 0.0
    while pending or queue or running:
        while pending and pending[0].arrival_s <= now:
            queue.append(pending.popleft())
        if queue and len(running) < max_num_seqs:
            req = queue.popleft()
            rid, p = int(req.request_id), int(req.prompt_tokens)
            start = now
            now += cost.prefill_time_s(np.array([p]), np.array([0]))
            rec[rid] = {"prefill_start_s": start, "first_token_s": now}
            if int(req.output_tokens) <= 1:
                rec[rid]["finish_s"] = now
            else:
                running.append([rid, int(req.output_tokens), p, 1])
            continue
        if running:
            mean_ctx = np.array([np.mean([s[2] for s in running])])
            now += float(cost.decode_step_times_s(len(running), mean_ctx)[0])
            for s in running:
                s[2] += 1
                s[3] += 1
            for s in [s for s in running if s[3] >= s[1]]:
                rec[s[0]]["finish_s"] = now
            running = [s for s in running if s[3] < s[1]]
            continue
        now = max(now, float(pending[0].arrival_s))
    out = trace.copy()
    out["prefill_start_s"] = [rec[int(r)]["prefill_start_s"] for r in out["request_id"]]
    out["first_token_s"] = [rec[int(r)]["first_token_s"] for r in out["request_id"]]
    out["finish_s"] = [rec[int(r)]["finish_s"] for r in out["request_id"]]
    return _with_metrics(out)


def _with_metrics(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["ttft_s"] = df["first_token_s"] - df["arrival_s"]
    n = df["output_tokens"].to_numpy()
    df["tpot_s"] = np.where(n > 1, (df["finish_s"] - df["first_token_s"]) / np.maximum(n - 1, 1),
                            np.nan)
    df["e2e_s"] = df["finish_s"] - df["arrival_s"]
    return df


def simulator_estimate(trace: pd.DataFrame, *, table: Path, model: ModelSpec, hardware: str,
                       dtype: str, max_num_seqs: int, kv_capacity_tokens: int | None,
                       model_ref: str) -> tuple[pd.DataFrame | None, str]:
    """The phasesim simulator on a 1-instance colocated topology with the table's costs.
    Returns (requests, note); (None, reason) if the simulator cannot run this here."""
    try:
        return simulate_colocated(trace, table=table, model=model, hardware=hardware, dtype=dtype,
                                  max_num_seqs=max_num_seqs, kv_capacity_tokens=kv_capacity_tokens,
                                  model_ref=model_ref)
    except Exception as exc:  # noqa: BLE001 - the report says why, the loop replay still stands
        return None, f"simulator failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


# --------------------------------------------------------------------------- comparison

def _stats(values: pd.Series) -> dict[str, float | None]:
    v = values.dropna().to_numpy(np.float64)
    if len(v) == 0:
        return {"p50": None, "p90": None, "mean": None}
    return {"p50": float(np.median(v)), "p90": float(np.percentile(v, 90)),
            "mean": float(np.mean(v))}


def _rel_pct(est: float | None, real: float | None) -> float | None:
    if est is None or real is None or real == 0:
        return None
    return 100.0 * (est - real) / real


def compare(real: pd.DataFrame, est: pd.DataFrame) -> dict[str, Any]:
    """Median and p90 of each metric, real vs estimate, and the relative error in percent."""
    est = est.set_index("request_id").loc[real["request_id"]].reset_index()
    out: dict[str, Any] = {"requests": int(len(real)), "metrics": {}}
    worst = 0.0
    for m in METRICS:
        rs, es = _stats(real[m]), _stats(est[m])
        errs = {q: _rel_pct(es[q], rs[q]) for q in ("p50", "p90")}
        per_req = ((est[m] - real[m]) / real[m]).abs().dropna()
        out["metrics"][m] = {"real": rs, "estimate": es, "error_pct": errs,
                             "per_request_median_abs_error_pct":
                                 float(100 * per_req.median()) if len(per_req) else None}
        worst = max([worst, *[abs(e) for e in errs.values() if e is not None]])
    out["max_abs_error_pct"] = worst
    return out


def step_errors(iterations: pd.DataFrame, cost: Any) -> dict[str, Any]:
    """The table's prediction of each iteration the loop actually ran, vs its measured time."""
    out: dict[str, Any] = {}
    for kind in ("prefill", "decode"):
        it = iterations[iterations["kind"] == kind]
        if it.empty:
            continue
        if kind == "prefill":
            pred = np.array([cost.prefill_time_s(np.array([t]), np.array([0]))
                             for t in it["tokens"]])
        else:
            pred = np.array([cost.decode_step_times_s(int(b), np.array([t / b]))[0]
                             for b, t in zip(it["batch_size"], it["tokens"])])
        real = it["duration_s"].to_numpy(np.float64)
        out[kind] = {"iterations": int(len(it)), "real_total_s": float(real.sum()),
                     "table_total_s": float(pred.sum()),
                     "total_error_pct": _rel_pct(float(pred.sum()), float(real.sum())),
                     "median_error_pct": float(100 * np.median((pred - real) / real))}
    return out


# --------------------------------------------------------------------------- real records

def save_real(path: Path, requests: pd.DataFrame, iterations: pd.DataFrame,
              meta: dict[str, Any]) -> None:
    """Per-request records as parquet rows; iterations and provenance in the metadata."""
    full = {**meta, "iterations": {c: iterations[c].tolist() for c in iterations.columns}}
    table = pa.Table.from_pandas(requests, preserve_index=False)
    table = table.replace_schema_metadata(
        {REAL_METADATA_KEY: json.dumps(full, sort_keys=True, default=str).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def load_real(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    if not Path(path).exists():
        raise InputError("real records not found", path=path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"not a parquet file: {exc}", path=path) from None
    raw = (table.schema.metadata or {}).get(REAL_METADATA_KEY)
    if raw is None:
        raise InputError("not a `profiler validate --save-real` file (no metadata)", path=path)
    meta = json.loads(raw)
    iterations = pd.DataFrame(meta.pop("iterations", {}))
    return table.to_pandas(), iterations, meta


# --------------------------------------------------------------------------- driver

def _run_real(cfg: ValidateConfig, trace: pd.DataFrame, dtype: str,
              say: Callable[[str], None]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    import torch  # noqa: F401 - optional extra; a missing one becomes the install hint

    from phasesim.profiler.capture.serve_loop import LoopPolicy, serve_trace
    from phasesim.profiler.capture.table import host_provenance
    from phasesim.profiler.capture.torch_device import open_device

    spec = get_model(cfg.model)
    need = (trace["prompt_tokens"] + trace["output_tokens"]).to_numpy()
    if (too_long := np.flatnonzero(need > spec.max_context_tokens)).size:
        raise InputError(f"prompt + output tokens = {int(need[too_long[0]])} exceed {spec.name}'s "
                         f"context of {spec.max_context_tokens}", path=cfg.trace,
                         row=int(too_long[0]) + 1, column="prompt_tokens")
    info = open_device(cfg.device)
    if dtype not in ("fp16", "bf16", "fp32"):
        raise InputError(f"dtype {dtype!r} not supported by the torch loop", column="--dtype")
    result = serve_trace(spec=spec, info=info, dtype=dtype, trace=trace,
                         policy=LoopPolicy(max_num_seqs=cfg.max_num_seqs), graphs=cfg.graphs,
                         max_seconds=cfg.max_seconds, seed=cfg.seed, log=say)
    meta = {"capture": {**host_provenance(cfg.command), **info.as_dict()}, "model": spec.name,
            "dtype": dtype, "trace": str(cfg.trace), "table": str(cfg.table),
            "policy": result.policy.as_dict(), "graphs_used": result.graphs_used,
            "excluded_startup_s": result.excluded_s, "stopped_by": result.stopped_by,
            "loop": result.extra, "requests_in_trace": int(len(trace))}
    return result.requests, result.iterations, meta


def run_validation(cfg: ValidateConfig, *, console: Console) -> dict[str, Any]:
    def say(msg: str) -> None:
        console.print(f"[validate] {msg}", highlight=False, markup=False)

    t0 = time.monotonic()
    trace = read_validation_trace(cfg.trace)
    table_meta: dict[str, Any] = {}
    table_df: pd.DataFrame | None = None
    table_error = ""
    try:
        table_df, table_meta = read_cost_table(cfg.table)
    except InputError as exc:
        table_error = str(exc)
    dtype = cfg.dtype or table_meta.get("dtype") or "fp16"

    if cfg.real is not None:
        real, iterations, real_meta = load_real(cfg.real)
        say(f"loaded {len(real)} real request records from {cfg.real}")
    else:
        real, iterations, real_meta = _run_real(cfg, trace, dtype, say)
        say(f"real run: {len(real)}/{len(trace)} requests completed in "
            f"{time.monotonic() - t0:.1f} s ({real_meta['stopped_by'] or 'whole trace'})")
        if cfg.save_real is not None:
            save_real(cfg.save_real, real, iterations, real_meta)
            say(f"saved real records to {cfg.save_real}")
    if real.empty:
        raise CommandError("no request completed in the real run (budget too small?)")
    if table_df is None:
        raise CommandError(f"cannot compare: {table_error}"
                            + (f" (real records saved to {cfg.save_real})" if cfg.save_real else ""))

    subset = trace[trace["request_id"].isin(real["request_id"])].reset_index(drop=True)
    spec = get_model(cfg.model)
    policy = real_meta.get("policy", {})  # records saved before the rename say max_running
    max_num_seqs = int(policy.get("max_num_seqs", policy.get("max_running", cfg.max_num_seqs)))
    hardware = str(table_meta.get("hardware") or table_df[ts.HARDWARE].iloc[0])
    lookup, lookup_note = table_cost_model(table_df, table_meta, spec)
    estimates: dict[str, Any] = {}
    replay = loop_replay(subset, lookup, max_num_seqs=max_num_seqs)
    estimates["loop_replay"] = compare(real, replay)
    loop = real_meta.get("loop", {})
    kv_tokens = (int(loop["kv_rows"]) * int(loop["kv_capacity_tokens"])
                 if "kv_rows" in loop and "kv_capacity_tokens" in loop else None)
    sim_df, sim_note = simulator_estimate(subset, table=cfg.table, model=spec, hardware=hardware,
                                          dtype=dtype, max_num_seqs=max_num_seqs,
                                          kv_capacity_tokens=kv_tokens, model_ref=cfg.model)
    if sim_df is not None:
        estimates["simulator"] = compare(real, sim_df)
    primary = "simulator" if sim_df is not None else "loop_replay"
    report = {
        "table": str(cfg.table), "trace": str(cfg.trace), "model": spec.name, "dtype": dtype,
        "hardware": hardware, "device": real_meta.get("capture", {}).get("device"),
        "requests_in_trace": int(len(trace)), "requests_compared": int(len(real)),
        "real_source": str(cfg.real) if cfg.real else "run",
        "policy": real_meta.get("policy"), "graphs_used": real_meta.get("graphs_used"),
        "stopped_by": real_meta.get("stopped_by", ""),
        "primary": primary, "simulator_note": sim_note, "table_lookup": lookup_note,
        "errors_pct": {m: estimates[primary]["metrics"][m]["error_pct"] for m in METRICS},
        "max_abs_error_pct": estimates[primary]["max_abs_error_pct"],
        "estimates": estimates,
        "step_errors": step_errors(iterations, lookup) if not iterations.empty else {},
        "table_complete": table_meta.get("complete"),
        "wall_s": time.monotonic() - t0,
    }
    return _plain(report)


def _plain(x: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN/inf to None, keys as strings."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if x is None or isinstance(x, str):
        return x
    return str(x)


def render_report(report: dict[str, Any]) -> Table:
    t = Table(title=f"validate {report['model']} on {report['device']} vs {report['table']} "
                    f"({report['requests_compared']} requests, estimate: {report['primary']})")
    for col in ("metric", "real p50", "est p50", "err p50 %", "real p90", "est p90", "err p90 %"):
        t.add_column(col, justify="right")
    est = report["estimates"][report["primary"]]["metrics"]

    def f(x: float | None, scale: float = 1e3) -> str:
        return "-" if x is None else f"{x * scale:.2f}"

    for m in METRICS:
        e = est[m]
        t.add_row(m.replace("_s", " (ms)"), f(e["real"]["p50"]), f(e["estimate"]["p50"]),
                  f(e["error_pct"]["p50"], 1), f(e["real"]["p90"]), f(e["estimate"]["p90"]),
                  f(e["error_pct"]["p90"], 1))
    return t
