"""Start-up time of the ``sim`` command: ``sim --help``, ``sim --version`` and one real command's
help, each run N times in a fresh interpreter; prints min / median / max wall seconds.

    python benchmarks/bench_startup.py [--repeat 10]

A bare ``python -c pass`` is timed alongside as the floor.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "sim --help": [sys.executable, "-m", "phasesim", "--help"],
    "sim --version": [sys.executable, "-m", "phasesim", "--version"],
    "sim replay --help": [sys.executable, "-m", "phasesim", "replay", "--help"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="runs per case (default 10)")
    args = parser.parse_args()
    for name, argv in CASES.items():
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
        print(f"{name:20s} min {min(times):.3f} s  median {statistics.median(times):.3f} s  "
              f"max {max(times):.3f} s  ({args.repeat} runs)")


if __name__ == "__main__":
    main()
