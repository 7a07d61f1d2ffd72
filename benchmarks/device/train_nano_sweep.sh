#!/usr/bin/env bash
# ON THE DEVICE: train several nano-GLM candidates side by side on one GPU, in one call. A nano model leaves the
# GPU mostly idle (its pace is set by the corpus generator, ~290k tokens/s on one core), so six trainings share
# it and the machine's 16 cores. Each candidate is RECIPE:SIZE:SEED; RECIPE is "head" (the corpus of this
# checkout) or the name of a folder under .device/ holding corpus files that replace glm_nb/nano's (carry it).
# RECIPE:SIZE:SEED:INIT:LR continues the checkpoint in .device/INIT (carry it too) as a second phase at LR; a sixth
# field INVENT sets --invent (the share of training's cities and names that are invented), e.g. head:3m:0:::0.25.
# TRAIN_ARGS is added to every candidate's trainer command, e.g. TRAIN_ARGS="--local-research 0.5".
#
#   run(command='MINUTES=7.5 bash benchmarks/device/train_nano_sweep.sh head:1m:0 head:3m:0 recipe-v2:3m:0',
#       carry=['.device/recipe-v2'], timeout_s=580)
#
# Each checkpoint comes back as $OUT/<recipe>-<size>-s<seed>.tgz (at most 8 files of 16 MiB come back: a 3m
# checkpoint is ~13 MB gzipped) and all logs as $OUT/logs.tar; evaluate each here with
# `python benchmarks/nano_eval.py --model DIR --n 40` (a recipe's own corpus files in place: its held-out sets).
set -uo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"
OUT="${OUT:-/tmp/nano-sweep-out}"
MINUTES="${MINUTES:-7}"
DEVICE="${DEVICE:-cuda}"
WORK=/tmp/nano-sweep
rm -rf "$WORK" && mkdir -p "$WORK/logs" "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
export RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
pids=()
for candidate in "$@"; do
  IFS=: read -r recipe size seed init lr invent <<<"$candidate"
  name="$recipe-$size-s$seed${init:+-from-$init}${invent:+-inv$invent}"
  phase=(--size "$size" --lr "${lr:-2e-3}" --invent "${invent:-0}")
  [ -n "$init" ] && phase=(--init "$repo/.device/$init" --lr "${lr:-1e-3}" --invent "${invent:-0}")
  root="$repo"
  if [ "$recipe" != head ]; then  # a package copy with that recipe's corpus files
    root="$WORK/pkg-$recipe" && mkdir -p "$root"
    [ -d "$root/glm_nb" ] || { cp -r glm_nb "$root/" && cp "$repo/.device/$recipe"/{corpus,phrasings,skills,vocab}.py "$root/glm_nb/nano/"; }
  fi
  cd "$root"  # python -m puts the working folder first on sys.path: run from the package copy's root
  PYTHONPATH="$root" python3 -c "import glm_nb.nano.corpus as c; print('corpus', c.__file__)" > "$WORK/logs/$name.log"
  PYTHONPATH="$root" timeout "$(awk "BEGIN { print int($MINUTES * 60 + 60) }")" python3 -m glm_nb.nano.train --device "$DEVICE" \
    --minutes "$MINUTES" --batch-tokens "${BATCH_TOKENS:-12288}" "${phase[@]}" --seed "$seed" \
    ${TRAIN_ARGS:-} --out "$WORK/$name" >> "$WORK/logs/$name.log" 2>&1 &
  pids+=($!)
  cd "$repo"
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for candidate in "$@"; do
  IFS=: read -r recipe size seed init lr invent <<<"$candidate"
  name="$recipe-$size-s$seed${init:+-from-$init}${invent:+-inv$invent}"
  echo "== $name: $(grep -E '^saved|^nano-GLM|^corpus' "$WORK/logs/$name.log" | tr '\n' ' ')"
  grep -E '^step' "$WORK/logs/$name.log" | awk 'NR % 1000 == 0' | tail -n 4
  tail -n 1 "$WORK/logs/$name.log"
  [ -f "$WORK/$name/model.safetensors" ] && tar -czf "$OUT/$name.tgz" -C "$WORK" "$name"
done
tar -cf "$OUT/logs.tar" -C "$WORK" logs
ls -la "$OUT"
exit $status
