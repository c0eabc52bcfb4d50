"""Read a small user CSV with every cell as written (strings, nothing parsed or dropped), so the
caller can check each cell and name its row and column in an error.

Readers of run shapes and benchmark results (``sim latency --from-csv``, ``profiler fit RUNS.csv``)
share it; big traces have their own streaming importers (``phasesim.traces``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from phasesim.errors import InputError

__all__ = ["read_csv_cells", "flag_cell"]

_FLAGS = {"": False, "0": False, "false": False, "1": True, "true": True}


def read_csv_cells(path: str | Path) -> pd.DataFrame:
    """The CSV at ``path``, every cell a string as written (blank cells stay ``""``); an
    :class:`InputError` naming the file if it is missing, not a readable CSV, or names a column
    twice."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    try:
        # the header as written: pandas renames a repeated name (batch_size -> batch_size.1), so
        # the second column would be silently ignored and the output's header renamed
        header = pd.read_csv(path, dtype=str, keep_default_na=False, header=None, nrows=1)
        names = [str(name).strip() for name in header.iloc[0]] if len(header) else []
        seen: set[str] = set()
        for number, name in enumerate(names, start=1):
            if name in seen:
                raise InputError(f"column name {name!r} appears twice in the header (column "
                                 f"{names.index(name) + 1} and {number})", path=path, line=1,
                                 column=name)
            seen.add(name)
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable CSV: {' '.join(str(exc).split())}", path=path) from None


def flag_cell(raw: object, *, path: Path, row: int, column: str) -> bool:
    """A true/false cell as written (``true``/``false``, ``1``/``0``, any case; blank: false);
    an :class:`InputError` naming ``path``, ``row`` and ``column`` for anything else."""
    text = "" if raw is None else str(raw).strip().lower()
    if text not in _FLAGS:
        raise InputError(f"must be true or false, got '{raw}'", path=path, row=row, column=column)
    return _FLAGS[text]
