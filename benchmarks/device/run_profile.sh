#!/usr/bin/env bash
# ON THE DEVICE: benchmarks/gpu_profile.py (kernel-by-kernel decode profile) with the onnxruntime-gpu that
# receive_chunk.sh installed. Extra arguments go to the script. Output lands in $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
source benchmarks/device/setup_ort.sh || exit 1
PYTHONUNBUFFERED=1 python3 benchmarks/gpu_profile.py --out "${OUT:-/tmp/glm-nb-gpu-profile-out}" "$@"
