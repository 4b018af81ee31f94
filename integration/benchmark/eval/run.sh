#!/bin/bash
# Records one run per attack with the reference server (attack_*.yaml: 20
# rounds, attacks from round 4) and evaluates the detector on them: per-attack
# ROC AUC, with and without refresh (docs/detector.md, "Quality on recorded
# runs"). Extra arguments go to flsentry-detector-eval (e.g. --policy
# configs/strict.yaml; default: the source tree's configs/default.yaml).
# Writes OUT_DIR/eval.json and OUT_DIR/rows.jsonl (one line per update).
# usage: integration/benchmark/eval/run.sh BUILD_DIR OUT_DIR [EVAL_ARGS...]
set -euo pipefail
BUILD=$1
OUT=$2
shift 2
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
rm -f "$OUT/rows.jsonl"
"$BUILD/plugin/flsentry-detector-eval" "${archives[@]}" "$@" --json --dump "$OUT/rows.jsonl" > "$OUT/eval.json"
"$BUILD/plugin/flsentry-detector-eval" "${archives[@]}" "$@"
