"""``kind: phases`` points: prefill and decode curves of one hardware, straight from its cost table.

TTFT of a lone request = one prefill pass over its prompt; TPOT at batch size B = one decode step
of B sequences whose context is ``context_tokens``; decode throughput = B / TPOT (tokens/s).
Batch sizes above the hardware's ``max_batch_size`` (1 on Groq) or above what its KV memory holds
at ``context_tokens`` are marked unsupported (no throughput). ``decode-dense`` rows hold every
supported batch size 1..max, so crossovers can be found to the exact integer batch.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phasesim.atomic import atomic_path
from phasesim.errors import InputError
from phasesim.scenarios.model import ScenarioSpec
from phasesim.simulator.catalog.engines import get_engine
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.costs import kv_capacity_tokens
from phasesim.simulator.costs.resolve import resolve_table
from phasesim.simulator.costs.table_model import TableCostModel
from phasesim.simulator.results.output import parquet_bytes, summary_json

__all__ = ["phases_files", "phases_curves", "check_phases", "CURVES_FILE"]

CURVES_FILE = "curves.parquet"


def check_phases(spec: ScenarioSpec, scenario_dir: Path) -> None:
    assert spec.phases is not None
    try:
        get_hardware(spec.phases.hardware)
    except InputError as exc:
        raise InputError(exc.message, column="phases.hardware") from None
    if spec.phases.table is not None and not Path(spec.phases.table).is_file():
        raise InputError(f"cost table not found: {spec.phases.table}", column="phases.table")
    if spec.phases.engine is not None:
        try:
            get_engine(spec.phases.engine)
        except InputError as exc:
            raise InputError(exc.message, column="phases.engine") from None
    if spec.phases.table is None:
        try:
            _table(spec)
        except InputError as exc:
            raise InputError(exc.message, column="phases.hardware") from None


def _table(spec: ScenarioSpec) -> TableCostModel:
    """The point's ``table`` (whatever its engine), else the hardware's table for the named
    engine (else its default one), chosen as ``sim replay`` chooses
    (``phasesim.simulator.costs.resolve.resolve_table``: shipped, or built)."""
    phases = spec.phases
    assert phases is not None
    return resolve_table(hardware=phases.hardware, model=spec.model, dtype=spec.dtype,
                         profile=phases.table,
                         engine=phases.engine if phases.table is None else None).cost_model


def phases_curves(spec: ScenarioSpec) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The curves (one row per prompt length and per batch size) and the point's summary."""
    phases = spec.phases
    assert phases is not None
    hardware = get_hardware(phases.hardware)
    cost = _table(spec)
    kv_tokens = kv_capacity_tokens(hardware=phases.hardware, model=spec.model, dtype=spec.dtype,
                                   engine=phases.engine)
    batch_by_kv = kv_tokens // phases.context_tokens
    max_batch = min(hardware.max_batch_size, batch_by_kv)
    max_prompt = hardware.max_context_tokens
    rows: list[dict[str, Any]] = []
    for prompt in phases.prompt_tokens:
        fits = (max_prompt is None or prompt <= max_prompt) and prompt <= kv_tokens
        ttft_s = float(cost.prefill_time_s(np.array([prompt], dtype=np.int64),
                                           np.zeros(1, dtype=np.int64))) if fits else math.nan
        rows.append({"phase": "prefill", "hardware": phases.hardware, "prompt_tokens": prompt,
                     "batch_size": 1, "context_tokens": prompt, "time_s": ttft_s,
                     "tokens_per_s": prompt / ttft_s if fits else math.nan,
                     "supported": bool(fits)})
    for batch in phases.batch_sizes:
        supported = batch <= max_batch
        step_s = float(cost.decode_step_times_s(
            batch, np.array([float(phases.context_tokens)]))[0]) if supported else math.nan
        rows.append({"phase": "decode", "hardware": phases.hardware, "prompt_tokens": 0,
                     "batch_size": batch, "context_tokens": phases.context_tokens,
                     "time_s": step_s, "tokens_per_s": batch / step_s if supported else math.nan,
                     "supported": supported})
    dense = np.arange(1, max(max_batch, 0) + 1)
    for batch in dense:  # every supported batch size, for exact integer crossovers
        step_s = float(cost.decode_step_times_s(
            int(batch), np.array([float(phases.context_tokens)]))[0])
        rows.append({"phase": "decode-dense", "hardware": phases.hardware, "prompt_tokens": 0,
                     "batch_size": int(batch), "context_tokens": phases.context_tokens,
                     "time_s": step_s, "tokens_per_s": batch / step_s, "supported": True})
    curves = pd.DataFrame(rows).astype({"prompt_tokens": np.int64, "batch_size": np.int64,
                                        "context_tokens": np.int64, "time_s": np.float64,
                                        "tokens_per_s": np.float64, "supported": bool})
    decode = curves[(curves["phase"] == "decode") & curves["supported"]]
    prefill = curves[curves["phase"] == "prefill"]
    summary: dict[str, Any] = {
        "hardware": phases.hardware,
        "model": spec.model,
        "dtype": spec.dtype,
        "context_tokens": phases.context_tokens,
        "max_batch_size": int(hardware.max_batch_size),
        "max_batch_by_kv": int(batch_by_kv),
        "kv_capacity_tokens": int(kv_tokens),
        "ttft_s": {str(int(r.prompt_tokens)): float(r.time_s) for r in prefill.itertuples()
                   if r.supported},
        "tpot_s": {str(int(r.batch_size)): float(r.time_s) for r in decode.itertuples()},
        "decode_tps": {str(int(r.batch_size)): float(r.tokens_per_s) for r in decode.itertuples()},
        "peak_decode_tps": float(decode["tokens_per_s"].max()) if len(decode) else math.nan,
        "tpot_batch1_s": float(cost.decode_step_times_s(
            1, np.array([float(phases.context_tokens)]))[0]),
        "cost_model": type(cost).__name__,
        "cost_table": cost.name,
        "engine": cost.meta.get("engine"),
    }
    source = getattr(cost, "meta", None)
    if isinstance(source, dict):
        summary["table_source"] = str(source.get("source", ""))
    return curves, summary


def phases_files(spec: ScenarioSpec, staging: Path) -> None:
    curves, summary = phases_curves(spec)
    with atomic_path(staging / CURVES_FILE) as tmp:
        tmp.write_bytes(parquet_bytes(curves))
    with atomic_path(staging / "summary.json") as tmp:
        tmp.write_text(summary_json(summary), encoding="utf-8")
