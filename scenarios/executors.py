"""Where sweep points run: all backends are a standard ``concurrent.futures.Executor``.

- ``serial``: in this process, one point after another (:class:`InlineExecutor`);
- ``process``: a local ``ProcessPoolExecutor`` (the default). Its workers are forked from a
  fork server that has imported the simulator once (``forkserver`` start method with
  ``_PRELOAD``), so each worker starts in milliseconds instead of re-importing everything as
  ``spawn`` does; ``spawn`` where the platform has no fork server;
- ``dask``: ``distributed.Client(address).get_executor()`` for a running scheduler
  (``tcp://host:8786``), or a fresh ``LocalCluster`` when the address is ``local``;
- ``dask-slurm`` / ``dask-pbs``: a ``dask_jobqueue`` SLURMCluster / PBSCluster scaled to the
  requested number of workers (jobqueue options from a YAML/JSON mapping or ``key=value`` pairs).

Dask and dask-jobqueue are optional extras, imported only here, when asked for; without them the
CLI prints ``pip install 'phasesim[dask]'``.
"""

from __future__ import annotations

import contextlib
import enum
import multiprocessing
import os
import re
import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from phasesim.errors import InputError
from phasesim.simulator.catalog.user import register_from_environment

__all__ = ["Backend", "ExecutorSpec", "InlineExecutor", "open_executor", "process_start_method",
           "DASK_HINT"]

DASK_HINT = "this needs the 'dask' extra: pip install 'phasesim[dask]'"

# imported once by the fork server (``__main__``: the program's main module, which every worker
# would otherwise run again); a module that cannot be imported is skipped by multiprocessing
_PRELOAD = ("__main__", "phasesim.scenarios.point", "phasesim.simulator.run",
            "phasesim.simulator.results.output")


class Backend(enum.StrEnum):
    SERIAL = "serial"
    PROCESS = "process"
    DASK = "dask"
    DASK_SLURM = "dask-slurm"
    DASK_PBS = "dask-pbs"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutorSpec:
    """``workers``: processes (process pool, LocalCluster, jobqueue jobs); ``address``: the Dask
    scheduler (``tcp://host:8786``) or ``local``; ``jobqueue``: keyword options for the cluster."""

    backend: Backend = Backend.PROCESS
    workers: int = 1
    address: str | None = None
    jobqueue: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise InputError(f"--workers must be >= 1, got {self.workers}", column="workers")
        if self.backend is Backend.DASK and not _valid_address(self.address or ""):
            raise InputError(f"--dask expects a scheduler address such as tcp://host:8786 "
                             f"(schemes {', '.join(_SCHEMES)}) or 'local', got {self.address!r}",
                             column="dask")


# what a scheduler address may look like: [scheme://]host:port, host a name, IPv4 or [IPv6]
_SCHEMES = ("tcp", "tls", "ws", "wss")
_ADDRESS = re.compile(rf"^(?:(?:{'|'.join(_SCHEMES)})://)?"
                      r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]*):(?P<port>[0-9]{1,5})$")


def _valid_address(address: str) -> bool:
    if address == "local":
        return True
    match = _ADDRESS.match(address)
    return match is not None and 1 <= int(match["port"]) <= 65535


class InlineExecutor(Executor):
    """Runs each submitted call at once, in this process; exceptions land in the future."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - the future carries it, like a pool would
            future.set_exception(exc)
        # KeyboardInterrupt and SystemExit propagate: Ctrl-C stops the sweep, not the point
        return future


@contextlib.contextmanager
def open_executor(spec: ExecutorSpec) -> Iterator[Executor]:
    """An executor for ``spec``, shut down (and its cluster closed) on exit."""
    if spec.backend is Backend.SERIAL:
        yield InlineExecutor()
        return
    if spec.backend is Backend.PROCESS:
        context = _process_context()
        lifeline, keep_alive = context.Pipe(duplex=False)
        pool = _ProcessPool(max_workers=spec.workers, mp_context=context,
                            initializer=_worker_init, initargs=(lifeline,))
        try:
            yield pool
        except BaseException:
            keep_alive.close()  # every worker exits at once, its point unfinished
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        else:
            pool.shutdown(wait=True)
        finally:
            keep_alive.close()
            lifeline.close()
        return
    with _dask_client(spec) as client:
        executor = client.get_executor()
        try:
            yield executor
        except BaseException:
            executor.shutdown(wait=False)  # cancel what has not finished
            raise
        else:
            executor.shutdown(wait=True)


def _worker_init(lifeline: Connection) -> None:
    """In each pool worker: leave Ctrl-C to the main process, and exit as soon as the main
    process closes its end of ``lifeline`` (interrupted) or dies (``kill -9``): the kernel
    closes it then too, so no worker outlives the sweep. It also registers the user's catalog
    (``PHASESIM_CATALOG``, ``--hardware-file``), as the main process did."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    register_from_environment()
    threading.Thread(target=_exit_when_closed, args=(lifeline,), daemon=True,
                     name="phasesim-lifeline").start()


def _exit_when_closed(lifeline: Connection) -> None:
    try:
        lifeline.recv_bytes()  # nothing is ever sent: this returns only by EOF
    except (EOFError, OSError):
        pass
    os._exit(1)  # the point in progress is left unpublished (its staging is removed later)


class _ProcessPool(ProcessPoolExecutor):
    """A process pool whose ``submit`` (which starts a worker while none is idle) cannot be cut
    short by Ctrl-C: interrupted inside a worker's start, the pool would not know that process,
    the main process would exit, and the child, still reading its queues, would print a SemLock
    traceback. Ctrl-C during ``submit`` is acted on when it returns, the worker registered
    (:func:`_sigint_deferred`); the fork server is started with Ctrl-C ignored
    (:func:`_start_fork_server`). Nothing starts before the first point is submitted."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        _start_fork_server(self._mp_context)
        with _sigint_deferred():
            return super().submit(fn, *args, **kwargs)


def _start_fork_server(context: multiprocessing.context.BaseContext) -> None:
    """Start the fork server (if it is the start method and not yet running) with Ctrl-C
    ignored: it inherits that across exec, and its preload (the simulator's imports, about a
    second) then cannot be interrupted into a KeyboardInterrupt traceback on the terminal.
    CPython's fork server ignores SIGINT itself only once its preload is done; the main process
    still gets Ctrl-C and stops the sweep. Only from the main thread (signals are set there)."""
    if (context.get_start_method() != "forkserver"
            or threading.current_thread() is not threading.main_thread()):
        return
    from multiprocessing import forkserver

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Ctrl-C inside the block is acted on (KeyboardInterrupt) when the block ends; a no-op off
    the main thread, where signals cannot be set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def process_start_method() -> str:
    """How the ``process`` backend starts its workers: ``forkserver`` or ``spawn``."""
    return _process_context().get_start_method()


def _process_context() -> multiprocessing.context.BaseContext:
    """Fork server with the simulator preloaded where available (Linux, macOS), else spawn.
    Never plain fork: the parent may hold threads (progress bar, Arrow pools)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(_PRELOAD))
    return context


@contextlib.contextmanager
def _dask_client(spec: ExecutorSpec) -> Iterator[Any]:
    try:
        import distributed  # optional extra
    except ModuleNotFoundError:
        raise InputError(DASK_HINT) from None
    with contextlib.ExitStack() as stack:
        if spec.backend is Backend.DASK and spec.address == "local":
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=spec.workers, threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=40))
            client = stack.enter_context(distributed.Client(cluster))
        elif spec.backend is Backend.DASK:
            try:
                client = stack.enter_context(distributed.Client(spec.address, timeout=30))
            except (OSError, TimeoutError, ValueError) as exc:  # ValueError: a bad address
                raise InputError(f"cannot reach the Dask scheduler at {spec.address}: {exc}",
                                 column="dask") from None
        else:
            cluster = stack.enter_context(_jobqueue_cluster(spec))
            cluster.scale(jobs=spec.workers)
            client = stack.enter_context(distributed.Client(cluster))
        yield client


def _jobqueue_cluster(spec: ExecutorSpec) -> Any:
    try:
        import dask_jobqueue  # optional extra
    except ModuleNotFoundError:
        raise InputError(DASK_HINT) from None
    submit = "sbatch" if spec.backend is Backend.DASK_SLURM else "qsub"
    if shutil.which(submit) is None:
        raise InputError(f"--{spec.backend.value} submits jobs with '{submit}', which is not on "
                         "PATH (run it on the cluster's login node)", column=spec.backend.value)
    options = {"cores": 1, "processes": 1, "memory": "4GB", **dict(spec.jobqueue)}
    options.setdefault("local_directory", os.environ.get("TMPDIR", "/tmp"))
    cls = dask_jobqueue.SLURMCluster if spec.backend is Backend.DASK_SLURM else dask_jobqueue.PBSCluster
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        raise InputError(f"bad --{spec.backend.value} options: {exc}",
                         column=spec.backend.value) from None
