"""Maintainer script: the figure of docs/results.md's paper-cost section, from a sweep of
``scenarios/paper-cost.yaml``.

    sim sweep scenarios/paper-cost.yaml -o runs/cost --workers 2
    python tools/plot_paper_cost.py runs/cost docs/figures

Writes ``paper_cost.png``: for each prompt/output mix (rows), goodput, USD per million output
tokens and joules per output token against the request rate, one line per layout: 46 H100s
(equal cost to one GroqRack at TCO prices), 28 H100s (equal power), 1 GroqRack, 1 H100 prefill + 1 GroqRack
decode. Costs and energy are the points' summary.json ``cost``/``energy`` (catalog prices).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.ticker
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PANELS = (("goodput_rps", "goodput (req/s)", False),
          ("cost.usd_per_million_output_tokens", "USD per million output tokens", True),
          ("energy.joules_per_output_token", "J per output token", True))
STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D")
PLAIN = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")  # 0.5, 20: not 2^-1, 2x10^1
PLAIN_MINOR = matplotlib.ticker.FuncFormatter(
    lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else "")  # minor ticks labelled at 2 and 5
MIXES = {64: "prefill-heavy (prompt ~1024, output ~64)",
         512: "decode-heavy (prompt ~256, output ~512)"}


def _layout(row: pd.Series) -> str:
    name = row["topology.name"]
    if name == "gpu":
        n = int(row["topology.instances"])
        return f"{n}x H100 ({'equal power' if n == 28 else 'equal cost'})"  # 28 x 700 W ~ 19.2 kW
    return {"groq": "1 GroqRack", "gpu-prefill-groq-decode": "1 H100 prefill + 1 GroqRack decode"}[name]


def main(sweep: Path, out: Path) -> None:
    df = pd.read_parquet(sweep / "results.parquet")
    df = df[df.status == "ok"] if "status" in df else df
    df = df.assign(layout=df.apply(_layout, axis=1))
    fig = Figure(figsize=(13, 7), layout="constrained")
    axes = fig.subplots(2, 3)
    for r, (mix, title) in enumerate(MIXES.items()):
        sub = df[df["trace.generate.output.median_tokens"] == mix]
        for c, (col, label, log) in enumerate(PANELS):
            ax = axes[r][c]
            groups = list(sub.groupby("layout", sort=True))
            for k, (layout, g) in enumerate(groups):
                g = g.sort_values("trace.rate_rps")
                # layouts with equal values (14 and 28 H100s at low rates) stay visible: later
                # lines are thinner, dashed, with smaller hollow markers
                shrink = k / max(len(groups) - 1, 1)
                ax.plot(g["trace.rate_rps"], g[col], label=layout, color=f"C{k}",
                        linestyle=STYLES[k % len(STYLES)], marker=MARKERS[k % len(MARKERS)],
                        markersize=9 - 4 * shrink, linewidth=2.8 - 1.6 * shrink,
                        markerfacecolor="none", markeredgewidth=1.4)
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(PLAIN)
            if log:
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(PLAIN)
                ax.yaxis.set_minor_formatter(PLAIN_MINOR)
            ax.set_xlabel("request rate (req/s)")
            ax.set_ylabel(label)
            ax.set_title(title if c == 0 else "", fontsize=9, loc="left")
            ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()  # below the panels, off the data
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=9,
               frameon=False)
    fig.suptitle("paper-cost: GPU vs GroqRack vs GPU prefill + GroqRack decode "
                 "(goodput: SLO TTFT 1 s, TPOT 25 ms)", fontsize=11)
    out.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig).print_png(str(out / "paper_cost.png"))
    print(f"wrote {out / 'paper_cost.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__)
    parser.add_argument("sweep", type=Path, help="a finished sweep of scenarios/paper-cost.yaml")
    parser.add_argument("out", type=Path, help="folder for the figure")
    args = parser.parse_args()
    main(args.sweep, args.out)
