#!/usr/bin/env bash
# cmake --install into a temporary prefix; then, as a user would:
#   1. the README's "Use it from your C++ server" CMake project builds
#      host_api/example_host.cc out of tree with find_package and runs it
#      against the installed plugin;
#   2. the same source builds with the pkg-config files;
#   3. the installed tool finds the installed plugin by itself.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
for f in bin/flsentry include/aggfilter/aggfilter.h include/aggfilter/aggfilter_host.hpp \
         share/flsentry/configs/default.yaml share/flsentry/configs/README.md \
         share/flsentry/python/setup.py share/doc/flsentry/README.md share/doc/flsentry/python.md; do
  [[ -f "$prefix/$f" ]] || fail "not installed: $f"
done
plugin=$(find "$prefix" -name libflsentry_filter.so)
[[ "$plugin" == "$prefix"/lib*/flsentry/libflsentry_filter.so ]] || fail "plugin at $plugin"
[[ "$(readelf -d "$plugin")" != *SONAME* ]] || fail "the plugin has a SONAME"
[[ -z "$(find "$prefix" -name 'libflsentry_filter.so*' -path '*/lib/libflsentry*')" ]] ||
  fail "the plugin is on the linker path"

# 1. The README's CMake project, byte for byte, around example_host.cc.
proj=$tmp/consumer
mkdir -p "$proj"
awk '/^## Use it from your C\+\+ server/{s=1} s&&/^```cmake/{c=1;next} c&&/^```/{exit} c' \
  "$src/README.md" >"$proj/CMakeLists.txt"
lines=$(grep -c . "$proj/CMakeLists.txt")
((lines > 5 && lines <= 15)) || fail "README's CMake example has $lines lines"
cp "$src/host_api/example_host.cc" "$proj/"
cmake -S "$proj" -B "$proj/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/configure.log" ||
  { cat "$tmp/configure.log"; fail "configure"; }
cmake --build "$proj/build" --target run >"$tmp/run.log" 2>&1 || { cat "$tmp/run.log"; fail "build/run"; }
grep -q "accept weight=1 score=0.229129 reason=ok" "$tmp/run.log" || { cat "$tmp/run.log"; fail "run output"; }
grep -q "drop weight=0 score=nan reason=nonfinite" "$tmp/run.log" || fail "run output (drop)"
echo "ok: find_package project built and ran against $plugin"

# 2. pkg-config.
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name aggfilter.pc)")
[[ "$(pkg-config --modversion aggfilter)" == 1.* ]] || fail "aggfilter.pc version"
pc_plugin=$(pkg-config --variable=plugin flsentry)
[[ "$(realpath "$pc_plugin")" == "$(realpath "$plugin")" ]] || fail "flsentry.pc plugin=$pc_plugin"
# shellcheck disable=SC2046
g++ -std=c++17 -o "$tmp/pc_host" "$src/host_api/example_host.cc" $(pkg-config --cflags --libs flsentry)
[[ "$("$tmp/pc_host" "$pc_plugin")" == *reason=nonfinite* ]] || fail "pkg-config build"
echo "ok: pkg-config build ran against $pc_plugin"

# 3. The installed tool finds the installed plugin (not beside itself).
"$prefix/bin/flsentry" replay "$src/model_updates/nan_demo" \
  --config "$prefix/share/flsentry/configs/default.yaml" --out "$tmp/replay" >"$tmp/replay.log" ||
  { cat "$tmp/replay.log"; fail "installed tool"; }
grep -q '"nonfinite"' "$tmp/replay/decisions.jsonl" || fail "replay decisions"
grep -q "$(realpath "$plugin")\|$plugin" "$tmp/replay/summary.json" || fail "replay used another plugin"
echo "ok: installed flsentry replay used the installed plugin"
