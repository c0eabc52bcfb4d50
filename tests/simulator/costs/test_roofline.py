"""Analytical backend: roofline physics, grids, calibration reproducibility, shipped defaults."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from phasesim.profiler.calibrate.kernel_fit import (
    REFERENCE_DIR,
    compare_to_measured,
    condense_kernel_references,
    fit_kernel_constants,
    render_kernel_fit_tables,
)
from phasesim.simulator import table_schema as ts
from phasesim.simulator.catalog import HARDWARE, MODELS, get_hardware, get_model
from phasesim.simulator.costs import write_table
from phasesim.simulator.costs.roofline import (
    CONSTANTS_PATH,
    build_analytical_table,
    engine_pair,
    token_grid,
    uncalibrated_reason,
)
from phasesim.simulator.costs.shipped import TABLES_DIR

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO / ".." / "shared" / "data" / "reference"
LLAMA = get_model("llama2-7b")


def phase(df, p):
    return df[df[ts.PHASE] == p]


def test_token_grid():
    assert token_grid(4096)[:6] == [16, 24, 32, 48, 64, 96]
    assert token_grid(4096)[-2:] == [3072, 4096]
    assert token_grid(2000)[-1] == 2000 and len(set(token_grid(2000))) == len(token_grid(2000))


@pytest.mark.parametrize("hardware", sorted(HARDWARE))
@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_catalog_pair_builds_a_valid_table(tmp_path, hardware, model):
    df, meta = build_analytical_table(hardware=hardware, model=model)
    write_table(df, meta, tmp_path / "t.parquet")  # validates: positive, unique, both phases
    assert meta["source"] == "analytical" and meta["calibration"]
    assert meta["engine"] == "analytical"
    groq = get_hardware(hardware).max_batch_size == 1
    assert phase(df, "decode")[ts.BATCH_SIZE].max() == (1 if groq else 512)
    assert df[ts.TOKENS].max() == meta["max_context_tokens"]


def test_roofline_bounds_h100():
    hw = get_hardware("h100-sxm")
    df, _ = build_analytical_table(hardware="h100-sxm", model="llama2-7b")
    dec = phase(df, "decode").set_index([ts.BATCH_SIZE, ts.TOKENS])[ts.LATENCY_S]
    weights_s = LLAMA.param_bytes("fp16") / hw.memory_bandwidth_bytes_per_s
    assert dec[(1, 16)] > weights_s  # memory bound: at least the weight read at peak bandwidth
    assert dec[(1, 16)] < 4 * weights_s
    # KV reads: context growth costs at least kv bytes / peak bandwidth per token of context
    kv_slope = (dec[(64, 4096)] - dec[(64, 16)]) / (64 * (4096 - 16))
    assert kv_slope > LLAMA.kv_bytes_per_token("fp16") / hw.memory_bandwidth_bytes_per_s
    pre = phase(df, "prefill").set_index([ts.BATCH_SIZE, ts.TOKENS])[ts.LATENCY_S]
    flops = LLAMA.flops_per_token_linear() * 64 * 4096
    assert pre[(64, 4096)] > flops / hw.peak_flops_fp16  # compute bound: above peak FLOPs time
    assert pre[(64, 4096)] < 3 * flops / hw.peak_flops_fp16
    # batching decode is nearly free at small batch (weights read once), prefill is not
    assert dec[(8, 1024)] < 1.5 * dec[(1, 1024)]
    assert pre[(8, 2048)] > 6 * pre[(1, 2048)]


def test_tensor_parallel_speeds_up_big_prefill():
    one, _ = build_analytical_table(hardware="h100-sxm", model="llama2-70b")
    four, meta = build_analytical_table(hardware="h100-sxm", model="llama2-70b", tensor_parallel=4)
    assert (four[ts.TENSOR_PARALLEL] == 4).all() and "--tensor-parallel 4" in meta["capture"]["command"]
    key = (one[ts.PHASE] == "prefill") & (one[ts.BATCH_SIZE] == 8) & (one[ts.TOKENS] == 2048)
    assert four.loc[key, ts.LATENCY_S].iloc[0] < 0.4 * one.loc[key, ts.LATENCY_S].iloc[0]


def test_groqrack_calibrated_to_published_rate():
    df, meta = build_analytical_table(hardware="groqrack", model="llama2-7b")
    assert set(df[ts.BATCH_SIZE]) == {1} and df[ts.TOKENS].max() == 2048
    dec = phase(df, "decode").set_index(ts.TOKENS)[ts.LATENCY_S]
    assert dec[1024] == pytest.approx(1 / 750, rel=1e-3)
    assert dec[2048] - dec[16] < 0.01 * dec[16]  # SRAM reads: context barely matters
    pre = phase(df, "prefill").set_index(ts.TOKENS)[ts.LATENCY_S]
    assert pre[2048] / pre[1024] == pytest.approx(2.0, rel=0.1)  # compute bound, linear in tokens
    assert meta["calibration"]["groq-published"]["mean_abs_pct_error"] < 0.5


def test_borrowed_constants_are_flagged():
    _, meta = build_analytical_table(hardware="h200", model="llama2-7b")
    assert meta["calibrated_on"] == "h100-sxm"
    assert any("uncalibrated" in p for p in meta["provenance"])


def test_kernel_fit_is_reproducible_from_the_shipped_reference_data():
    committed = json.loads(CONSTANTS_PATH.read_text())
    fresh = fit_kernel_constants(REFERENCE_DIR, date=committed["date"])
    assert json.loads(json.dumps(fresh)) == committed


def test_docs_show_the_committed_kernel_fit_errors():
    committed = json.loads(CONSTANTS_PATH.read_text())
    assert render_kernel_fit_tables(committed) in (REPO / "docs" / "calibration.md").read_text()


def _maintainer_script(name: str):
    """A script of tools/ (outside the wheel), loaded as a module."""
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_defaults_are_regenerated_byte_for_byte(tmp_path, capsys):
    script = _maintainer_script("make_default_tables")
    script.main(tmp_path)
    for hardware, model, dtype, engine in script.DEFAULTS:
        name = f"{hardware}__{model}__{dtype}__{engine}__analytical.parquet"
        assert (tmp_path / name).read_bytes() == (TABLES_DIR / name).read_bytes(), name


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared reference data not present")
def test_condensed_reference_data_matches_shared(tmp_path):
    condense_kernel_references(SHARED, tmp_path)
    for f in tmp_path.iterdir():
        assert f.read_bytes() == (REFERENCE_DIR / f.name).read_bytes(), f.name


def test_compare_to_measured_reports_per_phase_error(tmp_path):
    df, meta = build_analytical_table(hardware="a100-sxm-80gb", model="llama2-7b")
    keep = df[ts.BATCH_SIZE].isin([1, 8]) & df[ts.TOKENS].isin([128, 2048])
    slow = df[keep].assign(**{ts.LATENCY_S: df.loc[keep, ts.LATENCY_S] * 1.25})
    write_table(slow, dict(meta, source="measured"), tmp_path / "m.parquet")
    report = compare_to_measured(tmp_path / "m.parquet")
    for p in ("prefill", "decode"):
        assert report[p]["points"] == 4
        assert report[p]["mean_abs_pct_error"] == pytest.approx(20.0, abs=0.01)  # 1/1.25 - 1


def test_moe_decode_reads_the_experts_its_batch_touches():
    """Mixtral: batch 1 streams ~2 experts a layer, a big batch all 8 (uniform routing)."""
    hw, mix = get_hardware("h100-sxm"), get_model("mixtral-8x7b")
    df, _ = build_analytical_table(hardware="h100-sxm", model="mixtral-8x7b", tensor_parallel=2)
    dec = phase(df, "decode").set_index([ts.BATCH_SIZE, ts.TOKENS])[ts.LATENCY_S]
    bw = 2 * hw.memory_bandwidth_bytes_per_s
    assert dec[(1, 16)] > mix.weight_bytes_touched(1, "fp16") / bw
    assert dec[(1, 16)] < mix.param_bytes("fp16") / bw  # far below reading every expert
    touched = (mix.weight_bytes_touched(64, "fp16") - mix.weight_bytes_touched(1, "fp16")) / bw
    assert dec[(64, 16)] - dec[(1, 16)] > touched  # the extra experts, at least at peak bandwidth
    pre = phase(df, "prefill").set_index([ts.BATCH_SIZE, ts.TOKENS])[ts.LATENCY_S]
    dense_flops = 2 * (mix.param_count - mix.vocab * mix.hidden)  # if every expert ran on every token
    assert pre[(8, 2048)] < 8 * 2048 * dense_flops / (2 * hw.peak_flops_fp16)


def test_identical_prompts_route_every_copy_to_the_same_experts():
    """A batch of copies of one prompt (LLM-Inference-Bench's TensorRT-LLM/DeepSpeed runs): a
    Mixtral decode step reads one token's experts at any batch, so the batch adds only its
    per-sequence work; a prefill routes each prompt's own tokens; a dense model is unchanged."""
    hw, mix = get_hardware("h100-sxm"), get_model("mixtral-8x7b")
    alike, meta = build_analytical_table(hardware="h100-sxm", model="mixtral-8x7b", tensor_parallel=2,
                                         identical_prompts=True)
    apart, other = build_analytical_table(hardware="h100-sxm", model="mixtral-8x7b", tensor_parallel=2)
    assert meta["identical_prompts"] is True and "identical_prompts" not in other
    dec_a = phase(alike, "decode").set_index([ts.BATCH_SIZE, ts.TOKENS])[ts.LATENCY_S]
    dec_i = phase(apart, "decode").set_index([ts.BATCH_SIZE, ts.TOKENS])[ts.LATENCY_S]
    assert dec_a[(1, 16)] == dec_i[(1, 16)]  # one sequence: nothing to share
    bw = 2 * hw.memory_bandwidth_bytes_per_s
    six_experts = (mix.weight_bytes_touched(64, "fp16") - mix.weight_bytes_touched(1, "fp16")) / bw
    assert dec_i[(64, 16)] - dec_a[(64, 16)] > six_experts  # the experts copies never read
    assert dec_a[(64, 16)] - dec_a[(1, 16)] < 0.2 * (dec_i[(64, 16)] - dec_i[(1, 16)])
    pre_a = phase(alike, "prefill").set_index([ts.BATCH_SIZE, ts.TOKENS])[ts.LATENCY_S]
    pre_i = phase(apart, "prefill").set_index([ts.BATCH_SIZE, ts.TOKENS])[ts.LATENCY_S]
    assert pre_a[(8, 2048)] == pytest.approx(pre_i[(8, 2048)], rel=1e-9)  # 2,048 tokens touch all 8
    assert pre_a[(8, 16)] < pre_i[(8, 16)]  # 16 tokens a prompt: fewer experts than 128 would
    dense_a, _ = build_analytical_table(hardware="h100-sxm", model="llama3-8b", identical_prompts=True)
    dense_i, _ = build_analytical_table(hardware="h100-sxm", model="llama3-8b")
    assert dense_a[ts.LATENCY_S].tolist() == dense_i[ts.LATENCY_S].tolist()


def test_the_80gb_a100_runs_on_the_40gb_parts_engine_fit():
    """Same die, memory aside (roofline.SAME_DIE): a pair fitted only on the 40 GB A100 builds
    the 80 GB entry's table, against the 80 GB datasheet, and says whose fit it is."""
    shipped = json.loads((TABLES_DIR / "engine_calibration.json").read_text())
    doc = {"pairs": {"a100-sxm-40gb/vllm": shipped["pairs"]["a100-sxm-40gb/vllm"]}}
    assert engine_pair("a100-sxm-80gb", "vllm", doc)[0] == "a100-sxm-40gb/vllm"
    assert engine_pair("h100-sxm", "vllm", doc) == ("h100-sxm/vllm", None)
    assert uncalibrated_reason("a100-sxm-80gb", "vllm", doc) is None
    big, meta = build_analytical_table(hardware="a100-sxm-80gb", model="llama3-8b", engine="vllm",
                                       engine_calibration=doc)
    small, _ = build_analytical_table(hardware="a100-sxm-40gb", model="llama3-8b", engine="vllm",
                                      engine_calibration=doc)
    assert meta["calibrated_on"] == "a100-sxm-40gb/vllm"
    decode = (big[ts.PHASE] == "decode") & (big[ts.BATCH_SIZE] == 1)
    # batch-1 decode streams the weights: faster on the 2.039 TB/s part than on the 1.555 TB/s one
    fast = big.loc[decode, ts.LATENCY_S].to_numpy()
    assert (fast < small.loc[decode, ts.LATENCY_S].to_numpy()).all()
