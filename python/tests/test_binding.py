"""The ctypes binding against the real plugin, with numpy alone."""
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import flsentry
from flsentry import _abi

# No detector: each update's score is its L2 norm (of the delta); a static
# threshold of 10 makes "anomalous" easy to provoke; one strike quarantines.
STRICT_NORM = """
thresholds:
  rules: [{kind: static, value: 10}]
guards:
  norm: {enabled: false}
quarantine: {strikes: 1, window_rounds: 5, rounds: 5}
fail_safes: {max_drop_fraction: 1.0, min_accepted: 0}
"""


def honest(seed, shape=(4, 5)):
    return np.random.default_rng(seed).normal(0, 0.1, shape).astype(np.float32)


def test_loads_the_plugin(plugin_path):
    plugin = flsentry.load_plugin(plugin_path)
    assert plugin.name == "flsentry"
    assert plugin.abi[0] == 1
    assert flsentry.load_plugin(plugin_path) is plugin  # loaded once


def test_nan_update_is_dropped_with_its_flag_and_reason(plugin_path):
    f = flsentry.Filter("", plugin=plugin_path)
    bad = honest(3)
    bad[1, 2] = np.nan
    ups = [flsentry.Update(f"c{i}", {"w": honest(i)}, 600) for i in range(3)]
    ups.append(flsentry.Update("nan", {"w": bad}, 600))
    d = f.filter_round(ups, round=1)
    assert [x.client_id for x in d] == ["c0", "c1", "c2", "nan"]
    assert [x.action for x in d[:3]] == ["accept"] * 3
    assert d[3].action == "drop" and d[3].weight == 0.0
    assert d[3].reason == "nonfinite" and "nonfinite" in d[3].flags
    assert d[3].score is None and not d[3].kept
    assert d[0].score == pytest.approx(float(np.linalg.norm(honest(0))), rel=1e-5)
    assert isinstance(d[0].to_dict()["flags"], list)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_float_dtypes_score_their_norm(plugin_path, dtype):
    f = flsentry.Filter("", plugin=plugin_path)
    x = honest(1).astype(dtype)
    d = f.filter_round([flsentry.Update("a", [x], 1)], round=1)
    assert d[0].score == pytest.approx(float(np.linalg.norm(x.astype(np.float64))), rel=1e-3)


def test_bfloat16_bits(plugin_path):
    f = flsentry.Filter("", plugin=plugin_path)
    x = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    bits = (x.view(np.uint32) >> 16).astype(np.uint16)  # exact in bfloat16
    d = f.filter_round([flsentry.Update("a", {"w": flsentry.BFloat16(bits)}, 1)], round=1)
    assert d[0].score == pytest.approx(float(np.linalg.norm(x)))


def test_unsupported_dtype_is_a_type_error_naming_the_tensor(plugin_path):
    f = flsentry.Filter("", plugin=plugin_path)
    with pytest.raises(TypeError, match="'a'.*'steps'.*int64"):
        f.filter_round([flsentry.Update("a", {"steps": np.arange(3)}, 1)], round=1)


def test_strided_views_are_passed_without_a_copy(plugin_path):
    base = np.random.default_rng(0).normal(0, 1, (6, 8)).astype(np.float32)
    view = base[::2, 1::3]  # positive element strides: zero-copy
    arr, code = flsentry.as_array(view)
    assert code == _abi.DTYPE_F32 and np.shares_memory(arr, base)
    assert flsentry.as_array(base.T)[0] is not None and np.shares_memory(flsentry.as_array(base.T)[0], base)
    flipped = base[::-1]  # negative strides: the interface needs a copy
    assert not np.shares_memory(flsentry.as_array(flipped)[0], base)
    f = flsentry.Filter("", plugin=plugin_path)
    d = f.filter_round(
        [
            flsentry.Update("view", {"w": view}, 1),
            flsentry.Update("copy", {"w": np.ascontiguousarray(view)}, 1),
            flsentry.Update("flip", {"w": flipped[::-1][::2, 1::3]}, 1),
        ],
        round=1,
    )
    assert d[0].score == pytest.approx(d[1].score) and d[2].score == pytest.approx(d[1].score)


def test_weights_are_compared_with_the_global_model(plugin_path):
    f = flsentry.Filter("", plugin=plugin_path)
    g = honest(7)
    delta = honest(8)
    d = f.filter_round(
        [flsentry.Update("a", {"w": g + delta}, 10, kind="weights")], round=1, global_model={"w": g}
    )
    assert d[0].score == pytest.approx(float(np.linalg.norm(delta)), rel=1e-4)
    missing = f.filter_round([flsentry.Update("a", {"w": g}, 10, kind="weights")], round=2)
    assert missing[0].action == "drop" and "invalid" in missing[0].flags


def test_torch_tensors_through_their_numpy_view(plugin_path):
    torch = pytest.importorskip("torch")
    f = flsentry.Filter("", plugin=plugin_path)
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    b = torch.tensor([1.0, -2.0, 0.5], dtype=torch.bfloat16)
    d = f.filter_round([flsentry.Update("t", {"w": t}, 1)], round=1)
    assert d[0].score == pytest.approx(float(t.norm()))
    d = f.filter_round([flsentry.Update("b", {"w": b}, 1)], round=2)
    assert d[0].score == pytest.approx(math.sqrt(1 + 4 + 0.25))
    arr, _ = flsentry.as_array(t)
    assert arr.__array_interface__["data"][0] == t.data_ptr()  # no copy


def test_config_error_carries_the_plugins_message(plugin_path):
    with pytest.raises(flsentry.ConfigError) as e:
        flsentry.Filter("thresholds:\n  combine: maybe\n", plugin=plugin_path)
    assert "thresholds.combine" in str(e.value) and "line 2" in str(e.value)
    assert e.value.status_name == "config" and isinstance(e.value, ValueError)


def test_plugin_from_argument_environment_or_error(plugin_path, monkeypatch, tmp_path):
    monkeypatch.setenv("FLSENTRY_PLUGIN", plugin_path)
    assert flsentry.find_plugin() == plugin_path
    with pytest.raises(flsentry.PluginNotFoundError, match="no filter plugin at"):
        flsentry.find_plugin(tmp_path / "nope.so")
    monkeypatch.setenv("FLSENTRY_PLUGIN", str(tmp_path / "gone.so"))
    with pytest.raises(flsentry.PluginNotFoundError, match="FLSENTRY_PLUGIN"):
        flsentry.Filter("")
    monkeypatch.delenv("FLSENTRY_PLUGIN")
    monkeypatch.setenv("PATH", str(tmp_path))  # no flsentry tool on PATH
    found = [str(p) for p in flsentry.plugin_candidates()]
    assert any(p.startswith("/usr/lib") and p.endswith("/flsentry/libflsentry_filter.so") for p in found)


def _round(f, r, evil_scale):
    ups = [flsentry.Update(f"c{i}", {"w": honest(10 * r + i)}, 100) for i in range(3)]
    ups.append(flsentry.Update("evil", {"w": honest(99) * evil_scale}, 100))
    return {d.client_id: d for d in f.filter_round(ups, round=r)}


def test_state_save_load_keeps_the_quarantine(plugin_path):
    f = flsentry.Filter(STRICT_NORM, plugin=plugin_path)
    first = _round(f, 1, evil_scale=1000.0)
    assert first["evil"].action == "drop" and "anomalous" in first["evil"].flags
    state = f.save_state()
    assert json.loads(state)["round"] == 1
    fresh = flsentry.Filter(STRICT_NORM, plugin=plugin_path)
    fresh.load_state(state)
    again = _round(fresh, 2, evil_scale=1.0)  # behaves now, still quarantined
    assert again["evil"].reason == "quarantined" and "quarantined" in again["evil"].flags
    assert _round(flsentry.Filter(STRICT_NORM, plugin=plugin_path), 2, 1.0)["evil"].kept
    with pytest.raises(flsentry.StateError):
        fresh.load_state(b"{not json")
    assert json.loads(fresh.save_state())["round"] == 2  # unchanged by the failure


def test_state_file_survives_a_restart(plugin_path, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(STRICT_NORM + "state: {path: state.json}\naudit: {path: audit.jsonl}\n")
    with flsentry.Filter.from_file(policy, plugin=plugin_path) as f:
        _round(f, 1, evil_scale=1000.0)
    assert (tmp_path / "state.json").is_file() and (tmp_path / "audit.jsonl").is_file()
    with flsentry.Filter.from_file(policy, plugin=plugin_path) as restarted:
        assert _round(restarted, 2, 1.0)["evil"].reason == "quarantined"
    with pytest.raises(ValueError, match="closed"):
        restarted.save_state()


def test_duplicate_client_is_invalid_and_logged(plugin_path):
    lines = []
    f = flsentry.Filter("", plugin=plugin_path, log=lambda level, msg: lines.append((level, msg)))
    d = f.filter_round(
        [flsentry.Update("a", [honest(1)], 1), flsentry.Update("a", [honest(2)], 1)], round=1
    )
    assert d[1].action == "drop" and "invalid" in d[1].flags
    assert any(level == "warning" and "duplicate" in msg for level, msg in lines)


def test_flag_names_come_from_the_header():
    header = "#define AGGF_FLAG_NONFINITE ((uint32_t)1u << 0)\n#define AGGF_FLAG_NUM_EXAMPLES ((uint32_t)1u << 13)\n"
    table = tuple(sorted(_abi.parse_flags(header).items()))
    assert _abi.flag_names((1 << 0) | (1 << 13) | (1 << 20), table) == ("nonfinite", "num_examples", "bit20")
    real = dict(_abi.flag_table())
    assert real[0] == "nonfinite" and real[12] == "central"


def test_round_numbers_are_checked_and_a_retry_gets_the_stored_decisions(plugin_path):
    f = flsentry.Filter(STRICT_NORM, plugin=plugin_path)
    first = _round(f, 3, evil_scale=1000.0)
    retry = _round(f, 3, evil_scale=1000.0)  # same updates: the host crashed
    assert {c: (d.action, d.flags) for c, d in retry.items()} == {
        c: (d.action, d.flags) for c, d in first.items()
    }
    for number, scale in ((2, 1000.0), (3, 1.0)):  # lower; same with other updates
        with pytest.raises(flsentry.RoundNumberError) as e:
            _round(f, number, evil_scale=scale)
        assert e.value.status == 7 and e.value.status_name == "round_number"
    assert json.loads(f.save_state())["round"] == 3  # unchanged by the refusals
    assert _round(f, 4, evil_scale=1.0)["evil"].reason == "quarantined"


def test_every_status_of_the_header_has_a_name():
    header = (Path(__file__).resolve().parents[2] / "host_api" / "aggfilter.h").read_text()
    codes = {int(v) for v in re.findall(r"^\s*AGGF_(?:OK|ERR_\w+)\s*=\s*(\d+)", header, re.M)}
    assert 7 in codes and codes == set(_abi.STATUS_NAMES)
