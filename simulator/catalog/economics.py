"""Power and price per catalog device, each number with its source and date.

Kept apart from the performance numbers (``hardware.py``): a ``PowerSpec`` says what one catalog
entry draws idle and at its peak, and how its busy phases map between the two (see
``phasesim.simulator.energy``); a ``PriceSpec`` says what one entry costs per hour: a public
on-demand cloud list price where one exists (provider and date named), else a capital cost
amortised over a stated lifetime plus its peak power at a $/kWh price, with the assumption
written next to the number. Users override any price (``PriceBook``, ``sim replay --price``).

Units are in the names: watts, US dollars, hours. One entry is one catalog entry (a GroqRack is
64 chips: its power and price are the rack's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from phasesim.errors import InputError

__all__ = ["PowerSpec", "PriceSpec", "PriceBook", "POWER", "PRICES", "DEFAULT_KWH_USD",
           "HOURS_PER_YEAR", "BANDWIDTH_SHARE", "COMPUTE_SHARE", "get_power", "get_price"]

HOURS_PER_YEAR = 8766.0  # 365.25 days
DEFAULT_KWH_USD = 0.10
DEFAULT_KWH_SOURCE = ("assumption: $0.10/kWh, between the U.S. average retail prices for "
                      "industrial (~$0.08) and commercial (~$0.13) customers in 2024 (U.S. EIA, "
                      "Electric Power Monthly, table 5.3)")

# How busy phases map between idle and peak power (phasesim.simulator.energy): at full memory
# bandwidth a device draws idle + BANDWIDTH_SHARE x (peak - idle), at full dense FP16 rate
# idle + COMPUTE_SHARE x (peak - idle), in proportion in between (capped at peak; a share above 1
# says the device reaches its peak power before the peak FLOP rate). Fitted by
# ``python -m phasesim.profiler.energy_fit`` on the device-scope power rows of LLM-Inference-Bench
# (Fig_16, 24 runs on A100, H100, GH200; never Llama-2-7B); errors in docs/calibration.md.
BANDWIDTH_SHARE = 0.8081
COMPUTE_SHARE = 2.292
_SHARE_SRC = ("fitted on LLM-Inference-Bench Fig_16 device power (24 runs, A100/H100/GH200, "
              "Llama-3-8B; phasesim.profiler.energy_fit, 2026-12); applied to every device")
_IDLE_RULE = 0.15  # idle / peak where no measured idle power is at hand
_IDLE_SRC = ("assumption: 15% of peak board power (no measured idle figure at hand; "
             "nvidia-smi idle readings of data-centre GPUs with a loaded driver are typically "
             "10-20% of TDP)")


@dataclass(frozen=True, slots=True, kw_only=True)
class PowerSpec:
    """One catalog entry's power: ``idle_w`` (powered, nothing running), ``peak_w`` (board power
    limit / TDP), and the shares of ``peak_w - idle_w`` drawn at full memory bandwidth
    (``bandwidth_share``) and at the full dense FP16 rate (``compute_share``); while busy it draws
    at least ``busy_floor_share`` of ``peak_w - idle_w`` (0 for GPUs: their busy power follows
    the bytes and FLOPs)."""

    idle_w: float
    peak_w: float
    bandwidth_share: float = BANDWIDTH_SHARE
    compute_share: float = COMPUTE_SHARE
    busy_floor_share: float = 0.0  # the least share of peak - idle drawn while busy
    sources: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.idle_w <= self.peak_w:
            raise InputError(f"power must satisfy 0 <= idle_w <= peak_w, got {self.idle_w}, "
                             f"{self.peak_w}")

    def source(self, name: str) -> str:
        return dict(self.sources).get(name, "")


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceSpec:
    """What one catalog entry costs per hour. Either ``list_usd_per_hour`` (a public on-demand
    price) or ``capital_usd`` amortised over ``lifetime_years`` plus power at ``peak_w`` x a $/kWh
    price; ``source`` says which and where from."""

    list_usd_per_hour: float | None = None
    capital_usd: float | None = None
    lifetime_years: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if (self.list_usd_per_hour is None) == (self.capital_usd is None):
            raise InputError("a price is either a list price or a capital cost, not both/neither")
        if self.capital_usd is not None and not (self.lifetime_years or 0) > 0:
            raise InputError("a capital cost needs a positive lifetime_years")

    def usd_per_hour(self, *, power: PowerSpec, kwh_usd: float) -> float:
        """The hourly price; a capital cost adds peak power at ``kwh_usd`` per kWh."""
        if self.list_usd_per_hour is not None:
            return self.list_usd_per_hour
        hours = self.lifetime_years * HOURS_PER_YEAR
        return self.capital_usd / hours + power.peak_w / 1000.0 * kwh_usd


def _power(peak_w: float, peak_src: str, *, idle_w: float | None = None,
           idle_src: str = _IDLE_SRC, busy_floor: tuple[float, str] | None = None) -> PowerSpec:
    sources = [("peak_w", peak_src), ("idle_w", idle_src), ("bandwidth_share", _SHARE_SRC),
               ("compute_share", _SHARE_SRC)]
    if busy_floor is not None:
        sources.append(("busy_floor_share", busy_floor[1]))
    return PowerSpec(idle_w=_IDLE_RULE * peak_w if idle_w is None else idle_w, peak_w=peak_w,
                     busy_floor_share=0.0 if busy_floor is None else busy_floor[0],
                     sources=tuple(sources))


_GROQ_CHIP_W = 300.0
_GROQ_W_SRC = ("GroqChip (TSP) 300 W per chip (TechSpot, 'Groq launches first AI accelerator card', "
               "Jan 2020); approx.: the card's board power may differ")
# The GPU-fitted shares do not carry over to an SRAM pipeline: reading weights from SRAM at ~80
# TB/s per chip gives a tiny bandwidth utilisation, so the model would keep a busy GroqRack at
# idle power. A statically scheduled pipeline runs every chip whenever it runs.
_GROQ_BUSY = (1.0, ("assumption: a busy GroqChip pipeline draws its peak (an upper bound; no "
                    "measured Groq power at hand, and the GPU-fitted shares do not carry over to "
                    "SRAM reads)"))

POWER: Mapping[str, PowerSpec] = MappingProxyType({
    "h100-sxm": _power(700.0, "NVIDIA H100 Tensor Core GPU datasheet (2023): SXM up to 700 W"),
    "a100-sxm-80gb": _power(400.0, "NVIDIA A100 Tensor Core GPU datasheet (2021): SXM 400 W"),
    "h200": _power(700.0, "NVIDIA H200 Tensor Core GPU datasheet (2024): SXM up to 700 W"),
    "l40s": _power(350.0, "NVIDIA L40S datasheet (2023): max power 350 W"),
    "mi300x": _power(750.0, "AMD Instinct MI300X datasheet (2023): 750 W peak board power"),
    "gh200": _power(700.0, ("assumption: the GH200 module is configurable 450-1,000 W including the "
                            "Grace CPU and LPDDR5X (GH200 datasheet, 2023); the calibration data's "
                            "power reads like the GPU's alone (batch 1: 410 W vs the H100's 414 W), "
                            "so we take the H100 SXM's 700 W")),
    "mi250": _power(560.0, "AMD Instinct MI250 (OAM) datasheet (Nov 2021): 560 W peak board power"),
    "gaudi2": _power(600.0, "Habana Gaudi2 white paper (May 2022): 600 W OAM TDP"),
    "max1550": _power(600.0, "Intel Data Center GPU Max 1550 (Intel ark 232873, 2023): 600 W TBP"),
    "sn40l": _power(600.0, ("assumption: no per-socket power published (Hot Chips 2024 gives none); "
                            "600 W, the OAM-class budget of Gaudi2 / Max 1550")),
    "groq-lpu": _power(_GROQ_CHIP_W, _GROQ_W_SRC, busy_floor=_GROQ_BUSY),
    "groqrack": _power(64 * _GROQ_CHIP_W, "64 chips x " + _GROQ_W_SRC + "; host CPUs not counted",
                       busy_floor=_GROQ_BUSY),
})

_LIFETIME_YEARS = 4.0
_LIFETIME_SRC = ("amortised over 4 years (assumption: a typical 3-5 year depreciation schedule), "
                 "plus peak power at the $/kWh price")
_GROQCARD_USD = 20_625.0
_GROQCARD_SRC = ("GroqCard list price $20,625 on Mouser as reported in Feb 2024 (SemiAnalysis, "
                 "'Groq Inference Tokenomics: Speed, But At What Cost?', Feb 2024)")

PRICES: Mapping[str, PriceSpec] = MappingProxyType({
    "h100-sxm": PriceSpec(list_usd_per_hour=2.99,
                          source="Lambda on-demand 8x H100 SXM, $2.99 per GPU-hour (lambda.ai/pricing, 2025)"),
    "a100-sxm-80gb": PriceSpec(list_usd_per_hour=1.79,
                               source="Lambda on-demand 8x A100 SXM 80 GB, $1.79 per GPU-hour "
                                      "(lambda.ai/pricing, 2025)"),
    "h200": PriceSpec(list_usd_per_hour=50.44 / 8,
                      source="CoreWeave on-demand HGX H200 node, $50.44/h for 8 GPUs = $6.305 per "
                             "GPU-hour (coreweave.com/pricing, 2025)"),
    "l40s": PriceSpec(list_usd_per_hour=2.25,
                      source="CoreWeave on-demand L40S, $18.00/h for 8 GPUs = $2.25 per GPU-hour "
                             "(coreweave.com/pricing, 2025)"),
    "mi300x": PriceSpec(list_usd_per_hour=48.0 / 8,
                        source="Microsoft Azure ND MI300X v5, $48.00/h for 8 GPUs = $6.00 per "
                               "GPU-hour, pay-as-you-go, East US (Azure VM pricing, 2024-2025)"),
    "gh200": PriceSpec(list_usd_per_hour=1.49,
                       source="Lambda on-demand 1x GH200, $1.49 per hour (lambda.ai/pricing, 2025)"),
    "mi250": PriceSpec(capital_usd=10_000.0, lifetime_years=_LIFETIME_YEARS,
                       source="assumption: $10,000 per MI250 module (no public list price or "
                              "on-demand offer found); " + _LIFETIME_SRC),
    "gaudi2": PriceSpec(capital_usd=65_000.0 / 8, lifetime_years=_LIFETIME_YEARS,
                        source="Intel's Computex 2024 list price of $65,000 for a kit of 8 Gaudi2 "
                               "accelerators with baseboard (The Next Platform, 13 Jun 2024) = "
                               "$8,125 each, server not counted; " + _LIFETIME_SRC),
    "max1550": PriceSpec(capital_usd=15_000.0, lifetime_years=_LIFETIME_YEARS,
                         source="assumption: $15,000 per Max 1550 (no public list price found); "
                                + _LIFETIME_SRC),
    "sn40l": PriceSpec(capital_usd=25_000.0, lifetime_years=_LIFETIME_YEARS,
                       source="assumption: $25,000 per SN40L socket, H100-class (no public price; "
                              "SambaNova sells systems and cloud tokens only); " + _LIFETIME_SRC),
    "groq-lpu": PriceSpec(capital_usd=_GROQCARD_USD, lifetime_years=_LIFETIME_YEARS,
                          source=_GROQCARD_SRC + "; " + _LIFETIME_SRC),
    "groqrack": PriceSpec(capital_usd=64 * _GROQCARD_USD, lifetime_years=_LIFETIME_YEARS,
                          source="64 GroqCards x " + _GROQCARD_SRC + " = $1,320,000; nodes, hosts "
                                 "and switches not counted; " + _LIFETIME_SRC),
})


def get_power(hardware: str) -> PowerSpec:
    try:
        return POWER[hardware]
    except KeyError:
        raise InputError(f"no power figures for hardware '{hardware}' "
                         f"(known: {', '.join(sorted(POWER))})") from None


def get_price(hardware: str) -> PriceSpec:
    try:
        return PRICES[hardware]
    except KeyError:
        raise InputError(f"no price for hardware '{hardware}' "
                         f"(known: {', '.join(sorted(PRICES))}); give one with --price") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceBook:
    """The prices a run uses: the catalog's, with user overrides (``overrides``: hardware ->
    $/hour of one catalog entry) and the electricity price for capital-cost entries."""

    overrides: Mapping[str, float] = field(default_factory=dict)
    kwh_usd: float = DEFAULT_KWH_USD
    override_source: str = "user override"

    def __post_init__(self) -> None:
        for name, usd in self.overrides.items():
            if not usd >= 0.0:
                raise InputError(f"price of '{name}' must be >= 0, got {usd}")
        if not self.kwh_usd >= 0.0:
            raise InputError(f"kWh price must be >= 0, got {self.kwh_usd}")

    def usd_per_hour(self, hardware: str) -> float:
        if hardware in self.overrides:
            return float(self.overrides[hardware])
        return get_price(hardware).usd_per_hour(power=get_power(hardware), kwh_usd=self.kwh_usd)

    def source(self, hardware: str) -> str:
        if hardware in self.overrides:
            return self.override_source
        price = get_price(hardware)
        if price.capital_usd is not None:
            return f"{price.source}; electricity ${self.kwh_usd:g}/kWh"
        return price.source

    def describe(self, hardware: str) -> dict[str, object]:
        """What an output records about the price it used for ``hardware`` (``usd_per_hour``
        None where the catalog has no price and no override gives one)."""
        if hardware not in self.overrides and hardware not in PRICES:
            return {"usd_per_hour": None, "source": "no price (give one with --price)"}
        return {"usd_per_hour": self.usd_per_hour(hardware), "source": self.source(hardware)}
