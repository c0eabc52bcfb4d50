"""Routing policies: pick one instance of a pool for a request.

A router is a plain function over read-only instance loads; ``turn`` counts earlier routing calls
in this pool, ``rng`` is the pool's own seeded stream, ``request`` the request being routed and
``sessions`` the pool's record of each session's last instance (read-only here; the pool updates
it). Ties go to the lowest index. Adding a router = one function + one entry in ``ROUTERS``.

The two cache-aware routers keep load in check as production routers do (SGLang's router falls
back to the shortest queue when the load is imbalanced beyond an absolute and a relative
threshold): an instance is *overloaded* when it has more than ``BALANCE_ABS_REQUESTS`` requests
over the least loaded one and more than ``BALANCE_REL`` times its count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np

from phasesim.simulator.request import Request
from phasesim.simulator.topology import Routing

__all__ = ["InstanceLoad", "ROUTERS", "round_robin", "random_choice", "least_outstanding",
           "least_kv", "power_of_two", "prefix_affinity", "session_affinity",
           "BALANCE_ABS_REQUESTS", "BALANCE_REL"]

BALANCE_ABS_REQUESTS = 8  # our choice (SGLang's router: 32 by default, for bigger batches)
BALANCE_REL = 1.5  # our choice


class InstanceLoad(Protocol):
    @property
    def outstanding(self) -> int: ...  # requests waiting, running, or on their way in

    def kv_used_fraction(self) -> float: ...

    def prefix_match(self, hash_ids: tuple[int, ...]) -> int: ...  # leading blocks cached


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


ROUTERS: dict[Routing, Callable[..., int]] = {
    Routing.ROUND_ROBIN: round_robin,
    Routing.RANDOM: random_choice,
    Routing.LEAST_OUTSTANDING: least_outstanding,
    Routing.LEAST_KV: least_kv,
    Routing.POWER_OF_TWO: power_of_two,
    Routing.PREFIX_AFFINITY: prefix_affinity,
    Routing.SESSION_AFFINITY: session_affinity,
}
