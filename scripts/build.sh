#!/usr/bin/env bash
# Configures (once) and builds flsentry with a CMake preset.
# Usage: scripts/build.sh [release|debug|asan] [extra cmake --build args]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
if [[ ! -f "build/$preset/build.ninja" ]]; then
  cmake --preset "$preset" -G Ninja >/dev/null
fi
jobs="${FLSENTRY_JOBS:-$(nproc)}"
start=$(date +%s)
cmake --build --preset "$preset" -j "$jobs" "$@"
echo "build: $preset done in $(( $(date +%s) - start )) s"
