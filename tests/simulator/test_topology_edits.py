"""Edits of a chosen topology (simulator.topology_edits): overrides checked against the layout,
cost tables per pool, prefix cache and routers, an engine for pools that name none. Errors name
the setting as the caller's ``label`` spells it (the keyword itself by default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasesim.errors import InputError
from phasesim.simulator.topology import Role, Routing, builtin_topology
from phasesim.simulator.topology_edits import (
    ROUTER_NAMES,
    profile_target,
    topology_with_overrides,
    with_engine,
    with_prefix_cache_and_routers,
)


@pytest.fixture()
def table(tmp_path: Path) -> str:
    path = tmp_path / "t.parquet"
    path.write_bytes(b"")  # only its existence is checked here; the engine reads it later
    return str(path)


@pytest.fixture()
def yaml_topology(tmp_path: Path) -> str:
    path = tmp_path / "one.yaml"
    path.write_text("pools:\n  - {name: gpu, role: colocated, hardware: h100-sxm}\n")
    return str(path)


def test_a_builtin_takes_its_overrides_and_ignores_none() -> None:
    spec = topology_with_overrides("gpu-prefill-gpu-decode",
                                   {"prefill_instances": 2, "decode_instances": None,
                                    "link_latency": 1e-3})
    assert spec == builtin_topology("gpu-prefill-gpu-decode", prefill_instances=2,
                                    link_latency=1e-3)


@pytest.mark.parametrize(("name", "overrides", "message"), [
    ("gpu-prefill-gpu-decode", {"instances": 2},
     "instances: gpu-prefill-gpu-decode is disaggregated; use prefill_instances / "
     "decode_instances"),
    ("gpu", {"link_bandwidth": 1e9},
     "link_bandwidth: gpu is colocated; it applies to disaggregated topologies only"),
    ("gpu", {"first_token": "decode"}, "first_token: gpu is colocated"),
    ("groq", {"gpu": "a100-sxm-80gb"}, "gpu: groq has no GPU pool"),
    ("groq", {"tensor_parallel": 2}, "tensor_parallel: groq has no GPU pool; tensor parallelism"),
])
def test_overrides_the_layout_would_ignore_are_refused(name: str, overrides: dict,
                                                        message: str) -> None:
    with pytest.raises(InputError) as info:
        topology_with_overrides(name, overrides)
    assert str(info.value).startswith(message)


def test_errors_name_the_setting_as_the_label_spells_it() -> None:
    with pytest.raises(InputError, match="^--decode-instances: gpu is colocated"):
        topology_with_overrides("gpu", {"decode_instances": 2},
                                label=lambda key: "--" + key.replace("_", "-"))


def test_profiles_reach_the_pools_they_name(table: str) -> None:
    spec = topology_with_overrides("gpu-prefill-groq-decode", {}, profiles=[f"prefill={table}"])
    assert (spec.pool(Role.PREFILL).profile, spec.pool(Role.DECODE).profile) == (table, None)
    every = topology_with_overrides("gpu", {}, profiles=[table])
    assert every.pools[0].profile == table


@pytest.mark.parametrize(("profiles", "message"), [
    (["middle={table}"], "profiles: no pool 'middle' in gpu-prefill-groq-decode (pools: "
                         "prefill, decode)"),
    (["{table}", "decode={table}"], "profiles: pool 'decode' given twice"),
    (["none.parquet"], "none.parquet: profiles: no such file"),
])
def test_bad_profiles(table: str, profiles: list[str], message: str) -> None:
    with pytest.raises(InputError) as info:
        topology_with_overrides("gpu-prefill-groq-decode", {},
                                profiles=[p.format(table=table) for p in profiles])
    assert str(info.value) == message


def test_profile_target_splits_pool_and_path() -> None:
    assert profile_target("prefill=t.parquet") == ("prefill", "t.parquet")
    assert profile_target("t.parquet") == (None, "t.parquet")
    assert profile_target("dir/a=b.parquet") == (None, "dir/a=b.parquet")  # '=' in a path
    assert profile_target("=t.parquet") == (None, "=t.parquet")


def test_a_yaml_topology_takes_run_wide_overrides_only(yaml_topology: str, table: str) -> None:
    spec = topology_with_overrides(yaml_topology, {"rate_scale": 2.0, "instances": None})
    assert (spec.name, spec.rate_scale) == ("one", 2.0)
    with pytest.raises(InputError, match="^instances: only built-in topologies take pool "
                                         "overrides; set it in .*one.yaml$"):
        topology_with_overrides(yaml_topology, {"instances": 2})
    with pytest.raises(InputError, match="^profiles: only built-in"):
        topology_with_overrides(yaml_topology, {}, profiles=[table])


def test_prefix_cache_turns_on_where_prefills_run_and_routes_cache_aware() -> None:
    spec = with_prefix_cache_and_routers(builtin_topology("gpu-prefill-gpu-decode"),
                                         prefix_cache=True)
    prefill, decode = spec.pool(Role.PREFILL), spec.pool(Role.DECODE)
    assert (prefill.prefix_cache, prefill.routing) == (True, Routing.CACHE_AWARE)
    assert (decode.prefix_cache, decode.routing) == (False, Routing.LEAST_OUTSTANDING)
    named = with_prefix_cache_and_routers(builtin_topology("gpu"), prefix_cache=True,
                                          routers=["round-robin"])
    assert named.pools[0].routing == Routing.ROUND_ROBIN  # a named router wins


def test_routers_by_pool_name_or_role() -> None:
    spec = with_prefix_cache_and_routers(builtin_topology("gpu-prefill-gpu-decode"),
                                         prefix_cache=None,
                                         routers=["prefill=least_kv", "decode=power-of-two"])
    assert spec.pool(Role.PREFILL).routing == Routing.LEAST_KV
    assert spec.pool(Role.DECODE).routing == Routing.POWER_OF_TWO


@pytest.mark.parametrize(("name", "kwargs", "message"), [
    ("gpu", {"routers": ["decode=least-kv"]}, "routers: no pool 'decode' in gpu (pools: gpu)"),
    ("gpu", {"routers": ["fastest"]},
     "routers: unknown router 'fastest' (one of: " + ", ".join(ROUTER_NAMES) + ")"),
    ("gpu", {"routers": ["random", "gpu=random"]}, "routers: pool 'gpu' given twice"),
    ("groq", {"prefix_cache": True}, "prefix_cache: pool 'groq': groqrack has no prefix cache"),
])
def test_bad_cache_and_router_settings(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError) as info:
        with_prefix_cache_and_routers(builtin_topology(name),
                                      **{"prefix_cache": None, **kwargs})
    assert str(info.value).startswith(message)


def test_nothing_asked_leaves_the_topology_as_it_is() -> None:
    spec = builtin_topology("gpu")
    assert with_prefix_cache_and_routers(spec, prefix_cache=None) is spec
    assert with_engine(spec, None) is spec


def test_an_engine_reaches_the_gpu_pools_that_name_none() -> None:
    spec = with_engine(builtin_topology("gpu-prefill-groq-decode"), "trt-llm")
    assert (spec.pool(Role.PREFILL).engine, spec.pool(Role.DECODE).engine) == ("trt-llm", None)
    own = builtin_topology("gpu", engine="vllm")
    assert with_engine(own, "trt-llm").pools[0].engine == "vllm"
