"""Cost-lookup speed of the shipped H100 table (prints figures; never asserts).

    python benchmarks/bench_costs.py [--seconds 1.0]

Reports calls/s and lookups/s for: a decode step at one context (the simulator's per-iteration
call), a batched decode fast-forward (one call for 256 future steps), a prefill of 8 prompts with
prefixes, and a mixed step (1 chunk + 64 decodes); plus the one-off load time of a table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from phasesim.simulator.costs.resolve import resolve_table


def rate(fn, seconds: float) -> tuple[float, int]:
    calls = 0
    start = time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end:
        for _ in range(100):
            fn()
        calls += 100
    return calls / (time.perf_counter() - start), calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per case")
    args = parser.parse_args()
    t0 = time.perf_counter()
    model = resolve_table(hardware="h100-sxm", model="llama2-7b", engine="torch").cost_model
    load_ms = (time.perf_counter() - t0) * 1e3
    rng = np.random.default_rng(0)
    one = np.array([1500.0])
    fast_forward = 1500.0 + np.arange(256, dtype=np.float64)
    chunks, prefixes = rng.integers(16, 2048, 8), rng.integers(0, 2048, 8)
    mix_chunk, mix_prefix, mix_ctx = np.array([512]), np.array([1024]), rng.integers(100, 3000, 64)
    cases = [
        ("decode step, 1 context", lambda: model.decode_step_times_s(64, one), 1),
        ("decode fast-forward, 256 contexts", lambda: model.decode_step_times_s(64, fast_forward), 256),
        ("prefill, 8 chunks with prefixes", lambda: model.prefill_time_s(chunks, prefixes), 1),
        ("mixed step, 1 chunk + 64 decodes", lambda: model.mixed_step_time_s(mix_chunk, mix_prefix, mix_ctx), 1),
    ]
    print(f"table load + interpolant precompute: {load_ms:.1f} ms")
    for name, fn, per_call in cases:
        calls_per_s, _ = rate(fn, args.seconds)
        print(f"{name:36s} {calls_per_s:12,.0f} calls/s {calls_per_s * per_call:14,.0f} lookups/s")


if __name__ == "__main__":
    main()
