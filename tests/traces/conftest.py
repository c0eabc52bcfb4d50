"""Fixtures for the trace tests: the CLI runner, the optional shared data folder, a CSV writer."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from phasesim.cli import app

REPO = Path(__file__).resolve().parents[2]
SHARED_TRACES = REPO / ".." / "shared" / "data" / "traces"
SAMPLES = REPO / "traces" / "samples"


@pytest.fixture
def shared_traces() -> Path:
    if not SHARED_TRACES.is_dir():
        pytest.skip("../shared/data/traces is absent")
    return SHARED_TRACES


@pytest.fixture
def cli():
    """``cli(*args)``: run ``sim traces ARGS...`` in-process, through the root ``sim`` app."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["traces", *map(str, args)])

    return invoke


@pytest.fixture
def write_text(tmp_path: Path):
    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
