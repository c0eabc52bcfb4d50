"""UNCALIBRATED analytical `sim latency` predictions vs LLM-Inference-Bench's measured runs.

    python tools/latency_vs_llm_inference_bench.py [--csv OUT.csv]

Takes the condensed LLM-Inference-Bench rows (``profiler/bench_data.py``; Llama-2-7B withheld)
that have a catalog hardware and model, runs them through ``sim latency --from-csv`` (one
instance, TP as measured, continuous batching, the table ``sim latency`` picks: analytical at
that TP; for TP 1 a shipped table where one exists, and none does for these models) and prints
the error of ``latency_s`` per (hardware, engine): MAPE, median signed error, rows.

These are NOT calibrated predictions. The roofline constants are fitted for h100-sxm and
a100-sxm-80gb on other public measurements (docs/calibration.md) and borrowed for every other
device; no engine is modelled (per-engine overheads and scheduling are issue 12's `profiler fit`);
the all-reduce latency is an assumption. Nothing here is, or may be, tuned toward these rows:
the figures say how far the physics alone lands, before any fit.

Rows skipped, with counts: llama.cpp (one sequence, ``-b`` is not concurrency: ``requests`` 1 is
used, so they are kept, but the engine's CPU/GPU offload split is not modelled), rows whose
model does not fit at the measured TP on the catalog device, and rows beyond the model's context.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from phasesim.errors import InputError
from phasesim.profiler.bench_data import calibration_rows, load_bench_data, weight_read_bound_s
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.costs import check_tensor_parallel, kv_capacity_tokens


def _fits(row: pd.Series) -> str:
    """'' if ``sim latency`` can run the row, else why not."""
    model = get_model(str(row["model"]))
    try:
        check_tensor_parallel(get_hardware(str(row["hardware"])), model, int(row["tp"]))
        kv_capacity_tokens(hardware=str(row["hardware"]), model=str(row["model"]),
                           tensor_parallel=int(row["tp"]))
    except InputError:
        return "does not fit / TP not valid on the catalog device"
    if int(row["input_len"]) + int(row["output_len"]) > model.max_context_tokens:
        return "beyond the model's context"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, help="also write the per-row predictions here")
    args = parser.parse_args()
    data = calibration_rows(load_bench_data()).reset_index(drop=True)
    why = data.apply(_fits, axis=1)
    for reason, count in why[why != ""].value_counts().items():
        print(f"skipped {count} rows: {reason}")
    rows = data[why == ""].copy()
    rows["below_weight_read_bound"] = rows["latency_s"] < weight_read_bound_s(rows)
    rows["batch_size_measured"] = rows["batch_size"]
    rows["batch_size"] = rows["requests"]  # llama.cpp: one sequence
    shape = rows[["hardware", "engine", "model", "tp", "input_len", "output_len", "batch_size",
                  "batch_size_measured", "below_weight_read_bound", "latency_s"]].rename(columns={"latency_s": "measured_s"})
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.csv", Path(tmp) / "out.csv"
        shape.to_csv(src, index=False)
        subprocess.run([sys.executable, "-m", "phasesim", "latency", "--from-csv", str(src),
                        "-o", str(dst)], check=True)
        out = pd.read_csv(dst)
    out["error"] = out["latency_s"] / out["measured_s"] - 1.0
    if args.csv:
        out.to_csv(args.csv, index=False)
    print(f"\nUNCALIBRATED analytical predictions vs measured LLM-Inference-Bench latency_s "
          f"({len(out):,} rows; error = predicted / measured - 1)\n")
    summary = out.groupby(["hardware", "engine"]).agg(
        rows=("error", "size"), mape_pct=("error", lambda e: 100 * e.abs().mean()),
        median_signed_pct=("error", lambda e: 100 * e.median()),
        worst_pct=("error", lambda e: 100 * e.iloc[e.abs().argmax()]))
    print(summary.round(1).to_string())
    below = out["below_weight_read_bound"].astype(bool)
    print(f"\n{int(below.sum())} measured rows finish faster than reading the weights once per "
          "output token at peak bandwidth allows (bench_data.weight_read_bound_s): those runs "
          "cannot have generated output_len tokens each (early stop at EOS?). Without them:")
    kept = out[~below]
    print(kept.groupby(["hardware", "engine"])["error"].agg(
        rows="size", mape_pct=lambda e: 100 * e.abs().mean(),
        median_signed_pct=lambda e: 100 * e.median()).round(1).to_string())
    print(f"all kept rows: MAPE {100 * kept['error'].abs().mean():.1f} %")
    print(f"\nall rows: MAPE {100 * out['error'].abs().mean():.1f} %, median signed "
          f"{100 * out['error'].median():+.1f} %")


if __name__ == "__main__":
    main()
