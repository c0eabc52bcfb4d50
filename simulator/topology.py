"""Topologies: pools of serving instances, the links between them, and the built-in layouts.

This is where configuration data enters the simulator, so it is pydantic (validated, frozen).
Built-in topologies are data: each name maps to a plain dict fragment below, and
``builtin_topology(name, **overrides)`` edits a copy of that dict before validation. A custom
topology is the same structure in a YAML file (``load_topology(path)``).

Link defaults (sources: shared/data/SOURCES.md "Public facts" and ``phasesim.simulator.catalog.hardware``):
- GPU -> GPU: one InfiniBand NDR 400 Gb/s NIC per H100 (DGX H100) = 50 GB/s, 5 us latency
  (typical RDMA one-way latency; an assumption).
- GPU <-> GroqRack: the GPU node's 400 Gb/s NDR NIC (50 GB/s), then PCIe Gen4 x16 into the Groq
  cards (~31.5 GB/s per direction): effective bandwidth = min = 31.5 GB/s, 10 us latency
  (NIC + PCIe hop; an assumption).
"""

from __future__ import annotations

import copy
import enum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from phasesim.errors import InputError
from phasesim.safe_yaml import load_yaml
from phasesim.simulator.catalog.engines import ENGINES, canonical_engine, engine_names
from phasesim.simulator.catalog.hardware import (
    HARDWARE,
    NDR_400G_BYTES_PER_S,
    PCIE_GEN4_X16_BYTES_PER_S,
    DeviceKind,
)
from phasesim.units import MAX_TIME_S, bytes_per_s, seconds
from phasesim.yaml_lines import line_of

__all__ = [
    "BUILTIN_TOPOLOGIES",
    "MAX_BATCHED_TOKENS",
    "MAX_BLOCK_TOKENS",
    "MAX_INSTANCES",
    "MAX_KV_CAPACITY_TOKENS",
    "MAX_NUM_SEQS",
    "MAX_TENSOR_PARALLEL",
    "Batching",
    "FirstToken",
    "KVAdmission",
    "LinkSharing",
    "LinkSpec",
    "PoolSpec",
    "QueueOrder",
    "Role",
    "Routing",
    "TopologySpec",
    "builtin_topology",
    "load_topology",
]

GPU_LINK_LATENCY_S = 5e-6  # assumption: RDMA one-way latency
GROQ_LINK_LATENCY_S = 10e-6  # assumption: NIC + PCIe hop


class Role(enum.StrEnum):
    COLOCATED = "colocated"
    PREFILL = "prefill"
    DECODE = "decode"


class Batching(enum.StrEnum):
    CONTINUOUS = "continuous"
    CHUNKED = "chunked"
    STATIC = "static"
    NONE = "none"


class KVAdmission(enum.StrEnum):
    """What an engine does when its KV cache cannot hold every running sequence's next token
    (``phasesim.simulator.batching``; each engine's value and its source in the engine catalog)."""

    PREEMPT = "preempt"  # admit on the prompt's KV; evict the newest and recompute (vLLM)
    RESERVE = "reserve"  # admit only when prompt + output KV can be reserved; never evict
    STALL = "stall"  # admit on the prompt's KV; a decode without a free block waits, holding its KV


class QueueOrder(enum.StrEnum):
    FCFS = "fcfs"
    SHORTEST_PROMPT_FIRST = "shortest-prompt-first"
    PRIORITY = "priority"


class Routing(enum.StrEnum):
    ROUND_ROBIN = "round_robin"
    RANDOM = "random"
    LEAST_OUTSTANDING = "least_outstanding"
    LEAST_KV = "least_kv"
    POWER_OF_TWO = "power_of_two"
    PREFIX_AFFINITY = "prefix_affinity"  # where the longest prefix is cached, load-bounded
    SESSION_AFFINITY = "session_affinity"  # a session's last instance, while not overloaded
    CACHE_AWARE = "cache_aware"  # lowest prefill-to-compute + KV-load cost (simulator.routing)


class FirstToken(enum.StrEnum):
    PREFILL = "prefill"  # the prefill instance emits the first token (DistServe, Splitwise)
    DECODE = "decode"  # the decode instance's first step emits it


class LinkSharing(enum.StrEnum):
    POOL = "pool"  # one link shared by every transfer between the two pools
    SOURCE_INSTANCE = "source_instance"  # one link (NIC) per source instance


_FROZEN = ConfigDict(extra="forbid", frozen=True)


# Bounds on a pool's counts, stated here where they enter (option, topology file, scenario, plan):
# far above real deployments, low enough that a run is built in seconds and its token and byte
# counts stay exact in int64 (a pool of 100,000 instances took 90 s to build; 10,000 take 3 s).
MAX_INSTANCES = 10_000
MAX_TENSOR_PARALLEL = 4_096
MAX_NUM_SEQS = 2**20
MAX_BATCHED_TOKENS = 2**31
MAX_KV_CAPACITY_TOKENS = 2**48
MAX_BLOCK_TOKENS = 2**20

_LATER_FIELD_DEFAULTS: dict[str, Any] = {"tensor_parallel": 1, "prefix_cache": False,
                                         "engine": None, "batching": None}


class PoolSpec(BaseModel):
    """A pool of identical instances. ``engine`` None: the hardware's default engine;
    ``batching`` and limits None: the engine's (``phasesim.simulator.scheduling``), whose None
    limits take the batching policy's default."""

    model_config = _FROZEN

    name: str = Field(min_length=1)
    role: Role
    hardware: str = Field(min_length=1)
    model: str = "llama2-7b"
    dtype: str = "fp16"
    instances: int = Field(default=1, ge=1, le=MAX_INSTANCES)
    batching: Batching | None = None  # None: the engine's
    max_num_seqs: int | None = Field(default=None, ge=1, le=MAX_NUM_SEQS)
    max_num_batched_tokens: int | None = Field(default=None, ge=1,
                                                 le=MAX_BATCHED_TOKENS)
    queue_order: QueueOrder = QueueOrder.FCFS
    routing: Routing = Routing.ROUND_ROBIN
    kv_capacity_tokens: int | None = Field(default=None, ge=1,  # None: simulator.costs
                                             le=MAX_KV_CAPACITY_TOKENS)
    block_tokens: int = Field(default=16, ge=1, le=MAX_BLOCK_TOKENS)
    watermark_fraction: float = Field(default=0.01, ge=0.0, lt=1.0)
    profile: str | None = None  # cost-table path; None: the best shipped table
    # reuse cached prompt prefix blocks (the trace's prefix_hash_ids) on each instance; off by
    # default; prefill-side only in a disaggregated topology; GPU pools only
    prefix_cache: bool = False
    # serving engine (phasesim.simulator.catalog.engines); None: the hardware's default
    engine: str | None = None

    @field_validator("engine")
    @classmethod
    def _check_engine(cls, engine: str | None) -> str | None:
        if engine is not None and engine not in ENGINES:
            spelled = canonical_engine(engine)
            if spelled in ENGINES:
                raise ValueError(f"unknown engine '{engine}': phasesim spells it '{spelled}'")
            raise ValueError(f"unknown engine '{engine}' (known: {', '.join(engine_names())})")
        return engine

    @model_validator(mode="before")
    @classmethod
    def _cache_aware_default(cls, data: Any) -> Any:
        """A pool with a prefix cache that names no router gets ``cache_aware`` (one that weighs
        the cached prefix against load: ``phasesim.simulator.routing``)."""
        if isinstance(data, dict) and data.get("prefix_cache") is True and "routing" not in data:
            return {**data, "routing": Routing.CACHE_AWARE.value}
        return data

    @model_validator(mode="after")
    def _check_prefix_cache(self) -> PoolSpec:
        if not self.prefix_cache:
            return self
        hardware = HARDWARE.get(self.hardware)
        if hardware is not None and hardware.kind == DeviceKind.LPU:
            raise ValueError(f"pool '{self.name}': {self.hardware} has no prefix cache (its KV "
                             "lives in on-chip SRAM with nothing to spare); turn prefix_cache off "
                             "for this pool")
        if self.role == Role.DECODE:
            raise ValueError(f"pool '{self.name}': the prefix cache lives on the prefill side; "
                             "a decode pool cannot have one")
        return self

    # devices per instance (tensor parallelism): weights and KV split N ways, N x the memory,
    # compute and bandwidth, two all-reduces per layer; its cost table must be for TP N
    tensor_parallel: int = Field(default=1, ge=1, le=MAX_TENSOR_PARALLEL)

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave the fields added after meta.json's format was fixed out of dumps while they hold
        their defaults (``tensor_parallel`` 1, ``prefix_cache`` off, ``engine`` and ``batching``
        None: the engine's), so a run that does not use them records the meta it always did."""
        data = handler(self)
        for key, default in _LATER_FIELD_DEFAULTS.items():
            if data.get(key, default) == default:
                data.pop(key, None)
        return data


class LinkSpec(BaseModel):
    """A KV-transfer path from ``src`` pool to ``dst`` pool (processor-shared bandwidth).
    ``bandwidth_bytes_per_s`` and ``latency_s`` take a number in bytes/s and seconds, or a string
    in the scenario files' unit grammar (``200Gbps``, ``25GB/s``, ``5us``: ``phasesim.units``)."""

    model_config = _FROZEN

    name: str = Field(min_length=1)
    src: str
    dst: str
    bandwidth_bytes_per_s: Annotated[float, BeforeValidator(bytes_per_s)] = Field(
        gt=0, allow_inf_nan=False)
    latency_s: Annotated[float, BeforeValidator(seconds)] = Field(
        default=0.0, ge=0, le=MAX_TIME_S, allow_inf_nan=False)
    sharing: LinkSharing = LinkSharing.POOL
    layerwise_overlap: bool = False  # stream all but the last layer's KV during prefill


class TopologySpec(BaseModel):
    """One colocated pool, or one prefill pool + one decode pool joined by a link."""

    model_config = _FROZEN

    name: str = "custom"
    pools: tuple[PoolSpec, ...] = Field(min_length=1)
    links: tuple[LinkSpec, ...] = ()
    first_token: FirstToken = FirstToken.PREFILL
    seed: int | None = Field(default=None, ge=0)
    # arrivals at arrival_s / rate_scale
    rate_scale: float = Field(default=1.0, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check_layout(self) -> TopologySpec:
        names = [p.name for p in self.pools]
        if len(set(names)) != len(names):
            raise ValueError(f"pool names must be unique, got {names}")
        roles = sorted(p.role.value for p in self.pools)
        if roles not in (["colocated"], ["decode", "prefill"]):
            raise ValueError("pools must be one 'colocated' pool, or one 'prefill' and one "
                             f"'decode' pool; got roles {roles}")
        if self.disaggregated:
            src, dst = self.pool(Role.PREFILL).name, self.pool(Role.DECODE).name
            if [(lk.src, lk.dst) for lk in self.links] != [(src, dst)]:
                raise ValueError(f"a disaggregated topology needs exactly one link "
                                 f"src: {src}, dst: {dst}")
        elif self.links:
            raise ValueError("a colocated topology has no links")
        return self

    @property
    def disaggregated(self) -> bool:
        return len(self.pools) == 2

    def pool(self, role: Role) -> PoolSpec:
        return next(p for p in self.pools if p.role == role)


# GPU pools take their engine's batching (vLLM's: continuous); GroqRack pools stay unbatched
_GPU = {"hardware": "h100-sxm", "routing": "least_outstanding"}
_GROQ = {"hardware": "groqrack", "batching": "none", "routing": "least_outstanding"}
_GPU_LINK = {"bandwidth_bytes_per_s": NDR_400G_BYTES_PER_S, "latency_s": GPU_LINK_LATENCY_S}
_GROQ_LINK = {"bandwidth_bytes_per_s": min(NDR_400G_BYTES_PER_S, PCIE_GEN4_X16_BYTES_PER_S),
              "latency_s": GROQ_LINK_LATENCY_S}


def _disaggregated(prefill: dict[str, Any], decode: dict[str, Any], link: dict[str, Any]):
    return {
        "pools": [{"name": "prefill", "role": "prefill", "instances": 1, **prefill},
                  {"name": "decode", "role": "decode", "instances": 1, **decode}],
        "links": [{"name": "kv", "src": "prefill", "dst": "decode", **link}],
    }


BUILTIN_TOPOLOGIES: dict[str, dict[str, Any]] = {
    "gpu": {"pools": [{"name": "gpu", "role": "colocated", "instances": 1, **_GPU}]},
    "groq": {"pools": [{"name": "groq", "role": "colocated", "instances": 1, **_GROQ}]},
    "gpu-prefill-gpu-decode": _disaggregated(_GPU, _GPU, _GPU_LINK),
    "gpu-prefill-groq-decode": _disaggregated(_GPU, _GROQ, _GROQ_LINK),
    "groq-prefill-gpu-decode": _disaggregated(_GROQ, _GPU, _GROQ_LINK),
}

# override name -> (pool filter, pool field); None filter = every pool
_POOL_OVERRIDES: dict[str, tuple[str | None, str]] = {
    "instances": ("colocated", "instances"),
    "prefill_instances": ("prefill", "instances"),
    "decode_instances": ("decode", "instances"),
    "batching": (None, "batching"),
    "engine": (None, "engine"),
    "max_num_seqs": (None, "max_num_seqs"),
    "max_num_batched_tokens": (None, "max_num_batched_tokens"),
    "queue_order": (None, "queue_order"),
    "routing": (None, "routing"),
    "model": (None, "model"),
    "dtype": (None, "dtype"),
    "kv_capacity_tokens": (None, "kv_capacity_tokens"),
    "profile": ("colocated", "profile"),
    "prefill_profile": ("prefill", "profile"),
    "decode_profile": ("decode", "profile"),
}
_LINK_OVERRIDES = {"link_bandwidth": "bandwidth_bytes_per_s", "link_latency": "latency_s",
                   "link_sharing": "sharing", "layerwise_overlap": "layerwise_overlap"}
_TOP_OVERRIDES = ("seed", "rate_scale", "first_token")
# earlier spellings of an override, still accepted (scenario files name them): old -> new
_OLD_OVERRIDES = {"max_batch": "max_num_seqs"}
_PREFIX_ROLES = ("colocated", "prefill")  # prefix_cache: the pools that compute prefills


def builtin_topology(name: str, **overrides: Any) -> TopologySpec:
    """A built-in topology with overrides (``None`` values are ignored).

    Overrides: ``gpu`` (hardware of the GPU pools, default h100-sxm), ``instances`` (colocated),
    ``prefill_instances``, ``decode_instances``, ``batching``, ``max_num_seqs`` (``max_batch``,
    its earlier name, is accepted too),
    ``max_num_batched_tokens``, ``engine`` (every pool), ``queue_order``, ``routing``, ``model``, ``dtype``,
    ``kv_capacity_tokens``, ``profile`` / ``prefill_profile`` / ``decode_profile`` (cost-table
    paths), ``link_bandwidth`` (bytes/s), ``link_latency`` (s), ``link_sharing``,
    ``layerwise_overlap``, ``seed``, ``rate_scale``, ``first_token``, ``prefix_cache`` (the
    colocated or prefill pool; routed ``cache_aware`` unless ``routing`` is given),
    ``tensor_parallel`` (devices per instance of the GPU pools,
    like ``gpu``: never a GroqRack pool).
    """
    if name not in BUILTIN_TOPOLOGIES:
        known = ", ".join(BUILTIN_TOPOLOGIES)
        raise InputError(f"unknown topology '{name}' (built-ins: {known}; or a YAML file)")
    data = copy.deepcopy(BUILTIN_TOPOLOGIES[name])
    data["name"] = name
    given = _new_spelling({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(given) - set(_POOL_OVERRIDES) - set(_LINK_OVERRIDES)
                     - set(_TOP_OVERRIDES) - {"gpu", "prefix_cache", "tensor_parallel"})
    if unknown:
        raise InputError(f"unknown topology override(s): {', '.join(unknown)}")
    for pool in data["pools"]:
        if "gpu" in given and pool["hardware"] != "groqrack":
            pool["hardware"] = given["gpu"]
        if "tensor_parallel" in given and pool["hardware"] != "groqrack":
            pool["tensor_parallel"] = given["tensor_parallel"]
        for key, (role, field) in _POOL_OVERRIDES.items():
            if key in given and role in (None, pool["role"]):
                pool[field] = given[key]
        if "prefix_cache" in given and pool["role"] in _PREFIX_ROLES:
            pool["prefix_cache"] = given["prefix_cache"]
            if given["prefix_cache"] and "routing" not in given:  # the cached pools' default
                pool["routing"] = Routing.CACHE_AWARE.value
    for key, field in _LINK_OVERRIDES.items():
        if key in given:
            if not data.get("links"):
                raise InputError(f"override '{key}' needs a disaggregated topology, not '{name}'")
            for link in data["links"]:
                link[field] = given[key]
    for key in _TOP_OVERRIDES:
        if key in given:
            data[key] = given[key]
    return _validate(data, source=None)


def _new_spelling(given: dict[str, Any]) -> dict[str, Any]:
    """Overrides under their current names (``max_batch`` -> ``max_num_seqs``); both names of
    one override given is an error, not a silent choice."""
    for old, new in _OLD_OVERRIDES.items():
        if old in given:
            if new in given:
                raise InputError(f"overrides '{old}' and '{new}' name the same setting; "
                                 f"give '{new}' only", column=old)
            given = {(new if k == old else k): v for k, v in given.items()}
    return given


def load_topology(path_or_name: str | Path) -> TopologySpec:
    """A built-in name, or a YAML file holding a TopologySpec (pools, links, first_token...)."""
    text = str(path_or_name)
    if text in BUILTIN_TOPOLOGIES:
        return builtin_topology(text)
    path = Path(text)
    if not path.suffix.lower() in (".yaml", ".yml"):
        known = ", ".join(BUILTIN_TOPOLOGIES)
        raise InputError(f"unknown topology '{text}' (built-ins: {known}; or a .yaml file)")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = None if mark is None else mark.line + 1
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path=path,
                         line=line) from None
    if not isinstance(data, dict):
        raise InputError("a topology file must hold a mapping", path=path)
    data.setdefault("name", path.stem)
    return _validate(data, source=path)


def _validate(data: dict[str, Any], *, source: Path | None) -> TopologySpec:
    try:
        return TopologySpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or None
        line = None if source is None else _line_in_file(source, err["loc"])
        raise InputError(err["msg"], path=source, line=line, column=where) from None


def _line_in_file(path: Path, loc: tuple[str | int, ...]) -> int | None:
    """The line of the key ``loc`` names in the topology file (read again: errors only)."""
    try:
        return line_of(path.read_text(), loc)
    except (OSError, UnicodeDecodeError):
        return None
