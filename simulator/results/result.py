"""The value ``simulate`` returns; its columns are documented in the README (``sim replay``'s
output files) and by ``phasesim.simulator.request.REQUEST_COLUMNS``."""

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
    summary: dict[str, Any]  # phasesim.simulator.results.metrics.summarize(...)
