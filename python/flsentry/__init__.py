"""flsentry for Python: the flsentry aggregation-filter plugin over its C
interface (host_api/aggfilter.h) with ctypes, and a Flower strategy wrapper
(:mod:`flsentry.flower`).

    import flsentry
    f = flsentry.Filter.from_file("/usr/share/flsentry/configs/default.yaml",
                                  base_dir="state/")
    decisions = f.filter_round(
        [flsentry.Update("alice", {"w": delta_a}, num_examples=600),
         flsentry.Update("bob", {"w": delta_b}, num_examples=600)],
        round=1)
    decisions[1].action, decisions[1].reason   # ("drop", "nonfinite")

The plugin is found from an argument (plugin=PATH), $FLSENTRY_PLUGIN, or the
installed location (see :func:`find_plugin`). Pure Python: needs numpy only.
"""
from .filter import (
    BFloat16,
    ConfigError,
    Decision,
    Filter,
    FilterError,
    Plugin,
    PluginNotFoundError,
    RoundFailedError,
    RoundNumberError,
    StateError,
    Update,
    as_array,
    find_plugin,
    load_plugin,
    plugin_candidates,
)

__version__ = "0.1.0"

__all__ = [
    "BFloat16",
    "ConfigError",
    "Decision",
    "Filter",
    "FilterError",
    "Plugin",
    "PluginNotFoundError",
    "RoundFailedError",
    "RoundNumberError",
    "StateError",
    "Update",
    "as_array",
    "find_plugin",
    "load_plugin",
    "plugin_candidates",
]
