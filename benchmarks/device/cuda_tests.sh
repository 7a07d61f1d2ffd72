#!/usr/bin/env bash
# ON THE DEVICE: the CUDA tests (tests/engine/test_cuda.py) against the onnxruntime-gpu that receive_chunk.sh
# installed, within CUDA_TEST_SECONDS (default 150). The log lands in $OUT/cuda_tests.log; the end of it is printed.
set -uo pipefail
cd "$(dirname "$0")/../.."
source benchmarks/device/setup_ort.sh || exit 1
OUT="${OUT:-/tmp/glm-nb-gpu-suite-out}"
mkdir -p "$OUT"
# Only the repository travels, not the ../shared beside it; the tests' tiny checkpoints need a GLM-4 chat template
# from there. The bundled nano-GLM's renders exactly like the published one (tests/nano checks that here).
if [ ! -f ../shared/glm4/glm4-0414.chat_template.jinja ]; then
  mkdir -p ../shared/glm4
  python3 -c "import json; print(json.load(open('glm_nb/nano/checkpoint/tokenizer_config.json'))['chat_template'], end='')" \
    > ../shared/glm4/glm4-0414.chat_template.jinja
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader || true
timeout "${CUDA_TEST_SECONDS:-150}" python3 -m pytest -q -p no:cacheprovider --tb=short -rfEs -m cuda \
  tests/engine/test_cuda.py > "$OUT/cuda_tests.log" 2>&1
status=$?
tail -n 60 "$OUT/cuda_tests.log"
echo "CUDA tests: exit $status"
exit $status
