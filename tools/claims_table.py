"""Maintainer script (not part of the wheel): the figures behind docs/calibration.md "What the
defaults say": each hardware with its default engine, as `sim replay` resolves it, llama2-7b fp16.

    python tools/claims_table.py
"""

from __future__ import annotations

import warnings

from phasesim.cli.cost_tables import resolve_cost_model
from phasesim.simulator.costs import (
    decode_throughput_crossover,
    decode_throughput_tokens_per_s,
    tpot_s,
    ttft_s,
)
from phasesim.simulator.costs.claims import ttft_crossover_tokens

HARDWARE = ("h100-sxm", "a100-sxm-80gb", "gh200", "mi300x", "mi250", "gaudi2", "sn40l", "max1550",
            "groqrack")


def main() -> None:
    warnings.simplefilter("ignore")  # GroqRack beyond its 2,048-token context extrapolates
    tables = {h: resolve_cost_model(hardware=h, model="llama2-7b") for h in HARDWARE}
    models = {h: r.cost_model for h, r in tables.items()}
    groq = models["groqrack"]
    print("TTFT ms | prompt | " + " | ".join(f"{h} {tables[h].engine}" for h in HARDWARE))
    for prompt in (16, 64, 128, 256, 512, 1024, 2048, 4096):
        print(prompt, *(f"{ttft_s(models[h], prompt) * 1e3:.1f}" for h in HARDWARE))
    print("TPOT ms, batch 1, context 1,024:",
          ", ".join(f"{h} {tpot_s(models[h], 1024) * 1e3:.2f}" for h in HARDWARE))
    for h in HARDWARE[:-1]:
        crossings = [decode_throughput_crossover(models[h], groq, c) for c in (128, 1024, 2048)]
        print(f"{h}: TTFT below GroqRack from {ttft_crossover_tokens(models[h], groq)} tokens "
              f"(0: never); decode overtakes GroqRack at batch {crossings} (context 128/1024/2048; "
              f"0: never); {decode_throughput_tokens_per_s(models[h], 256, 1024):.0f} tokens/s at "
              "batch 256, context 1,024")


if __name__ == "__main__":
    main()
