#!/bin/bash
# Records one run per attack with the reference server and evaluates the
# detector on them (per-attack ROC AUC, with and without refresh).
# usage: integration/benchmark/eval/run.sh BUILD_DIR OUT_DIR
set -euo pipefail
BUILD=$1
OUT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
archives=()
for cfg in "$HERE"/attack_*.yaml; do
  name=$(basename "$cfg" .yaml)
  if [ ! -f "$OUT/$name/round_0001/manifest.json" ]; then
    rm -rf "$OUT/$name"
    "$BUILD/plugin/flsentry-simulate" --config "$cfg" --record "$OUT/$name" --out "$OUT/$name.results" > "$OUT/$name.log" 2>&1
  fi
  archives+=("$OUT/$name")
done
"$BUILD/plugin/flsentry-detector-eval" "${archives[@]}" --json > "$OUT/eval.json"
"$BUILD/plugin/flsentry-detector-eval" "${archives[@]}"
