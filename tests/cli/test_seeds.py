"""Group 3 of the hardening issue: a negative seed is bad input everywhere a seed enters.

Before, ``sim replay --seed -1`` and ``sim traces generate --seed -1`` (and every other seed: traces
import and transform --sample, profiler capture and validate, the Python API's ``simulate`` and
``generate``) ended in numpy's ``ValueError: expected non-negative integer`` traceback. Now every
CLI ``--seed`` has ``min=0`` (one ``error:`` line, exit 2) and the library checks every seed where it
enters with ``phasesim.seeds.check_seed`` (an InputError naming the seed)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import simpy

from phasesim import traces
from phasesim.errors import InputError
from phasesim.profiler.capture.validate import ValidateConfig
from phasesim.simulator.context import SimContext
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import TopologySpec, builtin_topology

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "traces" / "samples" / "azure_code_2023.parquet"
TABLE = REPO / "simulator" / "tables" / "h100-sxm__llama2-7b__fp16__torch__measured.parquet"


@pytest.fixture()
def trace(tmp_path: Path) -> Path:
    df = pd.DataFrame({"request_id": [0, 1, 2], "arrival_s": [0.0, 0.1, 0.2],
                       "prompt_tokens": [100, 200, 300], "output_tokens": [5, 1, 9]})
    return traces.write_trace(df, tmp_path / "trace.parquet", {"source": {"kind": "test"}})


def _refused(result, out: Path | None = None) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "--seed" in lines[0] and "Traceback" not in result.stderr + result.stdout
    if out is not None:
        assert not out.exists()
    return lines[0]


@pytest.mark.parametrize("seed", ["-1", "-4294967296", "-99999999999999999999"])
def test_sim_seeds_below_zero(sim, trace: Path, tmp_path: Path, seed: str) -> None:
    out = tmp_path / "out"
    _refused(sim("replay", trace, "-t", "gpu", "-o", out, "--seed", seed), out)
    _refused(sim("traces", "generate", "-o", out, "--count", 5, "--seed", seed), out)
    _refused(sim("traces", "transform", trace, "-o", out, "--sample", 2, "--seed", seed), out)
    csv = tmp_path / "lengths.csv"
    csv.write_text("prompt_tokens,output_tokens\n10,2\n20,3\n")
    _refused(sim("traces", "import", csv, "-o", out, "--arrival", "poisson", "--rate", 1,
                 "--seed", seed), out)


def test_profiler_seeds_below_zero(profiler, trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    _refused(profiler("capture", "--backend", "torch", "--device", "cpu", "--model",
                      "tiny-llama", "-o", out, "--max-points", 0, "--seed", -1), out)
    _refused(profiler("validate", "--table", TABLE, "--trace", trace, "--seed", -1))


def test_library_seeds_below_zero(trace: Path) -> None:
    frame = traces.read_trace(trace)
    calls = [
        lambda: simulate(frame, builtin_topology("gpu"), seed=-1),
        lambda: SimContext(env=simpy.Environment(), seed=-1),
        lambda: traces.generate(arrival={"process": "poisson", "rate_rps": 1}, prompt=10,
                                output=2, count=3, seed=-1),
        lambda: traces.sample(frame, 2, seed=-1),
        lambda: SimContext(env=simpy.Environment(), seed=1.5),  # not an integer either
    ]
    for call in calls:
        with pytest.raises(InputError, match="seed must be a non-negative integer"):
            call()
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        TopologySpec.model_validate({"seed": -1, "pools": [
            {"name": "g", "role": "colocated", "hardware": "h100-sxm"}]})


def test_profiler_configs_check_their_seed(tmp_path: Path) -> None:
    groq_capture = pytest.importorskip("phasesim.profiler.capture.groq_capture")
    GroqCaptureConfig = groq_capture.GroqCaptureConfig

    with pytest.raises(InputError, match="seed"):
        GroqCaptureConfig(model="m", base_url="http://x", api_key="k", prompt_lens=(8,),
                          output_tokens=1, repeats=1, output=tmp_path / "g.parquet", seed=-2)
    with pytest.raises(InputError, match="seed"):
        ValidateConfig(table=TABLE, trace=tmp_path / "t.parquet", model="m", device="cpu",
                       seed=-2)
    openai_capture = pytest.importorskip("phasesim.profiler.capture.openai_capture")
    with pytest.raises(InputError, match="seed"):
        openai_capture.OpenAICaptureConfig(
            base_url="http://x", served_model="m", model="llama3-8b", hardware="h100-sxm",
            engine="vllm", api_key="", prompt_lens=(8,), concurrency=(1,), output_tokens=1,
            repeats=1, output=tmp_path / "o.parquet", seed=-2)


def test_seed_zero_and_large_seeds_still_work(trace: Path) -> None:
    frame = traces.read_trace(trace)
    for seed in (0, 2**64 + 5):
        assert simulate(frame, builtin_topology("gpu"), seed=seed).meta["seed"] == seed
