#!/usr/bin/env bash
# Capture a measured llama2-7b fp16 cost table on one H100 and validate it in closed loop.
#
# Run from the repository root on the GPU box (python3 with torch+CUDA, pandas, pyarrow, typer,
# rich, pyyaml, numpy; simpy/pydantic on PYTHONPATH; phasesim itself is installed into a
# temporary folder when the python in use cannot import it):
#
#   OUT=/path/to/out PYTHONPATH=/tmp/site bash profiler/capture/scripts/h100_capture.sh
#
# Writes to $OUT (5 files): h100-sxm__llama2-7b__fp16__torch__measured.parquet (+ .ckpt.jsonl),
# validate_real.parquet, validate.json, log.txt. Wall time: capture <= CAPTURE_SECONDS (+ start-up),
# validation <= VALIDATE_SECONDS; hard limits below keep the whole script under 9 minutes.
#
# Every knob is an environment variable, so the same script dry-runs on a CPU:
#   DEVICE=cpu MODEL=tiny-llama DTYPE=fp32 HARDWARE=cpu-test PROMPT_LENS=16,64 ... OUT=/tmp/x bash ...

set -u
set -x

OUT="${OUT:?set OUT to the output folder}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1

PY="${PY:-python3}"
DEVICE="${DEVICE:-cuda}"
MODEL="${MODEL:-llama2-7b}"
DTYPE="${DTYPE:-fp16}"
HARDWARE="${HARDWARE:-h100-sxm}"
PREFILL_BATCHES="${PREFILL_BATCHES:-1,2,4,8}"
PROMPT_LENS="${PROMPT_LENS:-32,64,128,256,512,1024,2048,3072,4096}"
DECODE_BATCHES="${DECODE_BATCHES:-1,2,4,8,16,32,64,128,256}"
CONTEXTS="${CONTEXTS:-128,256,512,1024,2048,3072,4032}"
REPEATS="${REPEATS:-10}"
WARMUP="${WARMUP:-3}"
CAPTURE_SECONDS="${CAPTURE_SECONDS:-300}"
CAPTURE_HARD_S="${CAPTURE_HARD_S:-345}"
VALIDATE_SECONDS="${VALIDATE_SECONDS:-130}"
VALIDATE_HARD_S="${VALIDATE_HARD_S:-175}"
TRACE="${TRACE:-profiler/capture/scripts/validate_trace.parquet}"
TABLE="$OUT/${HARDWARE}__${MODEL}__${DTYPE}__measured.parquet"

export PYTHONUNBUFFERED=1
if ! "$PY" -c 'import phasesim.profiler' 2>/dev/null; then
    SITE="$(mktemp -d)"
    "$PY" -m pip install --quiet --no-deps --no-build-isolation --target "$SITE" . || exit 1
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi

date -u
nvidia-smi || true
"$PY" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' || true
"$PY" -c 'import simpy, pydantic, pandas, pyarrow, typer, rich; print("imports ok")' || true
git rev-parse HEAD 2>/dev/null || true

# 1. Capture (coverage-first order; stops cleanly at CAPTURE_SECONDS, checkpoint kept).
timeout -k 10 "$CAPTURE_HARD_S" "$PY" -m phasesim.cli.profiler_cmd capture --backend torch \
    --device "$DEVICE" --model "$MODEL" --dtype "$DTYPE" --hardware "$HARDWARE" \
    --prefill-batch-sizes "$PREFILL_BATCHES" --prompt-lens "$PROMPT_LENS" \
    --decode-batch-sizes "$DECODE_BATCHES" --contexts "$CONTEXTS" \
    --repeats "$REPEATS" --warmup "$WARMUP" --max-seconds "$CAPTURE_SECONDS" -o "$TABLE"
echo "capture exit code: $?"

# 1b. If the capture was killed before writing the table, write it from the checkpoint
#     (--max-seconds 0: no new points, no weights built).
if [ ! -s "$TABLE" ] && [ -s "$TABLE.ckpt.jsonl" ]; then
    timeout -k 5 60 "$PY" -m phasesim.cli.profiler_cmd capture --backend torch \
        --device "$DEVICE" --model "$MODEL" --dtype "$DTYPE" --hardware "$HARDWARE" \
        --prefill-batch-sizes "$PREFILL_BATCHES" --prompt-lens "$PROMPT_LENS" \
        --decode-batch-sizes "$DECODE_BATCHES" --contexts "$CONTEXTS" \
        --repeats "$REPEATS" --warmup "$WARMUP" --resume --max-seconds 0 -o "$TABLE"
    echo "table-from-checkpoint exit code: $?"
fi
ls -la "$OUT"

# 2. Closed-loop validation (real records saved first, so the comparison can be redone on a CPU
#    with `profiler validate --real $OUT/validate_real.parquet ...`).
timeout -k 10 "$VALIDATE_HARD_S" "$PY" -m phasesim.cli.profiler_cmd validate --table "$TABLE" \
    --device "$DEVICE" --model "$MODEL" --dtype "$DTYPE" --trace "$TRACE" \
    --max-seconds "$VALIDATE_SECONDS" --save-real "$OUT/validate_real.parquet" \
    --json > "$OUT/validate.json"
echo "validate exit code: $?"
head -c 3000 "$OUT/validate.json" || true
echo
ls -la "$OUT"
date -u
sleep 1
