"""Which cost table each pool runs on, per engine, building analytical tables where none is shipped.

A table is for one (hardware, engine, model, dtype, tensor-parallel degree). The simulator loads
shipped tables itself (``phasesim.simulator.costs.load_cost_model``) but never imports the
profiler, so the commands resolve every pool's table here, in the layer that sees both, and hand
the simulator the models:

- a pool's ``profile`` (a path or a shipped table's stem): loaded as given, whatever the engine
  (a pool that names an engine must get a table of that engine: a mismatch is an error); its
  tensor-parallel degree must equal the pool's (a measured TP-1 table is never reused for TP N:
  its step times hold one device's bandwidth and no all-reduces);
- TP 1 with a shipped table for (hardware, model, dtype, engine): the best one (measured >
  published > analytical);
- otherwise: the analytical roofline of ``phasesim.profiler.analytical`` for that engine and
  degree, built once per process, labelled ``{hardware}__{model}__{dtype}__{engine}__analytical__tp{N}``.
  Its constants are those ``profiler fit`` calibrated for (hardware, engine) when there are some;
  otherwise the table says it is uncalibrated and the command prints one ``warning:`` line per
  (hardware, engine) once its work succeeded (:class:`UncalibratedWarnings`).

The engine is the pool's (``engine:``), else the hardware's default
(``phasesim.simulator.scheduling.engine_for_hardware``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from phasesim.errors import InputError
from phasesim.profiler.analytical import analytical_cost_model, pair_key, read_engine_calibration
from phasesim.simulator.costs import TableCostModel, find_table, load_cost_model
from phasesim.simulator.scheduling import engine_for_hardware
from phasesim.simulator.topology import TopologySpec

__all__ = ["ResolvedTable", "UncalibratedWarnings", "pool_cost_models", "resolve_cost_model"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedTable:
    """A pool's cost model, the engine it was chosen for, and whether it was built here (not a
    file). ``uncalibrated``: why a built table's step times are not fitted for that engine."""

    cost_model: TableCostModel
    built: bool
    hardware: str
    engine: str
    uncalibrated: str | None = None


@dataclass(slots=True)
class UncalibratedWarnings:
    """One ``warning:`` line per uncalibrated (hardware, engine) for the life of one command.
    Lines are collected (:meth:`note`) and printed by :meth:`flush` once the command's work has
    succeeded, so a command that fails still prints its one ``error:`` line and nothing else."""

    emit: Callable[[str], None]
    lines: dict[tuple[str, str], str] = field(default_factory=dict)

    def note(self, resolved: ResolvedTable) -> None:
        key = (resolved.hardware, resolved.engine)
        if resolved.uncalibrated is not None and key not in self.lines:
            self.lines[key] = (f"warning: {resolved.hardware} with {resolved.engine} is "
                               f"uncalibrated: {resolved.uncalibrated}")

    def flush(self) -> None:
        for line in self.lines.values():
            self.emit(line)
        self.lines.clear()


def resolve_cost_model(*, hardware: str, model: str, dtype: str = "fp16", tensor_parallel: int = 1,
                       profile: str | None = None, engine: str | None = None,
                       calibration: str | None = None) -> ResolvedTable:
    """The cost model for one instance shape (module docstring for the order). ``engine`` None:
    the hardware's default engine (for a ``profile``: no engine is checked). ``calibration``: a
    file of ``profiler fit BENCH.csv``; a (hardware, engine) pair it holds is built from it,
    ahead of any shipped table."""
    resolved_engine = engine_for_hardware(hardware, engine).name
    if calibration is not None and profile is None and pair_key(hardware, resolved_engine) in \
            read_engine_calibration(Path(calibration))["pairs"]:
        cost_model = analytical_cost_model(hardware=hardware, model=model, dtype=dtype,
                                           tensor_parallel=tensor_parallel, engine=resolved_engine,
                                           calibration_path=str(calibration))
        return ResolvedTable(cost_model=cost_model, built=True, hardware=hardware,
                             engine=resolved_engine)
    if profile is not None:
        cost_model = load_cost_model(hardware=hardware, model=model, dtype=dtype, path=profile,
                                     tensor_parallel=tensor_parallel, engine=engine)
        return ResolvedTable(cost_model=cost_model, built=False, hardware=hardware,
                             engine=resolved_engine)
    if tensor_parallel == 1:
        try:
            find_table(hardware=hardware, model=model, dtype=dtype, engine=resolved_engine)
        except InputError:
            pass  # none shipped for this engine: build one below
        else:
            return ResolvedTable(cost_model=load_cost_model(
                hardware=hardware, model=model, dtype=dtype, engine=resolved_engine), built=False,
                hardware=hardware, engine=resolved_engine)
    cost_model = analytical_cost_model(hardware=hardware, model=model, dtype=dtype,
                                       tensor_parallel=tensor_parallel, engine=resolved_engine)
    return ResolvedTable(cost_model=cost_model, built=True, hardware=hardware,
                         engine=resolved_engine, uncalibrated=cost_model.meta.get("uncalibrated"))


def pool_cost_models(spec: TopologySpec, calibration: str | None = None) -> dict[str, ResolvedTable]:
    """Every pool's table (pool name -> resolved table), chosen for the pool's engine, so the
    simulator never loads one on its own."""
    out: dict[str, ResolvedTable] = {}
    for pool in spec.pools:
        try:
            out[pool.name] = resolve_cost_model(
                hardware=pool.hardware, model=pool.model, dtype=pool.dtype,
                tensor_parallel=pool.tensor_parallel, profile=pool.profile, engine=pool.engine,
                calibration=calibration)
        except InputError as exc:
            raise InputError(f"pool '{pool.name}': {exc.message}", path=exc.path, line=exc.line,
                             row=exc.row, column=exc.column) from None
    return out
