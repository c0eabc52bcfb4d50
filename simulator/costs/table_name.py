"""How a cost table's file is named: the one place that builds or parses a table's stem.

``{hardware}__{model}__{dtype}__{engine}__{source}`` (the engine as in the table's metadata:
``torch`` for the measured H100 table, ``groq`` for GroqRack's, ``analytical`` for roofline
tables that claim no engine); ``{hardware}__{model}__{dtype}__{source}`` is how tables were named
before engines (still accepted where a table is named: ``phasesim.simulator.costs.resolve``); a
table built on the fly for a tensor-parallel degree ends in ``__tp{N}``. The name is a label: a
table's hardware, engine, model, dtype and degree are those of its metadata and rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TableName", "SEPARATOR", "SUFFIX"]

SEPARATOR = "__"
SUFFIX = ".parquet"
_TP = re.compile(r"tp([1-9][0-9]*)")


@dataclass(frozen=True, slots=True, kw_only=True)
class TableName:
    """The parts of a table's stem. ``engine`` None: the engine-less (pre-engine) name;
    ``tensor_parallel`` None: no ``__tpN`` part (a file's table, TP 1 by its rows)."""

    hardware: str
    model: str
    dtype: str
    engine: str | None
    source: str
    tensor_parallel: int | None = None

    @property
    def stem(self) -> str:
        parts = [self.hardware, self.model, self.dtype,
                 *(() if self.engine is None else (self.engine,)), self.source,
                 *(() if self.tensor_parallel is None else (f"tp{self.tensor_parallel}",))]
        return SEPARATOR.join(parts)

    @property
    def file_name(self) -> str:
        return self.stem + SUFFIX

    @classmethod
    def parse(cls, stem: str) -> TableName | None:
        """The parts of ``stem`` (a file name's stem, no folder), or None when it is not a table
        name: four or five non-empty parts, then an optional ``tpN``."""
        parts = stem.split(SEPARATOR)
        tensor_parallel = None
        if len(parts) > 4 and (tp := _TP.fullmatch(parts[-1])) is not None:
            tensor_parallel = int(tp.group(1))
            parts = parts[:-1]
        if len(parts) not in (4, 5) or any(not p or "/" in p or "*" in p for p in parts):
            return None
        hardware, model, dtype, *engine, source = parts
        return cls(hardware=hardware, model=model, dtype=dtype,
                   engine=engine[0] if engine else None, source=source,
                   tensor_parallel=tensor_parallel)
