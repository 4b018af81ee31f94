#!/usr/bin/python3
"""Replay of one round with more update files than the process may map.

Writes a flat folder of --files small update files (safetensors, float32,
--dim parameters each: a direction shared by all clients plus per-client
noise), replays it through `flsentry replay` with a policy (default: the
shipped configs/default.yaml) and reports the replay's wall time, its peak
resident memory (the child's ru_maxrss), the decisions by action, and the
process's limit on mappings (vm.max_map_count, 65530 by default) that a
round of that many files would exceed if each file stayed mapped
(docs/performance.md, "As many clients as the interface allows").

Usage: scripts/replay_scale.py [--files 70000] [--dim 1000]
         [--config configs/default.yaml] [--work DIR] [--keep]
Prints one JSON object on stdout; progress on stderr. Needs the release
build (scripts/build.sh). Python's standard library only.
"""
import argparse
import collections
import json
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_safetensors(path, name, values):
    """One float32 tensor `name` of shape [len(values)] (safetensors spec:
    8-byte little-endian header length, JSON header, raw data)."""
    data = struct.pack("<%df" % len(values), *values)
    header = json.dumps({name: {"dtype": "F32", "shape": [len(values)],
                                "data_offsets": [0, len(data)]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data)


def make_round(folder, files, dim, seed=1):
    rng = random.Random(seed)
    shared = [rng.gauss(0, 0.01) for _ in range(dim)]
    os.makedirs(folder)
    step = max(1, files // 20)
    for c in range(files):
        noise = 0.5 + rng.random()
        values = [s + noise * 0.004 * rng.gauss(0, 1) for s in shared]
        write_safetensors(os.path.join(folder, "c%07d.safetensors" % c),
                          "w", values)
        if (c + 1) % step == 0 or c + 1 == files:
            print("wrote %d / %d files" % (c + 1, files), file=sys.stderr)


def max_map_count():
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=70000)
    p.add_argument("--dim", type=int, default=1000)
    p.add_argument("--config", default=os.path.join(ROOT, "configs/default.yaml"))
    p.add_argument("--flsentry",
                   default=os.path.join(ROOT, "build/release/plugin/flsentry"))
    p.add_argument("--work", help="scratch folder (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    a = p.parse_args()
    if a.files < 1 or a.dim < 1:
        sys.exit("--files and --dim must be positive")
    work = a.work or tempfile.mkdtemp(prefix="flsentry-replay-scale-")
    folder = os.path.join(work, "round")
    try:
        make_round(folder, a.files, a.dim)
        out = os.path.join(work, "out")
        print("replaying %d files..." % a.files, file=sys.stderr)
        start = time.monotonic()
        run = subprocess.run([a.flsentry, "replay", folder, "--config",
                              a.config, "--out", out, "--json"],
                             stdout=subprocess.PIPE, text=True)
        wall = time.monotonic() - start
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if run.returncode != 0:
            sys.exit("flsentry replay failed with exit code %d" % run.returncode)
        actions = collections.Counter()
        with open(os.path.join(out, "decisions.jsonl")) as f:
            for line in f:
                actions[json.loads(line)["action"]] += 1
        print(json.dumps({
            "files": a.files, "dim": a.dim,
            "config": os.path.relpath(a.config, ROOT),
            "decisions": sum(actions.values()), "actions": dict(actions),
            "replay_wall_s": round(wall, 2),
            "replay_peak_rss_mb": round(peak_kb / 1024, 1),
            "vm_max_map_count": max_map_count(),
        }, indent=2))
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
