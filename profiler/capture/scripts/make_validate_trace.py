"""Regenerate ``validate_trace.parquet``: the short trace ``profiler validate`` replays on a GPU.

50 requests drawn (seed 7) from the Azure LLM inference trace 2023, code sample
(``AzureLLMInferenceTrace_code.csv``: prompt/output token counts), clipped to fit llama2-7b's
4096-token context (prompt <= 3744, output <= 256), arriving as a Poisson process of 50/60 req/s
(seed 7) so the trace lasts about a minute.

    python profiler/capture/scripts/make_validate_trace.py ../shared/data/traces/AzureLLMInferenceTrace_code.csv
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

N_REQUESTS = 50
DURATION_S = 60.0
MAX_PROMPT = 3744
MAX_OUTPUT = 256
SEED = 7


def main(csv_path: str) -> None:
    src = pd.read_csv(csv_path)
    rng = np.random.default_rng(SEED)
    rows = src.iloc[np.sort(rng.choice(len(src), size=N_REQUESTS, replace=False))]
    gaps = rng.exponential(DURATION_S / N_REQUESTS, size=N_REQUESTS)
    arrival = np.round(np.cumsum(gaps) - gaps[0], 6)
    df = pd.DataFrame({
        "request_id": np.arange(N_REQUESTS, dtype=np.int64),
        "arrival_s": arrival.astype(np.float64),
        "prompt_tokens": np.minimum(rows["ContextTokens"].to_numpy(), MAX_PROMPT).astype(np.int64),
        "output_tokens": np.minimum(rows["GeneratedTokens"].to_numpy(), MAX_OUTPUT).astype(np.int64),
    })
    meta = {"schema_version": "1", "source": {
        "name": "azure_code_2023 sample for profiler validate",
        "file": Path(csv_path).name, "seed": SEED, "n": N_REQUESTS,
        "arrivals": f"poisson {N_REQUESTS}/{DURATION_S:g} req/s",
        "clip": {"prompt_tokens": MAX_PROMPT, "output_tokens": MAX_OUTPUT}},
        "prefix_block_tokens": None, "transforms": []}
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({b"phasesim.trace": json.dumps(meta, sort_keys=True).encode()})
    out = Path(__file__).with_name("validate_trace.parquet")
    pq.write_table(table, out)
    print(out, len(df), df.describe().to_string())


if __name__ == "__main__":
    main(sys.argv[1])
