"""Maintainer script: the figures of docs/results.md's prefix-caching section, from a sweep of
``scenarios/prefix-cache.yaml``.

    sim sweep scenarios/prefix-cache.yaml -o runs/prefix --workers 2
    python tools/plot_prefix_cache.py runs/prefix docs/figures

Writes ``prefix_cache_routers.png`` (2 and 4 colocated H100s: hit rate, mean TTFT and goodput
against the session rate, cache off / on by router) and ``prefix_cache_layouts.png`` (cache on,
prefix-affinity: colocated H100s against the same H100s prefilling for 4 GroqRacks).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

ROUTERS = {"round_robin": "round-robin", "prefix_affinity": "prefix-affinity",
           "session_affinity": "session-affinity"}
PANELS = (("prefix_cache.hit_rate", "prefix-cache hit rate"), ("ttft_s.mean", "mean TTFT (s)"),
          ("goodput_rps", "goodput (req/s)"))


def main(sweep: Path, out: Path) -> None:
    df = pd.read_parquet(sweep / "results.parquet")
    df = df[df.status == "ok"] if "status" in df else df
    rate = "trace.rate_rps"
    gpu = df[df["topology.name"] == "gpu"]
    fig = Figure(figsize=(12, 6.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 3, sharex=True)
    for row, instances in enumerate((2, 4)):
        part = gpu[gpu["topology.instances"] == instances]
        for col, (metric, label) in enumerate(PANELS):
            ax = axes[row, col]
            for (cache, router), line in part.groupby(["topology.prefix_cache",
                                                        "topology.routing"]):
                if not cache and metric == "prefix_cache.hit_rate":
                    continue
                if not cache and router != "round_robin":
                    continue  # without a cache the routers hardly differ: one line
                line = line.sort_values(rate)
                name = f"cache on, {ROUTERS[router]}" if cache else "cache off"
                ax.plot(line[rate], line[metric], marker="o", label=name,
                        linestyle="-" if cache else "--", color=None if cache else "grey")
            ax.set_title(f"{instances} x H100: {label}", fontsize=9)
            ax.set_xlabel("sessions started per s")
            ax.grid(alpha=0.3)
    axes[0, 2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "prefix_cache_routers.png", dpi=110)

    on = df[df["topology.prefix_cache"] & (df["topology.routing"] == "prefix_affinity")]
    off = df[~df["topology.prefix_cache"] & (df["topology.routing"] == "prefix_affinity")]
    fig = Figure(figsize=(12, 3.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    for col, (metric, label) in enumerate((("ttft_s.mean", "mean TTFT (s)"),
                                           ("tpot_s.p99", "P99 TPOT (s)"),
                                           ("goodput_rps", "goodput (req/s)"))):
        ax = axes[col]
        for frame, style, tag in ((on, "-", "cache on"), (off, ":", "cache off")):
            for (name, n), line in frame.groupby(["topology.name", "topology.instances"]):
                line = line.sort_values(rate)
                layout = f"{n} x H100" if name == "gpu" else f"{n} x H100 -> 4 x GroqRack"
                ax.plot(line[rate], line[metric], marker="o", linestyle=style,
                        label=f"{layout}, {tag}")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("sessions started per s")
        ax.grid(alpha=0.3)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "prefix_cache_layouts.png", dpi=110)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__)
    parser.add_argument("sweep", type=Path, help="a finished sweep of scenarios/prefix-cache.yaml")
    parser.add_argument("out", type=Path, help="folder for the figure")
    args = parser.parse_args()
    main(args.sweep, args.out)
