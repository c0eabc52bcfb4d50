"""`sim latency`: what a latency benchmark would show, for one run shape or a CSV of them.

One shape: ``--hardware H --model M [--tp N] [--engine E] --input-len N --output-len N
--batch-size B``; prints latency_s, ttft_s, tpot_s and throughput (``--json``: one JSON object).
A CSV (``--from-csv IN.csv -o OUT.csv``): IN has columns ``hardware, model, tp, input_len,
output_len, batch_size`` and any others; an ``engine`` column, where a row has one, is that row's
engine (else ``--engine``, else the hardware's default: vLLM on GPUs, Groq on GroqRack); an
``identical_prompts`` column (true/false, blank false), where a row says true, prices that row as
``--identical-prompts`` does. OUT is
IN, every cell as read, plus ``latency_s, ttft_s, tpot_s, throughput_tokens_per_s, energy_j,
avg_power_w, cost_table`` and the 80 % prediction intervals ``latency_p10_s, latency_p90_s,
ttft_p10_s, ttft_p90_s, tpot_p10_s, tpot_p90_s`` per row, in order (``phasesim.simulator.
intervals``: the pair's leave-one-model-out residual quantiles for the shape's regime, widened
outside the pair's calibration support; NaN for a pair without fitted intervals). One
``warning:`` line names what of the shapes lies outside the support, one the pairs without
intervals. A bad row stops the command with one ``error:`` line
naming the row (1 = the first data row) and the column; nothing is written.

The computation is :func:`phasesim.simulator.apps.latency.latency_benchmark` (the engine's scheduling;
a single-sequence engine such as llama.cpp reads the batch size as its prompt chunk); the table
each shape runs on is :func:`phasesim.simulator.costs.resolve.resolve_table`'s for the engine (a
shipped table of that engine at TP 1 where there is one, else an analytical one built for that
engine and TP, with one ``warning:`` line per uncalibrated hardware and engine).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from phasesim.atomic import atomic_path
from phasesim.cli.cost_tables import UncalibratedWarnings
from phasesim.cli.errors import cli_errors
from phasesim.cli.options import known
from phasesim.csv_cells import flag_cell, read_csv_cells
from phasesim.errors import InputError
from phasesim.output_check import check_writable
from phasesim.simulator.apps.latency import LatencyResult, RunShape, latency_benchmark
from phasesim.simulator.catalog.engines import get_engine
from phasesim.simulator.catalog.models import DTYPE_BYTES, get_model
from phasesim.simulator.costs.resolve import ResolvedTable, resolve_table
from phasesim.simulator.costs.roofline import pair_key, read_engine_calibration
from phasesim.simulator.intervals import (
    NOMINAL,
    SUPPORT_DIMENSIONS,
    ShapeIntervals,
    pair_entry,
    shape_intervals,
)

__all__ = ["CSV_INPUTS", "CSV_OUTPUTS", "INTERVAL_OUTPUTS", "IntervalNotes", "app", "latency"]

app = typer.Typer(help="latency benchmark", no_args_is_help=True, pretty_exceptions_enable=False)

CSV_INPUTS = ("hardware", "model", "tp", "input_len", "output_len", "batch_size")
INTERVAL_OUTPUTS = ("latency_p10_s", "latency_p90_s", "ttft_p10_s", "ttft_p90_s", "tpot_p10_s",
                    "tpot_p90_s")
CSV_OUTPUTS = ("latency_s", "ttft_s", "tpot_s", "throughput_tokens_per_s", "energy_j",
               "avg_power_w", "cost_table", *INTERVAL_OUTPUTS)
_SHOWN_VALUES = 3  # per pair and dimension in the outside-support warning


@dataclass(slots=True)
class IntervalNotes:
    """Each shape's 80 % prediction intervals (``phasesim.simulator.intervals``; its pair's
    calibration entry read once per pair) and the warning lines of one run, printed once its work
    succeeded: ONE line naming what of the shapes lies outside their pairs' calibration support
    (their intervals widened), ONE naming the pairs without intervals (NaN)."""

    calibration: str | None
    entries: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    outside: dict[str, dict[str, tuple[set[str], str]]] = field(default_factory=dict)
    outside_rows: int = 0
    rows: int = 0
    missing: dict[str, str] = field(default_factory=dict)

    def intervals(self, resolved: ResolvedTable, shape: RunShape,
                  result: LatencyResult) -> tuple[str, ShapeIntervals]:
        """(pair key, the shape's intervals); NaN where the pair has none (noted)."""
        key = pair_key(resolved.hardware, resolved.engine)
        if key not in self.entries:
            self.entries[key] = pair_entry(hardware=resolved.hardware, engine=resolved.engine,
                                           table_meta=resolved.cost_model.meta,
                                           calibration=self.calibration)
        entry = self.entries[key]
        if entry is None:
            self.missing.setdefault(key, "uncalibrated" if resolved.uncalibrated is not None else
                                    f"cost table {resolved.cost_model.name} has no fitted "
                                    "intervals for this pair")
            return key, ShapeIntervals.missing()
        return key, shape_intervals(
            entry, model=get_model(shape.model), tensor_parallel=shape.tensor_parallel,
            batch_size=shape.batch_size, input_len=shape.input_len, output_len=shape.output_len,
            latency_s=result.latency_s, ttft_s=result.ttft_s, tpot_s=result.tpot_s)

    def record(self, key: str, intervals: ShapeIntervals) -> None:
        """Count one output row (a CSV row or the one shape) and what of it lies outside."""
        self.rows += 1
        if intervals.outside:
            self.outside_rows += 1
        for o in intervals.outside:
            values, _ = self.outside.setdefault(key, {}).setdefault(o.dimension, (set(), o.calibrated))
            values.add(o.value)

    def lines(self) -> list[str]:
        out = []
        if self.outside:
            parts = []
            for key in sorted(self.outside):
                dims = []
                for dimension in SUPPORT_DIMENSIONS:
                    if dimension not in self.outside[key]:
                        continue
                    values, calibrated = self.outside[key][dimension]
                    shown = sorted(values, key=lambda v: (len(v), v))
                    more = len(shown) - _SHOWN_VALUES
                    text = ", ".join(shown[:_SHOWN_VALUES]) + (f" (+{more} more)" if more > 0 else "")
                    dims.append(f"{text} (calibrated: {calibrated})")
                parts.append(f"{key}: {', '.join(dims)}")
            what = "the shape" if self.rows == 1 else f"{self.outside_rows} of {self.rows} rows"
            out.append(f"warning: {what} outside the calibration support, prediction intervals "
                       f"widened: {'; '.join(parts)}")
        if self.missing:
            out.append("warning: no prediction intervals (NaN) for " + "; ".join(
                f"{key} ({why})" for key, why in sorted(self.missing.items())))
        return out


@app.command("latency")
@cli_errors
def latency(
    hardware: str | None = typer.Option(None, "--hardware", "--gpu", show_default=False,
                                        help="Hardware (catalog name; sim profiles hardware)."),
    model: str | None = typer.Option(None, "--model", show_default=False, help="Model."),
    engine: str | None = typer.Option(None, "--engine", show_default="the hardware's", help=(
        "Serving engine (its scheduling and cost table); vllm on GPUs, groq on GroqRack. With "
        "--from-csv: rows without an engine of their own.")),
    tp: int = typer.Option(1, "--tp", help="Tensor-parallel degree (devices in the instance)."),
    input_len: int | None = typer.Option(None, "--input-len", show_default=False,
                                         help="Prompt tokens of each request."),
    output_len: int | None = typer.Option(None, "--output-len", show_default=False,
                                          help="Tokens generated by each request."),
    batch_size: int | None = typer.Option(None, "--batch-size", show_default=False,
                                          help="Requests submitted at once."),
    dtype: str = typer.Option("fp16", "--dtype", help="Weights/KV dtype (every row of a CSV)."),
    calibration: Path | None = typer.Option(None, "--calibration", show_default=False, help=(
        "Engine constants from `profiler fit BENCH.csv -o C.json`: the (hardware, engine) "
        "pairs it holds are built from it instead of the shipped calibration.")),
    from_csv: Path | None = typer.Option(None, "--from-csv", show_default=False, help=(
        "CSV of run shapes (columns hardware, model, tp, input_len, output_len, batch_size; "
        "an engine column: per row; others kept).")),
    out: Path | None = typer.Option(None, "--out", "-o", show_default=False,
                                    help="Output CSV (with --from-csv)."),
    json_output: bool = typer.Option(False, "--json/--no-json",
                                     help="Print one JSON object (one shape)."),
    identical_prompts: bool = typer.Option(False, "--identical-prompts", help=(
        "The batch is B copies of one prompt decoded alike (as LLM-Inference-Bench's TensorRT-LLM "
        "and DeepSpeed scripts send): a mixture of experts then routes every copy to the same "
        "experts (a dense model is unchanged). With --from-csv: every row.")),
) -> None:
    """Predict a latency benchmark: B prompts at once on one instance, the engine's batching."""
    if calibration is not None:
        read_engine_calibration(calibration)  # a bad file fails before any work
    cal = None if calibration is None else str(calibration)
    if dtype not in DTYPE_BYTES:
        raise InputError(f"--dtype: unknown dtype '{dtype}' (known: {', '.join(sorted(DTYPE_BYTES))})")
    known(get_engine, engine, "--engine")
    warnings = UncalibratedWarnings(emit=lambda line: typer.echo(line, err=True))
    notes = IntervalNotes(calibration=cal)
    if from_csv is not None:
        given = [name for name, value in (("--hardware", hardware), ("--model", model),
                                          ("--input-len", input_len), ("--output-len", output_len),
                                          ("--batch-size", batch_size)) if value is not None]
        if given:
            raise InputError(f"{given[0]}: not with --from-csv (the CSV gives every row's shape)")
        if out is None:
            raise InputError("--from-csv needs -o/--out")
        check_writable(out, option="-o/--out")
        _from_csv(from_csv, out, dtype, engine, warnings, notes, cal, identical_prompts)
        warnings.flush()
        for line in notes.lines():
            typer.echo(line, err=True)
        return
    if out is not None:
        raise InputError("-o/--out: only with --from-csv")
    missing = [name for name, value in (("--hardware", hardware), ("--model", model),
                                        ("--input-len", input_len), ("--output-len", output_len),
                                        ("--batch-size", batch_size)) if value is None]
    if missing:
        raise InputError(f"{missing[0]}: required (or --from-csv)")
    values = {"hardware": hardware, "model": model, "tp": tp, "input_len": input_len,
              "output_len": output_len, "batch_size": batch_size, "engine": engine}
    shape = _shape(values, dtype, where=lambda column: {"column": None}, option=True)
    result, table, resolved_engine, pair, intervals = _run(
        shape, where=lambda column: {}, warnings=warnings, notes=notes, calibration=cal,
        identical_prompts=identical_prompts)
    notes.record(pair, intervals)
    warnings.flush()
    for line in notes.lines():
        typer.echo(line, err=True)
    payload = {"hardware": shape.hardware, "model": shape.model, "dtype": shape.dtype,
               "engine": resolved_engine, "tp": shape.tensor_parallel, "input_len": shape.input_len,
               "output_len": shape.output_len, "batch_size": shape.batch_size,
               **_outputs(result, table, intervals)}
    if json_output:
        typer.echo(json.dumps(payload, indent=2))
        return
    runs = (f"1 sequence, prompt in chunks of <= {shape.batch_size} tokens"
            if get_engine(resolved_engine).single_sequence else f"{shape.batch_size} x")
    typer.echo(f"{runs} ({shape.input_len} in, {shape.output_len} out) on "
               f"{shape.hardware} x{shape.tensor_parallel}, {shape.model} {shape.dtype}, "
               f"{resolved_engine} (table {table})")
    nominal = f"{NOMINAL * 100:.0f} %"
    for label, value, lo, hi in (
            ("latency_s", result.latency_s, intervals.latency_p10_s, intervals.latency_p90_s),
            ("ttft_s", result.ttft_s, intervals.ttft_p10_s, intervals.ttft_p90_s),
            ("tpot_s", result.tpot_s, intervals.tpot_p10_s, intervals.tpot_p90_s)):
        span = "" if math.isnan(lo) else f"   ({nominal} interval {lo:.6g} - {hi:.6g})"
        typer.echo(f"{label:<11} {value:.6g}{span}")
    typer.echo(f"throughput  {result.throughput_tokens_per_s:,.1f} tokens/s "
               "((input + output) x batch / latency)")
    if result.energy_j is not None:
        typer.echo(f"energy_j    {result.energy_j:.6g} ({result.avg_power_w:,.0f} W on average)")


def _outputs(result: LatencyResult, table: str, intervals: ShapeIntervals) -> dict[str, Any]:
    return {"latency_s": result.latency_s, "ttft_s": result.ttft_s, "tpot_s": result.tpot_s,
            "throughput_tokens_per_s": result.throughput_tokens_per_s,
            "energy_j": result.energy_j, "avg_power_w": result.avg_power_w, "cost_table": table,
            **intervals.columns()}


def _shape(values: dict[str, Any], dtype: str, *, where: Any, option: bool = False) -> RunShape:
    """A validated RunShape (:meth:`RunShape.from_cells`); errors located by ``where(column)``
    (InputError keywords), or by the column's option with ``option``."""
    try:
        return RunShape.from_cells(values, dtype=dtype)
    except InputError as exc:
        if exc.path is not None:  # a config.json's own fault keeps its file and key
            raise
        if option:
            raise InputError(f"--{exc.column.replace('_', '-')}: {exc.message}") from None
        raise InputError(exc.message, **where(exc.column)) from None


def _run(shape: RunShape, *, where: Any, warnings: UncalibratedWarnings, notes: IntervalNotes,
         calibration: str | None = None,
         identical_prompts: bool = False) -> tuple[LatencyResult, str, str, str, ShapeIntervals]:
    """The shape's result, its table's name, its engine, its pair and its intervals
    (:class:`IntervalNotes`; ``identical_prompts``: ``resolve_table``'s); an InputError located by
    ``where(column)``: the instance shape's faults ('tp': does not fit, TP not applicable) or the
    lengths'."""
    try:
        resolved = resolve_table(hardware=shape.hardware, model=shape.model, dtype=shape.dtype,
                                 tensor_parallel=shape.tensor_parallel, engine=shape.engine,
                                 calibration=calibration, identical_prompts=identical_prompts)
        warnings.note(resolved)
        result = latency_benchmark(resolved.cost_model, shape)
    except InputError as exc:
        column = "input_len" if "rejected" in exc.message else "tp"
        raise InputError(exc.message, **where(column)) from None
    key, intervals = notes.intervals(resolved, shape, result)
    return result, resolved.cost_model.name, resolved.engine, key, intervals


def _from_csv(path: Path, out: Path, dtype: str, engine: str | None,
              warnings: UncalibratedWarnings, notes: IntervalNotes,
              calibration: str | None = None, identical_prompts: bool = False) -> None:
    frame = read_csv_cells(path)
    missing = [c for c in CSV_INPUTS if c not in frame.columns]
    if missing:
        raise InputError(f"lacks column(s) {', '.join(missing)}", path=path, column=missing[0])
    clash = [c for c in CSV_OUTPUTS if c in frame.columns]
    if clash:
        raise InputError("already has an output column", path=path, column=clash[0])
    done: dict[tuple[Any, ...], tuple[dict[str, Any], str, ShapeIntervals]] = {}
    rows = []
    inputs = list(CSV_INPUTS) + [c for c in ("engine", "identical_prompts") if c in frame.columns]
    for index, record in enumerate(frame[inputs].to_dict("records"), start=1):
        def where(column: str, row: int = index) -> dict[str, Any]:
            return {"path": path, "row": row, "column": column}
        if not str(record.get("engine") or "").strip():
            record["engine"] = engine  # a row without an engine of its own: --engine's
        cell = flag_cell(record.pop("identical_prompts", ""), path=path, row=index,
                         column="identical_prompts")  # checked even under --identical-prompts
        same = identical_prompts or cell
        shape = _shape(record, dtype, where=where)
        key = (shape.hardware, shape.model, shape.engine, shape.tensor_parallel, shape.input_len,
               shape.output_len, shape.batch_size, same)
        if key not in done:  # a benchmark sweep repeats shapes; the result is a pure function
            result, table, _, pair, intervals = _run(shape, where=where, warnings=warnings,
                                                     notes=notes, calibration=calibration,
                                                     identical_prompts=same)
            done[key] = (_outputs(result, table, intervals), pair, intervals)
        outputs, pair, intervals = done[key]
        notes.record(pair, intervals)
        rows.append(outputs)
    result = pd.concat([frame, pd.DataFrame(rows, columns=list(CSV_OUTPUTS), index=frame.index)],
                       axis=1)
    with atomic_path(out) as tmp:
        result.to_csv(tmp, index=False)
