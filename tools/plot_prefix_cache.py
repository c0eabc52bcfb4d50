"""Maintainer script: the figures and numbers of docs/results.md's prefix-caching section (and
README's summary line), from sweeps of ``scenarios/prefix-cache.yaml`` and
``scenarios/prefix-cache-mooncake.yaml``.

    sim sweep scenarios/prefix-cache.yaml -o runs/prefix --workers 2
    sim sweep scenarios/prefix-cache-mooncake.yaml -o runs/prefix-mooncake --workers 2
    python tools/plot_prefix_cache.py runs/prefix runs/prefix-mooncake docs/figures --docs

Writes ``prefix_cache_routers.png`` (2 and 4 colocated H100s: hit rate, TTFT p50 and p90 and
goodput against the session rate; no cache, and the cache by router),
``prefix_cache_layouts.png`` (the cache with its default router against none: colocated H100s
and the same H100s prefilling for 4 GroqRacks) and ``prefix_cache_mooncake.png`` (Mooncake's
trace on 16 H100s: TTFT p50 and p90 and hit rate by router). ``--docs`` also rewrites the
generated blocks of docs/results.md and README.md (between their ``prefix-cache-numbers``
markers), so every number there comes from these sweeps.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import matplotlib.ticker
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from phasesim.atomic import replace_marked_block

ROOT = Path(__file__).resolve().parent.parent
RATE = "trace.rate_rps"
CACHE, ROUTER = "topology.prefix_cache", "topology.routing"
# (cache, router) -> legend label, colour, line style, marker; drawn in this order
CONFIGS = {
    (False, "round_robin"): ("no cache (round-robin)", "black", "--", "x"),
    (False, "least_outstanding"): ("no cache (least-outstanding)", "black", "--", "x"),
    (True, "round_robin"): ("cache, round-robin", "tab:blue", "-", "o"),
    (True, "least_outstanding"): ("cache, least-outstanding", "tab:blue", "-", "o"),
    (True, "session_affinity"): ("cache, session-affinity", "tab:orange", ":", "s"),
    (True, "prefix_affinity"): ("cache, prefix-affinity", "tab:red", "-.", "^"),
    (True, "cache_aware"): ("cache, cache-aware (default)", "tab:green", "-", "D"),
}
DEFAULT = (True, "cache_aware")
BEGIN, END = "<!-- prefix-cache-numbers:begin -->", "<!-- prefix-cache-numbers:end -->"
README_BEGIN, README_END = ("<!-- prefix-cache-summary:begin -->",
                            "<!-- prefix-cache-summary:end -->")


def _ok(sweep: Path) -> pd.DataFrame:
    df = pd.read_parquet(sweep / "results.parquet")
    return df[df["status"] == "ok"] if "status" in df else df


def _figure(rows: int, cols: int, size: tuple[float, float]) -> tuple[Figure, object]:
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _lines(ax: object, frame: pd.DataFrame, metric: str, scale: float = 1.0) -> None:
    """One line per (cache, router) in CONFIGS order; x dodged by a few per cent per line so that
    lines that coincide (routers that pick alike) stay visible side by side."""
    present = [key for key in CONFIGS if ((frame[CACHE] == key[0]) & (frame[ROUTER] == key[1])).any()]
    for k, key in enumerate(present):
        if metric == "prefix_cache.hit_rate" and not key[0]:
            continue  # no cache, no hit rate
        label, color, style, marker = CONFIGS[key]
        line = frame[(frame[CACHE] == key[0]) & (frame[ROUTER] == key[1])].sort_values(RATE)
        dodge = 1.0 + 0.03 * (k - (len(present) - 1) / 2)
        ax.plot(line[RATE] * dodge, line[metric] * scale, label=label, color=color,
                linestyle=style, marker=marker, markersize=5, linewidth=1.4)


def _log_axes(ax: object, rates: list[float], *, log_y: bool) -> None:
    ax.set_xscale("log")
    ax.set_xticks(rates, [f"{r:g}" for r in rates])
    ax.minorticks_off()
    if log_y:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(_plain())
        ax.yaxis.set_minor_formatter(_plain(minor=True))
    ax.grid(True, which="both", alpha=0.3)


def _plain(*, minor: bool = False) -> object:
    """Plain numbers on a log axis (50, not 5x10^1); minor ticks labelled only at 2 and 5."""
    def text(v: float, _: object) -> str:
        if minor and round(v / 10 ** math.floor(math.log10(v)), 6) not in (2.0, 5.0):
            return ""
        return f"{v:g}"

    return matplotlib.ticker.FuncFormatter(text)


def _spans_decades(values: pd.Series) -> bool:
    v = values[values > 0]
    return len(v) > 0 and float(v.max()) / float(v.min()) >= 10.0


def _legend_below(fig: Figure, ax: object, rows_of_panels: int) -> None:
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.09 / rows_of_panels, 1, 1))


def _finish_axes(ax: object, values: pd.Series, rates: list[float], label: str, *, title: str,
                 xlabel: str) -> None:
    """Log rate axis, log y where ``values`` span decades (said in the y label), title, labels."""
    log = _spans_decades(values)
    _log_axes(ax, rates, log_y=log)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(label + (", log" if log else ""))


def routers_figure(df: pd.DataFrame, out: Path) -> Path:
    gpu = df[df["topology.name"] == "gpu"]
    rates = sorted(gpu[RATE].unique())
    panels = (("prefix_cache.hit_rate", "prefix-cache hit rate", 1.0),
              ("ttft_s.p50", "TTFT p50 (ms)", 1e3), ("ttft_s.p90", "TTFT p90 (ms)", 1e3),
              ("goodput_rps", "goodput (req/s)", 1.0))
    fig, axes = _figure(2, len(panels), (15, 7.2))
    for row, instances in enumerate(sorted(gpu["topology.instances"].unique())):
        part = gpu[gpu["topology.instances"] == instances]
        for col, (metric, label, scale) in enumerate(panels):
            ax = axes[row][col]
            _lines(ax, part, metric, scale)
            _finish_axes(ax, part[metric], rates, label, title=f"{instances} x H100: {label}",
                         xlabel="sessions started per s (log)")
    _legend_below(fig, axes[0][1], 2)
    return _save(fig, out / "prefix_cache_routers.png")


def layouts_figure(df: pd.DataFrame, out: Path) -> Path:
    rates = sorted(df[RATE].unique())
    panels = (("ttft_s.p50", "TTFT p50 (ms)", 1e3), ("ttft_s.p90", "TTFT p90 (ms)", 1e3),
              ("tpot_s.p99", "P99 TPOT (ms)", 1e3), ("goodput_rps", "goodput (req/s)", 1.0))
    fig, axes = _figure(1, len(panels), (15, 4.4))
    picks = [(False, "round_robin"), DEFAULT]
    layouts = sorted({(n, int(i)) for n, i in zip(df["topology.name"], df["topology.instances"],
                                                  strict=True)})
    colors = ["tab:blue", "tab:purple", "tab:olive", "tab:brown"]
    for col, (metric, label, scale) in enumerate(panels):
        ax = axes[0][col]
        for k, (name, n) in enumerate(layouts):
            for cache, router in picks:
                line = df[(df["topology.name"] == name) & (df["topology.instances"] == n)
                          & (df[CACHE] == cache) & (df[ROUTER] == router)].sort_values(RATE)
                layout = f"{n} x H100" if name == "gpu" else f"{n} x H100 -> 4 x GroqRack"
                tag = "cache, cache-aware" if cache else "no cache"
                dodge = 1.0 + 0.02 * (2 * k + cache - len(layouts))
                ax.plot(line[RATE] * dodge, line[metric] * scale, color=colors[k % len(colors)],
                        linestyle="-" if cache else ":", marker="o" if cache else "x",
                        markersize=5, label=f"{layout}, {tag}")
        _finish_axes(ax, df[metric], rates, label, title=label,
                     xlabel="sessions started per s (log)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return _save(fig, out / "prefix_cache_layouts.png")


def mooncake_figure(df: pd.DataFrame, out: Path) -> Path:
    rates = sorted(df[RATE].unique())
    panels = (("ttft_s.p50", "TTFT p50 (s)", 1.0), ("ttft_s.p90", "TTFT p90 (s)", 1.0),
              ("prefix_cache.hit_rate", "prefix-cache hit rate", 1.0))
    fig, axes = _figure(1, len(panels), (13, 4.4))
    for col, (metric, label, scale) in enumerate(panels):
        ax = axes[0][col]
        _lines(ax, df, metric, scale)
        _finish_axes(ax, df[metric], rates, label, title=f"16 x H100, Mooncake trace: {label}",
                     xlabel="request rate (req/s, log)")
    _legend_below(fig, axes[0][0], 1)
    return _save(fig, out / "prefix_cache_mooncake.png")


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110, metadata={"Software": None})
    return path


def _row(df: pd.DataFrame, cache: bool, router: str, **axes: object) -> pd.Series:
    mask = (df[CACHE] == cache) & (df[ROUTER] == router)
    for axis, value in axes.items():
        mask &= df[axis] == value
    rows = df[mask]
    if len(rows) != 1:
        raise SystemExit(f"error: expected one point for cache={cache} router={router} {axes}, "
                         f"found {len(rows)}")
    return rows.iloc[0]


def _cell(row: pd.Series, unit: float, digits: int) -> str:
    hit = row.get("prefix_cache.hit_rate")
    hit_text = "" if hit is None or pd.isna(hit) else f" ({100 * hit:.0f} %)"
    return (f"{row['ttft_s.p50'] * unit:.{digits}f} / {row['ttft_s.p90'] * unit:.{digits}f}"
            f"{hit_text}")


def numbers(sessions: pd.DataFrame, mooncake: pd.DataFrame) -> tuple[str, str]:
    """The generated Markdown of docs/results.md and the README summary line."""
    lines = [("Multi-turn sessions, colocated H100s: TTFT p50 / p90 in ms (prefix-cache hit "
              "rate); cache-aware is the default router wherever a cache is on."), "",
             "| H100s | sessions/s | " + " | ".join(CONFIGS[k][0] for k in _keys(sessions))
             + " |", "|---:|---:|" + "---:|" * len(_keys(sessions))]
    gpu = sessions[sessions["topology.name"] == "gpu"]
    for n in sorted(gpu["topology.instances"].unique()):
        for rate in sorted(gpu[RATE].unique()):
            cells = [_cell(_row(gpu, c, r, **{"topology.instances": n, RATE: rate}), 1e3, 0)
                     for c, r in _keys(sessions)]
            lines.append(f"| {n} | {rate:g} | " + " | ".join(cells) + " |")
    lines += ["", ("Mooncake's trace on 16 H100s (Llama-3.1-8B): TTFT p50 / p90 in s (hit rate), "
                   "SLO attainment (TTFT <= 2 s, TPOT <= 50 ms)."), "",
              "| req/s | " + " | ".join(CONFIGS[k][0] for k in _keys(mooncake)) + " |",
              "|---:|" + "---:|" * len(_keys(mooncake))]
    for rate in sorted(mooncake[RATE].unique()):
        cells = []
        for c, r in _keys(mooncake):
            row = _row(mooncake, c, r, **{RATE: rate})
            cells.append(f"{_cell(row, 1.0, 3)}, {100 * row['slo_attainment']:.1f} %")
        lines.append(f"| {rate:g} | " + " | ".join(cells) + " |")
    base = [_row(mooncake, False, "least_outstanding", **{RATE: r})
            for r in sorted(mooncake[RATE].unique())]
    best = [_row(mooncake, *DEFAULT, **{RATE: r}) for r in sorted(mooncake[RATE].unique())]
    wins = all(b["ttft_s.p50"] < a["ttft_s.p50"] and b["ttft_s.p90"] < a["ttft_s.p90"]
               for a, b in zip(base, best, strict=True))
    verdict = "beats" if wins else "does not beat"
    first_a, first_b = base[0], best[0]
    summary = (f"on Mooncake's public trace with 16 H100s the cache with the cache-aware router "
               f"(the default) {verdict} no cache on TTFT p50 and p90 at every swept rate: at the "
               f"trace's own rate p50 {first_a['ttft_s.p50']:.3f} → {first_b['ttft_s.p50']:.3f} s, "
               f"p90 {first_a['ttft_s.p90']:.2f} → {first_b['ttft_s.p90']:.2f} s, hit rate "
               f"{100 * first_b['prefix_cache.hit_rate']:.0f} %")
    lines += ["", f"Summary: {summary}.", ""]
    return "\n".join(lines), f"- **Prefix caching** ([figure](docs/figures/prefix_cache_mooncake.png)): {summary}.\n"


def _keys(df: pd.DataFrame) -> list[tuple[bool, str]]:
    return [k for k in CONFIGS if ((df[CACHE] == k[0]) & (df[ROUTER] == k[1])).any()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[3:6]))
    parser.add_argument("sessions", type=Path, help="sweep directory of prefix-cache.yaml")
    parser.add_argument("mooncake", type=Path, help="sweep directory of prefix-cache-mooncake.yaml")
    parser.add_argument("out", type=Path, help="directory for the PNGs (docs/figures)")
    parser.add_argument("--docs", action="store_true",
                        help="also rewrite the generated blocks of docs/results.md and README.md")
    args = parser.parse_args(argv)
    sessions, mooncake = _ok(args.sessions), _ok(args.mooncake)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in (routers_figure(sessions, args.out),
                 layouts_figure(sessions[sessions[CACHE] | (sessions[ROUTER] == "round_robin")],
                                args.out),
                 mooncake_figure(mooncake, args.out)):
        print(f"wrote {path}")
    block, readme = numbers(sessions, mooncake)
    if args.docs:
        replace_marked_block(ROOT / "docs" / "results.md", BEGIN, END, block)
        replace_marked_block(ROOT / "README.md", README_BEGIN, README_END, readme)
        print("rewrote the prefix-cache blocks of docs/results.md and README.md")
    else:
        print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
