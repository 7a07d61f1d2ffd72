#!/usr/bin/env bash
# ON THE DEVICE, one command: onnxruntime-gpu from /tmp (receive_chunk.sh installed it), the CUDA tests (at most
# 90 s), then benchmarks/gpu_suite.py in what is left of SUITE_SECONDS (default 450, so that with the install the
# call stays within 8 minutes). Extra arguments go to the suite, e.g. `--layers 40 --precisions bf16`.
# Everything lands in $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
source benchmarks/device/setup_ort.sh || exit 1
OUT="${OUT:-/tmp/glm-nb-gpu-suite-out}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 90 python3 -m pytest -q -p no:cacheprovider -m cuda tests/engine/test_cuda.py > "$OUT/cuda_tests.log" 2>&1
echo "CUDA tests (exit $?): $(tail -n 1 "$OUT/cuda_tests.log")"
budget=$(( ${SUITE_SECONDS:-450} - ($(date +%s) - start) ))
PYTHONUNBUFFERED=1 python3 benchmarks/gpu_suite.py --out "$OUT" --budget "$budget" "$@"
