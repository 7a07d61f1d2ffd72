# ON THE DEVICE, sourced (`source benchmarks/device/setup_ort.sh`): put the onnxruntime-gpu installed by
# receive_chunk.sh ahead of the image's CPU onnxruntime, make this checkout importable, point the dynamic loader at
# the image's CUDA 13 libraries (the nvidia-* pip packages next to its torch), and check that the CUDA provider
# really starts (onnxruntime-gpu silently falls back to the CPU when a library is missing).
_store="${ORT_GPU_STORE:-/tmp/ort-gpu}"
_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ ! -d "$_store/site/onnxruntime" ]; then
  echo "error: onnxruntime-gpu is not installed in $_store/site; carry the wheel chunks first (benchmarks/device/README.md)" >&2
  return 1
fi
export PYTHONPATH="$_store/site:$_repo${PYTHONPATH:+:$PYTHONPATH}"
_libs="$(python3 - <<'PY'
import os
try:
    import nvidia  # namespace package of the nvidia-* wheels (cuBLAS, cuDNN, cuRAND, CUDA runtime, ...)
except ImportError:
    raise SystemExit(0)
dirs = set()
for root in nvidia.__path__:
    for folder, _, files in os.walk(root):
        if any(f.startswith("lib") and ".so" in f for f in files):
            dirs.add(folder)
print(":".join(sorted(dirs)))
PY
)"
export LD_LIBRARY_PATH="${_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
python3 "$_repo/benchmarks/device/check_cuda_provider.py"
