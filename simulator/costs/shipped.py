"""Find and load cost tables: the shipped defaults in ``simulator/tables`` and any file by path.

Shipped tables are named ``{hardware}__{model}__{dtype}__{engine}__{source}.parquet`` (the
engine as in the table's metadata: ``torch`` for the measured H100 table, ``groq`` for GroqRack's,
``analytical`` for roofline tables that claim no engine). The stem without the engine, the name
tables had before engines (``h100-sxm__llama2-7b__fp16__measured``), still names its table
(:func:`resolve_table_path`). For one hardware, model and dtype (and engine, when one is asked for)
the best source wins: measured > published > analytical, so dropping a measured table into
``simulator/tables`` replaces the analytical default in :func:`load_cost_model`.
Only that folder's own ``*.parquet`` files are tables: the raw captures a shipped table was built
from live in ``simulator/tables/raw/`` and are never listed or picked.

Warnings are for the user's own tables. A shipped table is cleaned when it is built (so reading it
warns of nothing), and its grid and what lies beyond it are documented in
``simulator/tables/SOURCES.md``, so :func:`load_cost_model` builds the model of a table that lies
in ``TABLES_DIR`` with ``warn_beyond_grid=False``: lookups beyond its grid extrapolate exactly as
for any table (``TableCostModel.extrapolated`` records that they did) without a warning. A table
anywhere else (``--profile PATH``, ``directory=``) warns as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from phasesim.errors import InputError
from phasesim.simulator import table_schema as ts
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.costs.table import read_table, read_table_meta
from phasesim.simulator.costs.table_model import TableCostModel

__all__ = ["TABLES_DIR", "SOURCE_RANK", "TableInfo", "table_info", "list_tables", "find_table", "load_cost_model",
           "resolve_table_path", "is_shipped"]

TABLES_DIR = Path(__file__).resolve().parents[1] / "tables"
SOURCE_RANK: dict[ts.Source, int] = {ts.Source.MEASURED: 0, ts.Source.PUBLISHED: 1,
                                     ts.Source.ANALYTICAL: 2}


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


def find_table(*, hardware: str, model: str, dtype: str = "fp16",
               directory: Path | None = None, engine: str | None = None) -> Path:
    """The best table for ``hardware``/``model``/``dtype`` (measured > published > analytical),
    among those of ``engine`` when one is given (any engine otherwise). Files are found by name
    (``{hardware}__{model}__{dtype}__*.parquet``: with or without the engine part), the engine by
    each file's metadata."""
    directory = TABLES_DIR if directory is None else Path(directory)
    candidates = []
    for p in sorted(directory.glob(f"{hardware}__{model}__{dtype}__*.parquet")):
        meta = read_table_meta(p)
        if engine is not None and meta["engine"] != engine:
            continue
        candidates.append((SOURCE_RANK[ts.Source(meta["source"])], p.name, p))
    if not candidates:
        have = ", ".join(sorted(p.stem for p in directory.glob("*.parquet"))) or "none"
        which = "" if engine is None else f", engine '{engine}'"
        raise InputError(f"no cost table for hardware '{hardware}', model '{model}', dtype '{dtype}'"
                         f"{which} in {directory} (have: {have}); make one with `profiler capture --backend "
                         f"analytical --hardware {hardware} --model {model} -o T.parquet` and pass it")
    return min(candidates)[2]


def is_shipped(path: Path) -> bool:
    """True for a table file in ``TABLES_DIR`` itself (not a subfolder such as ``raw/``)."""
    return Path(path).resolve().parent == TABLES_DIR


def resolve_table_path(name: str, directory: Path | None = None) -> Path:
    """A table given by path, or by the stem of a shipped table: its full stem, or the stem
    without the engine (``{hardware}__{model}__{dtype}__{source}``, how tables were named before
    engines) where exactly one table matches it."""
    path = Path(name)
    if path.suffix == ".parquet" or path.exists():
        return path
    directory = TABLES_DIR if directory is None else Path(directory)
    shipped = directory / f"{name}.parquet"
    if shipped.exists():
        return shipped
    alias = _old_stem_alias(name, directory)
    if alias is not None:
        return alias
    have = ", ".join(sorted(p.stem for p in directory.glob("*.parquet"))) or "none"
    raise InputError(f"no table named '{name}' (shipped: {have}; or give a .parquet path)")


def _old_stem_alias(name: str, directory: Path) -> Path | None:
    """The one table ``{hardware}__{model}__{dtype}__*__{source}`` an engine-less stem names."""
    parts = name.split("__")
    if len(parts) != 4 or any(not part or "*" in part or "/" in part for part in parts):
        return None
    hardware, model, dtype, source = parts
    matches = sorted(directory.glob(f"{hardware}__{model}__{dtype}__*__{source}.parquet"))
    if len(matches) > 1:
        raise InputError(f"table name '{name}' is ambiguous (it has an engine now: "
                         f"{', '.join(p.stem for p in matches)})")
    return matches[0] if matches else None


def load_cost_model(*, hardware: str, model: str, dtype: str = "fp16", path: str | Path | None = None,
                    directory: Path | None = None, tensor_parallel: int = 1,
                    engine: str | None = None) -> TableCostModel:
    """A :class:`TableCostModel`: from ``path`` when given (a .parquet path or a shipped table's
    stem; its hardware/model/dtype and tensor-parallel degree must match), else the best shipped
    table. The shipped tables are all TP 1: a TP-1 table is never reused for a TP-N instance
    (its step times hold no all-reduces and a single device's bandwidth); an N > 1 instance
    needs a TP-N table (``profiler capture --backend analytical --tensor-parallel N``; the
    ``sim`` commands build one on the fly). ``engine``, when given, picks among the tables of
    that engine only, and a table given by ``path`` must be of it."""
    get_hardware(hardware)  # unknown names fail early and clearly
    spec = get_model(model)
    if path is None and tensor_parallel != 1:
        raise InputError(f"no tensor-parallel {tensor_parallel} table for hardware '{hardware}', "
                         f"model '{model}', dtype '{dtype}' (the shipped tables are TP 1); make one "
                         f"with `profiler capture --backend analytical --hardware {hardware} --model "
                         f"{model} --tensor-parallel {tensor_parallel} -o T.parquet` and pass it")
    table_path = resolve_table_path(str(path), directory) if path is not None else find_table(
        hardware=hardware, model=model, dtype=dtype, directory=directory, engine=engine)
    df, meta = read_table(table_path)
    if engine is not None and meta["engine"] != engine:
        raise InputError(f"table is for engine '{meta['engine']}', not '{engine}'", path=table_path,
                         column="engine")
    first = df.iloc[0]
    for col, want in ((ts.HARDWARE, hardware), (ts.MODEL, model), (ts.DTYPE, dtype),
                      (ts.TENSOR_PARALLEL, str(tensor_parallel))):
        if str(first[col]) != want:
            hint = (" (a table of one tensor-parallel degree is not reused for another)"
                    if col == ts.TENSOR_PARALLEL else "")
            raise InputError(f"table is for {col} '{first[col]}', not '{want}'{hint}", path=table_path,
                             row=1, column=col)
    return TableCostModel.from_table(df, meta, model=spec, name=table_path.stem, validated=True,
                                     warn_beyond_grid=not is_shipped(table_path))
