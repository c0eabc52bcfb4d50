"""Read a small user CSV with every cell as written (strings, nothing parsed or dropped), so the
caller can check each cell and name its row and column in an error.

Readers of run shapes and benchmark results (``sim latency --from-csv``, ``profiler fit RUNS.csv``)
share it; big traces have their own streaming importers (``phasesim.traces``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from phasesim.errors import InputError

__all__ = ["read_csv_cells"]


def read_csv_cells(path: str | Path) -> pd.DataFrame:
    """The CSV at ``path``, every cell a string as written (blank cells stay ``""``); an
    :class:`InputError` naming the file if it is missing or not a readable CSV."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable CSV: {' '.join(str(exc).split())}", path=path) from None
