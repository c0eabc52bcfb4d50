"""The cost-table schema: the contract between ``profiler/`` (writes) and ``simulator/`` (reads).

Column names, units and metadata keys are defined here once. This module imports nothing heavy
(no simpy, no torch), so the profiler can import it on a bare GPU box.

One row = one grid point:
  prefill: ``batch_size`` sequences of ``tokens`` prompt tokens each, one forward pass.
  decode:  one decode step of ``batch_size`` sequences, each with ``tokens`` context tokens
           already in the KV cache.
``latency_s`` is the median wall time of that step in seconds; p10/p90 likewise.
"""

from __future__ import annotations

import enum

__all__ = [
    "SCHEMA_VERSION",
    "METADATA_KEY",
    "Phase",
    "Source",
    "ENGINES",
    "LEGACY_SCHEMA_VERSION",
    "legacy_engine",
    "COLUMNS",
    "HARDWARE",
    "MODEL",
    "PHASE",
    "BATCH_SIZE",
    "TOKENS",
    "LATENCY_S",
    "LATENCY_P10_S",
    "LATENCY_P90_S",
    "SAMPLES",
    "DTYPE",
    "TENSOR_PARALLEL",
    "GRID_KEY",
]

SCHEMA_VERSION = "2"
# Schema 1 tables carry no engine; they still load (see legacy_engine).
LEGACY_SCHEMA_VERSION = "1"
# Parquet key-value metadata key; value is JSON with: schema_version, source (Source value),
# engine (the serving engine the step times are of; one table = one engine, so it is metadata,
# not a column: see ENGINES),
# capture {device, driver, libraries{}, date, command, host}, provenance (free text / list),
# calibration {per-source errors} (analytical tables), extra per-backend details.
METADATA_KEY = b"phasesim.cost_table"


class Phase(enum.StrEnum):
    PREFILL = "prefill"
    DECODE = "decode"


class Source(enum.StrEnum):
    MEASURED = "measured"  # timed on real hardware by `profiler capture`
    PUBLISHED = "published"  # numbers published by a third party (who, where: in provenance)
    ANALYTICAL = "analytical"  # derived from specs by a roofline model (calibration in metadata)


# A cost table is for (hardware, engine, model, dtype, tensor-parallel degree). The engine names
# phasesim knows; a table may name another (``profiler capture --backend openai --engine E``
# records what the user says served the endpoint), as a non-empty string.
ENGINES: dict[str, str] = {
    "vllm": "vLLM",
    "trt-llm": "NVIDIA TensorRT-LLM",
    "deepspeed-mii": "DeepSpeed-MII",
    "deepspeed": "DeepSpeed (Intel Gaudi)",
    "llama.cpp": "llama.cpp",
    "sambaflow": "SambaNova SambaFlow",
    "torch": "the plain-torch decoder of `profiler capture --backend torch`",
    "groq": "GroqCloud's own serving stack, seen through the Groq API (`profiler capture --backend groq`)",
    "analytical": "no engine: a roofline of simulator/costs/roofline.py over datasheet numbers",
}


def legacy_engine(meta: dict) -> str:
    """The engine of a schema-1 table, which names none: ``analytical`` unless the table is
    measured; a measured one is ``torch`` (what ``profiler capture --backend torch`` wrote, the
    shipped raw H100 capture among them), except where its capture provenance says otherwise:
    ``capture.backend`` ``groq`` gives ``groq``, a ``capture.engine`` (the openai backend's
    ``--engine``) gives that engine."""
    if meta.get("source") != Source.MEASURED.value:
        return "analytical"
    capture = meta.get("capture") if isinstance(meta.get("capture"), dict) else {}
    if isinstance(capture.get("engine"), str) and capture["engine"]:
        return capture["engine"]
    if capture.get("backend") == "groq":
        return "groq"
    return "torch"


HARDWARE = "hardware"  # str, catalog name, e.g. "h100-sxm"
MODEL = "model"  # str, catalog name, e.g. "llama2-7b"
PHASE = "phase"  # str, Phase value
BATCH_SIZE = "batch_size"  # int64 >= 1
TOKENS = "tokens"  # int64 >= 1: prompt tokens per sequence (prefill) / context per sequence (decode)
LATENCY_S = "latency_s"  # float64 > 0, median seconds
LATENCY_P10_S = "latency_p10_s"  # float64
LATENCY_P90_S = "latency_p90_s"  # float64
SAMPLES = "samples"  # int64 >= 0 (0 for analytical/published points)
DTYPE = "dtype"  # str: "fp16" | "bf16" | "fp32" | "fp8"
TENSOR_PARALLEL = "tensor_parallel"  # int64 >= 1

COLUMNS: dict[str, str] = {
    HARDWARE: "string",
    MODEL: "string",
    PHASE: "string",
    BATCH_SIZE: "int64",
    TOKENS: "int64",
    LATENCY_S: "float64",
    LATENCY_P10_S: "float64",
    LATENCY_P90_S: "float64",
    SAMPLES: "int64",
    DTYPE: "string",
    TENSOR_PARALLEL: "int64",
}

# A grid point is unique by these columns.
GRID_KEY = (HARDWARE, MODEL, PHASE, BATCH_SIZE, TOKENS, DTYPE, TENSOR_PARALLEL)
