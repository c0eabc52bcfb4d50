"""``profiler capture --backend torch``: time prefill and decode steps of a Llama-family model.

torch is an optional extra (a missing one is the CLI's install hint). The grid runs coverage-first (corners, then midpoints, both
phases interleaved), each point is appended to the checkpoint as it completes, points predicted
not to fit (KV bytes + activations) or hitting an out-of-memory error are recorded as skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from phasesim.errors import InputError
from phasesim.profiler.capture.grid import (
    Checkpoint,
    GridPoint,
    PointResult,
    checkpoint_path,
    coverage_order,
    interleave,
)
from phasesim.profiler.capture.table import host_provenance, results_frame, write_cost_table
from phasesim.profiler.capture.torch_device import (
    DeviceInfo,
    free_bytes,
    is_oom,
    open_device,
    release,
    synchronize,
    time_call,
)
from phasesim.profiler.capture.torch_model import (
    ATTENTION_BACKENDS,
    TORCH_DTYPES,
    LlamaWeights,
    build_weights,
    decode_step,
    new_kv_cache,
    prefill,
)
from phasesim.seeds import check_seed
from phasesim.simulator.catalog.models import DTYPE_BYTES, ModelSpec
from phasesim.simulator.table_schema import SCHEMA_VERSION, Phase, Source

__all__ = ["TorchCaptureConfig", "CaptureOutcome", "capture_torch", "predicted_bytes"]

GIB = 1024**3


@dataclass(frozen=True, slots=True, kw_only=True)
class TorchCaptureConfig:
    device: str
    model: ModelSpec
    model_name: str  # the table's model column (catalog name)
    dtype: str
    output: Path
    prefill_batch_sizes: tuple[int, ...]
    prompt_lens: tuple[int, ...]
    decode_batch_sizes: tuple[int, ...]
    contexts: tuple[int, ...]
    repeats: int = 10
    warmup: int = 3
    graphs: bool = True
    resume: bool = False
    hardware: str | None = None
    max_seconds: float | None = None
    max_points: int | None = None  # stop after this many newly finished points (tests)
    memory_limit_bytes: int | None = None  # cap on weights + one point (tests the skip path)
    seed: int = 0
    command: str = ""  # the command line, for provenance

    def __post_init__(self) -> None:
        check_seed(self.seed)


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureOutcome:
    output: Path
    checkpoint: Path
    points_total: int
    timed: int
    skipped: int
    new_points: int
    complete: bool
    write_note: str
    meta: dict[str, Any] = field(default_factory=dict)


def predicted_bytes(spec: ModelSpec, point: GridPoint, *, dtype: str, device_type: str) -> int:
    """Bytes one point allocates beyond the weights: its KV cache plus peak activations."""
    nbytes = DTYPE_BYTES[dtype]
    b, t = point.batch_size, point.tokens
    kv = spec.kv_bytes_per_token(dtype)
    if point.phase is Phase.PREFILL:
        tokens = b * t
        act = tokens * (10 * spec.hidden + 6 * spec.ffn) * nbytes  # qkv, rope copies, mlp
        act += tokens * spec.hidden * 4 * 3  # float32 RMSNorm temporaries
        if device_type != "cuda":  # CPU/MPS attention may materialise the score matrix
            act += b * spec.heads * t * t * 4
        return int(b * t * kv + act + b * spec.vocab * 4)
    act = b * (10 * spec.hidden + 6 * spec.ffn) * nbytes + b * spec.vocab * 4
    if device_type != "cuda":
        act += b * spec.heads * (t + 1) * 4
    return int(b * (t + 1) * kv + act)


def _margin_bytes(device_type: str) -> int:
    return 512 * 1024**2 if device_type == "cuda" else 64 * 1024**2


class _PointRunner:
    """Times single points on one device with one set of weights."""

    def __init__(self, *, cfg: TorchCaptureConfig, info: DeviceInfo, weights: LlamaWeights,
                 weight_bytes: int) -> None:
        self.cfg = cfg
        self.info = info
        self.w = weights
        self.weight_bytes = weight_bytes
        self.graphs = cfg.graphs and info.device.type == "cuda"
        self.graph_failures: list[str] = []
        self.gen = torch.Generator(device=info.device).manual_seed(cfg.seed)

    def available_bytes(self) -> int:
        avail = free_bytes(self.info.device)
        if self.cfg.memory_limit_bytes is not None:
            avail = min(avail, self.cfg.memory_limit_bytes - self.weight_bytes)
        return avail

    def run(self, point: GridPoint) -> PointResult:
        need = predicted_bytes(self.cfg.model, point, dtype=self.cfg.dtype,
                               device_type=self.info.device.type)
        need += _margin_bytes(self.info.device.type)
        avail = self.available_bytes()
        if need > avail:
            return PointResult(point=point, skipped_reason=(
                f"predicted {need / GIB:.2f} GiB > available {max(avail, 0) / GIB:.2f} GiB"))
        try:
            if point.phase is Phase.PREFILL:
                return self._prefill(point)
            return self._decode(point)
        except Exception as exc:  # noqa: BLE001 - a failing point is recorded, never a crash
            reason = ("out of memory" if is_oom(exc) else f"error: {type(exc).__name__}") + (
                f": {' '.join(str(exc).split())[:200]}")
            return PointResult(point=point, skipped_reason=reason)
        finally:
            release(self.info.device)

    def _tokens(self, *shape: int) -> torch.Tensor:
        return torch.randint(0, self.cfg.model.vocab, shape, device=self.info.device,
                             generator=self.gen)

    def _prefill(self, point: GridPoint) -> PointResult:
        spec, dev, dt = self.cfg.model, self.info.device, TORCH_DTYPES[self.cfg.dtype]
        cache = new_kv_cache(spec, batch=point.batch_size, capacity_tokens=point.tokens,
                             device=dev, dtype=dt, random_fill=False)
        tokens = self._tokens(point.batch_size, point.tokens)
        samples = time_call(lambda: prefill(self.w, tokens, cache), device=dev,
                            repeats=self.cfg.repeats, warmup=self.cfg.warmup)
        return PointResult(point=point, samples_s=tuple(samples), extra={"cuda_graph": False})

    def _decode(self, point: GridPoint) -> PointResult:
        spec, dev, dt = self.cfg.model, self.info.device, TORCH_DTYPES[self.cfg.dtype]
        b, ctx = point.batch_size, point.tokens
        cache = new_kv_cache(spec, batch=b, capacity_tokens=ctx + 1, device=dev, dtype=dt,
                             random_fill=True)
        tokens = self._tokens(b)
        positions = torch.full((b,), ctx, device=dev, dtype=torch.int64)

        def eager() -> torch.Tensor:
            # The masked per-sequence path, the one a ragged serving batch (and `profiler
            # validate`'s loop) runs, so capture and serving time the same attention kernel.
            return decode_step(self.w, tokens, positions, cache, attn_tokens=ctx + 1)

        fn: Callable[[], object] = eager
        used_graph = False
        if self.graphs:
            graph = self._capture_graph(eager, point)
            if graph is not None:
                fn, used_graph = graph.replay, True
        samples = time_call(fn, device=dev, repeats=self.cfg.repeats, warmup=self.cfg.warmup)
        return PointResult(point=point, samples_s=tuple(samples), extra={"cuda_graph": used_graph})

    def _capture_graph(self, eager: Callable[[], torch.Tensor],
                       point: GridPoint) -> torch.cuda.CUDAGraph | None:
        """Record one decode step as a CUDA graph (as serving engines do); on a non-OOM failure
        fall back to eager for this point and record why."""
        dev = self.info.device
        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):
            for _ in range(2):
                eager()
        torch.cuda.current_stream(dev).wait_stream(side)
        synchronize(dev)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                eager()
        except Exception as exc:  # noqa: BLE001
            if is_oom(exc):
                raise
            self.graph_failures.append(
                f"decode b={point.batch_size} ctx={point.tokens}: {type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:200]}")
            synchronize(dev)
            return None
        synchronize(dev)
        return graph


def _grid_points(cfg: TorchCaptureConfig) -> list[GridPoint]:
    limit = cfg.model.max_context_tokens
    if too_long := [t for t in cfg.prompt_lens if t > limit]:
        raise InputError(f"prompt lengths {too_long} exceed the model's context of {limit} "
                         "tokens", column="--prompt-lens")
    if too_long := [t for t in cfg.contexts if t + 1 > limit]:
        raise InputError(f"contexts {too_long} leave no room for the decoded token in the "
                         f"model's context of {limit} tokens", column="--contexts")
    return interleave(coverage_order(Phase.PREFILL, cfg.prefill_batch_sizes, cfg.prompt_lens),
                      coverage_order(Phase.DECODE, cfg.decode_batch_sizes, cfg.contexts))


def _describe(result: PointResult) -> str:
    p = result.point
    head = f"{p.phase.value:7s} b={p.batch_size:<4d} tokens={p.tokens:<6d}"
    if result.skipped_reason:
        return f"{head} skipped: {result.skipped_reason}"
    s = sorted(result.samples_s)
    med = s[len(s) // 2] * 1e3
    graph = " graph" if result.extra.get("cuda_graph") else ""
    return f"{head} {med:9.3f} ms (n={len(s)}){graph}"


def capture_torch(cfg: TorchCaptureConfig, *, console: Console) -> CaptureOutcome:
    """Run (or resume) the capture; always writes the table of the points done so far."""
    t_start = time.monotonic()
    if cfg.dtype not in TORCH_DTYPES:
        raise InputError(f"dtype {cfg.dtype!r} not supported by the torch backend "
                         f"(choose from {', '.join(TORCH_DTYPES)})", column="--dtype")
    points = _grid_points(cfg)
    info = open_device(cfg.device)
    hardware = cfg.hardware or info.hardware
    grid = {"prefill_batch_sizes": list(cfg.prefill_batch_sizes),
            "prompt_lens": list(cfg.prompt_lens),
            "decode_batch_sizes": list(cfg.decode_batch_sizes), "contexts": list(cfg.contexts)}
    header = {"backend": "torch", "model": cfg.model_name, "dtype": cfg.dtype,
              "hardware": hardware, "grid": grid}
    ckpt_path = checkpoint_path(cfg.output)
    ckpt = Checkpoint(path=ckpt_path, header=header, resume=cfg.resume)
    todo = [p for p in points if p.key not in ckpt.done]
    console.print(f"[profiler] device {info.name} ({hardware}), model {cfg.model_name} "
                  f"{cfg.dtype}, {len(points)} points, {len(points) - len(todo)} already in "
                  f"checkpoint", highlight=False, markup=False)

    weight_bytes = cfg.model.param_bytes(cfg.dtype)
    runner: _PointRunner | None = None
    new_points = 0
    stopped_by = ""
    budget_left = cfg.max_seconds is None or time.monotonic() - t_start < cfg.max_seconds
    if todo and not budget_left:
        stopped_by = f"time budget of {cfg.max_seconds:g} s spent"
    if todo and budget_left:
        if cfg.memory_limit_bytes is not None and weight_bytes > cfg.memory_limit_bytes:
            raise InputError(f"weights need {weight_bytes / GIB:.2f} GiB, more than the "
                             f"memory limit", column="--memory-limit-gb")
        t0 = time.monotonic()
        weights = build_weights(cfg.model, device=info.device, dtype=TORCH_DTYPES[cfg.dtype],
                                seed=cfg.seed)
        synchronize(info.device)
        console.print(f"[profiler] built {weight_bytes / GIB:.2f} GiB of weights in "
                      f"{time.monotonic() - t0:.1f} s", highlight=False, markup=False)
        runner = _PointRunner(cfg=cfg, info=info, weights=weights, weight_bytes=weight_bytes)
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                            console=console, transient=False)
        with progress:
            task = progress.add_task("capture", total=len(points),
                                     completed=len(points) - len(todo))
            for point in todo:
                if cfg.max_seconds is not None and time.monotonic() - t_start >= cfg.max_seconds:
                    stopped_by = f"time budget of {cfg.max_seconds:g} s spent"
                    break
                if cfg.max_points is not None and new_points >= cfg.max_points:
                    stopped_by = f"point limit of {cfg.max_points} reached"
                    break
                result = runner.run(point)
                ckpt.record(point.key, result.to_dict())
                new_points += 1
                progress.console.print(f"[{len(ckpt.done)}/{len(points)}] {_describe(result)}",
                                       highlight=False, markup=False)
                progress.advance(task)

    results = [PointResult.from_dict(ckpt.done[p.key]) for p in points if p.key in ckpt.done]
    skipped = [{"phase": r.point.phase.value, "batch_size": r.point.batch_size,
                "tokens": r.point.tokens, "reason": r.skipped_reason}
               for r in results if r.skipped_reason]
    complete = len(results) == len(points)
    graphs_used = any(r.extra.get("cuda_graph") for r in results)
    meta: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "source": Source.MEASURED.value,
        "engine": "torch",
        "hardware": hardware,
        "model": cfg.model_name,
        "dtype": cfg.dtype,
        "tensor_parallel": 1,
        "capture": {**host_provenance(cfg.command), **info.as_dict(), "backend": "torch"},
        "provenance": (f"measured by phasesim `profiler capture --backend torch` on {info.name}: "
                       "plain-torch Llama decoder (random weights, fused QKV/gate-up, SDPA), "
                       "decode over a randomly filled KV cache"),
        "grid": grid,
        "repeats": cfg.repeats,
        "warmup": cfg.warmup,
        "cuda_graphs": {"requested": cfg.graphs, "device_supports": info.device.type == "cuda",
                        "used": graphs_used,
                        "failures": runner.graph_failures if runner else []},
        "attention": {"backends": [b.name for b in ATTENTION_BACKENDS] if info.device.type == "cuda"
                      else ["default"],
                      "decode": "masked per-sequence positions (ragged-batch kernel)"},
        "timing": "CUDA events" if info.device.type == "cuda" else "synchronize + perf_counter",
        "skipped": skipped,
        "complete": complete,
        "stopped_by": stopped_by,
        "points_total": len(points),
        "points_done": len(results),
        "memory_limit_bytes": cfg.memory_limit_bytes,
        "seed": cfg.seed,
    }
    df = results_frame(results, hardware=hardware, model=cfg.model_name, dtype=cfg.dtype,
                       extra_columns=("cuda_graph",))
    df["cuda_graph"] = df["cuda_graph"].astype(bool)
    note = write_cost_table(df, meta, cfg.output)
    if stopped_by:
        console.print(f"[profiler] stopped: {stopped_by}; {len(results)}/{len(points)} points "
                      f"done, resume with --resume", highlight=False, markup=False)
    console.print(f"[profiler] wrote {cfg.output} ({len(df)} timed, {len(skipped)} skipped; "
                  f"{note}) in {time.monotonic() - t_start:.1f} s",
                  highlight=False, markup=False)
    return CaptureOutcome(output=cfg.output, checkpoint=ckpt_path, points_total=len(points),
                          timed=len(df), skipped=len(skipped), new_points=new_points,
                          complete=complete, write_note=note, meta=meta)
