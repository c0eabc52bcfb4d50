"""Run the phasesim simulator on the validation trace with a 1-instance colocated topology whose
batching matches ``phasesim.profiler.capture.serve_loop``: continuous batching, prefill-first with one prompt per
iteration (token budget 1: ``phasesim.simulator.batching._admit`` lets the first admission exceed it
alone), at most ``max_num_seqs`` sequences, the KV capacity of the loop's cache, the cost table
under test.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from phasesim.simulator.catalog.models import ModelSpec
from phasesim.simulator.costs import TableCostModel, read_table
from phasesim.simulator.run import simulate
from phasesim.simulator.topology import builtin_topology

__all__ = ["simulate_colocated", "SIM_COLUMNS"]

SIM_COLUMNS = ("request_id", "arrival_s", "prompt_tokens", "output_tokens", "prefill_start_s",
               "first_token_s", "finish_s", "ttft_s", "tpot_s", "e2e_s")


def simulate_colocated(trace: pd.DataFrame, *, table: Path, model: ModelSpec, hardware: str,
                       dtype: str, max_num_seqs: int, kv_capacity_tokens: int | None = None,
                       model_ref: str | None = None) -> tuple[pd.DataFrame, str]:
    """Per-request records of the simulated run (completed requests) and a one-line note.

    The table's cost model is injected (``cost_models``), so hardware outside the simulator's
    catalog (a CPU, a new accelerator) validates too; KV capacity is the loop's cache.
    ``model_ref``: the catalog name or config.json path the pool loads (default ``model.name``)."""
    df, meta = read_table(table)
    cost = TableCostModel.from_table(df, meta, model=model, validated=True)
    topology = builtin_topology(
        "gpu", gpu=hardware, model=model_ref or model.name, dtype=dtype,
        batching="continuous", max_num_seqs=max_num_seqs, kv_capacity_tokens=kv_capacity_tokens,
        max_num_batched_tokens=1)  # the first admission may exceed the budget alone: one
    # prefill per iteration, like the loop (phasesim.simulator.batching.continuous / _admit)
    result = simulate(trace.reset_index(drop=True), topology, seed=0, timeseries=False,
                      cost_models={topology.pools[0].name: cost})
    req = result.requests
    done = req[req["status"] == "completed"].loc[:, list(SIM_COLUMNS)].reset_index(drop=True)
    note = (f"simulator: topology gpu x1 ({hardware}, continuous, max_num_seqs={max_num_seqs}, "
            f"kv_capacity_tokens={kv_capacity_tokens}), {len(done)}/{len(req)} completed")
    return done, note
