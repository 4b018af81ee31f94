"""Shared set-up of the Python tests (run by CTest: tests/python/).

The package is imported from this source tree unless FLSENTRY_TEST_INSTALLED
is set (then from wherever it is installed). The plugin comes from
$FLSENTRY_PLUGIN, else the release build of this tree. Flower, when a test
needs it, from $FLSENTRY_FLOWER_DIR, else ../shared/flower beside the
repository (see flower_env.py).
"""
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
if not os.environ.get("FLSENTRY_TEST_INSTALLED"):
    sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def plugin_path() -> str:
    path = os.environ.get("FLSENTRY_PLUGIN") or str(REPO / "build/release/plugin/libflsentry_filter.so")
    if not Path(path).is_file():
        pytest.fail(f"no plugin at {path}: build it (scripts/build.sh) or set FLSENTRY_PLUGIN")
    return path
