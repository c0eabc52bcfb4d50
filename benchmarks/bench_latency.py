"""`sim latency --from-csv` speed: rows per second over 1,000 distinct run shapes.

Shapes (seeded): hardware h100-sxm, a100-sxm-80gb, h200, mi300x, gaudi2; llama3-8b, mistral-7b,
qwen2-7b at TP 1 or 2, llama3-70b / qwen2-72b at TP 4 or 8; input and output lengths from 128
to 2,048; batch 1 to 64: no two rows alike, so the command's memo of repeated shapes never
helps. The whole command is timed, process start and table building included, as a user runs it.
Prints figures only (no timed assertion). Usage: python benchmarks/bench_latency.py [--rows N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HARDWARE = ("h100-sxm", "a100-sxm-80gb", "h200", "mi300x", "gaudi2")
SMALL = ("llama3-8b", "mistral-7b", "qwen2-7b")
BIG = ("llama3-70b", "qwen2-72b")
LENGTHS = (128, 256, 512, 1024, 2048)
BATCHES = (1, 2, 4, 8, 16, 32, 64)


def shapes(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seen: set[tuple] = set()
    out = []
    while len(out) < rows:
        big = rng.random() < 0.3
        model = str(rng.choice(BIG if big else SMALL))
        tp = int(rng.choice((4, 8) if big else (1, 2)))
        row = (str(rng.choice(HARDWARE)), "vllm", model, tp, int(rng.choice(LENGTHS)),
               int(rng.choice(LENGTHS)), int(rng.choice(BATCHES)))
        if row not in seen:
            seen.add(row)
            out.append(row)
    return pd.DataFrame(out, columns=["hardware", "engine", "model", "tp", "input_len",
                                      "output_len", "batch_size"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.csv", Path(tmp) / "out.csv"
        shapes(args.rows).to_csv(src, index=False)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "phasesim", "latency", "--from-csv", str(src),
                        "-o", str(dst)], check=True)
        wall = time.perf_counter() - start
        assert len(pd.read_csv(dst)) == args.rows
    print(f"sim latency --from-csv: {args.rows:,} rows in {wall:.2f} s wall "
          f"({args.rows / wall:,.0f} rows/s, process start included)")


if __name__ == "__main__":
    main()
