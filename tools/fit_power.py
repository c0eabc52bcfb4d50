"""Maintainer script (not part of the wheel): fit the energy model's busy-power shares on
LLM-Inference-Bench's measured power and print the fit and its error tables.

    python tools/fit_power.py               # the fit (docs/calibration.md, energy section)
    python tools/fit_power.py --simulated   # and the runs replayed through sim latency

The fit itself is ``phasesim.profiler.calibrate.energy_fit``.
"""

from __future__ import annotations

import argparse

from phasesim.profiler.calibrate.energy_fit import (
    fit_report,
    render_power_fit_tables,
    render_simulated,
    simulated_power,
)

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulated", action="store_true",
                    help="also replay the device-scope runs through sim latency's step times")
    args = ap.parse_args(argv)
    print(render_power_fit_tables(fit_report()))
    if args.simulated:
        print(render_simulated(simulated_power()))


if __name__ == "__main__":
    main()
