"""Which cost table an instance shape runs on, and loading it: the one resolver.

A table is for one (hardware, engine, model, dtype, tensor-parallel degree). The engine is the one
named, else the hardware's default (vLLM on GPUs, Groq on GroqRack, ...). :func:`choose_table`
decides, in order:

- a ``profile`` (a .parquet path, or a shipped table's stem: its full stem, or the stem without
  the engine where exactly one table matches it, :func:`table_path`): loaded as given; its
  hardware, model, dtype and tensor-parallel degree must be the instance's (a TP-1 table is never
  reused for TP N) and, when an engine is named, its engine must be that one;
- TP 1 with a shipped table of the engine for (hardware, model, dtype): the best one (measured >
  published > analytical, :func:`shipped_table`), so dropping a measured table into
  ``simulator/tables`` replaces the analytical default; then one in a user catalog's ``tables/``
  (``PHASESIM_CATALOG``, ``phasesim.simulator.catalog.user``);
- otherwise the roofline of ``phasesim.simulator.costs.roofline`` built for that engine and
  degree (cached per process), from the constants ``profiler fit`` calibrated for (hardware,
  engine) (``calibration``: a user's fit instead of the shipped one, for the pairs it holds,
  ahead of any shipped table; the other pairs keep the shipped fit); with no fit for the pair,
  from the kernel constants, and the table's ``meta["uncalibrated"]`` says why (the commands print
  it as one ``warning:`` line, ``phasesim.cli.cost_tables``).

:func:`load_choice` loads the choice; :func:`resolve_table` does both. ``sim replay``/``latency``/
``plan``, the scenario kinds, ``sim profiles`` and :func:`phasesim.simulator.run.simulate` all
choose here. Table file names are built and parsed by
:class:`phasesim.simulator.costs.table_name.TableName` only.

Warnings are for the user's own tables. A shipped table is cleaned when it is built (so reading it
warns of nothing), and its grid and what lies beyond it are documented in
``simulator/tables/SOURCES.md``, so :func:`load_table` builds the model of a table that lies in
``TABLES_DIR`` with ``warn_beyond_grid=False``: lookups beyond its grid extrapolate exactly as for
any table (``TableCostModel.extrapolated`` records that they did) without a warning. A table
anywhere else warns as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from phasesim.errors import InputError
from phasesim.simulator import table_schema as ts
from phasesim.simulator.catalog.engines import engine_for_hardware
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.catalog.user import user_table
from phasesim.simulator.costs import roofline
from phasesim.simulator.costs.shipped import TABLES_DIR, is_shipped
from phasesim.simulator.costs.table import read_table, read_table_meta
from phasesim.simulator.costs.table_model import TableCostModel
from phasesim.simulator.costs.table_name import SUFFIX, TableName

__all__ = ["SOURCE_RANK", "TableChoice", "ResolvedTable", "choose_table", "load_choice",
           "resolve_table", "load_table", "table_path", "shipped_table"]

SOURCE_RANK: dict[ts.Source, int] = {ts.Source.MEASURED: 0, ts.Source.PUBLISHED: 1,
                                     ts.Source.ANALYTICAL: 2}


@dataclass(frozen=True, slots=True, kw_only=True)
class TableChoice:
    """The decision for one instance shape: a table file (``path``) or the roofline built for
    ``engine`` (``path`` None, from the user's fit ``calibration`` when it holds the pair, else
    the shipped fit). ``engine``: the engine chosen for (the one named, else the hardware's
    default); ``file_engine``: the engine a file must be of (None: any); ``identical_prompts``:
    a built table priced for batches of copies of one prompt (``roofline.routed_tokens``)."""

    hardware: str
    model: str
    dtype: str
    tensor_parallel: int
    engine: str
    path: Path | None
    file_engine: str | None = None
    calibration: str | None = None
    identical_prompts: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedTable:
    """An instance's cost model, the engine it was chosen for, the file it was read from (None:
    built here), and why a built table's step times are not fitted for that engine (None: they
    are)."""

    cost_model: TableCostModel
    built: bool
    hardware: str
    engine: str
    path: Path | None = None
    uncalibrated: str | None = None


def choose_table(*, hardware: str, model: str, dtype: str = "fp16", tensor_parallel: int = 1,
                 profile: str | Path | None = None, engine: str | None = None,
                 calibration: str | Path | None = None,
                 directory: Path | None = None, identical_prompts: bool = False) -> TableChoice:
    """The table an instance shape runs on (module docstring for the order). ``directory``: the
    shipped tables' folder (default ``TABLES_DIR``). ``identical_prompts`` (batches of copies of
    one prompt) changes only a mixture of experts, whose copies route alike: its table is then
    always the roofline built for that (a file's step times were taken on its own prompts, so
    a profile is refused); for a dense model copies cost what distinct prompts cost."""
    resolved = engine_for_hardware(hardware, engine).name
    shape = dict(hardware=hardware, model=model, dtype=dtype, tensor_parallel=tensor_parallel,
                 engine=resolved)
    same = identical_prompts and get_model(model).is_moe
    if profile is not None:
        if same:
            raise InputError(f"identical prompts on {model}: a mixture of experts routes copies "
                             "alike, which a profile's measured step times do not say; drop the "
                             "profile to run on the roofline built for identical prompts")
        return TableChoice(**shape, path=table_path(profile, directory), file_engine=engine)
    if calibration is not None and roofline.engine_pair(
            hardware, resolved, roofline.read_engine_calibration(Path(calibration)))[1] is not None:
        return TableChoice(**shape, path=None, calibration=str(calibration), identical_prompts=same)
    if same:
        return TableChoice(**shape, path=None, file_engine=resolved, identical_prompts=True)
    path = None
    if tensor_parallel == 1:
        path = shipped_table(hardware=hardware, model=model, dtype=dtype, engine=resolved,
                             directory=directory)
        if path is None:
            path = user_table(hardware=hardware, model=model, dtype=dtype, engine=resolved)
    return TableChoice(**shape, path=path, file_engine=resolved)


def load_choice(choice: TableChoice) -> ResolvedTable:
    """The cost model ``choice`` names: its file loaded and checked against the shape, or the
    roofline built (once per process for each shape)."""
    if choice.path is not None:
        cost_model = load_table(choice.path, hardware=choice.hardware, model=choice.model,
                                dtype=choice.dtype, tensor_parallel=choice.tensor_parallel,
                                engine=choice.file_engine)
        return ResolvedTable(cost_model=cost_model, built=False, hardware=choice.hardware,
                             engine=choice.engine, path=choice.path)
    cost_model = roofline.analytical_cost_model(
        hardware=choice.hardware, model=choice.model, dtype=choice.dtype,
        tensor_parallel=choice.tensor_parallel, engine=choice.engine,
        calibration_path=choice.calibration, identical_prompts=choice.identical_prompts)
    return ResolvedTable(cost_model=cost_model, built=True, hardware=choice.hardware,
                         engine=choice.engine, uncalibrated=cost_model.meta.get("uncalibrated"))


def resolve_table(*, hardware: str, model: str, dtype: str = "fp16", tensor_parallel: int = 1,
                  profile: str | Path | None = None, engine: str | None = None,
                  calibration: str | Path | None = None,
                  directory: Path | None = None, identical_prompts: bool = False) -> ResolvedTable:
    """The cost model for one instance shape: :func:`load_choice` of :func:`choose_table`."""
    return load_choice(choose_table(hardware=hardware, model=model, dtype=dtype,
                                    tensor_parallel=tensor_parallel, profile=profile,
                                    engine=engine, calibration=calibration, directory=directory,
                                    identical_prompts=identical_prompts))


def load_table(path: str | Path, *, hardware: str | None = None, model: str | None = None,
               dtype: str | None = None, tensor_parallel: int | None = None,
               engine: str | None = None) -> TableCostModel:
    """The cost model of the table file ``path`` (named by its stem). Each of ``hardware``,
    ``model``, ``dtype``, ``tensor_parallel`` and ``engine`` that is given must be the table's
    (one InputError naming the column otherwise); ``model`` None: the catalog's entry for the
    table's own model."""
    path = Path(path)
    if hardware is not None:
        get_hardware(hardware)  # unknown names fail early and clearly
    spec = None if model is None else get_model(model)
    df, meta = read_table(path)
    if engine is not None and meta["engine"] != engine:
        raise InputError(f"table is for engine '{meta['engine']}', not '{engine}'", path=path,
                         column="engine")
    first = df.iloc[0]
    for col, want in ((ts.HARDWARE, hardware), (ts.MODEL, model), (ts.DTYPE, dtype),
                      (ts.TENSOR_PARALLEL, tensor_parallel)):
        if want is not None and str(first[col]) != str(want):
            hint = (" (a table of one tensor-parallel degree is not reused for another)"
                    if col == ts.TENSOR_PARALLEL else "")
            raise InputError(f"table is for {col} '{first[col]}', not '{want}'{hint}", path=path,
                             row=1, column=col)
    if spec is None:
        try:
            spec = get_model(str(first[ts.MODEL]))
        except InputError:
            raise InputError(f"model '{first[ts.MODEL]}' is not in the catalog", path=path,
                             row=1, column=ts.MODEL) from None
    return TableCostModel.from_table(df, meta, model=spec, name=path.stem, validated=True,
                                     warn_beyond_grid=not is_shipped(path))


def table_path(name: str | Path, directory: Path | None = None) -> Path:
    """A table given by path, or by the stem of a shipped table (in ``directory``, default
    ``TABLES_DIR``): its full stem, or the stem without the engine (how tables were named before
    engines) where exactly one table matches it."""
    path = Path(name)
    if path.suffix == SUFFIX or path.exists():
        return path
    directory = TABLES_DIR if directory is None else Path(directory)
    shipped = directory / f"{name}{SUFFIX}"
    if shipped.exists():
        return shipped
    old = TableName.parse(str(name))
    if old is not None and old.engine is None and old.tensor_parallel is None:
        matches = [p for p, n in _named(directory) if n.engine is not None
                   and n.tensor_parallel is None and _same(n, old) and n.source == old.source]
        if len(matches) > 1:
            raise InputError(f"table name '{name}' is ambiguous (it has an engine now: "
                             f"{', '.join(p.stem for p in matches)})")
        if matches:
            return matches[0]
    raise InputError(f"no table named '{name}' (shipped: {_have(directory)}; or give a .parquet "
                     "path)")


def shipped_table(*, hardware: str, model: str, dtype: str = "fp16", engine: str | None = None,
                  directory: Path | None = None) -> Path | None:
    """The best table in ``directory`` (default ``TABLES_DIR``) for ``hardware``/``model``/
    ``dtype`` (measured > published > analytical, then by file name), among those of ``engine``
    when one is given (any engine otherwise), or None. Files are found by name (with or without
    the engine part), the engine and source by each file's metadata."""
    want = TableName(hardware=hardware, model=model, dtype=dtype, engine=None, source="")
    candidates = []
    for p, name in _named(TABLES_DIR if directory is None else Path(directory)):
        if not _same(name, want):
            continue
        meta = read_table_meta(p)
        if engine is None or meta["engine"] == engine:
            candidates.append((SOURCE_RANK[ts.Source(meta["source"])], p.name, p))
    return min(candidates)[2] if candidates else None


def _named(directory: Path) -> list[tuple[Path, TableName]]:
    """The table files directly in ``directory`` whose stems are table names, sorted by name."""
    return [(p, n) for p in sorted(directory.glob(f"*{SUFFIX}"))
            if (n := TableName.parse(p.stem)) is not None]


def _same(a: TableName, b: TableName) -> bool:
    return (a.hardware, a.model, a.dtype) == (b.hardware, b.model, b.dtype)


def _have(directory: Path) -> str:
    return ", ".join(sorted(p.stem for p in directory.glob(f"*{SUFFIX}"))) or "none"
