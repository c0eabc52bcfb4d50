"""A small simulation result for output tests, importable by the child processes they kill."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class SmallResult:
    requests: pd.DataFrame
    timeseries: pd.DataFrame
    summary: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)


def small_result(n: int) -> SmallResult:
    return SmallResult(pd.DataFrame({"request_id": np.arange(n, dtype=np.int64)}),
                       pd.DataFrame({"time_s": np.linspace(0, 1, n)}), {"requests": n},
                       {"seed": n})
