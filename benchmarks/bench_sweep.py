"""Sweep overhead: the sum of the points' own run times against wall time x workers.

    python benchmarks/bench_sweep.py [--points 16] [--requests 1500] [--workers 2]
                                     [--backend process|dask|serial]

Runs a sweep of ``--points`` points (the shipped Azure code trace, first ``--requests`` requests,
one H100, a different request rate per point) into a temporary directory and prints:
- the points' own run time (each measured inside its worker, trace building and file writing
  included) and the wall time of the whole sweep (loading its points, pool start, all points,
  results.parquet);
- overhead = 1 - sum(point run times) / (wall x workers), with and without the workers' start-up
  (the time before each worker's first point begins: interpreter spawn and imports);
- points per second. Figures vary with machine load; nothing is asserted.

``--requests`` above the trace's 8,819 rows tiles the trace (copies appended one after another
in time, ids renumbered) to make longer points, e.g. ``--requests 30000`` for points of >= 1 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pandas as pd

from phasesim.scenarios import Backend, ExecutorSpec, load_sweep_points, open_executor, run_sweep
from phasesim.scenarios.executors import process_start_method
from phasesim.scenarios.point import PointOutcome, PointTask, check_point, execute_point
from phasesim.traces import read_trace, write_trace
from phasesim.traces.schema import ARRIVAL_S, REQUEST_ID

REPO = Path(__file__).resolve().parents[1]
TRACE = REPO / "traces" / "samples" / "azure_code_2023.parquet"


def timed_point(task: PointTask) -> tuple[PointOutcome, float, float]:
    """``execute_point`` plus its wall-clock start and end (for the start-up figure)."""
    start = time.time()
    outcome = execute_point(task)
    return outcome, start, time.time()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=16)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backend", choices=["process", "dask", "serial"], default="process")
    args = parser.parse_args()

    rates = ", ".join(f"{2.0 + 0.05 * i:.2f}" for i in range(args.points))
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        trace = _trace_with(args.requests, Path(tmp))
        scenario = Path(tmp) / "bench.yaml"
        scenario.write_text(
            f"name: bench\ntopology: {{name: gpu, instances: 1}}\n"
            f"trace: {{path: {trace}, max_requests: {args.requests}, max_context_tokens: 4096}}\n"
            f"slo: {{ttft_s: 1s, tpot_s: 50ms}}\n"
            f"sweep:\n  grid:\n    trace.rate_rps: [{rates}]\n", encoding="utf-8")
        backend = {"process": Backend.PROCESS, "dask": Backend.DASK,
                   "serial": Backend.SERIAL}[args.backend]
        workers = 1 if backend is Backend.SERIAL else args.workers
        spec = ExecutorSpec(backend=backend, workers=workers,
                            address="local" if backend is Backend.DASK else None)
        starts: list[float] = []
        ends: list[float] = []

        wall_start_epoch = time.time()
        wall_start = time.perf_counter()
        sweep = load_sweep_points(scenario, checks=(check_point,))
        with open_executor(spec) as executor:
            report = run_sweep(sweep, Path(tmp) / "out", executor=_Unwrap(executor, starts, ends))
        wall_s = time.perf_counter() - wall_start

    busy_s = sum(o.run_s for o in report.outcomes)
    capacity_s = wall_s * workers
    startup_s = _startup_s(starts, ends, wall_start_epoch, workers)
    method = "in-process" if backend is Backend.SERIAL else \
        "dask" if backend is Backend.DASK else process_start_method()
    print(f"backend {args.backend} ({method}), {workers} workers, {len(report.outcomes)} points "
          f"({report.failed} failed), {args.requests} requests each")
    print(f"point run time: sum {busy_s:.2f} s, mean {busy_s / max(1, len(report.outcomes)):.2f} s")
    print(f"wall {wall_s:.2f} s x {workers} workers = {capacity_s:.2f} worker-s")
    print(f"overhead: {100 * (1 - busy_s / capacity_s):.1f} % of worker time "
          f"({capacity_s - busy_s:.2f} s), of which worker start-up ~{startup_s:.2f} worker-s")
    steady = capacity_s - startup_s
    if steady > 0:
        print(f"overhead without start-up: {100 * (1 - busy_s / steady):.1f} %")
    print(f"throughput: {len(report.outcomes) / wall_s:.2f} points/s")


class _Unwrap:
    """An executor facade: submits ``timed_point`` and hands ``run_sweep`` plain outcomes."""

    def __init__(self, executor, starts: list[float], ends: list[float]) -> None:
        self._executor, self._starts, self._ends = executor, starts, ends

    def submit(self, fn, task):  # noqa: ANN001 - mirrors Executor.submit for one argument
        inner = self._executor.submit(timed_point, task)
        outer: Future = Future()

        def done(f: Future) -> None:
            try:
                outcome, start, end = f.result()
            except BaseException as exc:  # noqa: BLE001
                outer.set_exception(exc)
                return
            self._starts.append(start)
            self._ends.append(end)
            outer.set_result(outcome)

        inner.add_done_callback(done)
        return outer


def _trace_with(requests: int, folder: Path) -> Path:
    """The shipped trace, or (for more requests than it has) a tiled copy of it in ``folder``."""
    df = read_trace(TRACE)
    copies = -(-requests // len(df))
    if copies <= 1:
        return TRACE
    arrival = df[ARRIVAL_S].to_numpy(dtype=np.float64)
    span_s = float(arrival.max() - arrival.min()) + float(np.diff(arrival).mean())
    tiled = pd.concat([df.assign(**{ARRIVAL_S: arrival + k * span_s}) for k in range(copies)],
                      ignore_index=True)
    tiled[REQUEST_ID] = np.arange(len(tiled), dtype=np.int64)
    return write_trace(tiled, folder / "tiled.parquet", df.attrs.get("trace_meta"))


def _startup_s(starts: list[float], ends: list[float], t0: float, workers: int) -> float:
    """Worker-seconds idle before the first points began: the earliest ``workers`` starts."""
    first = sorted(starts)[:workers]
    return sum(s - t0 for s in first)


if __name__ == "__main__":
    main()
