"""FilteredStrategy with Flower's own classes, in process (no gRPC): what the
wrapped strategy receives, the metrics, ids, weights, restarts. The real
gRPC run is test_flower_real.py."""
import json

import numpy as np
import pytest

from flower_env import require_flower

require_flower()

from flwr.common import (  # noqa: E402
    Code,
    FitRes,
    Parameters,
    Status,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server.client_manager import SimpleClientManager  # noqa: E402
from flwr.server.client_proxy import ClientProxy  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402

import flsentry  # noqa: E402
from flsentry.flower import FilteredStrategy, parameters_as_arrays  # noqa: E402

# L2 norm of the delta as the score (no detector), static threshold 1.0.
POLICY = """
thresholds:
  rules: [{kind: static, value: 1.0}]
actions: {on_anomalous: %s}
guards:
  norm: {enabled: false}
quarantine: {strikes: 2, window_rounds: 10, rounds: 10}
fail_safes: {max_drop_fraction: 1.0, min_accepted: 0}
"""


class Proxy(ClientProxy):
    def get_properties(self, ins, timeout):  # pragma: no cover - unused
        raise NotImplementedError

    def get_parameters(self, ins, timeout):  # pragma: no cover
        raise NotImplementedError

    def fit(self, ins, timeout):  # pragma: no cover
        raise NotImplementedError

    def evaluate(self, ins, timeout):  # pragma: no cover
        raise NotImplementedError

    def reconnect(self, ins, timeout):  # pragma: no cover
        raise NotImplementedError


class Recording(FedAvg):
    """FedAvg that remembers what it was given."""

    def aggregate_fit(self, server_round, results, failures):
        self.seen = [(p.cid, r.num_examples) for p, r in results]
        return super().aggregate_fit(server_round, results, failures)


GLOBAL = [np.zeros((3, 4), np.float32), np.ones(4, np.float32), np.array([7], np.int64)]


def weights(delta_scale, seed):
    rng = np.random.default_rng(seed)
    return [
        GLOBAL[0] + delta_scale * rng.normal(0, 0.1, (3, 4)).astype(np.float32),
        GLOBAL[1] + delta_scale * rng.normal(0, 0.1, 4).astype(np.float32),
        GLOBAL[2] + 1,  # an integer counter: passed through, not filtered
    ]


def fit_res(arrays, n, cid=None):
    metrics = {"client_id": cid} if cid else {}
    return FitRes(Status(Code.OK, ""), ndarrays_to_parameters(arrays), n, metrics)


def run_round(strategy, server_round, results):
    proxies = [p for p, _ in results]
    manager = SimpleClientManager()
    for p in proxies:
        manager.register(p)
    strategy.configure_fit(server_round, ndarrays_to_parameters(GLOBAL), manager)
    return strategy.aggregate_fit(server_round, results, [])


def honest_results(r):
    return [(Proxy(f"ipv4:127.0.0.1:{5000 + i}"), fit_res(weights(1, 10 * r + i), 100, f"c{i}")) for i in range(3)]


def make(plugin_path, action="drop", **kw):
    inner = Recording(min_fit_clients=1, min_available_clients=1)
    return inner, FilteredStrategy(inner, policy_yaml=POLICY % action, plugin=plugin_path, **kw)


def test_drops_go_nowhere_and_the_rest_is_fedavg(plugin_path):
    inner, s = make(plugin_path)
    results = honest_results(1) + [(Proxy("ipv4:127.0.0.1:6000"), fit_res(weights(100, 9), 100, "evil"))]
    params, metrics = run_round(s, 1, results)
    assert inner.seen == [(p.cid, 100) for p, _ in results[:3]]
    expected = FedAvg().aggregate_fit(1, results[:3], [])[0]
    for got, want in zip(parameters_to_ndarrays(params), parameters_to_ndarrays(expected)):
        np.testing.assert_allclose(got, want)
    assert metrics["flsentry.dropped"] == 1 and metrics["flsentry.accepted"] == 3
    decisions = json.loads(metrics["flsentry.decisions"])
    assert decisions[3]["client_id"] == "evil" and decisions[3]["reason"] == "anomalous"
    assert [d.client_id for d in s.last_decisions] == ["c0", "c1", "c2", "evil"]
    assert metrics["flsentry.plugin_s"] >= 0 and metrics["flsentry.wrapper_s"] >= 0


def test_downweighted_results_carry_scaled_num_examples(plugin_path):
    inner, s = make(plugin_path, action="downweight")
    results = honest_results(1) + [(Proxy("x"), fit_res(weights(30, 9), 1000, "big"))]
    _, metrics = run_round(s, 1, results)
    big = s.last_decisions[3]
    assert big.action == "downweight" and 0 < big.weight < 1
    assert inner.seen[3] == ("x", max(1, round(1000 * big.weight)))
    assert metrics["flsentry.downweighted"] == 1


def test_client_id_falls_back_to_the_proxy_cid(plugin_path):
    _, s = make(plugin_path, client_id_key="site")
    results = [(Proxy("ipv4:127.0.0.1:7001"), fit_res(weights(1, 1), 10, "ignored"))]
    results[0][1].metrics["site"] = "hospital-7"
    results.append((Proxy("ipv4:127.0.0.1:7002"), fit_res(weights(1, 2), 10)))
    run_round(s, 1, results)
    assert [d.client_id for d in s.last_decisions] == ["hospital-7", "ipv4:127.0.0.1:7002"]


def test_unreadable_or_misshapen_results_are_dropped_not_raised(plugin_path):
    inner, s = make(plugin_path)
    garbage = FitRes(Status(Code.OK, ""), Parameters([b"not npy"], "numpy.ndarray"), 10, {"client_id": "junk"})
    short = fit_res(weights(1, 5)[:2], 10, "short")
    results = honest_results(1) + [(Proxy("j"), garbage), (Proxy("s"), short)]
    _, metrics = run_round(s, 1, results)
    assert [d.action for d in s.last_decisions[3:]] == ["drop", "drop"]
    assert metrics["flsentry.dropped"] == 2 and len(inner.seen) == 3


def test_everything_dropped_leaves_the_model_unchanged(plugin_path):
    _, s = make(plugin_path)
    params, metrics = run_round(s, 1, [(Proxy("e"), fit_res(weights(100, 1), 10, "evil"))])
    assert params is None and metrics["flsentry.dropped"] == 1


def test_npy_views_read_the_bytes_in_place():
    arrays = [np.arange(12, dtype=np.float32).reshape(3, 4), np.asfortranarray(np.ones((2, 3)))]
    params = ndarrays_to_parameters(arrays)
    views = parameters_as_arrays(params)
    for v, a in zip(views, arrays):
        np.testing.assert_array_equal(v, a)
    assert not views[0].flags.writeable  # a view of the bytes, not a copy


def test_state_and_rounds_continue_after_a_restart(plugin_path, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY % "drop" + "state: {path: state.json}\n")
    evil = lambda r: [(Proxy("e"), fit_res(weights(100 if r <= 2 else 1, 9), 100, "evil"))]  # noqa: E731
    first = FilteredStrategy(FedAvg(min_fit_clients=1, min_available_clients=1), policy=policy, plugin=plugin_path)
    assert first.round_offset == 0
    for r in (1, 2):
        run_round(first, r, honest_results(r) + evil(r))
    assert first.last_decisions[3].reason == "quarantined"  # 2nd strike
    # A new server process: Flower counts from round 1 again. The state file
    # has one writer at a time, so the old server's filter goes first.
    with pytest.raises(flsentry.StateError, match="in use by another flsentry instance"):
        FilteredStrategy(FedAvg(min_fit_clients=1, min_available_clients=1), policy=policy, plugin=plugin_path)
    first.filter.close()
    second = FilteredStrategy(FedAvg(min_fit_clients=1, min_available_clients=1), policy=policy, plugin=plugin_path)
    assert second.round_offset == 2
    run_round(second, 1, honest_results(3) + evil(3))
    assert second.last_decisions[3].reason == "quarantined"
    assert json.loads((tmp_path / "state.json").read_text())["round"] == 3


def test_needs_exactly_one_policy_source(plugin_path):
    with pytest.raises(ValueError, match="exactly one"):
        FilteredStrategy(FedAvg(), plugin=plugin_path)
