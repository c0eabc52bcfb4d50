"""Which cost table an instance shape runs on, for its engine, building one where none is shipped.

A table is for one (hardware, engine, model, dtype, tensor-parallel degree). In order:

- a ``profile`` (a path or a shipped table's stem): loaded as given; its tensor-parallel degree
  must equal the instance's (a TP-1 table is never reused for TP N) and, when an engine is named,
  its engine must be that one;
- TP 1 with a shipped table of the engine for (hardware, model, dtype): the best one (measured >
  published > analytical); then one in a user catalog's ``tables/`` (``PHASESIM_CATALOG``,
  ``phasesim.simulator.catalog.user``);
- otherwise the roofline of ``phasesim.simulator.costs.roofline`` built for that engine and
  degree (cached per process), from the constants ``profiler fit`` calibrated for (hardware,
  engine) (``calibration``: a user's fit instead of the shipped one, for the pairs it holds;
  the other pairs keep the shipped fit); with no fit for the pair, from the kernel constants, and the table's
  ``meta["uncalibrated"]`` says why (the commands print it as one ``warning:`` line).

The engine is the one named, else the hardware's default (vLLM on GPUs, Groq on GroqRack, ...).
``sim replay``/``latency``/``plan`` (``phasesim.cli.cost_tables``), the scenario sweeps and
:func:`phasesim.simulator.run.simulate` all choose through :func:`resolve_table`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from phasesim.errors import InputError
from phasesim.simulator.catalog.engines import engine_for_hardware
from phasesim.simulator.catalog.user import user_table
from phasesim.simulator.costs import roofline
from phasesim.simulator.costs.shipped import find_table, load_cost_model, resolve_table_path
from phasesim.simulator.costs.table_model import TableCostModel

__all__ = ["ResolvedTable", "resolve_table", "table_file"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedTable:
    """An instance's cost model, the engine it was chosen for, whether it was built here (not a
    file), and why a built table's step times are not fitted for that engine (None: they are)."""

    cost_model: TableCostModel
    built: bool
    hardware: str
    engine: str
    uncalibrated: str | None = None


def _holds(calibration: str | None, hardware: str, engine: str) -> bool:
    """Whether the user's calibration file holds (hardware, engine); other pairs keep the
    shipped fit."""
    return calibration is not None and roofline.engine_pair(
        hardware, engine, roofline.read_engine_calibration(Path(calibration)))[1] is not None


def table_file(*, hardware: str, model: str, dtype: str = "fp16", tensor_parallel: int = 1,
               profile: str | None = None, engine: str | None = None,
               calibration: str | None = None) -> Path | None:
    """The table file an instance shape runs on (module docstring for the order), or None when its
    table is to be built from the roofline."""
    if profile is not None:
        return resolve_table_path(profile)
    resolved = engine_for_hardware(hardware, engine).name
    if tensor_parallel != 1 or _holds(calibration, hardware, resolved):
        return None
    try:
        return find_table(hardware=hardware, model=model, dtype=dtype, engine=resolved)
    except InputError:  # none shipped for this engine: the user catalog's, if any
        return user_table(hardware=hardware, model=model, dtype=dtype, engine=resolved)


def resolve_table(*, hardware: str, model: str, dtype: str = "fp16", tensor_parallel: int = 1,
                  profile: str | None = None, engine: str | None = None,
                  calibration: str | None = None) -> ResolvedTable:
    """The cost model for one instance shape (module docstring for the order)."""
    resolved = engine_for_hardware(hardware, engine).name
    path = table_file(hardware=hardware, model=model, dtype=dtype, tensor_parallel=tensor_parallel,
                      profile=profile, engine=engine, calibration=calibration)
    if path is not None:  # a profile must be of the engine named; a shipped table is of `resolved`
        cost_model = load_cost_model(hardware=hardware, model=model, dtype=dtype, path=path,
                                     tensor_parallel=tensor_parallel,
                                     engine=engine if profile is not None else resolved)
        return ResolvedTable(cost_model=cost_model, built=False, hardware=hardware, engine=resolved)
    cost_model = roofline.analytical_cost_model(
        hardware=hardware, model=model, dtype=dtype, tensor_parallel=tensor_parallel,
        engine=resolved,
        calibration_path=str(calibration) if _holds(calibration, hardware, resolved) else None)
    return ResolvedTable(cost_model=cost_model, built=True, hardware=hardware, engine=resolved,
                         uncalibrated=cost_model.meta.get("uncalibrated"))
