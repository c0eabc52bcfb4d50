"""Cost models and cost tables.

``CostModel`` (and its optional ``FastPaths``) is the interface the engine sees (``interface``);
``ConstantCostModel`` / ``FunctionCostModel`` implement it in closed form (``closed_form``).
``read_table`` / ``write_table`` speak the schema of ``phasesim.simulator.table_schema``;
``TableCostModel`` interpolates a table; ``load_cost_model`` picks the best shipped table
(measured > published > analytical); ``kv_capacity_tokens`` sizes an instance's KV cache.
"""

from phasesim.simulator.costs.capacity import (
    check_tensor_parallel,
    kv_capacity_tokens,
    max_context_tokens,
    min_tensor_parallel,
)
from phasesim.simulator.costs.claims import (
    decode_throughput_crossover,
    decode_throughput_tokens_per_s,
    tpot_s,
    ttft_crossover_tokens,
    ttft_s,
)
from phasesim.simulator.costs.closed_form import ConstantCostModel, FunctionCostModel
from phasesim.simulator.costs.interface import CostModel, FastPaths
from phasesim.simulator.costs.shipped import (
    TABLES_DIR,
    TableInfo,
    find_table,
    list_tables,
    load_cost_model,
    resolve_table_path,
)
from phasesim.simulator.costs.table import (
    CostTableWarning,
    read_table,
    read_table_meta,
    validate_table,
    write_table,
)
from phasesim.simulator.costs.table_model import TableCostModel

__all__ = [
    "CostModel", "FastPaths", "ConstantCostModel", "FunctionCostModel",
    "CostTableWarning", "read_table", "read_table_meta", "validate_table", "write_table",
    "TableCostModel", "load_cost_model", "find_table", "list_tables", "resolve_table_path",
    "TableInfo", "TABLES_DIR", "kv_capacity_tokens", "max_context_tokens", "check_tensor_parallel",
    "min_tensor_parallel", "ttft_s", "tpot_s",
    "decode_throughput_tokens_per_s", "decode_throughput_crossover", "ttft_crossover_tokens",
]
