"""Hardening round 2: price files, counts and the YAML files they come in.

Before: a price file of a 400- or 5,000-digit integer, ``true``, latin-1 bytes or nested anchors
was a traceback, exit 0 or a hang (it bypassed the bounded YAML loader); ``--instances 10000000``
hung building the pool and ``--max-batch 1e21`` ran with exit 0; a topology with a 2^70 KV
capacity or block size was accepted, and any YAML file nested 50,000 deep was a RecursionError.
Each now ends in one error line naming the file, line or field, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from phasesim.cli import app
from phasesim.safe_yaml import MAX_DEPTH, load_yaml
from phasesim.simulator.topology import MAX_INSTANCES, MAX_KV_CAPACITY_TOKENS, MAX_NUM_SEQS
from tests.one_line import exits_with_one_error_line

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
TRACE = REPO / "traces" / "samples" / "azure_code_2023.parquet"
LAUGHS = ('a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
          + "".join(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10)))


def _replay(tmp_path: Path, *args: str):
    out = tmp_path / "out"
    result = runner.invoke(app, ["replay", str(TRACE), "-o", str(out), *args])
    return result, out


@pytest.mark.parametrize(("body", "expect"), [
    (b"h100-sxm: " + b"9" * 5000 + b"\n", ("line 1", "integer too long")),
    (b"h100-sxm: " + b"9" * 400 + b"\n", ("column 'h100-sxm'", "must be a number")),
    (b"h100-sxm: true\n", ("column 'h100-sxm'", "must be a number")),
    (b"h100-sxm: 1e12\n", ("column 'h100-sxm'", "<= 1e+09")),
    (b"kwh_usd: .inf\n", ("column 'kwh_usd'",)),
    (b"h100-sxm: 2.0 # caf\xe9\n", ("not UTF-8",)),
    (LAUGHS.encode(), ("expands to more than",)),
    (b"h100-sxm: " + b"[" * 5000 + b"]" * 5000 + b"\n", ("nests more than",)),
])
def test_bad_price_file(tmp_path: Path, body: bytes, expect: tuple[str, ...]):
    prices = tmp_path / "prices.yaml"
    prices.write_bytes(body)
    result, out = _replay(tmp_path, "-t", "gpu", "--price-file", str(prices))
    exits_with_one_error_line(result, str(prices), *expect)
    assert not out.exists()


@pytest.mark.parametrize(("args", "field", "bound"), [
    (["-t", "gpu", "--instances", str(10**7)], "instances", MAX_INSTANCES),
    (["-t", "gpu", "--max-batch", str(10**21)], "max_num_seqs", MAX_NUM_SEQS),
    (["-t", "gpu-prefill-gpu-decode", "--decode-instances", str(10**12)], "instances",
     MAX_INSTANCES),
])
def test_huge_counts_are_refused_by_their_bound(tmp_path: Path, args, field, bound):
    result, out = _replay(tmp_path, *args)
    exits_with_one_error_line(result, field, str(bound))
    assert not out.exists()


@pytest.mark.parametrize(("pool", "field"), [
    (f"kv_capacity_tokens: {2**70}", "kv_capacity_tokens"),
    (f"block_tokens: {2**70}", "block_tokens"),
    (f"instances: {MAX_INSTANCES + 1}", "instances"),
    (f"tensor_parallel: {2**40}", "tensor_parallel"),
    (f"max_num_batched_tokens: {2**63}", "max_num_batched_tokens"),
])
def test_topology_file_counts_beyond_their_bound(tmp_path: Path, pool: str, field: str):
    topo = tmp_path / "t.yaml"
    topo.write_text("name: t\npools:\n  - {name: p, role: colocated, hardware: h100-sxm, "
                    f"{pool}}}\n")
    result, out = _replay(tmp_path, "-t", str(topo))
    exits_with_one_error_line(result, str(topo), "line 3", f"pools.0.{field}")
    assert not out.exists()


@pytest.mark.parametrize(("body", "expect"), [
    ("name: " + "[" * 50_000 + "]" * 50_000 + "\n", "nests more than"),
    ("a: " + "{b: " * 20_000 + "1" + "}" * 20_000 + "\n", "nests more than"),
    ("name: t\npools: " + "9" * 5000 + "\n", "integer too long"),
])
@pytest.mark.parametrize("where", ["topology", "scenario"])
def test_deep_or_huge_yaml_is_one_line(tmp_path: Path, body: str, expect: str, where: str):
    path = tmp_path / "f.yaml"
    path.write_text(body)
    out = tmp_path / "out"
    argv = (["replay", str(TRACE), "-t", str(path), "-o", str(out)] if where == "topology"
            else ["run", str(path), "-o", str(out)])
    exits_with_one_error_line(runner.invoke(app, argv), str(path), expect)
    assert not out.exists()


def test_latin1_topology_file(tmp_path: Path):
    topo = tmp_path / "t.yaml"
    topo.write_bytes(b"name: caf\xe9\npools: []\n")
    result, out = _replay(tmp_path, "-t", str(topo))
    exits_with_one_error_line(result, str(topo), "not UTF-8")
    assert not out.exists()


def test_loader_reads_the_deepest_document_it_allows():
    depth = MAX_DEPTH - 1
    assert load_yaml("[" * depth + "1" + "]" * depth) is not None
    with pytest.raises(yaml.YAMLError, match="nests more than"):
        load_yaml("[" * (MAX_DEPTH + 1) + "1" + "]" * (MAX_DEPTH + 1))
    assert load_yaml(f"x: {2**70}\n") == {"x": 2**70}  # long but readable: the caller bounds it


def test_bounds_hold_at_the_edge(tmp_path: Path):
    topo = tmp_path / "t.yaml"
    topo.write_text("name: t\npools:\n  - {name: p, role: colocated, hardware: h100-sxm, "
                    f"kv_capacity_tokens: {MAX_KV_CAPACITY_TOKENS}, max_num_seqs: {MAX_NUM_SEQS}}}\n")
    result, out = _replay(tmp_path, "-t", str(topo), "--json")
    assert result.exit_code == 0, result.output
    assert (out / "summary.json").is_file()
