"""Maintainer script: the numbers of docs/results.md's section 1 (and README's "What the defaults
say"), read off the tables `sim replay` and `sim latency` use by default (each hardware with its
default engine), Llama-2-7B fp16.

    python tools/phases_numbers.py

Prints TTFT of a lone request by prompt length, TPOT / decode throughput by batch size at a
1,024-token context up to the KV limit, and the crossovers against GroqRack: the prompt length
from which the GPU's TTFT is below GroqRack's and the batch at which its decode throughput passes
GroqRack's (context 128 / 1,024 / 2,048; 0 = never).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from phasesim.simulator.catalog.hardware import get_hardware
from phasesim.simulator.costs import decode_throughput_crossover, kv_capacity_tokens, ttft_s
from phasesim.simulator.costs.claims import ttft_crossover_tokens
from phasesim.simulator.costs.resolve import resolve_table

HARDWARE = ("a100-sxm-80gb", "h100-sxm", "gh200", "mi300x", "mi250", "gaudi2", "sn40l", "max1550",
            "groqrack")
MODEL = "llama2-7b"


def main() -> None:
    warnings.simplefilter("ignore")  # GroqRack beyond its 2,048-token context extrapolates
    tables = {h: resolve_table(hardware=h, model=MODEL) for h in HARDWARE}
    cost = {h: t.cost_model for h, t in tables.items()}
    groq = cost["groqrack"]
    for h in HARDWARE:
        print(f"{h}: engine {tables[h].engine}, table {cost[h].name}")
    print("\nTTFT (ms) by prompt tokens:", *HARDWARE)
    for prompt in (16, 64, 128, 256, 512, 1024, 2048, 4096):
        cells = []
        for h in HARDWARE:
            limit = get_hardware(h).max_context_tokens
            cells.append("rejected" if limit and prompt > limit else f"{ttft_s(cost[h], prompt) * 1e3:.1f}")
        print(prompt, *cells)
    print("\ndecode at a 1,024-token context: batch: TPOT ms / tokens/s")
    for h in HARDWARE:
        kv = kv_capacity_tokens(hardware=h, model=MODEL, dtype="fp16")
        limit = min(get_hardware(h).max_batch_size, kv // 1024)
        cells = []
        for batch in sorted({b for b in (1, 8, 16, 32, 64) if b <= limit} | {limit}):
            step = cost[h].decode_step_times_s(batch, np.array([1024.0]))[0]
            cells.append(f"{batch}: {step * 1e3:.2f} / {batch / step:.0f}")
        print(h, f"(KV limit {limit})", *cells)
    print("\ncrossovers against groqrack")
    for h in HARDWARE[:-1]:
        tokens = ttft_crossover_tokens(cost[h], groq)
        print(h, f"TTFT below from {tokens} tokens" if tokens else "TTFT never below",
              "; decode passes at batch", [decode_throughput_crossover(cost[h], groq, c)
                                           for c in (128, 1024, 2048)])


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog=__doc__).parse_args()
    main()
