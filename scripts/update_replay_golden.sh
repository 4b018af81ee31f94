#!/usr/bin/env bash
# Records the bundled archive's replay decisions under configs/default.yaml
# as the golden file CTest replay:same_decisions_on_every_kernel compares
# against (tests/replay/golden/). Run it only when a change of behaviour is
# intended, and say why in the commit.
#   scripts/update_replay_golden.sh [BUILD_DIR]   (default build/release)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/release}
cmake -DFLSENTRY="$build/plugin/flsentry" -DSOURCE_DIR="$root" \
  -DWORK_DIR="$build/tests/replay/update_golden" -DUPDATE_GOLDEN=ON \
  -P "$root/tests/replay/cross_cpu_replay.cmake"
git -C "$root" diff --stat -- tests/replay/golden
