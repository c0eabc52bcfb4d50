"""The user's catalog: hardware, models, engines, prices and cost tables added without editing
the source.

Two ways in, both read by the commands before they do anything else:

- a **catalog directory** named by ``PHASESIM_CATALOG``: ``hardware.yaml``, ``models.yaml``,
  ``engines.yaml``, ``prices.yaml`` (each optional) and ``tables/*.parquet``;
- a **hardware file**, ``sim --hardware-file hw.yaml`` (``profiler`` too): the format of
  ``hardware.yaml``, which may also hold ``power:`` and ``price:`` per entry.

Each file maps a name to the fields of the built-in entry (``HardwareSpec``, ``ModelSpec``,
``EngineSpec``, ``PowerSpec``, ``TcoSpec``, a rental ``PriceSpec``), validated as strictly: every
field the built-in requires, no unknown field, numbers in range; bandwidths also as unit strings
(``3.35TB/s``, ``400Gbps``: ``phasesim.units``). A bad file stops with one line naming the file,
the line and the field. A name may not redefine a built-in entry.

A **captured table** registers its own hardware entry when its hardware is not in the catalog
(:func:`table_hardware`): the memory the capture saw on the device, and as peak FLOP rate and
memory bandwidth the highest rates its own timings reached (FLOPs of the largest prefill over its
time, bytes a decode step reads over its time: lower bounds, labelled as measured from that
table); links and batch limits are stated assumptions. A table in the catalog directory's
``tables/`` is found by the resolver like a shipped one.

Registration adds to the catalogs of this process (``register_*``). Worker processes of a sweep
or a plan read the same environment (``PHASESIM_CATALOG``, and ``PHASESIM_HARDWARE_FILES``, which
``--hardware-file`` sets) when they start (:func:`register_from_environment`).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from phasesim.errors import InputError
from phasesim.safe_yaml import load_yaml
from phasesim.simulator.catalog import economics, engines, hardware, models
from phasesim.simulator.catalog.economics import PowerSpec, PriceSpec, TcoSpec
from phasesim.simulator.catalog.engines import EngineSpec
from phasesim.simulator.catalog.hardware import DeviceKind, HardwareSpec
from phasesim.simulator.catalog.models import ModelSpec
from phasesim.simulator.costs.table import read_table, read_table_meta
from phasesim.units import bytes_per_s
from phasesim.yaml_lines import line_of

__all__ = [
    "BATCHING_POLICIES",
    "KV_ADMISSIONS",
    "CATALOG_ENV",
    "FILES_ENV",
    "isolated_catalog",
    "load_engines_file",
    "load_hardware_file",
    "load_models_file",
    "load_prices_file",
    "register_directory",
    "register_from_environment",
    "register_hardware_file",
    "register_table",
    "table_hardware",
    "user_table",
    "user_table_dirs",
]

CATALOG_ENV = "PHASESIM_CATALOG"
FILES_ENV = "PHASESIM_HARDWARE_FILES"
BATCHING_POLICIES = ("continuous", "chunked", "static", "none")  # simulator.topology.Batching
KV_ADMISSIONS = ("preempt", "reserve", "stall")  # simulator.topology.KVAdmission
# the catalog fields restricted to a list of names
_CHOICES = {"batching": BATCHING_POLICIES, "kv_admission": KV_ADMISSIONS}

_BUILTIN_HARDWARE = frozenset(hardware.HARDWARE)
_BUILTIN_MODELS = frozenset(models.MODELS)
_BUILTIN_ENGINES = frozenset(engines.ENGINES)
_TABLE_DIRS: list[Path] = []
_TABLES: dict[tuple[str, str, str, str], Path] = {}  # (hardware, model, dtype, engine) -> table
_LOADED: set[tuple[str, str]] = set()  # (kind, resolved path) registered in this process


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_Positive = Field(gt=0, allow_inf_nan=False)
_Bandwidth = Field(gt=0, allow_inf_nan=False)


class _HardwareEntry(_Strict):
    """``HardwareSpec``'s fields (its name is the key)."""

    kind: DeviceKind
    chips: int = Field(ge=1)
    peak_flops_fp16: float = _Positive
    memory_bytes: float = _Positive
    memory_bandwidth_bytes_per_s: float = _Bandwidth
    interconnect_bytes_per_s: float = _Bandwidth
    pcie_bytes_per_s: float = _Bandwidth
    nic_bytes_per_s: float = _Bandwidth
    max_batch_size: int = Field(ge=1)
    max_context_tokens: int | None = Field(default=None, ge=1)
    default_reserve_fraction: float = Field(default=0.10, ge=0.0, lt=1.0)
    fp8_speedup: float = Field(default=2.0, gt=0, allow_inf_nan=False)
    sources: dict[str, str] = Field(default_factory=dict)
    power: _PowerEntry | None = None
    price: _PriceEntry | None = None

    @field_validator("memory_bandwidth_bytes_per_s", "interconnect_bytes_per_s",
                     "pcie_bytes_per_s", "nic_bytes_per_s", mode="before")
    @classmethod
    def _bandwidth(cls, value: Any) -> Any:
        return bytes_per_s(value)

    @field_validator("peak_flops_fp16", "memory_bytes", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return _yaml_number(value)


class _PowerEntry(_Strict):
    """``PowerSpec``'s fields; ``sources`` per field."""

    idle_w: float = Field(ge=0, allow_inf_nan=False)
    peak_w: float = Field(gt=0, allow_inf_nan=False)
    bandwidth_share: float = Field(default=economics.BANDWIDTH_SHARE, ge=0)
    compute_share: float = Field(default=economics.COMPUTE_SHARE, ge=0)
    busy_floor_share: float = Field(default=0.0, ge=0, le=1)
    sources: dict[str, str] = Field(default_factory=dict)


class _TcoEntry(_Strict):
    """``TcoSpec``'s fields: every number with its source (or 'assumption: ...')."""

    device_usd: float = Field(ge=0, allow_inf_nan=False)
    device_source: str = Field(min_length=1)
    host_usd: float = Field(ge=0, allow_inf_nan=False)
    host_source: str = Field(min_length=1)
    host_w: float = Field(ge=0, allow_inf_nan=False)
    host_w_source: str = Field(min_length=1)
    lifetime_years: float = Field(gt=0, allow_inf_nan=False)
    lifetime_source: str = Field(min_length=1)


class _RentalEntry(_Strict):
    usd_per_hour: float = Field(ge=0, allow_inf_nan=False)
    source: str = Field(min_length=1)


class _PriceEntry(_Strict):
    tco: _TcoEntry | None = None
    rental: _RentalEntry | None = None


_HardwareEntry.model_rebuild()


class _ModelEntry(_Strict):
    """``ModelSpec``'s fields (its name is the key)."""

    layers: int = Field(ge=1)
    hidden: int = Field(ge=1)
    heads: int = Field(ge=1)
    kv_heads: int = Field(ge=1)
    head_dim: int = Field(ge=1)
    ffn: int = Field(ge=1)
    vocab: int = Field(ge=1)
    max_context_tokens: int = Field(ge=1)
    tied_embeddings: bool = False
    attention_bias: bool = False
    experts: int = Field(default=1, ge=1)
    experts_per_token: int = Field(default=1, ge=1)


class _EngineEntry(_Strict):
    """``EngineSpec``'s fields (its name is the key)."""

    title: str = Field(min_length=1)
    batching: str
    max_num_seqs: int | None = Field(default=None, ge=1)
    max_num_batched_tokens: int | None = Field(default=None, ge=1)
    version: str = Field(min_length=1)
    notes: tuple[str, ...] = ()
    single_sequence: bool = False
    layer_split: bool = False
    kv_admission: str = "preempt"
    # bytes each device keeps from the KV cache (None: the hardware's reserve fraction)
    kv_reserve_bytes_per_device: float | None = Field(default=None, gt=0)

    @field_validator("kv_reserve_bytes_per_device", mode="before")
    @classmethod
    def _reserve_bytes(cls, value: Any) -> Any:
        return _yaml_number(value)

    @field_validator("batching", "kv_admission")
    @classmethod
    def _one_of(cls, value: str, info: ValidationInfo) -> str:
        allowed = _CHOICES[info.field_name]
        if value not in allowed:
            raise ValueError(f"unknown {info.field_name} '{value}' (one of: {', '.join(allowed)})")
        return value


def _yaml_number(value: Any) -> Any:
    """YAML 1.1 reads ``80e9`` as a string; take it as the number it spells."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


# --- reading files ---------------------------------------------------------------------------


def _read_mapping(path: Path) -> tuple[dict[str, Any], str]:
    if not path.is_file():
        raise InputError("no such catalog file", path=path)
    text = path.read_text(encoding="utf-8")
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path=path,
                         line=None if mark is None else mark.line + 1) from None
    if data is None:
        return {}, text
    if not isinstance(data, dict):
        raise InputError("a catalog file maps each name to its fields", path=path, line=1)
    return data, text


def _entries(path: Path, entry: type[_Strict], *, kind: str,
             builtin: frozenset[str]) -> list[tuple[str, Any]]:
    data, text = _read_mapping(path)
    out = []
    for name, fields in data.items():
        name = str(name)
        if name in builtin:
            raise InputError(f"{kind} '{name}' is a built-in entry; give yours another name",
                             path=path, line=line_of(text, (name,)), column=name)
        if not isinstance(fields, dict):
            raise InputError("expected a mapping of fields", path=path,
                             line=line_of(text, (name,)), column=name)
        try:
            out.append((name, entry.model_validate(fields)))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = (name, *err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                message = "missing field (the built-in entries' fields are required)"
            elif err["type"] == "extra_forbidden":
                message = "unknown field"
            raise InputError(message, path=path, line=line_of(text, loc),
                             column=".".join(map(str, loc))) from None
    return out


def load_hardware_file(path: str | Path) -> list[tuple[HardwareSpec, PowerSpec | None,
                                                       TcoSpec | None, PriceSpec | None]]:
    """The hardware entries of ``path`` with their power and prices (None where not given)."""
    path = Path(path)
    out = []
    for name, e in _entries(path, _HardwareEntry, kind="hardware", builtin=_BUILTIN_HARDWARE):
        spec = HardwareSpec(name=name, kind=e.kind, chips=e.chips, peak_flops_fp16=e.peak_flops_fp16,
                            memory_bytes=e.memory_bytes,
                            memory_bandwidth_bytes_per_s=e.memory_bandwidth_bytes_per_s,
                            interconnect_bytes_per_s=e.interconnect_bytes_per_s,
                            pcie_bytes_per_s=e.pcie_bytes_per_s, nic_bytes_per_s=e.nic_bytes_per_s,
                            max_batch_size=e.max_batch_size,
                            max_context_tokens=e.max_context_tokens,
                            default_reserve_fraction=e.default_reserve_fraction,
                            fp8_speedup=e.fp8_speedup,
                            sources=tuple(sorted(e.sources.items())) or
                            (("*", f"user catalog {path.name}"),))
        power = None
        if e.power is not None:
            if e.power.idle_w > e.power.peak_w:
                raise InputError("idle_w must be <= peak_w", path=path, column=f"{name}.power")
            power = PowerSpec(idle_w=e.power.idle_w, peak_w=e.power.peak_w,
                              bandwidth_share=e.power.bandwidth_share,
                              compute_share=e.power.compute_share,
                              busy_floor_share=e.power.busy_floor_share,
                              sources=tuple(sorted(e.power.sources.items())))
        tco = rental = None
        if e.price is not None and e.price.tco is not None:
            tco = TcoSpec(**e.price.tco.model_dump())
            if power is None:
                raise InputError("a tco price needs power figures (power: idle_w, peak_w)",
                                 path=path, column=f"{name}.price.tco")
        if e.price is not None and e.price.rental is not None:
            rental = PriceSpec(list_usd_per_hour=e.price.rental.usd_per_hour,
                               source=e.price.rental.source)
        out.append((spec, power, tco, rental))
    return out


def load_models_file(path: str | Path) -> list[ModelSpec]:
    path = Path(path)
    out = []
    for name, e in _entries(path, _ModelEntry, kind="model", builtin=_BUILTIN_MODELS):
        try:
            out.append(ModelSpec(name=name, **e.model_dump()))
        except InputError as exc:
            raise InputError(exc.message, path=path, column=name) from None
    return out


def load_engines_file(path: str | Path) -> list[EngineSpec]:
    path = Path(path)
    out = []
    for name, e in _entries(path, _EngineEntry, kind="engine", builtin=_BUILTIN_ENGINES):
        out.append(EngineSpec(name=name, **e.model_dump()))
    return out


def load_prices_file(path: str | Path) -> list[tuple[str, TcoSpec | None, PriceSpec | None]]:
    """``prices.yaml``: hardware name -> ``{tco: {...}, rental: {...}}`` for user hardware."""
    path = Path(path)
    out = []
    for name, e in _entries(path, _PriceEntry, kind="hardware", builtin=_BUILTIN_HARDWARE):
        out.append((name, None if e.tco is None else TcoSpec(**e.tco.model_dump()),
                    None if e.rental is None else PriceSpec(list_usd_per_hour=e.rental.usd_per_hour,
                                                             source=e.rental.source)))
    return out


# --- a captured table's own hardware entry -----------------------------------------------------


def table_hardware(path: str | Path) -> HardwareSpec | None:
    """The hardware entry a captured table implies (module docstring), or None when the table
    is of catalog hardware or was not captured on a device (no ``capture.total_memory_bytes``)."""
    path = Path(path)
    meta = read_table_meta(path)
    name = str(meta.get("hardware", ""))
    capture = meta.get("capture") or {}
    memory = capture.get("total_memory_bytes")
    if not name or name in hardware.HARDWARE or not memory:
        return None
    model = models.get_model(str(meta["model"]))
    dtype = str(meta.get("dtype", "fp16"))
    with warnings.catch_warnings():  # the table's own warnings come when it is loaded to run
        warnings.simplefilter("ignore")
        rows, _ = read_table(path)
    prefill = rows[rows["phase"] == "prefill"]
    decode = rows[rows["phase"] == "decode"]
    if prefill.empty or decode.empty:
        raise InputError("a captured table needs prefill and decode rows to register its "
                         "hardware", path=path)
    flops = (prefill["batch_size"] * prefill["tokens"] * model.flops_per_token_linear()
             / prefill["latency_s"]).max()
    weights = model.weight_bytes_touched(1, dtype)
    read = (weights + decode["batch_size"] * decode["tokens"] * model.kv_bytes_per_token(dtype))
    bandwidth = (read / decode["latency_s"]).max()
    device = str(capture.get("device", name))
    where = f"measured: {path.name} ({device}, {capture.get('date', 'undated')})"
    kind = DeviceKind.CPU if capture.get("device_type") == "cpu" else DeviceKind.GPU
    link = "assumption: not measured by the capture; PCIe Gen4 x16"
    return HardwareSpec(
        name=name, kind=kind, chips=1, peak_flops_fp16=float(flops), memory_bytes=float(memory),
        memory_bandwidth_bytes_per_s=float(bandwidth),
        interconnect_bytes_per_s=hardware.PCIE_GEN4_X16_BYTES_PER_S,
        pcie_bytes_per_s=hardware.PCIE_GEN4_X16_BYTES_PER_S,
        nic_bytes_per_s=hardware.PCIE_GEN4_X16_BYTES_PER_S,
        max_batch_size=int(rows["batch_size"].max()), default_reserve_fraction=0.10,
        sources=(("peak_flops_fp16", (f"{where}: the highest prefill rate the capture reached "
                                     f"(linear-layer FLOPs / time; a lower bound)")),
                 ("memory_bytes", f"{where}: the device's total memory"),
                 ("memory_bandwidth_bytes_per_s", (f"{where}: the highest decode read rate the "
                                                  f"capture reached (weights + KV / time; a "
                                                  f"lower bound)")),
                 ("interconnect_bytes_per_s", link), ("pcie_bytes_per_s", link),
                 ("nic_bytes_per_s", link),
                 ("max_batch_size", f"{where}: the largest batch captured")))


# --- registering -------------------------------------------------------------------------------


def _add_hardware(spec: HardwareSpec, power: PowerSpec | None, tco: TcoSpec | None,
                  rental: PriceSpec | None, *, path: Path) -> None:
    known = hardware.HARDWARE.get(spec.name)
    if known is not None and known != spec:
        raise InputError(f"hardware '{spec.name}' is defined twice, differently", path=path,
                         column=spec.name)
    hardware.HARDWARE[spec.name] = spec
    economics.add_prices(spec.name, power=power, tco=tco, rental=rental)


def _once(kind: str, path: Path) -> bool:
    key = (kind, str(path.resolve()))
    if key in _LOADED:
        return False
    _LOADED.add(key)
    return True


def register_hardware_file(path: str | Path) -> list[str]:
    """Add the entries of a hardware file to this process's catalogs; their names."""
    path = Path(path)
    entries = load_hardware_file(path)
    if _once("hardware", path):
        for spec, power, tco, rental in entries:
            _add_hardware(spec, power, tco, rental, path=path)
    return [spec.name for spec, *_ in entries]


def register_table(path: str | Path) -> str | None:
    """Add the hardware a captured table implies (:func:`table_hardware`); its name, or None."""
    path = Path(path)
    spec = table_hardware(path)
    if spec is not None and spec.name not in hardware.HARDWARE:
        _add_hardware(spec, None, None, None, path=path)
    return None if spec is None else spec.name


def register_directory(directory: str | Path) -> None:
    """A catalog directory (module docstring): its files, then its tables' hardware."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{CATALOG_ENV}: not a directory", path=directory)
    for model in ([] if not (directory / "models.yaml").exists()
                  else load_models_file(directory / "models.yaml")):
        models.MODELS.setdefault(model.name, model)
    for engine in ([] if not (directory / "engines.yaml").exists()
                   else load_engines_file(directory / "engines.yaml")):
        engines.ENGINES.setdefault(engine.name, engine)
    if (directory / "hardware.yaml").exists():
        register_hardware_file(directory / "hardware.yaml")
    if (directory / "prices.yaml").exists():
        for name, tco, rental in load_prices_file(directory / "prices.yaml"):
            economics.add_prices(name, tco=tco, rental=rental)
    tables = directory / "tables"
    if tables.is_dir():
        if tables not in _TABLE_DIRS:
            _TABLE_DIRS.append(tables)
        for table in sorted(tables.glob("*.parquet")):
            register_table(table)
            meta = read_table_meta(table)
            if int(meta.get("tensor_parallel", 1)) == 1:
                key = (str(meta["hardware"]), str(meta["model"]), str(meta.get("dtype", "fp16")),
                       str(meta.get("engine", "")))
                _TABLES.setdefault(key, table)


def register_from_environment(environ: Mapping[str, str] | None = None) -> None:
    """Register what ``PHASESIM_CATALOG`` and ``PHASESIM_HARDWARE_FILES`` name (both optional)."""
    environ = os.environ if environ is None else environ
    for name in _split(environ.get(FILES_ENV, "")):
        register_hardware_file(name)
    if environ.get(CATALOG_ENV):
        register_directory(environ[CATALOG_ENV])


def user_table_dirs() -> tuple[Path, ...]:
    """The ``tables/`` folders of the registered catalog directories."""
    return tuple(_TABLE_DIRS)


def user_table(*, hardware: str, model: str, dtype: str, engine: str) -> Path | None:
    """The TP-1 table of a catalog directory for this shape (found by its metadata, whatever
    the file is called; the first by file name where several match), or None."""
    return _TABLES.get((hardware, model, dtype, engine))


@contextlib.contextmanager
def isolated_catalog() -> Iterator[None]:
    """Registrations made inside are undone on exit (tests; a program embedding several runs)."""
    saved = (dict(hardware.HARDWARE), dict(models.MODELS), dict(engines.ENGINES),
             economics.price_tables(), dict(_TABLES), list(_TABLE_DIRS), set(_LOADED))
    try:
        yield
    finally:
        for live, kept in zip((hardware.HARDWARE, models.MODELS, engines.ENGINES), saved[:3],
                              strict=True):
            live.clear()
            live.update(kept)
        economics.restore_price_tables(saved[3])
        _TABLES.clear()
        _TABLES.update(saved[4])
        _TABLE_DIRS[:] = saved[5]
        _LOADED.clear()
        _LOADED.update(saved[6])


def _split(text: str) -> Iterable[str]:
    return [part for part in text.split(os.pathsep) if part.strip()]
