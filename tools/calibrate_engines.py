"""Maintainer script (not part of the wheel): calibrate every (hardware, engine) pair of the
shipped LLM-Inference-Bench data and ship the result (minutes: every pair is fitted and validated).

    python tools/calibrate_engines.py            # fit all pairs, write engine_calibration.json
    python tools/calibrate_engines.py --update-docs   # and the docs/calibration.md table
    python tools/calibrate_engines.py --pairs h100-sxm/vllm gh200/vllm   # some pairs
    python tools/calibrate_engines.py --rows R.csv    # per-row predictions elsewhere

Writes ``simulator/tables/engine_calibration.json`` and, with every pair, the per-row predictions
``simulator/tables/validation/engine_residuals.csv``; the fit itself is
``phasesim.profiler.calibrate.engine_calibrate`` (what ``profiler fit BENCH.csv`` runs on a
user's file).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from phasesim.atomic import replace_marked_block
from phasesim.profiler.calibrate.bench_data import load_bench_data
from phasesim.profiler.calibrate.engine_calibrate import (
    calibrate_engines,
    render_engine_fit_tables,
    write_calibration,
    write_rows,
)
from phasesim.profiler.calibrate.intervals import RESIDUALS_PATH
from phasesim.simulator.costs.roofline import ENGINE_CALIBRATION_PATH

__all__ = ["DOCS_PATH", "main", "update_docs"]

REPO = Path(__file__).resolve().parent.parent
DOCS_PATH = REPO / "docs" / "calibration.md"
_BEGIN = "<!-- engine-fit:begin (written by python tools/calibrate_engines.py) -->"
_END = "<!-- engine-fit:end -->"


def update_docs(doc: dict[str, Any], path: Path = DOCS_PATH) -> None:
    """Replace the generated block of ``docs/calibration.md`` with the engine-fit tables."""
    replace_marked_block(path, _BEGIN, _END, render_engine_fit_tables(doc) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", nargs="*", default=None, help="hardware/engine keys (default: all)")
    ap.add_argument("--update-docs", action="store_true")
    ap.add_argument("-o", "--out", type=Path, default=ENGINE_CALIBRATION_PATH)
    ap.add_argument("--rows", type=Path, default=None,
                    help=f"per-row predictions CSV (default with every pair: {RESIDUALS_PATH.name} "
                         "in simulator/tables/validation/)")
    args = ap.parse_args(argv)
    doc, per_row = calibrate_engines(load_bench_data(), args.pairs,
                                     log=lambda s: print(s, flush=True))
    if args.pairs is not None and args.out == ENGINE_CALIBRATION_PATH and ENGINE_CALIBRATION_PATH.exists():
        old = json.loads(ENGINE_CALIBRATION_PATH.read_text())
        old["pairs"].update(doc["pairs"])
        doc = old | {k: v for k, v in doc.items() if k != "pairs"} | {"pairs": old["pairs"]}
    write_calibration(doc, args.out)
    rows_path = args.rows if args.rows is not None else (RESIDUALS_PATH if args.pairs is None else None)
    if rows_path is not None:
        write_rows(per_row, rows_path)
    if args.update_docs:
        update_docs(doc)


if __name__ == "__main__":
    main()
