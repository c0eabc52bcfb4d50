"""``sim plan``: the cheapest cluster that serves a trace within its SLOs, found by simulating it.

The space (``PlanSpace``): a colocated pool of each listed hardware, and every prefill/decode
pairing of the listed hardware (the same hardware on both sides included); per pool a
tensor-parallel degree (``tensor_parallel``: the degrees given, or with None every degree that
fits: dividing the model's attention heads, at least the least that holds the weights, at most
``max_devices``; 1 on an LPU) and a max batch (``max_num_seqs``: values of the pools'
``max_num_seqs``, None the pool's default; LPUs are unbatched and take only None); and instance
counts such that the devices together (instances x tensor-parallel degree) are at most
``max_devices`` (a device is one catalog entry: a GPU, or a whole GroqRack). A ``Kind`` fixes
everything but the counts; each configuration is a ``Candidate``; ``evaluate`` simulates it and
returns its summary (``simulate(...).summary``: ``slo_attainment``, ``cost``, ``energy``...).
With the defaults (degree 1, default max batch) the kinds, candidates and results are those of
the planner before these two axes.

The search prunes with what is monotone: at a fixed policy (and a fixed degree and max batch),
adding an instance never lowers SLO attainment (an assumption the brute-force test checks on a
small space), and never lowers the price per hour. So, for each kind,

- colocated, hardware ``h`` at degree ``t``: a binary search over ``1..max_devices // t`` finds the
  fewest instances that meet the attainment target: the cheapest such cluster (about log2(N) runs);
- disaggregated, ``(prefill hw, decode hw)``: for each prefill count ``p`` the fewest decode
  instances ``d(p)`` that meet it, by binary search below ``d(p - 1)`` (more prefill never needs
  more decode: a staircase); every cheapest configuration is on that staircase.

Nothing is pruned across degrees or max batches (neither is monotone: a larger batch can lower
TPOT attainment, a higher degree buys speed at a price): every kind gets its own search.

With ``objective="cost"`` (price per hour) or ``"devices"`` (instances x degree) the search
returns the same optimum as trying every point, when attainment is monotone. With ``"energy"`` (joules per
output token, which more idle instances raise) it picks the best point of the staircase, a
heuristic. Ties go to fewer devices, then the order of the space.

The searches of different topology kinds are independent: ``search_on`` runs one task per kind
(``run_kind``) on any ``concurrent.futures.Executor``, the sweep's process pool or Dask
(``phasesim.scenarios.executors``), and gives the same result as the serial ``search``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from phasesim.errors import InputError
from phasesim.seeds import check_seed
from phasesim.simulator.catalog.economics import PriceBook
from phasesim.simulator.catalog.engines import get_engine
from phasesim.simulator.catalog.hardware import (
    NDR_400G_BYTES_PER_S,
    PCIE_GEN4_X16_BYTES_PER_S,
    DeviceKind,
    get_hardware,
)
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.costs import CostModel, max_context_tokens, min_tensor_parallel
from phasesim.simulator.results.metrics import meets_slo
from phasesim.simulator.run import DEFAULT_MAX_NUM_SEQS, simulate
from phasesim.simulator.topology import (
    GPU_LINK_LATENCY_S,
    GROQ_LINK_LATENCY_S,
    MAX_NUM_SEQS,
    TopologySpec,
)

__all__ = [
    "MAX_PLAN_DEVICES",
    "MAX_PLAN_SIMULATIONS",
    "OBJECTIVES",
    "PROBE_SCALES",
    "Candidate",
    "Evaluation",
    "Infeasibility",
    "Kind",
    "KindTask",
    "PlanResult",
    "PlanSpace",
    "batch_sizes",
    "brute_force",
    "candidates",
    "degrees",
    "effective_max_num_seqs",
    "explain_infeasible",
    "kinds",
    "least_simulations",
    "report_markdown",
    "run_kind",
    "search",
    "search_kind",
    "search_on",
    "simulate_summary",
    "slo_terms",
    "table_shapes",
    "topology_for",
]

OBJECTIVES = ("cost", "energy", "devices")
COLOCATED, DISAGGREGATED = "colocated", "disaggregated"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSpace:
    hardware: tuple[str, ...]
    model: str = "llama2-7b"
    max_devices: int = 8
    rate_scale: float = 1.0
    seed: int | None = None
    # tensor-parallel degrees to try on GPU pools; None: every degree that fits (``degrees``)
    tensor_parallel: tuple[int, ...] | None = (1,)
    # max_num_seqs values to try on batching pools; None: the pool's default
    max_num_seqs: tuple[int | None, ...] = (None,)
    # serving engine of every pool (its batching and limits where the pool sets none, and its
    # tables); None: each hardware's default engine
    engine: str | None = None

    def __post_init__(self) -> None:
        if not self.hardware:
            raise InputError("--hardware: give at least one hardware")
        if self.engine is not None:
            try:
                get_engine(self.engine)
            except InputError as exc:
                raise InputError(f"--engine: {exc.message}") from None
        for name in self.hardware:
            get_hardware(name)
        if not 1 <= self.max_devices <= MAX_PLAN_DEVICES:
            raise InputError(f"--max-devices must be in 1..{MAX_PLAN_DEVICES:,}, got "
                             f"{self.max_devices}")
        if not (math.isfinite(self.rate_scale) and self.rate_scale > 0):
            raise InputError(f"--rate-scale must be a positive finite number, got {self.rate_scale}")
        if self.seed is not None:
            check_seed(self.seed, name="--seed")
        heads = get_model(self.model).heads
        if self.tensor_parallel is not None:
            if not self.tensor_parallel:
                raise InputError("--tp: give at least one degree")
            for tp in self.tensor_parallel:
                if tp < 1 or heads % tp:
                    raise InputError(f"--tp: {tp} does not divide {self.model}'s {heads} "
                                     "attention heads")
        if not self.max_num_seqs:
            raise InputError("--max-num-seqs/--max-batch: give at least one value")
        for mb in self.max_num_seqs:
            if mb is not None and mb < 1:
                raise InputError(f"--max-num-seqs/--max-batch must be >= 1, got {mb}")
        for mb in self.max_num_seqs:
            if mb is not None and mb > MAX_NUM_SEQS:
                raise InputError(f"--max-num-seqs/--max-batch must be <= {MAX_NUM_SEQS:,}, "
                                 f"got {mb}")
        if not any(degrees(hw, self) for hw in self.hardware):
            least = {hw: min_tensor_parallel(hardware=hw, model=self.model,
                                             engine=None if _lpu(hw) else self.engine)
                     for hw in self.hardware}
            raise InputError("--tp: no tensor-parallel degree searched fits any hardware within "
                             f"--max-devices {self.max_devices} (least degree holding "
                             f"{self.model}: " + ", ".join(f"{hw} {n}" for hw, n in least.items())
                             + ")")
        runs = least_simulations(self)
        if runs > MAX_PLAN_SIMULATIONS:
            raise InputError(f"--max-devices: the search would simulate at least {runs:,} "
                             f"configurations, more than {MAX_PLAN_SIMULATIONS:,}; lower "
                             "--max-devices or give fewer --hardware, --tp or --max-num-seqs "
                             "values")


# The search space is bounded before anything is simulated: devices per cluster (instance counts
# up to this, each run building that many instances), and the configurations the search must at
# least simulate (``least_simulations``; each takes about a second on the sample trace).
MAX_PLAN_DEVICES = 1_024
MAX_PLAN_SIMULATIONS = 10_000


def least_simulations(space: PlanSpace) -> int:
    """A lower bound on the simulations ``search`` runs: a colocated kind's binary search over
    its instance counts (at least log2 of them), and a disaggregated kind's one run per prefill
    count at least."""
    total = 0
    for kind in kinds(space):
        if kind.kind == COLOCATED:
            total += max(1, (space.max_devices // kind.prefill_tp).bit_length())
        else:
            total += max(0, (space.max_devices - kind.decode_tp) // kind.prefill_tp)
    return total


def _lpu(hardware: str) -> bool:
    return get_hardware(hardware).kind == DeviceKind.LPU


def degrees(hardware: str, space: PlanSpace) -> tuple[int, ...]:
    """The tensor-parallel degrees of ``hardware`` in the space: 1 on an LPU; else those given
    (or every divisor of the model's heads) that hold the weights and fit ``max_devices``."""
    if _lpu(hardware):
        return (1,)
    least = min_tensor_parallel(hardware=hardware, model=space.model, engine=space.engine)
    if least is None:
        return ()
    heads = get_model(space.model).heads
    given = (space.tensor_parallel if space.tensor_parallel is not None
             else tuple(n for n in range(1, heads + 1) if heads % n == 0))
    return tuple(sorted(n for n in set(given) if least <= n <= space.max_devices))


def batch_sizes(hardware: str, space: PlanSpace) -> tuple[int | None, ...]:
    """The max batches of ``hardware`` in the space: None only on an LPU (unbatched)."""
    return (None,) if _lpu(hardware) else tuple(dict.fromkeys(space.max_num_seqs))


def effective_max_num_seqs(hardware: str, max_num_seqs: int | None) -> int:
    """The max_num_seqs the simulator runs a pool with (``simulate``'s rule)."""
    hw = get_hardware(hardware)
    if hw.kind == DeviceKind.LPU:
        return 1
    return min(max_num_seqs or DEFAULT_MAX_NUM_SEQS, hw.max_batch_size)


def table_shapes(space: PlanSpace) -> list[tuple[str, int]]:
    """The (hardware, tensor-parallel degree) instance shapes the space needs cost tables for."""
    return [(hw, tp) for hw in space.hardware for tp in degrees(hw, space)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Kind:
    """A topology kind with its degrees and max batches: everything but the instance counts
    (colocated: the prefill fields describe the one pool)."""

    kind: str
    prefill_hardware: str
    decode_hardware: str
    prefill_tp: int = 1
    decode_tp: int = 1
    prefill_max_num_seqs: int | None = None
    decode_max_num_seqs: int | None = None

    def candidate(self, prefill: int, decode: int = 0) -> Candidate:
        return Candidate(kind=self.kind, prefill_hardware=self.prefill_hardware,
                         decode_hardware=self.decode_hardware, prefill=prefill, decode=decode,
                         prefill_tp=self.prefill_tp, decode_tp=self.decode_tp,
                         prefill_max_num_seqs=self.prefill_max_num_seqs,
                         decode_max_num_seqs=self.decode_max_num_seqs)


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """One configuration: colocated (``prefill_hardware == decode_hardware``, ``decode`` 0 and
    ``prefill`` the instance count) or disaggregated (``prefill`` + ``decode`` instances); each
    pool's tensor-parallel degree and max batch (None: the pool's default)."""

    kind: str
    prefill_hardware: str
    decode_hardware: str
    prefill: int
    decode: int = 0
    prefill_tp: int = 1
    decode_tp: int = 1
    prefill_max_num_seqs: int | None = None
    decode_max_num_seqs: int | None = None

    @property
    def devices(self) -> int:
        """Devices (GPUs, GroqRacks): instances x tensor-parallel degree, over the pools."""
        return self.prefill * self.prefill_tp + self.decode * self.decode_tp

    @property
    def label(self) -> str:
        if self.kind == COLOCATED:
            return (f"{self.prefill}x {self.prefill_hardware}"
                    f"{_shape(self.prefill_tp, self.prefill_max_num_seqs)} colocated")
        return (f"{self.prefill}x {self.prefill_hardware}"
                f"{_shape(self.prefill_tp, self.prefill_max_num_seqs)} prefill + {self.decode}x "
                f"{self.decode_hardware}{_shape(self.decode_tp, self.decode_max_num_seqs)} decode")

    @property
    def kind_label(self) -> str:
        if self.kind == COLOCATED:
            return f"colocated {self.prefill_hardware}"
        return f"{self.prefill_hardware} prefill + {self.decode_hardware} decode"


def _shape(tp: int, max_num_seqs: int | None) -> str:
    """`` TP2``, `` batch 64``: only what differs from the defaults (labels stay as before)."""
    return ((f" TP{tp}" if tp > 1 else "")
            + (f" batch {max_num_seqs}" if max_num_seqs is not None else ""))


def _pool(name: str, role: str, hardware: str, instances: int, model: str, tp: int,
          max_num_seqs: int | None, engine: str | None) -> dict[str, Any]:
    lpu = get_hardware(hardware).kind == DeviceKind.LPU
    pool = {"name": name, "role": role, "hardware": hardware, "instances": instances,
            "model": model, "batching": "none" if lpu else "continuous",
            "routing": "least_outstanding"}
    if engine is not None and not lpu:  # a named engine brings its batching to GPU pools;
        pool["engine"] = engine  # GroqRack pools keep Groq's own stack (batch 1)
        del pool["batching"]
    if tp > 1:
        pool["tensor_parallel"] = tp
    if max_num_seqs is not None:
        pool["max_num_seqs"] = max_num_seqs
    return pool


def topology_for(candidate: Candidate, space: PlanSpace) -> TopologySpec:
    """The candidate as a topology ``sim replay --topology`` accepts (the built-ins' pool and
    link defaults: LPUs unbatched, least-outstanding routing, NDR or PCIe-limited link)."""
    c = candidate
    data: dict[str, Any] = {"name": c.label.replace(" ", "-").replace("+", "").replace("--", "-"),
                            "rate_scale": space.rate_scale, "seed": space.seed}
    if c.kind == COLOCATED:
        data["pools"] = [_pool("pool", "colocated", c.prefill_hardware, c.prefill, space.model,
                               c.prefill_tp, c.prefill_max_num_seqs, space.engine)]
    else:
        lpu = DeviceKind.LPU in (get_hardware(c.prefill_hardware).kind,
                                 get_hardware(c.decode_hardware).kind)
        link = ({"bandwidth_bytes_per_s": min(NDR_400G_BYTES_PER_S, PCIE_GEN4_X16_BYTES_PER_S),
                 "latency_s": GROQ_LINK_LATENCY_S} if lpu else
                {"bandwidth_bytes_per_s": NDR_400G_BYTES_PER_S, "latency_s": GPU_LINK_LATENCY_S})
        data["pools"] = [_pool("prefill", "prefill", c.prefill_hardware, c.prefill, space.model,
                               c.prefill_tp, c.prefill_max_num_seqs, space.engine),
                         _pool("decode", "decode", c.decode_hardware, c.decode, space.model,
                               c.decode_tp, c.decode_max_num_seqs, space.engine)]
        data["links"] = [{"name": "kv", "src": "prefill", "dst": "decode", **link}]
    return TopologySpec.model_validate(data)


def candidates(space: PlanSpace) -> Iterator[Candidate]:
    """Every point of the space (what brute force tries)."""
    n = space.max_devices
    for kind in kinds(space):
        if kind.kind == COLOCATED:
            for k in range(1, n // kind.prefill_tp + 1):
                yield kind.candidate(k)
            continue
        for p in range(1, (n - kind.decode_tp) // kind.prefill_tp + 1):
            for d in range(1, (n - p * kind.prefill_tp) // kind.decode_tp + 1):
                yield kind.candidate(p, d)


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

        colocated = c.kind == COLOCATED
        batch_p = effective_max_num_seqs(c.prefill_hardware, c.prefill_max_num_seqs)
        batch_d = effective_max_num_seqs(c.decode_hardware, c.decode_max_num_seqs)
        return {
            "kind": c.kind, "prefill_hardware": c.prefill_hardware,
            "decode_hardware": c.decode_hardware if c.kind == DISAGGREGATED else "",
            "hardware": c.prefill_hardware if c.kind == COLOCATED else "",
            "prefill_instances": c.prefill if c.kind == DISAGGREGATED else 0,
            "decode_instances": c.decode, "instances": c.prefill if c.kind == COLOCATED else 0,
            # per pool, as the counts: 0 where the pool does not exist; max batch as simulated
            "tensor_parallel": c.prefill_tp if colocated else 0,
            "prefill_tensor_parallel": 0 if colocated else c.prefill_tp,
            "decode_tensor_parallel": 0 if colocated else c.decode_tp,
            "max_batch": batch_p if colocated else 0,
            "prefill_max_batch": 0 if colocated else batch_p,
            "decode_max_batch": 0 if colocated else batch_d,
            "devices": c.devices, "label": c.label,
            "usd_per_hour": (s.get("cost") or {}).get("usd_per_hour"),
            "usd_per_million_output_tokens": (s.get("cost") or {}).get(
                "usd_per_million_output_tokens"),
            "usd_per_million_goodput_tokens": (s.get("cost") or {}).get(
                "usd_per_million_goodput_tokens"),
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
# cost tables the caller built (the CLI: analytical tables for TP > 1), by (hardware, degree)
Tables = Mapping[tuple[str, int], CostModel]


def simulate_summary(trace: pd.DataFrame, topology: TopologySpec, *, slo_ttft_s: float,
                     slo_tpot_s: float, prices: PriceBook | None = None,
                     tables: Tables | None = None) -> Mapping[str, Any]:
    """One candidate's summary: ``simulate`` with each pool on the table given for its
    (hardware, degree), where one is (the others load the shipped ones)."""
    tables = tables or {}
    models = {p.name: tables[(p.hardware, p.tensor_parallel)] for p in topology.pools
              if (p.hardware, p.tensor_parallel) in tables}
    result = simulate(trace, topology, slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s,
                      prices=prices, cost_models=models, timeseries=False)
    return {**result.summary, "slo_terms": slo_terms(result.requests, slo_ttft_s=slo_ttft_s,
                                                     slo_tpot_s=slo_tpot_s)}


def slo_terms(requests: pd.DataFrame, *, slo_ttft_s: float, slo_tpot_s: float) -> dict[str, float]:
    """Each SLO term alone, as a share of all requests (rejected ones included, as attainment
    counts them): ``completed``, ``ttft`` (completed within the TTFT SLO), ``tpot`` (completed
    within the TPOT SLO). Attainment is at most the smallest of them."""
    n = max(len(requests), 1)
    return {"completed": float(meets_slo(requests, slo_ttft_s=None, slo_tpot_s=None).sum()) / n,
            "ttft": float(meets_slo(requests, slo_ttft_s=slo_ttft_s, slo_tpot_s=None).sum()) / n,
            "tpot": float(meets_slo(requests, slo_ttft_s=None, slo_tpot_s=slo_tpot_s).sum()) / n}


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


def kinds(space: PlanSpace) -> list[Kind]:
    """The kinds of the space, in order: colocated per hardware, then each (prefill, decode)
    pairing; within each, degrees then max batches (prefill pool's before decode pool's)."""
    out = [Kind(kind=COLOCATED, prefill_hardware=hw, decode_hardware=hw, prefill_tp=tp,
                prefill_max_num_seqs=mb)
           for hw in space.hardware for tp in degrees(hw, space) for mb in batch_sizes(hw, space)]
    for hp, hd in _pairs(space):
        for tp_p in degrees(hp, space):
            for tp_d in degrees(hd, space):
                if tp_p + tp_d > space.max_devices:
                    continue
                out += [Kind(kind=DISAGGREGATED, prefill_hardware=hp, decode_hardware=hd,
                             prefill_tp=tp_p, decode_tp=tp_d, prefill_max_num_seqs=mb_p,
                             decode_max_num_seqs=mb_d)
                        for mb_p in batch_sizes(hp, space) for mb_d in batch_sizes(hd, space)]
    return out


def search_kind(kind: Kind, space: PlanSpace, evaluate: Evaluate, *,
                attainment: float) -> list[Evaluation]:
    """The pruned search of one kind (module docstring); its evaluations in order. Counts are
    bounded by devices: instances x degree over the pools at most ``max_devices``."""
    result = PlanResult(objective="cost", attainment=attainment)
    run = _Runner(space, evaluate, result)
    n, tp_p, tp_d = space.max_devices, kind.prefill_tp, kind.decode_tp
    if kind.kind == COLOCATED:
        _fewest(lambda k: run(kind.candidate(k)), 1, n // tp_p)
        return result.evaluations
    bound: int | None = None
    for p in range(1, (n - tp_d) // tp_p + 1):
        room = (n - p * tp_p) // tp_d
        hi = room if bound is None else min(bound, room)
        d = _fewest(lambda k, p=p: run(kind.candidate(p, k)), 1, hi)
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

    kind: Kind
    space: PlanSpace
    trace: pd.DataFrame
    slo_ttft_s: float
    slo_tpot_s: float
    prices: PriceBook
    attainment: float
    tables: Tables = field(default_factory=dict)


def run_kind(task: KindTask) -> list[Evaluation]:
    """Simulate one kind's search (an executor's task)."""
    def evaluate(topology: TopologySpec) -> Mapping[str, Any]:
        return simulate_summary(task.trace, topology, slo_ttft_s=task.slo_ttft_s,
                                slo_tpot_s=task.slo_tpot_s, prices=task.prices,
                                tables=task.tables)

    return search_kind(task.kind, task.space, evaluate, attainment=task.attainment)


def search_on(executor: Executor, space: PlanSpace, trace: pd.DataFrame, *, slo_ttft_s: float,
              slo_tpot_s: float, prices: PriceBook, attainment: float = 0.9,
              objective: str = "cost", tables: Tables | None = None) -> PlanResult:
    """``search`` with one task per kind on ``executor``; the same result. ``tables``: cost
    tables by (hardware, degree) for the shapes the simulator cannot load alone (TP > 1)."""
    _check(attainment, objective)
    futures = [executor.submit(run_kind, KindTask(kind=kind, space=space, trace=trace,
                                                  slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s,
                                                  prices=prices, attainment=attainment,
                                                  tables=dict(tables or {})))
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Infeasibility:
    """Why nothing met the SLO, and what would: ``sim plan``'s explanation (report.md and the
    console). ``over_context``: per hardware, the share of the trace's requests longer (prompt +
    output) than its context for the model, and that context; ``best``: the evaluation with the
    highest attainment; ``lower_attainment``: the attainment target that would have passed and
    its best configuration under the objective; ``bigger``: configurations simulated beyond
    ``max_devices`` (the best kind scaled up), in order."""

    attainment: float
    objective: str
    over_context: Mapping[str, tuple[float, int]]
    best: Evaluation | None
    lower_attainment: tuple[float, Evaluation] | None
    bigger: tuple[Evaluation, ...] = ()

    def lines(self, space: PlanSpace) -> list[str]:
        out = [(f"**Nothing within --max-devices {space.max_devices} meets the SLO** "
                f"(attainment >= {self.attainment:g})."), "", "Why:", ""]
        best = self.best
        for hw, (share, limit) in self.over_context.items():
            if share > 0:
                ceiling = 1.0 - share
                verdict = (f"so no {hw} cluster can reach {self.attainment:g}"
                           if ceiling < self.attainment else "a ceiling still above the target")
                out.append(f"- {100 * share:.1f} % of the requests are longer (prompt + output) "
                           f"than {space.model}'s {limit:,}-token context on {hw}: they are "
                           f"rejected, capping attainment at {ceiling:.3f}, {verdict}.")
        if best is not None:
            terms = best.summary.get("slo_terms") or {}
            got = best.summary.get("slo_attainment") or 0.0
            out.append(f"- The best attainment is {got:.3f}, by {best.candidate.label}.")
            if terms:
                losses = {"rejected": 1.0 - terms["completed"],
                          "late first token (TTFT SLO)": terms["completed"] - terms["ttft"],
                          "slow decode (TPOT SLO)": terms["completed"] - terms["tpot"]}
                worst = max(losses, key=lambda k: losses[k])
                out.append("  Of all its requests: " + ", ".join(
                    f"{100 * v:.1f} % {k}" for k, v in losses.items())
                    + f" (a request may miss both SLOs); the largest loss: {worst}.")
        out += ["", "What would pass:", ""]
        if self.lower_attainment is not None:
            target, e = self.lower_attainment
            out.append(f"- `--attainment {target:g}`: {e.candidate.label} "
                       f"(attainment {e.summary['slo_attainment']:.3f}, {_usd(e)}), the best "
                       f"by {self.objective} of those simulated; run again with it to search "
                       "for a better one.")
        capped = [hw for hw, (share, _) in self.over_context.items()
                  if 1.0 - share < self.attainment]
        passed = [e for e in self.bigger if e.feasible]
        if passed:
            e = passed[0]
            out.append(f"- `--max-devices {e.candidate.devices}`: {e.candidate.label} meets it "
                       f"(attainment {e.summary['slo_attainment']:.3f}, {_usd(e)}; simulated).")
        elif self.bigger:
            top = max(self.bigger, key=lambda e: e.summary.get("slo_attainment") or 0.0)
            out.append(f"- Not {max(PROBE_SCALES)}x the devices of the best configuration: "
                       f"{top.candidate.label} ({top.candidate.devices} devices) reaches "
                       f"attainment {top.summary.get('slo_attainment') or 0.0:.3f} (simulated); "
                       "a larger --max-devices may.")
        if capped:
            out.append(f"- Requests that fit the context: clip or drop the longer ones (`sim "
                       f"traces transform --max-context N --context-policy clip|drop`), or plan "
                       f"on hardware with a longer context ({', '.join(capped)} cannot hold them).")
        if len(out) and out[-1] == "":
            out.append("- Nothing found: lower --attainment or relax --slo-ttft / --slo-tpot.")
        return out


# device counts tried beyond --max-devices when nothing meets the SLO (multiples of the best
# configuration found), at most this many simulations
PROBE_SCALES = (2, 4)


def explain_infeasible(result: PlanResult, space: PlanSpace, trace: pd.DataFrame,
                       evaluate: Evaluate | None = None) -> Infeasibility:
    """Why ``result`` has no feasible configuration and what would pass. ``evaluate`` (a
    topology's summary, as the search's) simulates the best configuration scaled by
    ``PROBE_SCALES``, unless the context alone caps attainment below the target; None: no
    simulation (only the lower attainment is offered)."""
    lengths = (trace["prompt_tokens"].to_numpy() + trace["output_tokens"].to_numpy())
    over = {}
    for hw in space.hardware:
        limit = max_context_tokens(hardware=hw, model=space.model)
        over[hw] = (float((lengths > limit).mean()) if len(lengths) else 0.0, limit)
    best = max(result.evaluations, key=lambda e: (e.summary.get("slo_attainment") or 0.0,
                                                  -e.candidate.devices), default=None)
    lower = None
    if best is not None and (best.summary.get("slo_attainment") or 0.0) > 0:
        target = math.floor(100 * best.summary["slo_attainment"]) / 100
        if target > 0:
            ok = PlanResult(objective=result.objective, attainment=target,
                            evaluations=[Evaluation(candidate=e.candidate, summary=e.summary,
                                                    feasible=(e.summary.get("slo_attainment")
                                                              or 0.0) >= target)
                                         for e in result.evaluations])
            lower = (target, ok.ranked()[0]) if ok.ranked() else None
    bigger: list[Evaluation] = []
    hardware = set() if best is None else {best.candidate.prefill_hardware,
                                            best.candidate.decode_hardware}
    reachable = all(1.0 - over[hw][0] >= result.attainment for hw in hardware)
    if evaluate is not None and best is not None and reachable:
        grown = dataclasses.replace(space, max_devices=max(PROBE_SCALES) * space.max_devices)
        run = _Runner(grown, evaluate, PlanResult(objective=result.objective,
                                                  attainment=result.attainment))
        c = best.candidate
        for scale in PROBE_SCALES:
            bigger_one = Candidate(kind=c.kind, prefill_hardware=c.prefill_hardware,
                                   decode_hardware=c.decode_hardware, prefill=c.prefill * scale,
                                   decode=c.decode * scale, prefill_tp=c.prefill_tp,
                                   decode_tp=c.decode_tp,
                                   prefill_max_num_seqs=c.prefill_max_num_seqs,
                                   decode_max_num_seqs=c.decode_max_num_seqs)
            if bigger_one.devices <= space.max_devices:
                continue
            if run(bigger_one):
                break
        bigger = run.result.evaluations
    return Infeasibility(attainment=result.attainment, objective=result.objective,
                         over_context=over, best=best,
                         lower_attainment=lower, bigger=tuple(bigger))


def report_markdown(result: PlanResult, space: PlanSpace,
                    infeasible: Infeasibility | None = None) -> str:
    """The winner, the best of each other topology kind and why it lost, and the prices used."""
    lines = [f"# sim plan: {result.objective} at SLO attainment >= {result.attainment:g}", "",
             (f"Space: {', '.join(space.hardware)}; model {space.model}; at most "
              f"{space.max_devices} devices{_axes(space)}; {len(result.evaluations)} "
              f"configurations simulated (brute force: {sum(1 for _ in candidates(space))})."), ""]
    best = result.best
    if best is None:
        if infeasible is not None:
            return "\n".join(lines + infeasible.lines(space)) + "\n"
        top = max(result.evaluations, key=lambda e: e.summary.get("slo_attainment") or 0.0,
                  default=None)
        lines.append(f"**Nothing within --max-devices {space.max_devices} meets the SLO.**")
        if top is not None:
            lines.append(f"Closest: {top.candidate.label}, attainment "
                         f"{top.summary.get('slo_attainment') or 0.0:.3f}.")
        return "\n".join(lines) + "\n"
    unit = {"cost": "USD/h", "energy": "J per output token", "devices": "devices"}[result.objective]
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
            lines.append(f"- {kind}: nothing within {space.max_devices} devices meets the SLO "
                         f"(best attainment {top.summary.get('slo_attainment') or 0.0:.3f}, "
                         f"{top.candidate.label})")
    prices = (best.summary.get("cost") or {}).get("prices") or {}
    seen: dict[str, Any] = {}
    for e in result.evaluations:
        seen.update((e.summary.get("cost") or {}).get("prices") or {})
    bases = sorted({str((e.summary.get("cost") or {}).get("basis")) for e in result.evaluations
                    if (e.summary.get("cost") or {}).get("basis")})
    lines += ["", f"Prices used ({', '.join(bases) or 'tco'} basis):", ""]
    lines += [f"- {hw}: ${p['usd_per_hour']:.4g}/h ({p['source']})" for hw, p in
              sorted({**seen, **prices}.items()) if p.get("usd_per_hour") is not None]
    return "\n".join(lines) + "\n"


def _axes(space: PlanSpace) -> str:
    """The degrees and max batches searched, where they are not the defaults alone."""
    parts = []
    tps = sorted({tp for hw in space.hardware for tp in degrees(hw, space)})
    if tps != [1]:
        parts.append("tensor-parallel degrees " + ", ".join(map(str, tps)))
    if tuple(space.max_num_seqs) != (None,):
        parts.append("max batch " + ", ".join("default" if mb is None else str(mb)
                                               for mb in space.max_num_seqs))
    return "".join(f"; {p}" for p in parts)


def _usd(e: Evaluation) -> str:
    cost = e.summary.get("cost") or {}
    per_m = cost.get("usd_per_million_output_tokens")
    per_good = cost.get("usd_per_million_goodput_tokens")
    return (f"${cost.get('usd_per_hour', float('nan')):.4g}/h"
            + ("" if per_m is None else f", ${per_m:.4g} per million output tokens")
            + ("" if per_good is None else f", ${per_good:.4g} per million goodput tokens"))
