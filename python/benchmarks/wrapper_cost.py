"""What FilteredStrategy costs per round, next to the plugin's own time.

    python3 python/benchmarks/wrapper_cost.py [--params 1000000] [--clients 20]
        [--rounds 8] [--policy configs/default.yaml] [--plugin PATH]

A model of about --params float32 parameters in four tensors, --clients
results per round as Flower FitRes (serialised once, outside the timing),
FedAvg inside FilteredStrategy with the policy. Per round it prints:
  plugin_s    the plugin's on_round_filter (scoring, policy, state, audit)
  wrapper_s   the wrapper's Python around it (reading the results' bytes,
              building the C structs, decisions, FitRes copies, metrics)
  fedavg_s    the wrapped FedAvg's aggregate_fit (Flower's own cost, there
              with or without the wrapper)
Needs Flower (FLSENTRY_FLOWER_DIR or ../shared/flower, as the tests).
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests")]

from flower_env import import_flower  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--policy", type=Path, default=HERE.parent.parent / "configs" / "default.yaml")
    ap.add_argument("--plugin", default=None)
    a = ap.parse_args()
    why = import_flower()
    if why:
        sys.exit(why)
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
    from flwr.server.client_manager import SimpleClientManager
    from flwr.server.strategy import FedAvg

    from flwr.server.client_proxy import ClientProxy

    from flsentry.flower import FilteredStrategy

    class Proxy(ClientProxy):  # only its cid is used
        get_properties = get_parameters = fit = evaluate = reconnect = None

    hidden = max(8, int(a.params / (784 + 200)))
    rng = np.random.default_rng(0)
    global_model = [
        rng.normal(0, 0.05, (784, hidden)).astype(np.float32),
        np.zeros(hidden, np.float32),
        rng.normal(0, 0.05, (hidden, 200)).astype(np.float32),
        np.zeros(200, np.float32),
    ]
    n_params = sum(x.size for x in global_model)

    class TimedFedAvg(FedAvg):
        def aggregate_fit(self, server_round, results, failures):
            start = time.perf_counter()
            out = super().aggregate_fit(server_round, results, failures)
            self.seconds = time.perf_counter() - start
            return out

    inner = TimedFedAvg(min_fit_clients=a.clients, min_available_clients=a.clients)
    with tempfile.TemporaryDirectory() as tmp:
        strategy = FilteredStrategy(inner, policy=a.policy, base_dir=tmp, plugin=a.plugin)
        proxies = [Proxy(f"ipv4:127.0.0.1:{5000 + i}") for i in range(a.clients)]
        manager = SimpleClientManager()
        for p in proxies:
            manager.register(p)
        sent = ndarrays_to_parameters(global_model)
        rows = []
        print(f"{n_params} parameters, {a.clients} clients, policy {a.policy.name}, "
              f"plugin {strategy.filter.plugin.path}")
        print(" round  plugin_s  wrapper_s  fedavg_s  wrapper/plugin")
        for r in range(1, a.rounds + 1):
            results = []
            for i, p in enumerate(proxies):
                local = [g + rng.normal(0, 0.01, g.shape).astype(np.float32) for g in global_model]
                results.append((p, FitRes(Status(Code.OK, ""), ndarrays_to_parameters(local), 600,
                                          {"client_id": f"c{i}"})))
            strategy.configure_fit(r, sent, manager)
            strategy.aggregate_fit(r, results, [])
            t = strategy.last_timing
            rows.append((t["plugin_s"], t["wrapper_s"], inner.seconds))
            print(f"{r:6d}  {t['plugin_s']:8.3f}  {t['wrapper_s']:9.4f}  {inner.seconds:8.3f}"
                  f"  {t['wrapper_s'] / t['plugin_s']:14.3%}")
        judged = rows[3:] or rows
        med = [statistics.median(c) for c in zip(*judged)]
        print(f"median of rounds {len(rows) - len(judged) + 1}-{len(rows)}: plugin {med[0]:.3f} s, "
              f"wrapper {med[1] * 1000:.1f} ms ({med[1] / med[0]:.1%} of the plugin), "
              f"FedAvg {med[2]:.3f} s")


if __name__ == "__main__":
    main()
