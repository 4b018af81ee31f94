#!/usr/bin/env bash
# The cost of the shipped filter next to what a server does anyway, over a
# grid of round sizes (docs/performance.md, "The grid"): flsentry-benchmark
# (refresh on, as shipped; read, FedAvg, coordinate-wise median, trimmed
# mean and Multi-Krum of the same round in the same run) for every n and d
# whose round fits in --max-gb of memory, at each thread count, one process
# per cell; then docs/performance/grid.json and grid.svg (time per round
# against n x d, one line per method).
#
# Usage: scripts/performance_grid.sh [--n "10 50 1000 10000"]
#          [--d "1e4 1e5 1e6 1e7"] [--threads "1 2"] [--repeat 1]
#          [--max-gb 8] [--out docs/performance]
# Needs the release build (scripts/build.sh). Progress on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
ns="10 50 1000 10000" ds="1e4 1e5 1e6 1e7" threads="1 2" repeat=1
max_gb=8 out=docs/performance
while [[ $# -gt 0 ]]; do
  case "$1" in
    --n) ns="$2"; shift 2 ;;
    --d) ds="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --max-gb) max_gb="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
bench=build/release/plugin/flsentry-benchmark
[[ -x "$bench" ]] || { echo "build first: scripts/build.sh" >&2; exit 1; }
mkdir -p "$out"
rows="$(mktemp)"
trap 'rm -f "$rows"' EXIT
for t in $threads; do
  for n in $ns; do
    for d in $ds; do
      gb="$(python3 -c "print($n * $d * 4 / 1e9)")"
      if python3 -c "import sys; sys.exit(0 if $gb <= $max_gb else 1)"; then
        echo "n=$n d=$d threads=$t (${gb} GB)..." >&2
        "$bench" -n "$n" --dims "$d" --threads "$t" --repeat "$repeat" \
          --json >> "$rows"
      else
        echo "n=$n d=$d: ${gb} GB is over --max-gb $max_gb, skipped" >&2
      fi
    done
  done
done
python3 scripts/performance_plot.py "$rows" \
  --commit "$(git rev-parse --short HEAD)$(git diff --quiet || echo '+modified')" \
  --machine "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1e6}' /proc/meminfo), load $(cut -d' ' -f1 /proc/loadavg) at the end" \
  --json "$out/grid.json" --svg "$out/grid.svg"
echo "wrote $out/grid.json and $out/grid.svg" >&2
