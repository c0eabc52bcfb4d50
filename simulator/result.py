"""The value ``simulate`` returns (see notes/sim_contract.md for every column)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["SimResult"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SimResult:
    requests: pd.DataFrame  # one row per trace request, sorted by request_id
    timeseries: pd.DataFrame  # one row per change of an instance or a link
    pool_stats: list[dict[str, Any]]
    link_stats: list[dict[str, Any]]
    duration_s: float  # last finish - first arrival
    meta: dict[str, Any]  # seed, mode, topology dump, versions
    summary: dict[str, Any]  # simulator.metrics.summarize(...)
