"""Cost of a run: what the cluster costs per hour and per million output tokens, per pool.

``usd_per_hour`` of a pool = instances x tensor_parallel (devices per instance) x the hourly
price of its hardware (a catalog entry: a GPU, or a whole GroqRack), from a ``PriceBook``: the
catalog's prices on one basis (``basis``: ``tco``, owning, or ``rental``), with the user's
overrides. The run costs ``usd_per_hour x duration_s / 3600`` (the cluster is paid for from the
first arrival to the last finish); ``usd_per_million_output_tokens`` divides that by the output
tokens of completed requests, ``usd_per_million_goodput_tokens`` by those of the requests that
met the SLOs (the tokens a user would pay for). A pool's own figures are its share. Hardware
with no price and no override has no price: its figures (and the totals) are ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from phasesim.simulator.catalog.economics import PriceBook

__all__ = ["run_cost"]


def run_cost(*, pools: Sequence[Mapping[str, Any]], prices: PriceBook, duration_s: float,
             output_tokens: int, goodput_output_tokens: int | None = None) -> dict[str, Any]:
    """The summary's ``cost`` section. ``pools``: per pool ``{"name", "hardware", "instances"}``
    and optionally ``"tensor_parallel"`` (devices per instance, default 1);
    ``goodput_output_tokens``: output tokens of the requests that met the SLOs (None: not
    counted, no per-goodput figures)."""
    rows = []
    prices_used: dict[str, dict[str, object]] = {}
    total: float | None = 0.0
    for pool in pools:
        hardware = str(pool["hardware"])
        prices_used[hardware] = prices.describe(hardware)
        unit = prices_used[hardware]["usd_per_hour"]
        devices = int(pool["instances"]) * int(pool.get("tensor_parallel", 1))
        hourly = None if unit is None else devices * float(unit)
        total = None if total is None or hourly is None else total + hourly
        rows.append({"pool": str(pool["name"]), "hardware": hardware,
                     "usd_per_hour": hourly, "usd": _run_usd(hourly, duration_s),
                     "usd_per_million_output_tokens": _per_million(hourly, duration_s,
                                                                   output_tokens),
                     "usd_per_million_goodput_tokens": _per_million(
                         hourly, duration_s, goodput_output_tokens)})
    return {
        "basis": prices.basis.value,
        "usd_per_hour": total,
        "usd": _run_usd(total, duration_s),
        "usd_per_million_output_tokens": _per_million(total, duration_s, output_tokens),
        "usd_per_million_goodput_tokens": _per_million(total, duration_s, goodput_output_tokens),
        "kwh_usd": prices.kwh_usd,
        "pue": prices.pue,
        "prices": prices_used,
        "pools": rows,
    }


def _run_usd(hourly: float | None, duration_s: float) -> float | None:
    return None if hourly is None else hourly * max(duration_s, 0.0) / 3600.0


def _per_million(hourly: float | None, duration_s: float,
                 output_tokens: int | None) -> float | None:
    if hourly is None or output_tokens is None or output_tokens <= 0:
        return None
    return _run_usd(hourly, duration_s) / output_tokens * 1e6
