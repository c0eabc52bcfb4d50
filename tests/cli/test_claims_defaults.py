"""The research claims on the NEW defaults (issue 12): every hardware with its default engine, as
`sim replay` and `sim latency` resolve it (vLLM on the GPUs, built from the (hardware, vllm)
constants `profiler fit` calibrated on LLM-Inference-Bench; Groq's stack on GroqRack), llama2-7b
fp16, prompts of 128 tokens and up:

- GPU TTFT below GroqRack's (beyond GroqRack's 2,048-token context its figure is the table's
  extrapolation);
- GroqRack batch-1 TPOT several (>= 3) times below the GPU's;
- GPU decode throughput overtakes GroqRack's as the batch grows, at a reported batch.

They hold from 128 tokens on the H100 and the A100. Where the calibrated numbers disagree, the
test pins the disagreement that docs/calibration.md reports with its evidence, so a recalibration
that changes it fails here and the docs must change with it:

- GH200 (vLLM): TTFT below GroqRack's from ~148 tokens, not 128 (17.7 vs 15.7 ms at 128): its
  fitted per-prefill-pass overhead (10.0 ms, against 0.5 ms on the H100) is pinned only by
  end-to-end rows and two TTFT rows of 16 x 1,024 tokens, so a lone short prompt carries it;
- MI300X (vLLM): TTFT above GroqRack's at every length: the data's vLLM-on-ROCm prefill is ~6x
  the H100's (16 x 1,024-token prompts: TTFT 2.49 s vs 0.43 s measured): GEMM at 6 % of peak
  and a 94 ms per-prefill overhead in the fit.

Issue 20's refit moved three pinned disagreements, updated here with docs/calibration.md (the
claims themselves, the assertions below, are unchanged): with the query-head work of decode
attention separated from KV bytes, the KV-read efficiency is no longer fitted at 0.36 (A100) and
0.08 (MI300X), so the A100 now overtakes GroqRack's decode throughput at a 2,048-token context
too (batch 39) and the MI300X at 1,024 and 2,048 (batch 10, 14): the third claim now holds on
every GPU at every context; and the GH200's TTFT crossover moved from ~58 to ~132 tokens (its
short-prompt prefill is the weakest-pinned number of its fit, above).

Reading the data's A100s as the 40 GB parts they are (1.555 TB/s; docs/calibration.md, the
80 GB entry runs on their fits) moved the A100's TTFT crossover from ~150 to ~121 tokens
(15.1 vs 15.7 ms at 128): the first claim now holds there from 128 tokens too.

None of the constants behind these tables was fitted on Llama-2-7B (those rows are withheld) or
tuned toward a claim.
"""

from __future__ import annotations

import warnings

import pytest

from phasesim.simulator.costs import decode_throughput_crossover, tpot_s, ttft_s
from phasesim.simulator.costs.claims import ttft_crossover_tokens
from phasesim.simulator.costs.resolve import resolve_table
from phasesim.simulator.costs.roofline import SAME_DIE

GPUS = ("h100-sxm", "a100-sxm-80gb", "gh200", "mi300x")
PROMPTS = [128, 192, 256, 512, 1024, 2048, 3072, 4096]
# the shortest prompt from which the GPU's TTFT stays below GroqRack's (0: never), and the
# contexts at which its decode throughput overtakes GroqRack's
TTFT_FROM = {"h100-sxm": 128, "gh200": 192, "a100-sxm-80gb": 128, "mi300x": 0}
DECODE_OVERTAKES = {"h100-sxm": (128, 1024, 2048), "gh200": (128, 1024, 2048),
                    "a100-sxm-80gb": (128, 1024, 2048), "mi300x": (128, 1024, 2048)}


@pytest.fixture(scope="module")
def tables():
    return {h: resolve_table(hardware=h, model="llama2-7b") for h in (*GPUS, "groqrack")}


def test_defaults_are_the_calibrated_engines(tables):
    for h in GPUS:
        assert tables[h].engine == "vllm" and tables[h].uncalibrated is None
        # the 80 GB A100 runs on the fit of the data's 40 GB A100s (same die: roofline.SAME_DIE)
        assert tables[h].cost_model.meta["calibrated_on"] == f"{SAME_DIE.get(h, h)}/vllm"
    assert tables["groqrack"].engine == "groq"


@pytest.mark.parametrize("gpu", GPUS)
@pytest.mark.parametrize("prompt", PROMPTS)
def test_gpu_ttft_against_groqrack(tables, gpu, prompt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GroqRack beyond 2,048 tokens extrapolates
        below = ttft_s(tables[gpu].cost_model, prompt) < ttft_s(tables["groqrack"].cost_model, prompt)
    assert below == (0 < TTFT_FROM[gpu] <= prompt)


@pytest.mark.parametrize("gpu", GPUS)
def test_ttft_crossover(tables, gpu):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokens = ttft_crossover_tokens(tables[gpu].cost_model, tables["groqrack"].cost_model)
    if TTFT_FROM[gpu] == 0:
        assert tokens == 0
    elif TTFT_FROM[gpu] == 128:
        assert 1 <= tokens <= 128
    else:  # the claim holds later than 128 tokens
        assert 128 < tokens <= TTFT_FROM[gpu]


@pytest.mark.parametrize("gpu", GPUS)
@pytest.mark.parametrize("context", [128, 1024, 2048])
def test_groqrack_batch1_tpot_several_times_below_the_gpu(tables, gpu, context):
    groq = tpot_s(tables["groqrack"].cost_model, context)
    assert 3 * groq < tpot_s(tables[gpu].cost_model, context)


@pytest.mark.parametrize("gpu", GPUS)
@pytest.mark.parametrize("context", [128, 1024, 2048])
def test_gpu_decode_throughput_against_groqrack(tables, gpu, context):
    batch = decode_throughput_crossover(tables[gpu].cost_model, tables["groqrack"].cost_model, context)
    if context in DECODE_OVERTAKES[gpu]:
        assert 2 <= batch <= 64  # reported in docs/calibration.md
    else:
        assert batch == 0
