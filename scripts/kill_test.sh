#!/bin/sh
# Crash consistency under kill -9: runs tests/host/kill_test.cc's program
# for TRIALS random kills (default 100) of a host filtering rounds of
# CLIENTS updates (default 1000) with the state file and audit log on, and
# prints its summary (torn, missing, extra rounds and corrupt state files
# must all be 0). Needs a release build (scripts/build.sh release).
# KILL_TEST_MAX_DELAY_MS (default 400): kills land at a random time up to
# this after the host starts; on a slow machine, where a 1000-client round
# takes longer, raise it so that kills land inside rounds, not before the
# first one.
#   scripts/kill_test.sh [TRIALS] [CLIENTS]
set -eu
trials="${1:-100}"
clients="${2:-1000}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build/release"
"$build/tests/host/kill_test" "$build/plugin/libflsentry_filter.so" \
  "$build/kill_test_full" --trials "$trials" --clients "$clients" \
  --max-delay-ms "${KILL_TEST_MAX_DELAY_MS:-400}" --seed "${KILL_TEST_SEED:-1}"
