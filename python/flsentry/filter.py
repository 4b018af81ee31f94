"""The plugin, a filter instance, one round: ctypes over host_api/aggfilter.h.

Zero-copy: the buffers of the arrays you pass are handed to the plugin as
they are (pointer, shape, strides in elements). A copy is made only for
what the C interface cannot express: negative or non-element strides,
unaligned or byte-swapped data.

Threading: a :class:`Filter` serialises its own calls (a lock); the plugin
runs without the GIL (ctypes releases it), so several filters may work in
parallel threads.
"""
from __future__ import annotations

import ctypes
import logging
import os
import shutil
import sysconfig
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import numpy as np

from . import _abi

PLUGIN_ENV = "FLSENTRY_PLUGIN"
PLUGIN_FILE = "libflsentry_filter.so"

ArrayLike = Any  # numpy.ndarray, a torch.Tensor, or a BFloat16 view
Tensors = Union[Mapping[str, ArrayLike], Sequence[ArrayLike]]
PathLike = Union[str, "os.PathLike[str]"]

_log = logging.getLogger("flsentry")


# ---- errors ----------------------------------------------------------------


class FilterError(Exception):
    """The plugin refused a call. ``status`` is its aggf_status code,
    ``status_name`` its name ("config", "state", ...), the message the
    plugin's own text (on_instance_last_error or the create error)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.status_name = _abi.STATUS_NAMES.get(status, f"status{status}")


class ConfigError(FilterError, ValueError):
    """The policy was refused (AGGF_ERR_CONFIG); the message names the key,
    line and column."""


class StateError(FilterError):
    """Saved state could not be read (AGGF_ERR_STATE)."""


class RoundFailedError(FilterError):
    """The policy refused to filter the round (AGGF_ERR_ROUND_FAILED)."""


class RoundNumberError(FilterError):
    """The round's number was refused (AGGF_ERR_ROUND_NUMBER, ABI 1.1): lower
    than the last round filtered, equal to it with other updates, or too far
    ahead (rounds.max_gap). The filter is unchanged and stays usable."""


class PluginNotFoundError(FilterError, FileNotFoundError):
    """No plugin at the given path, in $FLSENTRY_PLUGIN or an installed place."""


def _error(status: int, message: str) -> FilterError:
    cls = {2: ConfigError, 3: StateError, 4: RoundFailedError, 7: RoundNumberError}.get(
        status, FilterError
    )
    return cls(status, message)


# ---- inputs and outputs ----------------------------------------------------


@dataclass(frozen=True)
class BFloat16:
    """A bfloat16 tensor given as its raw bits: a uint16 or int16 array
    (numpy has no bfloat16 dtype of its own). Arrays whose dtype is named
    ``bfloat16`` (ml_dtypes) and torch bfloat16 tensors are recognised
    without this wrapper."""

    bits: np.ndarray


@dataclass
class Update:
    """One client's update.

    tensors: name -> array, or a sequence of arrays (named "0", "1", ... in
      order). float32, float64, float16 or bfloat16, any shape; the same
      names and shapes for every client of a round.
    num_examples: examples the client trained on (the FedAvg weight).
    kind: "delta" (local - global weights) or "weights" (full local weights:
      the plugin subtracts the round's global model, which must then be
      given to :meth:`Filter.filter_round`).
    """

    client_id: str
    tensors: Tensors
    num_examples: int
    kind: str = "delta"


@dataclass(frozen=True)
class Decision:
    """The plugin's answer for one update, as plain Python values.

    action: "accept", "downweight" or "drop".
    weight: multiplier in [0, 1] of the update's num_examples (0 = dropped).
    score: the filter's anomaly score (for flsentry: the autoencoder's
      reconstruction error, or the update's L2 norm without a detector);
      None when the update was not scored.
    threshold: the score above which it would be anomalous; None when no
      threshold applied.
    flags: names of the decision's flag bits, e.g. ("anomalous",
      "quarantined"), from aggfilter.h; unknown bits as "bit<N>".
    reason: the plugin's short reason, e.g. "ok", "nonfinite", "quarantined".
    """

    client_id: str
    action: str
    weight: float
    score: Optional[float]
    threshold: Optional[float]
    flags: Tuple[str, ...]
    flag_bits: int
    reason: str

    @property
    def kept(self) -> bool:
        """True unless dropped (weight > 0)."""
        return self.action != "drop"

    def to_dict(self) -> Dict[str, Any]:
        return {
            "client_id": self.client_id,
            "action": self.action,
            "weight": self.weight,
            "score": self.score,
            "threshold": self.threshold,
            "flags": list(self.flags),
            "reason": self.reason,
        }


# ---- finding and loading the plugin ----------------------------------------


def plugin_candidates() -> List[Path]:
    """Installed places the plugin is looked for, in order: beside or
    relative to an ``flsentry`` tool on PATH (bin/ -> lib[/<multiarch>]/
    flsentry/), then /usr/local and /usr."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    libdirs = ["lib"] + ([f"lib/{multiarch}"] if multiarch else [])
    out: List[Path] = []
    tool = shutil.which("flsentry")
    if tool:
        bindir = Path(tool).resolve().parent
        out.append(bindir / PLUGIN_FILE)  # a build tree: beside the tool
        out += [bindir.parent / d / "flsentry" / PLUGIN_FILE for d in libdirs]
    for prefix in ("/usr/local", "/usr"):
        out += [Path(prefix) / d / "flsentry" / PLUGIN_FILE for d in libdirs]
    return out


def find_plugin(path: Optional[PathLike] = None) -> str:
    """The plugin to load: ``path`` if given, else $FLSENTRY_PLUGIN, else the
    first of :func:`plugin_candidates` that exists.
    Raises PluginNotFoundError naming every place tried."""
    if path is not None:
        if not Path(path).is_file():
            raise PluginNotFoundError(1, f"no filter plugin at {os.fspath(path)}")
        return os.fspath(path)
    env = os.environ.get(PLUGIN_ENV)
    if env:
        if not Path(env).is_file():
            raise PluginNotFoundError(1, f"${PLUGIN_ENV}={env}: no such file")
        return env
    tried = plugin_candidates()
    for candidate in tried:
        if candidate.is_file():
            return str(candidate)
    raise PluginNotFoundError(
        1,
        f"no flsentry plugin found: pass plugin=PATH, set ${PLUGIN_ENV}, or "
        f"install it (cmake --install, or the flsentry .deb); tried "
        + ", ".join(str(c) for c in tried),
    )


class Plugin:
    """A loaded plugin (dlopen'ed once per path, never unloaded: plugins that
    link LibTorch must not be dlclose'd). Use :func:`load_plugin`."""

    def __init__(self, path: str) -> None:
        mode = os.RTLD_NOW | os.RTLD_LOCAL | getattr(os, "RTLD_NODELETE", 0)
        try:
            self._lib = ctypes.CDLL(path, mode=mode)
        except OSError as e:
            raise PluginNotFoundError(1, f"cannot load filter plugin {path}: {e}") from None
        try:
            get_api = getattr(self._lib, _abi.ENTRY_SYMBOL)
        except AttributeError:
            raise FilterError(1, f"filter plugin {path} does not export {_abi.ENTRY_SYMBOL}") from None
        get_api.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_uint32]
        get_api.restype = ctypes.POINTER(_abi.Api)
        error = ctypes.create_string_buffer(256)
        api = get_api(_abi.ABI_MAJOR, error, len(error))
        if not api:
            raise FilterError(
                1,
                f"filter plugin {path} refused ABI version {_abi.ABI_MAJOR}: "
                + error.value.decode("utf-8", "replace"),
            )
        table = api.contents
        if table.abi_major != _abi.ABI_MAJOR or table.struct_size < _abi.API_1_0_SIZE:
            raise FilterError(1, f"filter plugin {path} returned an incompatible table")
        self.path = path
        self.api = table
        self.name: str = table.plugin_name.decode("utf-8", "replace")
        self.version: str = table.plugin_version.decode("utf-8", "replace")
        self.abi: Tuple[int, int] = (table.abi_major, table.abi_minor)
        self.flags = _abi.flag_table(path)

    def __repr__(self) -> str:
        return f"<Plugin {self.name} {self.version} ABI {self.abi[0]}.{self.abi[1]} at {self.path}>"


_plugins: Dict[str, Plugin] = {}
_plugins_lock = threading.Lock()


def load_plugin(path: Optional[PathLike] = None) -> Plugin:
    """Loads (once per file) the plugin :func:`find_plugin` names."""
    resolved = os.path.realpath(find_plugin(path))
    with _plugins_lock:
        plugin = _plugins.get(resolved)
        if plugin is None:
            plugin = _plugins[resolved] = Plugin(resolved)
        return plugin


# ---- tensors -> aggf_tensor ------------------------------------------------

_DTYPES = {
    np.dtype(np.float32): _abi.DTYPE_F32,
    np.dtype(np.float64): _abi.DTYPE_F64,
    np.dtype(np.float16): _abi.DTYPE_F16,
}


def _from_torch(t: Any) -> ArrayLike:
    """A torch tensor's numpy view (a copy only for GPU or non-CPU memory)."""
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if str(t.dtype) == "torch.bfloat16":
        import torch  # only reached with a torch tensor in hand

        return BFloat16(t.view(torch.int16).numpy())
    return t.numpy()


def as_array(value: ArrayLike) -> Tuple[np.ndarray, int]:
    """(array, aggf_dtype) for a supported tensor, without copying when the
    C interface can read the buffer as it is. Raises TypeError for other
    dtypes."""
    if type(value).__module__.startswith("torch"):
        value = _from_torch(value)
    if isinstance(value, BFloat16):
        arr = np.asarray(value.bits)
        if arr.dtype.itemsize != 2 or arr.dtype.kind not in "ui":
            raise TypeError(f"BFloat16 bits must be uint16 or int16, not {arr.dtype}")
        code = _abi.DTYPE_BF16
    else:
        arr = np.asarray(value)
        if arr.dtype.name == "bfloat16" and arr.dtype.itemsize == 2:
            code = _abi.DTYPE_BF16
        else:
            code = _DTYPES.get(arr.dtype.newbyteorder("="), 0)
            if not code:
                raise TypeError(
                    f"dtype {arr.dtype} is not supported: float32, float64, float16 or bfloat16"
                )
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if not arr.flags.aligned or any(s < 0 or s % arr.itemsize for s in arr.strides):
        arr = np.ascontiguousarray(arr)
    return arr, code


class _RoundBuffers:
    """Owns every ctypes object and array a round points to, until the call
    returns (the plugin borrows them for the call only)."""

    def __init__(self) -> None:
        self.keep: List[Any] = []

    def bytes_ptr(self, text: str) -> Tuple[int, int]:
        raw = text.encode("utf-8")
        self.keep.append(raw)
        return ctypes.cast(ctypes.c_char_p(raw), ctypes.c_void_p).value or 0, len(raw)

    def tensors(self, tensors: Tensors, where: str) -> Tuple[Any, int]:
        items = (
            list(tensors.items())
            if isinstance(tensors, Mapping)
            else [(str(i), t) for i, t in enumerate(tensors)]
        )
        out = (_abi.Tensor * max(1, len(items)))()
        for slot, (name, value) in zip(out, items):
            try:
                arr, code = as_array(value)
            except TypeError as e:
                raise TypeError(f"{where}, tensor {name!r}: {e}") from None
            if arr.ndim > _abi.MAX_RANK:
                raise ValueError(f"{where}, tensor {name!r}: rank {arr.ndim} > {_abi.MAX_RANK}")
            self.keep.append(arr)
            slot.name, slot.name_len = self.bytes_ptr(str(name))
            slot.dtype = code
            slot.rank = arr.ndim
            if arr.ndim:
                shape = (ctypes.c_int64 * arr.ndim)(*arr.shape)
                self.keep.append(shape)
                slot.shape = shape
                if not arr.flags.c_contiguous:
                    strides = (ctypes.c_int64 * arr.ndim)(*(s // arr.itemsize for s in arr.strides))
                    self.keep.append(strides)
                    slot.strides = strides
            slot.data = arr.__array_interface__["data"][0] if arr.size else None
        self.keep.append(out)
        return out, len(items)


# ---- a filter instance -----------------------------------------------------

LogFn = Callable[[str, str], None]
_LEVELS = {0: "debug", 1: "info", 2: "warning", 3: "error"}


def _log_to_logging(level: str, message: str) -> None:
    _log.log(getattr(logging, level.upper(), logging.INFO), "%s", message)


class Filter:
    """One instance of the plugin, configured by a policy.

    Filter(policy_yaml) creates it from YAML text; :meth:`from_file` from a
    policy file. ``base_dir`` is where relative paths in the policy (state
    file, audit log, detector) resolve; None = the current directory
    (from_file: the policy file's directory). ``plugin`` is a path or a
    :class:`Plugin` (default: :func:`find_plugin`). ``log`` receives the
    plugin's log lines as (level, message); default: the "flsentry" logger.

    Raises ConfigError (the policy's message names key, line and column),
    StateError (the policy's state file is unreadable), PluginNotFoundError.
    """

    def __init__(
        self,
        policy_yaml: Union[str, bytes] = "",
        *,
        base_dir: Optional[PathLike] = None,
        plugin: Union[None, PathLike, Plugin] = None,
        log: Optional[LogFn] = None,
    ) -> None:
        self._handle: Optional[int] = None
        self.plugin = plugin if isinstance(plugin, Plugin) else load_plugin(plugin)
        self._lock = threading.Lock()
        self._log_fn = log or _log_to_logging
        self._log_cb = _abi.LOG_FN(self._on_log)  # kept alive with the instance
        self._callbacks = _abi.HostCallbacks(ctypes.sizeof(_abi.HostCallbacks), 0, None, self._log_cb)
        config = policy_yaml.encode("utf-8") if isinstance(policy_yaml, str) else bytes(policy_yaml)
        base = os.fsencode(os.fspath(base_dir)) if base_dir is not None else None
        handle = ctypes.c_void_p()
        error = ctypes.create_string_buffer(4096)
        status = self.plugin.api.on_instance_create(
            config, len(config), base, ctypes.byref(self._callbacks), ctypes.byref(handle), error, len(error)
        )
        if status != _abi.OK or not handle.value:
            raise _error(status or 6, error.value.decode("utf-8", "replace"))
        self._handle = handle.value
        self.last_plugin_seconds = 0.0  # wall time of the last on_round_filter

    @classmethod
    def from_file(
        cls,
        path: PathLike,
        *,
        base_dir: Optional[PathLike] = None,
        plugin: Union[None, PathLike, Plugin] = None,
        log: Optional[LogFn] = None,
    ) -> "Filter":
        """A filter from a policy file; relative paths in it resolve against
        ``base_dir``, by default the file's own directory."""
        p = Path(path)
        text = p.read_bytes()
        return cls(text, base_dir=base_dir if base_dir is not None else p.resolve().parent, plugin=plugin, log=log)

    def _on_log(self, _user: Any, level: int, message: Any, length: int) -> None:
        try:
            text = ctypes.string_at(message, length).decode("utf-8", "replace")
            self._log_fn(_LEVELS.get(level, "info"), text)
        except Exception:  # a callback must not raise into the plugin
            _log.exception("flsentry log callback failed")

    def _check(self, status: int) -> None:
        if status != _abi.OK:
            text = self.plugin.api.on_instance_last_error(self._handle)
            raise _error(status, text.decode("utf-8", "replace") if text else "")

    def _require_open(self) -> int:
        if self._handle is None:
            raise ValueError("the filter is closed")
        return self._handle

    def filter_round(
        self,
        updates: Sequence[Update],
        *,
        round: int,
        global_model: Optional[Tensors] = None,
    ) -> List[Decision]:
        """Filters one round; one :class:`Decision` per update, in order.

        round: the round number, increasing from call to call (the policy's
          quarantine and windows count these). The last round's number again
          with the same updates (a retry after a crash) returns the stored
          decisions; a lower number, the same number with other updates or
          a jump beyond rounds.max_gap raises RoundNumberError.
        global_model: the weights the clients started from, the same names
          and shapes as the updates' tensors; required for kind "weights".
        A malformed update (duplicate client id, wrong shape, NaN...) does
        not raise: it is dropped with a flag and reason. Raises TypeError
        for a dtype the interface cannot carry, RoundFailedError when the
        policy refuses the round, RoundNumberError as above, FilterError for
        other plugin errors; after any of them the filter is as it was.
        """
        buffers = _RoundBuffers()
        c_updates = (_abi.Update * max(1, len(updates)))()
        for slot, u in zip(c_updates, updates):
            where = f"update of {u.client_id!r}"
            slot.client_id, slot.client_id_len = buffers.bytes_ptr(str(u.client_id))
            if u.kind not in ("delta", "weights"):
                raise ValueError(f"{where}: kind must be 'delta' or 'weights', not {u.kind!r}")
            slot.kind = _abi.UPDATE_WEIGHTS if u.kind == "weights" else _abi.UPDATE_DELTA
            if int(u.num_examples) < 0:
                raise ValueError(f"{where}: num_examples must be >= 0")
            slot.num_examples = int(u.num_examples)
            slot.tensors, slot.num_tensors = buffers.tensors(u.tensors, where)
        c_round = _abi.Round()
        c_round.struct_size = ctypes.sizeof(_abi.Round)
        c_round.num_updates = len(updates)
        c_round.round = int(round)
        c_round.updates = c_updates
        if global_model is not None:
            c_round.global_tensors, c_round.num_global_tensors = buffers.tensors(global_model, "global model")
        decisions = (_abi.Decision * max(1, len(updates)))()
        with self._lock:
            handle = self._require_open()
            start = time.perf_counter()
            status = self.plugin.api.on_round_filter(handle, ctypes.byref(c_round), decisions, len(updates))
            self.last_plugin_seconds = time.perf_counter() - start
            self._check(status)
        del buffers  # the plugin keeps no pointer after the call
        table = self.plugin.flags
        out = []
        for u, d in zip(updates, decisions[: len(updates)]):
            out.append(
                Decision(
                    client_id=str(u.client_id),
                    action=_abi.ACTION_NAMES.get(d.action, f"action{d.action}"),
                    weight=float(d.weight),
                    score=None if d.score != d.score else float(d.score),
                    threshold=None if d.threshold != d.threshold else float(d.threshold),
                    flags=_abi.flag_names(d.flags, table),
                    flag_bits=int(d.flags),
                    reason=d.reason.decode("utf-8", "replace"),
                )
            )
        return out

    def save_state(self) -> bytes:
        """The instance's state as opaque bytes (for flsentry: the JSON of the
        state file). Restore with :meth:`load_state`."""
        chunks: List[bytes] = []

        def sink(_user: Any, data: Any, size: int) -> int:
            chunks.append(ctypes.string_at(data, size))
            return 0

        write = _abi.WRITE_FN(sink)
        with self._lock:
            self._check(self.plugin.api.on_state_save(self._require_open(), write, None))
        return b"".join(chunks)

    def load_state(self, data: bytes) -> None:
        """Replaces the state with bytes from :meth:`save_state`; unchanged
        and StateError when the bytes cannot be read."""
        raw = bytes(data)
        buf = (ctypes.c_uint8 * max(1, len(raw))).from_buffer_copy(raw or b"\0")
        with self._lock:
            self._check(self.plugin.api.on_state_load(self._require_open(), buf, len(raw)))

    def close(self) -> None:
        """Destroys the plugin instance (idempotent)."""
        with self._lock:
            if self._handle is not None:
                self.plugin.api.on_instance_destroy(self._handle)
                self._handle = None

    def __enter__(self) -> "Filter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else "open"
        return f"<Filter {state} {self.plugin.name} {self.plugin.version}>"
