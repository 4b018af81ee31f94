#!/usr/bin/env bash
# The Python package as a user installs it: offline pip install of python/
# into a fresh venv (--system-site-packages: Debian's numpy and setuptools),
# then, from outside the source tree, it finds the plugin at its installed
# location (an flsentry tool installed by cmake --install on PATH, no
# $FLSENTRY_PLUGIN) and the binding's tests pass on the installed package.
# Usage: pip_venv_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" --component runtime >/dev/null
# A copy, so that pip's build files stay out of the source tree.
mkdir -p "$tmp/src/host_api"
cp -r "$src/python" "$tmp/src/python"
cp "$src/host_api/aggfilter.h" "$tmp/src/host_api/"
rm -rf "$tmp/src/python/build" "$tmp/src/python"/*.egg-info
/usr/bin/python3 -m venv --system-site-packages "$tmp/venv"
"$tmp/venv/bin/pip" install --no-index --disable-pip-version-check "$tmp/src/python" >"$tmp/pip.log" 2>&1 ||
  { cat "$tmp/pip.log"; fail "pip install"; }
cd "$tmp"
unset FLSENTRY_PLUGIN
PATH="$tmp/prefix/bin:$PATH" "$tmp/venv/bin/python" - "$tmp" <<'PY'
import sys, flsentry, numpy as np
tmp = sys.argv[1]
assert flsentry.__file__.startswith(tmp + "/venv/"), flsentry.__file__
path = flsentry.find_plugin()
assert path.startswith(tmp + "/prefix/lib"), path
f = flsentry.Filter("")
x = np.ones(4, np.float32); y = x.copy(); y[0] = np.nan
d = f.filter_round([flsentry.Update("a", [x], 1), flsentry.Update("b", [y], 1)], round=1)
assert [v.action for v in d] == ["accept", "drop"] and d[1].flags == ("nonfinite",), d
print("ok: installed package found", path)
PY
plugin=$(find "$tmp/prefix" -name libflsentry_filter.so)
FLSENTRY_TEST_INSTALLED=1 FLSENTRY_PLUGIN=$plugin "$tmp/venv/bin/python" -m pytest -q -p no:cacheprovider \
  "$tmp/src/python/tests/test_binding.py"
compgen -G "$tmp/venv/lib/python3*/site-packages/flsentry/aggfilter.h" >/dev/null || fail "aggfilter.h not installed with the package"
