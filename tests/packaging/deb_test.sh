#!/usr/bin/env bash
# Builds the .deb packages with CPack, checks their metadata, unpacks them
# into a temporary root with dpkg-deb -x and runs the installed tool from
# there (it must find the unpacked plugin by itself).
# Usage: deb_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cpack --config "$build/CPackConfig.cmake" -G DEB -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1 ||
  { cat "$tmp/cpack.log"; fail "cpack"; }
runtime=$(ls "$tmp"/pkg/flsentry_*.deb)
dev=$(ls "$tmp"/pkg/flsentry-dev_*.deb)
echo "built: $(basename "$runtime") $(basename "$dev")"

depends=$(dpkg-deb -f "$runtime" Depends)
echo "flsentry Depends: $depends"
for p in libc6 libstdc++6 libyaml-cpp0.7 libminizip1; do
  [[ ", $depends," == *", $p "* || ", $depends," == *", $p,"* ]] || fail "Depends lacks $p"
done
dpkg-deb -x "$runtime" "$tmp/root"
dpkg-deb -x "$dev" "$tmp/root"
tool=$tmp/root/usr/bin/flsentry
plugin=$(find "$tmp/root/usr/lib" -name libflsentry_filter.so)
[[ -n "$plugin" && "$plugin" == */flsentry/libflsentry_filter.so ]] || fail "plugin not in a plugin folder"
# LibTorch is a dependency exactly while an installed binary links it.
# (libtorch1.13 ships libtorch*.so.1.13 and libc10.so.1.13.)
needed=$(readelf -d "$tool" "$plugin")
if [[ "$needed" == *"[libtorch"* || "$needed" == *"[libc10"* ]]; then
  [[ "$depends" == *libtorch1.* ]] || fail "a binary links LibTorch but Depends lacks libtorch"
else
  [[ "$depends" != *libtorch* ]] || fail "Depends names libtorch, which no binary links"
fi
[[ "$(dpkg-deb -f "$dev" Depends)" == *"flsentry (= "* ]] || fail "flsentry-dev does not depend on flsentry"
dev_files=$(dpkg-deb -c "$dev")  # (not piped into grep -q: pipefail, SIGPIPE)
[[ "$dev_files" == *usr/include/aggfilter/aggfilter_host.hpp* ]] || fail "dev headers"
[[ "$dev_files" == *cmake/aggfilter/aggfilterConfig.cmake* ]] || fail "dev cmake package"

"$tool" --version
"$tool" replay "$src/model_updates/nan_demo" --config "$tmp/root/usr/share/flsentry/configs/default.yaml" \
  --out "$tmp/replay" >"$tmp/replay.log" || { cat "$tmp/replay.log"; fail "unpacked tool"; }
grep -q '"nonfinite"' "$tmp/replay/decisions.jsonl" || fail "replay decisions"
grep -q "$tmp/root/usr/lib" "$tmp/replay/summary.json" || fail "the tool did not use the unpacked plugin"
echo "ok: the unpacked flsentry ran with the unpacked plugin"
