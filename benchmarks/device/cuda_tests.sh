#!/usr/bin/env bash
# ON THE DEVICE: the CUDA tests (tests/engine/test_cuda.py) against the onnxruntime-gpu that receive_chunk.sh
# installed, within CUDA_TEST_SECONDS (default 150). The log lands in $OUT/cuda_tests.log; the end of it is printed.
set -uo pipefail
cd "$(dirname "$0")/../.."
source benchmarks/device/setup_ort.sh || exit 1
OUT="${OUT:-/tmp/glm-nb-gpu-suite-out}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader || true
timeout "${CUDA_TEST_SECONDS:-150}" python3 -m pytest -q -p no:cacheprovider --tb=short -rfEs -m cuda \
  tests/engine/test_cuda.py > "$OUT/cuda_tests.log" 2>&1
status=$?
tail -n 60 "$OUT/cuda_tests.log"
echo "CUDA tests: exit $status"
exit $status
