"""Serving engines: the scheduling each one brought, as its version in the public data ran it.

A cost table is for one (hardware, engine, model, dtype, tensor-parallel degree). The engine
decides two things the simulator models separately:

- **its scheduling defaults** (this module): which batching policy of
  ``phasesim.simulator.batching`` reproduces its scheduler, how many sequences it runs at once and
  how many tokens one iteration may carry (``None``: the simulator's own default,
  ``max(2048, context limit)`` tokens and 256 sequences, i.e. vLLM's);
- **its step times** (per-step overheads and kernel efficiencies): fitted per (hardware, engine)
  by ``profiler fit`` on end-to-end measurements and shipped in ``simulator/tables/engine_calibration.json``
  (``docs/calibration.md``).

Versions and defaults are those of the engine releases LLM-Inference-Bench ran (Argonne, 2024;
its scripts name vLLM v0.5.2 on Intel Max 1550 and v0.6.1 on MI250, TensorRT-LLM v0.10-0.11,
DeepSpeed-MII 0.2.x, llama.cpp's ``llama-bench``, Habana's DeepSpeed fork via optimum-habana,
SambaNova Cloud). What each entry rests on is in its ``notes``.
"""

from __future__ import annotations

from dataclasses import dataclass

from phasesim.errors import InputError
from phasesim.simulator.catalog.hardware import HARDWARE, DeviceKind, HardwareSpec

__all__ = ["EngineSpec", "ENGINES", "ENGINE_SPELLINGS", "get_engine", "default_engine",
           "engine_names", "engine_for_hardware", "canonical_engine"]

# policy names of phasesim.simulator.topology.Batching (kept as strings: the catalog sits below
# the topology layer; tests/simulator/catalog/test_engines.py checks each is a Batching value)
_CONTINUOUS, _CHUNKED, _STATIC, _NONE = "continuous", "chunked", "static", "none"
# what an engine does when KV runs short: values of phasesim.simulator.topology.KVAdmission (the
# same test checks them); the policies in phasesim.simulator.batching say what each one does
_PREEMPT, _RESERVE, _STALL = "preempt", "reserve", "stall"


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineSpec:
    """One serving engine. ``max_num_seqs`` / ``max_num_batched_tokens`` None: the simulator's
    defaults (256 sequences capped by the hardware, ``max(2048, context limit)`` tokens, or the
    chunked policy's 512)."""

    name: str
    title: str
    batching: str
    max_num_seqs: int | None
    max_num_batched_tokens: int | None
    version: str
    notes: tuple[str, ...]
    # True: the engine runs ONE sequence (llama.cpp's llama-bench); a benchmark row's batch size is
    # then the prompt-processing chunk (``-b``), not concurrent prompts
    single_sequence: bool = False
    # True: N devices split the LAYERS (llama.cpp's default --split-mode layer): N devices' memory,
    # but a token still crosses every layer on one device at a time, so a step costs what it
    # costs on one device (the hand-off between devices, microseconds, is neglected)
    layer_split: bool = False
    # KV exhaustion: "preempt" (evict the newest, recompute: vLLM), "reserve" (admit only when the
    # KV of prompt + requested output can be reserved; never evict) or "stall" (a decode that
    # finds no free block skips the step, keeping its KV); the source of each value is in notes
    kv_admission: str = _PREEMPT
    # KV pool size: None keeps the hardware's fraction of each device's memory from the KV cache
    # (GPUs: 10 %, vLLM's gpu_memory_utilization 0.9, so KV = 0.9 x memory - weights); bytes:
    # the engine keeps that much per device and gives the KV cache the rest (memory - bytes -
    # weights per device); the source of each value is in notes
    kv_reserve_bytes_per_device: float | None = None


ENGINES: dict[str, EngineSpec] = {e.name: e for e in (
    EngineSpec(
        name="vllm", title="vLLM", batching=_CONTINUOUS, max_num_seqs=256,
        max_num_batched_tokens=None, version="0.5-0.6",
        notes=("Default scheduler of vLLM 0.5/0.6: iteration-level (continuous) batching, "
               "prefills first, no chunked prefill, max_num_seqs 256, max_num_batched_tokens "
               "max(max_model_len, 2048) (vllm/config.py SchedulerConfig).",
               "KV exhaustion: preempt. Admission needs the prompt's blocks (plus the watermark); "
               "when a decode step needs blocks the cache lacks, the newest running sequences "
               "are preempted and recomputed (vllm/core/scheduler.py _schedule_running / "
               "_preempt, PreemptionMode.RECOMPUTE by default).",
               "KV memory: 0.9 x memory - weights (gpu_memory_utilization 0.9, vllm/config.py "
               "CacheConfig / EngineArgs default; the hardware catalog's default_reserve_fraction "
               "0.10). vLLM also takes its profiled activation peak out of the 0.9; the simulator "
               "does not.",)),
    EngineSpec(
        name="trt-llm", title="TensorRT-LLM", batching=_CONTINUOUS, max_num_seqs=256,
        max_num_batched_tokens=8192, version="0.10-0.11",
        notes=("In-flight batching with trtllm-build's defaults of those releases: max_batch_size "
               "256, max_num_tokens 8192, context chunking off. TensorRT-LLM mixes generation "
               "into context iterations; the prefill-first continuous policy differs only in the "
               "first ceil(B*N/8192) iterations of a closed batch.",
               "KV exhaustion: reserve. The batch manager's capacity scheduler defaults to "
               "GUARANTEED_NO_EVICT (executor::SchedulerConfig's default in "
               "cpp/include/tensorrt_llm/executor/executor.h; the performance-tuning guide's "
               "'Useful Runtime Options': GUARANTEED_NO_EVICT (default) 'guarantee[s] that a "
               "started request is never paused', MAX_UTILIZATION is the opt-in that may pause "
               "requests): a request is scheduled only when the KV blocks it needs to completion "
               "(prompt + max new tokens) are free, and nothing is evicted.",
               "KV memory: vLLM's rule, 0.9 x memory - weights. TensorRT-LLM's KvCacheConfig "
               "free_gpu_memory_fraction (default 0.9) takes 90 % of the memory still free after "
               "the engine's weights AND activation/runtime buffers are allocated; with no cited "
               "size for those buffers the simulator keeps vLLM's rule (which may overstate the "
               "pool by up to 0.9 x the buffers).",),
        kv_admission=_RESERVE),
    EngineSpec(
        name="deepspeed-mii", title="DeepSpeed-MII (FastGen)", batching=_CHUNKED, max_num_seqs=256,
        max_num_batched_tokens=768, version="0.2",
        notes=("Dynamic SplitFuse: every forward pass carries up to max_ragged_batch_size = 768 "
               "tokens, decodes first then prompt chunks (MII's RaggedInferenceEngineConfig "
               "defaults); max_ragged_sequence_count 512, capped at 256 like the others.",
               "KV exhaustion: stall, not reserve (mii/batching/ragged_batching.py, "
               "RaggedBatchBase.schedule_requests / _do_schedule_requests): next-token requests "
               "are scheduled first, each only if the engine's free KV blocks can take its token "
               "(inference_engine.query against free_blocks), the others skip the iteration and "
               "keep their KV; a prompt is scheduled only if all of it fits what is left; no "
               "output is reserved up front and nothing is evicted, except when nothing at all "
               "can be scheduled ('Deadlock detected': the KV cache is reset and the requests "
               "recomputed; the simulator preempts the newest there, as vLLM does).",
               "KV memory: memory - 1 GB - weights per device. MII's ragged engine builds its KV "
               "cache with DeepSpeed inference v2's DSStateManagerConfig.memory_config, whose "
               "MemoryConfig defaults to mode AllocationMode.RESERVE, size 1_000_000_000 bytes: "
               "'the amount of memory in bytes to reserve after allocating the KV-cache', "
               "reserved on every device under tensor parallelism "
               "(deepspeed/inference/v2/ragged/manager_configs.py); the KV cache takes the rest.",),
        kv_admission=_STALL, kv_reserve_bytes_per_device=1e9),
    EngineSpec(
        name="deepspeed", title="DeepSpeed inference on Gaudi (optimum-habana)", batching=_STATIC,
        max_num_seqs=256, max_num_batched_tokens=1 << 30, version="Habana DeepSpeed 1.15-1.16",
        notes=("optimum-habana's run_generation.py: one static, padded batch prefilled together "
               "and decoded to completion (no iteration-level scheduling).",)),
    EngineSpec(
        name="llama.cpp", title="llama.cpp", batching=_CHUNKED, max_num_seqs=1,
        max_num_batched_tokens=512, version="b3000-era", single_sequence=True, layer_split=True,
        notes=("llama-bench runs ONE sequence; prompts are processed in physical batches of "
               "n_ubatch = 512 tokens (a benchmark row's -b below 512 makes the chunks smaller); "
               "decode is one token per step.",
               "Several GPUs split the layers (--split-mode layer, the default), not the tensors: "
               "LLM-Inference-Bench's llama.cpp runs get no faster from 1 to 4 H100s (Llama-3-8B, "
               "2,048 tokens, -b 64: 23.1 / 24.8 / 24.6 s).",)),
    EngineSpec(
        name="sambaflow", title="SambaFlow / SambaNova Cloud", batching=_STATIC, max_num_seqs=256,
        max_num_batched_tokens=1 << 30, version="2024 cloud API",
        notes=("Measured through SambaNova's cloud API: a batch is served as one static batch; the "
               "network round trip lands in the fitted prefill overhead.",)),
    EngineSpec(
        name="torch", title="plain PyTorch (profiler capture --backend torch)", batching=_CONTINUOUS,
        max_num_seqs=None, max_num_batched_tokens=None, version="phasesim profiler",
        notes=("phasesim's own eager decoder: step times measured directly, scheduled with the "
               "simulator's defaults.",)),
    EngineSpec(
        name="groq", title="Groq (GroqCloud / GroqRack compiler stack)", batching=_NONE,
        max_num_seqs=1, max_num_batched_tokens=None, version="2024",
        notes=("One sequence at a time, no batching (GroqRack's deterministic pipeline).",)),
    EngineSpec(
        name="analytical", title="no particular engine (roofline, simulator defaults)",
        batching=_CONTINUOUS, max_num_seqs=None, max_num_batched_tokens=None, version="-",
        notes=("Label of tables that model kernels, not an engine: schema-1 analytical tables and "
               "hand-built ones.",)),
    EngineSpec(
        name="vllm-xpu-early", title="vLLM, early Intel XPU port", batching=_CONTINUOUS,
        max_num_seqs=256, max_num_batched_tokens=None, version="pre-0.5 XPU",
        notes=("The data's 'Intel PVC GPU' vLLM rows: 3-10x slower than vLLM 0.5.2 on the same "
               "Max 1550; kept apart, never pooled with vllm.",)),
)}


def engine_names() -> list[str]:
    return sorted(ENGINES)


# Other spellings of a catalog engine's name, as projects and papers write them: phasesim spells
# each engine one way (its ``ENGINES`` key) in every table, option and output.
ENGINE_SPELLINGS: dict[str, str] = {
    "trtllm": "trt-llm", "trt_llm": "trt-llm", "tensorrt-llm": "trt-llm",
    "tensorrt_llm": "trt-llm", "tensorrtllm": "trt-llm", "tensorrt": "trt-llm",
    "deepspeed_mii": "deepspeed-mii", "mii": "deepspeed-mii", "llamacpp": "llama.cpp",
    "llama-cpp": "llama.cpp", "llama_cpp": "llama.cpp",
}


def canonical_engine(name: str) -> str:
    """``name`` as phasesim spells it: ``trtllm``/``TensorRT-LLM`` -> ``trt-llm``; a name
    that is no other spelling of a catalog engine comes back unchanged."""
    key = name.strip().lower()
    return ENGINE_SPELLINGS.get(key, key if key in ENGINES else name)


def get_engine(name: str) -> EngineSpec:
    try:
        return ENGINES[name]
    except KeyError:
        spelled = canonical_engine(name)
        if spelled != name and spelled in ENGINES:
            raise InputError(f"unknown engine '{name}': phasesim spells it '{spelled}'") from None
        raise InputError(f"unknown engine '{name}' (known: {', '.join(engine_names())})") from None


def default_engine(hardware: HardwareSpec) -> str:
    """The engine a pool on ``hardware`` runs when none is named: vLLM on GPUs (and anything
    vLLM ran on in the data), the vendor's stack where vLLM did not run (Gaudi2: DeepSpeed,
    SN40L: SambaFlow, GroqRack: Groq)."""
    if hardware.kind is DeviceKind.LPU:
        return "groq"
    if hardware.kind is DeviceKind.HPU:
        return "deepspeed"
    if hardware.kind is DeviceKind.RDU:
        return "sambaflow"
    if hardware.kind is DeviceKind.CPU:
        return "torch"  # the only engine phasesim captures on a CPU
    return "vllm"


_UNKNOWN_HARDWARE_ENGINE = "vllm"  # hardware outside the catalog: the GPU default


def engine_for_hardware(hardware: str, engine: str | None = None) -> EngineSpec:
    """``engine`` when given (checked), else ``hardware``'s default engine."""
    if engine is not None:
        return get_engine(engine)
    spec = HARDWARE.get(hardware)
    return get_engine(_UNKNOWN_HARDWARE_ENGINE if spec is None else default_engine(spec))
