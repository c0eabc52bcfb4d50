"""Model catalog: published parameter counts, KV bytes, and the mixture-of-experts weight model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasesim.errors import InputError
from phasesim.simulator.catalog import MODELS, ModelSpec, get_model, model_from_hf_config

# Parameter counts as the model cards / safetensors indexes give them (billions, 3 decimals).
PUBLISHED_PARAMS_B = {"llama2-7b": 6.738, "llama2-70b": 68.977, "llama3-8b": 8.030, "llama3.1-8b": 8.030,
                      "llama3-70b": 70.554, "mistral-7b": 7.242, "qwen2-7b": 7.616, "qwen2-72b": 72.706,
                      "mixtral-8x7b": 46.703}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS_B))
def test_parameter_counts_match_the_published_ones(name):
    assert get_model(name).param_count / 1e9 == pytest.approx(PUBLISHED_PARAMS_B[name], abs=5e-4)


def test_new_models_architecture():
    assert get_model("llama3.1-8b").max_context_tokens == 131072
    assert get_model("llama3.1-8b").kv_bytes_per_token("fp16") == get_model("llama3-8b").kv_bytes_per_token("fp16")
    assert get_model("qwen2-7b").kv_bytes_per_token("fp16") == 2 * 28 * 4 * 128 * 2  # 4 KV heads: 56 KiB
    assert get_model("llama3-70b").kv_bytes_per_token("fp16") == 320 * 1024
    assert get_model("qwen2-72b").attention_bias and not get_model("llama3-70b").attention_bias


def test_dense_models_are_unchanged_by_the_moe_fields():
    for spec in MODELS.values():
        if not spec.is_moe:
            assert spec.active_param_count == spec.param_count
            assert spec.weight_bytes_touched(1, "fp16") == spec.weight_bytes_touched(512, "fp16")
            # untied: the embedding and LM head are not counted; tied: the one table is (the LM
            # head reads it)
            untied = 0 if spec.tied_embeddings else 2 * spec.vocab * spec.hidden
            assert spec.weight_bytes_touched(1, "fp16") == spec.param_bytes("fp16") - untied


def test_mixtral_active_parameters():
    mix = get_model("mixtral-8x7b")
    assert mix.is_moe and (mix.experts, mix.experts_per_token) == (8, 2)
    assert mix.active_param_count / 1e9 == pytest.approx(12.88, abs=0.01)  # "12.9B active"
    assert mix.flops_per_token_linear() == 2 * (mix.active_param_count - mix.vocab * mix.hidden)


def test_expected_experts_touched_closed_form():
    mix = get_model("mixtral-8x7b")
    assert mix.expected_experts_touched(0) == 0.0
    assert mix.expected_experts_touched(1) == pytest.approx(2.0)  # exactly k
    assert mix.expected_experts_touched(2) == pytest.approx(8 * (1 - 0.75**2))  # 3.5
    assert mix.expected_experts_touched(8) == pytest.approx(7.199, abs=1e-3)
    assert mix.expected_experts_touched(256) == pytest.approx(8.0)
    batch = np.array([1, 2, 8])
    assert np.allclose(mix.expected_experts_touched(batch), [2.0, 3.5, 8 * (1 - 0.75**8)])
    dense = get_model("llama3-8b")
    assert dense.expected_experts_touched(5) == 1.0 and dense.expected_experts_touched(0) == 0.0
    assert dense.expected_experts_touched(np.array([0, 1, 64])).tolist() == [0.0, 1.0, 1.0]


def test_expected_experts_touched_matches_a_routing_simulation():
    """Uniform routing, drawn: each token picks k distinct experts out of E."""
    mix = get_model("mixtral-8x7b")
    rng = np.random.default_rng(7)
    for batch in (1, 3, 16):
        draws = [len({int(e) for _ in range(batch) for e in rng.choice(8, size=2, replace=False)})
                 for _ in range(4000)]
        assert np.mean(draws) == pytest.approx(mix.expected_experts_touched(batch), abs=0.05)


def test_mixtral_weight_bytes_per_decode_step():
    mix = get_model("mixtral-8x7b")
    expert = 3 * mix.hidden * mix.ffn * 2  # bytes of one expert in fp16
    one, eight = mix.weight_bytes_touched(1, "fp16"), mix.weight_bytes_touched(10_000, "fp16")
    assert eight - one == pytest.approx(mix.layers * 6 * expert, rel=1e-9)  # 2 -> 8 experts a layer
    # all experts touched: every weight but the embedding table
    assert eight == pytest.approx(mix.param_bytes("fp16") - mix.vocab * mix.hidden * 2, rel=1e-9)


@given(st.integers(min_value=1, max_value=4096))
def test_weight_bytes_grow_with_batch_and_stay_bounded(batch):
    mix = get_model("mixtral-8x7b")
    lo, hi = mix.weight_bytes_touched(1, "fp16"), mix.weight_bytes_touched(10_000, "fp16")
    here = mix.weight_bytes_touched(batch, "fp16")
    assert lo - 1 <= here <= hi + 1
    assert mix.weight_bytes_touched(batch + 1, "fp16") >= here


def test_bad_moe_fields():
    with pytest.raises(InputError, match="experts_per_token"):
        ModelSpec(name="x", layers=1, hidden=8, heads=1, kv_heads=1, head_dim=8, ffn=8, vocab=8,
                  max_context_tokens=8, experts=4, experts_per_token=5)


def test_hf_config_reads_moe_and_qwen2_bias(tmp_path):
    base = {"num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
            "intermediate_size": 14336, "vocab_size": 32000, "max_position_embeddings": 32768}
    path = tmp_path / "mixtral" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps({**base, "num_local_experts": 8, "num_experts_per_tok": 2}))
    spec = model_from_hf_config(path)
    assert (spec.experts, spec.experts_per_token) == (8, 2)
    assert spec.param_count == get_model("mixtral-8x7b").param_count
    path.write_text(json.dumps({**base, "num_local_experts": 8}))
    with pytest.raises(InputError, match="num_experts_per_tok"):
        model_from_hf_config(path)
    qwen = {"num_hidden_layers": 28, "hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4,
            "intermediate_size": 18944, "vocab_size": 152064, "max_position_embeddings": 131072,
            "model_type": "qwen2"}
    path.write_text(json.dumps(qwen))
    spec = model_from_hf_config(path)
    assert spec.attention_bias and spec.param_count == get_model("qwen2-7b").param_count
