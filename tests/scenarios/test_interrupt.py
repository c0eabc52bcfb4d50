"""Stopping a sweep (group 6 of the hardening issue), with real processes and real signals.

Ctrl-C (SIGINT to the main process) must stop ``sim sweep`` within a couple of seconds, say how
many points are done, exit 130 and leave only whole points; ``kill -9`` of the main process must
take its workers (and the fork server) with it. No process may be left behind either way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.scenarios.conftest import AZURE_SAMPLE

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="POSIX signals, /proc")

SIM = Path(sys.executable).parent / "sim"
SEEDS = ", ".join(str(s) for s in range(1, 41))
# 40 points of about half a second each: 10-20 s of work, interrupted after the first point
SCENARIO = f"""name: long
model: llama2-7b
topology: {{name: gpu, instances: 1}}
trace: {{path: {AZURE_SAMPLE}, max_requests: 6000, rate_rps: 3.0}}
seed: 1
sweep:
  grid:
    seed: [{SEEDS}]
"""


def _start(tmp_path: Path, backend: list[str]) -> tuple[subprocess.Popen[str], Path]:
    scenario = tmp_path / "long.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.Popen([str(SIM), "sweep", str(scenario), "-o", str(out), *backend],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while not _whole_points(out):  # wait for the first published point
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no point finished in 60 s"
        time.sleep(0.05)
    return proc, out


def _whole_points(out: Path) -> list[str]:
    points = out / "points"
    if not points.is_dir():
        return []
    return sorted(p.name for p in points.iterdir() if not p.name.startswith("."))


def _family(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _gone_within(processes: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(processes, timeout=seconds)
    return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def _check_points(out: Path) -> None:
    for name in _whole_points(out):
        files = {p.name for p in (out / "points" / name).iterdir()}
        assert {"config.yaml", "summary.json", "requests.parquet", "meta.json"} <= files, name


@pytest.mark.parametrize("backend", [["--workers", "2"], ["--serial"]], ids=["pool", "serial"])
def test_ctrl_c_stops_the_sweep_at_once(tmp_path: Path, backend: list[str]) -> None:
    proc, out = _start(tmp_path, backend)
    family = _family(proc.pid)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    took = time.monotonic() - sent
    assert took < 4, f"took {took:.1f} s to stop"
    assert proc.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    done = len(_whole_points(out))
    assert last.startswith(f"error: interrupted: {done} of 40 points done"), stderr
    assert 1 <= done < 40
    assert _gone_within(family, 3) == []
    _check_points(out)
    assert [p.name for p in (out / "points").iterdir() if p.name.startswith(".")] == []


def test_kill_9_of_the_main_process_takes_the_workers_with_it(tmp_path: Path) -> None:
    proc, out = _start(tmp_path, ["--workers", "2"])
    family = _family(proc.pid)
    assert family, "the pool has no processes"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=20)
    assert _gone_within(family, 3) == [], "workers outlived the sweep"
    settled = _whole_points(out)
    time.sleep(1.5)
    assert _whole_points(out) == settled  # nothing writes points any more
    _check_points(out)


@pytest.mark.parametrize("delay_s", [0.3, 0.7, 0.9, 1.1, 1.4])
def test_ctrl_c_while_the_workers_start_is_one_line_and_no_traceback(tmp_path: Path,
                                                                     delay_s: float) -> None:
    """Ctrl-C from a terminal reaches the whole process group, the fork server and the workers
    being started included. Interrupted during their start-up (the fork server's preload, about a
    second) the sweep once printed a KeyboardInterrupt traceback from the fork server, or a
    SemLock one from a worker whose start the pool had not registered; now it prints its one
    line at any moment of start-up."""
    scenario = tmp_path / "long.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    proc = subprocess.Popen([str(SIM), "sweep", str(scenario), "-o", str(tmp_path / "out"),
                             "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    time.sleep(delay_s)
    family = _family(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    assert proc.returncode == 130, stderr
    lines = stderr.strip().splitlines()  # none: interrupted before the sweep began
    assert not lines or lines[-1].startswith("error: interrupted: "), stderr
    assert _gone_within(family, 3) == []


def test_ctrl_c_inside_a_deferred_block_is_raised_when_it_ends() -> None:
    from phasesim.scenarios.executors import _sigint_deferred

    reached = False
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with _sigint_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler has run by now; the block goes on
            reached = True
    assert reached
    assert signal.getsignal(signal.SIGINT) is before  # the handler in place before is back


def test_ctrl_c_while_a_worker_starts_is_raised_once_submit_returns(monkeypatch) -> None:
    """Ctrl-C inside a worker's start (the fork server's preload can hold it for a second) is
    acted on when ``submit`` returns: the worker is registered and the pool's manager runs, so
    shutting down waits for it instead of leaving it to fail on the main process's queues."""
    from concurrent.futures import ProcessPoolExecutor

    from phasesim.scenarios.executors import Backend, ExecutorSpec, open_executor

    spawn = ProcessPoolExecutor._spawn_process
    started = []

    def interrupted_spawn(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler has run by now; the start goes on
        spawn(self)
        started.extend(self._processes.values())  # noqa: SLF001 - the contract under test

    monkeypatch.setattr(ProcessPoolExecutor, "_spawn_process", interrupted_spawn)
    with pytest.raises(KeyboardInterrupt):
        with open_executor(ExecutorSpec(backend=Backend.PROCESS, workers=2)) as pool:
            pool.submit(int)
    assert len(started) == 1  # the worker started, then the interrupt came through
    assert started[0].exitcode is not None  # and the shutdown waited for it
