#!/usr/bin/python3
"""End-to-end check of the detector file format from Python.

Imports the PyTorch-trained fixture autoencoders with `flsentry import-seed`
(autoencoder.pth, which has a ReLU on the latent, stated with --activations;
original/autoencoder.pth, the original tool's shape, read from its keys),
scores the fixture updates with `flsentry detect --json`, then loads the
detector directory with the snippet from docs/detector.md (PyTorch only) and
recomputes every score. Exits 77 (skipped) when Python's torch is missing.

usage: load_detector_test.py FLSENTRY_BINARY FIXTURES_DIR
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import torch
except ImportError:
    print("python torch not available: skipped")
    sys.exit(77)


def load_detector(path):  # the snippet of docs/detector.md
    meta = json.load(open(f"{path}/detector.json"))
    raw = open(f"{path}/weights.safetensors", "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    weights = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        buf = bytearray(raw[8 + n + begin:8 + n + end])
        weights[name] = torch.frombuffer(buf, dtype=torch.float32).reshape(info["shape"])
    sizes = meta["architecture"]["layer_sizes"]
    # One per Linear; files without the list: ReLU after all but the last.
    acts = meta["architecture"].get("activations",
                                    ["relu"] * (len(sizes) - 2) + ["none"])
    layers = []
    for i in range(len(sizes) - 1):
        lin = torch.nn.Linear(sizes[i], sizes[i + 1])
        lin.weight.data = weights[f"layers.{i}.weight"]
        lin.bias.data = weights[f"layers.{i}.bias"]
        layers += [lin] + ([torch.nn.ReLU()] if acts[i] == "relu" else [])
    return meta, torch.nn.Sequential(*layers)


def check(flsentry, fixtures, tmp, pth, extra, expected):
    det = os.path.join(tmp, os.path.dirname(pth) or "latent_relu")
    subprocess.run([flsentry, "import-seed", os.path.join(fixtures, pth),
                    "-o", det, "--reference",
                    os.path.join(fixtures, "updates", "update_00.pth")] + extra,
                   check=True, capture_output=True)
    out = subprocess.run([flsentry, "detect", os.path.join(fixtures, "updates"),
                          "--detector", det, "--json", "--threshold", "1"],
                         check=True, capture_output=True, text=True).stdout
    rows = json.loads(out)
    assert len(rows) == 12, rows
    meta, ae = load_detector(det)
    assert meta["features"]["mode"] == "identity"
    names = [t["name"] for t in meta["layout"]["tensors"]]
    with torch.no_grad():
        for row in rows:
            update = torch.load(os.path.join(fixtures, "updates", row["file"]))
            x = torch.cat([update[n].flatten().float() for n in names]).unsqueeze(0)
            score = torch.nn.functional.mse_loss(ae(x), x).item()
            assert abs(score - row["score"]) <= 1e-5 * max(1.0, abs(score)) + 1e-9, (row, score)
            want = expected["mse"]["updates/" + row["file"]]
            assert abs(want - row["score"]) <= 1e-5 * abs(want), (row, want)
            assert set(row) >= {"file", "score", "threshold", "anomaly"}
    return len(rows)


def main():
    flsentry, fixtures = sys.argv[1], os.path.join(sys.argv[2], "detector")
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        for pth, extra in (("autoencoder.pth", ["--activations", "relu,relu,relu,none"]),
                           ("original/autoencoder.pth", [])):
            expected = json.load(open(os.path.join(
                fixtures, os.path.dirname(pth), "expected.json")))
            n += check(flsentry, fixtures, tmp, pth, extra, expected)
    print("ok: %d scores recomputed in Python" % n)


if __name__ == "__main__":
    main()
