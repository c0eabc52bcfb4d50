"""Run one sweep point and publish its directory atomically.

``execute_point(task)`` is a top-level function of picklable values, so every executor (process
pool, Dask) can run it. It writes ``<points_dir>/<point_id>/`` whole, through :func:`phasesim.atomic.staged_dir`:
``config.yaml`` (the point's whole scenario, runnable with ``sim run``), ``summary.json``, and for
``simulate`` points the :func:`phasesim.simulator.results.output.write_results` files (``requests.parquet``,
``meta.json``, ``timeseries.parquet`` when kept); for ``phases`` points ``curves.parquet``.
A failure writes ``error.txt`` (the traceback) instead and is reported, never raised.
The output directory must be reachable from the workers (a shared file system on a cluster).
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from phasesim.atomic import atomic_path, staged_dir
from phasesim.errors import OutputError
from phasesim.scenarios.model import ScenarioKind, ScenarioSpec
from phasesim.scenarios.phases import CURVES_FILE, check_phases, phases_files
from phasesim.scenarios.simulate import check_simulate, simulate_files
from phasesim.scenarios.sweep_points import Point
from phasesim.simulator.results.output import RESULT_FILES

__all__ = ["PointTask", "PointOutcome", "execute_point", "run_scenario", "check_point",
           "point_dir", "is_finished", "config_yaml", "write_error", "CONFIG_FILE", "SUMMARY_FILE",
           "ERROR_FILE", "POINT_FILES"]

CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"
ERROR_FILE = "error.txt"
# every file a point (or `sim run`) directory may hold: a reused directory holding anything
# else is refused rather than emptied
POINT_FILES = frozenset({*RESULT_FILES, CURVES_FILE, CONFIG_FILE, SUMMARY_FILE, ERROR_FILE})

# kind -> function(spec, staging_dir) that writes the point's result files into staging_dir
_RUNNERS: dict[ScenarioKind, Callable[[ScenarioSpec, Path], None]] = {
    ScenarioKind.SIMULATE: simulate_files,
    ScenarioKind.PHASES: phases_files,
}

# kind -> load-time check(spec, scenario_dir): raise InputError(column=dotted key) before running
_CHECKS: dict[ScenarioKind, Callable[[ScenarioSpec, Path], None]] = {
    ScenarioKind.SIMULATE: check_simulate,
    ScenarioKind.PHASES: check_phases,
}


def check_point(spec: ScenarioSpec, scenario_dir: Path) -> None:
    """What pydantic cannot see: the trace file exists, the topology or hardware can be built."""
    _CHECKS[spec.kind](spec, scenario_dir)


@dataclass(frozen=True, slots=True, kw_only=True)
class PointTask:
    point_id: str
    config: Mapping[str, Any]  # ScenarioSpec.model_dump(mode="json") without the sweep
    points_dir: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PointOutcome:
    point_id: str
    ok: bool
    run_s: float  # wall seconds inside the worker, trace building and file writing included
    error: str = ""  # the last line of the traceback when not ok


def config_yaml(config: Mapping[str, Any]) -> str:
    """The point's scenario as YAML text (keys in model order, stable across runs)."""
    return yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True, width=100)


def point_dir(points_dir: str | Path, point_id: str) -> Path:
    return Path(points_dir) / point_id


def is_finished(points_dir: str | Path, point_id: str, config: Mapping[str, Any]) -> bool:
    """True when the point's results exist and were made from this very config."""
    folder = point_dir(points_dir, point_id)
    try:
        stored = (folder / CONFIG_FILE).read_text(encoding="utf-8")
    except OSError:
        return False
    return (folder / SUMMARY_FILE).is_file() and stored == config_yaml(config)


def execute_point(task: PointTask) -> PointOutcome:
    """Run the point, publish its directory; on failure publish ``error.txt`` instead.

    An output that cannot be written (a full or read-only disk) is no failure of the point: the
    :class:`OutputError` is raised, and the sweep stops."""
    start = time.perf_counter()
    points_dir = Path(task.points_dir)
    try:
        with staged_dir(point_dir(points_dir, task.point_id), owned=POINT_FILES,
                        tidy=False) as staging:
            spec = ScenarioSpec.model_validate(dict(task.config))
            _RUNNERS[spec.kind](spec, staging)
            _write_text(staging / CONFIG_FILE, config_yaml(task.config))
        return PointOutcome(point_id=task.point_id, ok=True, run_s=time.perf_counter() - start)
    except OutputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failing point is recorded, the sweep goes on
        text = traceback.format_exc()
        write_error(points_dir, task.point_id, task.config, text)
        last = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        return PointOutcome(point_id=task.point_id, ok=False, run_s=time.perf_counter() - start,
                            error=last)


def run_scenario(point: Point, out_dir: str | Path) -> dict[str, Any]:
    """``sim run``: run ``point`` in this process, write its files into ``out_dir`` (a new
    directory, or one holding an earlier run's files, which are replaced whole; all files or
    none), return its summary."""
    with staged_dir(out_dir, owned=POINT_FILES) as staging:
        _RUNNERS[point.spec.kind](point.spec, staging)
        _write_text(staging / CONFIG_FILE, config_yaml(point.config))
        summary = json.loads((staging / SUMMARY_FILE).read_text(encoding="utf-8"))
    return summary


def write_error(points_dir: str | Path, point_id: str, config: Mapping[str, Any],
                text: str) -> None:
    """Publish a point directory holding only ``config.yaml`` and ``error.txt``."""
    with staged_dir(point_dir(points_dir, point_id), owned=POINT_FILES, tidy=False) as staging:
        _write_text(staging / CONFIG_FILE, config_yaml(config))
        _write_text(staging / ERROR_FILE, text)


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
