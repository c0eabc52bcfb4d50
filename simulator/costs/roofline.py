"""Analytical cost tables: a calibrated roofline per phase for any catalog hardware x model.

One forward pass over ``N`` new tokens (``B`` sequences) costs, in seconds::

    pass_overhead + layers * layer_overhead                      fixed: launches, scheduling,
                                                                 (Groq: one hop per layer)
    + hypot(F * N / (peak * gemm_eff), W / (bw * mem_eff))       linear layers: compute vs
                                                                 weight streaming, smooth knee
    + N * E / (bw * mem_eff)                                     norms, rope, activations, adds
    + attention                                                  prefill: 2 L^2 h d flops per
                                                                 layer and sequence (causal);
                                                                 decode: KV reads B*C*kv_bytes
    + lm_head for B tokens + tensor-parallel all-reduces

``F`` is matmul FLOPs per token of the decoder layers, ``W`` their weight bytes, ``E`` the
elementwise bytes per token. The efficiencies and overheads are per-hardware constants fitted by
``profiler/calibrate/kernel_fit.py`` on public measurements and committed in
``simulator/tables/calibrated_constants.json`` with their errors (see docs/calibration.md). Hardware with
no public measurement borrows a calibrated sibling's constants; the table metadata says so.

GroqRack (64 chips, batch 1) uses the same formula: weights stream from on-chip SRAM across all
chips (microseconds), the fixed part is the per-token pipeline latency (calibrated to Groq's
published ~750 tokens/s for Llama-2-7B), and prefill is compute-bound at an effective efficiency
fitted on Groq API ``prompt_time`` samples (8B Llama models, scaled by FLOPs per token).
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phasesim.errors import InputError
from phasesim.json_file import read_json
from phasesim.simulator import table_schema as ts
from phasesim.simulator.catalog.engines import get_engine
from phasesim.simulator.catalog.hardware import HARDWARE, DeviceKind, HardwareSpec, get_hardware
from phasesim.simulator.catalog.models import DTYPE_BYTES, ModelSpec, get_model
from phasesim.simulator.costs.calibration_check import check_constants, check_engine_calibration
from phasesim.simulator.costs.capacity import check_tensor_parallel
from phasesim.simulator.costs.table_model import TableCostModel
from phasesim.simulator.costs.table_name import TableName

__all__ = ["RooflineConstants", "load_constants", "constants_for", "prefill_time_s",
           "decode_step_time_s", "token_grid", "build_analytical_table", "CONSTANTS_PATH",
           "linear_layer_time_s", "allreduce_time_s",
           "ALLREDUCE_HOP_LATENCY_S", "ALLREDUCES_PER_LAYER", "analytical_cost_model",
           "ENGINE_CALIBRATION_PATH", "load_engine_calibration",
           "pair_key", "engine_pair", "SAME_DIE", "uncalibrated_reason", "read_engine_calibration", "kv_read_bytes_per_token",
           "decode_attention_flops_per_token", "decode_context_slope_s", "routed_tokens"]

# the calibrations are data shipped beside the tables (simulator/tables/)
_TABLES = Path(__file__).resolve().parents[1] / "tables"
CONSTANTS_PATH = _TABLES / "calibrated_constants.json"
# per-(hardware, engine) constants fitted by `profiler fit` on LLM-Inference-Bench (issue 12)
ENGINE_CALIBRATION_PATH = _TABLES / "engine_calibration.json"

# Hardware without its own public measurements borrows the constants of a calibrated sibling.
# The LLM-Inference-Bench accelerators (gh200 ... sn40l) borrow until `profiler fit` calibrates
# them per engine (issue 12); GPU-like kernels are assumed even for Gaudi2 and the SN40L.
_BORROW: dict[str, str] = {"a100-sxm-40gb": "a100-sxm-80gb",
                           "h200": "h100-sxm", "mi300x": "h100-sxm", "l40s": "a100-sxm-80gb",
                           "groq-lpu": "groqrack", "gh200": "h100-sxm", "mi250": "a100-sxm-80gb",
                           "gaudi2": "a100-sxm-80gb", "max1550": "a100-sxm-80gb",
                           "sn40l": "h100-sxm"}
# An engine fit carries over to a catalog entry of the SAME die whose datasheet differs in memory
# only (size, bandwidth): its efficiencies are fractions of each entry's own datasheet peaks and its
# overheads are the engine's. LLM-Inference-Bench's A100s are 40 GB parts (catalog a100-sxm-40gb
# says why), so the 80 GB entry runs on their fits.
SAME_DIE: dict[str, str] = {"a100-sxm-80gb": "a100-sxm-40gb"}
# hardware of a user catalog (phasesim.simulator.catalog.user) borrows by its kind, flagged in the
# table's metadata like the entries above
_BORROW_BY_KIND: dict[DeviceKind, str] = {DeviceKind.GPU: "h100-sxm", DeviceKind.HPU: "a100-sxm-80gb",
                                          DeviceKind.RDU: "h100-sxm", DeviceKind.LPU: "groqrack",
                                          DeviceKind.CPU: "a100-sxm-80gb"}
# Tensor parallelism (Megatron-style, as vLLM/TensorRT-LLM shard Llama blocks): weights, KV and
# FLOPs split N ways, and each decoder layer pays two all-reduces of its activations (after the
# attention output projection and after the MLP down projection), each a ring all-reduce:
#
#     2 (N-1)/N * bytes / link_bytes_per_s  +  2 (N-1) * hop_latency_s
#
# link_bytes_per_s: one direction of the catalog's scale-up interconnect (its figure sums both
# directions: H100/H200 NVLink 4 900 GB/s -> 450 GB/s, A100 NVLink 3 600 -> 300, MI300X Infinity
# Fabric 896 -> 448; sources in simulator/catalog/hardware.py). A ring step sends one way.
# hop_latency_s: ASSUMPTION, 1 us per ring step (launch + sync + link), so an 8-way all-reduce
# of a small message costs 14 us, the order nccl-tests reports for small all-reduces over NVLink;
# not fitted, to be calibrated by `profiler fit` (issue 12).
# Activations travel in 16 bits (FP8 weights still exchange BF16 activations), FP32 in 32.
ALLREDUCE_HOP_LATENCY_S = 1e-6
ALLREDUCES_PER_LAYER = 2
_KERNEL_FIELDS = frozenset({"gemm_efficiency", "memory_efficiency", "attention_efficiency",
                            "kv_read_efficiency", "layer_overhead_s", "pass_overhead_s"})


@dataclass(frozen=True, slots=True, kw_only=True)
class RooflineConstants:
    """Fitted constants of one hardware (dimensionless efficiencies in (0, 1], times in s)."""

    gemm_efficiency: float
    memory_efficiency: float
    attention_efficiency: float
    kv_read_efficiency: float
    layer_overhead_s: float
    pass_overhead_s: float
    # engine terms (issue 12), fitted per (hardware, engine) by `profiler fit`; the defaults leave
    # the TP-1 kernel calibration's numbers unchanged
    sequence_overhead_s: float = 0.0  # per sequence in a pass (sampling, scheduling, bookkeeping)
    prefill_overhead_s: float = 0.0  # extra fixed cost of a pass that carries prompt tokens
    allreduce_efficiency: float = 1.0  # achieved fraction of the interconnect's one-way bandwidth
    allreduce_hop_latency_s: float = ALLREDUCE_HOP_LATENCY_S  # per ring step
    # decode attention, beyond the KV bytes (issue 20; defaults: not modelled, as the kernel
    # calibration predates them, so kernel tables keep their numbers):
    # - gqa_reread_fraction: a paged-attention kernel that runs one thread block per QUERY head
    #   (vLLM 0.5/0.6's paged_attention_v1/v2) reads each KV head once per query head of its group;
    #   the (group - 1) extra reads are served from L2 except this fraction, which goes to DRAM.
    #   0: the KV head is read once per group (FlashInfer, TensorRT-LLM XQA); 1: no cache reuse.
    #   Zero for multi-head attention (group 1) whatever its value.
    gqa_reread_fraction: float = 0.0
    # - decode_attention_efficiency: achieved fraction of the dense FP16 peak on the attention
    #   arithmetic of a decode step, 4 * head_dim FLOPs per QUERY head, cached token and layer
    #   (q.k and p.v); decode kernels run it on vector units with one query row per head, far below
    #   the tensor-core peak. None: the term is not modelled (kernel calibration).
    decode_attention_efficiency: float | None = None


def load_constants(path: Path = CONSTANTS_PATH) -> dict[str, Any]:
    """The committed calibration file: ``{"hardware": {name: {constants, errors}}, ...}``."""
    if not Path(path).exists():
        raise InputError("calibrated constants missing; run `python tools/fit_kernels.py`",
                         path=path)
    doc = read_json(path)
    for name, entry in (doc.get("hardware", {}) if isinstance(doc, dict) else {}).items():
        check_constants(entry.get("constants") if isinstance(entry, dict) else None,
                        RooflineConstants, path=path, where=f"hardware.{name}.constants")
    return doc


def constants_for(hardware: str, calibration: dict[str, Any]) -> tuple[RooflineConstants, str]:
    """Constants for ``hardware`` and the catalog name they were calibrated on."""
    table = calibration["hardware"]
    name = hardware if hardware in table else _BORROW.get(hardware, "")
    if not name and hardware in HARDWARE:  # a user catalog's hardware: a sibling of its kind's
        name = _BORROW_BY_KIND.get(HARDWARE[hardware].kind, "")
    if name not in table:
        known = ", ".join(sorted(set(table) | set(_BORROW)))
        raise InputError(f"no calibrated constants for hardware '{hardware}' (have: {known})")
    return RooflineConstants(**table[name]["constants"]), name


def _peak_flops(hw: HardwareSpec, dtype: str) -> float:
    """Dense matmul rate for ``dtype``: FP8/INT8 2x FP16; FP32 runs as TF32 at half FP16."""
    nbytes = DTYPE_BYTES[dtype]
    if nbytes == 1:
        return hw.peak_flops_fp8
    return hw.peak_flops_fp16 / 2 if nbytes == 4 else hw.peak_flops_fp16


def _layer_shape(model: ModelSpec, dtype: str) -> tuple[float, float, float]:
    """(matmul FLOPs per token, weight bytes, elementwise bytes per token) of all decoder layers.

    A mixture of experts counts ``experts_per_token`` expert MLPs (and the router) per token; its
    weight bytes depend on the pass's token count (``_moe_weight_bytes``), not on this number.
    """
    q_o = 2 * model.hidden * model.heads * model.head_dim
    kv = 2 * model.hidden * model.kv_heads * model.head_dim
    k = model.experts_per_token
    router = model.hidden * model.experts if model.is_moe else 0
    per_layer = q_o + kv + k * 3 * model.hidden * model.ffn + router
    nbytes = DTYPE_BYTES[dtype]
    flops = 2.0 * per_layer * model.layers
    weights = float(per_layer * model.layers * nbytes)
    elementwise = float((12 * model.hidden + 4 * k * model.ffn) * nbytes * model.layers)
    return flops, weights, elementwise


def _moe_weight_bytes(model: ModelSpec, dtype: str, tokens: np.ndarray) -> np.ndarray:
    """Decoder-layer weight bytes a pass over ``tokens`` tokens reads: attention and router
    always, experts as many as the tokens are expected to touch (uniform routing; see
    ``ModelSpec.expected_experts_touched``)."""
    q_o = 2 * model.hidden * model.heads * model.head_dim
    kv = 2 * model.hidden * model.kv_heads * model.head_dim
    experts = model.expected_experts_touched(tokens)
    per_layer = q_o + kv + model.hidden * model.experts + experts * 3 * model.hidden * model.ffn
    return per_layer * model.layers * DTYPE_BYTES[dtype]


def linear_layer_time_s(hw: HardwareSpec, model: ModelSpec, dtype: str, tokens: np.ndarray,
                        c: RooflineConstants, tensor_parallel: int = 1, *,
                        routed: np.ndarray | None = None) -> np.ndarray:
    """Decoder layers outside attention for ``tokens`` new tokens (what Vidur's mlp.csv times).

    ``routed``: how many of them a mixture of experts routes independently (default all; fewer
    when sequences are copies of one another: :func:`routed_tokens`)."""
    n = np.asarray(tokens, dtype=np.float64)
    flops, weights, elementwise = _layer_shape(model, dtype)
    if model.is_moe:
        weights = _moe_weight_bytes(model, dtype, n if routed is None else routed)
    peak = _peak_flops(hw, dtype) * tensor_parallel
    bw = hw.memory_bandwidth_bytes_per_s * tensor_parallel
    core = np.hypot(flops * n / (peak * c.gemm_efficiency), weights / (bw * c.memory_efficiency))
    return model.layers * c.layer_overhead_s + core + n * elementwise / (bw * c.memory_efficiency)


def routed_tokens(batch: np.ndarray, new_tokens: np.ndarray, identical_prompts: bool) -> np.ndarray:
    """Tokens of a pass that a mixture of experts routes independently: all of them, or with
    ``identical_prompts`` (every sequence of the batch a copy of one prompt, decoded alike, as
    LLM-Inference-Bench's TensorRT-LLM and DeepSpeed scripts run: docs/calibration.md) one
    sequence's share, ``new_tokens / batch``: copies pick the same experts, so a decode step of
    any batch reads the experts of ONE token (``experts_per_token`` of them)."""
    n = np.asarray(new_tokens, dtype=np.float64)
    if not identical_prompts:
        return n
    return n / np.maximum(np.asarray(batch, dtype=np.float64), 1.0)


def _common_s(hw: HardwareSpec, model: ModelSpec, dtype: str, batch: np.ndarray, new_tokens: np.ndarray,
              c: RooflineConstants, tensor_parallel: int, identical_prompts: bool = False) -> np.ndarray:
    peak = _peak_flops(hw, dtype) * tensor_parallel
    bw = hw.memory_bandwidth_bytes_per_s * tensor_parallel
    head_params = model.vocab * model.hidden
    lm_head = np.hypot(2.0 * head_params * batch / (peak * c.gemm_efficiency),
                       head_params * DTYPE_BYTES[dtype] / (bw * c.memory_efficiency))
    out = (c.pass_overhead_s + c.sequence_overhead_s * batch
           + linear_layer_time_s(hw, model, dtype, new_tokens, c, tensor_parallel,
                                 routed=routed_tokens(batch, new_tokens, identical_prompts))
           + lm_head)
    if tensor_parallel > 1:
        out = out + model.layers * ALLREDUCES_PER_LAYER * allreduce_time_s(
            hw, model, dtype, new_tokens, tensor_parallel, c)
    return out


def allreduce_time_s(hw: HardwareSpec, model: ModelSpec, dtype: str, tokens: np.ndarray,
                     tensor_parallel: int, c: RooflineConstants | None = None) -> np.ndarray:
    """One ring all-reduce of ``tokens`` tokens' activations (``hidden`` values each) across
    ``tensor_parallel`` devices of ``hw`` (0 at TP 1); the numbers are stated beside
    ``ALLREDUCE_HOP_LATENCY_S`` (``c`` None: full link bandwidth and that hop latency; an engine
    calibration brings its own ``allreduce_efficiency`` and ``allreduce_hop_latency_s``)."""
    n = tensor_parallel
    if n <= 1:
        return np.zeros_like(np.asarray(tokens, dtype=np.float64))
    size = np.asarray(tokens, dtype=np.float64) * model.hidden * max(2, DTYPE_BYTES[dtype])
    efficiency, hop_s = (1.0, ALLREDUCE_HOP_LATENCY_S) if c is None else (
        c.allreduce_efficiency, c.allreduce_hop_latency_s)
    link = hw.interconnect_bytes_per_s / 2.0 * efficiency  # one direction of the two-way figure
    return 2.0 * (n - 1) / n * size / link + 2 * (n - 1) * hop_s


def prefill_time_s(hw: HardwareSpec, model: ModelSpec, dtype: str, batch: np.ndarray, tokens: np.ndarray,
                   c: RooflineConstants, tensor_parallel: int = 1, *,
                   identical_prompts: bool = False) -> np.ndarray:
    """One prefill pass of ``batch`` prompts of ``tokens`` tokens each (vectorised;
    ``identical_prompts``: :func:`routed_tokens`)."""
    b = np.asarray(batch, dtype=np.float64)
    t = np.asarray(tokens, dtype=np.float64)
    # Attention runs in 16-bit even with FP8 weights (FP8 attention was not the default then).
    peak16 = hw.peak_flops_fp16 * tensor_parallel
    attn_flops = b * model.layers * 2.0 * t * t * model.heads * model.head_dim
    attention = attn_flops / (peak16 * c.attention_efficiency)
    return (_common_s(hw, model, dtype, b, b * t, c, tensor_parallel, identical_prompts)
            + attention + c.prefill_overhead_s)


def kv_read_bytes_per_token(model: ModelSpec, dtype: str, c: RooflineConstants) -> float:
    """DRAM bytes one decode step reads per cached token of one sequence: the K and V of every
    layer (``kv_bytes_per_token``), plus the grouped-query re-reads that miss the cache
    (``gqa_reread_fraction`` of the ``heads / kv_heads - 1`` extra reads per KV head)."""
    group = model.heads / model.kv_heads
    return model.kv_bytes_per_token(dtype) * (1.0 + c.gqa_reread_fraction * (group - 1.0))


def decode_attention_flops_per_token(model: ModelSpec) -> float:
    """Attention arithmetic of one decode step per cached token of one sequence: q.k and p.v,
    ``2 * 2 * head_dim`` FLOPs per query head and layer (it scales with QUERY heads, not KV heads)."""
    return 4.0 * model.head_dim * model.heads * model.layers


def decode_context_slope_s(hw: HardwareSpec, model: ModelSpec, dtype: str, c: RooflineConstants,
                           tensor_parallel: int = 1) -> float:
    """Seconds a decode step spends per cached token of one sequence: KV bytes read at
    ``kv_read_efficiency`` of the bandwidth (what scales with KV heads) plus the attention
    arithmetic at ``decode_attention_efficiency`` of the FP16 peak (what scales with query heads;
    0 when not modelled). Both split ``tensor_parallel`` ways."""
    bw = hw.memory_bandwidth_bytes_per_s * tensor_parallel
    slope = kv_read_bytes_per_token(model, dtype, c) / (bw * c.kv_read_efficiency)
    if c.decode_attention_efficiency is not None:
        peak16 = hw.peak_flops_fp16 * tensor_parallel
        slope += decode_attention_flops_per_token(model) / (peak16 * c.decode_attention_efficiency)
    return slope


def decode_step_time_s(hw: HardwareSpec, model: ModelSpec, dtype: str, batch: np.ndarray,
                       context: np.ndarray, c: RooflineConstants, tensor_parallel: int = 1, *,
                       identical_prompts: bool = False) -> np.ndarray:
    """One decode step of ``batch`` sequences with ``context`` tokens each in the KV cache
    (``identical_prompts``: :func:`routed_tokens`)."""
    b = np.asarray(batch, dtype=np.float64)
    ctx = np.asarray(context, dtype=np.float64)
    bw = hw.memory_bandwidth_bytes_per_s * tensor_parallel
    # the same terms as decode_context_slope_s, in the kernel tables' order of operations (their
    # bytes are unchanged where the issue-20 terms are off)
    attention = b * ctx * kv_read_bytes_per_token(model, dtype, c) / (bw * c.kv_read_efficiency)
    if c.decode_attention_efficiency is not None:
        peak16 = hw.peak_flops_fp16 * tensor_parallel
        attention = attention + b * ctx * decode_attention_flops_per_token(model) / (
            peak16 * c.decode_attention_efficiency)
    return _common_s(hw, model, dtype, b, b, c, tensor_parallel, identical_prompts) + attention


def token_grid(max_tokens: int, *, min_tokens: int = 16) -> list[int]:
    """Powers of two and their midpoints (16, 24, 32, 48, ...) up to ``max_tokens`` inclusive."""
    out: list[int] = []
    p = min_tokens
    while p <= max_tokens:
        out.append(p)
        mid = p + p // 2
        if p < mid <= max_tokens:
            out.append(mid)
        p *= 2
    if out[-1] != max_tokens:
        out.append(max_tokens)
    return out


def _batch_grid(max_batch: int, *, midpoints: bool) -> list[int]:
    return [b for b in token_grid(max_batch, min_tokens=1) if midpoints or b & (b - 1) == 0] or [1]


def build_analytical_table(*, hardware: str, model: str, dtype: str = "fp16", tensor_parallel: int = 1,
                           calibration: dict[str, Any] | None = None, engine: str | None = None,
                           engine_calibration: dict[str, Any] | None = None,
                           identical_prompts: bool = False,
                           ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A cost table (schema of ``phasesim.simulator.table_schema``) and its metadata, from the roofline.

    ``engine`` None: the kernel roofline of ``calibrated_constants.json`` (engine label
    ``analytical``). An engine: the constants ``profiler fit`` calibrated for (hardware, engine)
    (``engine_calibration.json``) when there are some, else the kernel constants, and the metadata
    says the pair is uncalibrated (:func:`uncalibrated_reason`).

    Grid: prefill batch {1, 2, 4, ..., 256} (GPU) or {1} (Groq) x prompt tokens {16, 24, 32, 48,
    ..., max context}; decode batch {1, 2, 3, 4, 6, ..., max batch} (GPU: 512) or {1} x context
    {16, ..., max context}. Max context: the model's, capped by the hardware's deployment limit.

    ``identical_prompts``: the table of a workload whose batches are copies of one prompt
    (:func:`routed_tokens`; it changes a mixture of experts only, and the metadata says so).
    """
    hw = get_hardware(hardware)
    spec = get_model(model)
    if dtype not in DTYPE_BYTES:
        raise InputError(f"unknown dtype '{dtype}' (known: {', '.join(sorted(DTYPE_BYTES))})")
    check_tensor_parallel(hw, spec, tensor_parallel)
    calibration = load_constants() if calibration is None else calibration
    consts, calibrated_on = constants_for(hardware, calibration)
    pair_entry = None
    if engine is not None:
        get_engine(engine)
        engine_calibration = load_engine_calibration() if engine_calibration is None else engine_calibration
        fitted_key, pair_entry = engine_pair(hardware, engine, engine_calibration)
        if pair_entry is not None:
            consts = RooflineConstants(**pair_entry["constants"])
    max_ctx = spec.max_context_tokens if hw.max_context_tokens is None else min(
        spec.max_context_tokens, hw.max_context_tokens)
    tokens = token_grid(max_ctx)
    groq = hw.kind is DeviceKind.LPU
    # one sequence at a time (GroqRack; llama.cpp): no batched prefill to tabulate
    single = groq or (engine is not None and get_engine(engine).single_sequence)
    pre_b = [1] if single else _batch_grid(min(256, hw.max_batch_size), midpoints=False)
    dec_b = [1] if groq else _batch_grid(hw.max_batch_size, midpoints=True)
    frames = []
    # an engine that splits layers over its devices (llama.cpp) steps at one device's speed, plus
    # one hand-off of the activations per device boundary (allreduce_hop_latency_s each)
    priced_tp = 1 if engine is not None and get_engine(engine).layer_split else tensor_parallel
    for phase, batches, fn in ((ts.Phase.PREFILL, pre_b, prefill_time_s),
                               (ts.Phase.DECODE, dec_b, decode_step_time_s)):
        bb, tt = np.meshgrid(np.array(batches), np.array(tokens), indexing="ij")
        lat = fn(hw, spec, dtype, bb.ravel(), tt.ravel(), consts, priced_tp,
                 identical_prompts=identical_prompts)
        if priced_tp != tensor_parallel:  # a hand-off per device boundary per pass
            lat = lat + (tensor_parallel - 1) * consts.allreduce_hop_latency_s
        frames.append(pd.DataFrame({
            ts.HARDWARE: hardware, ts.MODEL: spec.name, ts.PHASE: phase.value,
            ts.BATCH_SIZE: bb.ravel().astype(np.int64), ts.TOKENS: tt.ravel().astype(np.int64),
            ts.LATENCY_S: lat, ts.LATENCY_P10_S: lat, ts.LATENCY_P90_S: lat, ts.SAMPLES: 0,
            ts.DTYPE: dtype, ts.TENSOR_PARALLEL: tensor_parallel}))
    df = pd.concat(frames, ignore_index=True)
    entry = calibration["hardware"][calibrated_on]
    command = (f"profiler capture --backend analytical --hardware {hardware} --model {model} "
               f"--dtype {dtype} --tensor-parallel {tensor_parallel}")
    meta: dict[str, Any] = {
        "schema_version": ts.SCHEMA_VERSION,
        "source": ts.Source.ANALYTICAL.value,
        "engine": "analytical" if engine is None else engine,
        "capture": {"device": f"{hardware} (analytical roofline, no device)", "backend": "analytical",
                    "driver": None, "libraries": {"phasesim": "0.1.0"},
                    "date": calibration.get("date"), "command": command, "host": None},
        "provenance": [
            f"Roofline of simulator/costs/roofline.py over the {hardware} catalog entry "
            "(simulator/catalog/hardware.py, datasheet numbers with sources) and the "
            f"{spec.name} architecture (simulator/catalog/models.py).",
            f"Constants fitted on public measurements for '{calibrated_on}' by profiler/calibrate/kernel_fit.py"
            + ("" if calibrated_on == hardware else f" and borrowed for '{hardware}' (no public "
               "measurements of its own: treat as uncalibrated)") + ".",
            *calibration["hardware"][calibrated_on].get("notes", []),
        ],
        # engine-less tables keep the six kernel constants only (their bytes predate the engine terms)
        "constants": asdict(consts) if engine is not None else {
            k: v for k, v in asdict(consts).items() if k in _KERNEL_FIELDS},
        "calibrated_on": calibrated_on,
        "calibration": entry.get("errors", {}),
        "max_context_tokens": max_ctx,
        "max_batch_size": hw.max_batch_size,
    }
    if identical_prompts:
        meta["identical_prompts"] = True
        meta["provenance"].append("Priced for batches of identical prompts: a mixture of experts "
                                  "routes every copy alike (roofline.routed_tokens).")
    if engine is not None:
        meta["capture"]["command"] = command + f" --engine {engine}"
        if pair_entry is not None:
            meta["provenance"] = [
                meta["provenance"][0],
                f"Engine constants fitted by `profiler fit` for {fitted_key}"
                + ("" if fitted_key == pair_key(hardware, engine) else
                   f" (the same die as {hardware}, memory aside)") + ": "
                f"{pair_entry['rows']} end-to-end runs of LLM-Inference-Bench (models "
                f"{', '.join(pair_entry['models'])}; no Llama-2-7B row), train MAPE "
                f"{pair_entry['train_mape_pct']} %, leave-one-model-out MAPE "
                f"{pair_entry['cv_mape_pct']} % (docs/calibration.md). DERIVED from those fits, "
                "not measured on this model.",
            ]
            meta["calibrated_on"] = fitted_key
            meta["calibration"] = {k: pair_entry[k] for k in (
                "rows", "models", "train_mape_pct", "cv_mape_pct") if k in pair_entry}
        else:
            reason = uncalibrated_reason(hardware, engine, engine_calibration)
            if reason is not None:
                meta["provenance"].append(f"UNCALIBRATED for engine {engine}: {reason}.")
                meta["uncalibrated"] = reason
    return df, meta


def pair_key(hardware: str, engine: str) -> str:
    """How a (hardware, engine) pair is keyed in ``engine_calibration.json``."""
    return f"{hardware}/{engine}"


def engine_pair(hardware: str, engine: str,
                engine_calibration: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """The key and entry of the fit that (hardware, engine) runs on: its own, else that of the
    same die (``SAME_DIE``); the entry is None when neither was fitted."""
    pairs = engine_calibration.get("pairs", {})
    for hw in (hardware, SAME_DIE.get(hardware)):
        if hw is not None and pair_key(hw, engine) in pairs:
            return pair_key(hw, engine), pairs[pair_key(hw, engine)]
    return pair_key(hardware, engine), None


@functools.lru_cache(maxsize=4)
def _read_engine_calibration(path: str) -> str:
    if not Path(path).exists():
        return '{"pairs": {}}'
    return json.dumps(read_engine_calibration(Path(path)))  # checked as a user's file is


def load_engine_calibration(path: Path = ENGINE_CALIBRATION_PATH) -> dict[str, Any]:
    """The committed per-(hardware, engine) fits of ``profiler fit`` (``{"pairs": {...}}``; empty
    when the file is missing)."""
    return json.loads(_read_engine_calibration(str(path)))


def read_engine_calibration(path: Path) -> dict[str, Any]:
    """A calibration file written by ``profiler fit BENCH.csv -o C.json``, read strictly
    (``phasesim.json_file``) and checked (``calibration_check``: the rule of the shipped files)."""
    return check_engine_calibration(read_json(path), RooflineConstants, path=path)


def uncalibrated_reason(hardware: str, engine: str,
                        engine_calibration: dict[str, Any] | None = None) -> str | None:
    """None when (hardware, engine) has calibrated step times: a ``profiler fit`` entry, Groq's
    own stack on a Groq device (its kernel constants are fitted on Groq's published numbers), or
    ``analytical`` (no engine claimed). Otherwise why not, in a few words."""
    engine_calibration = load_engine_calibration() if engine_calibration is None else engine_calibration
    if engine_pair(hardware, engine, engine_calibration)[1] is not None or engine == "analytical":
        return None
    if engine == "groq" and get_hardware(hardware).kind is DeviceKind.LPU:
        return None
    return (f"no measurements of {engine} on {hardware} were fitted; step times are the kernel "
            f"roofline from datasheet numbers and the {constants_for(hardware, load_constants())[1]} "
            "kernel constants")


@functools.lru_cache(maxsize=64)
def analytical_cost_model(*, hardware: str, model: str, dtype: str = "fp16",
                          tensor_parallel: int = 1, engine: str | None = None,
                          calibration_path: str | None = None,
                          identical_prompts: bool = False) -> TableCostModel:
    """The analytical table of :func:`build_analytical_table` as a cost model, built once per
    process for each (hardware, model, dtype, tensor_parallel) and labelled as a shipped table
    is, plus ``__tpN`` (``TableName``; its ``source`` is analytical; the table's
    ``tensor_parallel`` column holds the degree). A few milliseconds to build; the models are
    read-only apart from their lookup memos, so sharing one changes no result.
    ``identical_prompts``: priced for batches of copies of one prompt (:func:`routed_tokens`)."""
    df, meta = build_analytical_table(
        hardware=hardware, model=model, dtype=dtype, tensor_parallel=tensor_parallel, engine=engine,
        engine_calibration=None if calibration_path is None else read_engine_calibration(Path(calibration_path)),
        identical_prompts=identical_prompts)
    name = TableName(hardware=hardware, model=model, dtype=dtype, engine=engine,
                     source=ts.Source.ANALYTICAL.value, tensor_parallel=tensor_parallel).stem
    return TableCostModel.from_table(df, meta, model=get_model(model), name=name,
                                     warn_beyond_grid=False)
