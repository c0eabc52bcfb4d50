"""Run a sweep's points on any ``concurrent.futures.Executor``; resume; combine the results.

Layout of a sweep directory::

    DIR/sweep.json                 scenario name and kind, axes, every point's id and values
    DIR/scenario.yaml              the scenario file as given
    DIR/points/<point_id>/         one per point, published in one rename (see scenarios.point)
    DIR/results.parquet            one row per point, in sweep order: point_id, the swept values,
                                   status ("ok" | "error"), error, flattened summary metrics

A point whose directory already holds a ``summary.json`` made from the same config is skipped,
so re-running an interrupted sweep only runs what is missing (and retries failed points).
An interruption (Ctrl-C) or an output that cannot be written (full or read-only disk) stops the
sweep at once: nothing more is submitted, and the executor's workers are stopped by
:func:`phasesim.scenarios.executors.open_executor`; the points already published are whole.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phasesim.atomic import atomic_path, output_errors, remove_stale
from phasesim.errors import InputError, OutputError
from phasesim.scenarios.point import (
    ERROR_FILE,
    SUMMARY_FILE,
    PointOutcome,
    PointTask,
    execute_point,
    is_finished,
    write_error,
)
from phasesim.scenarios.sweep_points import SweepPoints, canonical_json
from phasesim.simulator.results.output import parquet_bytes, summary_json

__all__ = ["SweepReport", "run_sweep", "count_finished", "collect_results", "flatten_summary", "RESULTS_FILE",
           "SWEEP_FILE", "POINTS_DIR"]

RESULTS_FILE = "results.parquet"
SWEEP_FILE = "sweep.json"
SCENARIO_COPY = "scenario.yaml"
POINTS_DIR = "points"

PointRunner = Callable[[PointTask], PointOutcome]


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepReport:
    points: int
    skipped: int  # finished in an earlier run
    outcomes: tuple[PointOutcome, ...]  # the points run now, in completion order
    wall_s: float
    results_path: Path

    @property
    def failed(self) -> int:
        return sum(not o.ok for o in self.outcomes)


def run_sweep(sweep: SweepPoints, out_dir: str | Path, *, executor: Executor,
              on_done: Callable[[PointOutcome], None] | None = None,
              on_start: Callable[[int, int], None] | None = None,
              runner: PointRunner = execute_point) -> SweepReport:
    """Run every unfinished point of ``sweep`` into ``out_dir``; write ``results.parquet``.

    ``on_start(to_run, skipped)`` is called once before the first submission and
    ``on_done(outcome)`` after each point (progress bars). Failing points are recorded in
    ``points/<id>/error.txt`` and the sweep goes on.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    points_dir = out / POINTS_DIR
    _check_reuse(sweep, out)
    with output_errors(out):
        points_dir.mkdir(parents=True, exist_ok=True)
        remove_stale(out)  # temporaries of a killed earlier run
        remove_stale(points_dir)
    _write_bytes(out / SWEEP_FILE, summary_json(_sweep_doc(sweep)).encode())
    _write_bytes(out / SCENARIO_COPY, sweep.path.read_bytes())
    todo = [p for p in sweep.points if not is_finished(points_dir, p.point_id, p.config)]
    if on_start is not None:
        on_start(len(todo), len(sweep.points) - len(todo))
    futures: dict[Future[PointOutcome], Any] = {}
    outcomes: list[PointOutcome] = []
    try:
        for point in todo:
            task = PointTask(point_id=point.point_id, config=dict(point.config),
                             points_dir=str(points_dir))
            futures[executor.submit(runner, task)] = point
        for future in as_completed(futures):
            point = futures[future]
            try:
                outcome = future.result()
            except OutputError:
                raise  # a full or read-only disk: every later point would fail the same way
            except Exception as exc:  # noqa: BLE001 - a crashed worker fails its point only
                write_error(points_dir, point.point_id, point.config, traceback.format_exc())
                outcome = PointOutcome(point_id=point.point_id, ok=False, run_s=math.nan,
                                       error=f"{type(exc).__name__}: {exc}")
            outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)
    except BaseException:  # Ctrl-C, an unwritable output: submit nothing more, run nothing more
        for future in futures:
            future.cancel()
        raise
    frame = collect_results(sweep, points_dir)
    results_path = out / RESULTS_FILE
    _write_bytes(results_path, parquet_bytes(frame))
    return SweepReport(points=len(sweep.points), skipped=len(sweep.points) - len(todo),
                       outcomes=tuple(outcomes), wall_s=time.perf_counter() - start,
                       results_path=results_path)


def _check_reuse(sweep: SweepPoints, out: Path) -> None:
    """A sweep directory holds one study: refuse a file, a non-empty directory that holds no
    sweep (files phasesim did not write) and a sweep of another scenario (name or kind)."""
    if out.exists() and not out.is_dir():
        raise InputError("output path exists and is not a directory", path=out)
    if not out.is_dir() or not any(out.iterdir()):
        return
    try:
        doc = json.loads((out / SWEEP_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"the directory is not empty and holds no sweep (no {SWEEP_FILE}); "
                         "choose an empty or new directory", path=out) from None
    except (OSError, ValueError):
        doc = None  # a damaged description of this sweep is rewritten below
    if isinstance(doc, dict) and (doc.get("name"), doc.get("kind")) != \
            (sweep.base.name, sweep.base.kind.value):
        raise InputError(f"the directory holds another sweep ('{doc.get('name')}'); choose a new "
                         "directory, or the same scenario to resume", path=out)


def count_finished(sweep: SweepPoints, out_dir: str | Path) -> int:
    """After a sweep stopped early and its executor shut down: remove the temporaries of the
    stopped workers, return how many of ``sweep``'s points have their results in ``out_dir``
    (whole points: a point's directory is published whole)."""
    points_dir = Path(out_dir) / POINTS_DIR
    remove_stale(points_dir)
    return sum(is_finished(points_dir, p.point_id, p.config) for p in sweep.points)


def collect_results(sweep: SweepPoints, points_dir: str | Path) -> pd.DataFrame:
    """One row per point in sweep order: id, swept values, status, error, flattened summary."""
    rows: list[dict[str, Any]] = []
    for point in sweep.points:
        folder = Path(points_dir) / point.point_id
        row: dict[str, Any] = {"point_id": point.point_id}
        row.update({axis: point.values.get(axis) for axis in sweep.axes})
        summary_path = folder / SUMMARY_FILE
        summary = _read_summary(summary_path) if summary_path.is_file() else None
        if summary is not None:
            row["status"], row["error"] = "ok", ""
            row.update(flatten_summary(summary))
        elif summary_path.is_file():
            row["status"], row["error"] = "error", f"unreadable {SUMMARY_FILE} (delete the point)"
        else:
            error = folder / ERROR_FILE
            last = error.read_text(encoding="utf-8").strip().splitlines()[-1:] if error.is_file() \
                else ["not run"]
            row["status"], row["error"] = "error", last[0] if last else "error"
        rows.append(row)
    frame = pd.DataFrame(rows)
    for axis in sweep.axes:
        frame[axis] = _axis_column(frame[axis])
    for column in frame.columns:
        if frame[column].dtype == object and column not in sweep.axes:
            frame[column] = _object_column(frame[column])
    return frame


def _read_summary(path: Path) -> dict[str, Any] | None:
    """A point's summary, or None when it is unreadable or not a JSON object (damaged)."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def flatten_summary(summary: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts join keys with '.'; lists of ``{pool: ...}``/``{link: ...}`` records are keyed
    by their name (``pools.decode.utilization``); other lists are JSON text."""
    flat: dict[str, Any] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_summary(value, prefix=f"{name}."))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value) \
                and all(("pool" in v or "link" in v or "name" in v) for v in value):
            for item in value:
                label = item.get("pool", item.get("link", item.get("name")))
                rest = {k: v for k, v in item.items() if k not in ("pool", "link", "name")}
                flat.update(flatten_summary(rest, prefix=f"{name}.{label}."))
        elif isinstance(value, list):
            flat[name] = canonical_json(value)
        else:
            flat[name] = value
    return flat


def _axis_column(column: pd.Series) -> pd.Series:
    values = column.tolist()
    if all(isinstance(v, bool) for v in values):
        return column.astype(bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return column.astype(np.int64)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return column.astype(np.float64)
    return pd.Series([v if isinstance(v, str) else canonical_json(v) for v in values],
                     index=column.index, dtype=object)


def _object_column(column: pd.Series) -> pd.Series:
    """Summary values missing in some rows (None) stay numeric where the rest are numbers."""
    present = [v for v in column.tolist() if v is not None]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return column.astype(np.float64)
    if present and all(isinstance(v, str) for v in present):
        return column.astype(object)
    if not present:
        return column.astype(np.float64)
    return pd.Series([None if v is None else canonical_json(v) if not isinstance(v, str) else v
                      for v in column.tolist()], index=column.index, dtype=object)


def _sweep_doc(sweep: SweepPoints) -> dict[str, Any]:
    return {
        "name": sweep.base.name,
        "kind": sweep.base.kind.value,
        "axes": list(sweep.axes),
        "zip_groups": [list(group) for group in sweep.zip_groups],
        "slo": sweep.base.slo.model_dump(mode="json"),
        "report": sweep.base.report.model_dump(mode="json"),
        "points": [{"point_id": p.point_id, "values": dict(p.values)} for p in sweep.points],
    }


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
