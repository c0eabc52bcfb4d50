"""Maintainer script (not part of the wheel): rebuild the condensed LLM-Inference-Bench CSV and
its table in docs/calibration.md.

    python tools/condense_bench_data.py                    # print the docs table
    python tools/condense_bench_data.py --condense ../shared/data/reference   # rebuild the CSV
    python tools/condense_bench_data.py --update-docs      # rewrite the docs/calibration.md table

The CSV is ``simulator/tables/reference/llm_inference_bench.csv``; what it holds and how its labels
map to catalog names: ``phasesim.profiler.calibrate.bench_data``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from phasesim.atomic import replace_marked_block
from phasesim.profiler.calibrate.bench_data import (
    load_bench_data,
    render_bench_rows_table,
    write_condensed,
)

__all__ = ["DOCS_PATH", "main", "update_docs"]

REPO = Path(__file__).resolve().parent.parent
DOCS_PATH = REPO / "docs" / "calibration.md"
_BEGIN = "<!-- bench-data:begin (written by python tools/condense_bench_data.py) -->"
_END = "<!-- bench-data:end -->"


def update_docs(frame: pd.DataFrame, path: Path = DOCS_PATH) -> None:
    """Replace the generated block of ``docs/calibration.md`` with the rows table."""
    replace_marked_block(path, _BEGIN, _END, render_bench_rows_table(frame))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--condense", type=Path, default=None,
                        help="shared/data/reference directory to rebuild the condensed CSV from")
    parser.add_argument("--update-docs", action="store_true",
                        help="rewrite the generated table in docs/calibration.md")
    args = parser.parse_args(argv)
    if args.condense is not None:
        print(write_condensed(args.condense))
    frame = load_bench_data()
    if args.update_docs:
        update_docs(frame)
    print(render_bench_rows_table(frame))


if __name__ == "__main__":
    main()
