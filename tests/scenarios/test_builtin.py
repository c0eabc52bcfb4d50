"""The shipped scenarios validate, and the phases report's crossover matches the cost tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phasesim.scenarios import Backend, ExecutorSpec, load_sweep_points, open_executor, run_sweep
from phasesim.scenarios.point import check_point
from phasesim.scenarios.report import write_report
from phasesim.simulator.costs import decode_throughput_crossover
from phasesim.simulator.costs.resolve import resolve_table
from tests.scenarios.conftest import REPO, write

BUILTIN = ["paper-phases", "paper-disagg", "pd-ratio"]


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("full", [False, True])
def test_builtin_scenarios_validate(name: str, full: bool) -> None:
    sweep = load_sweep_points(REPO / "scenarios" / f"{name}.yaml", full=full, checks=(check_point,))
    assert sweep.base.name == name
    assert len(sweep.points) >= 3
    assert len({p.point_id for p in sweep.points}) == len(sweep.points)


def test_default_disagg_grid_stays_small() -> None:
    default = load_sweep_points(REPO / "scenarios" / "paper-disagg.yaml")
    full = load_sweep_points(REPO / "scenarios" / "paper-disagg.yaml", full=True)
    assert len(default.points) <= 120 < len(full.points)
    names = {p.values["topology.name"] for p in default.points}
    assert names == {"gpu", "gpu-prefill-gpu-decode", "gpu-prefill-groq-decode"}


def test_phases_report_gives_the_cost_tables_crossover(tmp_path: Path) -> None:
    scenario = write(tmp_path / "phases.yaml", """
        name: phases
        kind: phases
        phases:
          hardware: h100-sxm
          prompt_tokens: [128, 1024]
          batch_sizes: [1, 4, 16, 64]
          context_tokens: 1024
        sweep:
          grid: {phases.hardware: [h100-sxm, groqrack]}
    """)
    sweep = load_sweep_points(scenario, checks=(check_point,))
    with open_executor(ExecutorSpec(backend=Backend.SERIAL)) as executor:
        report = run_sweep(sweep, tmp_path / "sweep", executor=executor)
    assert report.failed == 0
    write_report(tmp_path / "sweep", tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    # the default engines' tables (vllm on the H100, groq on GroqRack), as sim replay reads them
    gpu = resolve_table(hardware="h100-sxm", model="llama2-7b").cost_model
    groq = resolve_table(hardware="groqrack", model="llama2-7b").cost_model
    expected = decode_throughput_crossover(gpu, groq, 1024)
    assert expected > 1
    row = next(line for line in text.splitlines() if line.startswith("| h100-sxm | groqrack |"))
    assert row.split("|")[4].strip() == str(expected)
    # the TTFT table holds the cost table's prefill time of a lone 1024-token prompt
    ttft_ms = 1e3 * gpu.prefill_time_s(np.array([1024]), np.array([0]))
    ttft_row = next(line for line in text.splitlines() if line.startswith("| 1024 |"))
    assert float(ttft_row.split("|")[2]) == pytest.approx(ttft_ms, rel=1e-2)
    assert (tmp_path / "report" / "phases.png").stat().st_size > 10_000


def test_phases_read_the_engines_table(tmp_path: Path) -> None:
    """`kind: phases` reads the hardware's default engine's table, or the one named."""
    from phasesim.scenarios.model import ScenarioSpec
    from phasesim.scenarios.phases import phases_curves

    base = {"name": "p", "kind": "phases", "phases": {
        "hardware": "h100-sxm", "prompt_tokens": [512], "batch_sizes": [1]}}
    for engine, table in ((None, "h100-sxm__llama2-7b__fp16__vllm__analytical"),
                          ("torch", "h100-sxm__llama2-7b__fp16__torch__measured")):
        spec = ScenarioSpec.model_validate(base | {"phases": base["phases"] | (
            {} if engine is None else {"engine": engine})})
        _, summary = phases_curves(spec)
        assert summary["cost_table"] == table
