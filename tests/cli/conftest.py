"""Fixtures for the CLI tests: ``sim`` and ``profiler`` run in-process through their root apps
(so every run goes through the same usage-error handling as the console scripts), and the trace
and scenario fixtures these commands read, shared with ``tests/traces`` and ``tests/scenarios``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from phasesim.cli import app as sim_app
from phasesim.cli.profiler_cmd import app as profiler_app
from tests.scenarios.conftest import scenario_file, small_sweep  # noqa: F401 - shared fixtures
from tests.traces.conftest import write_text  # noqa: F401 - shared fixture

Invoke = Callable[..., Result]


def _invoker(app) -> Invoke:
    runner = CliRunner()

    def invoke(*args: object) -> Result:
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture
def sim() -> Invoke:
    """``sim(*args)``: run ``sim ARGS...`` in-process; paths and numbers are str()-ed."""
    return _invoker(sim_app)


@pytest.fixture
def profiler() -> Invoke:
    """``profiler(*args)``: run ``profiler ARGS...`` in-process."""
    return _invoker(profiler_app)
