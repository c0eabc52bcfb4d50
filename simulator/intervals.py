"""Prediction intervals of a calibrated (hardware, engine) pair: regimes, support, widening.

``profiler fit`` (``phasesim.profiler.calibrate.intervals``) stores, per pair of
``engine_calibration.json``, the 10th and 90th percentiles of the leave-one-model-out log
residuals ``log(measured / predicted)`` of the pair's benchmark rows, per regime, and what the
calibration saw (its support). This module is the simulator's side of that contract: the regime
of a run shape, the conformal quantiles, the support check and the widening rule, and the
interval of one ``sim latency`` shape or one replay pool. The nominal coverage is 80 %.

Regimes (:func:`regime_of`): batch ``b1`` (1), ``b2-15``, ``b16+`` crossed with prompt length
``n<=512``, ``n513-1023``, ``n>=1024``, nine in all, named ``"b1 n<=512"`` etc. The batch is the
run's ``batch_size`` as the benchmark states it (for llama.cpp, ``llama-bench -b``, the prompt
chunk: the same column on both sides).

Support (:func:`outside_support`): the attention layouts (``mha``: as many KV heads as query
heads, else ``gqa``), tensor-parallel degrees, batch range, context range (input + output tokens)
and parameter-count range of the models the pair's calibration rows ran. A query is inside a
dimension when its layout or TP degree was seen, or its batch, context or parameter count lies
within the seen range (ends included).

Widening (:meth:`LogInterval.widened`), for a query outside ``d`` of those five dimensions: the
interval first takes in the prediction itself (log ratio 0), then each side's log distance from
the prediction is multiplied by ``WIDEN_FACTOR ** d`` and moved out by ``d * WIDEN_STEP_LOG``::

    lo' = min(lo, 0) * 2**d - d * ln 1.25        hi' = max(hi, 0) * 2**d + d * ln 1.25

so one dimension outside turns a +-5 % interval into about -30 %/+37 %. The constants are an
ASSUMPTION, checked (not tuned) on the shared data's leave-one-model-out rows that fall outside
their pair's support (docs/engine.md, "Prediction intervals").

TPOT has no measured rows in the calibration data: its interval is the latency interval of the
shape's regime (the same relative width), which assumes the decode steps carry the latency error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from phasesim.errors import InputError
from phasesim.simulator.catalog.models import ModelSpec
from phasesim.simulator.costs.roofline import (
    SAME_DIE,
    load_engine_calibration,
    pair_key,
    read_engine_calibration,
)

__all__ = [
    "BATCH_BANDS",
    "CONTEXT_BANDS",
    "MIN_RESIDUALS",
    "NOMINAL",
    "PARAMS_TOLERANCE",
    "REGIMES",
    "SUPPORT_DIMENSIONS",
    "WIDEN_FACTOR",
    "WIDEN_STEP_LOG",
    "LogInterval",
    "Outside",
    "ShapeIntervals",
    "attention_layout",
    "conformal_quantiles",
    "outside_support",
    "pair_entry",
    "pool_step_interval",
    "regime_of",
    "shape_intervals",
]

NOMINAL = 0.8  # two-sided: the 10th and the 90th percentile
MIN_RESIDUALS = 8  # fewer residuals in a regime: it borrows (phasesim.profiler.calibrate.intervals)
WIDEN_FACTOR = 2.0
WIDEN_STEP_LOG = math.log(1.25)
PARAMS_TOLERANCE = 1.25  # a parameter count within this factor of the seen range counts as seen

BATCH_BANDS = ("b1", "b2-15", "b16+")
CONTEXT_BANDS = ("n<=512", "n513-1023", "n>=1024")
REGIMES = tuple(f"{b} {n}" for b in BATCH_BANDS for n in CONTEXT_BANDS)
SUPPORT_DIMENSIONS = ("attention", "tp", "batch_size", "context_tokens", "params")


def regime_of(batch_size: int, input_len: int) -> str:
    """The regime of a run shape (module docstring): ``"b1 n<=512"`` ... ``"b16+ n>=1024"``."""
    b = BATCH_BANDS[0] if batch_size <= 1 else BATCH_BANDS[1] if batch_size < 16 else BATCH_BANDS[2]
    n = (CONTEXT_BANDS[0] if input_len <= 512 else CONTEXT_BANDS[1] if input_len < 1024
         else CONTEXT_BANDS[2])
    return f"{b} {n}"


def attention_layout(model: ModelSpec) -> str:
    """``mha`` when every query head has its own KV head, else ``gqa`` (MQA included)."""
    return "mha" if model.kv_heads == model.heads else "gqa"


def conformal_quantiles(log_residuals: np.ndarray, nominal: float = NOMINAL) -> tuple[float, float]:
    """The split-conformal two-sided bounds of ``log_residuals`` (n values): the
    ``floor(a (n + 1))``-th and ``ceil((1 - a) (n + 1))``-th smallest, ``a = (1 - nominal) / 2``,
    clipped to the smallest and largest value (below n = 9 the upper rank exceeds n: the bound
    is then the sample maximum and the finite-sample guarantee no longer holds)."""
    r = np.sort(np.asarray(log_residuals, dtype=np.float64))
    n = len(r)
    if n == 0:
        raise ValueError("no residuals")
    a = (1.0 - nominal) / 2.0
    eps = 1e-9  # (1 - 0.8) / 2 * 20 is 1.9999999999999996 in floating point, not 2
    lo = min(max(math.floor(a * (n + 1) + eps), 1), n)
    hi = min(max(math.ceil((1.0 - a) * (n + 1) - eps), 1), n)
    return float(r[lo - 1]), float(r[hi - 1])


@dataclass(frozen=True, slots=True, kw_only=True)
class LogInterval:
    """Bounds on ``log(measured / predicted)``: a prediction ``p`` lies in
    ``[p exp(lo_log), p exp(hi_log)]``."""

    lo_log: float
    hi_log: float

    def widened(self, dimensions: int) -> LogInterval:
        """The interval for a query outside ``dimensions`` support dimensions (module docstring)."""
        if dimensions <= 0:
            return self
        scale = WIDEN_FACTOR ** dimensions
        step = dimensions * WIDEN_STEP_LOG
        return LogInterval(lo_log=min(self.lo_log, 0.0) * scale - step,
                           hi_log=max(self.hi_log, 0.0) * scale + step)

    def bounds(self, predicted: float) -> tuple[float, float]:
        return predicted * math.exp(self.lo_log), predicted * math.exp(self.hi_log)

    @staticmethod
    def of(quantiles: dict[str, Any]) -> LogInterval:
        """From an entry ``{"q10_log": ..., "q90_log": ...}`` of the calibration file."""
        return LogInterval(lo_log=float(quantiles["q10_log"]), hi_log=float(quantiles["q90_log"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class Outside:
    """One support dimension a query lies outside: its value and what the calibration saw, as
    text (``str()``: ``"TP 8 (calibrated: 1, 2, 4)"``)."""

    dimension: str  # one of SUPPORT_DIMENSIONS
    value: str
    calibrated: str

    def __str__(self) -> str:
        return f"{self.value} (calibrated: {self.calibrated})"


def outside_support(support: dict[str, Any], *, model: ModelSpec, tensor_parallel: int,
                    batch_size: int | None = None, context_tokens: int | None = None,
                    ) -> tuple[Outside, ...]:
    """The support dimensions of the pair's ``support`` entry a query lies outside (empty:
    inside), in ``SUPPORT_DIMENSIONS`` order. ``batch_size`` / ``context_tokens`` None: not
    checked (a replay pool has no one batch or context)."""
    out = []
    layout = attention_layout(model)
    if layout not in support["attention"]:
        out.append(Outside(dimension="attention", value=f"attention {layout}",
                           calibrated=", ".join(support["attention"])))
    if tensor_parallel not in support["tp"]:
        out.append(Outside(dimension="tp", value=f"TP {tensor_parallel}",
                           calibrated=", ".join(map(str, support["tp"]))))
    for name, value, label in (("batch_size", batch_size, "batch"),
                               ("context_tokens", context_tokens, "context")):
        low, high = support[name]
        if value is not None and not low <= value <= high:
            out.append(Outside(dimension=name, value=f"{label} {value}", calibrated=f"{low}-{high}"))
    low, high = support["params"]
    if not low / PARAMS_TOLERANCE <= model.param_count <= high * PARAMS_TOLERANCE:
        out.append(Outside(dimension="params", value=f"{model.param_count / 1e9:.1f}B parameters",
                           calibrated=f"{low / 1e9:.1f}-{high / 1e9:.1f}B"))
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShapeIntervals:
    """The 80 % intervals of one ``sim latency`` shape, in seconds, and what of it lies outside
    the pair's support (empty: inside; the intervals are widened by that many dimensions)."""

    latency_p10_s: float
    latency_p90_s: float
    ttft_p10_s: float
    ttft_p90_s: float
    tpot_p10_s: float
    tpot_p90_s: float
    outside: tuple[Outside, ...]

    @staticmethod
    def missing() -> ShapeIntervals:
        nan = float("nan")
        return ShapeIntervals(latency_p10_s=nan, latency_p90_s=nan, ttft_p10_s=nan,
                              ttft_p90_s=nan, tpot_p10_s=nan, tpot_p90_s=nan, outside=())

    def columns(self) -> dict[str, float]:
        return {"latency_p10_s": self.latency_p10_s, "latency_p90_s": self.latency_p90_s,
                "ttft_p10_s": self.ttft_p10_s, "ttft_p90_s": self.ttft_p90_s,
                "tpot_p10_s": self.tpot_p10_s, "tpot_p90_s": self.tpot_p90_s}


def shape_intervals(entry: dict[str, Any], *, model: ModelSpec, tensor_parallel: int,
                    batch_size: int, input_len: int, output_len: int, latency_s: float,
                    ttft_s: float, tpot_s: float) -> ShapeIntervals:
    """The intervals of one run shape from its pair's calibration ``entry`` (holding
    ``intervals`` and ``support``): the regime's latency and TTFT quantiles (TPOT: latency's),
    widened by the number of support dimensions the shape lies outside."""
    outside = outside_support(entry["support"], model=model, tensor_parallel=tensor_parallel,
                              batch_size=batch_size, context_tokens=input_len + output_len)
    regime = regime_of(batch_size, input_len)
    spans = entry["intervals"]
    latency = LogInterval.of(spans["latency"][regime]).widened(len(outside))
    ttft = LogInterval.of(spans["ttft"][regime]).widened(len(outside))
    (l10, l90), (t10, t90), (p10, p90) = (latency.bounds(latency_s), ttft.bounds(ttft_s),
                                          latency.bounds(tpot_s))
    return ShapeIntervals(latency_p10_s=l10, latency_p90_s=l90, ttft_p10_s=t10, ttft_p90_s=t90,
                          tpot_p10_s=p10, tpot_p90_s=p90, outside=outside)


def _check_entry(key: str, entry: dict[str, Any], path: Path | None) -> None:
    """An ``intervals``/``support`` entry readable by this module, else one InputError."""
    def bad(what: str) -> InputError:
        return InputError(f"pair '{key}': {what}", path=path, column="intervals")

    spans, support = entry.get("intervals"), entry.get("support")
    if not isinstance(spans, dict) or not isinstance(support, dict):
        raise bad("needs both 'intervals' and 'support' objects")
    for metric in ("latency", "ttft"):
        table = spans.get(metric)
        cells = [table.get(r) for r in REGIMES] if isinstance(table, dict) else [None]
        cells.append((spans.get("pooled") or {}).get(metric))
        for cell in cells:
            if not (isinstance(cell, dict) and all(
                    isinstance(cell.get(q), (int, float)) and math.isfinite(cell[q])
                    for q in ("q10_log", "q90_log")) and cell["q10_log"] <= cell["q90_log"]):
                raise bad(f"intervals.{metric} needs q10_log <= q90_log (finite numbers) for "
                          f"every regime ({', '.join(REGIMES)}) and in 'pooled'")
    for name in ("attention", "tp"):
        if not isinstance(support.get(name), list):
            raise bad(f"support.{name} must be a list")
    for name in ("batch_size", "context_tokens", "params"):
        value = support.get(name)
        if not (isinstance(value, list) and len(value) == 2
                and all(isinstance(v, (int, float)) for v in value)):
            raise bad(f"support.{name} must be [low, high]")


def pair_entry(*, hardware: str, engine: str, table_meta: dict[str, Any],
               calibration: str | None = None) -> dict[str, Any] | None:
    """The calibration entry whose intervals apply to a cost table of (hardware, engine): the
    pair's entry in the user's ``calibration`` file when it holds the pair (as
    ``phasesim.simulator.costs.resolve`` builds the table from it), else the shipped one. None
    when the table is not that pair's calibrated roofline (``table_meta["calibrated_on"]``: a
    profile, a measured table, an uncalibrated pair) or the entry holds no intervals. A
    malformed entry is an InputError naming the file."""
    key = table_meta.get("calibrated_on")
    if key not in (pair_key(hardware, engine), pair_key(SAME_DIE.get(hardware, hardware), engine)):
        return None
    path = None
    doc = load_engine_calibration()
    if calibration is not None:
        user = read_engine_calibration(Path(calibration))
        if key in user["pairs"]:
            doc, path = user, Path(calibration)
    entry = doc["pairs"].get(key)
    if entry is None or ("intervals" not in entry and "support" not in entry):
        return None
    _check_entry(key, entry, path)
    return entry


def pool_step_interval(entry: dict[str, Any] | None, *, model: ModelSpec,
                       tensor_parallel: int) -> dict[str, Any]:
    """What a replay pool's step times are worth: the relative 80 % interval (``p10_rel``,
    ``p90_rel``: factors on a predicted time) of its pair's latency residuals pooled over every
    regime, widened for the model and TP degree outside the pair's support (batch and context
    vary within a replay and are not checked). No entry: the factors are None."""
    if entry is None or "intervals" not in entry:
        return {"nominal": NOMINAL, "p10_rel": None, "p90_rel": None, "n": 0, "outside": []}
    pooled = entry["intervals"]["pooled"]["latency"]
    outside = outside_support(entry["support"], model=model, tensor_parallel=tensor_parallel)
    span = LogInterval.of(pooled).widened(len(outside))
    return {"nominal": entry["intervals"]["nominal"], "p10_rel": round(math.exp(span.lo_log), 4),
            "p90_rel": round(math.exp(span.hi_log), 4), "n": int(pooled["n"]),
            "outside": [str(o) for o in outside]}
