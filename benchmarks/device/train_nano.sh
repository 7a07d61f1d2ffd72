#!/usr/bin/env bash
# ON THE DEVICE: train nano-GLM on the GPU with the image's torch (no onnxruntime-gpu needed, so one call) for
# MINUTES (default 6) with BATCH_TOKENS a batch (default 12288). The checkpoint lands in $OUT/nano (6 files) and
# the whole log in $OUT/train.log; evaluate it here afterwards with
# `python benchmarks/nano_eval.py --model DIR --n 40` before it replaces glm_nb/nano/checkpoint.
# Extra arguments go to the trainer (e.g. --lr 3e-3 --seed 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/nano-gpu-out}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
PYTHONUNBUFFERED=1 python3 -m glm_nb.nano.train --device cuda --compile --minutes "${MINUTES:-6}" \
  --batch-tokens "${BATCH_TOKENS:-12288}" --out "$OUT/nano" "$@" > "$OUT/train.log" 2>&1 || { tail -n 30 "$OUT/train.log"; exit 1; }
grep -E "pace|saved|^nano-GLM" "$OUT/train.log"
awk '/^step/ && ++n % 100 == 0' "$OUT/train.log" | tail -n 20
