"""Energy of a run, per pool and per request, from what the engine already counts.

The model (one line; ``PowerSpec`` in ``phasesim.simulator.catalog.economics`` holds its numbers):
a device draws ``idle_w`` whenever it is on, and while it works

    P = idle_w + (peak_w - idle_w) * (bandwidth_share * bytes_per_s / memory_bandwidth
                                       + compute_share * flops_per_s / peak_flops_fp16)

capped at ``peak_w`` (and, for devices whose busy power does not follow bytes and FLOPs, at
least ``idle_w + busy_floor_share * (peak_w - idle_w)``: the GroqRack). Since the busy part is linear in the byte and FLOP rates, a step's energy
does not depend on how long it took, only on the bytes it moved and the FLOPs it did, and a
run's energy is a sum the engine's counters and the request log already give:

    joules = instances * idle_w * duration_s
           + clip(e_byte * bytes + e_flop * flops,
                  busy_floor_share * (peak_w - idle_w) * busy_s, (peak_w - idle_w) * busy_s)

with ``e_byte = (peak_w - idle_w) * bandwidth_share / memory_bandwidth`` (J per byte) and
``e_flop = (peak_w - idle_w) * compute_share / peak_flops_fp16`` (J per FLOP). What is counted,
per pool (``duration_s`` = last finish - first arrival: the cluster is on that long):

- **devices**: an instance of tensor-parallel degree N is N devices: N x the idle power and N x
  the busy cap and floor; the bytes and FLOPs are the instance's (split N ways, same total), so
  the work energy does not change with N (the all-reduce traffic, like the KV links, is not
  counted);
- **idle**: every instance, the whole run (an idle instance for T seconds uses ``idle_w * T``);
- **weights**: every iteration (prefill, decode or mixed step; a fast-forwarded decode run
  counts its steps) reads the weights a pass over its tokens touches once
  (``ModelSpec.weight_bytes_touched`` at the pool's mean batch size): batching shares that read;
- **prefill** of a prompt of ``p`` tokens: ``p * flops_per_token_linear`` + attention
  ``2 * layers * heads * head_dim * p * (p + 1)`` FLOPs, and its KV written, ``p * kv_bytes_per_token``;
- **decode**: each of its ``D`` steps (``D = output_tokens - 1`` where the prefill emits the first
  token, else ``output_tokens``) at context ``c = prompt + i - 1`` (i = 1..D) does
  ``flops_per_token_linear + 4 * layers * heads * head_dim * c`` FLOPs and reads ``c`` tokens of KV;
- the cap: over its busy time a pool never draws more than ``peak_w`` (nor less than its busy
  floor).

Not counted: recomputation after a preemption (its FLOPs; its time still counts as busy),
host CPUs, networking, cooling (PUE), and KV **links**: we found no sourced energy-per-byte
figure for the links phasesim models (NVLink, InfiniBand, PCIe, Ethernet), so transfers cost no
energy here.

A request's share: its own prefill/decode FLOPs and KV bytes at ``e_flop``/``e_byte``, plus the
pool's idle and weight energy split by the time it spent on the pool (colocated: prefill start
to finish; prefill pool: prefill start to end; decode pool: decode start to finish), all scaled
(or up) with the cap (or floor) when it binds. The shares add up to the cluster's joules unless a pool served
no request (``unattributed_j``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from phasesim.simulator.catalog.economics import PowerSpec
from phasesim.simulator.catalog.hardware import HardwareSpec
from phasesim.simulator.catalog.models import ModelSpec

__all__ = ["PoolActivity", "PoolEnergy", "joules_per_byte", "joules_per_flop", "prefill_work",
           "decode_work", "pool_energy", "run_energy"]


def joules_per_byte(power: PowerSpec, hardware: HardwareSpec) -> float:
    return (power.peak_w - power.idle_w) * power.bandwidth_share / hardware.memory_bandwidth_bytes_per_s


def joules_per_flop(power: PowerSpec, hardware: HardwareSpec) -> float:
    return (power.peak_w - power.idle_w) * power.compute_share / hardware.peak_flops_fp16


def _attention_width(model: ModelSpec) -> int:
    return model.layers * model.heads * model.head_dim


def prefill_work(model: ModelSpec, dtype: str, prompt_tokens: np.ndarray,
                 cached_tokens: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Per prompt: (FLOPs, KV bytes written) of its prefill (weights not included). The first
    ``cached_tokens`` of a prompt came from the prefix cache: only the rest is computed (its
    attention still reads the cached prefix)."""
    p = np.asarray(prompt_tokens, dtype=np.float64)
    c = np.minimum(np.asarray(cached_tokens, dtype=np.float64), p)
    attention = 2.0 * _attention_width(model) * (p * (p + 1.0) - c * (c + 1.0))
    computed = p - c
    return (computed * model.flops_per_token_linear() + attention,
            computed * model.kv_bytes_per_token(dtype))


def decode_work(model: ModelSpec, dtype: str, prompt_tokens: np.ndarray,
                steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per request: (FLOPs, KV bytes read) of ``steps`` decode steps at contexts ``prompt + i - 1``
    (weights not included)."""
    p = np.asarray(prompt_tokens, dtype=np.float64)
    d = np.maximum(np.asarray(steps, dtype=np.float64), 0.0)
    context_sum = d * p + d * (d - 1.0) / 2.0
    flops = d * model.flops_per_token_linear() + 4.0 * _attention_width(model) * context_sum
    return flops, context_sum * model.kv_bytes_per_token(dtype)


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolActivity:
    """What one pool did: its counters (``pool_stats``) and the work of each request on it
    (arrays over the run's requests; zero for requests it did not serve)."""

    instances: int
    busy_s: float
    iterations: int
    mean_batch_size: float
    flops: np.ndarray
    data_bytes: np.ndarray  # KV bytes written (prefill) and read (decode)
    residence_s: np.ndarray  # time each request spent on the pool
    devices_per_instance: int = 1  # tensor-parallel degree


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolEnergy:
    idle_j: float
    weights_j: float
    work_j: float  # the requests' own FLOPs and KV bytes
    capped: bool  # the cap or the busy floor bound
    joules: float
    busy_w: float | None  # mean power while busy (None if never busy)
    per_request_j: np.ndarray


def pool_energy(activity: PoolActivity, *, power: PowerSpec, hardware: HardwareSpec,
                model: ModelSpec, dtype: str, duration_s: float) -> PoolEnergy:
    """One pool's joules and each request's share (module docstring)."""
    e_byte = joules_per_byte(power, hardware)
    e_flop = joules_per_flop(power, hardware)
    devices = activity.instances * activity.devices_per_instance
    idle_j = devices * power.idle_w * max(duration_s, 0.0)
    tokens = activity.mean_batch_size if np.isfinite(activity.mean_batch_size) else 1.0
    weight_bytes = activity.iterations * float(model.weight_bytes_touched(tokens, dtype))
    weights_j = e_byte * weight_bytes
    own = e_flop * activity.flops + e_byte * activity.data_bytes
    work_j = float(own.sum())
    cap_j = (power.peak_w - power.idle_w) * activity.busy_s * activity.devices_per_instance
    floor_j = power.busy_floor_share * cap_j
    dynamic = weights_j + work_j
    scale = 1.0
    if dynamic > 0.0 and dynamic > cap_j:
        scale = cap_j / dynamic
    elif dynamic > 0.0 and dynamic < floor_j:
        scale = floor_j / dynamic
    weights_j, work_j, own = weights_j * scale, work_j * scale, own * scale
    residence = np.nan_to_num(activity.residence_s, nan=0.0)
    total_residence = float(residence.sum())
    shared = (residence / total_residence * (idle_j + weights_j) if total_residence > 0.0
              else np.zeros_like(own))
    busy_w = None
    if activity.busy_s > 0.0:
        busy_w = power.idle_w + (weights_j + work_j) / activity.busy_s / devices
    return PoolEnergy(idle_j=idle_j, weights_j=weights_j, work_j=work_j, capped=scale != 1.0,
                      joules=idle_j + weights_j + work_j, busy_w=busy_w,
                      per_request_j=own + shared)


def _finite_diff(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    out = later - earlier
    return np.where(np.isfinite(out), out, 0.0)


def run_energy(requests: pd.DataFrame, *, pools: Sequence[Mapping[str, Any]],
               pool_stats: Sequence[Mapping[str, Any]], hardware: Mapping[str, HardwareSpec],
               power: Mapping[str, PowerSpec], models: Mapping[str, ModelSpec],
               prefill_emits_token: bool, duration_s: float,
               ) -> tuple[dict[str, Any], np.ndarray]:
    """The summary's ``energy`` section and each request's joules (in ``requests``' row order).

    ``pools``: per pool, ``{"name", "role", "hardware", "model", "dtype"}`` (and optionally
    ``"tensor_parallel"``, default 1) in the order of
    ``pool_stats``; ``hardware``/``power``/``models`` by name. Roles are "colocated", "prefill"
    and "decode" (a prefill pool prefills, a decode pool decodes, a colocated pool does both).
    """
    prompt = requests["prompt_tokens"].to_numpy(dtype=np.float64)
    cached = (requests["cached_tokens"].to_numpy(dtype=np.float64)  # with a prefix cache only
              if "cached_tokens" in requests else 0.0)
    output = requests["output_tokens"].to_numpy(dtype=np.float64)
    completed = (requests["status"].astype(str) == "completed").to_numpy()
    prefilled = np.isfinite(requests["prefill_end_s"].to_numpy(dtype=np.float64))
    decoding = completed & np.isfinite(requests["decode_start_s"].to_numpy(dtype=np.float64))
    steps = np.where(decoding, output - (1.0 if prefill_emits_token else 0.0), 0.0)
    t = {c: requests[c].to_numpy(dtype=np.float64)
         for c in ("prefill_start_s", "prefill_end_s", "decode_start_s", "finish_s")}
    per_request = np.zeros(len(requests), dtype=np.float64)
    rows = []
    total_j = idle_j = 0.0
    attributed = 0.0
    for pool, stats in zip(pools, pool_stats):
        model = models[pool["model"]]
        role = str(pool["role"])
        flops = np.zeros(len(requests))
        data = np.zeros(len(requests))
        if role in ("colocated", "prefill"):
            f, b = prefill_work(model, pool["dtype"], np.where(prefilled, prompt, 0.0), cached)
            flops, data = flops + f, data + b
        if role in ("colocated", "decode"):
            f, b = decode_work(model, pool["dtype"], prompt, steps)
            flops, data = flops + f, data + b
        residence = {"colocated": _finite_diff(t["finish_s"], t["prefill_start_s"]),
                     "prefill": _finite_diff(t["prefill_end_s"], t["prefill_start_s"]),
                     "decode": _finite_diff(t["finish_s"], t["decode_start_s"])}[role]
        activity = PoolActivity(instances=int(stats["instances"]), busy_s=float(stats["busy_s"]),
                                iterations=int(stats["iterations"]),
                                mean_batch_size=float(stats["mean_batch_size"]),
                                flops=flops, data_bytes=data, residence_s=residence,
                                devices_per_instance=int(pool.get("tensor_parallel", 1)))
        energy = pool_energy(activity, power=power[pool["hardware"]],
                             hardware=hardware[pool["hardware"]], model=model,
                             dtype=pool["dtype"], duration_s=duration_s)
        per_request += energy.per_request_j
        attributed += float(energy.per_request_j.sum())
        total_j += energy.joules
        idle_j += energy.idle_j
        rows.append({"pool": str(pool["name"]), "joules": energy.joules,
                     "idle_j": energy.idle_j, "weights_j": energy.weights_j,
                     "work_j": energy.work_j, "capped": energy.capped,
                     "avg_power_w": energy.joules / duration_s if duration_s > 0 else None,
                     "busy_power_w": energy.busy_w})
    out_tokens = float(output[completed].sum())
    section = {
        "joules": total_j,
        "idle_j": idle_j,
        "joules_per_output_token": total_j / out_tokens if out_tokens > 0 else None,
        "avg_power_w": total_j / duration_s if duration_s > 0 else None,
        "unattributed_j": max(0.0, total_j - attributed),
        "links": "not counted (no sourced energy per byte for the modelled links)",
        "pools": rows,
    }
    return section, per_request
