"""Each pool's cost table for its engine, and the one-line warnings for uncalibrated pairs.

The choice itself is the simulator's (``phasesim.simulator.costs.resolve.resolve_table``: a
``profile``, else a shipped TP-1 table of the pool's engine, else the roofline built for that
engine and degree from its ``profiler fit`` constants). The commands resolve every pool so
they can print one ``warning:`` line per uncalibrated (hardware, engine) once their work
succeeded (:class:`UncalibratedWarnings`), and record each pool's table in ``meta.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from phasesim.errors import InputError
from phasesim.simulator.costs.resolve import ResolvedTable, resolve_table
from phasesim.simulator.topology import TopologySpec

__all__ = ["UncalibratedWarnings", "pool_cost_models"]


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


def pool_cost_models(spec: TopologySpec, calibration: str | None = None) -> dict[str, ResolvedTable]:
    """Every pool's table (pool name -> resolved table), chosen for the pool's engine
    (``calibration``: a file of ``profiler fit BENCH.csv``, whose pairs are built from it ahead of
    any shipped table), so the simulator never loads one on its own."""
    out: dict[str, ResolvedTable] = {}
    for pool in spec.pools:
        try:
            out[pool.name] = resolve_table(
                hardware=pool.hardware, model=pool.model, dtype=pool.dtype,
                tensor_parallel=pool.tensor_parallel, profile=pool.profile, engine=pool.engine,
                calibration=calibration)
        except InputError as exc:
            raise InputError(f"pool '{pool.name}': {exc.message}", path=exc.path, line=exc.line,
                             row=exc.row, column=exc.column) from None
    return out
