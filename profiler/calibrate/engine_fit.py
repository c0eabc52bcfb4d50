"""``profiler fit`` for serving engines: the roofline's constants per (hardware, engine), fitted on
end-to-end latency benchmarks by simulating every measured run (issue 12).

Each measured run (B prompts of N tokens at once, M tokens generated each, on one instance of
``tp`` devices) is replayed under the engine's scheduler (``run_passes.unfold_run``: the passes
the policies of ``phasesim.simulator.batching`` decide) and priced with the roofline of
``simulator/costs/roofline.py`` at candidate constants. The loss is the squared log error of
``latency_s`` (and of ``ttft_s`` where measured, weighted x2), plus a weak log-normal prior that
holds a constant the rows cannot pin near its kernel-level fit
(``profiler/calibrate/kernel_fit.py``) or a generic value; bounded least squares in log space (``scipy.optimize.least_squares``, trust
region reflective, from three fixed starts: deterministic).

Constants fitted (all physical and shared by every model of the pair; the model enters only
through the catalog: FLOPs, weight and KV bytes, layers, experts touched):
GEMM, weight-streaming, prefill-attention and KV-read efficiencies; per-pass, per-layer and
per-sequence overheads; an extra per-prefill-pass overhead (SambaNova's cloud round trip lands
here); and, for pairs with TP > 1 rows, the all-reduce's achieved fraction of link bandwidth and its
per-ring-step latency. Pairs without TP > 1 rows keep the all-reduce prior (flagged).

A row whose prompts and outputs need more KV than the instance holds (``_kv_fits``) stays out
of the loss: its time depends on how the engine preempts or holds requests back, which the plan
does not model; the simulator, which does, predicts it in every validation.

Validation is **leave-one-model-out**: for each model of a pair, refit without its rows and
predict them. Reported errors are mean absolute percentage errors of ``latency_s`` as the
simulator itself gives them (``phasesim.simulator.apps.latency.latency_benchmark`` on a table built
from the constants), so they are what ``sim latency`` will show.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from phasesim.errors import InputError
from phasesim.profiler.calibrate.run_passes import RunPasses, unfold_run
from phasesim.simulator.apps.latency import RunShape, benchmark_pool
from phasesim.simulator.catalog.engines import get_engine
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.costs.capacity import check_tensor_parallel, kv_capacity_tokens
from phasesim.simulator.costs.roofline import (
    RooflineConstants,
    constants_for,
    decode_context_slope_s,
    decode_step_time_s,
    load_constants,
    prefill_time_s,
)
from phasesim.simulator.scheduling import pool_limits, pool_scheduling

__all__ = [
    "BOUNDS",
    "FIT_FIELDS",
    "HARDWARE_FIELDS",
    "POOLED_WEIGHT",
    "PairFit",
    "Prepared",
    "at_bound",
    "borrowed_constants",
    "fit_constants",
    "fit_pair",
    "pooled_prior",
    "predict",
    "prepare",
    "prior_constants",
    "run_limits",
]

FIT_FIELDS = tuple(f.name for f in fields(RooflineConstants))
# Physical bounds (issue 20): an efficiency is an achieved fraction of a datasheet peak, so it is
# bounded by what public microbenchmarks reach on these devices; a fit that lands on a bound is
# listed as such (docs/calibration.md, `sim profiles engines`). Sources, by constant:
# - memory_efficiency (weight streaming), kv_read_efficiency (KV bytes of decode attention):
#   STREAM-style triad/copy/dot reach 0.87-0.95 of peak on H100 SXM, 0.79-0.86 on A100 80GB
#   (Azure AI-benchmarking-guide, ND_H100_v5 / ND_A100_v4 results), 0.73-0.80 on MI300X
#   (ND_MI300X_v5 results; AMD: "5.3 TB/s is the theoretical peak, not achievable",
#   ROCm/rocm_bandwidth_test#121), ~0.61 on Max 1550 (ALCF Aurora node performance overview,
#   pre-production): weights stream in [0.55, 0.95]. Decode-attention kernels read the KV at
#   "40 %+" of peak with GQA on CUDA cores up to "close to 100 %" for long MHA sequences
#   (FlashInfer, 2024-02-02 blog), 47-79 % at batch 64 on H100 (onnxruntime PR #21414): KV in
#   [0.40, 0.95] once the attention arithmetic has its own term (decode_attention_efficiency).
# - gemm_efficiency: best-shape BF16 matmul reaches 0.80 (H100) to 0.97 (Gaudi2) of peak
#   (stas00/ml-engineering, "Maximum Achievable Matmul FLOPS" table); small shapes drop to
#   0.14-0.16 (H100 FP8 1024^3, MI300X FP8 2048^3, Azure guide) and, on an untuned ROCm stack,
#   to 0.02 (MI300X FP8 1024^3: 53 of ~2,615 TFLOPS, Azure guide; 28 TFLOPS at 16384^3,
#   ROCm/hipBLASLt#1721): [0.02, 0.97]. The floor is that low because the data's vLLM-on-ROCm
#   prefill is that slow; a higher floor moved it into a 0.5 s fixed prefill overhead instead.
# - attention_efficiency (prefill): FlashAttention-2 reaches 0.25 (MI300X) to 0.58 (A100) of
#   peak at 8k tokens (Azure guide), FlashAttention-3 "up to 75 %" on H100 (its abstract):
#   [0.25, 0.75].
# - decode_attention_efficiency: the q.k / p.v arithmetic of decode runs on vector units (one
#   query row per head: no tensor-core tile to fill); the FP32 vector peak is 67 / 989 = 0.068
#   (H100) and 19.5 / 312 = 0.063 (A100) of the FP16 tensor peak (datasheets), packed FP16 twice
#   that: [0.002, 0.15].
# - gqa_reread_fraction: a fraction by definition, [0, 1] (1e-3 stands for 0 in log space);
#   vLLM's paged attention runs one thread block per query head (grid(num_heads, num_seqs, ...),
#   vllm-project/vllm#15351, #1880), so the re-reads exist but mostly hit L2.
# - allreduce_efficiency: NCCL ring all-reduce reaches 0.77-0.82 of NVLink's one-way line rate
#   (NVIDIA/nccl#1455, nccl-tests#212), RCCL 0.71 on MI300X (Azure guide): [0.5, 1.0].
# Overheads are times, bounded only to keep the search finite.
BOUNDS: dict[str, tuple[float, float]] = {
    "gemm_efficiency": (0.02, 0.97), "memory_efficiency": (0.55, 0.95),
    "attention_efficiency": (0.25, 0.75), "kv_read_efficiency": (0.40, 0.95),
    "decode_attention_efficiency": (0.002, 0.15), "gqa_reread_fraction": (1e-3, 1.0),
    "layer_overhead_s": (1e-8, 2e-3), "pass_overhead_s": (1e-6, 0.2),
    "sequence_overhead_s": (1e-8, 5e-3), "prefill_overhead_s": (1e-6, 5.0),
    "allreduce_efficiency": (0.5, 1.0), "allreduce_hop_latency_s": (1e-7, 0.5)}
# prior: centre (None: the hardware's kernel calibration) and log-sd
_PRIOR: dict[str, tuple[float | None, float]] = {
    "gemm_efficiency": (None, math.log(2)), "memory_efficiency": (None, math.log(2)),
    "attention_efficiency": (None, math.log(2)), "kv_read_efficiency": (None, math.log(2)),
    "decode_attention_efficiency": (0.03, math.log(4)), "gqa_reread_fraction": (0.1, math.log(10)),
    "layer_overhead_s": (None, math.log(10)), "pass_overhead_s": (None, math.log(10)),
    "sequence_overhead_s": (1e-5, math.log(30)), "prefill_overhead_s": (1e-3, math.log(100)),
    "allreduce_efficiency": (0.7, math.log(2)), "allreduce_hop_latency_s": (5e-6, math.log(10))}
# the efficiencies that are the HARDWARE's (shared by its engines in the pooled fit): what its
# memory system delivers to a streaming read, weights or KV. How well an engine's kernels use the
# math units (GEMM, prefill and decode attention) is the engine's, like its overheads: pooling
# GEMM too let llama.cpp's own kernels (MI250: GEMM at 0.02-0.3 of peak) drag vLLM's hipBLASLt
# GEMM on the same device from 0.33 to 0.15 and its fit from 8 % to 13 %.
HARDWARE_FIELDS = ("memory_efficiency", "kv_read_efficiency")
_TTFT_WEIGHT = 2.0
# robust loss (soft L1 beyond a 10 % log error): a block of rows from a different engine build
# (e.g. H100 vLLM Mistral-7B at batch >= 32, 1.5-2x slower than Llama-3-8B of the same bytes)
# moves the shared constants less than squared error would let it
_ROBUST_SCALE = 0.1
# the prior is weak: one standard deviation costs what a 10 % log error on ONE row costs, so it
# decides only what the rows leave open
_PRIOR_WEIGHT = 0.1


def prior_constants(hardware: str) -> RooflineConstants:
    """The prior's centre for ``hardware``: its kernel calibration and generic engine terms (the
    same for every engine)."""
    kernel, _ = constants_for(hardware, load_constants())
    values = asdict(kernel)
    for name, (centre, _sd) in _PRIOR.items():
        if centre is not None:
            values[name] = centre
    # a kernel constant outside the physical bounds starts from the nearest bound
    for name, (lo, hi) in BOUNDS.items():
        values[name] = min(max(values[name], lo), hi)
    return RooflineConstants(**values)


def run_limits(*, engine: str, hardware: str, model: str, batch_size: int
               ) -> tuple[str, int, int, int]:
    """(batching, requests, max_num_seqs, token budget) of a benchmark row under ``engine``, as
    ``sim latency`` runs it (``phasesim.simulator.apps.latency.benchmark_pool``; a single-sequence
    engine such as llama.cpp runs ONE request in prompt chunks of min(batch_size, 512) tokens) and
    the simulator sizes its instance (``phasesim.simulator.scheduling.pool_limits``)."""
    pool, requests = benchmark_pool(RunShape(hardware=hardware, model=model, engine=engine,
                                             input_len=1, output_len=1, batch_size=batch_size))
    max_num_seqs, budget = pool_limits(pool)
    return pool_scheduling(pool).batching.value, requests, max_num_seqs, budget


@dataclass(frozen=True, slots=True)
class _Group:
    """The terms of every row on one (model, tp, identical prompts or not): arrays ready to price."""

    model: str
    tp: int
    priced_tp: int  # tp, or 1 for a layer-split engine (llama.cpp)
    identical_prompts: bool  # the rows' batches are copies of one prompt (roofline.routed_tokens)
    p_row: np.ndarray
    p_n: np.ndarray
    p_x: np.ndarray
    p_w: np.ndarray
    p_ttft: np.ndarray
    d_row: np.ndarray
    d_b: np.ndarray
    d_steps: np.ndarray
    d_ctx: np.ndarray
    d_ttft: np.ndarray
    m_row: np.ndarray
    m_n: np.ndarray
    m_b: np.ndarray
    m_ttft: np.ndarray
    passes: np.ndarray  # (row, passes) pairs of a layer-split group: shape (k, 2)


# the term arrays of a group (every field after its key: model, tp, priced_tp)
_TERMS = tuple(f.name for f in fields(_Group)
               if f.name not in ("model", "tp", "priced_tp", "identical_prompts"))


@dataclass(frozen=True, slots=True)
class Prepared:
    """Rows of one hardware (any engines' runs) ready to price: ``rows`` is the input frame (index
    reset), ``groups`` its terms per (model, tp, identical prompts), ``priced`` per row whether its run prices it
    (:func:`_kv_fits`)."""

    hardware: str
    rows: pd.DataFrame
    groups: tuple[_Group, ...]
    priced: np.ndarray


def prepare(rows: pd.DataFrame) -> Prepared:
    """Passes for ``rows`` (columns hardware, engine, model, tp, input_len, output_len, batch_size,
    optional identical_prompts; a row's concurrency follows from its engine, :func:`run_limits`);
    one hardware only."""
    rows = rows.reset_index(drop=True)
    hardware = set(rows["hardware"])
    if len(hardware) != 1:
        raise InputError(f"prepare() takes one hardware at a time, got {sorted(hardware)}")
    hw_name = hardware.pop()
    hw = get_hardware(hw_name)
    acc: dict[tuple[str, int, int, bool], dict[str, list]] = {}
    same = (rows["identical_prompts"].astype(bool).to_numpy() if "identical_prompts" in rows
            else np.zeros(len(rows), dtype=bool))
    kv_ok = np.ones(len(rows), dtype=bool)
    for i, r in enumerate(rows.itertuples(index=False)):
        tp = int(r.tp)
        check_tensor_parallel(hw, get_model(r.model), tp)
        batching, requests, seqs, budget = run_limits(
            engine=r.engine, hardware=hw_name, model=r.model, batch_size=int(r.batch_size))
        kv_ok[i] = _kv_fits(hardware=hw_name, model=r.model, tp=tp, engine=r.engine,
                            tokens=requests * (int(r.input_len) + int(r.output_len)))
        run = unfold_run(batching=batching, requests=requests, input_len=int(r.input_len),
                         output_len=int(r.output_len), max_num_seqs=seqs, token_budget=budget)
        priced = 1 if get_engine(r.engine).layer_split else tp
        lists = acc.setdefault((r.model, tp, priced, bool(same[i])), {k: [] for k in _TERMS})
        _add(lists, i, run)
        lists["passes"].append((i, run.passes))
    groups = tuple(_Group(model=m, tp=tp, priced_tp=priced, identical_prompts=same_g,
                          **{k: _array(k, v) for k, v in lists.items()})
                   for (m, tp, priced, same_g), lists in sorted(acc.items()))
    return Prepared(hardware=hw_name, rows=rows, groups=groups, priced=kv_ok)


def _kv_fits(*, hardware: str, model: str, tp: int, engine: str, tokens: int) -> bool:
    """Whether ``tokens`` of KV (every request's prompt and output at once) fit beside the weights
    on ``tp`` devices as ``engine`` sizes its KV pool (``kv_capacity_tokens``). A run that does not is NOT priced by its plan: the
    engine then preempts and recomputes (vLLM) or holds requests back (TensorRT-LLM), which the
    parameter-free plan does not model, so such a row stays out of the fit's loss; the simulator,
    which models KV blocks and what each engine does when they run out (the engine catalog's
    ``kv_admission``), still predicts it in every validation. (The A100 rows
    of the data are 40 GB parts: their Llama-2-70B runs at TP 4 are the clearest case.)"""
    try:
        return tokens <= kv_capacity_tokens(hardware=hardware, model=model, tensor_parallel=tp,
                                            engine=engine)
    except InputError:  # the weights alone do not fit
        return False


def _array(name: str, values: list) -> np.ndarray:
    if name == "passes":
        return np.asarray(values, dtype=np.int64).reshape(-1, 2)
    kind = name.split("_", 1)[1]
    return np.asarray(values, dtype=bool if kind == "ttft" else np.int64 if kind == "row" else np.float64)


def _add(lists: dict[str, list], row: int, run: RunPasses) -> None:
    for n, x, w, t in run.prefill:
        lists["p_row"].append(row), lists["p_n"].append(n), lists["p_x"].append(x)
        lists["p_w"].append(w), lists["p_ttft"].append(t)
    for b, steps, ctx, t in run.decode:
        lists["d_row"].append(row), lists["d_b"].append(b), lists["d_steps"].append(steps)
        lists["d_ctx"].append(ctx), lists["d_ttft"].append(t)
    for n, b, t in run.mixed:
        lists["m_row"].append(row), lists["m_n"].append(n), lists["m_b"].append(b)
        lists["m_ttft"].append(t)


def predict(prep: Prepared, c: RooflineConstants) -> tuple[np.ndarray, np.ndarray]:
    """(latency_s, ttft_s) of every row at constants ``c`` (its passes priced by the roofline)."""
    hw = get_hardware(prep.hardware)
    n_rows = len(prep.rows)
    lat = np.zeros(n_rows)
    ttft = np.zeros(n_rows)
    for g in prep.groups:
        model = get_model(g.model)
        tp = g.priced_tp
        same = g.identical_prompts
        if g.p_row.size:
            t = prefill_time_s(hw, model, "fp16", g.p_n, g.p_x, c, tp, identical_prompts=same) * g.p_w
            lat += np.bincount(g.p_row, t, n_rows)
            ttft += np.bincount(g.p_row[g.p_ttft], t[g.p_ttft], n_rows)
        if g.d_row.size:
            zero = np.zeros_like(g.d_b)
            d0 = decode_step_time_s(hw, model, "fp16", g.d_b, zero, c, tp, identical_prompts=same)
            slope = decode_context_slope_s(hw, model, "fp16", c, tp)
            t = g.d_steps * d0 + slope * g.d_b * g.d_ctx
            lat += np.bincount(g.d_row, t, n_rows)
            ttft += np.bincount(g.d_row[g.d_ttft], t[g.d_ttft], n_rows)
        if g.m_row.size:
            p0 = prefill_time_s(hw, model, "fp16", g.m_n, np.zeros_like(g.m_n), c, tp,
                                identical_prompts=same)
            d0 = decode_step_time_s(hw, model, "fp16", g.m_b, np.zeros_like(g.m_b), c, tp,
                                    identical_prompts=same)
            t = -np.minimum(p0, d0)
            lat += np.bincount(g.m_row, t, n_rows)
            ttft += np.bincount(g.m_row[g.m_ttft], t[g.m_ttft], n_rows)
        if g.priced_tp != g.tp:  # layer split: a hand-off per device boundary per pass
            lat += np.bincount(g.passes[:, 0], g.passes[:, 1] * (g.tp - 1) * c.allreduce_hop_latency_s,
                               n_rows)
    return lat, ttft


def _free_fields(rows: pd.DataFrame) -> tuple[str, ...]:
    """All constants but the all-reduce's where no row has TP > 1 (a layer-split engine's TP > 1
    rows pin the per-hand-off latency only)."""
    pairs = list(zip(rows["tp"], rows["engine"], strict=True))
    tensor = any(t > 1 and not get_engine(e).layer_split for t, e in pairs)
    split = any(t > 1 for t, _ in pairs)
    return tuple(f for f in FIT_FIELDS if (f != "allreduce_efficiency" or tensor)
                 and (f != "allreduce_hop_latency_s" or split))


def _robust(r: np.ndarray) -> np.ndarray:
    """Residuals whose squares sum to the soft-L1 loss at scale ``_ROBUST_SCALE`` (quadratic
    within it, linear beyond)."""
    f = _ROBUST_SCALE
    return np.sign(r) * np.sqrt(2.0 * f * f * (np.sqrt(1.0 + (r / f) ** 2) - 1.0))


def fit_constants(prep: Prepared, prior: RooflineConstants,
                  free: Sequence[str] | None = None, *,
                  prior_weight: dict[str, float] | None = None) -> RooflineConstants:
    """Constants minimising the module's loss on ``prep``'s rows (``latency_s``, optional
    ``ttft_s``, robust: :func:`_robust`), starting from and regularised toward ``prior``.
    ``prior_weight``: per constant, the prior's weight instead of ``_PRIOR_WEIGHT`` (the pooled
    fit holds the hardware's efficiencies near its other engines' with weight 1)."""
    from scipy.optimize import least_squares  # the profiler extra's dependency

    free = tuple(_free_fields(prep.rows) if free is None else free)
    lat_meas = prep.rows["latency_s"].to_numpy(np.float64)
    ttft_meas = prep.rows["ttft_s"].to_numpy(np.float64) if "ttft_s" in prep.rows else \
        np.full(len(prep.rows), np.nan)
    has_ttft = np.isfinite(ttft_meas) & (ttft_meas > 0) & prep.priced
    priced = prep.priced
    base = asdict(prior)
    centre = np.log([min(max(base[f], BOUNDS[f][0]), BOUNDS[f][1]) for f in free])
    sd = np.array([_PRIOR[f][1] for f in free])
    weight = np.array([(prior_weight or {}).get(f, _PRIOR_WEIGHT) for f in free])
    lo = np.log([BOUNDS[f][0] for f in free])
    hi = np.log([BOUNDS[f][1] for f in free])

    def consts(theta: np.ndarray) -> RooflineConstants:
        return replace(prior, **{f: float(math.exp(v)) for f, v in zip(free, theta, strict=True)})

    def residuals(theta: np.ndarray) -> np.ndarray:
        lat, ttft = predict(prep, consts(theta))
        r = [_robust(np.log(np.maximum(lat[priced], 1e-12) / lat_meas[priced]))]
        if has_ttft.any():
            r.append(_TTFT_WEIGHT * _robust(np.log(np.maximum(ttft[has_ttft], 1e-12) / ttft_meas[has_ttft])))
        r.append(weight * (theta - centre) / sd)
        return np.concatenate(r)

    best = None
    is_eff = np.array([f.endswith("efficiency") for f in free])
    # three fixed starts: the prior; efficiencies 40 % lower; overheads and hand-offs 1,000x
    # higher (a log-space parameter far below its fitted value has a vanishing gradient)
    for x0 in (centre, centre - 0.5 * is_eff, centre + np.log(1e3) * ~is_eff):
        x0 = np.clip(x0, lo + 1e-9, hi - 1e-9)
        res = least_squares(residuals, x0, bounds=(lo, hi), method="trf", x_scale=1.0,
                            diff_step=1e-4, max_nfev=400)
        if best is None or res.cost < best.cost:
            best = res
    return consts(best.x)


def _robust(r: np.ndarray) -> np.ndarray:
    """Residuals whose squares sum to the soft-L1 loss at scale ``_ROBUST_SCALE`` (quadratic
    within it, linear beyond)."""
    f = _ROBUST_SCALE
    return np.sign(r) * np.sqrt(2.0 * f * f * (np.sqrt(1.0 + (r / f) ** 2) - 1.0))


@dataclass(frozen=True, slots=True, kw_only=True)
class PairFit:
    """One (hardware, engine) pair's fit: the constants on every row, and per left-out model the
    constants fitted without it (``folds``)."""

    hardware: str
    engine: str
    constants: RooflineConstants
    free: tuple[str, ...]
    folds: dict[str, RooflineConstants]
    rows: pd.DataFrame


def fit_pair(rows: pd.DataFrame, *, prior: RooflineConstants | None = None,
             cross_validate: bool = True,
             fold_priors: dict[str, RooflineConstants] | None = None,
             prior_weight: dict[str, float] | None = None) -> PairFit:
    """Fit one (hardware, engine) pair's rows; with ``cross_validate``, one refit per model left
    out (pairs with a single model have no fold). ``fold_priors``: the prior of each fold where
    it differs from ``prior`` (the pooled fit's centre computed without that model)."""
    hardware, engine = rows["hardware"].iloc[0], rows["engine"].iloc[0]
    if rows["hardware"].nunique() != 1 or rows["engine"].nunique() != 1:
        raise InputError("fit_pair() takes the rows of one (hardware, engine) pair")
    prior = prior_constants(hardware) if prior is None else prior
    rows = rows.reset_index(drop=True)
    free = _free_fields(rows)
    constants = fit_constants(prepare(rows), prior, free, prior_weight=prior_weight)
    folds: dict[str, RooflineConstants] = {}
    models = sorted(set(rows["model"]))
    if cross_validate and len(models) > 1:
        for m in models:
            train = rows[rows["model"] != m]
            folds[m] = fit_constants(prepare(train), (fold_priors or {}).get(m, prior), free,
                                     prior_weight=prior_weight)
    return PairFit(hardware=hardware, engine=engine, constants=constants, free=free, folds=folds,
                   rows=rows)


def pooled_prior(hardware: str, others: Sequence[RooflineConstants],
                 weights: Sequence[float]) -> RooflineConstants:
    """The pooled fit's prior for one engine on ``hardware``: the kernel prior with the HARDWARE's
    efficiencies (``HARDWARE_FIELDS``) at the weighted geometric mean of its other engines' fits
    (weights: their row counts); the kernel prior alone when there is no other engine."""
    prior = prior_constants(hardware)
    if not others:
        return prior
    w = np.asarray(weights, dtype=np.float64)
    return replace(prior, **{f: float(np.exp(np.average([math.log(getattr(c, f)) for c in others],
                                                        weights=w))) for f in HARDWARE_FIELDS})


# the pooled fit holds the hardware's efficiencies near its other engines' (one prior sd, x2,
# costs what an e-fold error on one row costs: a pair with many rows still moves them)
POOLED_WEIGHT: dict[str, float] = {f: 1.0 for f in HARDWARE_FIELDS}


def borrowed_constants(fits: Sequence[RooflineConstants]) -> RooflineConstants:
    """Leave-one-hardware-out: one engine's constants for a hardware it was not fitted on, the
    geometric mean of its fits on the other hardware (the datasheet supplies the rest)."""
    values = {f: float(np.exp(np.mean([math.log(getattr(c, f)) for c in fits])))
              for f in FIT_FIELDS if all(getattr(c, f) is not None for c in fits)}
    return replace(fits[0], **values)


def at_bound(c: RooflineConstants, free: Sequence[str], *, rel: float = 0.01) -> list[str]:
    """The fitted constants within ``rel`` of a bound, as ``name=value (floor|ceiling)``."""
    out = []
    for f in free:
        v = getattr(c, f)
        lo, hi = BOUNDS[f]
        if v <= lo * (1 + rel):
            out.append(f"{f}={v:.3g} (floor)")
        elif v >= hi * (1 - rel):
            out.append(f"{f}={v:.3g} (ceiling)")
    return out


def constants_dict(c: RooflineConstants) -> dict[str, float]:
    return {k: None if v is None else float(f"{v:.5g}") for k, v in asdict(c).items()}


def rounded(c: RooflineConstants) -> RooflineConstants:
    """The constants as written to JSON (5 significant digits): what users' tables are built from."""
    return RooflineConstants(**constants_dict(c))


def summary_entry(fit: PairFit, latency_sim: np.ndarray, cv_sim: np.ndarray,
                  excluded: dict[str, int]) -> dict[str, Any]:
    """The JSON entry of a pair: constants, errors (from the simulator), worst rows, folds."""
    meas = fit.rows["latency_s"].to_numpy(np.float64)
    train_err = np.abs(latency_sim / meas - 1) * 100
    cv_err = np.abs(cv_sim / meas - 1) * 100
    order = np.argsort(-np.nan_to_num(cv_err if fit.folds else train_err, nan=-1))[:3]
    models = sorted(set(fit.rows["model"]))
    entry: dict[str, Any] = {
        "constants": constants_dict(fit.constants),
        "fitted": list(fit.free),
        "rows": len(fit.rows),
        "models": models,
        "tp": sorted(int(t) for t in set(fit.rows["tp"])),
        "train_mape_pct": round(float(np.nanmean(train_err)), 1),
        "cv_mape_pct": round(float(np.nanmean(cv_err)), 1) if fit.folds else None,
        "cv_mape_by_model_pct": {m: round(float(np.nanmean(cv_err[(fit.rows["model"] == m).to_numpy()])), 1)
                                 for m in fit.folds},
        "worst_rows": [{
            "source": str(fit.rows["source"].iloc[i]) if "source" in fit.rows else str(i + 1),
            "model": str(fit.rows["model"].iloc[i]), "tp": int(fit.rows["tp"].iloc[i]),
            "input_len": int(fit.rows["input_len"].iloc[i]),
            "batch_size": int(fit.rows["batch_size"].iloc[i]),
            "latency_s": float(f"{meas[i]:.4g}"),
            "predicted_s": float(f"{(cv_sim if fit.folds else latency_sim)[i]:.4g}"),
            "error_pct": round(float(((cv_sim if fit.folds else latency_sim)[i] / meas[i] - 1) * 100), 1)}
            for i in order],
        "folds": {m: constants_dict(c) for m, c in fit.folds.items()},
        "excluded_rows": excluded,
    }
    return entry
