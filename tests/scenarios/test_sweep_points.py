"""Scenario files: YAML marks, validation errors with lines, sweep expansion, point ids."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from phasesim.errors import InputError
from phasesim.scenarios.model import ScenarioSpec, SweepAxes
from phasesim.scenarios.point import check_point
from phasesim.scenarios.sweep_points import expand_axes, load_sweep_points, point_id, set_dotted
from phasesim.scenarios.yaml_marks import parse_yaml_text
from tests.scenarios.conftest import AZURE_SAMPLE

MakeFile = Callable[[str], Path]


def test_marks_record_the_line_of_every_key_and_item() -> None:
    source = parse_yaml_text("a: 1\nb:\n  c: [x,\n      y]\n  d:\n    - 5\n")
    assert source.marks[("a",)] == (1, 1)
    assert source.marks[("b", "c")] == (3, 3)
    assert source.marks[("b", "c", 1)][0] == 4
    assert source.marks[("b", "d", 0)][0] == 6
    assert source.data == {"a": 1, "b": {"c": ["x", "y"], "d": [5]}}


def test_duplicate_keys_and_bad_yaml_are_input_errors() -> None:
    with pytest.raises(InputError, match="duplicate key 'a'") as info:
        parse_yaml_text("a: 1\nb: 2\na: 3\n")
    assert info.value.line == 3
    with pytest.raises(InputError, match="invalid YAML") as info:
        parse_yaml_text("a: [1, 2\nb: 3\n")
    assert info.value.line is not None


def test_expand_grid_is_ordered_last_axis_fastest_and_zip_advances_together() -> None:
    axes = SweepAxes.model_validate({
        "grid": {"a": [1, 2], "b": ["x", "y", "z"]},
        "zip": {"p": [10, 20], "q": [0.1, 0.2]},
    })
    points = expand_axes(axes)
    assert len(points) == 2 * 3 * 2
    assert points[0] == {"a": 1, "b": "x", "p": 10, "q": 0.1}
    assert points[1] == {"a": 1, "b": "x", "p": 20, "q": 0.2}
    assert points[2] == {"a": 1, "b": "y", "p": 10, "q": 0.1}
    assert points[-1] == {"a": 2, "b": "z", "p": 20, "q": 0.2}
    assert all((pt["p"], pt["q"]) in ((10, 0.1), (20, 0.2)) for pt in points)


def test_point_id_is_stable_and_order_free() -> None:
    assert point_id({"a": 1, "b": "x"}) == point_id({"b": "x", "a": 1})
    assert point_id({"a": 1}) != point_id({"a": 2})
    assert len(point_id({})) == 12


def test_set_dotted_creates_mappings_and_indexes_lists() -> None:
    data = {"topology": {"pools": [{"instances": 1}]}}
    set_dotted(data, "topology.pools.0.instances", 3)
    set_dotted(data, "topology.link.bandwidth", "10Gbps")
    assert data == {"topology": {"pools": [{"instances": 3}], "link": {"bandwidth": "10Gbps"}}}


def test_plan_applies_sweep_values_and_normalises_units(scenario_file: MakeFile) -> None:
    path = scenario_file(f"""
        name: t
        topology:
          name: gpu-prefill-groq-decode
          link: {{bandwidth: 100Gbps, latency: 10us}}
        trace: {{path: {AZURE_SAMPLE}, max_requests: 10}}
        slo: {{ttft_s: 500ms}}
        sweep:
          grid:
            topology.link.bandwidth: [10Gbps, 400Gbps]
            seed: [1, 2]
    """)
    sweep = load_sweep_points(path, checks=(check_point,))
    assert sweep.axes == ("topology.link.bandwidth", "seed")
    assert [dict(p.values) for p in sweep.points][:2] == [
        {"topology.link.bandwidth": "10Gbps", "seed": 1},
        {"topology.link.bandwidth": "10Gbps", "seed": 2}]
    first = sweep.points[0].spec
    assert first.topology.link.bandwidth == pytest.approx(10e9 / 8)
    assert first.topology.link.latency == pytest.approx(10e-6)
    assert first.slo.ttft_s == pytest.approx(0.5)
    assert first.seed == 1
    assert sweep.points[3].spec.topology.link.bandwidth == pytest.approx(400e9 / 8)
    assert len({p.point_id for p in sweep.points}) == 4


def test_trace_path_is_relative_to_the_scenario_file(scenario_file: MakeFile, tmp_path: Path) -> None:
    (tmp_path / "scn" / "data").mkdir(parents=True)
    (tmp_path / "scn" / "data" / "t.parquet").write_bytes(AZURE_SAMPLE.read_bytes())
    path = scenario_file("""
        name: t
        topology: gpu
        trace: {path: data/t.parquet}
    """)
    sweep = load_sweep_points(path, checks=(check_point,))
    trace = tmp_path / "scn" / "data" / "t.parquet"
    assert sweep.points[0].spec.trace.path == str(trace.resolve())


@pytest.mark.parametrize("body, line, key, message", [
    # unknown top-level key
    ("name: t\ntopology: gpu\ntrace: {path: T}\nslos: {ttft_s: 1}\n", 4, "slos", "unknown key"),
    # unknown nested key (a typo beside a required one)
    ("name: t\ntopology: gpu\ntrace:\n  path: T\n  max_request: 5\n", 5, "trace.max_request",
     "unknown key"),
    # invalid value
    ("name: t\ntopology: gpu\ntrace: {path: T}\nslo:\n  ttft_s: fast\n", 5, "slo.ttft_s",
     "cannot read duration"),
    # invalid value inside a sweep: the line of the value
    ("name: t\ntopology: gpu\ntrace: {path: T}\nsweep:\n  grid:\n    seed: [1,\n      -2]\n",
     7, "seed", "greater than or equal to 0"),
    # a bandwidth the unit parser rejects, swept
    ("name: t\ntopology: {name: gpu-prefill-gpu-decode}\ntrace: {path: T}\nsweep:\n  grid:\n"
     "    topology.link.bandwidth: [10Gbps, 10 parsecs]\n", 6, "topology.link.bandwidth",
     "cannot read bandwidth"),
    # missing trace file
    ("name: t\ntopology: gpu\ntrace:\n  path: missing.parquet\n", 4, "trace.path",
     "trace file not found"),
    # impossible topology: unknown built-in
    ("name: t\ntopology:\n  name: gpu-prefill-tpu-decode\ntrace: {path: T}\n", 3, "topology.name",
     "unknown topology"),
    # impossible topology: an override the built-in does not have
    ("name: t\ntopology:\n  name: gpu\n  warp_drive: 9\ntrace: {path: T}\n", 4,
     "topology.warp_drive", "unknown topology override"),
    # impossible inline topology: two colocated pools
    ("name: t\ntopology:\n  pools:\n    - {name: a, role: colocated, hardware: h100-sxm}\n"
     "    - {name: b, role: colocated, hardware: h100-sxm}\ntrace: {path: T}\n", 2,
     "topology", "roles"),
    # zipped axes of different lengths
    ("name: t\ntopology: gpu\ntrace: {path: T}\nsweep:\n  zip:\n    seed: [1, 2]\n"
     "    trace.rate_rps: [1]\n", 5, "sweep.zip", "same length"),
])
def test_bad_scenarios_name_key_and_line(scenario_file: MakeFile, body: str, line: int, key: str,
                                         message: str) -> None:
    path = scenario_file(body.replace("path: T", f"path: {AZURE_SAMPLE}"))
    with pytest.raises(InputError) as info:
        load_sweep_points(path, checks=(check_point,))
    error = info.value
    assert error.path == str(path)
    assert error.line == line, str(error)
    assert error.column is not None and error.column.startswith(key), str(error)
    assert message in error.message, str(error)
    assert "\n" not in str(error)


def test_unknown_key_wins_over_the_missing_key_it_misspells(scenario_file: MakeFile) -> None:
    path = scenario_file("name: t\nkind: phases\nphases:\n  hardware: h100-sxm\n"
                         "  prompt_tokens: [128]\n  batch_size: [1]\n")
    with pytest.raises(InputError, match="unknown key 'batch_size'") as info:
        load_sweep_points(path)
    assert info.value.line == 6


def test_full_grid_is_selected_by_flag(scenario_file: MakeFile) -> None:
    path = scenario_file(f"""
        name: t
        topology: gpu
        trace: {{path: {AZURE_SAMPLE}}}
        sweep:
          grid: {{seed: [1, 2]}}
          full:
            grid: {{seed: [1, 2, 3, 4, 5]}}
    """)
    assert len(load_sweep_points(path).points) == 2
    assert len(load_sweep_points(path, full=True).points) == 5
    assert len(load_sweep_points(path, base_only=True).points) == 1


def test_models_forbid_extra_keys_everywhere() -> None:
    with pytest.raises(Exception, match="extra"):
        ScenarioSpec.model_validate({"name": "x", "topology": "gpu",
                                     "trace": {"path": "a", "nope": 1}})
