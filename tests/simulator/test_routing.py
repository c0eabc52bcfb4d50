"""Each router's choice on a hand-built set of instance loads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from phasesim.simulator.request import Request
from phasesim.simulator.routing import (
    CACHE_AWARE_PREFILL_WEIGHT,
    ROUTERS,
    cache_aware,
    cache_aware_costs,
    least_kv,
    least_outstanding,
    power_of_two,
    prefix_affinity,
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


# --- cache_aware: the prefix match weighed against load (issue 21) -------------------------------


@dataclass
class _CacheLoad:
    """An instance as the cache-aware router sees it: tokens of the request's leading prefix
    resident here and the KV tokens its requests hold or will hold."""

    cached_tokens: int
    active_tokens: int
    outstanding: int = 0

    def prefix_match_tokens(self, hash_ids: tuple[int, ...]) -> int:
        return self.cached_tokens

    def active_kv_tokens(self) -> int:
        return self.active_tokens


def _request(prompt_tokens: int, blocks: int) -> Request:
    request = Request(index=0, request_id=0, prompt_tokens=prompt_tokens, output_tokens=8,
                      priority=0, arrival_ns=0)
    request.prefix_hash_ids = tuple(range(blocks))
    return request


def test_cache_aware_cost_is_weighted_new_prefill_plus_active_kv() -> None:
    request = _request(1000, 10)
    loads = [_CacheLoad(800, 5000), _CacheLoad(0, 0)]
    assert cache_aware_costs(loads, request, weight=2.0) == [2.0 * 200 + 5000, 2.0 * 1000]
    # a whole prompt cached still leaves one token to compute, as the prefill does
    assert cache_aware_costs([_CacheLoad(1000, 0)], request, weight=1.0) == [1.0]


def test_cache_aware_follows_the_prefix_until_the_load_outweighs_it() -> None:
    rng = np.random.default_rng(0)
    request = _request(2048, 32)
    saved = CACHE_AWARE_PREFILL_WEIGHT * 2000  # what a 2,000-token hit is worth, in tokens
    cached_then_idle = [_CacheLoad(2000, int(saved) - 1), _CacheLoad(0, 0)]
    assert cache_aware(cached_then_idle, turn=0, rng=rng, request=request) == 0
    cached_but_busy = [_CacheLoad(2000, int(saved) + 1), _CacheLoad(0, 0)]
    assert cache_aware(cached_but_busy, turn=0, rng=rng, request=request) == 1
    # prefix-affinity stays on the cached instance however busy it is in tokens
    assert prefix_affinity([_Affinity(2000 // 64, 3), _Affinity(0, 0)], turn=0, rng=rng,
                           request=request) == 0


@dataclass
class _Affinity:
    blocks: int
    outstanding: int

    def prefix_match(self, hash_ids: tuple[int, ...]) -> int:
        return self.blocks


def test_cache_aware_without_a_cache_balances_kv_then_outstanding_then_index() -> None:
    rng = np.random.default_rng(0)
    request = _request(500, 0)
    assert cache_aware([_CacheLoad(0, 900), _CacheLoad(0, 300), _CacheLoad(0, 600)], turn=0,
                       rng=rng, request=request) == 1
    assert cache_aware([_CacheLoad(0, 300, 2), _CacheLoad(0, 300, 1)], turn=0, rng=rng,
                       request=request) == 1
    assert cache_aware([_CacheLoad(0, 300, 1), _CacheLoad(0, 300, 1)], turn=0, rng=rng,
                       request=request) == 0


def test_a_prefix_cache_without_a_named_router_is_routed_cache_aware() -> None:
    from phasesim.simulator.topology import PoolSpec, builtin_topology

    on = builtin_topology("gpu-prefill-gpu-decode", prefix_cache=True)
    assert [p.routing for p in on.pools] == [Routing.CACHE_AWARE, Routing.LEAST_OUTSTANDING]
    named = builtin_topology("gpu", prefix_cache=True, routing="prefix_affinity")
    assert named.pools[0].routing == Routing.PREFIX_AFFINITY
    assert builtin_topology("gpu", prefix_cache=False).pools[0].routing == \
        Routing.LEAST_OUTSTANDING
    pool = {"name": "p", "role": "colocated", "hardware": "h100-sxm"}
    assert PoolSpec.model_validate({**pool, "prefix_cache": True}).routing == Routing.CACHE_AWARE
    assert PoolSpec.model_validate({**pool, "prefix_cache": True, "routing": "round_robin"}
                                   ).routing == Routing.ROUND_ROBIN
    assert PoolSpec.model_validate(pool).routing == Routing.ROUND_ROBIN
