"""The canonical trace schema: column names, dtypes and parquet metadata keys.

Documented for users in ``traces/README.md``. No heavy imports here.
"""

from __future__ import annotations

__all__ = [
    "SCHEMA_VERSION",
    "METADATA_KEY",
    "REQUEST_ID",
    "ARRIVAL_S",
    "PROMPT_TOKENS",
    "OUTPUT_TOKENS",
    "SESSION_ID",
    "PREFIX_HASH_IDS",
    "PRIORITY",
    "SLO_CLASS",
    "REQUIRED_COLUMNS",
    "OPTIONAL_COLUMNS",
]

SCHEMA_VERSION = "1"
METADATA_KEY = b"phasesim.trace"  # JSON: schema_version, source, prefix_block_tokens, transforms[]

REQUEST_ID = "request_id"  # int64, unique
ARRIVAL_S = "arrival_s"  # float64 >= 0, non-decreasing
PROMPT_TOKENS = "prompt_tokens"  # int64 >= 1
OUTPUT_TOKENS = "output_tokens"  # int64 >= 1
SESSION_ID = "session_id"  # optional int64
PREFIX_HASH_IDS = "prefix_hash_ids"  # optional list<int64>; block size in metadata
PRIORITY = "priority"  # optional int64 (lower = more urgent)
SLO_CLASS = "slo_class"  # optional string

REQUIRED_COLUMNS = (REQUEST_ID, ARRIVAL_S, PROMPT_TOKENS, OUTPUT_TOKENS)
OPTIONAL_COLUMNS = (SESSION_ID, PREFIX_HASH_IDS, PRIORITY, SLO_CLASS)
