"""`sim report`'s instance-ratio section on a real sweep of paper-cost's shape: instances come
from each point's resolved topology, and the "Best:" line says how a tie resolved (issue 21)."""

from __future__ import annotations

from pathlib import Path

from phasesim.scenarios import Backend, ExecutorSpec, load_plan, open_executor, run_sweep
from phasesim.scenarios.point import check_point
from phasesim.scenarios.report import write_report
from tests.scenarios.conftest import write

# paper-cost's zip in small: the colocated layout carries prefill/decode counts it ignores
SCENARIO = """
    name: ratio
    model: llama2-7b
    topology: {name: gpu, instances: 3}
    trace:
      generate:
        arrival: {process: poisson, rate_rps: 1}
        prompt: {dist: lognormal, median_tokens: 256, sigma: 0.3, max_tokens: 1024}
        output: {dist: lognormal, median_tokens: 16, sigma: 0.3, max_tokens: 64}
        count: 40
    slo: {ttft_s: 1s, tpot_s: 50ms, attainment: 0.9}
    seed: 1
    outputs: {requests: false, timeseries: false}
    report: {rate_axis: trace.rate_rps, group_axis: topology.name}
    sweep:
      grid:
        trace.rate_rps: [0.5, 1]
      zip:
        - topology.name: [gpu, groq, gpu-prefill-groq-decode]
          topology.instances: [3, 1, 1]
          topology.prefill_instances: [1, 1, 1]
          topology.decode_instances: [2, 2, 1]
"""


def test_report_counts_each_topologys_own_instances(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path / "ratio.yaml", SCENARIO), checks=(check_point,))
    with open_executor(ExecutorSpec(backend=Backend.SERIAL)) as executor:
        assert run_sweep(plan, tmp_path / "sweep", executor=executor).failed == 0
    write_report(tmp_path / "sweep", tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    section = text[text.index("## Instance ratio"):]
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip()
            for line in section.splitlines() if line.startswith("| name=")}
    # the axes summed to 6, 4 and 3 instances
    assert rows == {"name=gpu, 3 h100-sxm": "3 h100-sxm", "name=groq, 1 groqrack": "1 groqrack",
                    "name=gpu-prefill-groq-decode, 1 h100-sxm + 1 groqrack":
                        "1 h100-sxm + 1 groqrack"}
    best = next(line for line in section.splitlines() if line.startswith("**Best:"))
    # everything sustains 1 req/s here: 1 GroqRack is 1 req/s per instance, the others less
    assert best.startswith("**Best: name=groq, 1 groqrack** — 1.000 req/s per instance.")
    assert (tmp_path / "report" / "ratio.png").read_bytes()[:4] == b"\x89PNG"
