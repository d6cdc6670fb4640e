#!/usr/bin/env bash
# The throughput suite's GPU check, as one prepared run on a GPU machine (issue 6).
#
# Run from the repository root: `bash benchmarks/gpu_check.sh`. Results, the plot and the
# log go to $OUT/throughput-gpu ($OUT defaults to ./gpu-out). Needs a Python with
# TensorFlow that sees the GPU (`pip install -e .[gpu]`) and labelshap importable.
# Optional: LABELSHAP_DATA (folder of debtags.jsonl.gz, movielens_small.csv.gz) and
# LABELSHAP_CACHE (cached demo models; without it the demos are trained first, minutes).
set -uo pipefail

OUT="${OUT:-$PWD/gpu-out}"
PYTHON="${PYTHON:-python3}"
LIMIT_S="${LIMIT_S:-540}"
mkdir -p "$OUT/throughput-gpu"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=1

# Data and demo models carried beside the checkout, when present.
if [ -z "${LABELSHAP_DATA:-}" ] && [ -d shared/data ]; then export LABELSHAP_DATA="$PWD/shared/data"; fi
if [ -z "${LABELSHAP_CACHE:-}" ] && [ -d .cache/labelshap ]; then
    export LABELSHAP_CACHE="$PWD/.cache/labelshap"
fi

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/throughput-gpu/gpu.txt"
if ! "$PYTHON" -c "import tensorflow as tf, sys; sys.exit(not tf.config.list_physical_devices('GPU'))"
then
    echo "gpu_check: $PYTHON has no TensorFlow that sees a GPU; install it with" \
        "pip install -e '.[gpu]' (tensorflow[and-cuda]) and run again" >&2
    exit 2
fi

started=$(date +%s)
timeout "$LIMIT_S" "$PYTHON" -m benchmarks --suite throughput --quick --device gpu \
    --out "$OUT/throughput-gpu" 2>&1 | tee "$OUT/throughput-gpu/log.txt"
status=${PIPESTATUS[0]}
echo "gpu_check: exit $status after $(( $(date +%s) - started )) s" | tee -a "$OUT/throughput-gpu/log.txt"
exit "$status"
