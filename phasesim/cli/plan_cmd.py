"""`sim plan`: search cluster configurations by simulating the trace; write the cheapest.

Writes ``DIR/best.yaml`` (a topology ``sim replay --topology`` accepts as it is),
``DIR/plans.parquet`` (every configuration simulated), ``DIR/pareto.png`` and ``DIR/report.md``
(the winner, the best of each other topology kind and why it lost, the prices used). See
``phasesim.scenarios.planner`` for the space and the pruning.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import typer
import yaml

from phasesim import traces
from phasesim.atomic import check_output_dir, staged_dir
from phasesim.cli.cost_tables import UncalibratedWarnings
from phasesim.cli.errors import cli_errors, fail
from phasesim.cli.options import (
    MAX_NUM_SEQS_FLAGS,
    MAX_NUM_SEQS_NAME,
    comma_list,
    count_text,
    nonempty_comma_list,
    positive,
)
from phasesim.cli.prices import price_basis_option, price_book
from phasesim.errors import InputError
from phasesim.output_check import check_writable
from phasesim.scenarios.executors import Backend, ExecutorSpec, open_executor
from phasesim.scenarios.planner import (
    OBJECTIVES,
    PlanSpace,
    explain_infeasible,
    report_markdown,
    search_on,
    simulate_summary,
    table_shapes,
    topology_for,
)
from phasesim.simulator.catalog.economics import PriceBasis
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.costs.resolve import resolve_table
from phasesim.simulator.results.output import parquet_bytes

__all__ = ["app", "plan"]

# what sim plan writes into its directory (and all it may replace there)
PLAN_FILES = frozenset({"best.yaml", "plans.parquet", "pareto.png", "report.md"})

app = typer.Typer(help="plan commands", no_args_is_help=True, pretty_exceptions_enable=False)


@app.command("plan")
@cli_errors
def plan(
    trace: Path = typer.Argument(..., show_default=False, help="Trace (as for sim replay)."),
    out: Path = typer.Option(..., "--out", "-o", show_default=False,
                             help="Directory for best.yaml, plans.parquet, report.md."),
    slo_ttft: float = typer.Option(0.5, "--slo-ttft", help="TTFT SLO in seconds."),
    slo_tpot: float = typer.Option(0.05, "--slo-tpot", help="TPOT SLO in seconds."),
    attainment: float = typer.Option(0.9, "--attainment",
                                     help="Fraction of requests that must meet both SLOs."),
    hardware: list[str] = typer.Option(["h100-sxm"], "--hardware", help=(
        "Hardware to consider, comma-separated or repeated (colocated pools of each, and every "
        "prefill/decode pairing).")),
    model: str = typer.Option("llama2-7b", "--model", help="Model."),
    engine: str | None = typer.Option(None, "--engine", show_default="each hardware's", help=(
        "Serving engine of every GPU-like pool (its batching and cost tables); GroqRack pools "
        "keep groq. Default: each hardware's (vllm on GPUs).")),
    max_devices: int = typer.Option(8, "--max-devices", help=(
        "Most devices (GPUs, GroqRacks) in a cluster: instances x tensor-parallel degree.")),
    tp: str = typer.Option("auto", "--tp", help=(
        "Tensor-parallel degrees of GPU pools to search, comma-separated (e.g. 1,2), or 'auto': "
        "every degree dividing the model's heads that holds the weights, up to --max-devices. "
        "Degrees > 1 run on analytical tables built on the fly (as sim replay --tp).")),
    max_num_seqs: str = typer.Option("default", *MAX_NUM_SEQS_FLAGS, help=(
        "Max batches (max_num_seqs) of GPU pools to search, comma-separated, 'default' for the "
        "pool's default (256, capped by the hardware's), e.g. default,64,512 (--max-batch: the "
        "old name).")),
    objective: str = typer.Option("cost", "--objective", help="cost, energy or devices."),
    rate_scale: float = typer.Option(1.0, "--rate-scale", help="Multiply the request rate."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of every random stream."),
    price: list[str] | None = typer.Option(None, "--price", help="HW=USD per hour (as replay)."),
    price_file: Path | None = typer.Option(None, "--price-file", help="YAML prices (as replay)."),
    kwh_price: float | None = typer.Option(None, "--kwh-price", help="USD per kWh (as replay)."),
    price_basis: str = price_basis_option(),
    workers: int = typer.Option(1, "--workers", help=(
        "Parallel workers, one topology kind per task (1: in this process; more: a process pool, "
        "or Dask workers with --dask).")),
    dask: str | None = typer.Option(None, "--dask", help=(
        "Run on a Dask scheduler (tcp://host:8786) or 'local' (a LocalCluster).")),
) -> None:
    """Find the cheapest cluster (or least energy, or fewest devices) that meets the SLO."""
    check_output_dir(out, owned=PLAN_FILES)  # before the search, not after it
    for value, option in ((slo_ttft, "--slo-ttft"), (slo_tpot, "--slo-tpot"),
                          (rate_scale, "--rate-scale")):
        positive(value, option)
    check_writable(out, option="-o/--out", directory=True)  # before minutes of search
    if objective not in OBJECTIVES:
        raise InputError(f"--objective must be one of {', '.join(OBJECTIVES)}, got '{objective}'")
    get_model(model)
    if dask is not None:
        executor_spec = ExecutorSpec(backend=Backend.DASK, workers=workers, address=dask)
    elif workers > 1:
        executor_spec = ExecutorSpec(backend=Backend.PROCESS, workers=workers)
    else:
        executor_spec = ExecutorSpec(backend=Backend.SERIAL, workers=max(workers, 1))
    names = tuple(dict.fromkeys(comma_list(hardware)))
    space = PlanSpace(hardware=names, model=model, max_devices=max_devices,
                      rate_scale=rate_scale, seed=seed, tensor_parallel=_degrees(tp),
                      max_num_seqs=_batches(max_num_seqs), engine=engine)
    prices = price_book(price, price_file, kwh_price, price_basis)
    if objective == "cost" or prices.basis is not PriceBasis.TCO:
        for name in names:  # refuse, before simulating, hardware the objective cannot price
            prices.check(name)
    if not trace.is_file():
        raise InputError("no such trace file", path=trace)
    frame = (traces.read_trace(trace) if traces.detect_format(trace) is traces.TraceFormat.PARQUET
             else traces.import_trace(trace))

    # every shape's table, chosen here for its engine (shipped, or an analytical one built here)
    warnings = UncalibratedWarnings(emit=lambda line: typer.echo(line, err=True))
    tables = {}
    for hw, degree in table_shapes(space):
        resolved = resolve_table(hardware=hw, model=model, tensor_parallel=degree, engine=engine)
        warnings.note(resolved)
        tables[(hw, degree)] = resolved.cost_model

    try:
        with open_executor(executor_spec) as executor:
            result = search_on(executor, space, frame, slo_ttft_s=slo_ttft, slo_tpot_s=slo_tpot,
                               prices=prices, attainment=attainment, objective=objective,
                               tables=tables)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the workers are stopped, nothing is written
        raise fail(f"interrupted: the search stopped before its end; nothing written to {out}",
                   code=130) from None
    warnings.flush()
    from phasesim.scenarios.plan_figure import pareto_png  # matplotlib: only for this command

    best = result.best
    infeasible = None
    if best is None:  # why, and what would pass (a few more simulations, in this process)
        infeasible = explain_infeasible(result, space, frame, lambda topology: simulate_summary(
            frame, topology, slo_ttft_s=slo_ttft, slo_tpot_s=slo_tpot, prices=prices,
            tables=tables))
    rows = pd.DataFrame([e.row() for e in result.evaluations])
    files = {"plans.parquet": parquet_bytes(rows), "pareto.png": pareto_png(result),
             "report.md": report_markdown(result, space, infeasible).encode()}
    if best is not None:
        topo = topology_for(best.candidate, space).model_dump(mode="json")
        files["best.yaml"] = yaml.safe_dump(json.loads(json.dumps(topo)), sort_keys=False).encode()
    # one run's files at every moment, as sim replay's: a rerun that finds no best leaves no
    # best.yaml of an earlier run, and a refusing file system leaves the old run whole
    with staged_dir(out, owned=PLAN_FILES) as staging:
        for name, data in files.items():
            (staging / name).write_bytes(data)
    typer.echo(files["report.md"].decode(), nl=False)
    typer.echo(f"wrote {out}/: " + " ".join(sorted(files)))


def _degrees(text: str) -> tuple[int, ...] | None:
    """``--tp``: None for 'auto' (every degree that fits), else the degrees given."""
    items = nonempty_comma_list(text, "--tp")
    if items == ["auto"]:
        return None
    return tuple(dict.fromkeys(count_text(i, "--tp") for i in items))


def _batches(text: str) -> tuple[int | None, ...]:
    """``--max-num-seqs``: None for 'default' (the pool's), else the values given."""
    return tuple(dict.fromkeys(None if i == "default" else count_text(i, MAX_NUM_SEQS_NAME)
                               for i in nonempty_comma_list(text, MAX_NUM_SEQS_NAME)))
