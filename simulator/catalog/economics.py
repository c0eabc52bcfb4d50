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
DEFAULT_KWH_SOURCE = ("assumption: $0.10/kWh, a round figure between industrial and commercial "
                      "retail prices in the U.S. (U.S. EIA, Electric Power Annual, 'Average revenue "
                      "per kilowatthour' by state, data for 2023, released 17 Oct 2024, "
                      "eia.gov/electricity/annual/secrev-map.php: industrial mostly 6-9, commercial "
                      "mostly 9-13 cents/kWh); the national averages themselves not found in public "
                      "sources searched as of 2026-12-02")

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
               "Jan 2020; also '512 300W devices', isopack.blogspot.com/2024, 2024); approx.: the "
               "card's board power may differ")
# The GPU-fitted shares do not carry over to an SRAM pipeline: reading weights from SRAM at ~80
# TB/s per chip gives a tiny bandwidth utilisation, so the model would keep a busy GroqRack at
# idle power. A statically scheduled pipeline runs every chip whenever it runs.
_GROQ_BUSY = (1.0, ("assumption: a busy GroqChip pipeline draws its peak (an upper bound; no "
                    "measured Groq power at hand, and the GPU-fitted shares do not carry over to "
                    "SRAM reads)"))

POWER: Mapping[str, PowerSpec] = MappingProxyType({
    "h100-sxm": _power(700.0, ("H100 SXM TDP up to 700 W, configurable (gpu.blog, 'NVIDIA H100 SXM', "
                               "gpu.blog/gpus/nvidia-h100-sxm, as stored 2026; also 'the NVIDIA "
                               "H100 SXM GPU has a TDP of 700W', meterpreter.org, Jun 2023)")),
    "a100-sxm-80gb": _power(400.0, ("A100 SXM 80GB TDP 400 W (Thunder Compute, 'NVIDIA A100 specs: "
                                    "full guide', thundercompute.com/blog/nvidia-a100-specs-full-"
                                    "guide, as stored 2026; TechPowerUp A100 SXM4: '400 W maximum')")),
    "h200": _power(700.0, ("H200 SXM5 700 W TDP (OpenMetal, 'How the H200 is built for memory-bound "
                           "AI workloads', openmetal.io, as stored 2026; Geektopia, 13 Nov 2023: "
                           "same 700 W maximum as the H100)")),
    "l40s": _power(350.0, ("L40S max power consumption 350 W (NVIDIA L40/L40S spec table as "
                           "reproduced by mullet.se product 355414 and omegaco.ae, as stored 2026)")),
    "mi300x": _power(750.0, ("MI300X OAM 750 W, from AMD's launch-slide footnotes ('AMD confirms "
                             "Instinct MI300X power consumption up to 750W', meterpreter.org, Jun "
                             "2023; Tom's Hardware via inkl.com, Jun 2023)")),
    "gh200": _power(700.0, ("assumption: the GH200 module's TDP reaches up to 1,000 W including the "
                            "Grace CPU and LPDDR5X (artificial-intelligence-wiki.com, 'NVIDIA Grace "
                            "Hopper guide', as stored 2026); the calibration data's power reads like "
                            "the GPU's alone (batch 1: 410 W vs the H100's 414 W), so we take the "
                            "H100 SXM's 700 W")),
    "mi250": _power(560.0, ("MI250(X) OAM 560 W TDP ('AMD MI250(X) Aldebaran as MCM with up to 47.9 "
                            "TFLOP/s and 560 watt TDP', zexron.com, Nov 2021; 'the 560W of ... "
                            "MI250X', meterpreter.org, Jun 2023)")),
    "gaudi2": _power(600.0, ("Gaudi 2 OAM TDP 600 W (Yobitel knowledge base, 'Intel Gaudi 2', "
                             "yobitel.com/knowledge-base/intel-gaudi-2, as stored 2026; PCGuia, "
                             "'Nvidia e AMD têm um novo rival', pcguia.pt, Apr 2024: Gaudi 2 "
                             "'consome 600 W'; secondary sources: the Gaudi2 white paper, May "
                             "2022, is stored but its excerpt gives no power figure)")),
    "max1550": _power(600.0, ("Intel Data Center GPU Max 1550 600 W (Intel statement quoted by "
                              "VideoCardz, 'Intel unlaunches Data Center Max GPU 1350', Apr 2023: "
                              "'Intel Data Center Max GPU 1550 (600W)'; G. Lockwood's notes citing "
                              "Intel ark 232873: '600 W maximum')")),
    "sn40l": _power(600.0, ("assumption: no per-socket power published (Hot Chips 2024 gives none; "
                            "not found in public sources searched as of 2026-12-02); 600 W, the "
                            "OAM-class budget of Gaudi2 / Max 1550")),
    "groq-lpu": _power(_GROQ_CHIP_W, _GROQ_W_SRC, busy_floor=_GROQ_BUSY),
    "groqrack": _power(64 * _GROQ_CHIP_W, "64 chips x " + _GROQ_W_SRC + "; host CPUs not counted",
                       busy_floor=_GROQ_BUSY),
})

_LIFETIME_YEARS = 4.0
_LIFETIME_SRC = ("amortised over 4 years (assumption: a typical 3-5 year depreciation schedule), "
                 "plus peak power at the $/kWh price")
_GROQCARD_USD = 20_625.0
_GROQCARD_SRC = ("assumption: $20,625 per GroqCard, the exact figure not found in public sources "
                 "searched as of 2026-12-02; a Mouser quantity-1 price of about $20,000 is reported "
                 "('the Groq device is $20K, but that's in quantity 1 from Mouser', "
                 "isopack.blogspot.com/2024, 2024; SemiAnalysis, 'Groq Inference Tokenomics: "
                 "Speed, But At What Cost?', semianalysis.substack.com, Feb 2024, discusses the "
                 "cost but its stored excerpt does not give the figure)")

PRICES: Mapping[str, PriceSpec] = MappingProxyType({
    "h100-sxm": PriceSpec(list_usd_per_hour=2.99,
                          source="Lambda on-demand H100 SXM, $2.99 per GPU-hour (as reported by "
                                 "Cliff Center, 'AMD inference economics', cliffcenter.com/research/"
                                 "amd-inference-economics, 2026-05-18); note: a transcription of "
                                 "lambda.ai/instances read 2026-09-20 lists 8x H100 SXM at $3.99 "
                                 "(github.com/api-evangelist/lambda-labs)"),
    "a100-sxm-80gb": PriceSpec(list_usd_per_hour=1.79,
                               source="RunPod Secure Cloud on-demand A100 SXM 80 GB, $1.79 per "
                                      "GPU-hour (runpod.io/pricing as read 2026-11-09 by "
                                      "github.com/datareceipts/data-receipts 109-gpu-pricing); "
                                      "Lambda lists 8x A100 SXM 80 GB at $2.79 (lambda.ai/"
                                      "instances, read 2026-09-20)"),
    "h200": PriceSpec(list_usd_per_hour=50.44 / 8,
                      source="CoreWeave on-demand HGX H200 node, $50.44/h for 8 GPUs = $6.305 per "
                             "GPU-hour (listed prices as of Feb 2026 in Kael Research, 'GPU "
                             "Economics: What Inference Actually Costs in 2026', kaelresearch.com)"),
    "l40s": PriceSpec(list_usd_per_hour=2.25,
                      source="CoreWeave on-demand L40S, $18.00/h for 8 GPUs = $2.25 per GPU-hour "
                             "(listed prices as of Feb 2026 in Kael Research, 'GPU Economics: What "
                             "Inference Actually Costs in 2026', kaelresearch.com; Deploybase, "
                             "'NVIDIA L40S cloud pricing', Mar 2026: '$18/hour on CoreWeave 8x')"),
    "mi300x": PriceSpec(list_usd_per_hour=48.0 / 8,
                        source="Microsoft Azure MI300X, $6.00 per GPU-hour (= $48.00/h for the 8-GPU "
                               "ND MI300X v5; 'disappears at Azure ($6/hr) and Oracle ($6/hr)', "
                               "Cliff Center, 'AMD inference economics', 2026-05-18); the Azure "
                               "price page itself not found in public sources searched"),
    "gh200": PriceSpec(list_usd_per_hour=1.49,
                       source="assumption: Lambda on-demand 1x GH200 at $1.49 per hour, not found "
                              "in public sources searched as of 2026-12-02 (CoreWeave lists 1x "
                              "GH200 at $6.50/h, Kael Research, Feb 2026)"),
    "mi250": PriceSpec(capital_usd=10_000.0, lifetime_years=_LIFETIME_YEARS,
                       source="assumption: $10,000 per MI250 module (no public list price or "
                              "on-demand offer found); " + _LIFETIME_SRC),
    "gaudi2": PriceSpec(capital_usd=65_000.0 / 8, lifetime_years=_LIFETIME_YEARS,
                        source="Intel's Computex 2024 list price of $65,000 for a kit of 8 Gaudi2 "
                               "accelerators with baseboard (The Next Platform, 'Stacking up Intel Gaudi against "
                               "Nvidia GPUs for AI', nextplatform.com/2024/06/13, 13 Jun 2024) = "
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
