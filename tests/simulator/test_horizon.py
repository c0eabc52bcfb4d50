"""Group 1 of the hardening issue: the integer-nanosecond clock has a horizon
(``phasesim.units.MAX_TIME_S``). Every input that feeds the clock is checked against it where it
enters, and a run that would still cross it ends with one error line, never an overflow traceback.

Before: ``--rate-scale 1e-9``, ``--link-bandwidth 1bps``, ``--link-latency 1e10s``, ``latency_s:
.inf`` in a topology file, a cost table with 1e8 s or 1e300 s steps and ``rate_rps: 1e-12`` in a
scenario were tracebacks (OverflowError, struct.error) from deep inside the run."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import simpy
from typer.testing import CliRunner

from phasesim import traces
from phasesim.cli import app
from phasesim.errors import InputError
from phasesim.simulator.context import MAX_TIME_NS, NORMAL, HorizonError, Timer, watch_horizon
from phasesim.simulator.costs.closed_form import ConstantCostModel
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import TopologySpec, builtin_topology
from phasesim.units import MAX_TIME_S, duration_s
from tests.one_line import exits_with_one_error_line

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
MEASURED = REPO / "simulator" / "tables" / "h100-sxm__llama2-7b__fp16__torch__measured.parquet"
HORIZON = f"horizon of {MAX_TIME_S:.0f} s"


@pytest.fixture()
def trace(tmp_path: Path) -> Path:
    df = pd.DataFrame({"request_id": [0, 1, 2], "arrival_s": [0.0, 10.0, 20.0],
                       "prompt_tokens": [100, 200, 300], "output_tokens": [5, 1, 9]})
    return traces.write_trace(df, tmp_path / "trace.parquet", {"source": {"kind": "test"}})


def _one_error(result, out: Path, *expect: str) -> str:
    line = exits_with_one_error_line(result, *expect)
    assert not out.exists(), "nothing may be written on bad input"
    return line


@pytest.mark.parametrize(("args", "expect"), [
    (["-t", "gpu", "--rate-scale", "1e-9"], ("arrival_s", "rate scale 1e-09", HORIZON)),
    (["-t", "gpu", "--rate-scale", "1e-300"], ("rate scale 1e-300", HORIZON)),
    (["-t", "gpu-prefill-gpu-decode", "--link-bandwidth", "1bps"],
     ("link kv", "a transfer of", "0.125 B/s", HORIZON)),
    (["-t", "gpu-prefill-gpu-decode", "--link-bandwidth", "1e-300bps"], ("link kv", HORIZON)),
    (["-t", "gpu-prefill-gpu-decode", "--link-latency", "1e10s"], ("--link-latency", HORIZON)),
    (["-t", "gpu-prefill-gpu-decode", "--link-latency", "200000000min"],
     ("--link-latency", HORIZON)),
])
def test_replay_options_beyond_the_horizon(trace: Path, tmp_path: Path, args: list[str],
                                           expect: tuple[str, ...]) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["replay", str(trace), "-o", str(out), *args])
    _one_error(result, out, *expect)


@pytest.mark.parametrize("latency", [".inf", ".nan", "1e10", "1e300"])
def test_topology_file_latency_beyond_the_horizon(trace: Path, tmp_path: Path,
                                                  latency: str) -> None:
    topo = tmp_path / "topo.yaml"
    topo.write_text("pools:\n  - {name: p, role: prefill, hardware: h100-sxm}\n"
                    "  - {name: d, role: decode, hardware: h100-sxm}\n"
                    "links:\n  - name: kv\n    src: p\n    dst: d\n"
                    f"    bandwidth_bytes_per_s: 1e9\n    latency_s: {latency}\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["replay", str(trace), "-o", str(out), "-t", str(topo)])
    _one_error(result, out, "topo.yaml", "line 9", "links.0.latency_s")


@pytest.mark.parametrize(("phase", "latency_s"), [("prefill", 1e8), ("decode", 1e300),
                                                   ("decode", 1e5)])
def test_cost_table_steps_beyond_a_sane_bound(trace: Path, tmp_path: Path, phase: str,
                                              latency_s: float) -> None:
    table = pq.read_table(MEASURED)
    df = table.to_pandas()
    rows = df["phase"] == phase
    for column in ("latency_s", "latency_p10_s", "latency_p90_s"):
        df.loc[rows, column] = latency_s
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False)
                   .replace_schema_metadata(table.schema.metadata), bad)
    out = tmp_path / "out"
    result = runner.invoke(app, ["replay", str(trace), "-o", str(out), "-t", "gpu",
                                 "--profile", str(bad)])
    _one_error(result, out, "bad.parquet", "column 'latency_s'", f"{latency_s:.4g} s")


@pytest.mark.parametrize("trace_yaml", [
    "generate: {arrival: {process: poisson, rate_rps: 2}, prompt: 100, output: 4, count: 20}\n"
    "  rate_rps: 1e-12",
    f"path: {REPO / 'traces' / 'samples' / 'azure_code_2023.parquet'}\n"
    "  max_requests: 30\n  rate_rps: 1e-12",
])
def test_scenario_rate_beyond_the_horizon(tmp_path: Path, trace_yaml: str) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"name: s\nmodel: llama2-7b\ntopology: {{name: gpu}}\n"
                        f"trace:\n  {trace_yaml}\nseed: 1\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(scenario), "-o", str(out)])
    _one_error(result, out, "column 'trace.rate_rps'", "horizon of")


@pytest.mark.parametrize("latency", ["1.0e+10", "1e10s", "200000000min"])
def test_scenario_link_latency_beyond_the_horizon(tmp_path: Path, latency: str) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\nmodel: llama2-7b\ntopology:\n  name: gpu-prefill-gpu-decode\n"
                        f"  link: {{latency: {latency}}}\ntrace:\n"
                        f"  path: {REPO / 'traces' / 'samples' / 'azure_code_2023.parquet'}\n"
                        "  max_requests: 5\nseed: 1\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(scenario), "-o", str(out)])
    _one_error(result, out, "s.yaml, line 5", "topology.link.latency", HORIZON)


def test_arrivals_beyond_the_horizon_in_the_python_api() -> None:
    """Also without a warning: 1e300 s times 1e9 overflows to inf, refused like the rest."""
    frame = pd.DataFrame({"request_id": [0, 1], "arrival_s": [0.0, 1e300],
                          "prompt_tokens": [10, 10], "output_tokens": [2, 2]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match="arrival 1e[+]300 s is beyond the simulator's horizon"):
            simulate(frame, builtin_topology("gpu"))


def test_durations_beyond_the_horizon_are_refused() -> None:
    assert duration_s(f"{MAX_TIME_S:.0f}s") == MAX_TIME_S
    for text in ("9223372037s", "1e10s", "1e300ms", "200000000min"):
        with pytest.raises(ValueError, match="horizon"):
            duration_s(text)


@pytest.mark.parametrize("mode", ["fast", "reference"])
def test_a_run_that_would_cross_the_horizon_ends_with_an_error(mode: str) -> None:
    """Each input within bounds, their sum beyond: ten requests queued behind each other on one
    instance, each taking 1e9 s, end past the horizon; the run stops there, cleanly."""
    topology = TopologySpec.model_validate({"pools": [
        {"name": "gpu", "role": "colocated", "hardware": "h100-sxm", "batching": "none"}]})
    frame = pd.DataFrame({"request_id": range(10), "arrival_s": [0.0] * 10,
                          "prompt_tokens": [10] * 10, "output_tokens": [1] * 10})
    slow = ConstantCostModel(prefill_s=1e9, decode_step_s=1e9, kv_bytes_per_token=10)
    with pytest.raises(HorizonError, match="horizon") as info:
        simulate(frame, topology, mode=mode, cost_models={"gpu": slow})
    assert isinstance(info.value, InputError)  # the CLIs' one error line, exit 2
    assert "pool gpu instance 0's steps" in str(info.value)  # names where it came from


def test_a_link_that_would_cross_the_horizon_is_named() -> None:
    """A lone transfer fits (1e9 s of latency); ten one after another do not (a decode pool that
    admits one request at a time reserves, and so transfers, them in turn)."""
    frame = pd.DataFrame({"request_id": range(10), "arrival_s": [0.0] * 10,
                          "prompt_tokens": [10] * 10, "output_tokens": [2] * 10})
    topology = builtin_topology("gpu-prefill-gpu-decode", link_latency=1e9, batching="none")
    slow = ConstantCostModel(prefill_s=1e8, decode_step_s=1.0, kv_bytes_per_token=10)
    with pytest.raises(HorizonError, match="link kv's transfers"):
        simulate(frame, topology, cost_models={"prefill": slow})


def test_the_horizon_sentinel_costs_a_normal_run_nothing(env: simpy.Environment) -> None:
    fired: list[int] = []
    Timer(env, 5, NORMAL, lambda _event: fired.append(5))
    watch_horizon(env)
    env.run()
    assert fired == [5]  # ran to the end: the sentinel found nothing beyond it

    late = simpy.Environment()
    Timer(late, MAX_TIME_NS + 1, NORMAL, lambda _event: fired.append(-1))
    watch_horizon(late)
    with pytest.raises(HorizonError):
        late.run()
    assert fired == [5]  # the event beyond the horizon never ran
