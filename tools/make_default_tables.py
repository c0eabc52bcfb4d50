"""Maintainer script (not part of the wheel): regenerate the shipped analytical default tables
(deterministic: same constants, same bytes).

    python tools/make_default_tables.py

Writes ``{hardware}__llama2-7b__fp16__{engine}__analytical.parquet`` into ``simulator/tables/`` for
h100-sxm, a100-sxm-80gb and groqrack (kernel calibration, engine ``analytical``/``groq``), h200,
l40s and mi300x (constants borrowed from a calibrated sibling, flagged in their metadata; the
scenarios sweep them), and every hardware's DEFAULT engine (vllm, deepspeed on Gaudi2, sambaflow
on SN40L) from ``simulator/tables/engine_calibration.json`` (``profiler fit``), from
``phasesim.simulator.costs.roofline.build_analytical_table`` and the constants committed in
``simulator/tables/calibrated_constants.json`` (refit them with ``python tools/fit_kernels.py``).
Measured tables there win over these of their engine (``phasesim.simulator.costs.resolve``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from phasesim.simulator.costs import write_table
from phasesim.simulator.costs.roofline import build_analytical_table
from phasesim.simulator.costs.table_name import TableName

__all__ = ["DEFAULTS", "main"]

# (hardware, model, dtype, engine label)
DEFAULTS: tuple[tuple[str, str, str, str], ...] = (
    ("h100-sxm", "llama2-7b", "fp16", "analytical"),
    ("a100-sxm-80gb", "llama2-7b", "fp16", "analytical"),
    ("groqrack", "llama2-7b", "fp16", "groq"),
    ("h200", "llama2-7b", "fp16", "analytical"),
    ("l40s", "llama2-7b", "fp16", "analytical"),
    ("mi300x", "llama2-7b", "fp16", "analytical"),
    # long-context model for prefix-caching studies (Mooncake traces, issue 13); calibrated on
    # h100-sxm like llama2-7b's table
    ("h100-sxm", "llama3.1-8b", "fp16", "analytical"),
    # the default engines, from the per-(hardware, engine) constants `profiler fit` calibrated on
    # LLM-Inference-Bench (simulator/tables/engine_calibration.json; no Llama-2-7B row was fitted): what
    # `sim replay` and the scenarios run by default (issue 12)
    *((hw, "llama2-7b", "fp16", "vllm") for hw in (
        "h100-sxm", "a100-sxm-80gb", "gh200", "mi300x", "mi250", "max1550")),
    ("gaudi2", "llama2-7b", "fp16", "deepspeed"),
    ("sn40l", "llama2-7b", "fp16", "sambaflow"),
    ("h100-sxm", "llama3.1-8b", "fp16", "vllm"),
)
# engine labels of tables built from the kernel constants alone (calibrated_constants.json)
_KERNEL_ONLY = frozenset({"analytical", "groq"})


TABLES_DIR = Path(__file__).resolve().parent.parent / "simulator" / "tables"


def main(directory: Path = TABLES_DIR) -> list[Path]:
    written = []
    for hardware, model, dtype, engine in DEFAULTS:
        if engine in _KERNEL_ONLY:
            df, meta = build_analytical_table(hardware=hardware, model=model, dtype=dtype)
            meta["engine"] = engine
        else:
            df, meta = build_analytical_table(hardware=hardware, model=model, dtype=dtype,
                                              engine=engine)
            if meta.get("uncalibrated"):
                raise SystemExit(f"{hardware}/{engine}: not calibrated ({meta['uncalibrated']})")
        meta["capture"]["command"] = "python tools/make_default_tables.py"
        path = directory / TableName(hardware=hardware, model=model, dtype=dtype, engine=engine,
                                     source="analytical").file_name
        write_table(df, meta, path)
        written.append(path)
        print(f"wrote {path.name} ({len(df)} rows)")
    return written


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog=__doc__).parse_args()
    main()
