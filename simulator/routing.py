"""Routing policies: pick one instance of a pool for a request.

A router is a plain function over read-only instance loads; ``turn`` counts earlier routing calls
in this pool, ``rng`` is the pool's own seeded stream, ``request`` the request being routed and
``sessions`` the pool's record of each session's last instance (read-only here; the pool updates
it). Ties go to the lowest index. Adding a router = one function + one entry in ``ROUTERS``.

``cache_aware`` (the default wherever a pool has a prefix cache and names no router) weighs the
prefix match against load in one cost, in tokens, as Dynamo's KV router does (cost = overlap
weight x new prefill blocks + active blocks; llm-d's scheduler likewise sums a weighted
prefix-cache scorer and load scorers). For instance ``i``::

    cost_i = CACHE_AWARE_PREFILL_WEIGHT * new_prefill_tokens_i + active_kv_tokens_i

- ``new_prefill_tokens_i``: the request's prompt tokens minus those of its leading prefix blocks
  resident on ``i`` (what ``i`` would compute for it);
- ``active_kv_tokens_i``: the KV tokens ``i``'s requests hold or will hold: blocks in use plus
  the prompts still waiting (``Instance.active_kv_tokens``).

The lowest cost wins; fewer outstanding requests, then the lowest index, break ties. A hit of
``h`` tokens thus outweighs ``CACHE_AWARE_PREFILL_WEIGHT * h`` tokens of extra load, and no
more: a cached prefix pulls requests to an instance only until its load exceeds the others' by
that much, so a popular prefix cannot pile its requests onto one instance (prefix-affinity's
failure mode). Without a prefix cache every match is 0 and the router balances KV load. The
weight is 32, our choice: a token prefilled costs far more time than a token of KV held by a
decoding request, and under load a hit is capacity (prefill work not done at all), so balance
should win only against a clearly larger imbalance. Dynamo's default is 1; with weights of 1-8
the router gave up hits for balance that did not pay once instances queued (Mooncake's trace on
16 H100s at 8x its rate: TTFT p90 worse than prefix-affinity's), with 16-64 it kept
prefix-affinity's hits and beat its p90 there, and on the multi-turn study all weights from 4
to 64 were within a few per cent of each other.

The two affinity routers keep load in check by a threshold instead (SGLang's router falls back
to the shortest queue when the load is imbalanced beyond an absolute and a relative threshold):
an instance is *overloaded* when it has more than ``BALANCE_ABS_REQUESTS`` requests over the
least loaded one and more than ``BALANCE_REL`` times its count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np

from phasesim.simulator.request import Request
from phasesim.simulator.topology import Routing

__all__ = [
    "BALANCE_ABS_REQUESTS",
    "BALANCE_REL",
    "CACHE_AWARE_PREFILL_WEIGHT",
    "ROUTERS",
    "InstanceLoad",
    "cache_aware",
    "cache_aware_costs",
    "least_kv",
    "least_outstanding",
    "power_of_two",
    "prefix_affinity",
    "random_choice",
    "round_robin",
    "session_affinity",
]

BALANCE_ABS_REQUESTS = 8  # our choice (SGLang's router: 32 by default, for bigger batches)
BALANCE_REL = 1.5  # our choice
CACHE_AWARE_PREFILL_WEIGHT = 32.0  # our choice (module docstring); Dynamo's default: 1.0


class InstanceLoad(Protocol):
    @property
    def outstanding(self) -> int: ...  # requests waiting, running, or on their way in

    def kv_used_fraction(self) -> float: ...

    def prefix_match(self, hash_ids: tuple[int, ...]) -> int: ...  # leading blocks cached

    def prefix_match_tokens(self, hash_ids: tuple[int, ...]) -> int: ...  # their prompt tokens

    def active_kv_tokens(self) -> int: ...  # KV tokens held or to be held by its requests


def round_robin(loads: Sequence[InstanceLoad], *, turn: int, rng: np.random.Generator,
                request: Request | None = None, sessions: Mapping[int, int] | None = None) -> int:
    return turn % len(loads)


def random_choice(loads: Sequence[InstanceLoad], *, turn: int, rng: np.random.Generator,
                  request: Request | None = None,
                  sessions: Mapping[int, int] | None = None) -> int:
    return int(rng.integers(len(loads)))


def least_outstanding(loads: Sequence[InstanceLoad], *, turn: int, rng: np.random.Generator,
                      request: Request | None = None,
                      sessions: Mapping[int, int] | None = None) -> int:
    outstanding = [load.outstanding for load in loads]
    return outstanding.index(min(outstanding))  # the first of the least loaded


def least_kv(loads: Sequence[InstanceLoad], *, turn: int, rng: np.random.Generator,
             request: Request | None = None, sessions: Mapping[int, int] | None = None) -> int:
    """Lowest KV-cache use; outstanding requests break ties."""
    return min(range(len(loads)),
               key=lambda i: (loads[i].kv_used_fraction(), loads[i].outstanding, i))


def power_of_two(loads: Sequence[InstanceLoad], *, turn: int, rng: np.random.Generator,
                 request: Request | None = None,
                 sessions: Mapping[int, int] | None = None) -> int:
    """Two distinct random candidates; the one with fewer outstanding requests wins."""
    if len(loads) == 1:
        return 0
    a, b = (int(x) for x in rng.choice(len(loads), size=2, replace=False))
    return min((a, b), key=lambda i: (loads[i].outstanding, i))


def _overloaded(loads: Sequence[InstanceLoad], index: int) -> bool:
    least = min(load.outstanding for load in loads)
    mine = loads[index].outstanding
    return mine - least > BALANCE_ABS_REQUESTS and mine > BALANCE_REL * least


def prefix_affinity(loads: Sequence[InstanceLoad], *, turn: int, rng: np.random.Generator,
                    request: Request | None = None,
                    sessions: Mapping[int, int] | None = None) -> int:
    """The instance where the longest leading part of the request's prefix blocks is cached
    (fewer outstanding requests, then the lowest index, break ties); the least loaded instance
    when nothing is cached anywhere or that instance is overloaded."""
    ids = () if request is None else request.prefix_hash_ids
    if ids:
        best = min(range(len(loads)),
                   key=lambda i: (-loads[i].prefix_match(ids), loads[i].outstanding, i))
        if loads[best].prefix_match(ids) and not _overloaded(loads, best):
            return best
    return least_outstanding(loads, turn=turn, rng=rng)


def session_affinity(loads: Sequence[InstanceLoad], *, turn: int, rng: np.random.Generator,
                     request: Request | None = None,
                     sessions: Mapping[int, int] | None = None) -> int:
    """The instance the request's session last went to, while it is not overloaded; else (and
    for a session's first request) the least loaded instance."""
    if request is not None and sessions is not None:
        index = sessions.get(request.session_id)
        if index is not None and not _overloaded(loads, index):
            return index
    return least_outstanding(loads, turn=turn, rng=rng)


def cache_aware_costs(loads: Sequence[InstanceLoad], request: Request | None, *,
                      weight: float = CACHE_AWARE_PREFILL_WEIGHT) -> list[float]:
    """Each instance's cost for ``request`` (module docstring), in tokens."""
    ids = () if request is None else request.prefix_hash_ids
    prompt = 0 if request is None else request.prompt_tokens
    costs = []
    for load in loads:
        cached = min(load.prefix_match_tokens(ids), prompt - 1) if ids else 0
        costs.append(weight * (prompt - max(cached, 0)) + load.active_kv_tokens())
    return costs


def cache_aware(loads: Sequence[InstanceLoad], *, turn: int, rng: np.random.Generator,
                request: Request | None = None,
                sessions: Mapping[int, int] | None = None) -> int:
    """The lowest prefix-vs-load cost (module docstring); fewer outstanding requests, then the
    lowest index, break ties."""
    costs = cache_aware_costs(loads, request)
    return min(range(len(loads)), key=lambda i: (costs[i], loads[i].outstanding, i))


ROUTERS: dict[Routing, Callable[..., int]] = {
    Routing.ROUND_ROBIN: round_robin,
    Routing.RANDOM: random_choice,
    Routing.LEAST_OUTSTANDING: least_outstanding,
    Routing.LEAST_KV: least_kv,
    Routing.POWER_OF_TWO: power_of_two,
    Routing.PREFIX_AFFINITY: prefix_affinity,
    Routing.SESSION_AFFINITY: session_affinity,
    Routing.CACHE_AWARE: cache_aware,
}
