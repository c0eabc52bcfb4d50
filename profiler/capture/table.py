"""Turn captured points into a cost table and write it (through ``phasesim.simulator.costs.write_table``).

Also the provenance every measured table carries: device, driver, library versions, date,
command line and host.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from phasesim.atomic import atomic_path
from phasesim.profiler.capture.grid import PointResult
from phasesim.simulator import table_schema as ts
from phasesim.simulator.costs import write_table

__all__ = ["latency_columns", "results_frame", "write_cost_table", "host_provenance", "nvidia_smi_field",
           "hardware_name_for_device"]


def latency_columns(samples_s: Iterable[float]) -> dict[str, Any]:
    """The schema's latency columns (median, p10, p90, count) and the raw samples of one point."""
    s = np.asarray(list(samples_s), dtype=np.float64)
    return {ts.LATENCY_S: float(np.median(s)), ts.LATENCY_P10_S: float(np.percentile(s, 10)),
            ts.LATENCY_P90_S: float(np.percentile(s, 90)), ts.SAMPLES: len(s),
            "samples_s": [float(x) for x in s]}


def results_frame(results: Iterable[PointResult], *, hardware: str, model: str, dtype: str,
                  extra_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per timed point (skipped points are left out), schema columns first, sorted by
    phase, batch, tokens. ``samples`` counts timings; the raw samples live in ``samples_s``."""
    rows = []
    for r in results:
        if r.skipped_reason or not r.samples_s:
            continue
        row: dict[str, Any] = {
            ts.HARDWARE: hardware, ts.MODEL: model, ts.PHASE: r.point.phase.value,
            ts.BATCH_SIZE: r.point.batch_size, ts.TOKENS: r.point.tokens, ts.DTYPE: dtype,
            ts.TENSOR_PARALLEL: 1, **latency_columns(r.samples_s),
        }
        for col in extra_columns:
            row[col] = r.extra.get(col, np.nan)
        rows.append(row)
    cols = list(ts.COLUMNS) + ["samples_s", *extra_columns]
    df = pd.DataFrame(rows, columns=cols)
    for col, dtype_name in ts.COLUMNS.items():
        df[col] = df[col].astype("int64" if dtype_name == "int64" else
                                 "float64" if dtype_name == "float64" else object)
    df = df.sort_values([ts.PHASE, ts.BATCH_SIZE, ts.TOKENS], kind="stable")
    return df.reset_index(drop=True)


def _fallback_write(df: pd.DataFrame, meta: dict[str, Any], path: Path) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False)
    md = dict(table.schema.metadata or {})
    md[ts.METADATA_KEY] = json.dumps(meta, sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata(md)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_cost_table(df: pd.DataFrame, meta: dict[str, Any], path: Path) -> str:
    """Write with ``phasesim.simulator.costs.write_table`` (validating, atomic). If it rejects the table,
    write it anyway with the same metadata key (a captured table is too
    costly to lose) and say so. Returns "costs.write_table" or a warning line."""
    try:
        write_table(df, meta, path)
    except Exception as exc:  # noqa: BLE001 - keep the measurements whatever the validator says
        _fallback_write(df, meta, path)
        return f"warning: write_table rejected the table ({exc}); wrote with pyarrow directly"
    return "costs.write_table"


def nvidia_smi_field(name: str) -> str:
    """One ``nvidia-smi --query-gpu`` field of GPU 0 ('' if unavailable)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return ""
    try:
        out = subprocess.run([exe, f"--query-gpu={name}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip().splitlines()[0].strip() if out.stdout.strip() else ""


def host_provenance(command: str = "") -> dict[str, Any]:
    """Host, UTC date, command line (``command``, else this process's argv), Python, platform."""
    return {
        "host": socket.gethostname(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
    }


_HARDWARE_PATTERNS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("h100", "pcie"), "h100-pcie"),
    (("h100", "nvl"), "h100-nvl"),
    (("h100",), "h100-sxm"),
    (("h200",), "h200-sxm"),
    (("gh200",), "gh200"),
    (("b200",), "b200"),
    (("a100", "pcie"), "a100-pcie"),
    (("a100",), "a100-sxm"),
    (("l40s",), "l40s"),
    (("l4",), "l4"),
    (("a10g",), "a10g"),
    (("mi300x",), "mi300x"),
)


def hardware_name_for_device(device_name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'h100-sxm'; unknown names become a lowercase slug."""
    low = device_name.lower()
    if "gh200" in low:
        return "gh200"
    for needles, name in _HARDWARE_PATTERNS:
        if all(n in low for n in needles):
            return name
    slug = "".join(c if c.isalnum() else "-" for c in low).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    return slug or "unknown"
