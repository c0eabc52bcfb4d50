"""`sim replay`: replay one trace on one topology, write the results, print a summary.

Units are parsed here, at the edge (``--link-bandwidth 100Gbps``, ``--link-latency 5us``); the
topology, engine and writers below only ever see bytes/s and seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from phasesim import traces
from phasesim.atomic import refuse_special
from phasesim.cli.cost_tables import UncalibratedWarnings, pool_cost_models
from phasesim.cli.errors import cli_errors
from phasesim.cli.prices import price_basis_option, price_book
from phasesim.errors import InputError
from phasesim.simulator.catalog.engines import get_engine
from phasesim.simulator.catalog.hardware import DeviceKind, get_hardware
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.catalog.user import register_table
from phasesim.simulator.costs.resolve import ResolvedTable
from phasesim.simulator.costs.roofline import pair_key
from phasesim.simulator.intervals import pair_entry, pool_step_interval
from phasesim.simulator.results.output import summary_json, write_results
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import (
    BUILTIN_TOPOLOGIES,
    Batching,
    FirstToken,
    Role,
    Routing,
    TopologySpec,
    builtin_topology,
    load_topology,
)
from phasesim.units import bandwidth_bytes_per_s, duration_s

__all__ = ["app", "replay", "parse_bandwidth_bytes_per_s", "parse_latency_s", "print_economics",
           "render_summary"]

app = typer.Typer(help="replay commands", no_args_is_help=True, pretty_exceptions_enable=False)

def parse_bandwidth_bytes_per_s(text: str, *, option: str) -> float:
    """``100Gbps``, ``400gbit``, ``12.5GB/s``, ``64GiB/s`` -> bytes per second (see simulator.units)."""
    try:
        return bandwidth_bytes_per_s(text)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None


def parse_latency_s(text: str, *, option: str) -> float:
    """``5us``, ``5µs``, ``2ms``, ``0.001s``, ``250ns`` -> seconds (see simulator.units)."""
    try:
        return duration_s(text)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None


_ROUTER_NAMES = [r.value.replace("_", "-") for r in Routing]
_PROFILE_OVERRIDE = {Role.COLOCATED: "profile", Role.PREFILL: "prefill_profile",
                     Role.DECODE: "decode_profile"}


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
    max_batch: int | None = typer.Option(None, "--max-batch",
                                         help="Max sequences per iteration."),
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
        "may be repeated. " + ", ".join(_ROUTER_NAMES) + ".")),
) -> None:
    """Replay a trace on a topology; write per-request results and print a summary."""
    refuse_special(out, want_dir=True)  # before any work: a file, link, device or FIFO
    for item in _comma_list(profile or []):  # a captured table brings its own hardware entry
        path = item.partition("=")[2] if "=" in item and "/" not in item.partition("=")[0] \
            else item
        if Path(path).is_file():
            with contextlib.suppress(InputError):  # a bad file is reported as --profile's, below
                register_table(path)
    overrides: dict[str, Any] = {
        "gpu": _known(get_hardware, gpu, "--hardware"),
        "model": _known(get_model, model, "--model"),
        "tensor_parallel": _count(tp, "--tp"),
        "instances": _count(instances, "--instances"),
        "prefill_instances": _count(prefill_instances, "--prefill-instances"),
        "decode_instances": _count(decode_instances, "--decode-instances"),
        "batching": _choice(Batching, batching, "--batching"),
        "max_batch": _count(max_batch, "--max-batch"),
        "link_bandwidth": None if link_bandwidth is None else parse_bandwidth_bytes_per_s(
            link_bandwidth, option="--link-bandwidth"),
        "link_latency": None if link_latency is None else parse_latency_s(
            link_latency, option="--link-latency"),
        "first_token": _choice(FirstToken, first_token, "--first-token"),
        "rate_scale": None if rate_scale is None else _positive(rate_scale, "--rate-scale"),
    }
    slo_ttft_s = _positive(slo_ttft, "--slo-ttft")
    slo_tpot_s = _positive(slo_tpot, "--slo-tpot")
    spec = _topology(topology, overrides, _comma_list(profile or []))
    prices = price_book(price, price_file, kwh_price, price_basis)
    spec = _cache_and_routers(spec, prefix_cache, _comma_list(router or []))
    spec = _with_engine(spec, _known(get_engine, engine, "--engine"))
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


def print_economics(summary: dict[str, Any], console: Console) -> None:
    """One line each for cost and energy (the full sections are in summary.json)."""
    cost, energy = summary.get("cost") or {}, summary.get("energy") or {}
    if cost.get("usd_per_hour") is not None:
        per_m = cost.get("usd_per_million_output_tokens")
        per_good = cost.get("usd_per_million_goodput_tokens")
        console.print(f"cost ({cost.get('basis', 'tco')} prices): ${cost['usd_per_hour']:,.2f}/h"
                      + ("" if per_m is None else f", ${per_m:,.2f} per million output tokens")
                      + ("" if per_good is None
                         else f", ${per_good:,.2f} per million goodput tokens")
                      + " (sources: summary.json cost.prices)")
    if energy.get("joules") is not None:
        per_token = energy.get("joules_per_output_token")
        avg = energy.get("avg_power_w")
        console.print(f"energy: {energy['joules'] / 3.6e6:,.3f} kWh"
                      + ("" if per_token is None else f", {per_token:,.2f} J per output token")
                      + ("" if avg is None else f", {avg:,.0f} W on average"))


def _topology(name_or_path: str, overrides: dict[str, Any], profiles: list[str]) -> TopologySpec:
    """A built-in with overrides, or a YAML file (which takes only run-wide overrides)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if name_or_path in BUILTIN_TOPOLOGIES:
        base = builtin_topology(name_or_path)
        _check_layout_options(base, given)
        given.update(_profile_overrides(base, profiles))
        return builtin_topology(name_or_path, **given)
    spec = load_topology(name_or_path)
    pool_level = sorted(set(given) - {"rate_scale", "first_token"})
    if pool_level or profiles:
        option = "--" + (pool_level[0].replace("_", "-") if pool_level else "profile")
        raise InputError(f"{option}: only built-in topologies take pool overrides; "
                         f"set it in {name_or_path}")
    data = spec.model_dump(mode="json")
    data.update({k: v.value if hasattr(v, "value") else v for k, v in given.items()})
    try:
        return TopologySpec.model_validate(data)
    except ValueError as exc:
        raise InputError(" ".join(str(exc).split()), path=name_or_path) from None


def _with_engine(spec: TopologySpec, engine: str | None) -> TopologySpec:
    """``--engine`` on every pool that names no engine of its own (built-in or YAML), except
    GroqRack pools: they run Groq's own stack (batch 1), whatever the GPUs run."""
    if engine is None:
        return spec
    pools = tuple(p if p.engine is not None or get_hardware(p.hardware).kind is DeviceKind.LPU
                  else p.model_copy(update={"engine": engine}) for p in spec.pools)
    return spec.model_copy(update={"pools": pools})


def _cache_and_routers(spec: TopologySpec, prefix_cache: bool | None,
                       routers: list[str]) -> TopologySpec:
    """``--prefix-cache`` on the pools that prefill (colocated or prefill) and ``--router``
    values, on any topology (built-in or YAML)."""
    if prefix_cache is None and not routers:
        return spec
    data = spec.model_dump(mode="json")
    pools = data["pools"]
    if prefix_cache is not None:
        for pool in pools:
            if pool["role"] != Role.DECODE.value:
                if prefix_cache and not pool.get("prefix_cache"):  # turned on here: the cached
                    pool["routing"] = Routing.CACHE_AWARE.value  # pools' default (--router wins)
                pool["prefix_cache"] = prefix_cache
    seen: set[str] = set()
    for item in routers:
        target, sep, name = item.rpartition("=")
        targets = [p for p in pools if p["name"] == target or p["role"] == target] if sep \
            else pools
        if sep and not targets:
            names = ", ".join(p["name"] for p in pools)
            raise InputError(f"--router: no pool '{target}' in {spec.name} (pools: {names})")
        routing = _router(name)
        for pool in targets:
            if pool["name"] in seen:
                raise InputError(f"--router: pool '{pool['name']}' given twice")
            seen.add(pool["name"])
            pool["routing"] = routing.value
    try:
        return TopologySpec.model_validate(data)
    except ValueError as exc:
        errors = getattr(exc, "errors", None)
        message = errors()[0]["msg"] if errors else str(exc)
        option = "--prefix-cache" if prefix_cache else "--router"
        raise InputError(f"{option}: {message.removeprefix('Value error, ')}") from None


def _check_layout_options(spec: TopologySpec, given: dict[str, Any]) -> None:
    """Refuse options that the layout would silently ignore."""
    if spec.disaggregated:
        ignored = ["instances"]
        hint = "use --prefill-instances / --decode-instances"
    else:
        ignored = ["prefill_instances", "decode_instances", "link_bandwidth", "link_latency",
                   "first_token"]
        hint = "it applies to disaggregated topologies only"
    if "gpu" in given and all(p.hardware == "groqrack" for p in spec.pools):
        raise InputError(f"--hardware: {spec.name} has no GPU pool")
    if given.get("tensor_parallel", 1) > 1 and all(p.hardware == "groqrack" for p in spec.pools):
        raise InputError(f"--tp: {spec.name} has no GPU pool; tensor parallelism does not apply "
                         "to groqrack (it already serves as one 64-chip pipeline)")
    for key in ignored:
        if key in given:
            raise InputError(f"--{key.replace('_', '-')}: {spec.name} is "
                             f"{'disaggregated' if spec.disaggregated else 'colocated'}; {hint}")


def _profile_overrides(spec: TopologySpec, profiles: list[str]) -> dict[str, str]:
    """``--profile`` values -> builtin_topology's profile / prefill_profile / decode_profile."""
    chosen: dict[Role, str] = {}
    for item in profiles:
        pool, sep, path = item.partition("=")
        if not sep or not pool or "/" in pool:
            targets, path = list(spec.pools), item
        else:
            targets = [p for p in spec.pools if pool in (p.name, p.role.value)]
            if not targets:
                names = ", ".join(p.name for p in spec.pools)
                raise InputError(f"--profile: no pool '{pool}' in {spec.name} (pools: {names})")
        if not Path(path).is_file():
            raise InputError("--profile: no such file", path=path)
        for pool_spec in targets:
            if pool_spec.role in chosen:
                raise InputError(f"--profile: pool '{pool_spec.name}' given twice")
            chosen[pool_spec.role] = path
    return {_PROFILE_OVERRIDE[role]: path for role, path in chosen.items()}


def _comma_list(values: list[str]) -> list[str]:
    """Repeated values, each of them comma-separated, as one list (empty items dropped)."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _read_trace(path: Path) -> pd.DataFrame:
    """A canonical parquet trace, or any raw format the importers know."""
    if not path.exists():
        raise InputError("no such trace file", path=path)
    if not path.is_file():
        raise InputError("trace is not a file", path=path)
    if traces.detect_format(path) is traces.TraceFormat.PARQUET:
        return traces.read_trace(path)
    return traces.import_trace(path)


def _known(lookup: Any, name: str | None, option: str) -> str | None:
    """``name`` unchanged once ``lookup`` accepts it (the engine resolves it again)."""
    if name is None:
        return None
    try:
        lookup(name)
        return name
    except InputError as exc:
        raise InputError(f"{option}: {exc}") from None


def _router(name: str) -> Routing:
    """A ``--router`` name as the help spells it (``least-outstanding``; ``_`` accepted too);
    an unknown one is echoed as typed, with the names as the help lists them."""
    try:
        return Routing(name.strip().replace("-", "_"))
    except ValueError:
        raise InputError(f"--router: unknown router '{name}' (one of: "
                         f"{', '.join(_ROUTER_NAMES)})") from None


def _choice(kind: type, value: str | None, option: str) -> Any:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(item.value for item in kind)
        raise InputError(f"{option}: unknown value '{value}' (one of: {known})") from None


def _count(value: int | None, option: str) -> int | None:
    if value is not None and value < 1:
        raise InputError(f"{option} must be >= 1, got {value}")
    return value


def _positive(value: float, option: str) -> float:
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{option} must be a positive number, got {value}")
    return value


def render_summary(summary: dict[str, Any], console: Console) -> None:
    """The summary as rich tables: requests, latency (ms), rates, pools, links."""
    requests = Table(title="requests", title_justify="left", show_header=False)
    requests.add_row("total", f"{summary['requests']:,}")
    requests.add_row("completed", f"{summary['completed']:,}")
    requests.add_row("rejected", f"{summary['rejected']:,}")
    for reason, count in summary["rejected_by_reason"].items():
        requests.add_row(f"  {escape(reason) or '(no reason)'}", f"{count:,}")
    requests.add_row("duration", _fmt(summary["duration_s"], " s"))
    requests.add_row("throughput", _fmt(summary["throughput_rps"], " req/s"))
    requests.add_row("output tokens", _fmt(summary["output_tps"], " tok/s"))
    requests.add_row("goodput", _fmt(summary["goodput_rps"], " req/s"))
    attainment = summary["slo_attainment"]
    requests.add_row("SLO attainment", "-" if attainment is None else f"{100 * attainment:.1f} %")
    console.print(requests)

    latency = Table(title="latency (ms)", title_justify="left")
    latency.add_column("metric")
    for column in ("mean", "p50", "p90", "p99"):
        latency.add_column(column, justify="right")
    for key, label in (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("e2e_s", "E2E"),
                       ("queue_s", "queue")):
        stats = summary[key]
        latency.add_row(label, *(_fmt_ms(stats[c]) for c in ("mean", "p50", "p90", "p99")))
    console.print(latency)

    if summary["pools"]:
        pools = Table(title="pools", title_justify="left")
        for column in ("pool", "role", "hardware", "inst", "util", "batch", "preempt"):
            pools.add_column(column, justify="left" if column in ("pool", "role", "hardware")
                             else "right")
        for pool in summary["pools"]:
            pools.add_row(escape(pool["pool"]), pool["role"], escape(pool["hardware"]),
                          str(pool["instances"]),
                          _fmt_pct(pool["utilization"]), _fmt(pool["mean_batch_size"]),
                          f"{pool['preemptions']:,}")
        console.print(pools)

    if summary["links"]:
        links = Table(title="links", title_justify="left")
        for column in ("link", "util", "GB moved", "transfers"):
            links.add_column(column, justify="left" if column == "link" else "right")
        for link in summary["links"]:
            links.add_row(escape(link["link"]), _fmt_pct(link["utilization"]),
                          f"{link['bytes_moved'] / 1e9:,.3f}", f"{link['transfers']:,}")
        console.print(links)

    cache = summary.get("prefix_cache")
    if cache:
        caches = Table(title=f"prefix cache (hit rate {_fmt_pct(cache['hit_rate'])})",
                       title_justify="left")
        for column in ("pool", "evictions", "inserted", "mean cached tokens", "occupancy"):
            caches.add_column(column, justify="left" if column == "pool" else "right")
        for pool in cache["pools"]:
            mean = pool["mean_cached_tokens"]
            caches.add_row(escape(pool["pool"]), f"{pool['evictions']:,}",
                           f"{pool['inserted']:,}", "-" if mean is None else f"{mean:,.0f}",
                           _fmt_pct(pool["mean_occupancy"]))
        console.print(caches)


def _fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.2f}{unit}"


def _fmt_ms(value_s: float | None) -> str:
    return "-" if value_s is None else f"{1e3 * value_s:,.1f}"


def _fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"
