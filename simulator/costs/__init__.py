"""Cost models and cost tables.

``CostModel`` (and its optional ``FastPaths``) is the interface the engine sees (``interface``);
``ConstantCostModel`` / ``FunctionCostModel`` implement it in closed form (``closed_form``).
``read_table`` / ``write_table`` speak the schema of ``phasesim.simulator.table_schema``;
``TableCostModel`` interpolates a table; ``phasesim.simulator.costs.resolve`` chooses and loads
an instance's table (``resolve_table``: a profile, the best shipped table of its engine, or the
roofline built for it; not imported here: it needs the catalogs); ``TableName`` names table
files; ``kv_capacity_tokens`` sizes an instance's KV cache.
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
from phasesim.simulator.costs.shipped import TABLES_DIR, TableInfo, list_tables
from phasesim.simulator.costs.table import (
    CostTableWarning,
    read_table,
    read_table_meta,
    validate_table,
    write_table,
)
from phasesim.simulator.costs.table_model import TableCostModel
from phasesim.simulator.costs.table_name import TableName

__all__ = [
    "CostModel", "FastPaths", "ConstantCostModel", "FunctionCostModel",
    "CostTableWarning", "read_table", "read_table_meta", "validate_table", "write_table",
    "TableCostModel", "TableName", "list_tables", "TableInfo", "TABLES_DIR", "kv_capacity_tokens",
    "max_context_tokens", "check_tensor_parallel",
    "min_tensor_parallel", "ttft_s", "tpot_s",
    "decode_throughput_tokens_per_s", "decode_throughput_crossover", "ttft_crossover_tokens",
]
