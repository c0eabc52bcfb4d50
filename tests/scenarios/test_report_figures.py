"""`sim report` on a real sweep of paper-cost's shape (issue 21): the instance-ratio section
counts instances from each point's resolved topology and its "Best:" line says how a tie
resolved; the figures keep legends off the data, use log axes where values span decades and
name their axes in words."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure

from phasesim.scenarios import (
    Backend,
    ExecutorSpec,
    load_sweep_points,
    open_executor,
    report,
    run_sweep,
)
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
    outputs: {requests: true, timeseries: false}
    report: {rate_axis: trace.rate_rps, group_axis: topology.name}
    sweep:
      grid:
        trace.rate_rps: [0.5, 1, 8]
      zip:
        - topology.name: [gpu, groq, gpu-prefill-groq-decode]
          topology.instances: [3, 1, 1]
          topology.prefill_instances: [1, 1, 1]
          topology.decode_instances: [2, 2, 1]
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ratio")
    sweep = load_sweep_points(write(folder / "ratio.yaml", SCENARIO), checks=(check_point,))
    with open_executor(ExecutorSpec(backend=Backend.SERIAL)) as executor:
        assert run_sweep(sweep, folder / "sweep", executor=executor).failed == 0
    return folder / "sweep"


def test_report_counts_each_topologys_own_instances(sweep: Path, tmp_path: Path) -> None:
    write_report(sweep, tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    section = text[text.index("## Instance ratio"):]
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip()
            for line in section.splitlines() if line.startswith("| name=")}
    # the axes summed to 6, 4 and 3 instances
    assert rows == {"name=gpu, 3 h100-sxm": "3 h100-sxm", "name=groq, 1 groqrack": "1 groqrack",
                    "name=gpu-prefill-groq-decode, 1 h100-sxm + 1 groqrack":
                        "1 h100-sxm + 1 groqrack"}
    per_instance = {line.split("|")[1].strip(): float(line.split("|")[4])
                    for line in section.splitlines() if line.startswith("| name=")}
    best = next(line for line in section.splitlines() if line.startswith("**Best:"))
    top = max(per_instance.values())
    winners = [c for c, v in per_instance.items() if v == top]
    assert best.startswith(f"**Best: {winners[0]}** — {top:.3f} req/s per instance.")
    # one GroqRack sustains at least what the others do on 3 and 2 instances: it wins per instance
    assert winners[0] == "name=groq, 1 groqrack"
    assert (tmp_path / "report" / "ratio.png").read_bytes()[:4] == b"\x89PNG"


def test_report_figures_are_readable(sweep: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: dict[str, Figure] = {}
    save = report._save

    def keep(fig: Figure, path: Path, **kwargs: int) -> Path:
        drawn[path.stem] = fig
        return save(fig, path, **kwargs)

    monkeypatch.setattr(report, "_save", keep)
    write_report(sweep, tmp_path / "report")
    rate = next(fig for name, fig in drawn.items() if "rate" in name)
    goodput = rate.axes[0]
    assert goodput.get_xscale() == "log"  # 0.5 to 8 req/s: more than a decade
    assert goodput.get_xlabel() == "request rate (req/s), log"
    for name in ("rate", "cdf"):
        fig = next(f for n, f in drawn.items() if name in n)
        assert fig.legends, name  # one legend for the figure, below the panels
        assert not any(ax.get_legend() for ax in fig.axes), name


# paper-disagg in small: colocated vs disaggregated over link bandwidth and rate
DISAGG = """
    name: gain
    model: llama2-7b
    topology: {name: gpu, instances: 2}
    trace:
      generate:
        arrival: {process: poisson, rate_rps: 1}
        prompt: {dist: lognormal, median_tokens: 256, sigma: 0.3, max_tokens: 1024}
        output: {dist: lognormal, median_tokens: 16, sigma: 0.3, max_tokens: 64}
        count: 30
    slo: {ttft_s: 1s, tpot_s: 50ms, attainment: 0.9}
    seed: 1
    outputs: {requests: false, timeseries: false}
    sweep:
      grid:
        topology.name: [gpu, gpu-prefill-gpu-decode]
        topology.link.bandwidth: [10Gbps, 100Gbps]
        trace.rate_rps: [0.5, 8]
"""


def test_gain_heatmaps_name_their_axes_in_words(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = load_sweep_points(write(tmp_path / "gain.yaml", DISAGG), checks=(check_point,))
    with open_executor(ExecutorSpec(backend=Backend.SERIAL)) as executor:
        assert run_sweep(sweep, tmp_path / "sweep", executor=executor).failed == 0
    drawn: dict[str, Figure] = {}
    save = report._save
    monkeypatch.setattr(report, "_save", lambda fig, path, **k: (
        drawn.__setitem__(path.stem, fig), save(fig, path, **k))[1])
    write_report(tmp_path / "sweep", tmp_path / "report")
    for name in ("gain_goodput", "gain_tpot"):
        heat = drawn[name].axes[0]
        assert heat.get_xlabel() == "KV link bandwidth"  # not topology.link.bandwidth
        assert heat.get_ylabel() == "request rate (req/s)"  # not trace.rate_rps
        assert [t.get_text() for t in heat.get_xticklabels()] == ["10Gbps", "100Gbps"]
        assert [t.get_text() for t in heat.get_yticklabels()] == ["0.5", "8"]
        assert all(t.get_fontsize() >= 9 for t in heat.get_xticklabels())
