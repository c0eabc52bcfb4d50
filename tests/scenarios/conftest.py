"""Fixtures for scenario tests: small real scenarios (the shipped Azure code trace, the real
simulator) written into a temporary directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AZURE_SAMPLE = REPO / "traces" / "samples" / "azure_code_2023.parquet"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.fixture
def scenario_file(tmp_path: Path) -> Callable[[str], Path]:
    """Write a scenario YAML (dedented) into tmp_path/scn/ and return its path."""

    def make(text: str, name: str = "scenario.yaml") -> Path:
        return write(tmp_path / "scn" / name, text)

    return make


# A light sweep on a real trace: 120 requests of the Azure code trace, 2 topologies x 2 rates
# (4 points), a few hundred milliseconds each.
SMALL_SWEEP = f"""
name: small
model: llama2-7b
topology:
  name: gpu
  instances: 1
trace:
  path: {AZURE_SAMPLE}
  max_requests: 120
  rate_rps: 1.0
slo:
  ttft_s: 2s
  tpot_s: 200ms
seed: 3
sweep:
  grid:
    topology.name: [gpu, gpu-prefill-gpu-decode]
    trace.rate_rps: [1.0, 4.0]
"""


@pytest.fixture
def small_sweep(scenario_file: Callable[[str], Path]) -> Path:
    return scenario_file(SMALL_SWEEP)
