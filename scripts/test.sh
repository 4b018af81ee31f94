#!/usr/bin/env bash
# Sets up, builds, checks style and lint (scripts/lint.sh) and runs every test.
# Usage: scripts/test.sh [--asan] [ctest args...]
#   --asan   build and run under AddressSanitizer + UndefinedBehaviorSanitizer
#            (the `asan` preset; the reference-server tests are not built
#            there, and the lint step, which does not depend on the build
#            type, runs only in the default run)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=release
if [[ "${1:-}" == "--asan" ]]; then
  preset=asan
  shift
fi
scripts/setup.sh
scripts/build.sh "$preset"
if [[ "$preset" == release ]]; then scripts/lint.sh "build/$preset"; fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
ctest --preset "$preset" -j "$(nproc)" "$@"
