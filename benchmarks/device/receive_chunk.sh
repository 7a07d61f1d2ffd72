#!/usr/bin/env bash
# ON THE DEVICE: keep the carried chunk(s) of the onnxruntime-gpu wheel under /tmp, which survives while the machine
# stays warm; once every chunk named in the manifest is there, reassemble the wheel, check its sha256 and install
# it (no dependencies: numpy, protobuf, ... are in the image) into $ORT_GPU_STORE/site. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/../.."
STORE="${ORT_GPU_STORE:-/tmp/ort-gpu}"
MANIFEST=.device/chunks/manifest.txt
mkdir -p "$STORE/parts"

if [ -d "$STORE/site/onnxruntime" ]; then
  echo "onnxruntime-gpu already installed in $STORE/site"
  exit 0
fi
if [ ! -f "$MANIFEST" ]; then
  echo "error: no $MANIFEST here; carry it with every chunk (benchmarks/device/README.md)" >&2
  exit 1
fi
cp "$MANIFEST" "$STORE/manifest.txt"
for part in .device/chunks/ort.part-*; do
  [ -f "$part" ] && cp "$part" "$STORE/parts/"
done

missing=()
while read -r hash name; do
  if [ ! -f "$STORE/parts/$name" ]; then
    missing+=("$name")
  elif [ "$(sha256sum "$STORE/parts/$name" | cut -d' ' -f1)" != "$hash" ]; then
    echo "warning: $name arrived damaged; carry it again" >&2
    rm -f "$STORE/parts/$name"
    missing+=("$name")
  fi
done < <(grep ' ort.part-' "$STORE/manifest.txt")
if [ ${#missing[@]} -gt 0 ]; then
  echo "have $(ls "$STORE/parts" | wc -l) chunk(s); still missing: ${missing[*]} (carry them in the next calls, back to back)"
  exit 0
fi

wheel="$STORE/$(sed -n 's/^wheel=//p' "$STORE/manifest.txt")"
cat $(grep ' ort.part-' "$STORE/manifest.txt" | awk -v d="$STORE/parts/" '{print d $2}') > "$wheel"
if [ "$(sha256sum "$wheel" | cut -d' ' -f1)" != "$(sed -n 's/^sha256=//p' "$STORE/manifest.txt")" ]; then
  echo "error: the reassembled wheel's sha256 differs from the manifest; carry the chunks again" >&2
  rm -rf "$STORE/parts" "$wheel"
  exit 1
fi
python3 -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --target "$STORE/site" \
  ${PIP_EXTRA_ARGS:-} "$wheel"
rm -rf "$STORE/parts" "$wheel"
echo "installed $(basename "$wheel") into $STORE/site"
