"""Topology specs: built-ins as data, overrides, YAML files, and one-line errors for bad input."""

from __future__ import annotations

import pytest

from phasesim.errors import InputError
from phasesim.simulator.scheduling import pool_scheduling
from phasesim.simulator.topology import (
    BUILTIN_TOPOLOGIES,
    Batching,
    LinkSharing,
    Role,
    builtin_topology,
    load_topology,
)


@pytest.mark.parametrize("name", list(BUILTIN_TOPOLOGIES))
def test_every_builtin_validates_with_llama2_7b_fp16(name: str) -> None:
    topo = builtin_topology(name)
    assert topo.name == name
    for pool in topo.pools:
        assert (pool.model, pool.dtype) == ("llama2-7b", "fp16")
        # GroqRack pools set theirs; GPU pools take their engine's (vLLM: continuous)
        expected = Batching.NONE if pool.hardware == "groqrack" else None
        assert pool.batching == expected
        assert pool_scheduling(pool).batching == (Batching.NONE if pool.hardware == "groqrack"
                                                  else Batching.CONTINUOUS)
    assert topo.disaggregated == ("prefill" in name)


def test_groq_links_take_the_slower_of_nic_and_pcie() -> None:
    link = builtin_topology("gpu-prefill-groq-decode").links[0]
    assert link.bandwidth_bytes_per_s == 31.5e9  # PCIe Gen4 x16 < 400 Gb/s NDR (50 GB/s)
    assert builtin_topology("gpu-prefill-gpu-decode").links[0].bandwidth_bytes_per_s == 50e9


def test_overrides_reach_the_right_pools_and_links() -> None:
    topo = builtin_topology("gpu-prefill-groq-decode", gpu="a100-sxm-80gb", prefill_instances=3,
                            decode_instances=2, link_bandwidth=1e9, link_latency=2e-6,
                            max_num_seqs=8, seed=4, rate_scale=2.0, link_sharing="source_instance",
                            prefill_profile="p.parquet")
    prefill, decode = topo.pool(Role.PREFILL), topo.pool(Role.DECODE)
    assert (prefill.hardware, prefill.instances, prefill.profile) == ("a100-sxm-80gb", 3, "p.parquet")
    assert (decode.hardware, decode.instances, decode.profile) == ("groqrack", 2, None)
    assert prefill.max_num_seqs == decode.max_num_seqs == 8
    assert topo.links[0].bandwidth_bytes_per_s == 1e9 and topo.links[0].latency_s == 2e-6
    assert topo.links[0].sharing == LinkSharing.SOURCE_INSTANCE
    assert (topo.seed, topo.rate_scale) == (4, 2.0)
    # built-ins are data: overriding one copy leaves the table untouched
    assert BUILTIN_TOPOLOGIES["gpu-prefill-groq-decode"]["pools"][0]["instances"] == 1


def test_bad_overrides_raise_input_errors() -> None:
    with pytest.raises(InputError, match="unknown topology 'tpu'"):
        builtin_topology("tpu")
    with pytest.raises(InputError, match="unknown topology override"):
        builtin_topology("gpu", warp_speed=9)
    with pytest.raises(InputError, match="needs a disaggregated topology"):
        builtin_topology("gpu", link_bandwidth=1e9)
    with pytest.raises(InputError, match="instances"):
        builtin_topology("gpu", instances=0)


def test_max_batch_is_still_accepted_as_max_num_seqs() -> None:
    """``max_batch``, the override's earlier name, is what older scenario files write."""
    assert builtin_topology("gpu", max_batch=8) == builtin_topology("gpu", max_num_seqs=8)
    with pytest.raises(InputError, match="'max_batch' and 'max_num_seqs' name the same setting"):
        builtin_topology("gpu", max_batch=8, max_num_seqs=4)


def test_yaml_topology_round_trip(tmp_path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "pools:\n"
        "  - {name: p, role: prefill, hardware: h100-sxm, instances: 2, batching: chunked}\n"
        "  - {name: d, role: decode, hardware: groqrack, batching: none}\n"
        "links:\n"
        "  - {name: ib, src: p, dst: d, bandwidth_bytes_per_s: 1.0e10, latency_s: 1.0e-5}\n"
        "first_token: decode\n")
    topo = load_topology(path)
    assert topo.name == "mine" and topo.disaggregated
    assert topo.pool(Role.PREFILL).batching == Batching.CHUNKED
    assert load_topology("groq").pools[0].hardware == "groqrack"


@pytest.mark.parametrize("text,message", [
    ("pools: [}", "not valid YAML"),
    ("- 1\n- 2\n", "must hold a mapping"),
    ("pools:\n  - {name: a, role: colocated, hardware: h100-sxm, instances: -1}\n", "instances"),
    ("pools:\n  - {name: a, role: prefill, hardware: h100-sxm}\n", "roles"),
    ("pools:\n  - {name: a, role: prefill, hardware: h100-sxm}\n"
     "  - {name: b, role: decode, hardware: h100-sxm}\n", "exactly one link"),
])
def test_bad_yaml_is_one_line_input_error(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        load_topology(path)
    assert "\n" not in str(info.value) and "bad.yaml" in str(info.value)
