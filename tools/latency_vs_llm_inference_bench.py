"""`sim latency` predictions vs LLM-Inference-Bench's measured runs, through the CLI.

    python tools/latency_vs_llm_inference_bench.py [--baseline] [--csv OUT.csv]

Takes the condensed LLM-Inference-Bench rows (``profiler/calibrate/bench_data.py``; Llama-2-7B withheld)
that have a catalog hardware and model, runs them through ``sim latency --from-csv`` (one
instance, TP as measured) and prints the error of ``latency_s`` per (hardware, engine): MAPE,
median signed error, rows.

- default: each row on its engine's tables and scheduling, i.e. the per-engine fit of
  ``profiler fit``. These rows are the fit's TRAINING data: the figures are train errors through
  the CLI; the honest, held-out figures are the leave-one-model-out ones in docs/calibration.md.
- ``--baseline``: the pre-fit baseline of docs/calibration.md: every row on the kernel tables
  (engine ``analytical``: roofline constants fitted for h100-sxm and a100-sxm-80gb on other public
  measurements and borrowed for every other device, continuous batching, the all-reduce latency
  assumed). Nothing there is tuned toward these rows: it says how far the physics alone lands.

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
from phasesim.profiler.calibrate.bench_data import (
    calibration_rows,
    load_bench_data,
    weight_read_bound_s,
)
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.costs import check_tensor_parallel, kv_capacity_tokens


def _fits(row: pd.Series) -> str:
    """'' if ``sim latency`` can run the row, else why not."""
    model = get_model(str(row["model"]))
    try:
        check_tensor_parallel(get_hardware(str(row["hardware"])), model, int(row["tp"]))
        kv_capacity_tokens(hardware=str(row["hardware"]), model=str(row["model"]),
                           tensor_parallel=int(row["tp"]), engine=str(row["engine"]))
    except InputError:
        return "does not fit / TP not valid on the catalog device"
    if int(row["input_len"]) + int(row["output_len"]) > model.max_context_tokens:
        return "beyond the model's context"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, help="also write the per-row predictions here")
    parser.add_argument("--baseline", action="store_true", help=(
        "the pre-fit baseline: every row on the kernel tables (engine 'analytical', continuous "
        "batching; llama.cpp rows as one sequence) instead of its engine's calibrated tables"))
    args = parser.parse_args()
    data = calibration_rows(load_bench_data()).reset_index(drop=True)
    why = data.apply(_fits, axis=1)
    for reason, count in why[why != ""].value_counts().items():
        print(f"skipped {count} rows: {reason}")
    rows = data[why == ""].copy()
    rows["below_weight_read_bound"] = rows["latency_s"] < weight_read_bound_s(rows)
    rows["batch_size_measured"] = rows["batch_size"]
    if args.baseline:
        rows["batch_size"] = rows["requests"]  # llama.cpp: one sequence
        rows["data_engine"] = rows["engine"]
        rows["engine"] = "analytical"
    # else sim latency applies each engine's scheduling (llama.cpp: batch_size is -b)
    # the benchmark's TensorRT-LLM/DeepSpeed batches are copies of one prompt (bench_data)
    rows["identical_prompts"] = rows["identical_prompts"].map({True: "true", False: "false"})
    shape = rows[["hardware", "engine", "model", "tp", "input_len", "output_len", "batch_size",
                  "identical_prompts", "batch_size_measured", "below_weight_read_bound", "latency_s"]
                 + (["data_engine"] if args.baseline else [])].rename(columns={"latency_s": "measured_s"})
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.csv", Path(tmp) / "out.csv"
        shape.to_csv(src, index=False)
        subprocess.run([sys.executable, "-m", "phasesim", "latency", "--from-csv", str(src),
                        "-o", str(dst)], check=True)
        out = pd.read_csv(dst)
    out["error"] = out["latency_s"] / out["measured_s"] - 1.0
    if args.baseline:
        out["engine"] = out["data_engine"]
    if args.csv:
        out.to_csv(args.csv, index=False)
    label = "UNCALIBRATED kernel-table" if args.baseline else "engine-calibrated (training rows!)"
    print(f"\n{label} predictions vs measured LLM-Inference-Bench latency_s "
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
