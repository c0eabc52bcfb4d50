"""Simulator speed: simulated requests per CPU-second (time.process_time) and peak RSS.

Workloads (seeded, generated with traces.generators):
- "azure-conv": ~Azure LLM inference 2023 conversation size: 19,400 Poisson requests at 5.5 req/s,
  log-normal prompts (mean ~1,155 tokens) and outputs (mean ~211 tokens), llama2-7b fp16;
  on 4 colocated H100s and on 2 H100 prefill + 2 GroqRack decode (shipped analytical tables);
- "1M": the same distributions, 1,000,000 requests at 22 req/s on 16 colocated H100s.

With ``--prefix-cache`` the azure-conv workloads get prefix hash ids (512-token blocks, as in
Mooncake's traces: each prompt's first block is one of 8 shared system prompts, the rest its own;
seeded) and run with the prefix cache off, then on (prefill-side pools), printing what caching
costs per request.

Usage: python benchmarks/bench_sim.py [--only azure|1m] [--mode fast|reference] [--profile]
                                      [--prefix-cache]
Targets (issue): >= 50,000 req/s colocated, >= 25,000 disaggregated, 1M in <= 60 s, <= 2 GB RSS.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import resource
import sys
import time

import numpy as np

from phasesim.simulator.run import simulate
from phasesim.simulator.topology import builtin_topology
from phasesim.traces.generators import LogNormal, Poisson, generate_frame

PROMPT = LogNormal(median_tokens=1155 / math.exp(0.8**2 / 2), sigma=0.8, max_tokens=3500)
OUTPUT = LogNormal(median_tokens=211 / math.exp(1.0 / 2), sigma=1.0, max_tokens=590)


def _trace(count: int, rate_rps: float):
    return generate_frame(arrival=Poisson(rate_rps=rate_rps), prompt=PROMPT, output=OUTPUT,
                          count=count, seed=2023)


def _with_hash_ids(trace, block_tokens: int = 512):
    """``trace`` with prefix hash ids: the first full block one of 8 shared system prompts, every
    other block (and any partial last block) the request's own."""
    rng = np.random.default_rng(13)
    system = rng.integers(0, 8, len(trace)).tolist()
    ids, next_id = [], 8
    for prompt, first in zip(trace["prompt_tokens"].tolist(), system):
        blocks = -(-prompt // block_tokens)
        ids.append([first] + list(range(next_id, next_id + blocks - 1)) if prompt >= block_tokens
                   else [next_id])
        next_id += blocks
    out = trace.copy()
    out["prefix_hash_ids"] = ids
    out.attrs["trace_meta"] = {**trace.attrs.get("trace_meta", {}),
                               "prefix_block_tokens": block_tokens}
    return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _run(label: str, trace, topology, *, mode: str, timeseries: bool, profile: bool) -> float:
    profiler = cProfile.Profile() if profile else None
    start = time.process_time()
    if profiler:
        profiler.enable()
    result = simulate(trace, topology, mode=mode, timeseries=timeseries)
    if profiler:
        profiler.disable()
    cpu_s = time.process_time() - start
    s = result.summary
    print(f"{label:<34} {len(trace):>9,} req  {cpu_s:8.2f} CPU-s  {len(trace) / cpu_s:>9,.0f} req/s"
          f"  ({1e6 * cpu_s / len(trace):.1f} us/req)"
          f"  completed {s['completed']:,}  rejected {s['rejected']:,}"
          f"  TTFT p50 {1e3 * (s['ttft_s']['p50'] or math.nan):.1f} ms"
          f"  TPOT p50 {1e3 * (s['tpot_s']['p50'] or math.nan):.2f} ms"
          f"  ts rows {len(result.timeseries):,}  peak RSS {_peak_rss_mb():,.0f} MB", flush=True)
    if "prefix_cache" in s:
        print(f"{'':<34} prefix-cache hit rate {s['prefix_cache']['hit_rate']:.3f}", flush=True)
    if profiler:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(18)
    return cpu_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["azure", "1m"], default=None)
    parser.add_argument("--mode", choices=["fast", "reference"], default="fast")
    parser.add_argument("--no-timeseries", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--prefix-cache", action="store_true",
                        help="azure-conv with hash ids, caching off then on")
    args = parser.parse_args()
    opts = dict(mode=args.mode, timeseries=not args.no_timeseries, profile=args.profile)
    if args.prefix_cache:
        trace = _with_hash_ids(_trace(19_400, 5.5))
        for label, name, kw in (
                ("azure-conv 4x H100 colocated", "gpu", dict(instances=4)),
                ("azure-conv 2x H100 -> 2x GroqRack", "gpu-prefill-groq-decode",
                 dict(prefill_instances=2, decode_instances=2))):
            off = _run(f"{label}, ids, cache off", trace, builtin_topology(name, **kw), **opts)
            on = _run(f"{label}, ids, cache on", trace,
                      builtin_topology(name, prefix_cache=True, **kw), **opts)
            print(f"{label}: caching costs {100 * (on / off - 1):+.1f} % CPU time", flush=True)
        return
    if args.only in (None, "azure"):
        trace = _trace(19_400, 5.5)
        _run("azure-conv 4x H100 colocated", trace, builtin_topology("gpu", instances=4), **opts)
        _run("azure-conv 2x H100 -> 2x GroqRack", trace,
             builtin_topology("gpu-prefill-groq-decode", prefill_instances=2, decode_instances=2),
             **opts)
    if args.only in (None, "1m"):
        trace = _trace(1_000_000, 22.0)
        _run("1M 16x H100 colocated", trace, builtin_topology("gpu", instances=16), **opts)


if __name__ == "__main__":
    main()
