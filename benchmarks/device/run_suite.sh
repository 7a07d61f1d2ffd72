#!/usr/bin/env bash
# ON THE DEVICE, one command: onnxruntime-gpu from /tmp (receive_chunk.sh installed it), the CUDA tests (at most
# 90 s; skipped with CUDA_TESTS=0), then benchmarks/gpu_suite.py in what is left of SUITE_SECONDS (default 450, so
# that with the install the call stays within 8 minutes). Extra arguments go to the suite, e.g.
# `--layers 40 --precisions bf16`. Everything lands in $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
source benchmarks/device/setup_ort.sh || exit 1
OUT="${OUT:-/tmp/glm-nb-gpu-suite-out}"
mkdir -p "$OUT"
if [ "${CUDA_TESTS:-1}" != 0 ]; then  # CUDA_TESTS=0 when cuda_tests.sh already ran on this machine
  CUDA_TEST_SECONDS=90 bash benchmarks/device/cuda_tests.sh | tail -n 3
fi
budget=$(( ${SUITE_SECONDS:-450} - ($(date +%s) - start) ))
PYTHONUNBUFFERED=1 python3 benchmarks/gpu_suite.py --out "$OUT" --budget "$budget" "$@"
