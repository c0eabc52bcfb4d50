"""A scenario's built-in topology with overrides (scenarios.simulate.resolve_topology): the keys
users write, including earlier spellings, and errors located at the key."""

from __future__ import annotations

import pytest

from phasesim.errors import InputError
from phasesim.scenarios.model import ScenarioSpec
from phasesim.scenarios.simulate import resolve_topology


@pytest.mark.parametrize("key", ["max_num_seqs", "max_batch"])  # max_batch: the earlier name
def test_a_scenario_sets_max_num_seqs_under_either_name(key: str) -> None:
    spec = ScenarioSpec.model_validate({
        "name": "x", "topology": {"name": "gpu-prefill-gpu-decode", key: 8},
        "trace": {"path": "t.parquet"}})
    assert {p.max_num_seqs for p in resolve_topology(spec).pools} == {8}


def test_a_scenario_giving_both_names_is_told_where() -> None:
    spec = ScenarioSpec.model_validate({
        "name": "x", "topology": {"name": "gpu", "max_batch": 8, "max_num_seqs": 4},
        "trace": {"path": "t.parquet"}})
    with pytest.raises(InputError, match="column 'topology.max_batch'"):
        resolve_topology(spec)
