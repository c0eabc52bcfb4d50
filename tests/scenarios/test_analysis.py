"""The report's numbers: unit-aware axis values, crossovers, disaggregation gain, sustained rates."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from phasesim.scenarios.analysis import (
    crossovers,
    disagg_gain,
    guess_roles,
    numeric_axis,
    reference_slice,
    sustained_rate,
)


def test_numeric_axis_reads_units() -> None:
    values = pd.Series(["10Gbps", "12.5GB/s", "400Gb/s", "5us", "2ms", 3, "gpu"], dtype=object)
    out = numeric_axis(values).tolist()
    assert out[:3] == pytest.approx([10.0, 100.0, 400.0])
    assert out[3:6] == pytest.approx([5e-6, 2e-3, 3.0])
    assert math.isnan(out[6])


def _decode(hw: str, batches: list[int], step_s: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"hardware": hw, "batch_size": batches, "time_s": step_s,
                         "tokens_per_s": np.array(batches) / np.array(step_s),
                         "supported": True})


def test_crossover_interpolates_on_log_batch() -> None:
    # GPU: 10 ms per step at any batch -> 100 tok/s per sequence; LPU: 1 ms at batch 1 -> 1000
    gpu = _decode("gpu", [1, 2, 4, 8, 16], [0.01] * 5)
    lpu = _decode("lpu", [1], [0.001])
    table = crossovers(pd.concat([gpu, lpu]))
    row = table[(table["faster"] == "gpu") & (table["reference"] == "lpu")].iloc[0]
    assert row["reference_tps"] == pytest.approx(1000.0)
    assert row["first_batch"] == 16  # 800 tok/s at 8, 1600 at 16
    # linear in log batch between (8, 800) and (16, 1600): 2**(3 + 200/800)
    assert row["batch_size"] == pytest.approx(2 ** 3.25)
    # the LPU is faster than the GPU's batch-1 rate from the start, so no LPU->GPU row
    assert table[table["faster"] == "lpu"].empty


def test_crossover_never_reached_is_nan() -> None:
    table = crossovers(pd.concat([_decode("gpu", [1, 2], [0.01, 0.01]),
                                  _decode("lpu", [1], [0.0001])]))
    assert math.isnan(table.iloc[0]["batch_size"])


def _results() -> pd.DataFrame:
    rows = []
    for topo, factor in (("gpu", 1.0), ("gpu-prefill-groq-decode", 1.5)):
        for bw in ("10Gbps", "100Gbps"):
            for rate in (1.0, 2.0):
                gain = factor if bw == "100Gbps" else 0.5 * factor
                rows.append({"point_id": f"{topo}-{bw}-{rate}", "topology.name": topo,
                             "topology.link.bandwidth": bw, "trace.rate_rps": rate,
                             "goodput_rps": rate * (1.0 if topo == "gpu" else gain),
                             "tpot_s.p99": 0.02 if topo == "gpu" else 0.01,
                             "pools.gpu.role": "colocated" if topo == "gpu" else None,
                             "pools.prefill.role": None if topo == "gpu" else "prefill",
                             "slo_attainment": 1.0})
    return pd.DataFrame(rows)


def test_roles_and_gain_match_points_on_the_other_axes() -> None:
    frame = _results()
    roles = guess_roles(frame, ["topology.name", "topology.link.bandwidth", "trace.rate_rps"])
    assert roles.group == "topology.name"
    assert roles.baseline == "gpu"
    assert roles.rate == "trace.rate_rps"
    assert roles.heat == ("topology.link.bandwidth", "trace.rate_rps")
    gains = disagg_gain(frame, roles)
    assert len(gains) == 4 and set(gains["topology"]) == {"gpu-prefill-groq-decode"}
    by_bw = gains.groupby("x")["goodput_gain"].mean()
    assert by_bw["100Gbps"] == pytest.approx(1.5)
    assert by_bw["10Gbps"] == pytest.approx(0.75)
    assert gains["tpot_gain"].tolist() == pytest.approx([2.0] * 4)


def test_reference_slice_keeps_middle_of_other_axes() -> None:
    frame = _results()
    roles = guess_roles(frame, ["topology.name", "topology.link.bandwidth", "trace.rate_rps"])
    sliced = reference_slice(frame, roles)
    assert set(sliced["topology.link.bandwidth"]) == {"10Gbps"}  # lower middle of 2 values
    assert len(sliced) == 4


def test_sustained_rate_per_instance() -> None:
    rows = []
    for p, d in ((1, 1), (1, 3)):
        for rate in (1.0, 2.0, 3.0, 4.0):
            capacity = 2.0 if d == 1 else 3.5
            rows.append({"point_id": f"{p}{d}{rate}", "topology.prefill_instances": p,
                         "topology.decode_instances": d, "trace.rate_rps": rate,
                         "pools.prefill.instances": p, "pools.prefill.hardware": "h100-sxm",
                         "pools.decode.instances": d, "pools.decode.hardware": "h100-sxm",
                         "slo_attainment": 0.95 if rate <= capacity else 0.5,
                         "goodput_rps": min(rate, capacity)})
    frame = pd.DataFrame(rows)
    roles = guess_roles(frame, ["topology.prefill_instances", "topology.decode_instances",
                                "trace.rate_rps"])
    assert roles.instances == ("topology.prefill_instances", "topology.decode_instances")
    table = sustained_rate(frame, roles, attainment=0.9).set_index("config")
    assert table.loc["1P:1D", "sustained_rps"] == 2.0
    assert table.loc["1P:3D", "sustained_rps"] == 3.0
    assert table.loc["1P:1D",
                     "sustained_rps_per_instance"] == pytest.approx(1.0)
    assert table.loc["1P:3D",
                     "sustained_rps_per_instance"] == pytest.approx(0.75)


def test_line_labels_are_short() -> None:
    frame = pd.DataFrame({"topology.prefill_instances": [1, 4], "topology.decode_instances": [2, 1],
                          "trace.rate_rps": [2.0, 4.0], "seed": [1, 2]})
    roles = guess_roles(frame, list(frame.columns))
    assert roles.label({"topology.prefill_instances": 4, "topology.decode_instances": 1}) == "4P:1D"
    assert roles.label({"topology.prefill_instances": 4, "topology.decode_instances": 1,
                        "seed": 2}) == "4P:1D, seed=2"
    assert roles.label({"topology.name": "gpu"}) == "gpu"  # one axis: the bare value
    labels = [label for label, _ in roles.line_groups(frame)]
    assert labels == ["1P:2D, seed=1", "4P:1D, seed=2"]


# --- instances from the resolved topology (issue 21) --------------------------------------------

_COST_AXES = ["trace.rate_rps", "topology.name", "topology.instances",
              "topology.prefill_instances", "topology.decode_instances"]
_COST_ZIP = [["topology.name", "topology.instances", "topology.prefill_instances",
              "topology.decode_instances"]]


def _point(name: str, pools: dict[str, tuple[str, int]], rate: float, ok: bool,
           goodput: float, **axes: object) -> dict[str, object]:
    row: dict[str, object] = {"point_id": f"{name}-{rate}-{axes}", "topology.name": name,
                              "trace.rate_rps": rate, "slo_attainment": 0.95 if ok else 0.5,
                              "goodput_rps": goodput, **axes}
    for pool, (hardware, count) in pools.items():
        row[f"pools.{pool}.hardware"] = hardware
        row[f"pools.{pool}.instances"] = count
    return row


def _paper_cost_shape() -> pd.DataFrame:
    """paper-cost's zip: 14 H100 (the prefill/decode axes at 1, ignored), 1 GroqRack,
    1 H100 + 1 GroqRack; each sustains the rates up to its capacity."""
    layouts = (("gpu", 14, {"gpu": ("h100-sxm", 14)}, 7.0),
               ("groq", 1, {"groq": ("groqrack", 1)}, 1.0),
               ("gpu-prefill-groq-decode", 1,
                {"prefill": ("h100-sxm", 1), "decode": ("groqrack", 1)}, 2.0))
    rows = []
    for name, n, pools, capacity in layouts:
        for rate in (1.0, 2.0, 4.0, 8.0):
            rows.append(_point(name, pools, rate, rate <= capacity, min(rate, capacity),
                               **{"topology.instances": n, "topology.prefill_instances": 1,
                                  "topology.decode_instances": 1}))
    return pd.DataFrame(rows)


def test_paper_cost_counts_instances_from_the_topology_not_the_axes() -> None:
    frame = _paper_cost_shape()
    roles = guess_roles(frame, _COST_AXES, zip_groups=_COST_ZIP)
    table = sustained_rate(frame, roles, attainment=0.9).set_index("topology")
    # summing the three instance axes gave 16, 3 and 3
    assert table.loc["14 h100-sxm", "instances"] == 14
    assert table.loc["1 groqrack", "instances"] == 1
    assert table.loc["1 h100-sxm + 1 groqrack", "instances"] == 2
    assert table.loc["14 h100-sxm", "sustained_rps_per_instance"] == pytest.approx(4.0 / 14)
    assert table.loc["1 groqrack", "sustained_rps_per_instance"] == pytest.approx(1.0)
    assert table.loc["1 h100-sxm + 1 groqrack", "sustained_rps_per_instance"] == pytest.approx(1.0)


def test_prefix_cache_shape_counts_four_h100s_as_four() -> None:
    rows = []
    for cache in (False, True):
        for name, n, pools in (("gpu", 4, {"gpu": ("h100-sxm", 4)}),
                               ("gpu-prefill-groq-decode", 4,
                                {"prefill": ("h100-sxm", 4), "decode": ("groqrack", 4)})):
            for rate in (2.0, 8.0):
                rows.append(_point(name, pools, rate, True, rate, **{
                    "topology.prefix_cache": cache, "topology.instances": n,
                    "topology.prefill_instances": n, "topology.decode_instances": 1 if name == "gpu"
                    else 4}))
    frame = pd.DataFrame(rows)
    axes = ["topology.prefix_cache", "trace.rate_rps", *_COST_ZIP[0]]
    roles = guess_roles(frame, axes, zip_groups=_COST_ZIP)
    table = sustained_rate(frame, roles, attainment=0.9)
    counts = dict(zip(table["topology"], table["instances"], strict=True))
    assert counts == {"4 h100-sxm": 4, "4 h100-sxm + 4 groqrack": 8}  # was 9 and 12
    assert set(table["config"]) == {"prefix_cache=False, name=gpu, 4 h100-sxm",
                                    "prefix_cache=True, name=gpu, 4 h100-sxm",
                                    ("prefix_cache=False, name=gpu-prefill-groq-decode, "
                                     "4 h100-sxm + 4 groqrack"),
                                    ("prefix_cache=True, name=gpu-prefill-groq-decode, "
                                     "4 h100-sxm + 4 groqrack")}


def test_ties_go_to_goodput_then_fewer_instances_then_sweep_order() -> None:
    frame = _paper_cost_shape()
    roles = guess_roles(frame, _COST_AXES, zip_groups=_COST_ZIP)
    table = sustained_rate(frame, roles, attainment=0.9)
    # GroqRack (1 req/s on 1) and H100 + GroqRack (2 req/s on 2) tie at 1 req/s per instance;
    # goodput per instance at that rate is equal too (1.0): fewer instances wins, though the
    # GroqRack comes later in neither order that a first-row rule would pick
    assert table["config"].iloc[0] == "name=groq, 1 groqrack"
    assert table["tied"].iloc[0] == 2
    # more goodput per instance at the sustained rate breaks the tie first
    frame.loc[(frame["topology.name"] == "gpu-prefill-groq-decode")
              & (frame["trace.rate_rps"] == 2.0), "goodput_rps"] = 2.1
    table = sustained_rate(frame, roles, attainment=0.9)
    assert table["topology"].iloc[0] == "1 h100-sxm + 1 groqrack"


def test_nothing_sustained_has_no_winner() -> None:
    frame = _paper_cost_shape().assign(slo_attainment=0.1)
    roles = guess_roles(frame, _COST_AXES, zip_groups=_COST_ZIP)
    table = sustained_rate(frame, roles, attainment=0.9)
    assert (table["tied"] == 0).all() and (table["sustained_rps"] == 0).all()


def test_no_pool_columns_no_ratio_table() -> None:
    frame = _paper_cost_shape()
    frame = frame[[c for c in frame.columns if not c.startswith("pools.")]]
    roles = guess_roles(frame, _COST_AXES, zip_groups=_COST_ZIP)
    assert sustained_rate(frame, roles, attainment=0.9).empty  # not a sum of the axes
