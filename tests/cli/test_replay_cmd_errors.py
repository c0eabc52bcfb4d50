"""`sim replay` on bad input: one line `error: ...` on stderr, exit code 2, no output written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from phasesim import traces
from phasesim.cli import app
from phasesim.simulator.topology import BUILTIN_TOPOLOGIES
from tests.one_line import exits_with_one_error_line

runner = CliRunner()
TABLES = Path(__file__).resolve().parents[2] / "simulator" / "tables"


@pytest.fixture()
def trace(tmp_path: Path) -> Path:
    df = pd.DataFrame({"request_id": [0, 1, 2], "arrival_s": [0.0, 0.1, 0.2],
                       "prompt_tokens": [100, 200, 300], "output_tokens": [5, 1, 9]})
    return traces.write_trace(df, tmp_path / "trace.parquet", {"source": {"kind": "test"}})


def _fails(tmp_path: Path, *args: str, expect: tuple[str, ...]) -> str:
    """Run replay into tmp_path/out; check exit 2, one error line naming ``expect``, no output."""
    out = tmp_path / "out"
    result = runner.invoke(app, ["replay", *args, "-o", str(out)])
    line = exits_with_one_error_line(result, *expect)
    assert not out.exists(), "nothing may be written on bad input"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")], "no temp leftovers"
    return line


def test_missing_trace_file(tmp_path: Path) -> None:
    _fails(tmp_path, str(tmp_path / "nope.parquet"), "-t", "gpu",
           expect=("nope.parquet", "no such"))


def test_directory_as_trace(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    _fails(tmp_path, str(tmp_path / "dir"), "-t", "gpu", expect=("dir", "not a file"))


def test_malformed_csv_trace_names_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                   "2023-11-16 18:17:03.9799600,480,10\n"
                   "2023-11-16 18:17:04.0319600,many,8\n")
    _fails(tmp_path, str(bad), "-t", "gpu", expect=("bad.csv", "line 3", "ContextTokens"))


def test_garbage_file_as_trace(tmp_path: Path) -> None:
    bad = tmp_path / "junk.csv"
    bad.write_text("hello,world\n1,2\n")
    _fails(tmp_path, str(bad), "-t", "gpu", expect=("junk.csv",))


def test_parquet_with_invalid_values(tmp_path: Path) -> None:
    bad = tmp_path / "neg.parquet"
    pd.DataFrame({"request_id": [0, 1], "arrival_s": [0.0, 1.0], "prompt_tokens": [10, -3],
                  "output_tokens": [1, 1]}).to_parquet(bad)
    _fails(tmp_path, str(bad), "-t", "gpu", expect=("neg.parquet", "prompt_tokens"))


def test_unknown_topology_lists_the_built_ins(tmp_path: Path, trace: Path) -> None:
    line = _fails(tmp_path, str(trace), "-t", "tpu-farm", expect=("tpu-farm",))
    for name in BUILTIN_TOPOLOGIES:
        assert name in line


@pytest.mark.parametrize(("args", "expect"), [
    (("-t", "gpu", "--instances", "0"), ("--instances", ">= 1")),
    (("-t", "gpu-prefill-gpu-decode", "--decode-instances", "0"), ("--decode-instances",)),
    (("-t", "gpu", "--max-batch", "0"), ("--max-batch",)),
    (("-t", "gpu-prefill-gpu-decode", "--instances", "2"), ("--instances", "disaggregated")),
    (("-t", "gpu", "--prefill-instances", "2"), ("--prefill-instances", "colocated")),
    (("-t", "gpu", "--link-bandwidth", "100Gbps"), ("--link-bandwidth", "colocated")),
])
def test_impossible_topology(tmp_path: Path, trace: Path, args: tuple[str, ...],
                             expect: tuple[str, ...]) -> None:
    _fails(tmp_path, str(trace), *args, expect=expect)


def test_impossible_topology_file(tmp_path: Path, trace: Path) -> None:
    topo = tmp_path / "zero.yaml"
    topo.write_text("pools:\n  - {name: gpu, role: colocated, hardware: h100-sxm, instances: 0}\n")
    _fails(tmp_path, str(trace), "-t", str(topo), expect=("zero.yaml", "instances"))


def test_topology_file_refuses_pool_overrides(tmp_path: Path, trace: Path) -> None:
    topo = tmp_path / "one.yaml"
    topo.write_text("pools:\n  - {name: gpu, role: colocated, hardware: h100-sxm}\n")
    _fails(tmp_path, str(trace), "-t", str(topo), "--max-batch", "4",
           expect=("--max-batch", "one.yaml"))


@pytest.mark.parametrize(("option", "value"), [
    ("--link-bandwidth", "fast"), ("--link-bandwidth", "100"), ("--link-bandwidth", "0Gbps"),
    ("--link-bandwidth", "12.5XB/s"), ("--link-latency", "5 parsecs"), ("--link-latency", "5"),
])
def test_bad_units_name_the_option(tmp_path: Path, trace: Path, option: str, value: str) -> None:
    _fails(tmp_path, str(trace), "-t", "gpu-prefill-groq-decode", option, value,
           expect=(option, value))


@pytest.mark.parametrize(("option", "value"), [
    ("--hardware", "tpu-v5"), ("--model", "gpt-17"), ("--batching", "magic"),
    ("--engine", "tgi-9"),
    ("--first-token", "middle"), ("--rate-scale", "0"), ("--rate-scale", "-2"),
    ("--slo-ttft", "0"), ("--slo-tpot", "nan"),
])
def test_bad_option_values(tmp_path: Path, trace: Path, option: str, value: str) -> None:
    _fails(tmp_path, str(trace), "-t", "gpu-prefill-groq-decode", option, value,
           expect=(option,))


def test_profile_errors(tmp_path: Path, trace: Path) -> None:
    _fails(tmp_path, str(trace), "-t", "gpu", "--profile", str(tmp_path / "none.parquet"),
           expect=("--profile", "none.parquet"))
    table = tmp_path / "t.parquet"
    table.write_bytes(b"")
    _fails(tmp_path, str(trace), "-t", "gpu-prefill-groq-decode", "--profile", f"middle={table}",
           expect=("--profile", "middle", "prefill", "decode"))


def test_output_path_is_a_file(tmp_path: Path, trace: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("mine")
    result = runner.invoke(app, ["replay", str(trace), "-t", "gpu", "-o", str(target)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "taken" in result.stderr
    assert target.read_text() == "mine"


@pytest.mark.parametrize("option", ["--hardware", "--gpu"])  # --gpu: the old name, an alias
def test_hardware_option_on_an_all_groq_topology(tmp_path: Path, trace: Path, option: str) -> None:
    _fails(tmp_path, str(trace), "-t", "groq", option, "a100-sxm-80gb",
           expect=("--hardware", "no GPU pool"))


def test_unknown_engine_lists_the_known_ones(tmp_path: Path, trace: Path) -> None:
    _fails(tmp_path, str(trace), "-t", "gpu", "--engine", "tgi-9",
           expect=("--engine", "unknown engine 'tgi-9'", "vllm", "llama.cpp"))


def test_profile_for_the_wrong_hardware(tmp_path: Path, trace: Path) -> None:
    groq_table = TABLES / "groqrack__llama2-7b__fp16__groq__analytical.parquet"
    _fails(tmp_path, str(trace), "-t", "gpu", "--profile", str(groq_table),
           expect=(groq_table.name, "hardware"))


@pytest.mark.parametrize(("args", "expect"), [
    (("-t", "gpu", "--instances", "abc"), ("--instances",)),
    (("-t", "gpu", "--rate-scale", "fast"), ("--rate-scale",)),
    (("-t", "gpu", "--bogus"), ("--bogus",)),
    ((), ("--topology",)),
])
def test_usage_errors_are_one_line_too(tmp_path: Path, trace: Path, args: tuple[str, ...],
                                       expect: tuple[str, ...]) -> None:
    _fails(tmp_path, str(trace), *args, expect=expect)


def test_missing_trace_argument(tmp_path: Path) -> None:
    _fails(tmp_path, "-t", "gpu", expect=("trace",))


def test_unknown_router_is_echoed_as_typed_with_the_names_as_the_help_spells_them(
        tmp_path: Path, trace: Path) -> None:
    line = _fails(tmp_path, str(trace), "-t", "gpu", "--router", "least-outstandin",
                  expect=("--router", "'least-outstandin'", "least-outstanding", "prefix-affinity"))
    assert "least_outstanding" not in line and "'least_outstandin'" not in line


def test_engine_spelled_another_way_names_phasesim_spelling(tmp_path: Path, trace: Path) -> None:
    _fails(tmp_path, str(trace), "-t", "gpu", "--engine", "TensorRT-LLM",
           expect=("--engine", "'TensorRT-LLM'", "phasesim spells it 'trt-llm'"))
