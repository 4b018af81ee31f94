#!/usr/bin/env bash
# Regenerates model_updates/ from real federated training runs of the
# reference server (integration/, flsentry-simulate) on Fashion-MNIST.
# Deterministic: the same build produces the same bytes.
#
#   scripts/make_model_updates.sh [BUILD_DIR]     (default build/release)
#
# Writes:
#   model_updates/benign/*.pth    honest client updates (deltas), flat folder
#   model_updates/archive/        a round archive of an attacked run (labels
#                                 and attack names in each manifest.json)
#   model_updates/nan_demo/*.pth  one round, 4 clients, one update with NaN
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
SIM="$BUILD/plugin/flsentry-simulate"
if [[ ! -x "$SIM" ]]; then
  echo "make_model_updates: $SIM not found; build it first:" >&2
  echo "  cmake --build $BUILD --target flsentry-simulate" >&2
  exit 1
fi

OUT=model_updates
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

"$SIM" --config configs/sim/model_updates_benign.yaml --quiet \
  --export-updates "$STAGE/benign"
"$SIM" --config configs/sim/model_updates_attacked.yaml --quiet \
  --record "$STAGE/archive" --out "$STAGE/attacked_results"
"$SIM" --config configs/sim/model_updates_nan.yaml --quiet \
  --export-updates "$STAGE/nan_demo" --export-all

rm -rf "$OUT/benign" "$OUT/archive" "$OUT/nan_demo"
mkdir -p "$OUT"
mv "$STAGE/benign" "$STAGE/archive" "$STAGE/nan_demo" "$OUT/"
du -sh "$OUT"
