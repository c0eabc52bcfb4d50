"""Import throughput and peak memory of a large Azure-format CSV (the 2024 week-long trace size).

    python benchmarks/bench_import.py [--rows 17000000] [--keep DIR]

Generates a synthetic CSV with the Azure LLM inference trace columns (TIMESTAMP with 7 fractional
digits, ContextTokens, GeneratedTokens) in a temporary folder, imports it with
``phasesim.traces.import_to_parquet`` (streamed, chunked) in a child process, and prints rows/s and the
child's peak RSS (``ru_maxrss``). The generation is not timed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from phasesim.traces.importers import import_to_parquet

GEN_CHUNK_ROWS = 1_000_000


def write_azure_csv(path: Path, *, rows: int, seed: int) -> None:
    """Poisson arrivals at ~28 req/s from 2024-05-10 00:00:00, lognormal lengths; ticks of 100 ns."""
    rng = np.random.default_rng(seed)
    t0 = np.datetime64("2024-05-10T00:00:00", "ns")
    ticks = 0
    with open(path, "w", encoding="ascii") as fh:
        fh.write("TIMESTAMP,ContextTokens,GeneratedTokens")
        done = 0
        while done < rows:
            n = min(GEN_CHUNK_ROWS, rows - done)
            offsets = ticks + np.cumsum(rng.exponential(1 / 28 * 1e7, size=n).astype(np.int64))
            ticks = int(offsets[-1])
            stamps = np.datetime_as_string(t0 + offsets * 100, unit="ns")
            prompt = np.maximum(1, rng.lognormal(7.0, 1.0, size=n)).astype(np.int64)
            output = np.maximum(1, rng.lognormal(4.0, 1.2, size=n)).astype(np.int64)
            lines = [f"\n{s[:10]} {s[11:27]},{p},{o}" for s, p, o in zip(stamps, prompt, output, strict=True)]
            fh.write("".join(lines))
            done += n


def _import(src: str, out: str, queue: multiprocessing.Queue) -> None:
    start = time.perf_counter()
    cpu0 = time.process_time()
    report = import_to_parquet(src, out, format=None)
    queue.put({
        "rows": report.rows,
        "wall_s": time.perf_counter() - start,
        "cpu_s": time.process_time() - cpu0,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=17_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="write files here instead of a temp dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        src, out = folder / "azure_bench.csv", folder / "azure_bench.parquet"
        t = time.perf_counter()
        write_azure_csv(src, rows=args.rows, seed=args.seed)
        size_mib = src.stat().st_size / 2**20
        print(f"generated {args.rows:,} rows ({size_mib:,.0f} MiB) in {time.perf_counter() - t:.1f} s")
        ctx = multiprocessing.get_context("spawn")  # a fresh process: its peak RSS is the import's alone
        queue = ctx.Queue()
        proc = ctx.Process(target=_import, args=(str(src), str(out), queue))
        proc.start()
        result = queue.get()
        proc.join()
        print(f"imported {result['rows']:,} rows in {result['wall_s']:.1f} s wall, {result['cpu_s']:.1f} s CPU")
        print(f"rows/s (wall): {result['rows'] / result['wall_s']:,.0f}")
        print(f"rows per CPU-second: {result['rows'] / result['cpu_s']:,.0f}")
        print(f"peak RSS of the import process: {result['peak_rss_mib']:,.0f} MiB")
        print(f"output: {out.stat().st_size / 2**20:,.1f} MiB parquet")


if __name__ == "__main__":
    main()
