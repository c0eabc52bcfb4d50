"""The scenario file's pydantic models: where a YAML experiment enters the program.

A scenario names a model, a topology (a built-in name with overrides, or inline pools and links,
validated by :mod:`phasesim.simulator.topology`'s own models), a trace (a file relative to the scenario file
or a generator spec), SLOs, a seed, which outputs to keep and an optional ``sweep:`` section.
Every model forbids unknown keys. Durations accept a number of seconds or a string with a unit
(``200ms``, ``50us``).
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from phasesim.errors import InputError
from phasesim.simulator.catalog.economics import DEFAULT_KWH_USD, DEFAULT_PUE, PriceBasis, PriceBook
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.topology import LinkSharing, TopologySpec
from phasesim.traces.specs import arrival_from_spec, length_from_spec
from phasesim.traces.transforms import ContextPolicy
from phasesim.units import bytes_per_s, seconds

__all__ = [
    "ScenarioKind",
    "GeneratorSpec",
    "TraceSpec",
    "SloSpec",
    "PricesSpec",
    "ReportSpec",
    "OutputSpec",
    "PhasesSpec",
    "SweepAxes",
    "SweepSpec",
    "LinkOverrides",
    "BuiltinTopology",
    "TopologyRef",
    "ScenarioSpec",
    "seconds",
    "bytes_per_s",
]

Seconds = Annotated[float, BeforeValidator(seconds)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


BytesPerS = Annotated[float, BeforeValidator(bytes_per_s)]


class ScenarioKind(enum.StrEnum):
    SIMULATE = "simulate"  # replay a trace on a topology (phasesim.simulator.run.simulate)
    PHASES = "phases"  # prefill and decode curves straight from the cost tables


def _arrival(value: Any) -> Any:
    if isinstance(value, dict):
        try:
            arrival_from_spec(value)
        except InputError as exc:
            raise ValueError(_where(exc)) from None
    return value


def _length(value: Any) -> Any:
    if isinstance(value, dict) and "path" not in value:  # empirical files are read at run time
        try:
            length_from_spec(value)
        except InputError as exc:
            raise ValueError(_where(exc)) from None
    return value


def _where(exc: InputError) -> str:
    return exc.message if exc.column is None else f"'{exc.column}': {exc.message}"


class GeneratorSpec(_Strict):
    """A synthetic trace (:func:`phasesim.traces.generate`): ``arrival`` (e.g. ``{process: poisson,
    rate_rps: 2}``), ``prompt`` and ``output`` lengths (an int, or e.g. ``{dist: lognormal,
    median_tokens: 1000, sigma: 1.0}``; an ``empirical`` ``path`` is relative to the scenario
    file), and ``count`` requests or ``duration_s`` of arrivals. ``seed`` defaults to the
    scenario's seed."""

    arrival: Annotated[dict[str, Any], AfterValidator(_arrival)]
    prompt: Annotated[dict[str, Any] | int, AfterValidator(_length)]
    output: Annotated[dict[str, Any] | int, AfterValidator(_length)]
    count: int | None = Field(default=None, ge=1)
    duration_s: Seconds | None = Field(default=None, gt=0)
    seed: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_size(self) -> GeneratorSpec:
        if (self.count is None) == (self.duration_s is None):
            raise ValueError("give exactly one of 'count' or 'duration_s'")
        return self


class SessionsSpec(_Strict):
    """Multi-turn sessions with prefix hash ids (:func:`phasesim.traces.generate_sessions`):
    ``sessions`` of them starting at ``session_rate_rps`` (Poisson; ``trace.rate_rps`` replaces
    it), ``turns`` per session, ``think_s`` mean seconds between turns, ``user`` new tokens and
    ``output`` tokens per turn (lengths as in ``generate``), a ``system_prompt_tokens`` prompt
    shared by all sessions, hash ids per ``prefix_block_tokens``. ``seed`` defaults to the
    scenario's."""

    sessions: int = Field(ge=1)
    session_rate_rps: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    turns: Annotated[dict[str, Any] | int, AfterValidator(_length)] = 4
    think_s: Seconds = 30.0
    user: Annotated[dict[str, Any] | int, AfterValidator(_length)] = 256
    output: Annotated[dict[str, Any] | int, AfterValidator(_length)] = 128
    system_prompt_tokens: int = Field(default=0, ge=0)
    prefix_block_tokens: int = Field(default=512, ge=1)
    seed: int | None = Field(default=None, ge=0)


class TraceSpec(_Strict):
    """``path`` (relative to the scenario file), ``generate`` or ``sessions``.

    ``rate_rps`` sets the mean arrival rate: it replaces a generator's ``arrival.rate_rps``, and
    rescales a file's arrival times (keeping their shape) so that its mean rate is ``rate_rps``.
    ``max_requests`` keeps the first requests of a file trace. ``max_context_tokens`` fits
    requests into a context (prompt + output) by ``context_policy``: ``clip`` shortens the prompt
    (then the output), ``drop`` removes them (:func:`phasesim.traces.clip_context`).
    """

    path: str | None = None
    generate: GeneratorSpec | None = None
    sessions: SessionsSpec | None = None
    rate_rps: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_requests: int | None = Field(default=None, ge=1)
    max_context_tokens: int | None = Field(default=None, ge=2)
    context_policy: ContextPolicy = ContextPolicy.CLIP

    @model_validator(mode="after")
    def _one_source(self) -> TraceSpec:
        if sum(x is not None for x in (self.path, self.generate, self.sessions)) != 1:
            raise ValueError("give exactly one of 'path', 'generate' or 'sessions'")
        return self


class SloSpec(_Strict):
    """Latency targets; ``None`` = not checked. Goodput counts requests meeting both.
    ``attainment``: the fraction of requests that must meet them for a rate to count as
    sustained (DistServe's 90 %), used by reports."""

    ttft_s: Seconds | None = None
    tpot_s: Seconds | None = None
    attainment: float = Field(default=0.9, gt=0, le=1)


class PricesSpec(_Strict):
    """Prices the scenario's outputs use (``summary.json`` ``cost``, which names each price and
    its source): ``hardware`` maps a catalog name to US dollars per hour of one catalog entry (a
    GPU, a whole GroqRack), overriding the catalog's price; ``kwh_usd`` is the electricity price
    and ``pue`` the power usage effectiveness of the ``tco`` basis (defaults 0.10 and 1.2);
    ``basis`` is ``tco`` (owning; default) or ``rental`` (public on-demand prices, refused for
    hardware without one). Like ``sim replay --price``, ``--kwh-price`` and ``--price-basis``;
    unset, the catalog's TCO prices (``sim profiles hardware``)."""

    hardware: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    kwh_usd: Annotated[float, Field(ge=0)] | None = None
    pue: Annotated[float, Field(ge=1)] | None = None
    basis: PriceBasis = PriceBasis.TCO

    @field_validator("hardware")
    @classmethod
    def _known_hardware(cls, value: dict[str, float]) -> dict[str, float]:
        for name in value:
            try:
                get_hardware(name)  # a known name, or an error listing them
            except InputError as exc:
                raise ValueError(exc.message) from None
        return value

    def price_book(self) -> PriceBook:
        kwh = DEFAULT_KWH_USD if self.kwh_usd is None else self.kwh_usd
        pue = DEFAULT_PUE if self.pue is None else self.pue
        return PriceBook(overrides=dict(self.hardware), kwh_usd=kwh, pue=pue, basis=self.basis,
                         override_source="scenario file (prices.hardware)")


class ReportSpec(_Strict):
    """Hints for ``sim report`` (each guessed from the axes when left out): the request-rate
    axis, the axis naming the topology, the colocated baseline topology for gain heatmaps and
    the two axes of the heatmaps."""

    rate_axis: str | None = None
    group_axis: str | None = None
    baseline: str | None = None
    heatmap_axes: list[str] | None = Field(default=None, min_length=2, max_length=2)


class OutputSpec(_Strict):
    """Which per-point files to keep beside ``summary.json`` (``requests`` feeds the CDF plots)."""

    requests: bool = True
    timeseries: bool = False


class PhasesSpec(_Strict):
    """``kind: phases``: TTFT vs prompt length and TPOT/decode throughput vs batch size, read
    straight from the cost table of ``hardware`` (one point per hardware; sweep it)."""

    hardware: str
    prompt_tokens: list[Annotated[int, Field(ge=1)]] = Field(min_length=1)
    batch_sizes: list[Annotated[int, Field(ge=1)]] = Field(min_length=1)
    context_tokens: int = Field(default=1024, ge=1)
    table: str | None = None  # an explicit cost-table file (relative to the scenario file)
    # the serving engine whose shipped table is read (None: the hardware's default engine, as
    # `sim replay` and the simulated scenarios choose; falls back to the best table of any engine)
    engine: str | None = None


# an axis with no values would make a sweep of no points
AxisValues = Annotated[list[Any], Field(min_length=1)]


class SweepAxes(_Strict):
    """``grid``: every combination (last axis fastest). ``zip``: groups of axes that advance
    together (all lists in a group the same length). Keys are dotted paths into the scenario."""

    grid: dict[str, AxisValues] = Field(default_factory=dict)
    zip: list[dict[str, AxisValues]] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _zip_may_be_one_group(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("zip"), dict):
            return {**data, "zip": [data["zip"]]}
        return data


class SweepSpec(SweepAxes):
    """The default axes, plus ``full``: a larger grid selected with ``sim sweep --full``."""

    full: SweepAxes | None = None


class LinkOverrides(_Strict):
    """Overrides of a built-in topology's KV link (``topology.link.bandwidth: 100Gbps``)."""

    bandwidth: BytesPerS | None = None
    latency: Seconds | None = None
    sharing: LinkSharing | None = None
    layerwise_overlap: bool | None = None


class BuiltinTopology(BaseModel):
    """A built-in topology by ``name`` with overrides: ``link`` (bandwidth, latency, ...) and any
    keyword of :func:`phasesim.simulator.topology.builtin_topology` (``prefill_instances: 2``,
    ``decode_instances``, ``instances``, ``gpu: a100-sxm-80gb``, ``max_num_seqs`` (or
    ``max_batch``, its earlier name), ``routing`` ...).
    The scenario's ``model`` and ``dtype`` apply to every pool."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1)
    link: LinkOverrides | None = None

    def overrides(self) -> dict[str, Any]:
        """Keyword arguments for ``builtin_topology`` (link fields become ``link_*``)."""
        given = dict(self.model_extra or {})
        if self.link is not None:
            for key, value in self.link.model_dump(exclude_none=True).items():
                given["layerwise_overlap" if key == "layerwise_overlap" else f"link_{key}"] = value
        for key in ("link_bandwidth",):
            if isinstance(given.get(key), str):
                given[key] = bytes_per_s(given[key])
        for key in ("link_latency",):
            if isinstance(given.get(key), str):
                given[key] = seconds(given[key])
        return given


def _topology_kind(value: Any) -> str:
    if isinstance(value, (BuiltinTopology, str)):
        return "builtin"
    if isinstance(value, TopologySpec):
        return "inline"
    return "inline" if isinstance(value, dict) and "pools" in value else "builtin"


def _name_only(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


TopologyRef = Annotated[
    Annotated[BuiltinTopology, BeforeValidator(_name_only), Tag("builtin")]
    | Annotated[TopologySpec, Tag("inline")],
    Discriminator(_topology_kind),
]


class ScenarioSpec(_Strict):
    """One experiment. ``topology``: a built-in name (with overrides) or inline pools and links
    (:class:`phasesim.simulator.topology.TopologySpec`); resolved by
    :func:`phasesim.scenarios.simulate.resolve_topology`."""

    name: str = Field(min_length=1)
    description: str = ""
    kind: ScenarioKind = ScenarioKind.SIMULATE
    model: str = "llama2-7b"
    dtype: str = "fp16"
    topology: TopologyRef | None = None
    trace: TraceSpec | None = None
    slo: SloSpec = SloSpec()
    prices: PricesSpec = PricesSpec()
    seed: int = Field(default=0, ge=0)
    outputs: OutputSpec = OutputSpec()
    phases: PhasesSpec | None = None
    report: ReportSpec = ReportSpec()
    sweep: SweepSpec | None = None

    @model_validator(mode="after")
    def _parts_fit_kind(self) -> ScenarioSpec:
        if self.kind is ScenarioKind.SIMULATE:
            if self.topology is None:
                raise ValueError("a 'simulate' scenario needs 'topology'")
            if self.trace is None:
                raise ValueError("a 'simulate' scenario needs 'trace'")
            if self.phases is not None:
                raise ValueError("'phases' belongs to 'kind: phases' scenarios")
        elif self.phases is None:
            raise ValueError("a 'phases' scenario needs 'phases'")
        return self
