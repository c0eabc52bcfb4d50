"""`sim replay`: replay one trace on one topology, write the results, print a summary.

Units are parsed here, at the edge (``--link-bandwidth 100Gbps``, ``--link-latency 5us``); the
topology, engine and writers below only ever see bytes/s and seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape

from phasesim import traces
from phasesim.atomic import refuse_special
from phasesim.cli.cost_tables import UncalibratedWarnings, pool_cost_models
from phasesim.cli.errors import cli_errors
from phasesim.cli.options import (
    MAX_NUM_SEQS_FLAGS,
    MAX_NUM_SEQS_NAME,
    choice,
    comma_list,
    count,
    known,
    parse_bandwidth_bytes_per_s,
    parse_latency_s,
    positive,
)
from phasesim.cli.prices import price_basis_option, price_book
from phasesim.cli.summary import print_economics, render_summary
from phasesim.errors import InputError
from phasesim.simulator.catalog.engines import get_engine
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.catalog.user import register_table
from phasesim.simulator.costs.resolve import ResolvedTable
from phasesim.simulator.costs.roofline import pair_key
from phasesim.simulator.intervals import pair_entry, pool_step_interval
from phasesim.simulator.results.output import summary_json, write_results
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import Batching, FirstToken, TopologySpec
from phasesim.simulator.topology_edits import (
    ROUTER_NAMES,
    profile_target,
    topology_with_overrides,
    with_engine,
    with_prefix_cache_and_routers,
)

__all__ = ["app", "replay"]

app = typer.Typer(help="replay commands", no_args_is_help=True, pretty_exceptions_enable=False)

# the options that are not the override's keyword with dashes (``prefill_instances``)
_FLAGS = {"gpu": "--hardware", "tensor_parallel": "--tp", "profiles": "--profile",
          "routers": "--router", "max_num_seqs": MAX_NUM_SEQS_NAME}


def _flag(key: str) -> str:
    """The option that sets ``key`` (a ``topology_edits`` setting), for its error messages."""
    return _FLAGS.get(key, "--" + key.replace("_", "-"))


@app.command("replay")
@cli_errors
def replay(
    trace: Path = typer.Argument(..., show_default=False, help=(
        "Trace: canonical parquet, or a raw Azure/Vidur CSV or Mooncake JSONL "
        "(imported on the fly).")),
    topology: str = typer.Option(..., "--topology", "-t", show_default=False, help=(
        "Built-in topology (gpu, groq, gpu-prefill-gpu-decode, gpu-prefill-groq-decode, "
        "groq-prefill-gpu-decode) or a topology YAML file.")),
    out: Path = typer.Option(..., "--out", "-o", show_default=False, help=(
        "Directory for requests.parquet, timeseries.parquet, summary.json, meta.json.")),
    gpu: str | None = typer.Option(None, "--hardware", "--gpu", show_default="h100-sxm",
                                   help="Hardware of the GPU pools (--gpu: the old name)."),
    calibration: Path | None = typer.Option(None, "--calibration", show_default=False, help=(
        "Engine constants from `profiler fit BENCH.csv -o C.json`: the (hardware, engine) pairs "
        "it holds are built from it instead of the shipped calibration and tables.")),
    engine: str | None = typer.Option(None, "--engine", show_default="the hardware's", help=(
        "Serving engine of every pool that names none, GroqRack pools aside (its batching and "
        "limits where the pool sets none, and its cost table); default vllm on GPUs, groq on "
        "GroqRack (sim profiles engines).")),
    model: str | None = typer.Option(None, "--model", show_default="llama2-7b", help="Model."),
    tp: int | None = typer.Option(None, "--tp", show_default="1", help=(
        "Tensor-parallel degree: devices per instance of the GPU pools (not GroqRack). "
        "Without --profile, an analytical table for that degree is built.")),
    instances: int | None = typer.Option(None, "--instances",
                                         help="Instances of a colocated pool."),
    prefill_instances: int | None = typer.Option(None, "--prefill-instances",
                                                 help="Prefill instances."),
    decode_instances: int | None = typer.Option(None, "--decode-instances",
                                                help="Decode instances."),
    batching: str | None = typer.Option(None, "--batching", help=(
        "Batching policy of every pool: " + ", ".join(b.value for b in Batching) + ".")),
    max_num_seqs: int | None = typer.Option(None, *MAX_NUM_SEQS_FLAGS, help=(
        "Max sequences per iteration (vLLM's max_num_seqs; --max-batch: the old name).")),
    link_bandwidth: str | None = typer.Option(None, "--link-bandwidth", help=(
        "KV link bandwidth, e.g. 100Gbps, 400gbit, 12.5GB/s.")),
    link_latency: str | None = typer.Option(None, "--link-latency",
                                            help="KV link latency, e.g. 5us, 2ms, 0.001s."),
    profile: list[str] | None = typer.Option(None, "--profile", help=(
        "Cost tables, comma-separated: POOL=PATH (POOL is a pool name or role) or PATH for "
        "every pool; may also be repeated.")),
    seed: int | None = typer.Option(None, "--seed", min=0,
                                    show_default="0, or the topology file's",
                                    help="Seed of every random stream."),
    rate_scale: float | None = typer.Option(None, "--rate-scale", show_default="1", help=(
        "Multiply the request rate (arrivals at arrival_s / X).")),
    slo_ttft: float = typer.Option(0.5, "--slo-ttft",
                                   help="TTFT SLO in seconds (goodput, attainment)."),
    slo_tpot: float = typer.Option(0.05, "--slo-tpot",
                                   help="TPOT SLO in seconds (goodput, attainment)."),
    first_token: str | None = typer.Option(None, "--first-token", show_default="prefill", help=(
        "Who emits the first token in a disaggregated topology: prefill or decode.")),
    price: list[str] | None = typer.Option(None, "--price", help=(
        "Price of one hardware entry per hour, HW=USD (e.g. h100-sxm=2.99), comma-separated or "
        "repeated; default: the catalog's (sim profiles hardware).")),
    price_file: Path | None = typer.Option(None, "--price-file", help=(
        "YAML mapping of hardware to USD per hour (optional kwh_usd and pue keys).")),
    kwh_price: float | None = typer.Option(None, "--kwh-price", show_default="0.10", help=(
        "Electricity, USD per kWh (the tco basis's power cost).")),
    price_basis: str = price_basis_option(),
    json_output: bool = typer.Option(False, "--json/--no-json",
                                     help="Print only the summary JSON object."),
    prefix_cache: bool | None = typer.Option(
        None, "--prefix-cache/--no-prefix-cache", show_default="the topology's (off)", help=(
            "Reuse cached prompt prefixes (the trace's prefix_hash_ids) on the colocated or "
            "prefill pool's instances; pools it turns the cache on in are routed cache-aware "
            "(prefix match weighed against load) unless --router names a router.")),
    router: list[str] | None = typer.Option(None, "--router", help=(
        "Router, comma-separated: NAME for every pool or POOL=NAME (POOL a pool name or role); "
        "may be repeated. " + ", ".join(ROUTER_NAMES) + ".")),
) -> None:
    """Replay a trace on a topology; write per-request results and print a summary."""
    refuse_special(out, want_dir=True)  # before any work: a file, link, device or FIFO
    profiles, routers = comma_list(profile or []), comma_list(router or [])
    for item in profiles:  # a captured table brings its own hardware entry
        path = profile_target(item)[1]
        if Path(path).is_file():
            with contextlib.suppress(InputError):  # a bad file is reported as --profile's, below
                register_table(path)
    overrides: dict[str, Any] = {
        "gpu": known(get_hardware, gpu, "--hardware"),
        "model": known(get_model, model, "--model"),
        "tensor_parallel": count(tp, "--tp"),
        "instances": count(instances, "--instances"),
        "prefill_instances": count(prefill_instances, "--prefill-instances"),
        "decode_instances": count(decode_instances, "--decode-instances"),
        "batching": choice(Batching, batching, "--batching"),
        "max_num_seqs": count(max_num_seqs, _flag("max_num_seqs")),
        "link_bandwidth": None if link_bandwidth is None else parse_bandwidth_bytes_per_s(
            link_bandwidth, option="--link-bandwidth"),
        "link_latency": None if link_latency is None else parse_latency_s(
            link_latency, option="--link-latency"),
        "first_token": choice(FirstToken, first_token, "--first-token"),
        "rate_scale": None if rate_scale is None else positive(rate_scale, "--rate-scale"),
    }
    slo_ttft_s = positive(slo_ttft, "--slo-ttft")
    slo_tpot_s = positive(slo_tpot, "--slo-tpot")
    spec = topology_with_overrides(topology, overrides, profiles=profiles, label=_flag)
    prices = price_book(price, price_file, kwh_price, price_basis)
    spec = with_prefix_cache_and_routers(spec, prefix_cache=prefix_cache, routers=routers,
                                         label=_flag)
    spec = with_engine(spec, known(get_engine, engine, "--engine"))
    frame = _read_trace(trace)
    tables = pool_cost_models(spec, None if calibration is None else str(calibration))
    warnings = UncalibratedWarnings(emit=lambda line: typer.echo(line, err=True))
    for resolved in tables.values():
        warnings.note(resolved)

    result = simulate(frame, spec, seed=seed, slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s,
                      prices=prices, cost_models={p: r.cost_model for p, r in tables.items()})
    warnings.flush()
    widths = _step_time_intervals(spec, tables, None if calibration is None else str(calibration))
    result = dataclasses.replace(result, summary={**result.summary, "step_time_intervals": widths})
    built = {pool: r.cost_model for pool, r in tables.items() if r.built}
    replay_meta: dict[str, Any] = {
        "topology": topology, "slo_ttft_s": slo_ttft_s, "slo_tpot_s": slo_tpot_s,
        "pools": {pool: {"engine": r.engine, "cost_table": r.cost_model.name}
                  for pool, r in tables.items()}}
    if built:  # tables built on the fly
        replay_meta["built_tables"] = {pool: model.name for pool, model in built.items()}
    write_results(result, out, trace_path=trace, extra_meta={"replay": replay_meta})
    if json_output:
        typer.echo(summary_json(result.summary), nl=False)
        return
    console = Console(highlight=False)
    console.print(f"[bold]{escape(trace.name)}[/] on [bold]{escape(spec.name)}[/] "
                  f"({len(frame):,} requests, "
                  f"seed {result.meta['seed']}, rate x{spec.rate_scale:g}, "
                  f"SLO TTFT {1e3 * slo_ttft_s:g} ms / TPOT {1e3 * slo_tpot_s:g} ms)")
    for pool, r in tables.items():
        how = (f" (analytical roofline at tensor_parallel {r.cost_model.tensor_parallel}, built "
               "on the fly)" if r.built else "")
        width = widths[pool]
        span = ("" if width["p10_rel"] is None else
                f"; step times {width['nominal'] * 100:.0f} % interval x{width['p10_rel']:g} - "
                f"x{width['p90_rel']:g} ({escape(width['pair'])})"
                + (" widened: outside " + escape("; ".join(width["outside"]))
                   if width["outside"] else ""))
        console.print(f"pool {escape(pool)}: engine {escape(r.engine)}, cost table "
                      f"{escape(r.cost_model.name)}{how}{span}")
    render_summary(result.summary, console)
    print_economics(result.summary, console)
    console.print(f"wrote {escape(str(out))}/: requests.parquet timeseries.parquet summary.json "
                  "meta.json")


def _step_time_intervals(spec: TopologySpec, tables: dict[str, ResolvedTable],
                         calibration: str | None) -> dict[str, dict[str, Any]]:
    """Per pool, its (hardware, engine) pair and the relative 80 % interval of that pair's step
    times (``phasesim.simulator.intervals.pool_step_interval``: factors on a predicted time, None
    where the pair has no fitted intervals), for the summary."""
    out = {}
    for pool in spec.pools:
        r = tables[pool.name]
        entry = pair_entry(hardware=r.hardware, engine=r.engine, table_meta=r.cost_model.meta,
                           calibration=calibration)
        out[pool.name] = {"pair": pair_key(r.hardware, r.engine), **pool_step_interval(
            entry, model=get_model(pool.model), tensor_parallel=pool.tensor_parallel)}
    return out


def _read_trace(path: Path) -> pd.DataFrame:
    """A canonical parquet trace, or any raw format the importers know."""
    if not path.exists():
        raise InputError("no such trace file", path=path)
    if not path.is_file():
        raise InputError("trace is not a file", path=path)
    if traces.detect_format(path) is traces.TraceFormat.PARQUET:
        return traces.read_trace(path)
    return traces.import_trace(path)
