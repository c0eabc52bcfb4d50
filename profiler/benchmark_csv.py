"""End-to-end benchmark results to fit on: our small CSV format, or LLM-Inference-Bench's.

**Our format** (one row per measured run; catalog names, ``sim profiles hardware/models``,
``phasesim.simulator.catalog.engines``)::

    hardware,engine,model,tp,input_len,output_len,batch_size,latency_s[,ttft_s]
    h100-sxm,vllm,llama3-8b,1,1024,1024,32,13.43,

``batch_size`` prompts of ``input_len`` tokens submitted at once, each generating ``output_len``
tokens, on one instance of ``tp`` devices; ``latency_s`` until the whole batch is done; optional
``ttft_s`` until every request had its first token (blank where not measured). For a
single-sequence engine (llama.cpp) ``batch_size`` is llama-bench's ``-b`` (prompt chunk), not
concurrency. Other columns are kept.

**LLM-Inference-Bench**: its ``All_results.csv`` (``Hardware, Num of Hardware, Framework, Model,
Input Output Length, Batch Size, Latency, ...``) or the condensed copy shipped in
``simulator/tables/reference/llm_inference_bench.csv``; labels are mapped with
``profiler.bench_data``'s dicts. Rows whose labels have no catalog name are not fitted and are
counted (:class:`BenchmarkRows` ``unmapped``); nothing is dropped silently.

One rule for every format: counts (``tp``, lengths, batch) are whole numbers >= 1 as written
(``1.5`` is an error, never TP 1), times are finite numbers > 0, and a Llama-2-7B row is refused
(``bench_data.WITHHELD_MODELS`` / ``WITHHELD_CATALOG_MODELS``: the model our predictions are
checked on, so no calibration may see it). A malformed file or row is an :class:`InputError`
naming the file, the row (1 = first data row) and the column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from phasesim.csv_cells import read_csv_cells
from phasesim.errors import InputError
from phasesim.profiler import bench_data
from phasesim.simulator.catalog.engines import get_engine
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import get_model

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
        return _from_bench(bench_data.load_bench_data(path), path, "llm-inference-bench (condensed)")
    if all(c in frame.columns for c in _RAW_COLUMNS):
        return _from_raw(frame, path)
    if "hardware" in frame.columns or "engine" in frame.columns:
        return _ours(frame, path)
    raise InputError("neither our benchmark format (hardware, engine, model, tp, input_len, "
                     "output_len, batch_size, latency_s) nor LLM-Inference-Bench's All_results.csv",
                     path=path)


def _number(path: Path, i: int, column: str, raw: str, *, whole: bool, optional: bool = False
            ) -> float:
    if optional and raw.strip() == "":
        return float("nan")
    try:
        value = float(raw)
        if not math.isfinite(value) or value <= 0 or (whole and value != int(value)):
            raise ValueError
    except ValueError:
        kind = "a whole number >= 1" if whole else "a number > 0"
        raise InputError(f"must be {kind}, got {raw!r}", path=path, row=i, column=column) from None
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


def _ours(frame: pd.DataFrame, path: Path) -> BenchmarkRows:
    missing = [c for c in OUR_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"lacks column(s) {', '.join(missing)}", path=path, column=missing[0])
    if frame.empty:
        raise InputError("no rows", path=path)
    out = frame.copy()
    ints = {c: np.zeros(len(frame), dtype=np.int64) for c in ("tp", "input_len", "output_len", "batch_size")}
    lat = np.zeros(len(frame))
    ttft = np.full(len(frame), np.nan)
    for i, r in enumerate(frame.itertuples(index=False), start=1):
        for column, lookup in (("hardware", get_hardware), ("engine", get_engine), ("model", get_model)):
            try:
                lookup(str(getattr(r, column)).strip())
            except InputError as exc:
                raise InputError(exc.message, path=path, row=i, column=column) from None
        if str(r.model).strip() in bench_data.WITHHELD_CATALOG_MODELS:
            raise _withheld(path, i, "model", str(r.model).strip())
        for column in ints:
            ints[column][i - 1] = int(_number(path, i, column, getattr(r, column), whole=True))
        lat[i - 1] = _number(path, i, "latency_s", r.latency_s, whole=False)
        if "ttft_s" in frame.columns:
            ttft[i - 1] = _number(path, i, "ttft_s", r.ttft_s, whole=False, optional=True)
    for c in ("hardware", "engine", "model"):
        out[c] = frame[c].str.strip()
    for c, v in ints.items():
        out[c] = v
    out["latency_s"] = lat
    out["ttft_s"] = ttft
    single = np.array([get_engine(e).single_sequence for e in out["engine"]])
    out["requests"] = np.where(single, 1, out["batch_size"]).astype(np.int64)
    out["source"] = [f"{path.name}:{i + 2}" for i in range(len(out))]
    return BenchmarkRows(rows=out, unmapped={}, format="phasesim")


def _from_raw(frame: pd.DataFrame, path: Path) -> BenchmarkRows:
    if frame.empty:
        raise InputError("no rows", path=path)
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
    tmp = pd.DataFrame(rows, columns=list(bench_data.COLUMNS))
    engines = [bench_data.ENGINE_OVERRIDES.get((h, e), bench_data.ENGINE_NAMES.get(e, ""))
               for h, e in zip(tmp["hardware_label"], tmp["engine_label"], strict=True)]
    mapped = tmp.assign(hardware=tmp["hardware_label"].map(bench_data.HARDWARE_NAMES).fillna(""),
                        engine=engines, model=tmp["model_label"].map(bench_data.MODEL_NAMES).fillna(""))
    mapped["requests"] = np.where(mapped["engine"] == "llama.cpp", 1, mapped["batch_size"]).astype(np.int64)
    return _from_bench(mapped, path, "llm-inference-bench (All_results.csv)")


def _from_bench(frame: pd.DataFrame, path: Path, fmt: str) -> BenchmarkRows:
    counts = bench_data.unmapped_counts(frame)
    unmapped = {f"{col}: {label}": n for col, labels in counts.items() for label, n in labels.items()}
    return BenchmarkRows(rows=bench_data.calibration_rows(frame).reset_index(drop=True),
                         unmapped=unmapped, format=fmt)
