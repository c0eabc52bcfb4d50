"""Power and price per catalog device, each number with its source and date.

Kept apart from the performance numbers (``hardware.py``): a ``PowerSpec`` says what one catalog
entry draws idle and at its peak, and how its busy phases map between the two (see
``phasesim.simulator.results.energy``). Prices come on one **basis** at a time (``PriceBasis``), never
mixed in one comparison:

- ``tco`` (the default), every entry: what owning it costs per hour. ``TcoSpec``: the device's
  purchase price plus its share of the server, host and scale-out network, amortised over a
  lifetime, plus its power and its share of the host's at a PUE and a $/kWh price. Every number
  names its source or says it is an assumption.
- ``rental``: a public on-demand cloud price per device-hour (provider and date named), only
  where one exists (``RENTAL``); any other entry is refused with one line naming the basis.

Users override any price (``PriceBook``, ``sim replay --price``); an override is a price on the
basis the run names, recorded as the user's.

Units are in the names: watts, US dollars, hours. One entry is one catalog entry (a GroqRack is
64 chips: its power and price are the rack's).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from phasesim.errors import InputError

__all__ = ["PowerSpec", "PriceBasis", "PriceSpec", "TcoSpec", "PriceBook", "POWER", "PRICES",
           "RENTAL", "TCO", "DEFAULT_KWH_USD", "DEFAULT_PUE", "HOURS_PER_YEAR", "BANDWIDTH_SHARE",
           "COMPUTE_SHARE", "add_prices", "get_power", "get_price", "price_tables",
           "restore_price_tables"]

HOURS_PER_YEAR = 8766.0  # 365.25 days


class PriceBasis(enum.StrEnum):
    """What an hourly price means: owning the device (``tco``) or renting it (``rental``)."""

    TCO = "tco"
    RENTAL = "rental"

DEFAULT_KWH_USD = 0.10
DEFAULT_KWH_SOURCE = ("assumption: $0.10/kWh, a round figure between industrial and commercial "
                      "retail prices in the U.S. (U.S. EIA, Electric Power Annual, 'Average revenue "
                      "per kilowatthour' by state, data for 2023, released 17 Oct 2024, "
                      "eia.gov/electricity/annual/secrev-map.php: industrial mostly 6-9, commercial "
                      "mostly 9-13 cents/kWh); the national averages themselves not found in public "
                      "sources searched as of 2026-12-02")

# How busy phases map between idle and peak power (phasesim.simulator.results.energy): at full memory
# bandwidth a device draws idle + BANDWIDTH_SHARE x (peak - idle), at full dense FP16 rate
# idle + COMPUTE_SHARE x (peak - idle), in proportion in between (capped at peak; a share above 1
# says the device reaches its peak power before the peak FLOP rate). Fitted by
# ``python tools/fit_power.py`` on the device-scope power rows of LLM-Inference-Bench
# (Fig_16, 24 runs on A100, H100, GH200; never Llama-2-7B); errors in docs/calibration.md.
BANDWIDTH_SHARE = 0.7990
COMPUTE_SHARE = 2.072
_SHARE_SRC = ("fitted on LLM-Inference-Bench Fig_16 device power (24 runs, A100/H100/GH200, "
              "Llama-3-8B; phasesim.profiler.calibrate.energy_fit, 2026-12); applied to every device")
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
    """A public on-demand rental price of one catalog entry, ``list_usd_per_hour``, and where
    it is from (provider, date)."""

    list_usd_per_hour: float
    source: str

    def __post_init__(self) -> None:
        if not self.list_usd_per_hour >= 0.0:
            raise InputError(f"a rental price must be >= 0, got {self.list_usd_per_hour}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TcoSpec:
    """What owning one catalog entry costs, each number with its source (or 'assumption: ...').

    ``device_usd``: the purchase price; ``host_usd``: its share of the server (CPUs, memory,
    NICs, chassis) and the scale-out network; both amortised over ``lifetime_years``.
    ``host_w``: its share of the host's and network's power, drawn on top of the device's peak
    (``PowerSpec.peak_w``); all of it at a PUE and a $/kWh price."""

    device_usd: float
    device_source: str
    host_usd: float
    host_source: str
    host_w: float
    host_w_source: str
    lifetime_years: float
    lifetime_source: str

    def __post_init__(self) -> None:
        for name in ("device_usd", "host_usd", "host_w"):
            if not getattr(self, name) >= 0.0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.lifetime_years > 0.0:
            raise InputError(f"lifetime_years must be > 0, got {self.lifetime_years}")

    def capital_usd_per_hour(self) -> float:
        return (self.device_usd + self.host_usd) / (self.lifetime_years * HOURS_PER_YEAR)

    def power_usd_per_hour(self, *, power: PowerSpec, kwh_usd: float, pue: float) -> float:
        return (power.peak_w + self.host_w) / 1000.0 * pue * kwh_usd

    def usd_per_hour(self, *, power: PowerSpec, kwh_usd: float, pue: float) -> float:
        """Capital per hour plus (peak + host) power x PUE at ``kwh_usd`` per kWh."""
        return self.capital_usd_per_hour() + self.power_usd_per_hour(power=power, kwh_usd=kwh_usd,
                                                                      pue=pue)

    def source(self, *, kwh_usd: float, pue: float) -> str:
        return (f"tco: device ${self.device_usd:,.0f} ({self.device_source}); server, host and "
                f"network share ${self.host_usd:,.0f} ({self.host_source}); amortised over "
                f"{self.lifetime_years:g} years ({self.lifetime_source}); power: peak board power "
                f"+ {self.host_w:g} W host share ({self.host_w_source}) x PUE {pue:g} at "
                f"${kwh_usd:g}/kWh")


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

_POWER: dict[str, PowerSpec] = {
    "h100-sxm": _power(700.0, ("H100 SXM TDP up to 700 W, configurable (gpu.blog, 'NVIDIA H100 SXM', "
                               "gpu.blog/gpus/nvidia-h100-sxm, as stored 2026; also 'the NVIDIA "
                               "H100 SXM GPU has a TDP of 700W', meterpreter.org, Jun 2023)")),
    "a100-sxm-80gb": _power(400.0, ("A100 SXM 80GB TDP 400 W (Thunder Compute, 'NVIDIA A100 specs: "
                                    "full guide', thundercompute.com/blog/nvidia-a100-specs-full-"
                                    "guide, as stored 2026; TechPowerUp A100 SXM4: '400 W maximum')")),
    "a100-sxm-40gb": _power(400.0, ("A100 SXM4 40GB max TDP 400 W (ALCF Polaris machine overview, "
                                    "docs.alcf.anl.gov/polaris/hardware-overview/machine-overview; "
                                    "Thunder Compute, 'NVIDIA A100 specs: full guide')")),
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
}
POWER: Mapping[str, PowerSpec] = MappingProxyType(_POWER)

# --- rental: public on-demand prices per device-hour -------------------------------------------
_RENTAL: dict[str, PriceSpec] = {
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
    "gh200": PriceSpec(list_usd_per_hour=6.50,
                       source="CoreWeave on-demand 1x GH200, $6.50 per hour (listed prices as of "
                              "Feb 2026 in Kael Research, 'GPU Economics: What Inference Actually "
                              "Costs in 2026', kaelresearch.com); a Lambda 1x GH200 offer at $1.49 "
                              "is quoted second-hand but not found in public sources searched as "
                              "of 2026-12-02"),
}
RENTAL: Mapping[str, PriceSpec] = MappingProxyType(_RENTAL)

# --- tco: owning it -------------------------------------------------------------------------------
DEFAULT_PUE = 1.2
DEFAULT_PUE_SOURCE = ("assumption: PUE 1.2, the modern hyperscale figure (Uptime Institute Global "
                      "Data Center Survey 2024 as summarised in 'Datacenter economics: power, PUE, "
                      "$/MWh', lynx-cortex.pages.dev, as stored 2026: hyperscale average 1.20-1.30, "
                      "enterprise colocation 1.50-1.80)")
_LIFETIME_YEARS = 4.0
_LIFETIME_SRC = "assumption: a typical 3-5 year depreciation schedule"
# One 8-accelerator server: what is not the accelerators, per accelerator.
_SERVER8_USD = 32_010.0 / 8
_SERVER8_SRC = ("non-accelerator bill of materials of a DGX H100 (CPUs, memory, NICs and "
                "transceivers, storage, chassis, power supplies, NVSwitch baseboard): $32,010 per "
                "8-GPU server (SemiAnalysis, semianalysis.com/p/ai-server-cost-analysis-memory-is, "
                "May 2023, itemised in Epoch AI's github.com/epoch-research/training-cost-trends); "
                "a production cost, so a lower bound on the price")
_NETWORK_USD = (288_000.0 + 675_840.0) / 512
_NETWORK_SRC = ("scale-out network: a 512-GPU cluster (64 nodes) needs 8 x 64-port 400 Gb/s "
                "InfiniBand switches at $36,000 and $675,840 of connectors and cables, i.e. $1,883 "
                "per GPU (H100 cluster cost sheet, Aug 2024, docs.google.com/spreadsheets/d/"
                "1Ft3RbeZ-w43kYSiLfYc1vxO41mK5lmJpcPC9GOYHAWc)")
_HOST8_W = (500.0 + 100.0) / 8
_HOST8_W_SRC = ("an 8-GPU node's CPUs and system board ~500 W plus networking ~100 W ('Datacenter "
                "economics', lynx-cortex.pages.dev, as stored 2026: 8 x 700 W + 500 W host + "
                "100 W networking for a DGX H100), i.e. 75 W per accelerator")
_SHARE8_SRC = f"{_SERVER8_SRC}; plus {_NETWORK_SRC}"
_LIKE_H100_SERVER = ("assumption: the host, NICs and switches of an 8-GPU H100 server, shared "
                     "8 ways (no bill of materials for this vendor's server found in public "
                     "sources searched as of 2026-12-06); ")


def _tco(device_usd: float, device_source: str, *, host_usd: float = _SERVER8_USD + _NETWORK_USD,
         host_source: str = _SHARE8_SRC, host_w: float = _HOST8_W,
         host_w_source: str = _HOST8_W_SRC) -> TcoSpec:
    return TcoSpec(device_usd=device_usd, device_source=device_source, host_usd=host_usd,
                   host_source=host_source, host_w=host_w, host_w_source=host_w_source,
                   lifetime_years=_LIFETIME_YEARS, lifetime_source=_LIFETIME_SRC)


_GROQCARD_USD = 20_625.0
_GROQCARD_SRC = ("assumption: $20,625 per GroqCard, the exact figure not found in public sources "
                 "searched as of 2026-12-02; a Mouser quantity-1 price of about $20,000 is reported "
                 "('the Groq device is $20K, but that's in quantity 1 from Mouser', "
                 "isopack.blogspot.com/2024, 2024; SemiAnalysis, 'Groq Inference Tokenomics: "
                 "Speed, But At What Cost?', semianalysis.substack.com, Feb 2024, discusses the "
                 "cost but its stored excerpt does not give the figure)")
_GROQ_NODE_SRC = ("assumption: a GroqNode (8 GroqCards and a host: ALCF GroqRack user guide) "
                  "costs what an 8-GPU server's host does, and each card takes one GPU's share of "
                  "the network: ")

_TCO: dict[str, TcoSpec] = {
    "h100-sxm": _tco(30_000.0, "H100 SXM ~$30,000 (AI Infrastructure Index, alpha-one-index.github"
                               ".io/ai-infra-index, 2026-03-01: 'MSRP ~$30,000'; Raymond James "
                               "via Epoch AI's training-cost-trends: 'sold to customers for "
                               "$25,000 to $30,000', Aug 2023)"),
    "h200": _tco(35_000.0, "H200 SXM ~$35,000 (AI Infrastructure Index, alpha-one-index.github.io/"
                           "ai-infra-index, 2026-03-01: 'MSRP ~$35,000')"),
    "a100-sxm-80gb": _tco(15_000.0, "assumption: $15,000, the top of the $8-15K street price of "
                                    "an A100 80GB in 2026 (mercatus-ai.com, 'A100 vs H100 vs "
                                    "H200', 2026; refurbished/used: the A100 went end-of-life in "
                                    "Feb 2024, AI Infrastructure Index)"),
    "a100-sxm-40gb": _tco(10_000.0, "assumption: $10,000, within the $8-15K 2026 street price "
                                    "of an A100 (mercatus-ai.com, 'A100 vs H100 vs H200', 2026), "
                                    "below the 80 GB part's $15,000 (no 40 GB price found)"),
    "l40s": _tco(8_000.0, "assumption: $8,000 per L40S card (no list price found in public "
                          "sources searched as of 2026-12-06)"),
    "mi300x": _tco(15_000.0, "assumption: $15,000 per MI300X (no AMD list price found in public "
                             "sources searched as of 2026-12-06)", host_source=_LIKE_H100_SERVER
                   + _SHARE8_SRC),
    "gh200": _tco(35_000.0, "assumption: $35,000 per GH200 superchip module, an H100's price plus "
                            "the Grace CPU and LPDDR5X (no list price found in public sources "
                            "searched as of 2026-12-06)",
                  host_usd=_NETWORK_USD, host_source=("no separate host: the Grace CPU is on the "
                                                      "module; " + _NETWORK_SRC),
                  host_w=300.0, host_w_source=("assumption: the Grace CPU and LPDDR5X draw the "
                                               "rest of the module's up-to-1,000 W TDP beyond "
                                               "the GPU's 700 W (see POWER['gh200'])")),
    "mi250": _tco(10_000.0, "assumption: $10,000 per MI250 module (no public list price found)",
                  host_source=_LIKE_H100_SERVER + _SHARE8_SRC),
    "gaudi2": _tco(65_000.0 / 8, "Intel's Computex 2024 list price of $65,000 for a kit of 8 Gaudi2 "
                                 "accelerators with baseboard (The Next Platform, 'Stacking up "
                                 "Intel Gaudi against Nvidia GPUs for AI', nextplatform.com/2024/"
                                 "06/13, 13 Jun 2024) = $8,125 each",
                   host_source=_LIKE_H100_SERVER + _SHARE8_SRC),
    "max1550": _tco(15_000.0, "assumption: $15,000 per Max 1550 (no public list price found)",
                    host_source=_LIKE_H100_SERVER + _SHARE8_SRC),
    "sn40l": _tco(25_000.0, "assumption: $25,000 per SN40L socket, H100-class (no public price; "
                            "SambaNova sells systems and cloud tokens only)",
                  host_source=_LIKE_H100_SERVER + _SHARE8_SRC),
    "groq-lpu": _tco(_GROQCARD_USD, _GROQCARD_SRC, host_source=_GROQ_NODE_SRC + _SHARE8_SRC),
    "groqrack": _tco(64 * _GROQCARD_USD, "64 GroqCards x " + _GROQCARD_SRC + " = $1,320,000",
                     host_usd=64 * (_SERVER8_USD + _NETWORK_USD),
                     host_source="8 GroqNodes: " + _GROQ_NODE_SRC + _SHARE8_SRC,
                     host_w=64 * _HOST8_W, host_w_source="8 GroqNodes x 8 cards x " + _HOST8_W_SRC),
}
TCO: Mapping[str, TcoSpec] = MappingProxyType(_TCO)

# The prices of the default basis (kept under the old name for readers of one entry's price).
PRICES = TCO
_BUILTIN = frozenset(_POWER) | frozenset(_TCO) | frozenset(_RENTAL)


def add_prices(hardware: str, *, power: PowerSpec | None = None, tco: TcoSpec | None = None,
               rental: PriceSpec | None = None) -> None:
    """Power and prices of a user catalog's hardware (``phasesim.simulator.catalog.user``); a
    built-in entry's are never replaced."""
    for table, value in ((_POWER, power), (_TCO, tco), (_RENTAL, rental)):
        if value is None:
            continue
        if hardware in _BUILTIN and hardware in table:
            raise InputError(f"'{hardware}' is a built-in entry; its power and prices are the "
                             "catalog's (override a price with --price)")
        table[hardware] = value


def price_tables() -> tuple[dict[str, PowerSpec], dict[str, TcoSpec], dict[str, PriceSpec]]:
    """Copies of the power and price tables (``catalog.user.isolated_catalog`` restores them)."""
    return dict(_POWER), dict(_TCO), dict(_RENTAL)


def restore_price_tables(saved: tuple[dict[str, PowerSpec], dict[str, TcoSpec],
                                      dict[str, PriceSpec]]) -> None:
    for live, kept in zip((_POWER, _TCO, _RENTAL), saved, strict=True):
        live.clear()
        live.update(kept)


def get_power(hardware: str) -> PowerSpec:
    try:
        return POWER[hardware]
    except KeyError:
        raise InputError(f"no power figures for hardware '{hardware}' "
                         f"(known: {', '.join(sorted(POWER))})") from None


def get_price(hardware: str, basis: PriceBasis = PriceBasis.TCO) -> TcoSpec | PriceSpec:
    """One entry's price on ``basis``; InputError naming the basis where it has none."""
    table: Mapping[str, TcoSpec | PriceSpec] = TCO if basis is PriceBasis.TCO else RENTAL
    try:
        return table[hardware]
    except KeyError:
        if basis is PriceBasis.RENTAL:
            raise InputError(f"--price-basis rental: no public rental price for '{hardware}' "
                             f"(rental prices exist for {', '.join(sorted(RENTAL))}); use "
                             f"--price-basis tco, or give one with --price {hardware}=USD") from None
        raise InputError(f"no price for hardware '{hardware}' "
                         f"(known: {', '.join(sorted(TCO))}); give one with --price") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceBook:
    """The prices a run uses: one ``basis`` (``tco`` or ``rental``) of the catalog, with user
    overrides (``overrides``: hardware -> $/hour of one catalog entry, on that basis), the
    electricity price and the PUE (``tco``)."""

    overrides: Mapping[str, float] = field(default_factory=dict)
    kwh_usd: float = DEFAULT_KWH_USD
    pue: float = DEFAULT_PUE
    basis: PriceBasis = PriceBasis.TCO
    override_source: str = "user override"

    def __post_init__(self) -> None:
        for name, usd in self.overrides.items():
            if not usd >= 0.0:
                raise InputError(f"price of '{name}' must be >= 0, got {usd}")
        if not self.kwh_usd >= 0.0:
            raise InputError(f"kWh price must be >= 0, got {self.kwh_usd}")
        if not self.pue >= 1.0:
            raise InputError(f"PUE must be >= 1, got {self.pue}")

    def usd_per_hour(self, hardware: str) -> float:
        if hardware in self.overrides:
            return float(self.overrides[hardware])
        price = get_price(hardware, self.basis)
        if isinstance(price, PriceSpec):
            return price.list_usd_per_hour
        return price.usd_per_hour(power=get_power(hardware), kwh_usd=self.kwh_usd, pue=self.pue)

    def source(self, hardware: str) -> str:
        if hardware in self.overrides:
            return self.override_source
        price = get_price(hardware, self.basis)
        if isinstance(price, PriceSpec):
            return f"rental: {price.source}"
        return price.source(kwh_usd=self.kwh_usd, pue=self.pue)

    def check(self, hardware: str) -> None:
        """InputError where ``hardware`` has no price on this basis and no override (a run
        refuses up front rather than record a missing price)."""
        if hardware not in self.overrides:
            get_price(hardware, self.basis)

    def describe(self, hardware: str) -> dict[str, object]:
        """What an output records about the price it used for ``hardware`` (``usd_per_hour``
        None where the catalog has no price and no override gives one)."""
        table = TCO if self.basis is PriceBasis.TCO else RENTAL
        if hardware not in self.overrides and hardware not in table:
            return {"usd_per_hour": None, "source": "no price (give one with --price)"}
        return {"usd_per_hour": self.usd_per_hour(hardware), "source": self.source(hardware)}
