"""``sim plan``'s Pareto figure: price per hour against SLO attainment and goodput, one marker
per topology kind, the feasible frontier joined, the winner ringed, the target dashed."""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from phasesim.scenarios.planner import Evaluation, PlanResult

__all__ = ["pareto_png"]

_MARKERS = "osD^v<>pP*Xh"
_PLAIN = FuncFormatter(lambda v, _: f"{v:g}")
# minor ticks of a log axis: labelled at 2 and 5 only (20, 50), unlabelled between
_PLAIN_MINOR = FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else "")


def _frontier(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both cost (lower) and the metric (higher)."""
    out, best = [], float("-inf")
    for cost, metric in sorted(points, key=lambda p: (p[0], -p[1])):
        if metric > best:
            out.append((cost, metric))
            best = metric
    return out


def pareto_png(result: PlanResult) -> bytes:
    """The figure as PNG bytes (100 dpi, an Agg canvas of its own: no backend chosen)."""
    fig = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    kinds: dict[str, list[Evaluation]] = {}
    for e in result.evaluations:
        kinds.setdefault(e.candidate.kind_label, []).append(e)
    best = result.best
    for ax, key, title in ((axes[0], "slo_attainment", "SLO attainment"),
                           (axes[1], "goodput_rps", "goodput (req/s)")):
        everything = []
        for i, (kind, evals) in enumerate(kinds.items()):
            pts = [((e.summary.get("cost") or {}).get("usd_per_hour"), e.summary.get(key))
                   for e in evals]
            pts = [(c, m) for c, m in pts if c is not None and m is not None]
            everything += pts
            if pts:  # hollow, and smaller for later kinds: points that coincide stay visible
                size = max(170.0 - 28.0 * i, 30.0)
                ax.scatter(*zip(*pts), marker=_MARKERS[i % len(_MARKERS)], label=kind, s=size,
                           facecolors="none", edgecolors=f"C{i % 10}", linewidths=1.4)
        front = _frontier(everything)
        if front:
            ax.plot(*zip(*front), color="0.4", linewidth=0.8, drawstyle="steps-post")
        if best is not None:
            c = (best.summary.get("cost") or {}).get("usd_per_hour")
            m = best.summary.get(key)
            if c is not None and m is not None:
                ax.scatter([c], [m], s=220, facecolors="none", edgecolors="black", linewidths=1.5,
                           label="winner")
        if key == "slo_attainment":
            ax.axhline(result.attainment, linestyle="--", color="0.3", linewidth=0.8)
        ax.set_xlabel("cluster price (USD per hour)")
        ax.set_ylabel(title)
        ax.set_xscale("log")
        ax.margins(x=0.08, y=0.08)  # markers at the edges stay whole
        ax.xaxis.set_major_formatter(_PLAIN)  # $20, $100: not 2x10^1
        ax.xaxis.set_minor_formatter(_PLAIN_MINOR)
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    fig.suptitle(f"sim plan: every configuration simulated ({len(result.evaluations)})")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()
