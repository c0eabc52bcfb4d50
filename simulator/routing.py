"""Routing policies: pick one instance of a pool for a request.

A router is a plain function over read-only instance loads; ``turn`` counts earlier routing calls
in this pool and ``rng`` is the pool's own seeded stream. Ties go to the lowest index. Adding a
router = one function + one entry in ``ROUTERS``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from phasesim.simulator.topology import Routing

__all__ = ["InstanceLoad", "ROUTERS", "round_robin", "random_choice", "least_outstanding",
           "least_kv", "power_of_two"]


class InstanceLoad(Protocol):
    @property
    def outstanding(self) -> int: ...  # requests waiting, running, or on their way in

    def kv_used_fraction(self) -> float: ...


def round_robin(loads: Sequence[InstanceLoad], *, turn: int, rng: np.random.Generator) -> int:
    return turn % len(loads)


def random_choice(loads: Sequence[InstanceLoad], *, turn: int, rng: np.random.Generator) -> int:
    return int(rng.integers(len(loads)))


def least_outstanding(loads: Sequence[InstanceLoad], *, turn: int,
                      rng: np.random.Generator) -> int:
    outstanding = [load.outstanding for load in loads]
    return outstanding.index(min(outstanding))  # the first of the least loaded


def least_kv(loads: Sequence[InstanceLoad], *, turn: int, rng: np.random.Generator) -> int:
    """Lowest KV-cache use; outstanding requests break ties."""
    return min(range(len(loads)),
               key=lambda i: (loads[i].kv_used_fraction(), loads[i].outstanding, i))


def power_of_two(loads: Sequence[InstanceLoad], *, turn: int, rng: np.random.Generator) -> int:
    """Two distinct random candidates; the one with fewer outstanding requests wins."""
    if len(loads) == 1:
        return 0
    a, b = (int(x) for x in rng.choice(len(loads), size=2, replace=False))
    return min((a, b), key=lambda i: (loads[i].outstanding, i))


ROUTERS: dict[Routing, Callable[..., int]] = {
    Routing.ROUND_ROBIN: round_robin,
    Routing.RANDOM: random_choice,
    Routing.LEAST_OUTSTANDING: least_outstanding,
    Routing.LEAST_KV: least_kv,
    Routing.POWER_OF_TWO: power_of_two,
}
