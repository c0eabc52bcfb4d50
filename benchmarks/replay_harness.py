"""Reference harness: many replays through the command line, one sha256 per run.

Used to show that a refactoring changes no behaviour: run it before and after, compare the
printed digests (``diff``). Each run goes through the installed ``sim`` command (so the harness
does not depend on the package's import paths) and hashes every output file except
``meta.json``'s version fields and the checkout's location in the trace path, which name the
code and where it lies rather than the results (so two checkouts can be compared).

Usage: python benchmarks/replay_harness.py [-o DIGESTS.txt] [--work DIR] [--only SUBSTRING]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = str(ROOT / "traces" / "samples" / "azure_code_2023.parquet")
MOONCAKE = str(ROOT / "traces" / "samples" / "mooncake_synthetic.parquet")
MEASURED_H100 = "h100-sxm__llama2-7b__fp16__torch__measured.parquet"

# (label, trace, extra `sim replay` arguments)
RUNS: list[tuple[str, str, list[str]]] = [
    ("code-gpu", CODE, ["-t", "gpu"]),
    ("code-gpu-2x", CODE, ["-t", "gpu", "--instances", "2", "--rate-scale", "4"]),
    ("code-gpu-a100", CODE, ["-t", "gpu", "--gpu", "a100-sxm-80gb", "--rate-scale", "2"]),
    ("code-gpu-chunked", CODE, ["-t", "gpu", "--batching", "chunked", "--rate-scale", "3"]),
    ("code-gpu-static", CODE, ["-t", "gpu", "--batching", "static", "--max-batch", "8"]),
    ("code-gpu-none", CODE, ["-t", "gpu", "--batching", "none"]),
    ("code-gpu-maxbatch4", CODE, ["-t", "gpu", "--max-batch", "4", "--rate-scale", "5"]),
    ("code-groq", CODE, ["-t", "groq"]),
    ("code-groq-2x", CODE, ["-t", "groq", "--instances", "2", "--rate-scale", "2"]),
    ("code-pgd", CODE, ["-t", "gpu-prefill-gpu-decode"]),
    ("code-pgd-fast", CODE, ["-t", "gpu-prefill-gpu-decode", "--prefill-instances", "2",
                             "--decode-instances", "1", "--rate-scale", "6"]),
    ("code-pgd-slowlink", CODE, ["-t", "gpu-prefill-gpu-decode", "--link-bandwidth", "1Gbps",
                                 "--link-latency", "2ms", "--rate-scale", "3"]),
    ("code-pgd-ftdecode", CODE, ["-t", "gpu-prefill-gpu-decode", "--first-token", "decode"]),
    ("code-pgd-chunked", CODE, ["-t", "gpu-prefill-gpu-decode", "--batching", "chunked",
                                "--rate-scale", "4"]),
    ("code-pgroq", CODE, ["-t", "gpu-prefill-groq-decode"]),
    ("code-pgroq-2d", CODE, ["-t", "gpu-prefill-groq-decode", "--decode-instances", "3",
                             "--rate-scale", "2"]),
    ("code-pgroq-10g", CODE, ["-t", "gpu-prefill-groq-decode", "--link-bandwidth", "10Gbps"]),
    ("code-pgroq-ftdecode", CODE, ["-t", "gpu-prefill-groq-decode", "--first-token", "decode"]),
    ("code-groqp-gpud", CODE, ["-t", "groq-prefill-gpu-decode"]),
    ("code-gpu-analytical", CODE, ["-t", "gpu", "--profile",
                                   "simulator/tables/h100-sxm__llama2-7b__fp16__analytical__analytical.parquet"]),
    ("code-gpu-seed3", CODE, ["-t", "gpu", "--seed", "3", "--rate-scale", "2"]),
    ("mc-gpu", MOONCAKE, ["-t", "gpu", "--model", "llama2-7b"]),
    ("mc-gpu-3x", MOONCAKE, ["-t", "gpu", "--instances", "3", "--rate-scale", "2"]),
    ("mc-pgd", MOONCAKE, ["-t", "gpu-prefill-gpu-decode", "--prefill-instances", "2"]),
    ("mc-pgroq", MOONCAKE, ["-t", "gpu-prefill-groq-decode"]),
    ("mc-gpu-chunked", MOONCAKE, ["-t", "gpu", "--batching", "chunked", "--rate-scale", "2"]),
    ("mc-groq", MOONCAKE, ["-t", "groq", "--instances", "4"]),
    ("mc-gpu-h200", MOONCAKE, ["-t", "gpu", "--gpu", "h200"]),
    ("mc-gpu-l40s", MOONCAKE, ["-t", "gpu", "--gpu", "l40s", "--instances", "2"]),
    ("mc-gpu-mi300x", MOONCAKE, ["-t", "gpu", "--gpu", "mi300x"]),
]


def _sim() -> str:
    local = Path(sys.executable).parent / "sim"
    return str(local) if local.exists() else (shutil.which("sim") or "sim")


def _digest(out: Path) -> str:
    h = hashlib.sha256()
    for name in sorted(p.name for p in out.iterdir()):
        data = (out / name).read_bytes()
        if name == "meta.json":  # versions and the checkout's location are not results
            meta = json.loads(data)
            meta.pop("versions", None)
            trace = meta.get("trace", {})
            if "path" in trace:
                trace["path"] = str(Path(trace["path"]).relative_to(ROOT))
            data = json.dumps(meta, sort_keys=True).encode()
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, help="also write the digests here")
    parser.add_argument("--work", type=Path, help="keep the outputs here (default: a temp dir)")
    parser.add_argument("--only", default="", help="only runs whose label contains this")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="phasesim-harness-"))
    lines = []
    for label, trace, extra in RUNS:
        if args.only not in label:
            continue
        out = work / label
        shutil.rmtree(out, ignore_errors=True)
        proc = subprocess.run([_sim(), "replay", trace, "-o", str(out), "--json", *extra],
                              cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            line = f"{label} FAILED rc={proc.returncode}: {proc.stderr.strip()[-300:]}"
        else:
            warn = " (stderr)" if proc.stderr.strip() else ""
            line = f"{label} {_digest(out)}{warn}"
        print(line, flush=True)
        lines.append(line)
    if args.output:
        args.output.write_text("\n".join(lines) + "\n")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
