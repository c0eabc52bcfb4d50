"""`sim profiles` commands: list, show and plot cost tables; list the hardware's power and
price figures with their sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from phasesim.atomic import atomic_path
from phasesim.cli.errors import cli_errors
from phasesim.errors import InputError
from phasesim.simulator.catalog.economics import POWER, RENTAL, TCO, PriceBook
from phasesim.simulator.catalog.engines import engine_names, get_engine
from phasesim.simulator.catalog.hardware import HARDWARE, get_hardware
from phasesim.simulator.costs import (
    TableCostModel,
    kv_capacity_tokens,
    list_tables,
    max_context_tokens,
    read_table,
)
from phasesim.simulator.costs.resolve import load_table, table_path
from phasesim.simulator.costs.shipped import table_info

__all__ = ["app"]

app = typer.Typer(help="profiles commands", no_args_is_help=True, pretty_exceptions_enable=False)


def _info_dict(info: Any) -> dict[str, Any]:
    return {"name": info.name, "path": str(info.path), "hardware": info.hardware, "model": info.model,
            "dtype": info.dtype, "tensor_parallel": info.tensor_parallel, "source": info.source.value,
            "engine": info.engine,
            "rows": info.rows, "grid": info.grid}


@app.command("list")
@cli_errors
def list_cmd(
    directory: Annotated[Path | None, typer.Option("--dir", help="Table folder (default: shipped)")] = None,
    as_json: Annotated[bool, typer.Option("--json/--no-json",
                                          help="JSON instead of a table")] = False,
) -> None:
    """List cost tables: name, hardware, engine, model, dtype, source, grid."""
    infos = list_tables(directory)
    if as_json:
        typer.echo(json.dumps([_info_dict(i) for i in infos], indent=2))
        return
    table = Table("name", "hardware", "engine", "model", "dtype", "source", "grid")
    for i in infos:
        table.add_row(i.name, i.hardware, i.engine, i.model, i.dtype, i.source.value, i.grid)
    Console(width=200).print(table)


@app.command("show")
@cli_errors
def show_cmd(name: Annotated[str, typer.Argument(help="Table stem (shipped) or .parquet path")]) -> None:
    """Metadata and grid summary of one table."""
    path = table_path(name)
    info = table_info(path)
    _, meta = read_table(path)
    shown = {"table": _info_dict(info), "metadata": meta}
    if info.hardware in POWER:
        shown["hardware_economics"] = _economics(info.hardware)
    typer.echo(json.dumps(shown, indent=2, sort_keys=True))


def _economics(hardware: str) -> dict[str, Any]:
    """A device's power and its price on each basis (``tco``: owning, with its parts;
    ``rental``: a public on-demand price, None where there is none), each with its source."""
    power = POWER.get(hardware)
    tco = TCO.get(hardware)
    rental = RENTAL.get(hardware)
    book = PriceBook()
    return {
        "power": None if power is None else {
            f: {"value": getattr(power, f), "source": power.source(f)}
            for f in ("idle_w", "peak_w", "bandwidth_share", "compute_share", "busy_floor_share")
            if power.source(f) or getattr(power, f)},
        "price": {
            "tco": None if tco is None or power is None else {
                "usd_per_hour": book.usd_per_hour(hardware),
                "device_usd": tco.device_usd, "host_usd": tco.host_usd, "host_w": tco.host_w,
                "lifetime_years": tco.lifetime_years, "pue": book.pue, "kwh_usd": book.kwh_usd,
                "source": book.source(hardware)},
            "rental": None if rental is None else {
                "usd_per_hour": rental.list_usd_per_hour, "source": rental.source},
        },
    }


@app.command("hardware")
@cli_errors
def hardware_cmd(
    name: Annotated[str | None, typer.Argument(help="One catalog hardware (default: all)")] = None,
    as_json: Annotated[bool, typer.Option("--json/--no-json",
                                          help="JSON with every source")] = False,
) -> None:
    """Power (idle, peak) and price per hour on each basis (tco, rental), with sources."""
    names = [get_hardware(name).name] if name else sorted(HARDWARE)
    if as_json or name:
        typer.echo(json.dumps({n: _economics(n) for n in names}, indent=2, sort_keys=True))
        return
    table = Table("hardware", "idle W", "peak W", "tco USD/h", "rental USD/h", "rental source")
    for n in names:
        e = _economics(n)
        power, tco, rental = e["power"], e["price"]["tco"], e["price"]["rental"]
        table.add_row(n, "-" if power is None else f"{power['idle_w']['value']:g}",
                      "-" if power is None else f"{power['peak_w']['value']:g}",
                      "-" if tco is None else f"{tco['usd_per_hour']:.2f}",
                      "-" if rental is None else f"{rental['usd_per_hour']:.2f}",
                      "none public: refused on --price-basis rental" if rental is None
                      else rental["source"])
    Console(width=200).print(table)
    print("tco: device + its share of server, host and network, amortised, + power at PUE "
          "(sources: sim profiles hardware NAME)")


# engines whose step times are calibrated otherwise than by `profiler fit` (docs/calibration.md)
_OTHER_CALIBRATION = {
    "torch": "h100-sxm: the measured table (profiler capture --backend torch)",
    "groq": "groqrack: kernel constants fitted on Groq's published figures",
    "analytical": "h100-sxm, a100-sxm-80gb: kernel constants (Vidur, TensorRT-LLM, DistServe)",
}


@app.command("engines")
@cli_errors
def engines_cmd(
    name: Annotated[str | None, typer.Argument(help="One engine (default: all)")] = None,
    as_json: Annotated[bool, typer.Option("--json/--no-json",
                                          help="JSON with notes and per-hardware fits")] = False,
) -> None:
    """Serving engines: their scheduling and the hardware their step times are fitted on."""
    from phasesim.simulator.costs.roofline import load_engine_calibration

    names = [get_engine(name).name] if name else engine_names()
    pairs = load_engine_calibration()["pairs"]
    out: dict[str, Any] = {}
    for n in names:
        e = get_engine(n)
        fits = {key.split("/")[0]: {k: pairs[key].get(k) for k in (
                    "rows", "train_mape_pct", "cv_mape_pct", "lolo_mape_pct", "loho_mape_pct")}
                | {"at_bound": list(pairs[key].get("at_bound", []))}
                for key in sorted(pairs) if key.split("/")[1] == n}
        out[n] = {"title": e.title, "version": e.version, "batching": e.batching,
                  "other_calibration": _OTHER_CALIBRATION.get(n),
                  "max_num_seqs": e.max_num_seqs, "max_num_batched_tokens": e.max_num_batched_tokens,
                  "single_sequence": e.single_sequence, "layer_split": e.layer_split,
                  "notes": list(e.notes), "fitted_on": fits}
    if as_json or name:
        typer.echo(json.dumps(out, indent=2, sort_keys=True))
        return
    table = Table("engine", "batching", "max seqs", "token budget", "fitted on (leave-one-model-out MAPE %)",
                  "constants on a physical bound")
    for n, e in out.items():
        budget = "default" if e["max_num_batched_tokens"] is None else (
            "unlimited" if e["max_num_batched_tokens"] >= 1 << 30 else str(e["max_num_batched_tokens"]))
        fitted = ", ".join(f"{h} ({f['cv_mape_pct'] if f['cv_mape_pct'] is not None else '-'})"
                           for h, f in e["fitted_on"].items()) or e["other_calibration"] or "-"
        table.add_row(n, e["batching"] + (", one sequence" if e["single_sequence"] else ""),
                      "default" if e["max_num_seqs"] is None else str(e["max_num_seqs"]), budget,
                      fitted, _bounds(e["fitted_on"]))
    Console(width=200).print(table)


def _bounds(fitted_on: dict[str, Any]) -> str:
    """``hardware: constant (floor|ceiling), ...`` for the fitted constants on a physical bound."""
    def short(b: str) -> str:  # "name=value (floor)" -> "name floor"
        return b.split("=")[0] + " " + b.rsplit("(", 1)[-1].rstrip(")")
    return "; ".join(f"{h}: {', '.join(short(b) for b in f['at_bound'])}"
                     for h, f in fitted_on.items() if f["at_bound"]) or "-"


def _plain_formatter() -> Any:
    """Tick labels as plain numbers (20, 500, not 2x10^1); matplotlib imported on use."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: f"{value:g}")


def decode_batch_limit(m: TableCostModel, context_tokens: int) -> int:
    """The largest decode batch the plot draws for ``m`` at ``context_tokens`` per sequence: the
    table's batch limit, capped by how many such sequences fit in the KV memory."""
    kv_tokens, _ = _kv_limits(m)
    if kv_tokens is None:
        return m.max_batch_size
    return min(m.max_batch_size, kv_tokens // context_tokens)


def _kv_limits(m: TableCostModel) -> tuple[int | None, int | None]:
    """KV tokens one instance of the table's shape holds beside the weights, and the longest
    prompt it serves (the context, capped by the KV memory); None for hardware the catalog
    does not know."""
    try:
        kv = kv_capacity_tokens(hardware=m.hardware, model=m.model_name, dtype=m.dtype,
                                tensor_parallel=m.tensor_parallel)
        context = max_context_tokens(hardware=m.hardware, model=m.model_name)
    except InputError:
        return None, None
    return kv, min(kv, context)


def _figure(*grid: int, figsize: tuple[float, float]) -> tuple[Any, Any]:
    """A figure and its axes on an Agg canvas of its own: files only, no backend chosen, nothing
    left open in pyplot. matplotlib is imported here, not at import time: every other `sim`
    command starts ~0.2 s sooner."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(*grid)


@app.command("plot")
@cli_errors
def plot_cmd(
    names: Annotated[list[str], typer.Argument(help="Table stems or .parquet paths")],
    out: Annotated[Path, typer.Option("-o", "--out", "--output",
                                      help="PNG file to write (--output: the old name)")],
    context: Annotated[int, typer.Option(help="Decode context tokens per sequence")] = 1024,
) -> None:
    """Prefill latency vs prompt length; decode step time and throughput vs batch size."""
    if out.suffix.lower() != ".png":
        raise InputError("-o/--out must be a .png file", path=out)
    models = [load_table(table_path(n)) for n in names]
    fig, axes = _figure(1, 3, figsize=(16, 6.2))
    colors = [f"C{i % 10}" for i in range(len(models))]  # one colour per table in every panel
    # tables that coincide stay visible (dash patterns); "--" is kept for measured tables
    styles = ["-", "-.", ":", (0, (3, 1, 1, 1, 1, 1))]
    for k, (m, color) in enumerate(zip(models, colors)):
        engine = m.meta.get("engine", "")
        ctx = min(context, int(m.decode.max_tokens))
        kv_tokens, max_context = _kv_limits(m)
        fits = decode_batch_limit(m, ctx)
        label = (f"{m.hardware} {m.model_name} {m.dtype} {engine} ({m.source.value}; "
                 + (f"up to batch {fits})" if kv_tokens is not None else "KV limit unknown)"))
        ls = "--" if m.source.value == "measured" else styles[k % len(styles)]
        tokens = m.prefill.tokens[1:]
        if max_context is not None:  # no prompt longer than the context or the KV memory
            tokens = tokens[tokens <= max_context]
        ttft = [m.prefill_time_s(np.array([int(t)]), np.array([0])) for t in tokens]
        axes[0].plot(tokens, np.array(ttft) * 1e3, marker="o", ms=3, ls=ls, color=color, label=label)
        if fits < 1:
            continue  # not one sequence of this context fits: no decode curve
        batches = np.arange(1, fits + 1)  # only the batches whose KV fits beside the weights
        steps = np.array([m.decode_step_times_s(int(b), np.array([ctx]))[0] for b in batches])
        if len(batches) == 1:  # no batching (Groq): a point, and a dashed level to compare against
            axes[1].plot(batches, steps * 1e3, marker="o", ls="", color=color)
            axes[1].axhline(steps[0] * 1e3, color=color, ls="--", lw=1)
            axes[2].axhline(1 / steps[0], color=color, ls="--", lw=1)
            axes[2].plot(batches, batches / steps, marker="o", ls="", color=color)
        else:
            axes[1].plot(batches, steps * 1e3, ls=ls, color=color)
            axes[2].plot(batches, batches / steps, ls=ls, color=color)
            for ax, y in ((axes[1], steps[-1] * 1e3), (axes[2], fits / steps[-1])):
                ax.plot([fits], [y], marker="|", markersize=14, mew=2, color=color)
    axes[0].set(xscale="log", yscale="log", xlabel="prompt tokens (batch 1)",
                ylabel="prefill latency (ms)", title="Prefill (TTFT compute part)")
    axes[1].set(xscale="log", yscale="log", xlabel="decode batch size",
                ylabel="decode step time (ms)",
                title=f"Decode step (context {context}); | = largest batch whose KV fits")
    axes[2].set(xscale="log", yscale="log", xlabel="decode batch size",
                ylabel="tokens / s", title=f"Decode throughput (context {context})")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        for axis in (ax.xaxis, ax.yaxis):  # plain numbers (20, 500), not 2x10^1
            axis.set_major_formatter(_plain_formatter())
    # one legend for the three panels, below them
    handles, labels = axes[0].get_legend_handles_labels()
    ncol = min(len(models), 3)
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    rows = -(-len(models) // ncol)
    fig.tight_layout(rect=(0, 0.045 * rows + 0.01, 1, 1))
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    typer.echo(f"wrote {out}")
