"""ctypes mirror of host_api/aggfilter.h, ABI 1.1 (the layouts are fixed by
the ABI: a new minor version only appends statuses, flags or entries to
``aggf_api``; 1.1 appended a status and three flags, no entry).

Flag names are read from the header itself (``#define AGGF_FLAG_<NAME>
((uint32_t)1u << <bit>)``), so bits appended to the header show up by name
without a change here; see :func:`flag_table`.
"""
from __future__ import annotations

import ctypes
import functools
import os
import re
from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple

ABI_MAJOR = 1
ABI_MINOR = 1
ENTRY_SYMBOL = "aggf_get_api"
MAX_RANK = 8
REASON_SIZE = 48

# aggf_status
OK = 0
STATUS_NAMES = {
    0: "ok",
    1: "invalid_argument",
    2: "config",
    3: "state",
    4: "round_failed",
    5: "out_of_memory",
    6: "internal",
    7: "round_number",  # since 1.1
}
# aggf_dtype
DTYPE_F32, DTYPE_F64, DTYPE_F16, DTYPE_BF16 = 1, 2, 3, 4
# aggf_update_kind
UPDATE_DELTA, UPDATE_WEIGHTS = 0, 1
# aggf_action
ACTION_NAMES = {0: "accept", 1: "downweight", 2: "drop"}
# aggf_log_level
LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR = 0, 1, 2, 3

c_int64_p = ctypes.POINTER(ctypes.c_int64)


class Tensor(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_void_p),
        ("name_len", ctypes.c_uint32),
        ("dtype", ctypes.c_int32),
        ("rank", ctypes.c_int32),
        ("reserved0", ctypes.c_uint32),
        ("shape", c_int64_p),
        ("strides", c_int64_p),
        ("data", ctypes.c_void_p),
    ]


class Update(ctypes.Structure):
    _fields_ = [
        ("client_id", ctypes.c_void_p),
        ("client_id_len", ctypes.c_uint32),
        ("kind", ctypes.c_int32),
        ("num_examples", ctypes.c_uint64),
        ("tensors", ctypes.POINTER(Tensor)),
        ("num_tensors", ctypes.c_uint32),
        ("reserved0", ctypes.c_uint32),
    ]


class Round(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("num_updates", ctypes.c_uint32),
        ("round", ctypes.c_uint64),
        ("global_tensors", ctypes.POINTER(Tensor)),
        ("num_global_tensors", ctypes.c_uint32),
        ("reserved0", ctypes.c_uint32),
        ("updates", ctypes.POINTER(Update)),
    ]


class Decision(ctypes.Structure):
    _fields_ = [
        ("action", ctypes.c_int32),
        ("flags", ctypes.c_uint32),
        ("weight", ctypes.c_double),
        ("score", ctypes.c_double),
        ("threshold", ctypes.c_double),
        ("reason", ctypes.c_char * REASON_SIZE),
    ]


LOG_FN = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_char), ctypes.c_uint32
)
WRITE_FN = ctypes.CFUNCTYPE(
    ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint64
)


class HostCallbacks(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("reserved0", ctypes.c_uint32),
        ("user_data", ctypes.c_void_p),
        ("callback_log", LOG_FN),
    ]


INSTANCE_CREATE = ctypes.CFUNCTYPE(
    ctypes.c_int32,
    ctypes.c_char_p,  # config (need not be NUL-terminated)
    ctypes.c_uint64,
    ctypes.c_char_p,  # base_dir or NULL
    ctypes.POINTER(HostCallbacks),
    ctypes.POINTER(ctypes.c_void_p),  # out_instance
    ctypes.c_char_p,  # error_buffer
    ctypes.c_uint32,
)
INSTANCE_DESTROY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
INSTANCE_LAST_ERROR = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_void_p)
ROUND_FILTER = ctypes.CFUNCTYPE(
    ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(Round), ctypes.POINTER(Decision), ctypes.c_uint32
)
STATE_SAVE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, WRITE_FN, ctypes.c_void_p)
STATE_LOAD = ctypes.CFUNCTYPE(
    ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint64
)


class Api(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("abi_major", ctypes.c_uint32),
        ("abi_minor", ctypes.c_uint32),
        ("reserved0", ctypes.c_uint32),
        ("plugin_name", ctypes.c_char_p),
        ("plugin_version", ctypes.c_char_p),
        ("on_instance_create", INSTANCE_CREATE),
        ("on_instance_destroy", INSTANCE_DESTROY),
        ("on_instance_last_error", INSTANCE_LAST_ERROR),
        ("on_round_filter", ROUND_FILTER),
        ("on_state_save", STATE_SAVE),
        ("on_state_load", STATE_LOAD),
    ]


# Size of the ABI 1.0 table: a plugin must return at least this much.
API_1_0_SIZE = ctypes.sizeof(Api)

# The ABI 1.4 flags, used only when no aggfilter.h can be found.
_FLAGS_1_4: Tuple[Tuple[int, str], ...] = (
    (0, "nonfinite"),
    (1, "shape_mismatch"),
    (2, "anomalous"),
    (3, "norm_guard"),
    (4, "quarantined"),
    (5, "probation"),
    (6, "allowlisted"),
    (7, "denylisted"),
    (8, "score_failed"),
    (9, "failsafe"),
    (10, "invalid"),
    (11, "duplicate"),
    (12, "central"),
    (13, "num_examples"),
    (14, "no_average"),
    (15, "inconsistent"),
    (16, "opposed"),
    (17, "column_outlier"),
)

_FLAG_RE = re.compile(r"^#define\s+AGGF_FLAG_(\w+)\s+\(\(uint32_t\)1u\s*<<\s*(\d+)\)", re.M)


def parse_flags(header_text: str) -> Dict[int, str]:
    """Bit number -> lower-case flag name, from the text of aggfilter.h."""
    return {int(bit): name.lower() for name, bit in _FLAG_RE.findall(header_text)}


def header_candidates(plugin_path: Optional[str] = None) -> Iterable[Path]:
    """Where aggfilter.h may be: $AGGFILTER_H, a copy installed with this
    package, the source tree this package lies in, and the include folder of
    the prefix the plugin was installed into."""
    env = os.environ.get("AGGFILTER_H")
    if env:
        yield Path(env)
    here = Path(__file__).resolve().parent
    yield here / "aggfilter.h"
    yield here.parent.parent / "host_api" / "aggfilter.h"
    if plugin_path:
        p = Path(plugin_path).resolve().parent
        for up in (p.parent.parent, p.parent.parent.parent):  # lib[/<arch>]/flsentry
            yield up / "include" / "aggfilter" / "aggfilter.h"


@functools.lru_cache(maxsize=None)
def flag_table(plugin_path: Optional[str] = None) -> Tuple[Tuple[int, str], ...]:
    """(bit, name) for every AGGF_FLAG_* of the first aggfilter.h found, the
    ABI 1.4 table if none is. Bits the table does not name are reported as
    ``bit<N>`` by :func:`flag_names`."""
    for path in header_candidates(plugin_path):
        try:
            flags = parse_flags(path.read_text(encoding="utf-8"))
        except OSError:
            continue
        if flags:
            return tuple(sorted(flags.items()))
    return _FLAGS_1_4


def flag_names(bits: int, table: Tuple[Tuple[int, str], ...]) -> Tuple[str, ...]:
    """Names of the set bits of aggf_decision.flags, lowest bit first."""
    names = []
    known = dict(table)
    for bit in range(32):
        if bits & (1 << bit):
            names.append(known.get(bit, f"bit{bit}"))
    return tuple(names)
