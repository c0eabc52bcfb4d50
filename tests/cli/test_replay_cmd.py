"""`sim replay` end to end, in-process, on the shipped samples and every built-in topology.

The samples are head-sliced (first rows, arrivals compressed with --rate-scale) into tmp_path so
the whole module stays within a few seconds of CPU; every expectation is derived from the trace
and the catalogs, never copied from a previous run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from phasesim import traces
from phasesim.cli import app
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.topology import BUILTIN_TOPOLOGIES, builtin_topology

REPO = Path(__file__).resolve().parents[2]
SAMPLES = {name: REPO / "traces" / "samples" / f"{name}.parquet"
           for name in ("azure_code_2023", "mooncake_synthetic")}
TOPOLOGIES = ("gpu", "groq", "gpu-prefill-gpu-decode", "gpu-prefill-groq-decode",
              "groq-prefill-gpu-decode")
HEAD_ROWS = 400
FILES = {"requests.parquet", "timeseries.parquet", "summary.json", "meta.json"}

runner = CliRunner()


def test_every_builtin_topology_is_covered() -> None:
    assert set(TOPOLOGIES) == set(BUILTIN_TOPOLOGIES)


@pytest.fixture(scope="module")
def sample_heads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("samples")
    heads = {}
    for name, path in SAMPLES.items():
        if not path.exists():
            pytest.skip(f"{path} not built yet")
        heads[name] = traces.write_trace(traces.head(traces.read_trace(path), HEAD_ROWS),
                                         folder / f"{name}.parquet")
    return heads


def _replay(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["replay", *args])
    return result.exit_code, result.stdout, result.stderr


def _context_limit(topology: str) -> int:
    """The smallest context any pool of the topology accepts (model, then hardware limit)."""
    limits = []
    for pool in builtin_topology(topology).pools:
        limit = get_model(pool.model).max_context_tokens
        hw = get_hardware(pool.hardware).max_context_tokens
        limits.append(limit if hw is None else min(limit, hw))
    return min(limits)


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_replay_sample_on_topology(sample_heads: dict[str, Path], tmp_path: Path, sample: str,
                                   topology: str) -> None:
    trace_path = sample_heads[sample]
    out = tmp_path / "out"
    code, stdout, stderr = _replay(str(trace_path), "--topology", topology, "-o", str(out),
                                   "--rate-scale", "4", "--json")
    assert code == 0, stderr
    summary = json.loads(stdout)  # stdout is the JSON object and nothing else
    assert {p.name for p in out.iterdir()} == FILES
    assert (out / "summary.json").read_text() == stdout

    trace = traces.read_trace(trace_path)
    requests = pq.read_table(out / "requests.parquet").to_pandas()
    assert len(requests) == len(trace) == summary["requests"]
    assert sorted(requests["request_id"]) == sorted(trace["request_id"])
    status = requests["status"]
    assert set(status) <= {"completed", "rejected"}
    assert (status == "completed").sum() == summary["completed"]
    assert (status == "rejected").sum() == summary["rejected"]
    assert summary["completed"] + summary["rejected"] == len(trace)
    rejected = requests[status == "rejected"]
    assert (rejected["reason"].str.len() > 0).all(), "every rejected request has a reason"
    assert (requests.loc[status == "completed", "reason"] == "").all()
    assert rejected["reason"].value_counts().to_dict() == summary["rejected_by_reason"]

    # a request longer than any pool's context can never run: rejected, for its context
    merged = requests.merge(trace[["request_id"]], on="request_id")
    too_long = (merged["prompt_tokens"] + merged["output_tokens"]) > _context_limit(topology)
    assert (merged.loc[too_long, "status"] == "rejected").all()
    assert merged.loc[too_long, "reason"].str.contains("context").all()
    if sample == "mooncake_synthetic":
        assert too_long.any(), "the mooncake head holds prompts beyond llama2-7b's context"
    done = requests[status == "completed"]
    assert len(done) > 0
    assert (done["finish_s"] >= done["arrival_s"]).all()
    assert done["ttft_s"].notna().all()

    meta = json.loads((out / "meta.json").read_text())
    assert meta["trace"]["sha256"] == hashlib.sha256(trace_path.read_bytes()).hexdigest()
    assert meta["topology"]["name"] == topology
    assert meta["topology"]["rate_scale"] == 4.0
    pools = {p["pool"] for p in summary["pools"]}
    assert pools == {p.name for p in builtin_topology(topology).pools}
    assert len(summary["links"]) == (1 if "-decode" in topology else 0)
    for entry in summary["pools"] + summary["links"]:
        assert 0.0 < entry["utilization"] <= 1.0, entry
    assert sum(link["transfers"] for link in summary["links"]) == (
        summary["completed"] - (done["output_tokens"] == 1).sum() if summary["links"] else 0)


def test_same_inputs_same_bytes(sample_heads: dict[str, Path], tmp_path: Path) -> None:
    digests = []
    for run in ("a", "b"):
        code, _, stderr = _replay(str(sample_heads["azure_code_2023"]), "-t",
                                  "gpu-prefill-groq-decode", "--prefill-instances", "2",
                                  "--rate-scale", "8", "--seed", "7", "-o", str(tmp_path / run),
                                  "--json")
        assert code == 0, stderr
        digests.append({p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                        for p in (tmp_path / run).iterdir()})
    assert digests[0] == digests[1]
    assert set(digests[0]) == FILES


def test_human_summary_names_pools_links_and_reasons(sample_heads: dict[str, Path],
                                                     tmp_path: Path) -> None:
    code, stdout, stderr = _replay(str(sample_heads["mooncake_synthetic"]), "-t",
                                   "gpu-prefill-gpu-decode", "--link-bandwidth", "100Gbps",
                                   "--link-latency", "2ms", "-o", str(tmp_path / "out"))
    assert code == 0, stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    for text in ("TTFT", "TPOT", "E2E", "goodput", "SLO attainment", "prefill", "decode", "kv",
                 f"{summary['completed']:,}", *summary["rejected_by_reason"]):
        assert text in stdout, text
    with pytest.raises(json.JSONDecodeError):
        json.loads(stdout)
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    link = meta["topology"]["links"][0]
    assert link["bandwidth_bytes_per_s"] == pytest.approx(100e9 / 8)
    assert link["latency_s"] == pytest.approx(2e-3)


def test_overrides_reach_the_topology(sample_heads: dict[str, Path], tmp_path: Path) -> None:
    code, stdout, stderr = _replay(str(sample_heads["azure_code_2023"]), "-t", "gpu",
                                   "--instances", "3", "--gpu", "a100-sxm-80gb", "--batching",
                                   "chunked", "--max-batch", "8", "--seed", "3",
                                   "--slo-ttft", "0.2", "--slo-tpot", "0.02",
                                   "-o", str(tmp_path / "out"), "--json")
    assert code == 0, stderr
    pool = json.loads(stdout)["pools"][0]
    assert (pool["instances"], pool["hardware"]) == (3, "a100-sxm-80gb")
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    spec = meta["topology"]["pools"][0]
    assert (spec["batching"], spec["max_num_seqs"]) == ("chunked", 8)
    assert meta["seed"] == 3
    assert meta["replay"]["slo_ttft_s"] == 0.2 and meta["replay"]["slo_tpot_s"] == 0.02


def test_max_num_seqs_and_its_old_name_max_batch_are_one_option(sample_heads: dict[str, Path],
                                                                tmp_path: Path) -> None:
    outputs = []
    for flag in ("--max-num-seqs", "--max-batch"):
        out = tmp_path / flag.strip("-")
        code, _, stderr = _replay(str(sample_heads["azure_code_2023"]), "-t", "gpu", flag, "4",
                                  "-o", str(out), "--json")
        assert code == 0, stderr
        outputs.append((out / "requests.parquet").read_bytes())
    assert outputs[0] == outputs[1]


def test_slo_options_change_goodput_not_completion(sample_heads: dict[str, Path],
                                                   tmp_path: Path) -> None:
    results = {}
    for name, ttft in (("loose", "1000"), ("strict", "0.000001")):
        code, stdout, stderr = _replay(str(sample_heads["azure_code_2023"]), "-t", "gpu",
                                       "--slo-ttft", ttft, "--slo-tpot", "1000",
                                       "-o", str(tmp_path / name), "--json")
        assert code == 0, stderr
        results[name] = json.loads(stdout)
    loose, strict = results["loose"], results["strict"]
    assert loose["completed"] == strict["completed"]
    assert loose["slo_attainment"] == pytest.approx(loose["completed"] / loose["requests"])
    assert strict["slo_attainment"] == 0.0 and strict["goodput_rps"] == 0.0


def test_raw_csv_trace_is_imported_on_the_fly(tmp_path: Path) -> None:
    raw = tmp_path / "azure.csv"
    rows = [("2023-11-16 18:17:03.9799600", 480, 10), ("2023-11-16 18:17:04.0319600", 318, 8),
            ("2023-11-16 18:17:05.5000000", 5000, 20), ("2023-11-16 18:17:06.0000000", 64, 1)]
    raw.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                   + "".join(f"{t},{p},{o}\n" for t, p, o in rows))
    code, stdout, stderr = _replay(str(raw), "-t", "gpu", "-o", str(tmp_path / "out"), "--json")
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["requests"] == 4
    assert summary["completed"] == 3  # 5,000 + 20 tokens exceed llama2-7b's 4,096
    requests = pd.read_parquet(tmp_path / "out" / "requests.parquet")
    one_token = requests[requests["output_tokens"] == 1]
    assert one_token["tpot_s"].isna().all() and one_token["status"].eq("completed").all()


def test_profiles_per_pool_reach_the_topology(sample_heads: dict[str, Path],
                                              tmp_path: Path) -> None:
    tables = REPO / "simulator" / "tables"
    prefill = tables / "h100-sxm__llama2-7b__fp16__analytical__analytical.parquet"
    decode = tables / "groqrack__llama2-7b__fp16__groq__analytical.parquet"
    given = {"repeated": ["--profile", f"prefill={prefill}", "--profile", f"decode={decode}"],
             "comma": ["--profile", f"prefill={prefill},decode={decode}"]}
    for form, args in given.items():
        out = tmp_path / form
        code, _, stderr = _replay(str(sample_heads["azure_code_2023"]), "-t",
                                  "gpu-prefill-groq-decode", *args, "-o", str(out), "--json")
        assert code == 0, stderr
        meta = json.loads((out / "meta.json").read_text())
        assert [p["profile"] for p in meta["topology"]["pools"]] == [str(prefill), str(decode)]
    assert (tmp_path / "repeated" / "requests.parquet").read_bytes() == \
        (tmp_path / "comma" / "requests.parquet").read_bytes()


def test_raw_mooncake_jsonl_is_imported_on_the_fly(tmp_path: Path) -> None:
    raw = tmp_path / "mooncake.jsonl"
    rows = [(0, 40160, 6), (0, 900, 12), (1500, 3000, 1500), (2500, 100, 3)]  # ms, in, out
    raw.write_text("".join(
        json.dumps({"timestamp": t, "input_length": i, "output_length": o,
                    "hash_ids": list(range(-(-i // 512)))}) + "\n" for t, i, o in rows))
    code, stdout, stderr = _replay(str(raw), "-t", "gpu-prefill-gpu-decode",
                                   "-o", str(tmp_path / "out"), "--json")
    assert code == 0, stderr
    summary = json.loads(stdout)
    limit = _context_limit("gpu-prefill-gpu-decode")
    too_long = sum(i + o > limit for _, i, o in rows)
    assert (summary["requests"], summary["rejected"]) == (4, too_long)
    assert summary["links"][0]["transfers"] == 4 - too_long
    # each served request moves its prompt's KV once: tokens x llama2-7b's fp16 KV bytes/token
    kv_bytes_per_token = get_model("llama2-7b").kv_bytes_per_token("fp16")
    served_prompt_tokens = sum(i for _, i, o in rows if i + o <= limit)
    assert summary["links"][0]["bytes_moved"] == served_prompt_tokens * kv_bytes_per_token
