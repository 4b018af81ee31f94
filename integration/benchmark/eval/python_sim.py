#!/usr/bin/python3
"""Fallback recorder for the detector evaluation when the C++ reference
server (flsentry-simulate) is not built: FedAvg on Fashion-MNIST with real
PyTorch, an MLP 784-64-10, 50 clients with Dirichlet(0.5) label skew, 10 per
round, 20 rounds, 20% malicious clients attacking from round 7, written as a
round archive (docs/round-archive.md, .pth client files, kind delta).
Attacks follow docs/attacks.md: sign_flip, gaussian_noise (sigma 0.01),
scaling (lambda 10), label_flip (y -> 9 - y), ipm (epsilon 0.1), alie, min_max.

usage: python_sim.py ATTACK OUT_DIR
"""
import gzip
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

DATA = "/usr/share/datasets/fashion-mnist"


def load(kind):
    with gzip.open(f"{DATA}/{kind}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(f"{DATA}/{kind}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.tensor(x, dtype=torch.float32) / 255.0, torch.tensor(y, dtype=torch.long)


def model():
    return nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))


def flat(state):
    return torch.cat([v.flatten() for v in state.values()])


def unflat(vec, like):
    out, i = {}, 0
    for k, v in like.items():
        out[k] = vec[i:i + v.numel()].reshape(v.shape).clone()
        i += v.numel()
    return out


def main():
    attack, out_dir = sys.argv[1], sys.argv[2]
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    x, y = load("train")
    n_clients, per_round, rounds, start = 50, 10, 20, 7
    # Dirichlet(0.5) label skew.
    idx = [[] for _ in range(n_clients)]
    for c in range(10):
        ids = np.where(y.numpy() == c)[0]
        rng.shuffle(ids)
        p = rng.dirichlet([0.5] * n_clients)
        cuts = (np.cumsum(p) * len(ids)).astype(int)[:-1]
        for k, part in enumerate(np.split(ids, cuts)):
            idx[k].extend(part.tolist())
    malicious = set(rng.choice(n_clients, int(0.2 * n_clients), replace=False).tolist())
    net = model()
    for r in range(1, rounds + 1):
        chosen = sorted(rng.choice(n_clients, per_round, replace=False).tolist())
        g = {k: v.clone() for k, v in net.state_dict().items()}
        honest = {}
        for c in chosen:
            local = model()
            local.load_state_dict(g)
            opt = torch.optim.SGD(local.parameters(), lr=0.05)
            ids = torch.tensor(idx[c])
            ids = ids[torch.randperm(len(ids))]
            flip = attack == "label_flip" and c in malicious and r >= start
            for b in range(0, len(ids), 32):
                bi = ids[b:b + 32]
                yb = 9 - y[bi] if flip else y[bi]
                opt.zero_grad()
                nn.functional.cross_entropy(local(x[bi]), yb).backward()
                opt.step()
            honest[c] = flat(local.state_dict()) - flat(g)
        benign = torch.stack([honest[c] for c in chosen if c not in malicious or r < start])
        mean, std = benign.mean(0), benign.std(0) if len(benign) > 1 else torch.zeros_like(benign[0])
        updates, clients = {}, []
        for c in chosen:
            u = honest[c]
            bad = c in malicious and r >= start
            if bad:
                if attack == "sign_flip":
                    u = -u
                elif attack == "gaussian_noise":
                    u = u + torch.randn_like(u) * 0.01
                elif attack == "scaling":
                    u = 10.0 * u
                elif attack == "ipm":
                    u = -0.1 * mean
                elif attack == "alie":
                    n, f = per_round, max(1, sum(1 for k in chosen if k in malicious))
                    s = n // 2 + 1 - f
                    z = torch.distributions.Normal(0, 1).icdf(torch.tensor((n - s) / n)).item()
                    u = mean + z * std
                elif attack == "min_max":
                    dev = -std
                    dists = torch.cdist(benign, benign).max()
                    lo, hi = 0.0, 50.0
                    for _ in range(30):
                        gam = (lo + hi) / 2
                        cand = mean - gam * (-dev)
                        if torch.cdist(cand[None], benign).max() <= dists:
                            lo = gam
                        else:
                            hi = gam
                    u = mean + lo * dev
            updates[c] = u
            clients.append({"id": f"client_{c:03d}", "file": f"client_{c:03d}.pth",
                            "num_examples": len(idx[c]),
                            "label": "malicious" if bad else "benign",
                            **({"attack": attack} if bad else {})})
        rd = os.path.join(out_dir, f"round_{r:04d}")
        os.makedirs(rd, exist_ok=True)
        for c in chosen:
            torch.save(unflat(updates[c], g), os.path.join(rd, f"client_{c:03d}.pth"))
        with open(os.path.join(rd, "manifest.json"), "w") as f:
            json.dump({"format": "flsentry-round/1", "round": r, "kind": "delta",
                       "clients": clients}, f, indent=1)
        # FedAvg weighted by examples over every update (no filter).
        w = torch.tensor([len(idx[c]) for c in chosen], dtype=torch.float32)
        avg = sum(w[i] * updates[c] for i, c in enumerate(chosen)) / w.sum()
        net.load_state_dict(unflat(flat(g) + avg, g))
        print(f"round {r}: norms median {torch.stack([updates[c].norm() for c in chosen]).median():.3f}",
              flush=True)


if __name__ == "__main__":
    main()
