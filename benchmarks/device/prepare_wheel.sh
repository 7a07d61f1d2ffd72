#!/usr/bin/env bash
# HERE (no GPU needed): fetch the onnxruntime-gpu wheel that matches the device image and cut it into chunks that
# one device call can carry (64 MiB per call, working tree included). Wheels and chunks stay in .device/ (ignored).
#
#   bash benchmarks/device/prepare_wheel.sh [VERSION]      # default 1.30.0, the image's onnxruntime version
#
# Then make the device calls it prints, back to back (files under /tmp there survive ~30 s between calls).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
VERSION="${1:-1.30.0}"
WHEELS=.device/wheels
CHUNKS=.device/chunks
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3

if ! git check-ignore -q .device/probe; then
  echo "error: .device/ is not ignored by git; add '.device/' to .gitignore before downloading 250 MB into it" >&2
  exit 1
fi
mkdir -p "$WHEELS"
rm -rf "$CHUNKS"
mkdir -p "$CHUNKS"

# The device runs CPython 3.12 on x86-64 (KINDS.md); pip matches manylinux tags exactly, so name several.
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$WHEELS" "onnxruntime-gpu==$VERSION"
WHEEL=$(ls "$WHEELS"/onnxruntime_gpu-"$VERSION"-cp312-*.whl | head -n 1)

# Which CUDA the build links against (the image's torch is cu130: its nvidia-* libraries are CUDA 13).
"$PY" - "$WHEEL" <<'PY'
import re, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    lib = z.read("onnxruntime/capi/libonnxruntime_providers_cuda.so")
needs = sorted({m.decode() for m in re.findall(rb"lib(?:cudart|cublas|cublasLt|curand|cudnn|cufft)\.so\.\d+", lib)})
print("provider library links:", ", ".join(needs))
if "libcudart.so.13" not in needs:
    sys.exit("error: this wheel is not a CUDA 13 build; the device image's CUDA libraries are CUDA 13")
PY

# One call carries at most 64 MiB, and the working tree (tracked and untracked-not-ignored files) travels with every
# call: a chunk gets what is left, less 1 MiB for the manifest and growth, and the wheel is cut into equal chunks.
LIMIT=$((64 * 1024 * 1024))
TREE=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 -r stat -c %s -- 2>/dev/null \
  | awk '{s += $1} END {print s + 0}')
ROOM=$((LIMIT - TREE - 1024 * 1024))
if [ "$ROOM" -lt $((16 * 1024 * 1024)) ]; then
  echo "error: the working tree ($((TREE / 1024 / 1024)) MiB) leaves too little room per call for wheel chunks" >&2
  exit 1
fi
SIZE=$(stat -c %s "$WHEEL")
PARTS=$(( (SIZE + ROOM - 1) / ROOM ))
CHUNK_BYTES=$(( (SIZE + PARTS - 1) / PARTS ))
echo "working tree $((TREE / 1024)) KiB: $PARTS chunks of $((CHUNK_BYTES / 1024)) KiB"
split -b "$CHUNK_BYTES" -d -a 2 "$WHEEL" "$CHUNKS/ort.part-"
{
  echo "wheel=$(basename "$WHEEL")"
  echo "sha256=$(sha256sum "$WHEEL" | cut -d' ' -f1)"
  echo "parts=$(ls "$CHUNKS"/ort.part-* | wc -l)"
  (cd "$CHUNKS" && sha256sum ort.part-*)
} > "$CHUNKS/manifest.txt"

echo
echo "$(basename "$WHEEL"): $(du -h "$WHEEL" | cut -f1) in $(grep -c ' ort.part-' "$CHUNKS/manifest.txt") chunks under $CHUNKS/"
echo "Device calls, back to back (see benchmarks/device/README.md):"
last=$(ls "$CHUNKS"/ort.part-* | tail -n 1)
for part in "$CHUNKS"/ort.part-*; do
  if [ "$part" = "$last" ]; then
    echo "  run(command='bash benchmarks/device/receive_chunk.sh && bash benchmarks/device/cuda_tests.sh'," \
         "carry=['$part', '$CHUNKS/manifest.txt'], timeout_s=200)"
    echo "  run(command='CUDA_TESTS=0 SUITE_SECONDS=300 bash benchmarks/device/run_suite.sh', timeout_s=400)"
  else
    echo "  run(command='bash benchmarks/device/receive_chunk.sh', carry=['$part', '$CHUNKS/manifest.txt'], timeout_s=120)"
  fi
done
