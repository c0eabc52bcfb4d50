"""Topology YAML: every field is documented in docs/scenarios.md and unit strings are read with the
scenario files' grammar (issue 21, point 6)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from phasesim.errors import InputError
from phasesim.simulator.topology import LinkSpec, PoolSpec, TopologySpec, load_topology
from phasesim.units import bandwidth_bytes_per_s, duration_s

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def _section() -> str:
    text = DOC.read_text()
    start = text.index("## Topology files")
    return text[start:text.index("\n## ", start + 1)]


@pytest.mark.parametrize("model", [TopologySpec, PoolSpec, LinkSpec])
def test_every_field_is_documented(model):
    documented = set(re.findall(r"^\| `([a-z_]+)`(?:, `([a-z_]+)`)?", _section(), re.MULTILINE))
    names = {name for pair in documented for name in pair if name}
    assert set(model.model_fields) <= names, set(model.model_fields) - names


def test_the_documented_example_loads_with_its_units(tmp_path):
    block = re.search(r"topology-example:begin -->\n```yaml\n(.*?)```", _section(), re.DOTALL)[1]
    path = tmp_path / "split.yaml"
    path.write_text(block)
    spec = load_topology(path)
    link = spec.links[0]
    assert link.bandwidth_bytes_per_s == bandwidth_bytes_per_s("200Gbps") == 25e9
    assert link.latency_s == duration_s("5us")
    assert spec.pools[0].instances == 2


def test_units_and_plain_numbers_agree(tmp_path):
    def link(bandwidth: object, latency: object) -> LinkSpec:
        path = tmp_path / "t.yaml"
        path.write_text("pools:\n  - {name: p, role: prefill, hardware: h100-sxm}\n"
                        "  - {name: d, role: decode, hardware: h100-sxm}\n"
                        f"links:\n  - {{name: kv, src: p, dst: d, bandwidth_bytes_per_s: {bandwidth},"
                        f" latency_s: {latency}}}\n")
        return load_topology(path).links[0]

    assert link("12.5GB/s", "2ms").bandwidth_bytes_per_s == link(12.5e9, 0.002).bandwidth_bytes_per_s
    assert link("12.5GB/s", "2ms").latency_s == link(12.5e9, 0.002).latency_s
    with pytest.raises(InputError, match=r"line 5, column 'links.0.bandwidth_bytes_per_s'.*200Gbpz"):
        link("200Gbpz", "5us")
    with pytest.raises(InputError, match=r"column 'links.0.latency_s'.*5 parsecs"):
        link("25GB/s", "5 parsecs")
