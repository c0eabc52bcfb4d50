"""Tensor parallelism in the analytical roofline and in KV sizing (issue 12).

Golden: an N-way memory-bound decode step of llama2-7b on an H100 costs its bytes read (weights,
elementwise, LM head, KV) at N x the bandwidth plus 2 ring all-reduces per layer, computed by hand
below with all efficiencies 1 and no fixed overheads.
"""

from __future__ import annotations

import numpy as np
import pytest

from phasesim.errors import InputError
from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.catalog.models import get_model
from phasesim.simulator.costs import kv_capacity_tokens, min_tensor_parallel
from phasesim.simulator.costs.roofline import (
    ALLREDUCE_HOP_LATENCY_S,
    RooflineConstants,
    analytical_cost_model,
    build_analytical_table,
    decode_step_time_s,
)

IDEAL = RooflineConstants(gemm_efficiency=1.0, memory_efficiency=1.0, attention_efficiency=1.0,
                          kv_read_efficiency=1.0, layer_overhead_s=0.0, pass_overhead_s=0.0)

# llama2-7b, fp16, by hand: per layer q,o 2*4096*4096 + k,v 2*4096*4096 + MLP 3*4096*11008
# = 202,375,168 params; x 32 layers x 2 bytes:
WEIGHT_BYTES = 12_952_010_752
ELEMENTWISE_BYTES = (12 * 4096 + 4 * 11008) * 2 * 32  # one token: 5,963,776
LM_HEAD_BYTES = 32_000 * 4096 * 2  # 262,144,000
KV_BYTES = 2 * 32 * 32 * 128 * 2 * 1024  # K and V, 32 layers x 32 heads x 128, 1,024 tokens
BYTES = WEIGHT_BYTES + ELEMENTWISE_BYTES + LM_HEAD_BYTES + KV_BYTES  # 13,756,989,440
H100_BW = 3.35e12
# one all-reduce of one token's activations (4096 x 2 bytes) over NVLink 4 at 450 GB/s one way
# (900 GB/s both directions), 1 us per ring step (assumption):
ALLREDUCE_TP2 = 2 * 1 / 2 * 8192 / 450e9 + 2 * 1 * 1e-6  # 2.0182e-06 s
ALLREDUCE_TP4 = 2 * 3 / 4 * 8192 / 450e9 + 2 * 3 * 1e-6  # 6.0273e-06 s
LAYERS_X_2 = 64  # two all-reduces per layer (attention output, MLP down projection)


@pytest.mark.parametrize(("tp", "allreduce_s", "expected_s"), [
    (1, 0.0, 4.106564e-03),
    (2, ALLREDUCE_TP2, 2.053282e-03 + 1.291651e-04),
    (4, ALLREDUCE_TP4, 1.026641e-03 + 3.857476e-04),
])
def test_memory_bound_decode_step_is_bytes_over_n_plus_allreduces(tp, allreduce_s, expected_s):
    assert ALLREDUCE_HOP_LATENCY_S == 1e-6
    hw, llama = get_hardware("h100-sxm"), get_model("llama2-7b")
    step = decode_step_time_s(hw, llama, "fp16", np.array([1.0]), np.array([1024.0]), IDEAL, tp)[0]
    by_hand = BYTES / (tp * H100_BW) + LAYERS_X_2 * allreduce_s
    assert by_hand == pytest.approx(expected_s, rel=1e-6)  # the literals above are this sum
    # the matmul FLOPs at batch 1 are 0.3 % of the byte time: hypot adds < 1e-5 relative
    assert step == pytest.approx(by_hand, rel=2e-5)


def test_kv_capacity_scales_by_n():
    weights = get_model("llama2-7b").param_bytes("fp16")
    per_token = get_model("llama2-7b").kv_bytes_per_token("fp16")
    one = kv_capacity_tokens(hardware="h100-sxm", model="llama2-7b")
    for n in (2, 4, 8):
        cap = kv_capacity_tokens(hardware="h100-sxm", model="llama2-7b", tensor_parallel=n)
        assert cap == int((n * 80e9 * 0.9 - weights) // per_token)
        assert cap >= n * one  # N x the memory, one copy of the weights


@pytest.mark.parametrize(("model", "least"), [("llama3-70b", 2), ("qwen2-72b", 4),
                                              ("mixtral-8x7b", 2), ("llama2-7b", 1)])
def test_models_too_big_for_one_h100_name_their_minimum_tp(model, least):
    assert min_tensor_parallel(hardware="h100-sxm", model=model) == least
    if least > 1:
        with pytest.raises(InputError, match=rf"needs tensor_parallel >= {least} \(--tp {least}\)"):
            kv_capacity_tokens(hardware="h100-sxm", model=model)
        assert kv_capacity_tokens(hardware="h100-sxm", model=model, tensor_parallel=least) > 0


def test_tp_does_not_apply_to_groq_and_must_divide_the_heads():
    with pytest.raises(InputError, match="does not apply to groqrack"):
        build_analytical_table(hardware="groqrack", model="llama2-7b", tensor_parallel=2)
    with pytest.raises(InputError, match="does not apply to groqrack"):
        kv_capacity_tokens(hardware="groqrack", model="llama2-7b", tensor_parallel=2)
    with pytest.raises(InputError, match="does not divide llama2-7b's 32 attention heads"):
        kv_capacity_tokens(hardware="h100-sxm", model="llama2-7b", tensor_parallel=3)


def test_the_built_table_is_labelled_analytical_with_its_degree():
    model = analytical_cost_model(hardware="h100-sxm", model="llama3-70b", tensor_parallel=4)
    assert model.name == "h100-sxm__llama3-70b__fp16__analytical__tp4"
    assert model.tensor_parallel == 4 and model.source.value == "analytical"
    assert analytical_cost_model(hardware="h100-sxm", model="llama3-70b", tensor_parallel=4) is model


def test_engine_fitted_allreduce_terms_enter_as_computed_by_hand():
    """An engine's fit brings its own all-reduce: a fraction of the link's one-way bandwidth and a
    per-ring-step latency (here 0.4 and 3 us at TP 4 over NVLink 4)."""
    from dataclasses import replace

    c = replace(IDEAL, allreduce_efficiency=0.4, allreduce_hop_latency_s=3e-6)
    hw, llama = get_hardware("h100-sxm"), get_model("llama2-7b")
    step = decode_step_time_s(hw, llama, "fp16", np.array([1.0]), np.array([1024.0]), c, 4)[0]
    allreduce = 2 * 3 / 4 * 8192 / (450e9 * 0.4) + 2 * 3 * 3e-6  # 1.80683e-05 s
    assert allreduce == pytest.approx(1.80683e-05, rel=1e-5)
    assert step == pytest.approx(BYTES / (4 * H100_BW) + LAYERS_X_2 * allreduce, rel=2e-5)
