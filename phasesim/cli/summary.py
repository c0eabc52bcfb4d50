"""The summary of one run as the commands print it (``sim replay``, ``sim run``): rich tables of
requests, latency, pools, links and the prefix cache, then one line each for cost and energy. The
full numbers are in summary.json; this is what a person reads."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["print_economics", "render_summary"]


def render_summary(summary: dict[str, Any], console: Console) -> None:
    """The summary as rich tables: requests, latency (ms), rates, pools, links."""
    requests = Table(title="requests", title_justify="left", show_header=False)
    requests.add_row("total", f"{summary['requests']:,}")
    requests.add_row("completed", f"{summary['completed']:,}")
    requests.add_row("rejected", f"{summary['rejected']:,}")
    for reason, count in summary["rejected_by_reason"].items():
        requests.add_row(f"  {escape(reason) or '(no reason)'}", f"{count:,}")
    requests.add_row("duration", _fmt(summary["duration_s"], " s"))
    requests.add_row("throughput", _fmt(summary["throughput_rps"], " req/s"))
    requests.add_row("output tokens", _fmt(summary["output_tps"], " tok/s"))
    requests.add_row("goodput", _fmt(summary["goodput_rps"], " req/s"))
    attainment = summary["slo_attainment"]
    requests.add_row("SLO attainment", "-" if attainment is None else f"{100 * attainment:.1f} %")
    console.print(requests)

    latency = Table(title="latency (ms)", title_justify="left")
    latency.add_column("metric")
    for column in ("mean", "p50", "p90", "p99"):
        latency.add_column(column, justify="right")
    for key, label in (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("e2e_s", "E2E"),
                       ("queue_s", "queue")):
        stats = summary[key]
        latency.add_row(label, *(_fmt_ms(stats[c]) for c in ("mean", "p50", "p90", "p99")))
    console.print(latency)

    if summary["pools"]:
        pools = Table(title="pools", title_justify="left")
        for column in ("pool", "role", "hardware", "inst", "util", "batch", "preempt"):
            pools.add_column(column, justify="left" if column in ("pool", "role", "hardware")
                             else "right")
        for pool in summary["pools"]:
            pools.add_row(escape(pool["pool"]), pool["role"], escape(pool["hardware"]),
                          str(pool["instances"]),
                          _fmt_pct(pool["utilization"]), _fmt(pool["mean_batch_size"]),
                          f"{pool['preemptions']:,}")
        console.print(pools)

    if summary["links"]:
        links = Table(title="links", title_justify="left")
        for column in ("link", "util", "GB moved", "transfers"):
            links.add_column(column, justify="left" if column == "link" else "right")
        for link in summary["links"]:
            links.add_row(escape(link["link"]), _fmt_pct(link["utilization"]),
                          f"{link['bytes_moved'] / 1e9:,.3f}", f"{link['transfers']:,}")
        console.print(links)

    cache = summary.get("prefix_cache")
    if cache:
        caches = Table(title=f"prefix cache (hit rate {_fmt_pct(cache['hit_rate'])})",
                       title_justify="left")
        for column in ("pool", "evictions", "inserted", "mean cached tokens", "occupancy"):
            caches.add_column(column, justify="left" if column == "pool" else "right")
        for pool in cache["pools"]:
            mean = pool["mean_cached_tokens"]
            caches.add_row(escape(pool["pool"]), f"{pool['evictions']:,}",
                           f"{pool['inserted']:,}", "-" if mean is None else f"{mean:,.0f}",
                           _fmt_pct(pool["mean_occupancy"]))
        console.print(caches)


def _fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.2f}{unit}"


def _fmt_ms(value_s: float | None) -> str:
    return "-" if value_s is None else f"{1e3 * value_s:,.1f}"


def _fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def print_economics(summary: dict[str, Any], console: Console) -> None:
    """One line each for cost and energy (the full sections are in summary.json)."""
    cost, energy = summary.get("cost") or {}, summary.get("energy") or {}
    if cost.get("usd_per_hour") is not None:
        per_m = cost.get("usd_per_million_output_tokens")
        per_good = cost.get("usd_per_million_goodput_tokens")
        console.print(f"cost ({cost.get('basis', 'tco')} prices): ${cost['usd_per_hour']:,.2f}/h"
                      + ("" if per_m is None else f", ${per_m:,.2f} per million output tokens")
                      + ("" if per_good is None
                         else f", ${per_good:,.2f} per million goodput tokens")
                      + " (sources: summary.json cost.prices)")
    if energy.get("joules") is not None:
        per_token = energy.get("joules_per_output_token")
        avg = energy.get("avg_power_w")
        console.print(f"energy: {energy['joules'] / 3.6e6:,.3f} kWh"
                      + ("" if per_token is None else f", {per_token:,.2f} J per output token")
                      + ("" if avg is None else f", {avg:,.0f} W on average"))
