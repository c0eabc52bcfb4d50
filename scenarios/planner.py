"""``sim plan``: the cheapest cluster that serves a trace within its SLOs, found by simulating it.

The space (``PlanSpace``): a colocated pool of each listed hardware, and every prefill/decode
pairing of the listed hardware (the same hardware on both sides included), with instance counts
such that the instances together are at most ``max_devices`` (an instance is one catalog entry:
a GPU, or a whole GroqRack). Each configuration is a ``Candidate``; ``evaluate`` simulates it and
returns its summary (``simulate(...).summary``: ``slo_attainment``, ``cost``, ``energy``...).

The search prunes with what is monotone: at a fixed policy, adding an instance never lowers
SLO attainment (an assumption the brute-force test checks on a small space), and never lowers
the price per hour. So

- colocated, hardware ``h``: a binary search over ``1..max_devices`` finds the fewest instances
  that meet the attainment target: the cheapest colocated ``h`` cluster (about log2(N) runs);
- disaggregated, ``(prefill hw, decode hw)``: for each prefill count ``p`` the fewest decode
  instances ``d(p)`` that meet it, by binary search below ``d(p - 1)`` (more prefill never needs
  more decode: a staircase); every cheapest configuration is on that staircase.

With ``objective="cost"`` (price per hour) or ``"devices"`` (instances) the search returns the
same optimum as trying every point, when attainment is monotone. With ``"energy"`` (joules per
output token, which more idle instances raise) it picks the best point of the staircase, a
heuristic. Ties go to fewer devices, then the order of the space.

The searches of different topology kinds are independent: ``search_on`` runs one task per kind
(``run_kind``) on any ``concurrent.futures.Executor``, the sweep's process pool or Dask
(``phasesim.scenarios.executors``), and gives the same result as the serial ``search``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from phasesim.errors import InputError
from phasesim.simulator.catalog.economics import PriceBook
from phasesim.simulator.catalog.hardware import (
    NDR_400G_BYTES_PER_S,
    PCIE_GEN4_X16_BYTES_PER_S,
    DeviceKind,
    get_hardware,
)
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import GPU_LINK_LATENCY_S, GROQ_LINK_LATENCY_S, TopologySpec

__all__ = ["OBJECTIVES", "PlanSpace", "Candidate", "Evaluation", "PlanResult", "topology_for",
           "candidates", "kinds", "search", "search_kind", "search_on", "KindTask", "run_kind",
           "brute_force", "report_markdown"]

OBJECTIVES = ("cost", "energy", "devices")
COLOCATED, DISAGGREGATED = "colocated", "disaggregated"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSpace:
    hardware: tuple[str, ...]
    model: str = "llama2-7b"
    max_devices: int = 8
    rate_scale: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.hardware:
            raise InputError("--hardware: give at least one hardware")
        for name in self.hardware:
            get_hardware(name)
        if self.max_devices < 1:
            raise InputError(f"--max-devices must be >= 1, got {self.max_devices}")


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Candidate:
    """One configuration: colocated (``prefill_hardware == decode_hardware``, ``decode`` 0 and
    ``prefill`` the instance count) or disaggregated (``prefill`` + ``decode`` instances)."""

    kind: str
    prefill_hardware: str
    decode_hardware: str
    prefill: int
    decode: int = 0

    @property
    def devices(self) -> int:
        return self.prefill + self.decode

    @property
    def label(self) -> str:
        if self.kind == COLOCATED:
            return f"{self.prefill}x {self.prefill_hardware} colocated"
        return (f"{self.prefill}x {self.prefill_hardware} prefill + {self.decode}x "
                f"{self.decode_hardware} decode")

    @property
    def kind_label(self) -> str:
        if self.kind == COLOCATED:
            return f"colocated {self.prefill_hardware}"
        return f"{self.prefill_hardware} prefill + {self.decode_hardware} decode"


def _pool(name: str, role: str, hardware: str, instances: int, model: str) -> dict[str, Any]:
    lpu = get_hardware(hardware).kind == DeviceKind.LPU
    return {"name": name, "role": role, "hardware": hardware, "instances": instances,
            "model": model, "batching": "none" if lpu else "continuous",
            "routing": "least_outstanding"}


def topology_for(candidate: Candidate, space: PlanSpace) -> TopologySpec:
    """The candidate as a topology ``sim replay --topology`` accepts (the built-ins' pool and
    link defaults: LPUs unbatched, least-outstanding routing, NDR or PCIe-limited link)."""
    c = candidate
    data: dict[str, Any] = {"name": c.label.replace(" ", "-").replace("+", "").replace("--", "-"),
                            "rate_scale": space.rate_scale, "seed": space.seed}
    if c.kind == COLOCATED:
        data["pools"] = [_pool("pool", "colocated", c.prefill_hardware, c.prefill, space.model)]
    else:
        lpu = DeviceKind.LPU in (get_hardware(c.prefill_hardware).kind,
                                 get_hardware(c.decode_hardware).kind)
        link = ({"bandwidth_bytes_per_s": min(NDR_400G_BYTES_PER_S, PCIE_GEN4_X16_BYTES_PER_S),
                 "latency_s": GROQ_LINK_LATENCY_S} if lpu else
                {"bandwidth_bytes_per_s": NDR_400G_BYTES_PER_S, "latency_s": GPU_LINK_LATENCY_S})
        data["pools"] = [_pool("prefill", "prefill", c.prefill_hardware, c.prefill, space.model),
                         _pool("decode", "decode", c.decode_hardware, c.decode, space.model)]
        data["links"] = [{"name": "kv", "src": "prefill", "dst": "decode", **link}]
    return TopologySpec.model_validate(data)


def candidates(space: PlanSpace) -> Iterator[Candidate]:
    """Every point of the space (what brute force tries)."""
    n = space.max_devices
    for hw in space.hardware:
        for k in range(1, n + 1):
            yield Candidate(kind=COLOCATED, prefill_hardware=hw, decode_hardware=hw, prefill=k)
    for hp, hd in _pairs(space):
        for p in range(1, n):
            for d in range(1, n - p + 1):
                yield Candidate(kind=DISAGGREGATED, prefill_hardware=hp, decode_hardware=hd,
                                prefill=p, decode=d)


def _pairs(space: PlanSpace) -> list[tuple[str, str]]:
    return [(hp, hd) for hp in space.hardware for hd in space.hardware]


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    candidate: Candidate
    summary: Mapping[str, Any]
    feasible: bool

    def objective(self, objective: str) -> float:
        if objective == "devices":
            return float(self.candidate.devices)
        if objective == "energy":
            value = (self.summary.get("energy") or {}).get("joules_per_output_token")
        else:
            value = (self.summary.get("cost") or {}).get("usd_per_hour")
        return math.inf if value is None else float(value)

    def row(self) -> dict[str, Any]:
        s, c = self.summary, self.candidate

        def pct(key: str, q: str) -> float | None:
            return (s.get(key) or {}).get(q)

        return {
            "kind": c.kind, "prefill_hardware": c.prefill_hardware,
            "decode_hardware": c.decode_hardware if c.kind == DISAGGREGATED else "",
            "hardware": c.prefill_hardware if c.kind == COLOCATED else "",
            "prefill_instances": c.prefill if c.kind == DISAGGREGATED else 0,
            "decode_instances": c.decode, "instances": c.prefill if c.kind == COLOCATED else 0,
            "devices": c.devices, "label": c.label,
            "usd_per_hour": (s.get("cost") or {}).get("usd_per_hour"),
            "usd_per_million_output_tokens": (s.get("cost") or {}).get(
                "usd_per_million_output_tokens"),
            "joules_per_output_token": (s.get("energy") or {}).get("joules_per_output_token"),
            "slo_attainment": s.get("slo_attainment"), "goodput_rps": s.get("goodput_rps"),
            "ttft_p50_s": pct("ttft_s", "p50"), "ttft_p99_s": pct("ttft_s", "p99"),
            "tpot_p50_s": pct("tpot_s", "p50"), "tpot_p99_s": pct("tpot_s", "p99"),
            "feasible": self.feasible,
        }


@dataclass(slots=True, kw_only=True)
class PlanResult:
    objective: str
    attainment: float
    evaluations: list[Evaluation] = field(default_factory=list)

    @property
    def feasible(self) -> list[Evaluation]:
        return [e for e in self.evaluations if e.feasible]

    def ranked(self) -> list[Evaluation]:
        order = {id(e): i for i, e in enumerate(self.evaluations)}
        return sorted(self.feasible, key=lambda e: (e.objective(self.objective),
                                                    e.candidate.devices, order[id(e)]))

    @property
    def best(self) -> Evaluation | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None


Evaluate = Callable[[TopologySpec], Mapping[str, Any]]


class _Runner:
    """Simulates each candidate at most once, in the order asked."""

    def __init__(self, space: PlanSpace, evaluate: Evaluate, result: PlanResult) -> None:
        self.space, self.evaluate, self.result = space, evaluate, result
        self.seen: dict[Candidate, Evaluation] = {}

    def __call__(self, candidate: Candidate) -> bool:
        if candidate not in self.seen:
            summary = self.evaluate(topology_for(candidate, self.space))
            attained = summary.get("slo_attainment")
            ok = attained is not None and attained >= self.result.attainment
            self.seen[candidate] = Evaluation(candidate=candidate, summary=summary, feasible=ok)
            self.result.evaluations.append(self.seen[candidate])
        return self.seen[candidate].feasible


def _fewest(feasible: Callable[[int], bool], lo: int, hi: int) -> int | None:
    """The smallest n in [lo, hi] with feasible(n), if feasible is monotone; None if none."""
    if hi < lo or not feasible(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if feasible(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def kinds(space: PlanSpace) -> list[tuple[str, str, str]]:
    """The topology kinds of the space, in order: ``(kind, prefill hw, decode hw)``."""
    return ([(COLOCATED, hw, hw) for hw in space.hardware]
            + [(DISAGGREGATED, hp, hd) for hp, hd in _pairs(space)])


def search_kind(kind: tuple[str, str, str], space: PlanSpace, evaluate: Evaluate, *,
                attainment: float) -> list[Evaluation]:
    """The pruned search of one topology kind (module docstring); its evaluations in order."""
    result = PlanResult(objective="cost", attainment=attainment)
    run = _Runner(space, evaluate, result)
    n = space.max_devices
    name, hp, hd = kind
    if name == COLOCATED:
        _fewest(lambda k: run(Candidate(kind=COLOCATED, prefill_hardware=hp, decode_hardware=hp,
                                        prefill=k)), 1, n)
        return result.evaluations
    bound: int | None = None
    for p in range(1, n):
        hi = n - p if bound is None else min(bound, n - p)
        d = _fewest(lambda k, p=p: run(Candidate(kind=DISAGGREGATED, prefill_hardware=hp,
                                                 decode_hardware=hd, prefill=p, decode=k)), 1, hi)
        if d is not None:
            bound = d
    return result.evaluations


def search(space: PlanSpace, evaluate: Evaluate, *, attainment: float = 0.9,
           objective: str = "cost") -> PlanResult:
    """The pruned search of the module docstring, one kind after another, in this process."""
    _check(attainment, objective)
    result = PlanResult(objective=objective, attainment=attainment)
    for kind in kinds(space):
        result.evaluations += search_kind(kind, space, evaluate, attainment=attainment)
    return result


@dataclass(frozen=True, slots=True, kw_only=True)
class KindTask:
    """One topology kind's search, shipped to an executor (picklable)."""

    kind: tuple[str, str, str]
    space: PlanSpace
    trace: pd.DataFrame
    slo_ttft_s: float
    slo_tpot_s: float
    prices: PriceBook
    attainment: float


def run_kind(task: KindTask) -> list[Evaluation]:
    """Simulate one kind's search (an executor's task)."""
    def evaluate(topology: TopologySpec) -> Mapping[str, Any]:
        return simulate(task.trace, topology, slo_ttft_s=task.slo_ttft_s,
                        slo_tpot_s=task.slo_tpot_s, prices=task.prices, timeseries=False).summary

    return search_kind(task.kind, task.space, evaluate, attainment=task.attainment)


def search_on(executor: Executor, space: PlanSpace, trace: pd.DataFrame, *, slo_ttft_s: float,
              slo_tpot_s: float, prices: PriceBook, attainment: float = 0.9,
              objective: str = "cost") -> PlanResult:
    """``search`` with one task per topology kind on ``executor``; the same result."""
    _check(attainment, objective)
    futures = [executor.submit(run_kind, KindTask(kind=kind, space=space, trace=trace,
                                                  slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s,
                                                  prices=prices, attainment=attainment))
               for kind in kinds(space)]
    result = PlanResult(objective=objective, attainment=attainment)
    for future in futures:
        result.evaluations += future.result()
    return result


def brute_force(space: PlanSpace, evaluate: Evaluate, *, attainment: float = 0.9,
                objective: str = "cost") -> PlanResult:
    """Every point of the space (for tests and small spaces)."""
    _check(attainment, objective)
    result = PlanResult(objective=objective, attainment=attainment)
    run = _Runner(space, evaluate, result)
    for candidate in candidates(space):
        run(candidate)
    return result


def _check(attainment: float, objective: str) -> None:
    if objective not in OBJECTIVES:
        raise InputError(f"--objective must be one of {', '.join(OBJECTIVES)}, got '{objective}'")
    if not 0.0 < attainment <= 1.0:
        raise InputError(f"--attainment must be in (0, 1], got {attainment}")


def report_markdown(result: PlanResult, space: PlanSpace) -> str:
    """The winner, the best of each other topology kind and why it lost, and the prices used."""
    lines = [f"# sim plan: {result.objective} at SLO attainment >= {result.attainment:g}", "",
             (f"Space: {', '.join(space.hardware)}; model {space.model}; at most "
              f"{space.max_devices} instances; {len(result.evaluations)} configurations simulated "
              f"(brute force: {sum(1 for _ in candidates(space))})."), ""]
    best = result.best
    if best is None:
        top = max(result.evaluations, key=lambda e: e.summary.get("slo_attainment") or 0.0,
                  default=None)
        lines.append(f"**Nothing within --max-devices {space.max_devices} meets the SLO.**")
        if top is not None:
            lines.append(f"Closest: {top.candidate.label}, attainment "
                         f"{top.summary.get('slo_attainment') or 0.0:.3f}.")
        return "\n".join(lines) + "\n"
    unit = {"cost": "USD/h", "energy": "J per output token", "devices": "instances"}[result.objective]
    lines.append(f"**Winner: {best.candidate.label}**: {best.objective(result.objective):.4g} "
                 f"{unit}, attainment {best.summary['slo_attainment']:.3f}, "
                 f"{_usd(best)}.")
    lines += ["", "Best of each other topology kind:", ""]
    kinds: dict[str, list[Evaluation]] = {}
    for e in result.evaluations:
        kinds.setdefault(e.candidate.kind_label, []).append(e)
    for kind, evals in kinds.items():
        if kind == best.candidate.kind_label:
            continue
        ok = [e for e in result.ranked() if e.candidate.kind_label == kind]
        if ok:
            e = ok[0]
            gap = e.objective(result.objective) - best.objective(result.objective)
            lines.append(f"- {kind}: {e.candidate.label}, {e.objective(result.objective):.4g} "
                         f"{unit} ({gap:+.4g} vs the winner), attainment "
                         f"{e.summary['slo_attainment']:.3f}")
        else:
            top = max(evals, key=lambda e: e.summary.get("slo_attainment") or 0.0)
            lines.append(f"- {kind}: nothing within {space.max_devices} instances meets the SLO "
                         f"(best attainment {top.summary.get('slo_attainment') or 0.0:.3f}, "
                         f"{top.candidate.label})")
    prices = (best.summary.get("cost") or {}).get("prices") or {}
    seen: dict[str, Any] = {}
    for e in result.evaluations:
        seen.update((e.summary.get("cost") or {}).get("prices") or {})
    lines += ["", "Prices used:", ""]
    lines += [f"- {hw}: ${p['usd_per_hour']:.4g}/h ({p['source']})" for hw, p in
              sorted({**seen, **prices}.items()) if p.get("usd_per_hour") is not None]
    return "\n".join(lines) + "\n"


def _usd(e: Evaluation) -> str:
    cost = e.summary.get("cost") or {}
    per_m = cost.get("usd_per_million_output_tokens")
    return (f"${cost.get('usd_per_hour', float('nan')):.4g}/h"
            + ("" if per_m is None else f", ${per_m:.4g} per million output tokens"))
