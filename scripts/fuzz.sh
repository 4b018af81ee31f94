#!/bin/sh
# Builds the libFuzzer targets (clang, ASan + UBSan, `fuzz` CMake preset) and
# runs each parser (.pth, safetensors, policy YAML, state file) for SECONDS
# (default 300) on its seed corpus.
# New interesting inputs go to build/fuzz/corpus/<target>/ (not committed);
# crashes are written to build/fuzz/ as crash-* files and stop the run.
#   scripts/fuzz.sh [SECONDS]
set -eu
seconds="${1:-300}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build/fuzz"
cd "$root"
cmake --preset fuzz >/dev/null
cmake --build "$build" --target pth_fuzz safetensors_fuzz policy_yaml_fuzz state_fuzz -j2
for target in pth safetensors policy_yaml state; do
  work="$build/corpus/$target"
  mkdir -p "$work"
  echo "== ${target}_fuzz for ${seconds}s"
  (cd "$build" && "./tests/fuzz/${target}_fuzz" "$work" "$root/tests/fuzz/corpus/$target" \
      -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
      $( [ "$target" = pth ] && echo "-dict=$root/tests/fuzz/pth.dict" ) \
      -print_final_stats=1)
done
