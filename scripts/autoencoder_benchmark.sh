#!/usr/bin/env bash
# Times the detector's autoencoder (Score and FineTune, the refresh) of this
# tree against the LibTorch implementation the plugin used before, in one
# sitting: flsentry-autoencoder-benchmark built twice from the same source,
# once against plugin/detector/ and once against the LibTorch autoencoder.cc
# of REV; the two run in turn (A B, then B A, ...), one process per
# measurement, each with OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set to
# the thread count measured; the table gives medians of each and of the
# per-pair ratios (docs/performance.md, "Autoencoder kernel").
#
# Usage: scripts/autoencoder_benchmark.sh [--rounds N] [--threads "1 2"]
#          [--rows 32,320,3200] [--epochs 20] [--ref REV]
# REV defaults to the last commit whose autoencoder.cc used LibTorch. Needs
# the release build (scripts/build.sh) and LibTorch (libtorch-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3 threads="1 2" rows=32,320,3200 epochs=20 ref=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --rows) rows="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --ref) ref="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if [[ -z "$ref" ]]; then
  ref="$(git log -1 --format=%H -S'<torch/torch.h>' -- \
         plugin/detector/autoencoder.cc)^"
fi
build=build/release
src="$PWD/$build/autoencoder_reference/autoencoder.cc"
mkdir -p "$(dirname "$src")"
git show "$ref:plugin/detector/autoencoder.cc" > "$src.new"
cmp -s "$src.new" "$src" 2>/dev/null && rm "$src.new" || mv "$src.new" "$src"
[[ -f "$build/build.ninja" ]] || cmake --preset release -G Ninja >/dev/null
cmake -S . -B "$build" -DFLSENTRY_AUTOENCODER_REFERENCE="$src" >/dev/null
cmake --build "$build" -j "${FLSENTRY_JOBS:-$(nproc)}" --target \
  flsentry-autoencoder-benchmark flsentry-autoencoder-benchmark-reference \
  >/dev/null
plain="$build/plugin/flsentry-autoencoder-benchmark"
reference="$build/plugin/flsentry-autoencoder-benchmark-reference"

out="$build/autoencoder_benchmark.jsonl"
: > "$out"
echo "reference: autoencoder.cc of $(git rev-parse --short "$ref") (LibTorch)" >&2
for round in $(seq "$rounds"); do
  order="reference plain"
  (( round % 2 == 0 )) && order="plain reference"
  for t in $threads; do
    for r in ${rows//,/ }; do
      for impl in $order; do
        bin="$plain"
        [[ "$impl" == reference ]] && bin="$reference"
        # LibTorch's pools (OpenMP, OpenBLAS's own) get exactly t threads.
        line="$(OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" "$bin" \
                --rows "$r" --threads "$t" --epochs "$epochs" --repeat 1)"
        echo "{\"impl\":\"$impl\",\"round\":$round,${line:1}" >> "$out"
        echo "round $round threads $t rows $r $impl: $line" >&2
      done
    done
  done
done

python3 - "$out" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
keys = sorted({(r["threads"], r["rows"]) for r in runs})
print("| threads | rows | Score LibTorch s | Score new s | ratio | "
      "FineTune LibTorch s | FineTune new s | ratio |")
print("|---|---|---|---|---|---|---|---|")
for t, n in keys:
    sel = {(r["impl"], r["round"]): r for r in runs
           if r["threads"] == t and r["rows"] == n}
    rounds = sorted({k[1] for k in sel})
    cells = [str(t), str(n)]
    for what in ("score_s", "finetune_s"):
        ref = [sel["reference", k][what] for k in rounds]
        new = [sel["plain", k][what] for k in rounds]
        ratio = [b / a for a, b in zip(ref, new)]
        cells += ["%.4g" % statistics.median(ref), "%.4g" % statistics.median(new),
                  "%.2f" % statistics.median(ratio)]
    print("| " + " | ".join(cells) + " |")
print("ratio: new / LibTorch, median of the per-round ratios "
      "(%d rounds)" % len({r["round"] for r in runs}))
EOF
