"""The shipped cost tables: the folder ``simulator/tables`` and what ``sim profiles list`` shows.

Only that folder's own ``*.parquet`` files are tables: the raw captures a shipped table was built
from live in ``simulator/tables/raw/`` and are never listed or picked. Choosing a table and
loading it is ``phasesim.simulator.costs.resolve``'s; its file names are
``phasesim.simulator.costs.table_name``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from phasesim.simulator import table_schema as ts
from phasesim.simulator.costs.table import read_table

__all__ = ["TABLES_DIR", "TableInfo", "table_info", "list_tables", "is_shipped"]

TABLES_DIR = Path(__file__).resolve().parents[1] / "tables"


@dataclass(frozen=True, slots=True, kw_only=True)
class TableInfo:
    """What ``sim profiles list`` shows about one table file."""

    name: str
    path: Path
    hardware: str
    model: str
    dtype: str
    tensor_parallel: int
    source: ts.Source
    engine: str
    prefill_batches: tuple[int, ...]
    prefill_tokens: tuple[int, int]
    decode_batches: tuple[int, ...]
    decode_tokens: tuple[int, int]
    rows: int

    @property
    def grid(self) -> str:
        return (f"prefill b{self.prefill_batches[0]}-{self.prefill_batches[-1]} "
                f"t{self.prefill_tokens[0]}-{self.prefill_tokens[1]}; decode "
                f"b{self.decode_batches[0]}-{self.decode_batches[-1]} "
                f"t{self.decode_tokens[0]}-{self.decode_tokens[1]}")


def table_info(path: Path) -> TableInfo:
    df, meta = read_table(path)
    first = df.iloc[0]
    pre = df[df[ts.PHASE] == ts.Phase.PREFILL.value]
    dec = df[df[ts.PHASE] == ts.Phase.DECODE.value]
    return TableInfo(
        name=path.stem, path=path, hardware=str(first[ts.HARDWARE]), model=str(first[ts.MODEL]),
        dtype=str(first[ts.DTYPE]), tensor_parallel=int(first[ts.TENSOR_PARALLEL]),
        source=ts.Source(meta["source"]), engine=str(meta["engine"]),
        prefill_batches=tuple(int(b) for b in sorted(pre[ts.BATCH_SIZE].unique())),
        prefill_tokens=(int(pre[ts.TOKENS].min()), int(pre[ts.TOKENS].max())),
        decode_batches=tuple(int(b) for b in sorted(dec[ts.BATCH_SIZE].unique())),
        decode_tokens=(int(dec[ts.TOKENS].min()), int(dec[ts.TOKENS].max())), rows=len(df))


def list_tables(directory: Path | None = None) -> list[TableInfo]:
    """Every ``*.parquet`` table in ``directory`` (default: the shipped tables), sorted by name."""
    directory = TABLES_DIR if directory is None else Path(directory)
    return [table_info(p) for p in sorted(directory.glob("*.parquet"))]


def is_shipped(path: Path) -> bool:
    """True for a table file in ``TABLES_DIR`` itself (not a subfolder such as ``raw/``)."""
    return Path(path).resolve().parent == TABLES_DIR
