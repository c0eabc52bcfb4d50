"""Rebuild the shipped trace samples from the public traces in ``../shared/data/traces``.

    python traces/samples/make_samples.py [--data DIR]

Each sample is the full trace imported with ``phasesim.traces.import_to_parquet`` (canonical schema,
zstd); the metadata records the source file name and its sha256. Provenance: SOURCES.md here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from phasesim.traces.importers import import_to_parquet

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[1] / ".." / "shared" / "data" / "traces"
SAMPLES = {
    "azure_code_2023.parquet": ("AzureLLMInferenceTrace_code.csv", "azure"),
    "mooncake_synthetic.parquet": ("mooncake_synthetic_trace.jsonl", "mooncake"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding the public traces")
    args = parser.parse_args()
    for name, (source, fmt) in SAMPLES.items():
        report = import_to_parquet(args.data / source, HERE / name, format=fmt, strict=True)
        print(f"{name}: {report.rows} rows from {source} (sha256 {report.meta['source']['sha256'][:12]}...)")


if __name__ == "__main__":
    main()
