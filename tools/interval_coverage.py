"""Maintainer script (not part of the wheel): the measured cross-conformal coverage of each
(hardware, engine) pair's prediction intervals, from the per-row residuals file.

    python tools/calibrate_engines.py      # refit every pair (minutes); also writes
                                           # simulator/tables/validation/engine_residuals.csv
    python tools/interval_coverage.py      # coverage per pair from that file

The intervals and the coverage check are ``phasesim.profiler.calibrate.intervals``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from phasesim.profiler.calibrate.intervals import (
    RESIDUALS_PATH,
    coverage_table,
    cross_conformal_coverage,
    read_residuals,
)

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--residuals", type=Path, default=RESIDUALS_PATH, help=(
        "per-row file of `python tools/calibrate_engines.py`"))
    args = ap.parse_args(argv)
    table = coverage_table(cross_conformal_coverage(read_residuals(args.residuals)))
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
