"""Finds the offline Flower tree (Flower 1.6.0 + shims, ../shared/flower)."""
import os
import sys
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parent.parent.parent
ENV = "FLSENTRY_FLOWER_DIR"


def flower_dir() -> Path:
    """$FLSENTRY_FLOWER_DIR, else ../shared/flower beside the repository."""
    return Path(os.environ.get(ENV) or REPO.parent / "shared" / "flower")


def flower_paths() -> List[str]:
    d = flower_dir()
    return [str(d / "shims"), str(d)] if (d / "flwr").is_dir() else []


def import_flower() -> Optional[str]:
    """Makes flwr importable (the tree above, else an installed flwr); returns
    None on success, else why it is not importable."""
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    for p in reversed(flower_paths()):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        import flwr  # noqa: F401
        from flwr.server.strategy import FedAvg  # noqa: F401
    except Exception as e:  # ImportError, or a missing dependency inside
        return (
            f"Flower is not importable ({type(e).__name__}: {e}); looked in {flower_dir()} "
            f"(set {ENV}) and the installed packages"
        )
    return None


def require_flower():
    """Skips the calling test module, with the reason, when Flower is not
    importable; fails instead when FLSENTRY_REQUIRE_FLOWER=1 (CI)."""
    import pytest

    why = import_flower()
    if why is None:
        return
    if os.environ.get("FLSENTRY_REQUIRE_FLOWER") == "1":
        pytest.fail("FLSENTRY_REQUIRE_FLOWER=1 but " + why, pytrace=False)
    pytest.skip(why, allow_module_level=True)
