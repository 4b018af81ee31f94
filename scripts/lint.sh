#!/usr/bin/env bash
# Style and lint checks, run by scripts/test.sh (so CI runs them):
#   1. clang-format --dry-run -Werror (the project's .clang-format) on every
#      C/C++ source of the tree;
#   2. clang-tidy (.clang-tidy: a small set of bug-finding checks, every
#      finding an error) on plugin/ and host_api/ sources.
# Usage: scripts/lint.sh [BUILD_DIR]   (default build/release; needs its
#        compile_commands.json, i.e. a configured build)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"

mapfile -t sources < <(find plugin host_api integration tests \
  \( -name '*.h' -o -name '*.cc' -o -name '*.hpp' -o -name '*.c' \) \
  -not -path 'tests/fixtures/*' | sort)
echo "lint: clang-format on ${#sources[@]} files"
clang-format --dry-run -Werror "${sources[@]}"

mapfile -t tidy < <(find plugin host_api -name '*.cc' | sort)
echo "lint: clang-tidy on ${#tidy[@]} files"
start=$(date +%s)
printf '%s\n' "${tidy[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet \
  --extra-arg=-Wno-unknown-warning-option --extra-arg=-Wno-unknown-pragmas \
  2> >(grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed|^Use -header-filter' >&2)
echo "lint: clean in $(( $(date +%s) - start )) s"
