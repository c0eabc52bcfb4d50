"""torch backend on CPU with tiny-llama: model correctness, table, resume, skip path, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from phasesim.cli.profiler_cmd import app
from phasesim.profiler.capture.grid import coverage_order, interleave
from phasesim.simulator import table_schema as ts
from phasesim.simulator.table_schema import Phase
from tests.profiler.conftest import TINY_POINTS, tiny_capture_args

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[3]


def _read(path: Path):
    table = pq.read_table(path)
    return table.to_pandas(), json.loads(table.schema.metadata[ts.METADATA_KEY])


def _ckpt_lines(out: Path) -> list[dict]:
    lines = out.with_name(out.name + ".ckpt.jsonl").read_text().splitlines()
    return [json.loads(x)["payload"] for x in lines[1:]]


def test_decode_with_kv_cache_matches_full_prefill():
    from phasesim.profiler.capture.torch_model import (
        build_weights,
        decode_step,
        new_kv_cache,
        prefill,
    )
    from phasesim.simulator.catalog.models import get_model

    spec = get_model("tiny-llama")
    w = build_weights(spec, device=torch.device("cpu"), dtype=torch.float32, seed=1)
    toks = torch.randint(0, spec.vocab, (2, 24), generator=torch.Generator().manual_seed(0))
    cache = new_kv_cache(spec, batch=2, capacity_tokens=32, device=torch.device("cpu"),
                         dtype=torch.float32, random_fill=True)
    # row 0 has 23 cached tokens, row 1 only 11: the masked per-sequence decode path
    prefill(w, toks[0:1, :23], cache, start_row=0)
    prefill(w, toks[1:2, :11], cache, start_row=1)
    got = decode_step(w, torch.stack([toks[0, 23], toks[1, 11]]), torch.tensor([23, 11]), cache,
                      attn_tokens=32)
    ref_cache = new_kv_cache(spec, batch=1, capacity_tokens=32, device=torch.device("cpu"),
                             dtype=torch.float32, random_fill=False)
    want0 = prefill(w, toks[0:1, :24], ref_cache)
    want1 = prefill(w, toks[1:2, :12], ref_cache)
    assert got.tolist() == [int(want0), int(want1)]
    assert torch.allclose(cache.k[1][1, :, :12], ref_cache.k[1][0, :, :12], atol=1e-5)


def test_capture_cpu_tiny_writes_valid_measured_table(tmp_path):
    out = tmp_path / "t.parquet"
    res = CliRunner().invoke(app, tiny_capture_args(out))
    assert res.exit_code == 0, res.output
    df, meta = _read(out)
    assert len(df) == TINY_POINTS
    assert set(df[ts.PHASE]) == {"prefill", "decode"}
    assert (df[ts.LATENCY_S] > 0).all() and (df[ts.SAMPLES] == 3).all()
    assert (df[ts.LATENCY_P10_S] <= df[ts.LATENCY_S]).all()
    assert (df[ts.LATENCY_S] <= df[ts.LATENCY_P90_S]).all()
    assert df["samples_s"].map(len).eq(3).all()
    assert meta["source"] == "measured" and meta["complete"] is True
    assert meta["engine"] == "torch"
    cap = meta["capture"]
    assert cap["libraries"]["torch"] == torch.__version__
    assert cap["device_type"] == "cpu" and "tiny-llama" in cap["command"]
    assert meta["grid"]["contexts"] == [32, 256] and meta["repeats"] == 3
    assert meta["cuda_graphs"]["used"] is False and meta["skipped"] == []
    # the costs helper's reader accepts it when present
    costs = pytest.importorskip("phasesim.simulator.costs")
    if hasattr(costs, "read_table"):
        df2, _ = costs.read_table(out)
        assert len(df2) == TINY_POINTS


def test_resume_continues_without_redoing_points(tmp_path):
    out = tmp_path / "t.parquet"
    runner = CliRunner()
    first = runner.invoke(app, tiny_capture_args(out, "--max-points", "4"))
    assert first.exit_code == 0, first.output
    df, meta = _read(out)
    assert len(df) == 4 and meta["complete"] is False and "point limit" in meta["stopped_by"]
    before = _ckpt_lines(out)
    second = runner.invoke(app, tiny_capture_args(out, "--resume"))
    assert second.exit_code == 0, second.output
    after = _ckpt_lines(out)
    keys = [(r["phase"], r["batch_size"], r["tokens"]) for r in after]
    assert len(keys) == len(set(keys)) == TINY_POINTS  # every point exactly once
    assert after[:4] == before  # the first run's points kept, not re-timed
    df, meta = _read(out)
    assert len(df) == TINY_POINTS and meta["complete"] is True


def test_budget_spent_writes_table_from_checkpoint_without_new_points(tmp_path):
    out = tmp_path / "t.parquet"
    runner = CliRunner()
    assert runner.invoke(app, tiny_capture_args(out, "--max-points", "3")).exit_code == 0
    out.unlink()
    res = runner.invoke(app, tiny_capture_args(out, "--resume", "--max-seconds", "0"))
    assert res.exit_code == 0, res.output
    df, meta = _read(out)
    assert len(df) == 3 and "time budget" in meta["stopped_by"]
    assert len(_ckpt_lines(out)) == 3


def test_torn_checkpoint_line_is_ignored_on_resume(tmp_path):
    out = tmp_path / "t.parquet"
    runner = CliRunner()
    assert runner.invoke(app, tiny_capture_args(out, "--max-points", "2")).exit_code == 0
    ckpt = out.with_name(out.name + ".ckpt.jsonl")
    ckpt.write_text(ckpt.read_text() + '{"phase": "decode", "batch_si')  # killed mid-write
    res = runner.invoke(app, tiny_capture_args(out, "--resume"))
    assert res.exit_code == 0, res.output
    assert len(_ckpt_lines(out)) == TINY_POINTS


def test_points_past_memory_limit_are_skipped_not_crashed(tmp_path):
    out = tmp_path / "t.parquet"
    # tiny-llama weights ~0.6 MB fp32; the biggest points (b=4 x 256 ctx, b=2 x 256 prompt with
    # the CPU score matrix) need more than 64 MiB + margin... allow 66 MiB in all
    res = CliRunner().invoke(app, tiny_capture_args(out, "--memory-limit-gb", str(66 / 1024)))
    assert res.exit_code == 0, res.output
    df, meta = _read(out)
    skipped = meta["skipped"]
    assert skipped, "expected some points to be predicted past the limit"
    assert all("predicted" in s["reason"] and "GiB" in s["reason"] for s in skipped)
    assert len(df) + len(skipped) == TINY_POINTS
    timed = set(zip(df[ts.PHASE], df[ts.BATCH_SIZE], df[ts.TOKENS]))
    assert not timed & {(s["phase"], s["batch_size"], s["tokens"]) for s in skipped}


@pytest.mark.parametrize("args, needle", [
    (["--prompt-lens", "16,abc"], "--prompt-lens"),
    (["--contexts", "2048"], "--contexts"),  # 2048 + the decoded token > tiny-llama's 2048
    (["--device", "tpu"], "--device"),
])
def test_bad_options_one_line_error_exit_2_no_output(tmp_path, args, needle):
    out = tmp_path / "t.parquet"
    base = tiny_capture_args(out)
    for i in range(0, len(args), 2):
        j = base.index(args[i]) if args[i] in base else None
        if j is None:
            base += args[i:i + 2]
        else:
            base[j + 1] = args[i + 1]
    res = CliRunner().invoke(app, base)
    assert res.exit_code == 2
    lines = [x for x in res.output.strip().splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0]
    assert "Traceback" not in res.output
    assert not out.exists()


def test_unknown_model_is_one_line_error(tmp_path):
    res = CliRunner().invoke(app, ["capture", "--backend", "torch", "--device", "cpu",
                                   "--model", "gpt-9", "-o", str(tmp_path / "t.parquet")])
    assert res.exit_code == 2 and "unknown model 'gpt-9'" in res.output


def test_hf_config_builds_the_architecture(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"num_hidden_layers": 1, "hidden_size": 64,
                               "num_attention_heads": 4, "num_key_value_heads": 2,
                               "intermediate_size": 128, "vocab_size": 100,
                               "max_position_embeddings": 512, "_name_or_path": "toy-gqa"}))
    out = tmp_path / "t.parquet"
    res = CliRunner().invoke(app, ["capture", "--backend", "torch", "--device", "cpu",
                                   "--config", str(cfg), "--dtype", "fp32",
                                   "--prefill-batch-sizes", "1", "--prompt-lens", "8,32",
                                   "--decode-batch-sizes", "1,2", "--contexts", "16",
                                   "--repeats", "2", "--warmup", "0", "-o", str(out)])
    assert res.exit_code == 0, res.output
    df, _ = _read(out)
    assert set(df[ts.MODEL]) == {"toy-gqa"} and len(df) == 4


def test_coverage_order_spans_the_grid_early():
    pre = coverage_order(Phase.PREFILL, [1, 2, 4, 8], [128, 512, 1024, 2048, 4096])
    dec = coverage_order(Phase.DECODE, [1, 4, 16, 64, 256], [128, 1024, 4096])
    order = interleave(pre, dec)
    assert len(order) == len(set(order)) == 20 + 15
    first8 = {(p.phase, p.batch_size, p.tokens) for p in order[:8]}
    corners = {(Phase.PREFILL, b, t) for b in (1, 8) for t in (128, 4096)}
    corners |= {(Phase.DECODE, b, t) for b in (1, 256) for t in (128, 4096)}
    assert first8 == corners


def test_gpu_script_dry_runs_on_cpu(tmp_path, small_trace):
    """The H100 script end to end with tiny-llama on CPU (catches typos before the one GPU shot)."""
    script = REPO / "profiler" / "capture" / "scripts" / "h100_capture.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    out = tmp_path / "out"
    env = {**os.environ, "PY": sys.executable, "DEVICE": "cpu", "MODEL": "tiny-llama",
           "DTYPE": "fp32", "HARDWARE": "cpu-test", "PREFILL_BATCHES": "1,2",
           "PROMPT_LENS": "16,256", "DECODE_BATCHES": "1,4", "CONTEXTS": "32,512",
           "REPEATS": "2", "WARMUP": "1", "CAPTURE_SECONDS": "60", "VALIDATE_SECONDS": "60",
           "TRACE": str(small_trace), "OUT": str(out), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(script)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == ["cpu-test__tiny-llama__fp32__measured.parquet",
                     "cpu-test__tiny-llama__fp32__measured.parquet.ckpt.jsonl",
                     "log.txt", "validate.json", "validate_real.parquet"]
    report = json.loads((out / "validate.json").read_text())
    assert report["requests_compared"] == 10
    assert "capture exit code: 0" in (out / "log.txt").read_text()


def test_the_dense_torch_decoder_refuses_a_mixture_of_experts():
    from phasesim.errors import InputError
    from phasesim.profiler.capture.torch_model import build_weights
    from phasesim.simulator.catalog.models import get_model

    with pytest.raises(InputError, match="mixture of experts"):
        build_weights(get_model("mixtral-8x7b"), device=torch.device("cpu"), dtype=torch.float32)
