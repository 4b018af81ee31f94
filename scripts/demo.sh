#!/usr/bin/env bash
# The main job on the bundled data, from a fresh Debian 12 machine:
#   1. installs missing packages and builds (scripts/setup.sh, scripts/build.sh)
#   2. the original tool's job: trains the autoencoder on the benign updates in
#      model_updates/benign/ and flags anomalous updates (`flsentry train`,
#      `flsentry detect`)
#   3. the plugin's job: replays the bundled attacked rounds through the plugin,
#      loaded through host_api/ as a server would, with configs/default.yaml
#      (`flsentry replay`): a per-round table, decisions.jsonl, summary.json and
#      report.html.
# Usage: scripts/demo.sh            (outputs go to build/demo/)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release >/dev/null
FLSENTRY=build/release/plugin/flsentry
OUT=build/demo
rm -rf "$OUT"
mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. The seed's job: train an autoencoder on model_updates/benign/ ($(ls model_updates/benign | wc -l) .pth updates)"
"$FLSENTRY" train model_updates/benign -o "$OUT/detector"

step "2. Score one round of client updates (one has a NaN) against it"
"$FLSENTRY" detect model_updates/nan_demo --detector "$OUT/detector"
echo "-- the same round through the plugin (host_api/), one decision per update:"
"$FLSENTRY" replay model_updates/nan_demo --config configs/default.yaml \
  --out "$OUT/nan_demo" >/dev/null
cut -c1-160 "$OUT/nan_demo/decisions.jsonl"

step "3. Replay the bundled attacked run through the plugin (loaded via host_api/)"
# configs/default.yaml builds its own detector from the first 3 (trusted)
# rounds; the second policy is the same file with detector.path set to the
# detector of step 1 instead (and the in-plugin bootstrap turned off).
sed -e "0,/^  path: \"\"/s||  path: $PWD/$OUT/detector|" \
    -e "0,/^    enabled: true  /s||    enabled: false |" configs/default.yaml \
  > "$OUT/default_with_detector.yaml"
grep -q "^    enabled: false" "$OUT/default_with_detector.yaml"
"$FLSENTRY" replay model_updates/archive --config configs/default.yaml \
  --config "$OUT/default_with_detector.yaml" --out "$OUT/replay"

step "Done"
echo "decisions: $OUT/replay/*/decisions.jsonl"
echo "summary:   $OUT/replay/*/summary.json"
echo "reports:   $OUT/replay/default/report.html"
echo "           $OUT/replay/default_with_detector/report.html  (open in a browser; they work offline)"
