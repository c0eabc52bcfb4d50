"""Declarative experiments (YAML) and the sweep runner.

``load_sweep_points`` reads and validates a scenario file and expands its sweep; ``run_sweep``
runs the points on any ``concurrent.futures.Executor`` (``open_executor``: process pool, Dask)
with resume; ``run_scenario`` runs one point in-process (``sim run``);
``phasesim.scenarios.report.write_report`` plots a sweep directory (kept out of this package's
imports so that sweep workers never load matplotlib).
"""

from phasesim.scenarios.executors import Backend, ExecutorSpec, InlineExecutor, open_executor
from phasesim.scenarios.model import ScenarioKind, ScenarioSpec
from phasesim.scenarios.point import (
    PointOutcome,
    PointTask,
    check_point,
    execute_point,
    run_scenario,
)
from phasesim.scenarios.sweep import SweepReport, collect_results, run_sweep
from phasesim.scenarios.sweep_points import Point, SweepPoints, load_sweep_points

__all__ = [
    "Backend",
    "ExecutorSpec",
    "InlineExecutor",
    "open_executor",
    "ScenarioKind",
    "ScenarioSpec",
    "SweepPoints",
    "Point",
    "load_sweep_points",
    "PointOutcome",
    "PointTask",
    "check_point",
    "execute_point",
    "run_scenario",
    "SweepReport",
    "collect_results",
    "run_sweep",
]
