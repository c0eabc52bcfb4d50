"""`sim run`, `sim sweep` and `sim report`: scenario files, sweeps and their reports."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from phasesim.cli.errors import cli_errors, fail
from phasesim.cli.summary import print_economics, render_summary
from phasesim.errors import InputError, OutputError
from phasesim.safe_yaml import load_yaml
from phasesim.scenarios import (
    Backend,
    ExecutorSpec,
    load_sweep_points,
    open_executor,
    run_scenario,
    run_sweep,
)
from phasesim.scenarios.point import check_point
from phasesim.scenarios.sweep import SweepReport, count_finished
from phasesim.scenarios.sweep_points import SweepPoints

__all__ = ["app", "run", "sweep", "report", "parse_jobqueue_options"]

app = typer.Typer(help="scenario commands", no_args_is_help=True, pretty_exceptions_enable=False)

ScenarioArg = Annotated[Path, typer.Argument(help="scenario YAML file", show_default=False)]


@app.command()
@cli_errors
def run(
    scenario: ScenarioArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="output directory")],
) -> None:
    """Run one scenario (its base values; a sweep section is ignored) and write its results."""
    sweep = load_sweep_points(scenario, base_only=True, checks=(check_point,))
    summary = run_scenario(sweep.points[0], out)
    console = Console(stderr=True)
    console.print(f"[bold]{sweep.base.name}[/]: wrote {out}")
    if sweep.base.kind.value == "simulate":
        render_summary(summary, Console(highlight=False))
        print_economics(summary, Console(highlight=False))


@app.command()
@cli_errors
def sweep(
    scenario: ScenarioArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="sweep directory (re-run to resume)")],
    workers: Annotated[int | None, typer.Option(
        help="parallel workers: processes, LocalCluster workers or cluster jobs "
             "[default: CPU count]")] = None,
    dask: Annotated[str | None, typer.Option(
        help="run on Dask: a scheduler address (tcp://host:8786) or 'local' for a LocalCluster")
    ] = None,
    dask_slurm: Annotated[str | None, typer.Option(
        help="run on a dask-jobqueue SLURMCluster: key=value options, comma separated "
             "(e.g. queue=gpu,cores=1,memory=8GB,walltime=01:00:00) or a YAML file")] = None,
    dask_pbs: Annotated[str | None, typer.Option(
        help="run on a dask-jobqueue PBSCluster: options as for --dask-slurm")] = None,
    serial: Annotated[bool, typer.Option(help="run points one by one in this process")] = False,
    full: Annotated[bool, typer.Option(help="use the scenario's larger 'sweep.full' grid")] = False,
) -> None:
    """Run every point of a scenario's sweep; resume skips finished points."""
    chosen = [name for name, value in (("--dask", dask), ("--dask-slurm", dask_slurm),
                                        ("--dask-pbs", dask_pbs), ("--serial", serial)) if value]
    if len(chosen) > 1:
        raise InputError(f"choose one of {', '.join(chosen)}")
    spec = _executor_spec(workers=(os.cpu_count() or 1) if workers is None else workers, dask=dask,
                          dask_slurm=dask_slurm, dask_pbs=dask_pbs, serial=serial)
    sweep = load_sweep_points(scenario, full=full, checks=(check_point,))
    console = Console(stderr=True)
    try:
        done = _run_with_progress(sweep, out, spec, console)
    except KeyboardInterrupt:
        finished = count_finished(sweep, out)
        raise fail(f"interrupted: {finished} of {len(sweep.points)} points done (whole points "
                   "only); run the same command again to resume", code=130) from None
    except OutputError as exc:
        finished = count_finished(sweep, out)
        raise fail(f"{exc}; {finished} of {len(sweep.points)} points done") from None
    ran = len(done.outcomes)
    busy_s = sum(o.run_s for o in done.outcomes if o.run_s == o.run_s)
    console.print(f"{ran} points run, {done.skipped} skipped, {done.failed} failed; "
                  f"{done.wall_s:.1f} s wall, {busy_s:.1f} s in points; "
                  f"results: {done.results_path}", soft_wrap=True)
    if done.failed:
        raise fail(f"{done.failed} of {done.points} points failed "
                   f"(see {out}/points/<id>/error.txt)", code=1)


def _run_with_progress(sweep: SweepPoints, out: Path, spec: ExecutorSpec,
                       console: Console) -> SweepReport:
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("failed {task.fields[failed]}"), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    progress = Progress(*columns, console=console, transient=False)
    task = progress.add_task(sweep.base.name, total=len(sweep.points), failed=0)
    failed = 0

    def on_start(to_run: int, skipped: int) -> None:  # shown once the sweep directory is ready
        if skipped:
            console.print(f"resuming: {skipped} of {len(sweep.points)} points already done")
        progress.update(task, completed=skipped)
        progress.start()

    def on_done(outcome: Any) -> None:
        nonlocal failed
        failed += not outcome.ok
        progress.update(task, advance=1, failed=failed)
        if not outcome.ok:
            console.print(f"[red]point {outcome.point_id} failed[/]: {outcome.error}")

    with open_executor(spec) as executor, _stopping(progress):
        return run_sweep(sweep, out, executor=executor, on_start=on_start, on_done=on_done)


@app.command()
@cli_errors
def report(
    sweep_dir: Annotated[Path, typer.Argument(help="a directory written by `sim sweep`")],
    out: Annotated[Path, typer.Option("-o", "--out", help="report directory")],
) -> None:
    """Plots (PNG) and a Markdown summary (report.md) of a sweep."""
    from phasesim.scenarios.report import write_report  # matplotlib: only for this command

    written = write_report(sweep_dir, out)
    Console(stderr=True, soft_wrap=True).print(
        f"wrote {len(written)} files to {out} (open {out}/report.md)")


@contextlib.contextmanager
def _stopping(progress: Progress) -> Iterator[Progress]:
    """Stop ``progress`` on the way out (it is started by the sweep's ``on_start``)."""
    try:
        yield progress
    finally:
        progress.stop()


def parse_jobqueue_options(text: str, *, option: str) -> dict[str, Any]:
    """``key=value,key=value`` (values read as YAML scalars) or a YAML/JSON file of options."""
    path = Path(text)
    if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
        try:
            data = load_yaml(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise InputError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", path=path,
                             line=None if mark is None else mark.line + 1, column=option) from None
        if not isinstance(data, dict):
            raise InputError("expected a mapping of jobqueue options", path=path, column=option)
        return data
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{option}: expected key=value, got '{item}'", column=option)
        try:
            options[key.strip()] = load_yaml(value.strip())
        except yaml.YAMLError:
            raise InputError(f"{option}: cannot read the value of '{key.strip()}'",
                             column=option) from None
    return options


def _executor_spec(*, workers: int, dask: str | None, dask_slurm: str | None,
                   dask_pbs: str | None, serial: bool) -> ExecutorSpec:
    if serial:
        return ExecutorSpec(backend=Backend.SERIAL, workers=1)
    if dask is not None:
        return ExecutorSpec(backend=Backend.DASK, workers=workers, address=dask)
    if dask_slurm is not None:
        return ExecutorSpec(backend=Backend.DASK_SLURM, workers=workers,
                            jobqueue=parse_jobqueue_options(dask_slurm, option="--dask-slurm"))
    if dask_pbs is not None:
        return ExecutorSpec(backend=Backend.DASK_PBS, workers=workers,
                            jobqueue=parse_jobqueue_options(dask_pbs, option="--dask-pbs"))
    return ExecutorSpec(backend=Backend.PROCESS, workers=workers)

