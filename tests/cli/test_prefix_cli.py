"""`sim traces generate --sessions`, `sim replay --prefix-cache / --router`: in-process."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from phasesim.cli import app
from phasesim.traces import read_trace

runner = CliRunner()


def _sessions(tmp_path: Path) -> Path:
    out = tmp_path / "s.parquet"
    result = runner.invoke(app, ["traces", "generate", "--sessions", "40", "--rate", "2",
                                 "--turns", "uniform:2:5", "--think-s", "3",
                                 "--system-prompt-tokens", "600", "--prompt-tokens", "400",
                                 "--output-tokens", "50", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_generate_sessions_and_replay_with_each_router(tmp_path: Path) -> None:
    trace = _sessions(tmp_path)
    df = read_trace(trace)
    assert {"session_id", "prefix_hash_ids"} <= set(df.columns)
    stats = json.loads(runner.invoke(app, ["traces", "stats", str(trace), "--json"]).stdout)
    rates = {}
    for router in ("round-robin", "prefix-affinity", "session-affinity"):
        out = tmp_path / router
        result = runner.invoke(app, ["replay", str(trace), "-t", "gpu", "--instances", "3",
                                     "--prefix-cache", "--router", router, "-o", str(out),
                                     "--json"])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        rates[router] = summary["prefix_cache"]["hit_rate"]
        assert 0 < rates[router] <= stats["ideal_hit_rate"]
        meta = json.loads((out / "meta.json").read_text())
        assert meta["topology"]["pools"][0]["routing"] == router.replace("-", "_")
    assert rates["prefix-affinity"] >= rates["round-robin"]


def test_prefix_cache_without_router_is_cache_aware(tmp_path: Path) -> None:
    trace = _sessions(tmp_path)
    out = tmp_path / "default"
    result = runner.invoke(app, ["replay", str(trace), "-t", "gpu-prefill-gpu-decode",
                                 "--prefill-instances", "3", "--prefix-cache", "-o", str(out),
                                 "--json"])
    assert result.exit_code == 0, result.output
    pools = {p["role"]: p["routing"] for p in
             json.loads((out / "meta.json").read_text())["topology"]["pools"]}
    assert pools == {"prefill": "cache_aware", "decode": "least_outstanding"}
    named = tmp_path / "named"
    result = runner.invoke(app, ["replay", str(trace), "-t", "gpu", "--prefix-cache",
                                 "--router", "round-robin", "-o", str(named), "--json"])
    assert result.exit_code == 0, result.output
    meta = json.loads((named / "meta.json").read_text())
    assert meta["topology"]["pools"][0]["routing"] == "round_robin"


def test_replay_refuses_a_prefix_cache_on_groqrack(tmp_path: Path) -> None:
    trace = _sessions(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["replay", str(trace), "-t", "groq", "--prefix-cache",
                                 "-o", str(out)])
    assert result.exit_code != 0
    assert "groqrack has no prefix cache" in " ".join(result.output.split())
    assert not out.exists()


def test_replay_router_errors(tmp_path: Path) -> None:
    trace = _sessions(tmp_path)
    for value, message in (("nope", "unknown router 'nope'"),
                           ("decode=least-kv", "no pool 'decode'")):
        out = tmp_path / "out"
        result = runner.invoke(app, ["replay", str(trace), "-t", "gpu", "--router", value,
                                     "-o", str(out)])
        assert result.exit_code != 0 and message in result.output, result.output
        assert not out.exists()


def test_yaml_pool_prefix_cache_and_the_no_flag(tmp_path: Path) -> None:
    trace = _sessions(tmp_path)
    topo = tmp_path / "t.yaml"
    topo.write_text("pools:\n"
                    "  - {name: p, role: prefill, hardware: h100-sxm, prefix_cache: true,\n"
                    "     routing: prefix_affinity, instances: 2}\n"
                    "  - {name: d, role: decode, hardware: h100-sxm}\n"
                    "links:\n"
                    "  - {name: kv, src: p, dst: d, bandwidth_bytes_per_s: 50.0e+9}\n")
    on = runner.invoke(app, ["replay", str(trace), "-t", str(topo), "-o", str(tmp_path / "on"),
                             "--json"])
    assert on.exit_code == 0, on.output
    assert json.loads(on.stdout)["prefix_cache"]["pools"][0]["pool"] == "p"
    off = runner.invoke(app, ["replay", str(trace), "-t", str(topo), "--no-prefix-cache",
                              "-o", str(tmp_path / "off"), "--json"])
    assert off.exit_code == 0, off.output
    assert "prefix_cache" not in json.loads(off.stdout)
    table = runner.invoke(app, ["replay", str(trace), "-t", str(topo), "-o",
                                str(tmp_path / "t")])
    assert table.exit_code == 0 and "prefix cache (hit rate" in table.output
