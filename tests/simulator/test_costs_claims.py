"""The research claims, read off the shipped default tables (llama2-7b fp16, analytical).

- GPU TTFT below GroqRack's for prompts of 128-4096 tokens. GroqRack's context is 2,048, so
  beyond it the GroqRack figure is the table's extrapolation (its fitted per-token rate); H100
  holds over the whole range; the A100 holds from 256 tokens and is within a few per cent at 128
  (its TTFT crossover is reported by ``ttft_crossover_tokens``).
- GroqRack TPOT at batch 1 at least 3x below the GPU's.
- GPU decode throughput overtakes GroqRack's as the GPU batch grows, at a reported batch size.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from simulator.costs import (
    decode_throughput_crossover,
    decode_throughput_tokens_per_s,
    load_cost_model,
    tpot_s,
    ttft_s,
)
from simulator.costs.claims import ttft_crossover_tokens


@pytest.fixture(scope="module")
def tables():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GroqRack beyond 2,048 tokens extrapolates (documented)
        return {h: load_cost_model(hardware=h, model="llama2-7b")
                for h in ("h100-sxm", "a100-sxm-80gb", "groqrack")}


PROMPTS = [128, 192, 256, 512, 1024, 2048, 3072, 4096]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_h100_ttft_below_groqrack(tables, prompt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ttft_s(tables["h100-sxm"], prompt) < ttft_s(tables["groqrack"], prompt)


@pytest.mark.parametrize("prompt", [p for p in PROMPTS if p >= 256])
def test_a100_ttft_below_groqrack_from_256(tables, prompt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ttft_s(tables["a100-sxm-80gb"], prompt) < ttft_s(tables["groqrack"], prompt)


def test_ttft_crossover_is_reported(tables):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h100 = ttft_crossover_tokens(tables["h100-sxm"], tables["groqrack"])
        a100 = ttft_crossover_tokens(tables["a100-sxm-80gb"], tables["groqrack"])
    assert 16 <= h100 <= 128 and h100 <= a100 <= 256
    g = tables["groqrack"]
    assert ttft_s(tables["h100-sxm"], h100) < ttft_s(g, h100)
    assert ttft_s(tables["h100-sxm"], h100 - 1) >= ttft_s(g, h100 - 1)


@pytest.mark.parametrize("gpu", ["h100-sxm", "a100-sxm-80gb"])
@pytest.mark.parametrize("context", [128, 1024, 2048])
def test_groqrack_tpot_at_least_3x_below_gpu(tables, gpu, context):
    assert tpot_s(tables[gpu], context) >= 3 * tpot_s(tables["groqrack"], context)


@pytest.mark.parametrize("gpu", ["h100-sxm", "a100-sxm-80gb"])
@pytest.mark.parametrize("context", [128, 1024, 2048])
def test_gpu_decode_throughput_overtakes_groqrack(tables, gpu, context):
    g, q = tables[gpu], tables["groqrack"]
    b = decode_throughput_crossover(g, q, context)
    assert 1 < b <= g.max_batch_size
    groq_tps = decode_throughput_tokens_per_s(q, 1, context)
    assert decode_throughput_tokens_per_s(g, b, context) > groq_tps
    assert decode_throughput_tokens_per_s(g, b - 1, context) <= groq_tps
    # throughput keeps growing with batch on the GPU (monotone table)
    tps = [decode_throughput_tokens_per_s(g, k, context) for k in (1, 8, 64, 512)]
    assert np.all(np.diff(tps) > 0)


def test_h100_crosses_over_before_a100(tables):
    q = tables["groqrack"]
    assert decode_throughput_crossover(tables["h100-sxm"], q, 1024) < decode_throughput_crossover(
        tables["a100-sxm-80gb"], q, 1024)
