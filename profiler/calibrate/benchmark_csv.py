"""End-to-end benchmark results to fit on: our small CSV format, or LLM-Inference-Bench's.

**Our format** (one row per measured run; catalog names, ``sim profiles hardware/models``,
``phasesim.simulator.catalog.engines``)::

    hardware,engine,model,tp,input_len,output_len,batch_size,latency_s[,ttft_s][,identical_prompts]
    h100-sxm,vllm,llama3-8b,1,1024,1024,32,13.43,

``batch_size`` prompts of ``input_len`` tokens submitted at once, each generating ``output_len``
tokens, on one instance of ``tp`` devices; ``latency_s`` until the whole batch is done; optional
``ttft_s`` until every request had its first token (blank where not measured). For a
single-sequence engine (llama.cpp) ``batch_size`` is llama-bench's ``-b`` (prompt chunk), not
concurrency. Optional ``identical_prompts`` (``true``/``false``, ``1``/``0``; blank or absent:
false): the batch was ``batch_size`` copies of one prompt decoded greedily, so a mixture of
experts routed every copy alike (``roofline.routed_tokens``). Other columns are kept.

**LLM-Inference-Bench**: its ``All_results.csv`` (``Hardware, Num of Hardware, Framework, Model,
Input Output Length, Batch Size, Latency, ...``) or the condensed copy shipped in
``simulator/tables/reference/llm_inference_bench.csv``; labels are mapped with
``profiler.calibrate.bench_data``'s dicts. Rows whose labels have no catalog name are not fitted and are
counted (:class:`BenchmarkRows` ``unmapped``); nothing is dropped silently.

A malformed file or row is an :class:`InputError` naming the file, the row (1 = first data row)
and the column, in every format: counts are whole numbers >= 1, times finite numbers > 0, each
within a stated bound (TP: ``MAX_TENSOR_PARALLEL``; lengths: ``MAX_CONTEXT_TOKENS``; the run's
size: ``check_benchmark_size``; times: the simulator's horizon), checked before any fitting.
In our format a row's shape is checked as ``sim latency`` checks its rows
(``RunShape.from_cells``), and (written by the user) its instance must also exist: a TP degree
the catalog refuses (not dividing the model's heads, > 1 on a GroqRack) or too few devices to
hold the weights (a 70B model at TP 1) is an error at that row's ``tp``. In
LLM-Inference-Bench's data, measured runs the simulator cannot shape are the fit's to leave out
and count (``engine_calibrate.usable_rows``). ``1.5`` is an error, never TP 1; and a Llama-2-7B
row is refused in every format (``bench_data.WITHHELD_MODELS`` / ``WITHHELD_CATALOG_MODELS``: the model
our predictions are checked on, so no calibration may see it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from phasesim.csv_cells import flag_cell, read_csv_cells
from phasesim.errors import InputError
from phasesim.profiler.calibrate import bench_data
from phasesim.simulator.apps.latency import MAX_BENCHMARK_REQUESTS, RunShape, check_benchmark_size
from phasesim.simulator.catalog.engines import get_engine
from phasesim.simulator.catalog.models import MAX_CONTEXT_TOKENS
from phasesim.simulator.costs.capacity import kv_capacity_tokens
from phasesim.simulator.topology import MAX_TENSOR_PARALLEL
from phasesim.units import MAX_TIME_S

__all__ = ["OUR_COLUMNS", "BenchmarkRows", "read_benchmark_csv"]

OUR_COLUMNS = ("hardware", "engine", "model", "tp", "input_len", "output_len", "batch_size",
               "latency_s")
_RAW_COLUMNS = ("Hardware", "Num of Hardware", "Framework", "Model", "Input Output Length",
                "Batch Size", "Latency")


@dataclass(frozen=True, slots=True)
class BenchmarkRows:
    """Rows ready to fit (columns of our format plus ``requests`` and ``source``), and the
    count of rows left out because a label has no catalog name, by label."""

    rows: pd.DataFrame
    unmapped: dict[str, int]
    format: str


def read_benchmark_csv(path: Path) -> BenchmarkRows:
    path = Path(path)
    frame = read_csv_cells(path)
    frame.columns = [c.strip() for c in frame.columns]
    if all(c in frame.columns for c in bench_data.COLUMNS):
        _check_condensed(frame, path)
        _check_cells(frame, path, {"tp": "tp", "input_len": "input_len", "output_len": "output_len",
                                   "batch_size": "batch_size", "latency_s": "latency_s",
                                   "ttft_s": "ttft_s", "avg_power_w": "avg_power_w"})
        return _from_bench(bench_data.load_bench_data(path), path, "llm-inference-bench (condensed)")
    if all(c in frame.columns for c in _RAW_COLUMNS):
        return _from_raw(frame, path)
    if "hardware" in frame.columns or "engine" in frame.columns:
        return _ours(frame, path)
    raise InputError("neither our benchmark format (hardware, engine, model, tp, input_len, "
                     "output_len, batch_size, latency_s) nor LLM-Inference-Bench's All_results.csv",
                     path=path)


# column -> (whole number?, blank allowed?, bound), for the columns of our format
_LIMITS = {"tp": (True, False, MAX_TENSOR_PARALLEL), "input_len": (True, False, MAX_CONTEXT_TOKENS),
           "output_len": (True, False, MAX_CONTEXT_TOKENS),
           "batch_size": (True, False, MAX_BENCHMARK_REQUESTS),
           "latency_s": (False, False, MAX_TIME_S), "ttft_s": (False, True, MAX_TIME_S),
           "avg_power_w": (False, True, 1e9)}


def _number(path: Path, i: int, column: str, raw: str, *, whole: bool, optional: bool = False,
            most: float = math.inf) -> float:
    if optional and str(raw).strip() == "":
        return float("nan")
    try:
        value = float(raw)
        if not math.isfinite(value) or value <= 0 or (whole and value != int(value)):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        kind = "a whole number >= 1" if whole else "a number > 0"
        raise InputError(f"must be {kind}, got {str(raw)[:40]!r}", path=path, row=i,
                         column=column) from None
    if value > most:
        raise InputError(f"{raw} is more than {most:,.0f}, the most this column may hold",
                         path=path, row=i, column=column)
    return value


def _withheld(path: Path, i: int, column: str, label: str) -> InputError:
    return InputError(f"{label!r}: Llama-2-7B rows are withheld from every calibration (the "
                      "model our predictions are checked on); remove them", path=path, row=i,
                      column=column)


# condensed columns checked cell by cell (load_bench_data's casts would truncate 1.5 to 1 and
# take -1 s): column -> (whole number, optional)
_CONDENSED_NUMBERS = {"tp": (True, False), "input_len": (True, False), "output_len": (True, False),
                      "batch_size": (True, False), "latency_s": (False, False),
                      "ttft_s": (False, True), "avg_power_w": (False, True)}


def _check_condensed(frame: pd.DataFrame, path: Path) -> None:
    if frame.empty:
        raise InputError("no rows", path=path)
    for i, r in enumerate(frame.to_dict("records"), start=1):
        for column, (whole, optional) in _CONDENSED_NUMBERS.items():
            _number(path, i, column, r[column], whole=whole, optional=optional)
        if r["model_label"].strip() in bench_data.WITHHELD_MODELS:
            raise _withheld(path, i, "model_label", r["model_label"].strip())


def _checked(path: Path, i: int, column: str, raw: str, kind: str) -> float:
    """The cell ``raw`` of ``column`` read as the column ``kind`` of our format (``_LIMITS``)."""
    whole, optional, most = _LIMITS[kind]
    return _number(path, i, column, raw, whole=whole, optional=optional, most=most)


def _check_size(path: Path, i: int, names: dict[str, str], lengths: tuple[int, int, int]) -> None:
    try:
        check_benchmark_size(input_len=lengths[0], output_len=lengths[1], batch_size=lengths[2])
    except InputError as exc:
        raise InputError(exc.message, path=path, row=i,
                         column=names.get(exc.column or "", exc.column)) from None


def _check_cells(frame: pd.DataFrame, path: Path, names: dict[str, str]) -> None:
    """Check every numeric cell of a file in another format, before any of it is converted:
    ``names`` maps our column (``_LIMITS``) to the file's."""
    for i, row in enumerate(frame[list(dict.fromkeys(names.values()))].to_dict("records"), start=1):
        values = {kind: _checked(path, i, column, row[column], kind)
                  for kind, column in names.items()}
        _check_size(path, i, names, (int(values["input_len"]), int(values["output_len"]),
                                     int(values["batch_size"])))


def _ours(frame: pd.DataFrame, path: Path) -> BenchmarkRows:
    missing = [c for c in OUR_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"lacks column(s) {', '.join(missing)}", path=path, column=missing[0])
    if frame.empty:
        raise InputError("no rows", path=path)
    shapes = []
    lat = np.zeros(len(frame))
    ttft = np.full(len(frame), np.nan)
    same = np.zeros(len(frame), dtype=bool)
    for i, r in enumerate(frame.to_dict("records"), start=1):
        try:  # names in the catalog, counts whole numbers, the run's size bounded
            shape = RunShape.from_cells(r)
        except InputError as exc:
            if exc.path is not None:  # a config.json's own fault keeps its file and key
                raise
            raise InputError(exc.message, path=path, row=i, column=exc.column) from None
        if shape.model in bench_data.WITHHELD_CATALOG_MODELS:
            raise _withheld(path, i, "model", shape.model)
        try:  # the instance exists: TP divides the heads, its devices hold the weights
            kv_capacity_tokens(hardware=shape.hardware, model=shape.model,
                               tensor_parallel=shape.tensor_parallel, engine=shape.engine)
        except InputError as exc:
            raise InputError(exc.message, path=path, row=i, column="tp") from None
        shapes.append(shape)
        lat[i - 1] = _checked(path, i, "latency_s", r["latency_s"], "latency_s")
        same[i - 1] = flag_cell(r.get("identical_prompts", ""), path=path, row=i,
                                column="identical_prompts")
        if "ttft_s" in frame.columns:
            ttft[i - 1] = _checked(path, i, "ttft_s", r["ttft_s"], "ttft_s")
    out = frame.copy()
    for column, field in (("hardware", "hardware"), ("engine", "engine"), ("model", "model"),
                          ("tp", "tensor_parallel"), ("input_len", "input_len"),
                          ("output_len", "output_len"), ("batch_size", "batch_size")):
        out[column] = [getattr(shape, field) for shape in shapes]
    out["latency_s"] = lat
    out["ttft_s"] = ttft
    out["identical_prompts"] = same
    single = np.array([get_engine(e).single_sequence for e in out["engine"]])
    out["requests"] = np.where(single, 1, out["batch_size"]).astype(np.int64)
    out["source"] = [f"{path.name}:{i + 2}" for i in range(len(out))]
    return BenchmarkRows(rows=out, unmapped={}, format="phasesim")


def _from_raw(frame: pd.DataFrame, path: Path) -> BenchmarkRows:
    if frame.empty:
        raise InputError("no rows", path=path)
    _check_cells(frame, path, {"tp": "Num of Hardware", "input_len": "Input Output Length",
                               "output_len": "Input Output Length", "batch_size": "Batch Size",
                               "latency_s": "Latency"})
    rows = []
    for i, r in enumerate(frame.to_dict("records"), start=1):
        if r["Model"].strip() in bench_data.WITHHELD_MODELS:
            raise _withheld(path, i, "Model", r["Model"].strip())
        n = int(_number(path, i, "Input Output Length", r["Input Output Length"], whole=True))
        rows.append({
            "hardware_label": r["Hardware"].strip(),
            "tp": int(_number(path, i, "Num of Hardware", r["Num of Hardware"], whole=True)),
            "engine_label": r["Framework"].strip(), "model_label": r["Model"].strip(),
            "input_len": n, "output_len": n,
            "batch_size": int(_number(path, i, "Batch Size", r["Batch Size"], whole=True)),
            "latency_s": _number(path, i, "Latency", r["Latency"], whole=False),
            "ttft_s": np.nan, "avg_power_w": np.nan, "power_unit": "",
            "source": f"{path.name}:{i + 1}", "ttft_source": "", "power_source": ""})
    mapped = bench_data.add_catalog_names(pd.DataFrame(rows, columns=list(bench_data.COLUMNS)))
    return _from_bench(mapped, path, "llm-inference-bench (All_results.csv)")


def _from_bench(frame: pd.DataFrame, path: Path, fmt: str) -> BenchmarkRows:
    counts = bench_data.unmapped_counts(frame)
    unmapped = {f"{col}: {label}": n for col, labels in counts.items() for label, n in labels.items()}
    return BenchmarkRows(rows=bench_data.calibration_rows(frame).reset_index(drop=True),
                         unmapped=unmapped, format=fmt)
