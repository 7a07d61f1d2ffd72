#!/usr/bin/env bash
# ON THE DEVICE: nano-GLM training (train_nano_sweep.sh) detached from the call that starts it, so that it uses the
# minutes the onnxruntime-gpu chunks take to arrive. It must end before anything is timed on the GPU: `collect`
# waits for it (at most WAIT_SECONDS, default 420) and copies its checkpoints and logs into this call's $OUT.
#
#   start CANDIDATE...   (MINUTES, TRAIN_ARGS as for train_nano_sweep.sh; the shipped checkpoint is the INIT
#                         named "shipped", e.g. head:3m:26:shipped:3e-4:0.1; a recipe other than head: not here)
#   collect
set -uo pipefail
cd "$(dirname "$0")/../.."
BG_OUT=/tmp/nano-bg-out
BG_REPO=/tmp/nano-bg-repo
case "${1:-}" in
  start)
    shift
    # A copy of the package to train from: the next calls refresh this checkout under the running trainers.
    rm -rf "$BG_REPO" "$BG_OUT" && mkdir -p "$BG_REPO/benchmarks" "$BG_REPO/.device" "$BG_OUT"
    cp -r glm_nb "$BG_REPO/" && cp -r benchmarks/device "$BG_REPO/benchmarks/"
    cp -r glm_nb/nano/checkpoint "$BG_REPO/.device/shipped"
    # The copy has no git history: the training record names the commit of this checkout (or the caller's).
    GLM_NB_SOURCE_COMMIT="$(git rev-parse HEAD 2>/dev/null || echo "${GLM_NB_SOURCE_COMMIT:-}")"
    export GLM_NB_SOURCE_COMMIT
    OUT="$BG_OUT" setsid nohup bash "$BG_REPO/benchmarks/device/train_nano_sweep.sh" "$@" > /tmp/nano-bg.log 2>&1 \
      < /dev/null &
    echo "nano training started in the background: $* (MINUTES=${MINUTES:-7}, TRAIN_ARGS=${TRAIN_ARGS:-})"
    ;;
  collect)
    waited=0
    while [ ! -f "$BG_OUT/logs.tar" ] && [ "$waited" -lt "${WAIT_SECONDS:-420}" ]; do sleep 2; waited=$((waited + 2)); done
    echo "nano training: waited ${waited} s"
    tail -n 30 /tmp/nano-bg.log
    OUT="${OUT:-/tmp/nano-collected}"
    mkdir -p "$OUT"
    cp "$BG_OUT"/*.tgz "$BG_OUT"/logs.tar "$OUT"/ 2>/dev/null || echo "warning: no nano checkpoints to collect"
    ;;
  *)
    echo "usage: nano_background.sh start CANDIDATE... | collect" >&2
    exit 2
    ;;
esac
