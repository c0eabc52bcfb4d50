"""Each router's choice on a hand-built set of instance loads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from phasesim.simulator.routing import (
    ROUTERS,
    least_kv,
    least_outstanding,
    power_of_two,
    random_choice,
    round_robin,
)
from phasesim.simulator.topology import Routing


@dataclass
class _Load:
    outstanding: int
    kv_fraction: float = 0.0

    def kv_used_fraction(self) -> float:
        return self.kv_fraction


def _loads(*pairs: tuple[int, float]) -> list[_Load]:
    return [_Load(o, f) for o, f in pairs]


LOADS = _loads((3, 0.5), (1, 0.9), (1, 0.2), (4, 0.2), (2, 0.1))


def test_every_routing_option_has_a_router() -> None:
    assert set(ROUTERS) == set(Routing)


def test_round_robin_cycles_by_turn() -> None:
    rng = np.random.default_rng(0)
    assert [round_robin(LOADS, turn=t, rng=rng) for t in range(7)] == [0, 1, 2, 3, 4, 0, 1]


def test_least_outstanding_takes_the_first_of_the_least_loaded() -> None:
    rng = np.random.default_rng(0)
    assert least_outstanding(LOADS, turn=0, rng=rng) == 1  # 1 and 2 tie at one: the lower index
    assert least_outstanding(_loads((0, 0.0), (0, 0.0)), turn=5, rng=rng) == 0


def test_least_kv_breaks_ties_by_outstanding_then_index() -> None:
    rng = np.random.default_rng(0)
    assert least_kv(LOADS, turn=0, rng=rng) == 4  # 0.1
    assert least_kv(LOADS[:4], turn=0, rng=rng) == 2  # 0.2 twice: fewer outstanding (1 < 4)
    assert least_kv(_loads((2, 0.3), (2, 0.3)), turn=0, rng=rng) == 0  # then the lower index


def test_random_choice_draws_from_the_pools_stream() -> None:
    picks = [random_choice(LOADS, turn=t, rng=np.random.default_rng(7)) for t in range(3)]
    assert picks == [int(np.random.default_rng(7).integers(5))] * 3  # the stream, not the turn
    rng = np.random.default_rng(11)
    seen = {random_choice(LOADS, turn=0, rng=rng) for _ in range(200)}
    assert seen == set(range(5))


@pytest.mark.parametrize("seed", range(6))
def test_power_of_two_picks_the_less_loaded_of_two_distinct_candidates(seed: int) -> None:
    a, b = np.random.default_rng(seed).choice(5, size=2, replace=False)
    outstanding = [load.outstanding for load in LOADS]
    expected = min((int(a), int(b)), key=lambda i: (outstanding[i], i))
    assert power_of_two(LOADS, turn=0, rng=np.random.default_rng(seed)) == expected


def test_power_of_two_with_one_instance_draws_nothing() -> None:
    rng = np.random.default_rng(3)
    assert power_of_two(LOADS[:1], turn=0, rng=rng) == 0
    assert rng.integers(1 << 30) == np.random.default_rng(3).integers(1 << 30)
