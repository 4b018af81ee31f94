"""Real Flower on Fashion-MNIST, offline: a small numpy MLP (784-32-10,
25,450 parameters), clients as separate processes over gRPC on localhost.

    flower_fmnist.py client --port P --index I --data DATA.npz [--attack KIND --attack-from R]

Attacks (from round R on; honest before, so the policy's trusted warm-up
rounds are clean):
  signflip   sends global - 2 x (its honest delta)
  inflate    the same, and claims 50 x its num_examples (it would dominate
             FedAvg's weighted average)
The server side (run_server) is called in-process by the tests and by
python/benchmarks/flower_accuracy.py.
"""
from __future__ import annotations

import argparse
import gzip
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

FMNIST_DIR = Path(os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist"))
HIDDEN = 32


# ---- data ------------------------------------------------------------------
def _idx(path: Path, header: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=header)


def prepare_data(out: Path, clients: int, per_client: int, test: int, seed: int = 0) -> Path:
    """IID shards of the training set and a test subset, as one .npz."""
    x = _idx(FMNIST_DIR / "train-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    y = _idx(FMNIST_DIR / "train-labels-idx1-ubyte.gz", 8)
    xt = _idx(FMNIST_DIR / "t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    yt = _idx(FMNIST_DIR / "t10k-labels-idx1-ubyte.gz", 8)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))[: clients * per_client]
    arrays = {}
    for c in range(clients):
        part = idx[c * per_client : (c + 1) * per_client]
        arrays[f"x{c}"] = x[part]
        arrays[f"y{c}"] = y[part]
    tidx = rng.permutation(len(xt))[:test]
    arrays["xt"], arrays["yt"] = xt[tidx], yt[tidx]
    np.savez(out, **arrays)
    return out


def _float(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / 255.0


# ---- model -----------------------------------------------------------------
def init_model(seed: int = 0) -> List[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(0, np.sqrt(2 / 784), (784, HIDDEN))).astype(np.float32),
        np.zeros(HIDDEN, np.float32),
        (rng.normal(0, np.sqrt(2 / HIDDEN), (HIDDEN, 10))).astype(np.float32),
        np.zeros(10, np.float32),
    ]


def _forward(p, x):
    h = np.maximum(x @ p[0] + p[1], 0)
    return h, h @ p[2] + p[3]


def train(params, x, y, epochs=1, lr=0.1, batch=32, seed=0) -> List[np.ndarray]:
    p = [a.copy() for a in params]
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for s in range(0, len(x), batch):
            b = order[s : s + batch]
            xb, yb = x[b], y[b]
            h, logits = _forward(p, xb)
            logits -= logits.max(axis=1, keepdims=True)
            prob = np.exp(logits)
            prob /= prob.sum(axis=1, keepdims=True)
            prob[np.arange(len(b)), yb] -= 1
            g = prob / len(b)
            dh = (g @ p[2].T) * (h > 0)
            p[2] -= lr * (h.T @ g)
            p[3] -= lr * g.sum(axis=0)
            p[0] -= lr * (xb.T @ dh)
            p[1] -= lr * dh.sum(axis=0)
    return p


def accuracy(params, x, y) -> float:
    return float((_forward(params, x)[1].argmax(axis=1) == y).mean())


# ---- client ----------------------------------------------------------------
def run_client(port: int, index: int, data: Path, attack: str, attack_from: int) -> None:
    import flwr as fl

    d = np.load(data)
    x, y = _float(d[f"x{index}"]), d[f"y{index}"].astype(np.int64)

    class Client(fl.client.NumPyClient):
        def get_parameters(self, config):
            return init_model()

        def fit(self, parameters, config):
            rnd = int(config.get("round", 0))
            local = train(parameters, x, y, seed=1000 * rnd + index)
            n = len(x)
            if attack != "none" and rnd >= attack_from:
                local = [g - 2.0 * (w - g) for g, w in zip(parameters, local)]
                if attack == "inflate":
                    n *= 50
            return local, n, {"client_id": f"client-{index}"}

        def evaluate(self, parameters, config):
            return 0.0, 1, {}

    deadline = time.time() + 60
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if time.time() > deadline:
            raise SystemExit(f"client {index}: no server on port {port}")
        time.sleep(0.1)
    fl.client.start_numpy_client(server_address=f"127.0.0.1:{port}", client=Client())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_clients(port: int, data: Path, attacks: Dict[int, str], clients: int, attack_from: int,
                  env: dict, log_dir: Path):
    procs = []
    for i in range(clients):
        cmd = [sys.executable, __file__, "client", "--port", str(port), "--index", str(i),
               "--data", str(data), "--attack", attacks.get(i, "none"), "--attack-from", str(attack_from)]
        with open(log_dir / f"client{i}.log", "wb") as log:
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
    return procs


def client_env(extra_paths: List[str]) -> dict:
    env = dict(os.environ)
    env["FLWR_TELEMETRY_ENABLED"] = "0"
    env["PYTHONPATH"] = os.pathsep.join(extra_paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


# ---- server ----------------------------------------------------------------
def run_server(
    port: int,
    data: Path,
    clients: int,
    rounds: int,
    policy: Optional[Path] = None,
    base_dir: Optional[Path] = None,
    plugin: Optional[str] = None,
) -> dict:
    """A Flower gRPC server with FedAvg (wrapped by FilteredStrategy when a
    policy is given), centralised accuracy after every round. Returns
    {"accuracy": [per round], "decisions": {round: [...]}, "timing": [...]}."""
    import flwr as fl
    from flwr.common import ndarrays_to_parameters
    from flwr.server.strategy import FedAvg

    d = np.load(data)
    xt, yt = _float(d["xt"]), d["yt"].astype(np.int64)
    acc: List[float] = []

    def evaluate_fn(server_round, parameters, config):
        a = accuracy(parameters, xt, yt)
        if server_round > 0:
            acc.append(a)
        return 0.0, {"accuracy": a}

    strategy = FedAvg(
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=clients,
        min_available_clients=clients,
        min_evaluate_clients=0,
        initial_parameters=ndarrays_to_parameters(init_model()),
        evaluate_fn=evaluate_fn,
        on_fit_config_fn=lambda r: {"round": r},
    )
    decisions: Dict[int, list] = {}
    timing: List[dict] = []
    if policy is not None:
        from flsentry.flower import FilteredStrategy

        class Recording(FilteredStrategy):
            def aggregate_fit(self, server_round, results, failures):
                out = super().aggregate_fit(server_round, results, failures)
                decisions[server_round] = [x.to_dict() for x in self.last_decisions]
                timing.append(dict(self.last_timing))
                return out

        strategy = Recording(strategy, policy=policy, base_dir=base_dir, plugin=plugin)
    fl.server.start_server(
        server_address=f"127.0.0.1:{port}",
        config=fl.server.ServerConfig(num_rounds=rounds, round_timeout=120),
        strategy=strategy,
    )
    return {"accuracy": acc, "decisions": decisions, "timing": timing}


def run(data: Path, clients: int, rounds: int, attacks: Dict[int, str], attack_from: int,
        flower_paths: List[str], policy: Optional[Path] = None, base_dir: Optional[Path] = None,
        plugin: Optional[str] = None, timeout: float = 300) -> dict:
    """One complete run: a free port, the client processes (logs in the data
    file's folder), the server in this process."""
    port = free_port()
    log_dir = data.parent
    procs = spawn_clients(port, data, attacks, clients, attack_from, client_env(flower_paths), log_dir)
    try:
        result = run_server(port, data, clients, rounds, policy, base_dir, plugin)
        for p in procs:
            p.wait(timeout=timeout)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    result["client_failures"] = [
        (i, p.returncode, (log_dir / f"client{i}.log").read_text(errors="replace")[-500:])
        for i, p in enumerate(procs) if p.returncode
    ]
    result["port"] = port
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["client"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--index", type=int, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--attack", default="none", choices=["none", "signflip", "inflate"])
    ap.add_argument("--attack-from", type=int, default=4)
    a = ap.parse_args()
    run_client(a.port, a.index, a.data, a.attack, a.attack_from)


if __name__ == "__main__":
    main()
