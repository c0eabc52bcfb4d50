"""Maintainer script (not part of the wheel): fit the analytical roofline's kernel-level constants
on public measurements (Vidur, TensorRT-LLM, DistServe, Groq) and report the error per source.

    python tools/fit_kernels.py                 # fit from the condensed data in the repo
    python tools/fit_kernels.py --condense ../shared/data/reference   # rebuild that data first
    python tools/fit_kernels.py --compare TABLE.parquet   # only the model's error against a table

Writes ``simulator/tables/calibrated_constants.json`` and the generated block of
``docs/calibration.md``; the fit itself is ``phasesim.profiler.calibrate.kernel_fit``. After a
refit, ``python tools/make_default_tables.py`` rebuilds the analytical tables from the constants.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
from pathlib import Path

from phasesim.atomic import atomic_path, replace_marked_block
from phasesim.profiler.calibrate.kernel_fit import (
    compare_to_measured,
    condense_kernel_references,
    fit_kernel_constants,
    render_kernel_fit_tables,
)
from phasesim.simulator.costs.roofline import CONSTANTS_PATH

__all__ = ["DOCS_PATH", "main", "update_docs"]

REPO = Path(__file__).resolve().parent.parent
DOCS_PATH = REPO / "docs" / "calibration.md"
_BEGIN = "<!-- kernel-fit:begin (written by python tools/fit_kernels.py) -->"
_END = "<!-- kernel-fit:end -->"


def update_docs(cal: dict, path: Path = DOCS_PATH) -> None:
    """Replace the generated block of ``docs/calibration.md`` with the current tables."""
    replace_marked_block(path, _BEGIN, _END, render_kernel_fit_tables(cal))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--condense", type=Path, default=None,
                        help="shared/data/reference directory to rebuild the condensed CSVs from")
    parser.add_argument("--date", default=_dt.datetime.now(_dt.timezone.utc).date().isoformat())
    parser.add_argument("--output", type=Path, default=CONSTANTS_PATH)
    parser.add_argument("--compare", type=Path, default=None, metavar="TABLE.parquet",
                        help="only report the analytical model's error against this measured table")
    args = parser.parse_args(argv)
    if args.compare is not None:
        print(json.dumps(compare_to_measured(args.compare), indent=2))
        return
    if args.condense is not None:
        condense_kernel_references(args.condense)
    cal = fit_kernel_constants(date=args.date)
    with atomic_path(args.output) as tmp:
        tmp.write_text(json.dumps(cal, indent=2, sort_keys=True) + "\n")
    if DOCS_PATH.exists() and _BEGIN in DOCS_PATH.read_text():
        update_docs(cal)
    print(render_kernel_fit_tables(cal))


if __name__ == "__main__":
    main()
