"""Maintainer script (not part of the wheel): the measured cross-conformal coverage of each
(hardware, engine) pair's prediction intervals, from the per-row residuals file.

    python tools/calibrate_engines.py      # refit every pair (minutes); also writes
                                           # simulator/tables/validation/engine_residuals.csv
    python tools/interval_coverage.py      # coverage per pair from that file
    python tools/interval_coverage.py --update-docs   # and rewrite docs/profiler.md's table

The intervals and the coverage check are ``phasesim.profiler.calibrate.intervals``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from phasesim.atomic import replace_marked_block
from phasesim.profiler.calibrate.intervals import (
    RESIDUALS_PATH,
    coverage_table,
    cross_conformal_coverage,
    read_residuals,
    render_coverage_table,
)

__all__ = ["BEGIN", "DOCS_PATH", "END", "main"]

DOCS_PATH = Path(__file__).resolve().parent.parent / "docs" / "profiler.md"
BEGIN = "<!-- interval-coverage:begin (written by python tools/interval_coverage.py) -->"
END = "<!-- interval-coverage:end -->"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--residuals", type=Path, default=RESIDUALS_PATH, help=(
        "per-row file of `python tools/calibrate_engines.py`"))
    ap.add_argument("--update-docs", action="store_true",
                    help="rewrite the coverage table of docs/profiler.md")
    args = ap.parse_args(argv)
    table = coverage_table(cross_conformal_coverage(read_residuals(args.residuals)))
    print(table.to_string(index=False))
    if args.update_docs:
        replace_marked_block(DOCS_PATH, BEGIN, END, render_coverage_table(table))


if __name__ == "__main__":
    main()
